package ipvsadm

import (
	"context"
	"fmt"
	"strings"
)

// Program is the name ipvsadm's messages use for argv[0].
const Program = "ipvsadm"

// Exit statuses ipvsadm uses: fail() exits 2, tryhelp_exit(-1) and a failed
// kernel call (process_options returning -1) exit 255, a failed listing 1.
const (
	ExitOK      = 0
	ExitList    = 1
	ExitFail    = 2
	ExitGeneric = 255
)

// Error is a parse error: the exact bytes ipvsadm writes to stderr and the
// status it exits with.
type Error struct {
	Status int
	Stderr string
	// Fatal is true when ipvsadm exit()s on the spot (fail(), tryhelp_exit())
	// and false when process_options() merely returns -1 (a popt error),
	// which -R survives and moves on to the next line.
	Fatal bool
}

func (e *Error) Error() string { return strings.TrimRight(e.Stderr, "\n") }

// fail is ipvsadm.c fail(2, ...): message, newline, exit 2.
func fail(format string, args ...any) *Error {
	return &Error{Status: ExitFail, Stderr: fmt.Sprintf(format, args...) + "\n", Fatal: true}
}

// tryHelp is ipvsadm.c tryhelp_exit(program, -1).
func tryHelp(prog string) *Error {
	return &Error{
		Status: ExitGeneric,
		Stderr: fmt.Sprintf("Try `%s -h' or '%s --help' for more information.\n", prog, prog),
		Fatal:  true,
	}
}

// Parse parses ipvsadm arguments (without the program name) exactly as
// ipvsadm 1.31 does, resolving host and port names with the system resolver.
func Parse(args []string) (*Command, error) {
	return parse(context.Background(), &SystemResolver{}, Program, args)
}

type parser struct {
	ctx    context.Context
	res    Resolver
	prog   string
	c      *Command
	schedB string // -b argument, parsed after all options (parse_options)
	hasB   bool
}

