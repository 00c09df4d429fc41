package ipvsadm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

// Env is what an invocation runs with.
type Env struct {
	// Prog is argv[0] as ipvsadm's messages show it; default "ipvsadm".
	Prog string
	// Resolver names hosts and ports; default a SystemResolver.
	Resolver Resolver
}

// Run executes one ipvsadm invocation (args without the program name)
// against adm and returns ipvsadm's exit status.
func Run(ctx context.Context, adm api.Admin, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Env{}.Run(ctx, adm, args, stdin, stdout, stderr)
}

// Parse parses one invocation with e's resolver and program name.
func (e Env) Parse(ctx context.Context, args []string) (*Command, error) {
	return parse(ctx, e.resolver(), e.prog(), args)
}

func (e Env) prog() string {
	if e.Prog == "" {
		return Program
	}
	return e.Prog
}

func (e Env) resolver() Resolver {
	if e.Resolver == nil {
		return &SystemResolver{}
	}
	return e.Resolver
}

// exit is how ipvsadm's exit() calls unwind a run: -R stops at once.
type exit struct{ status int }

type runner struct {
	ctx    context.Context
	adm    api.Admin
	res    Resolver
	prog   string
	info   api.Info
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// Run executes one invocation; see the package-level Run.
func (e Env) Run(ctx context.Context, adm api.Admin, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	r := &runner{ctx: ctx, adm: adm, res: e.resolver(), prog: e.prog(), stdin: stdin, stdout: stdout, stderr: stderr}
	// ipvsadm's main() first initialises libipvs (IPVS_CMD_GET_INFO) and
	// exits 2 when that fails; here the daemon's admin API takes its place.
	// -h and -v still work without a daemon, unlike in ipvsadm.
	info, ierr := adm.Info(ctx)
	if ierr != nil {
		if c, err := r.parse(args); err == nil && (c.Cmd == CmdHelp || c.Cmd == CmdVersion) {
			return r.status(func() int { return r.process(c, false) })
		}
		fmt.Fprintf(stderr, "Can't initialize ipvs: %s\nIs the fulcrum daemon running and its admin API reachable?\n", errorMessage(fnOther, ierr))
		return ExitFail
	}
	r.info = info
	if v, err := ipvsVersion(info.IPVSVersion); err == nil && v < 0x010104 {
		// check_ipvs_version(): minimum IPVS 1.1.4.
		fmt.Fprintf(stderr, "Warning: IPVS version mismatch: \n  Kernel compiled with IPVS version %d.%d.%d\n  ipvsadm v1.31  requires minimum IPVS version 1.1.4\n\n", v>>16&0xff, v>>8&0xff, v&0xff)
	}
	return r.status(func() int {
		return r.processArgs(args, false)
	})
}

// status runs fn, turning an exit() inside it into its status, and maps
// process_options()'s -1 to the 255 main() exits with.
func (r *runner) status(fn func() int) (st int) {
	defer func() {
		if v := recover(); v != nil {
			e, ok := v.(exit)
			if !ok {
				panic(v)
			}
			st = e.status
		}
	}()
	if res := fn(); res != 0 {
		return ExitGeneric
	}
	return 0
}

func (r *runner) exit(status int) { panic(exit{status}) }

func (r *runner) parse(args []string) (*Command, error) {
	return parse(r.ctx, r.res, r.prog, args)
}

// processArgs is ipvsadm.c process_options(): 0 or -1.
func (r *runner) processArgs(args []string, readingStdin bool) int {
	c, err := r.parse(args)
	if err != nil {
		pe, ok := err.(*Error)
		if !ok {
			fmt.Fprintln(r.stderr, err)
			r.exit(ExitFail)
		}
		io.WriteString(r.stderr, pe.Stderr)
		if pe.Fatal {
			r.exit(pe.Status)
		}
		return -1
	}
	return r.process(c, readingStdin)
}

func (r *runner) process(c *Command, readingStdin bool) int {
	f := c.Format()
	var err error
	fn := fnOther
	switch c.Cmd {
	case CmdHelp:
		r.stdout.Write(Help(r.prog))
		r.exit(0)
	case CmdVersion:
		r.stdout.Write(Version())
		r.exit(0)
	case CmdList:
		switch {
		case c.Options&OptConnection != 0:
			r.listConns(f)
		case c.Options&OptService != 0:
			r.listService(&c.Service, f)
		case c.Options&OptTimeout != 0:
			r.listTimeout()
		case c.Options&OptDaemon != 0:
			// list_daemon(): no sync daemon runs, so there is nothing to show.
		default:
			r.listAll(f)
		}
		return 0
	case CmdRestore:
		return r.restore(readingStdin)
	case CmdSave:
		r.listAll(f)
		return 0
	case CmdFlush:
		fn, err = fnFlush, r.adm.Clear(r.ctx)
	case CmdAdd, CmdEdit:
		fn = fnAddService
		if c.Cmd == CmdEdit {
			fn = fnUpdateService
		}
		var s api.Service
		if s, err = c.APIService(); err == nil {
			if c.Cmd == CmdAdd {
				err = r.adm.AddService(r.ctx, s)
			} else {
				err = r.adm.EditService(r.ctx, s)
			}
		}
	case CmdDel:
		fn, err = fnDelService, r.adm.DeleteService(r.ctx, c.Service.Key())
	case CmdZero:
		fn, err = fnZeroService, r.adm.Zero(r.ctx, c.zeroKey())
	case CmdAddDest, CmdEditDest:
		fn = fnAddDest
		if c.Cmd == CmdEditDest {
			fn = fnUpdateDest
		}
		var d api.Real
		if d, err = c.APIReal(); err == nil {
			if c.Cmd == CmdAddDest {
				err = r.adm.AddReal(r.ctx, c.Service.Key(), d)
			} else {
				err = r.adm.EditReal(r.ctx, c.Service.Key(), d)
			}
		}
	case CmdDelDest:
		fn, err = fnDelDest, r.adm.DeleteReal(r.ctx, c.Service.Key(), c.Dest.address())
	case CmdTimeout:
		fn = fnSetTimeout
		err = r.adm.SetTimeouts(r.ctx, api.Timeouts{TCP: c.Timeouts[0], TCPFin: c.Timeouts[1], UDP: c.Timeouts[2]})
	case CmdStartDaemon, CmdStopDaemon:
		err = api.Errorf(api.CodeUnsupported, "the connection synchronization daemon is not supported by fulcrum")
	}
	if err != nil {
		fmt.Fprintln(r.stderr, errorMessage(fn, err))
		return -1
	}
	return 0
}

// listFail reports a failed read and exits 1, as the list functions do.
func (r *runner) listFail(fn ipvsFunc, err error) {
	fmt.Fprintln(r.stderr, errorMessage(fn, err))
	r.exit(ExitList)
}

func (r *runner) lister() Lister { return Lister{Resolver: r.res} }

func (r *runner) listAll(f Format) {
	svcs, err := r.adm.Services(r.ctx)
	if err != nil {
		if f&FmtRule == 0 {
			// list_all() prints the header before asking for services.
			if h, herr := Header(r.info); herr == nil {
				r.stdout.Write(h)
			}
		}
		r.listFail(fnGetServices, err)
	}
	out, err := r.lister().ListAll(r.ctx, r.info, svcs, f)
	if err != nil {
		r.listFail(fnOther, err)
	}
	r.stdout.Write(out)
}

func (r *runner) listService(s *Service, f Format) {
	svcs, err := r.adm.Services(r.ctx)
	if err != nil {
		r.listFail(fnGetService, err)
	}
	for _, a := range svcs {
		e, err := entryFromAPI(a)
		if err != nil {
			r.listFail(fnOther, err)
		}
		if e.matches(s) {
			out, err := r.lister().ListService(r.ctx, a, f)
			if err != nil {
				r.listFail(fnOther, err)
			}
			r.stdout.Write(out)
			return
		}
	}
	r.listFail(fnGetService, api.Errorf(api.CodeNoService, "no such service"))
}

func (r *runner) listConns(f Format) {
	conns, err := r.adm.Conns(r.ctx)
	if err != nil {
		r.listFail(fnOther, err)
	}
	out, err := r.lister().ListConns(r.ctx, conns, f)
	if err != nil {
		r.listFail(fnOther, err)
	}
	r.stdout.Write(out)
}

func (r *runner) listTimeout() {
	t, err := r.adm.Timeouts(r.ctx)
	if err != nil {
		// ipvsadm exits 1 silently here; say why instead.
		r.listFail(fnGetTimeout, err)
	}
	r.stdout.Write(ListTimeout(t))
}

// restore is ipvsadm.c restore_table(): each stdin line is one command;
// a failed call does not stop it, an exit() does, and the status is the
// last command's.
func (r *runner) restore(readingStdin bool) int {
	if readingStdin {
		// "avoid infinite loop"
		io.WriteString(r.stderr, tryHelp(r.prog).Stderr)
		r.exit(ExitGeneric)
	}
	result := 0
	cs := newConfigStream(r.stdin)
	for {
		toks, ok := cs.read()
		if !ok {
			break
		}
		if len(toks) > 0 {
			result = r.processArgs(toks, true)
		}
	}
	return result
}

// configStream is config_stream.c config_stream_read() over a stream: the
// fscanf("%4096[^ \t\n\r]%1[ \t\n\r]") loop, quirks included. Every token
// "ipvsadm" is dropped; '#' starts no comment (the C code looks for it in
// the separator, where it never is); trailing blanks before end of input
// lose the last line.
type configStream struct {
	r *bufio.Reader
}

func newConfigStream(r io.Reader) *configStream {
	if r == nil {
		r = eofReader{}
	}
	return &configStream{r: bufio.NewReader(r)}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

const maxLineLength = 4096

func isSep(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// read returns one line's tokens; ok is false when config_stream_read
// returns NULL (end of input), which ends the restore.
func (s *configStream) read() (toks []string, ok bool) {
	toks = []string{}
	var tail byte // the separator after the last token; 0 = none read
	for {
		// fscanf: EOF before anything converts.
		if _, err := s.r.Peek(1); err != nil {
			break
		}
		var tok []byte
		for len(tok) < maxLineLength {
			c, err := s.r.ReadByte()
			if err != nil {
				break
			}
			if isSep(c) {
				s.r.UnreadByte()
				break
			}
			tok = append(tok, c)
		}
		if len(tok) == 0 {
			// status 0: skip blanks; a newline ends the (empty) line, end of
			// input discards what the line had.
			for {
				c, err := s.r.ReadByte()
				if err != nil {
					return nil, false
				}
				if c == '\n' {
					return toks, true
				}
				if c != ' ' && c != '\t' && c != '\r' {
					s.r.UnreadByte()
					break
				}
			}
			continue
		}
		if c, err := s.r.ReadByte(); err == nil {
			if isSep(c) {
				tail = c
			} else {
				s.r.UnreadByte() // token longer than the buffer; tail unchanged
			}
		}
		if t := cString(string(tok)); t != "ipvsadm" {
			toks = append(toks, t)
		}
		if tail == '\n' {
			return toks, true
		}
	}
	if len(toks) == 0 {
		return nil, false
	}
	return toks, true
}

// The conversions below turn a parsed command into admin API requests.

// Key is the API key of the command's virtual service.
func (s *Service) Key() api.ServiceKey {
	if s.FWMark != 0 {
		return api.ServiceKey{FWMark: s.FWMark, IPv6: s.AF == AFInet6}
	}
	return api.ServiceKey{Protocol: protoName(s.Protocol), Address: hostPort(s.AF, s.Addr, s.Port)}
}

func hostPort(af int, a netip.Addr, port uint16) string {
	if af == AFInet6 {
		return "[" + inetNtop6(a) + "]:" + strconv.Itoa(int(port))
	}
	return ntop(AFInet, a) + ":" + strconv.Itoa(int(port))
}

func (d *Dest) address() string { return hostPort(d.AF, d.Addr, d.Port) }

// zeroKey is ipvs_zero_service(): a service with no fwmark, address or
// port means all services.
func (c *Command) zeroKey() *api.ServiceKey {
	s := &c.Service
	if s.FWMark == 0 && s.Port == 0 && (!s.Addr.IsValid() || s.Addr.IsUnspecified()) {
		return nil
	}
	k := s.Key()
	return &k
}

// APIService is the service an -A or -E sends.
func (c *Command) APIService() (api.Service, error) {
	s := &c.Service
	if s.PE != "" {
		return api.Service{}, api.Errorf(api.CodeUnsupported, "persistence engine %q is not supported by fulcrum", s.PE)
	}
	out := api.Service{
		ServiceKey: s.Key(),
		Scheduler:  s.Scheduler,
		SchedFlags: schedFlagNames(s.Scheduler, s.Flags),
		Persistent: s.Flags&SvcPersistent != 0,
		OnePacket:  s.Flags&SvcOnePacket != 0,
	}
	if s.Flags&SvcSched3 != 0 && (s.Scheduler == "sh" || s.Scheduler == "mh") {
		out.SchedFlags = append(out.SchedFlags, "flag-3")
	}
	if out.Persistent {
		out.Timeout = s.Timeout
		if s.AF == AFInet6 {
			out.Netmask = strconv.Itoa(int(int32(s.Netmask)))
		} else {
			out.Netmask = addr4(s.Netmask).String()
		}
	}
	return out, nil
}

// APIReal is the real server an -a or -e sends. Without -g/-i/-m the
// forwarding method is left to the data plane ("").
func (c *Command) APIReal() (api.Real, error) {
	d := &c.Dest
	if c.Options&(OptTunType|OptTunPort|OptTunNoCsum|OptTunCsum|OptTunRemCsum) != 0 && (d.TunType != TunIPIP || c.Options&OptTunPort != 0) {
		return api.Real{}, api.Errorf(api.CodeUnsupported, "tunnel type %s is not supported by fulcrum", tunNames[d.TunType])
	}
	out := api.Real{
		Address:        d.address(),
		Weight:         d.Weight,
		UpperThreshold: d.UThreshold,
		LowerThreshold: d.LThreshold,
	}
	if c.Options&OptForward != 0 {
		out.Forward = fwdName(d.ConnFlags)
	}
	return out, nil
}
