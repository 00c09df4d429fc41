package ipvsadm

import "net/netip"

// Cmd is an ipvsadm command (ipvsadm.c CMD_*), plus the two informational
// ones (-h, -v) that ipvsadm handles while parsing.
type Cmd int

// Commands, in ipvsadm.c CMD_* order (cmdnames depends on it).
const (
	CmdNone Cmd = iota
	CmdAdd
	CmdEdit
	CmdDel
	CmdFlush
	CmdList
	CmdAddDest
	CmdDelDest
	CmdEditDest
	CmdTimeout
	CmdStartDaemon
	CmdStopDaemon
	CmdRestore
	CmdSave
	CmdZero
	CmdHelp
	CmdVersion
)

// cmdNames is ipvsadm.c cmdnames[], indexed by Cmd-1.
var cmdNames = []string{
	"add-service", "edit-service", "delete-service", "flush", "list",
	"add-server", "delete-server", "edit-server", "set", "start-daemon",
	"stop-daemon", "restore", "save", "zero",
}

// Opt is the set of options given (ipvsadm.c OPT_*, bit i = OPTC_ index i).
type Opt uint64

// Options in ipvsadm.c OPTC_* order: the compatibility table and the error
// texts depend on it.
const (
	OptNumeric Opt = 1 << iota
	OptConnection
	OptService
	OptScheduler
	OptPersistent
	OptNetmask
	OptServer
	OptForward
	OptWeight
	OptUThreshold
	OptLThreshold
	OptMcast
	OptTimeout
	OptDaemon
	OptStats
	OptRate
	OptThresholds
	OptPersistentConn
	OptNoSort
	OptSyncID
	OptExact
	OptOnePacket
	OptPersistenceEngine
	OptSchedFlags
	OptMcastGroup
	OptMcastPort
	OptMcastTTL
	OptSyncMaxlen
	OptTunInfo
	OptTunType
	OptTunPort
	OptTunNoCsum
	OptTunCsum
	OptTunRemCsum
)

const numberOfOpt = 34

// optNames is ipvsadm.c optnames[].
var optNames = [numberOfOpt]string{
	"numeric", "connection", "service-address", "scheduler", "persistent",
	"netmask", "real-server", "forwarding-method", "weight", "u-threshold",
	"l-threshold", "mcast-interface", "timeout", "daemon", "stats", "rate",
	"thresholds", "persistent-conn", "nosort", "syncid", "exact", "ops", "pe",
	"sched-flags", "mcast-group", "mcast-port", "mcast-ttl", "sync-maxlen",
	"tun-info", "tun-type", "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum",
}

// commandsVOptions is ipvsadm.c commands_v_options: '+' compulsory,
// 'x' illegal, '1' exclusive, ' ' optional. Rows by Cmd-1, columns by OPTC_.
var commandsVOptions = [14]string{
	// columns: -n -c svc -s -p -M -r fwd -w -x -y mcast timeout daemon
	// stats rate thresholds pconn nosort syncid exact ops pe -b group port
	// ttl maxlen tun-info tun-type tun-port nocsum csum remcsum
	/*ADD*/ "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
	/*EDIT*/ "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
	/*DEL*/ "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/*FLUSH*/ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/*LIST*/ " 11xxxxxxxxx11       xxxxxxx xxxxx",
	/*ADDSRV*/ "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
	/*DELSRV*/ "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/*EDITSRV*/ "xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
	/*TIMEOUT*/ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/*STARTD*/ "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
	/*STOPD*/ "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
	/*RESTORE*/ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/*SAVE*/ " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	/*ZERO*/ "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
}

// Tunnel types (IP_VS_CONN_F_TUNNEL_TYPE_*) and their names (tunnames[]).
const (
	TunIPIP uint16 = iota
	TunGUE
	TunGRE
)

var tunNames = []string{"ipip", "gue", "gre"}

// Tunnel encapsulation flags (IP_VS_TUNNEL_ENCAP_FLAG_*).
const (
	TunFlagNoCsum  uint16 = 0
	TunFlagCsum    uint16 = 1 << 0
	TunFlagRemCsum uint16 = 1 << 1
)

// tunOpts are the options checked by tunnel_types_v_options, in order.
var tunOpts = []int{30, 31, 32, 33} // OPTC_TUN_PORT .. OPTC_TUN_REMCSUM

// tunnelTypesVOptions is ipvsadm.c tunnel_types_v_options.
var tunnelTypesVOptions = [3]string{
	/* ipip */ "xxxx",
	/* gue */ "+111",
	/* gre */ "x11x",
}