// parse mirrors ipvsadm.c parse_options() followed by the checks of
// process_options(). A nil error means the command is valid.
func parse(ctx context.Context, res Resolver, prog string, args []string) (*Command, error) {
	if len(args) == 0 {
		// main(): "list the table if there is no other argument".
		args = []string{"-L"}
	}
	argv := make([]string, 0, len(args)+1)
	argv = append(argv, prog)
	for _, a := range args {
		argv = append(argv, cString(a))
	}
	c := &Command{}
	// process_options() defaults.
	c.Dest.Weight = 1
	c.Dest.ConnFlags = FwdRoute
	c.Service.Netmask = 0xffffffff
	p := &parser{ctx: ctx, res: res, prog: prog, c: c}
	pc := newPopt(argv)

	first := pc.getNextOpt()
	if first < 0 {
		return nil, tryHelp(prog)
	}
	switch first {
	case 'A':
		c.Cmd = CmdAdd
	case 'E':
		c.Cmd = CmdEdit
	case 'D':
		c.Cmd = CmdDel
	case 'a':
		c.Cmd = CmdAddDest
	case 'e':
		c.Cmd = CmdEditDest
	case 'd':
		c.Cmd = CmdDelDest
	case 'C':
		c.Cmd = CmdFlush
	case 'L', 'l':
		c.Cmd = CmdList
	case 'Z':
		c.Cmd = CmdZero
	case tagSet:
		c.Cmd = CmdTimeout
	case 'R':
		c.Cmd = CmdRestore
	case 'S':
		c.Cmd = CmdSave
	case tagStartDaemon, tagStopDaemon:
		c.Cmd = CmdStartDaemon
		msg := "illegal start-daemon parameter specified"
		if first == tagStopDaemon {
			c.Cmd = CmdStopDaemon
			msg = "illegal start_daemon specified"
		}
		switch pc.arg {
		case "master":
			c.Daemon.State = StateMaster
		case "backup":
			c.Daemon.State = StateBackup
		default:
			return nil, fail("%s", msg)
		}
	case 'h':
		// usage_exit() and version_exit() exit before looking further.
		return &Command{Cmd: CmdHelp}, nil
	case 'v':
		return &Command{Cmd: CmdVersion}, nil
	default:
		return nil, tryHelp(prog)
	}

	var code int
	for {
		code = pc.getNextOpt()
		if code < 0 {
			break
		}
		if err := p.option(code, pc); err != nil {
			return nil, err
		}
	}
	if code < poptEnd {
		return nil, &Error{
			Status: ExitGeneric,
			Stderr: fmt.Sprintf("%s: %s\n", pc.badOption(), poptStrerror(code)),
		}
	}

	if c.Cmd == CmdTimeout {
		var vals [3]string
		ok := true
		for i := range vals {
			if vals[i], ok = pc.getArg(); !ok {
				break
			}
		}
		if !ok {
			return nil, fail("--set option requires 3 timeout values")
		}
		for i, v := range vals {
			t, err := parseTimeout(v, true, 0, maxTimeout)
			if err != nil {
				return nil, err
			}
			c.Timeouts[i] = t
		}
	}
	if a, ok := pc.getArg(); ok {
		return nil, fail("unexpected argument %s", a)
	}
	if p.hasB && p.schedB != "" {
		flags, err := parseSchedFlags(c.Service.Scheduler, p.schedB)
		if err != nil {
			return nil, err
		}
		c.Service.Flags = c.Service.Flags&^svcSchedMask | flags
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// setOption is ipvsadm.c set_option().
func (c *Command) setOption(o Opt) error {
	if c.Options&o != 0 {
		return fail("multiple '%s' options specified", optNames[optIndex(o)])
	}
	c.Options |= o
	return nil
}

func optIndex(o Opt) int {
	for i := 0; i < numberOfOpt; i++ {
		if o == 1<<i {
			return i
		}
	}
	return -1
}

// option handles one option after the command (parse_options' while loop).
func (p *parser) option(code int, pc *poptContext) error {
	c := p.c
	arg := pc.arg
	switch code {
	case 't', 'u', tagSCTPService:
		if err := c.setOption(OptService); err != nil {
			return err
		}
		c.Service.Protocol = map[int]int{'t': ProtoTCP, 'u': ProtoUDP, tagSCTPService: ProtoSCTP}[code]
		s := c.Service
		if r := p.parseService(arg, &s); r&serviceAddr == 0 {
			return fail("illegal virtual server address[:port] specified")
		}
		c.Service = s
	case 'f':
		if err := c.setOption(OptService); err != nil {
			return err
		}
		// ipvsadm sets a sane af/protocol for fwmark services.
		c.Service.AF = AFInet
		c.Service.Protocol = ProtoTCP
		v, end, erange := strtol(arg)
		if end != len(arg) || end == 0 || erange || v <= 0 || v > 0xffffffff {
			return fail("invalid fwmark value `%s' specified", arg)
		}
		c.Service.FWMark = uint32(v)
	case 's':
		if err := c.setOption(OptScheduler); err != nil {
			return err
		}
		c.Service.Scheduler = truncate(arg, schedNameMax-1)
	case 'p':
		if err := c.setOption(OptPersistent); err != nil {
			return err
		}
		c.Service.Flags |= SvcPersistent
		t, err := parseTimeout(arg, pc.hasArg, 1, maxTimeout)
		if err != nil {
			return err
		}
		c.Service.Timeout = uint32(t)
	case 'M':
		if err := c.setOption(OptNetmask); err != nil {
			return err
		}
		if c.Service.AF != AFInet6 {
			m, ok := inetAton(arg)
			if !ok {
				a, found := p.res.HostAddr(p.ctx, arg)
				if !found {
					return fail("illegal virtual server persistent mask specified")
				}
				m = word4(a)
			}
			c.Service.Netmask = m
		} else {
			n := atoi(arg)
			if n < 1 || n > 128 {
				return fail("illegal ipv6 netmask specified")
			}
			c.Service.Netmask = uint32(n)
		}
	case 'r':
		if err := c.setOption(OptServer); err != nil {
			return err
		}
		// ipvsadm parses the server into a copy of the service, so the
		// service's protocol names the port and its port is the default.
		t := c.Service
		r := p.parseService(arg, &t)
		c.Dest.AF, c.Dest.Addr, c.Dest.Port = t.AF, t.Addr, t.Port
		if r&serviceAddr == 0 {
			return fail("illegal real server address[:port] specified")
		}
		if r == serviceAddr {
			c.Dest.Port = c.Service.Port
		}
	case 'i', 'g', 'm':
		if err := c.setOption(OptForward); err != nil {
			return err
		}
		c.Dest.ConnFlags = map[int]uint32{'i': FwdTunnel, 'g': FwdRoute, 'm': FwdMasq}[code]
	case 'w':
		if err := c.setOption(OptWeight); err != nil {
			return err
		}
		w := stringToNumber(arg, 0, 65535)
		if w < 0 {
			return fail("illegal weight specified")
		}
		c.Dest.Weight = int32(w)
	case 'x', 'y':
		o, name := OptUThreshold, "u_threshold"
		if code == 'y' {
			o, name = OptLThreshold, "l_threshold"
		}
		if err := c.setOption(o); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, 1<<31-1)
		if v < 0 {
			return fail("illegal %s specified", name)
		}
		if code == 'x' {
			c.Dest.UThreshold = uint32(v)
		} else {
			c.Dest.LThreshold = uint32(v)
		}
	case 'c':
		return c.setOption(OptConnection)
	case 'n':
		return c.setOption(OptNumeric)
	case tagMcastInterface:
		if err := c.setOption(OptMcast); err != nil {
			return err
		}
		c.Daemon.McastIfn = truncate(arg, ifNameMax-1)
	case 'I':
		if err := c.setOption(OptSyncID); err != nil {
			return err
		}
		v := stringToNumber(arg, 0, 255)
		if v < 0 {
			return fail("illegal syncid specified")
		}
		c.Daemon.SyncID = int(v)
	case tagTimeout:
		return c.setOption(OptTimeout)
	case tagDaemon:
		return c.setOption(OptDaemon)
	case tagStats:
		return c.setOption(OptStats)
	case tagRate:
		return c.setOption(OptRate)
	case tagThresholds:
		return c.setOption(OptThresholds)
	case tagPersistentConn:
		return c.setOption(OptPersistentConn)
	case tagNoSort:
		return c.setOption(OptNoSort)
	case tagSort:
		// "Sort is the default, this is a no-op for compatibility".
	case 'X':
		return c.setOption(OptExact)
	case '6':
		if c.Service.FWMark == 0 {
			return fail("-6 used before -f\n")
		}
		c.Service.AF = AFInet6
		c.Service.Netmask = 128
	case 'o':
		if err := c.setOption(OptOnePacket); err != nil {
			return err
		}
		c.Service.Flags |= SvcOnePacket
	case tagPersistenceEngine:
		if err := c.setOption(OptPersistenceEngine); err != nil {
			return err
		}
		c.Service.PE = truncate(arg, peNameMax)
	case 'b':
		if err := c.setOption(OptSchedFlags); err != nil {
			return err
		}
		p.schedB, p.hasB = truncate(arg, 127), true
	case tagMcastGroup:
		if err := c.setOption(OptMcastGroup); err != nil {
			return err
		}
		if strings.Contains(arg, ":") {
			a, ok := inetPton6(arg)
			if !ok || !a.IsMulticast() {
				return fail("invalid IPv6 mcast-group `%s'", arg)
			}
			c.Daemon.McastGroup = a
		} else {
			a, ok := inetPton4(arg)
			if !ok || !a.IsMulticast() {
				return fail("invalid IPv4 mcast-group `%s'", arg)
			}
			c.Daemon.McastGroup = a
		}
	case tagMcastPort, tagMcastTTL, tagSyncMaxlen:
		o, name, max, dst := OptMcastPort, "mcast-port", int64(65535), &c.Daemon.McastPort
		switch code {
		case tagMcastTTL:
			o, name, max, dst = OptMcastTTL, "mcast-ttl", 255, &c.Daemon.McastTTL
		case tagSyncMaxlen:
			o, name, max, dst = OptSyncMaxlen, "sync-maxlen", 65535-20-8, &c.Daemon.SyncMaxlen
		}
		if err := c.setOption(o); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, max)
		if v < 0 {
			return fail("illegal %s specified", name)
		}
		*dst = int(v)
	case tagTunInfo:
		return c.setOption(OptTunInfo)
	case tagTunType:
		if err := c.setOption(OptTunType); err != nil {
			return err
		}
		t := -1
		for i, n := range tunNames {
			if arg == n {
				t = i
			}
		}
		if t < 0 {
			return fail("illegal tunnel type specified")
		}
		c.Dest.TunType = uint16(t)
	case tagTunPort:
		if err := c.setOption(OptTunPort); err != nil {
			return err
		}
		v := stringToNumber(arg, 1, 65535)
		if v < 0 {
			return fail("illegal tunnel port specified")
		}
		c.Dest.TunPort = uint16(v)
	case tagTunNoCsum:
		return c.setOption(OptTunNoCsum)
	case tagTunCsum:
		if err := c.setOption(OptTunCsum); err != nil {
			return err
		}
		c.Dest.TunFlags |= TunFlagCsum
	case tagTunRemCsum:
		if err := c.setOption(OptTunRemCsum); err != nil {
			return err
		}
		c.Dest.TunFlags |= TunFlagRemCsum
	default:
		// A known option in the wrong place, e.g. a second command.
		return fail("invalid option `%s'", pc.badOption())
	}
	return nil
}

