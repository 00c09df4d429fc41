package ipvsadm

import (
	"errors"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

// libipvs function whose failure is being reported: ipvs_strerror() picks
// its message by (function, errno).
type ipvsFunc int

const (
	fnOther ipvsFunc = iota
	fnAddService
	fnUpdateService
	fnDelService
	fnZeroService
	fnAddDest
	fnUpdateDest
	fnDelDest
	fnSetTimeout
	fnStartDaemon
	fnStopDaemon
	fnGetServices
	fnGetDests
	fnGetService
	fnFlush
	fnGetTimeout
)

// Linux errno values the admin API's codes stand for.
const (
	errEPERM        = 1
	errENOENT       = 2
	errESRCH        = 3
	errENOMEM       = 12
	errEEXIST       = 17
	errEINVAL       = 22
	errENOPROTOOPT  = 92
	errEOPNOTSUPP   = 95
	errEAFNOSUPPORT = 97
	errEMSGSIZE     = 90
)

// strerrorTable is libipvs.c ipvs_strerror()'s table, in its order: the
// first row whose function (fnOther = any) and errno match wins.
var strerrorTable = []struct {
	fn    ipvsFunc
	errno int
	msg   string
}{
	{fnAddService, errEEXIST, "Service already exists"},
	{fnAddService, errENOENT, "Scheduler or persistence engine not found"},
	{fnUpdateService, errESRCH, "No such service"},
	{fnUpdateService, errENOENT, "Scheduler or persistence engine not found"},
	{fnDelService, errESRCH, "No such service"},
	{fnZeroService, errESRCH, "No such service"},
	{fnAddDest, errESRCH, "Service not defined"},
	{fnAddDest, errEEXIST, "Destination already exists"},
	{fnUpdateDest, errESRCH, "Service not defined"},
	{fnUpdateDest, errENOENT, "No such destination"},
	{fnDelDest, errESRCH, "Service not defined"},
	{fnDelDest, errENOENT, "No such destination"},
	{fnStartDaemon, errEEXIST, "Daemon has already run"},
	{fnStopDaemon, errESRCH, "No daemon is running"},
	{fnGetServices, errESRCH, "No such service"},
	{fnGetDests, errESRCH, "No such service"},
	{fnGetService, errESRCH, "No such service"},
	{fnOther, errEPERM, "Permission denied (you must be root)"},
	{fnOther, errEINVAL, "Invalid operation.  Possibly wrong module version, address not unicast, ..."},
	{fnOther, errENOPROTOOPT, "Protocol not available"},
	{fnOther, errENOMEM, "Memory allocation problem"},
	{fnOther, errEOPNOTSUPP, "Operation not supported with IPv6"},
	{fnOther, errEAFNOSUPPORT, "Operation not supported with specified address family"},
	{fnOther, errEMSGSIZE, "Module is wrong version"},
}

// strerror is glibc strerror() for the errnos the API can map to.
var strerror = map[int]string{
	errENOENT: "No such file or directory",
	errESRCH:  "No such process",
	errEEXIST: "File exists",
}

// ipvsStrerror is libipvs.c ipvs_strerror().
func ipvsStrerror(fn ipvsFunc, errno int) string {
	for _, r := range strerrorTable {
		if (r.fn == fnOther || r.fn == fn) && r.errno == errno {
			return r.msg
		}
	}
	return strerror[errno]
}

// errnoOf maps an admin API code to the errno the kernel returns for it.
func errnoOf(c api.Code) (int, bool) {
	switch c {
	case api.CodeServiceExists, api.CodeDestExists:
		return errEEXIST, true
	case api.CodeNoService:
		return errESRCH, true
	case api.CodeNoDest:
		return errENOENT, true
	case api.CodeInvalid:
		return errEINVAL, true
	}
	return 0, false
}

// ErrorMessage is the line ipvsadm prints when a call fails: for errors
// that stand for a kernel errno, ipvs_strerror()'s text for that call; for
// the rest (unsupported by this data plane, config rejected, unauthorized,
// internal or transport errors) the server's message verbatim, since
// ipvsadm has no text for them.
func errorMessage(fn ipvsFunc, err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		if errno, ok := errnoOf(ae.Code); ok {
			return ipvsStrerror(fn, errno)
		}
		return ae.Message
	}
	return err.Error()
}