// Address families and protocols as ipvsadm stores them.
const (
	AFInet  = 2  // AF_INET
	AFInet6 = 10 // AF_INET6

	ProtoTCP  = 6   // IPPROTO_TCP
	ProtoUDP  = 17  // IPPROTO_UDP
	ProtoSCTP = 132 // IPPROTO_SCTP
)

// Service flags (IP_VS_SVC_F_*).
const (
	SvcPersistent uint32 = 0x0001
	SvcOnePacket  uint32 = 0x0004
	SvcSched1     uint32 = 0x0008
	SvcSched2     uint32 = 0x0010
	SvcSched3     uint32 = 0x0020
	svcSchedMask         = SvcSched1 | SvcSched2 | SvcSched3
)

// Forwarding methods (IP_VS_CONN_F_*, masked by IP_VS_CONN_F_FWD_MASK).
const (
	FwdMasq   uint32 = 0
	FwdLocal  uint32 = 1
	FwdTunnel uint32 = 2
	FwdRoute  uint32 = 3
)

// Sync daemon states (IP_VS_STATE_*).
const (
	StateMaster = 1
	StateBackup = 2
)

// Defaults from ipvsadm.c / libipvs.h.
const (
	DefaultScheduler = "wlc"
	// DefaultPersistentTimeout is libipvs.h IPVS_SVC_PERSISTENT_TIMEOUT
	// (6*60): what `-p` without a value sends. ipvsadm(8) says 300, the
	// code sends 360.
	DefaultPersistentTimeout = 6 * 60
	defaultMcastIfn          = "eth0"
	maxTimeout               = 86400 * 31
	schedNameMax             = 16 // IP_VS_SCHEDNAME_MAXLEN
	peNameMax                = 16 // IP_VS_PENAME_MAXLEN
	ifNameMax                = 16 // IP_VS_IFNAME_MAXLEN
)

// Command is one parsed ipvsadm invocation, holding what ipvsadm's
// struct ipvs_command_entry would hold after process_options().
type Command struct {
	Cmd     Cmd
	Options Opt // options given, for the compatibility checks and Args
	Service Service
	Dest    Dest
	// Timeouts are the three --set values (0 keeps the current value).
	Timeouts [3]int
	Daemon   Daemon
}

// Service is a virtual service as given on the command line.
type Service struct {
	AF       int // 0 when no service was given
	Protocol int
	Addr     netip.Addr
	Port     uint16
	FWMark   uint32
	// Scheduler is the -s name (defaulted to wlc for -A/-E).
	Scheduler string
	Flags     uint32
	Timeout   uint32
	// Netmask is the -M value: an IPv4 mask in host byte order, or an IPv6
	// prefix length.
	Netmask uint32
	PE      string
}

// Dest is a real server as given on the command line.
type Dest struct {
	AF         int
	Addr       netip.Addr
	Port       uint16
	ConnFlags  uint32 // forwarding method; Options&OptForward says if given
	Weight     int32
	UThreshold uint32
	LThreshold uint32
	TunType    uint16
	TunPort    uint16
	TunFlags   uint16
}

// Daemon holds --start-daemon/--stop-daemon and their options.
type Daemon struct {
	State      int
	McastIfn   string
	SyncID     int
	McastGroup netip.Addr
	McastPort  int
	McastTTL   int
	SyncMaxlen int
}

// Format is ipvsadm.c's FMT_* listing flags.
type Format uint32

// Listing format flags.
const (
	FmtNumeric Format = 1 << iota
	FmtRule
	FmtStats
	FmtRate
	FmtThresholds
	FmtPersistentConn
	FmtNoSort
	FmtExact
	FmtTunInfo
)

// Format returns the listing flags the command's options select.
func (c *Command) Format() Format {
	var f Format
	for _, m := range []struct {
		o Opt
		f Format
	}{
		{OptNumeric, FmtNumeric}, {OptStats, FmtStats}, {OptRate, FmtRate},
		{OptThresholds, FmtThresholds}, {OptPersistentConn, FmtPersistentConn},
		{OptNoSort, FmtNoSort}, {OptExact, FmtExact}, {OptTunInfo, FmtTunInfo},
	} {
		if c.Options&m.o != 0 {
			f |= m.f
		}
	}
	if c.Cmd == CmdSave {
		f |= FmtRule
	}
	return f
}