// parseTimeout is ipvsadm.c parse_timeout(): a missing value (the optional
// -p argument) means the default persistence timeout.
func parseTimeout(s string, given bool, min, max int64) (int, error) {
	if !given {
		return DefaultPersistentTimeout, nil
	}
	v := stringToNumber(s, min, max)
	if v < 0 {
		return 0, fail("invalid timeout value `%s' specified", s)
	}
	return int(v), nil
}

// parse_service() result bits.
const (
	serviceAddr = 1
	servicePort = 2
)

// parseService is ipvsadm.c parse_service(): "[v6]:port", a bare IPv6
// address, or "host[:port]" where host is inet_aton() notation or a name
// and port a number or a services(5) name for the service's protocol.
func (p *parser) parseService(buf string, s *Service) int {
	if strIsDigit(buf) {
		return 0
	}
	var port string
	hasPort := false
	if buf[0] == '[' {
		buf = buf[1:]
		i := strings.IndexByte(buf, ']')
		if i < 0 || i+1 >= len(buf) || buf[i+1] != ':' {
			return 0
		}
		port, hasPort = buf[i+2:], true
		buf = buf[:i]
	}
	if a, ok := inetPton6(buf); ok {
		s.Addr, s.AF, s.Netmask = a, AFInet6, 128
	} else {
		// ipvsadm re-points the port at the last ':' of what is left, so
		// "[1.2.3.4]:80" parses as 1.2.3.4 without a port.
		hasPort = false
		if i := strings.LastIndexByte(buf, ':'); i >= 0 {
			port, hasPort = buf[i+1:], true
			buf = buf[:i]
		}
		if w, ok := inetAton(buf); ok {
			s.Addr, s.AF = addr4(w), AFInet
		} else if a, ok := p.res.HostAddr(p.ctx, buf); ok && a.Is4() {
			s.Addr, s.AF = a, AFInet
		} else {
			return 0
		}
	}
	r := serviceAddr
	if hasPort {
		r |= servicePort
		if n := stringToNumber(port, 0, 65535); n >= 0 {
			s.Port = uint16(n)
		} else if n, ok := p.servicePort(port, s.Protocol); ok {
			s.Port = n
		} else {
			return 0
		}
	}
	return r
}

// servicePort is ipvsadm.c service_to_port().
func (p *parser) servicePort(name string, proto int) (uint16, bool) {
	pn := protoName(proto)
	if pn == "" {
		return 0, false
	}
	return p.res.Port(name, pn)
}

// protoName is the services(5) protocol name of an IP protocol.
func protoName(proto int) string {
	switch proto {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoSCTP:
		return "sctp"
	}
	return ""
}

// parseSchedFlags is ipvsadm.c parse_sched_flags(): comma-separated flags,
// the named ones only for their scheduler.
func parseSchedFlags(sched, arg string) (uint32, error) {
	if sched == "" {
		sched = DefaultScheduler
	}
	var flags uint32
	n := 0
	for _, f := range strings.Split(arg, ",") {
		if f == "" {
			continue // strtok() skips empty fields
		}
		n++
		var bit uint32
		need := ""
		switch f {
		case "flag-1":
			bit = SvcSched1
		case "flag-2":
			bit = SvcSched2
		case "flag-3":
			bit = SvcSched3
		case "sh-fallback":
			bit, need = SvcSched1, "sh"
		case "sh-port":
			bit, need = SvcSched2, "sh"
		case "mh-fallback":
			bit, need = SvcSched1, "mh"
		case "mh-port":
			bit, need = SvcSched2, "mh"
		default:
			return 0, fail("invalid scheduler flag `%s'", f)
		}
		flags |= bit
		if need != "" && sched != need {
			return 0, fail("incompatible scheduler flag `%s'", f)
		}
	}
	if n == 0 {
		// ipvsadm calls strcmp(NULL, ...) here and crashes; refuse instead.
		return 0, fail("invalid scheduler flag `%s'", arg)
	}
	return flags, nil
}

// check is the validation process_options() does after parsing.
func (p *parser) check() error {
	c := p.c
	if err := genericOptCheck(c.Cmd, c.Options); err != nil {
		return err
	}
	if c.Cmd == CmdAdd || c.Cmd == CmdEdit {
		if c.Service.FWMark == 0 && c.Service.Port == 0 && c.Service.Flags&SvcPersistent == 0 {
			return fail("Zero port specified for non-persistent service")
		}
		if c.Service.Flags&SvcOnePacket != 0 && c.Service.FWMark == 0 && c.Service.Protocol != ProtoUDP {
			return fail("One-Packet Scheduling is only for UDP virtual services")
		}
		if c.Service.Scheduler == "" {
			c.Service.Scheduler = DefaultScheduler
		}
	}
	if c.Cmd == CmdStartDaemon && c.Daemon.McastIfn == "" {
		c.Daemon.McastIfn = defaultMcastIfn
	}
	if c.Cmd == CmdAddDest || c.Cmd == CmdEditDest {
		fwd := c.Dest.ConnFlags
		// Direct routing and tunnelling cannot change the port. ipvsadm
		// applies this to its implicit -g too; Fulcrum keeps the given port
		// when no method is named, since its default method is the data
		// plane's (NAT for the proxy), which can remap ports.
		if c.Service.FWMark == 0 && c.Options&OptForward != 0 && (fwd == FwdTunnel || fwd == FwdRoute) {
			c.Dest.Port = c.Service.Port
		}
		if c.Dest.AF != c.Service.AF && fwd != FwdTunnel {
			return fail("Different address family is allowed only for tunneling servers")
		}
		if c.Options&(OptTunType|OptTunPort|OptTunNoCsum|OptTunCsum|OptTunRemCsum) != 0 && fwd != FwdTunnel {
			return fail("Tunnel options conflict with forward method")
		}
		if err := tunnelOptCheck(c.Dest.TunType, c.Options); err != nil {
			return err
		}
	}
	if c.Cmd == CmdList {
		o := c.Options
		if (o&(OptConnection|OptTimeout|OptDaemon) != 0 && o&(OptStats|OptRate|OptThresholds) != 0) ||
			(o&(OptTimeout|OptDaemon) != 0 && o&OptPersistentConn != 0) {
			return fail("options conflicts in the list command")
		}
	}
	return nil
}

// genericOptCheck is ipvsadm.c generic_opt_check().
func genericOptCheck(cmd Cmd, options Opt) error {
	row := commandsVOptions[cmd-1]
	name := cmdNames[cmd-1]
	last, count := 0, 0
	for j := 0; j < numberOfOpt; j++ {
		if options&(1<<j) == 0 {
			if row[j] == '+' {
				return fail("You need to supply the '%s' option for the '%s' command", optNames[j], name)
			}
			continue
		}
		if row[j] == 'x' {
			return fail("Illegal '%s' option with the '%s' command", optNames[j], name)
		}
		if row[j] == '1' {
			count++
			if count == 1 {
				last = j
				continue
			}
			return fail("The option '%s' conflicts with the '%s' option in the '%s' command", optNames[j], optNames[last], name)
		}
	}
	return nil
}

// tunnelOptCheck is ipvsadm.c tunnel_opt_check().
func tunnelOptCheck(tunType uint16, options Opt) error {
	row := tunnelTypesVOptions[tunType]
	last, count := 0, 0
	for j, k := range tunOpts {
		if options&(1<<k) == 0 {
			if row[j] == '+' {
				return fail("You need to supply the '%s' option for the '%s' tunnel type", optNames[k], tunNames[tunType])
			}
			continue
		}
		if row[j] == 'x' {
			return fail("Illegal '%s' option with the '%s' tunnel type", optNames[k], tunNames[tunType])
		}
		if row[j] == '1' {
			count++
			if count == 1 {
				last = k
				continue
			}
			return fail("The option '%s' conflicts with the '%s' option in the '%s' tunnel type", optNames[k], optNames[last], tunNames[tunType])
		}
	}
	return nil
}
