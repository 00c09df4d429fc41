package keepalived

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Virtual server keywords: check_parser.c init_check_keywords.

const (
	// ipvsWeightLimit is IPVS_WEIGHT_LIMIT (INT_MAX), as keepalived -t
	// prints it.
	ipvsWeightLimit = math.MaxInt32
	// persistentTimeout is IPVS_SVC_PERSISTENT_TIMEOUT (libipvs.h), what
	// "persistence_timeout" alone means.
	persistentTimeout = 6 * 60
	// defaultDelayLoop is KEEPALIVED_DEFAULT_DELAY (check_data.h).
	defaultDelayLoop = 60 * time.Second
	// defaultConnectTimeout is alloc_vs's connection_to.
	defaultConnectTimeout = 5 * time.Second
	// schedNameMax is IP_VS_SCHEDNAME_MAXLEN.
	schedNameMax = 16
)

// lvsSchedulers is check_parser.c lvs_schedulers in keepalived 2.2.7.
var lvsSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"}

func checkRoots() []*keyword {
	return join(
		[]*keyword{
			kw("virtual_server_group", 1, vsgHandler),
			block("virtual_server", 2, vsStart, vsEnd, vsKeywords()...),
		},
		ignBlock("SSL"),
	)
}

// vsgHandler is a virtual_server_group block of "IP[-END|/LEN] [PORT]"
// and "fwmark N [inet|inet6]" lines (check_data.c alloc_vsg_entry).
func vsgHandler(c *cmd) {
	name, ok := c.arg(1)
	if !ok {
		return
	}
	g := &vsGroup{at: c.at, name: name}
	// alloc_value_block sees the words after the name as the block's.
	rest := &cmd{p: c.p, at: c.at, args: append([]string{c.args[0]}, c.args[2:]...), kw: c.kw, used: -2, lastDiag: -1}
	rest.valueBlock(func(at pos, ws []string) {
		if e, ok := c.vsgEntry(at, g.name, ws); ok {
			g.entries = append(g.entries, e)
		}
	})
	c.at = rest.at
	c.used = -1
	if len(g.entries) == 0 {
		c.warn("virtual server group %s has no entries - removing", g.name)
		return
	}
	var have4, have6, fwNoFamily bool
	for _, e := range g.entries {
		switch {
		case e.isFW && e.fwFam == 0:
			fwNoFamily = true
		case (e.isFW && e.fwFam == 6) || (!e.isFW && e.first.Is6()):
			have6 = true
		default:
			have4 = true
		}
	}
	if have4 && have6 && fwNoFamily {
		c.err("virtual server group %s cannot have IPv4, IPv6 and fwmark without family - removing", g.name)
		return
	}
	c.st().vsgs = append(c.st().vsgs, g)
}

func (c *cmd) vsgEntry(at pos, group string, ws []string) (vsgEntry, bool) {
	warn := func(format string, args ...any) { c.p.sink.warnf(at, format, args...) }
	e := vsgEntry{at: at}
	if ws[0] == "fwmark" {
		s := ""
		if len(ws) > 1 {
			s = ws[1]
		}
		sub := &cmd{p: c.p, at: at, lastDiag: -1, used: -2}
		n, ok, tOK := sub.readUnsigned(s, 0, math.MaxUint32, true)
		if !tOK {
			warn("(%s): fwmark '%s' must be in [0, %d] - ignoring", group, s, uint32(math.MaxUint32))
		}
		if !ok {
			return e, false
		}
		e.isFW, e.fwmark = true, uint32(n)
		if len(ws) > 2 {
			switch ws[2] {
			case "inet":
				e.fwFam = 4
			case "inet6":
				e.fwFam = 6
			default:
				warn("(%s): fwmark '%d' family %s unknown - ignoring", group, n, ws[2])
				return e, false
			}
		}
		return e, true
	}
	spec := ws[0]
	port := ""
	if len(ws) > 1 && strings.Trim(ws[1], "0") != "" {
		port = ws[1]
	}
	addrPart := spec
	if i := strings.IndexAny(spec, "-/"); i >= 0 {
		addrPart = spec[:i]
	}
	first, p, ok := c.sockaddr(at, addrPart, port)
	if !ok {
		sep := ""
		if port != "" {
			sep = "/port"
		}
		warn("Invalid virtual server group IP address %s %s%s%s - skipping", spec, sep, map[bool]string{true: "/"}[port != ""], port)
		return e, false
	}
	e.first, e.last, e.port = first, first, p
	switch {
	case strings.Contains(spec, "/"):
		ms := spec[strings.IndexByte(spec, '/')+1:]
		bits := 32
		if first.Is6() {
			bits = 128
		}
		m, err := strconv.Atoi(ms)
		if err != nil || m <= 0 || m > bits {
			warn("Invalid netmask - %s - skipping", spec)
			return e, false
		}
		pfx := netip.PrefixFrom(first, m)
		if pfx.Masked().Addr() != first {
			warn("Address mask bits not empty - %s - skipping", spec)
			return e, false
		}
		e.last = lastAddr(pfx)
	case strings.Contains(spec, "-"):
		end := spec[strings.IndexByte(spec, '-')+1:]
		if (first.Is4() && strings.Contains(end, ".")) || (first.Is6() && strings.Contains(end, ":")) {
			last, err := netip.ParseAddr(end)
			if err != nil {
				warn("Invalid range end %s - skipping", spec)
				return e, false
			}
			if last.Is4() != first.Is4() {
				warn("Range address families do not match %s - skipping", spec)
				return e, false
			}
			if last.Less(first) {
				warn("Address range end is less than address range start - %s - skipping", spec)
				return e, false
			}
			e.last = last
			break
		}
		// A range of the last octet (IPv4, decimal) or the last 16
		// bits (IPv6, hexadecimal): "10.0.0.1-10" (inet_stor).
		base, limit := 10, uint64(255)
		if first.Is6() {
			base, limit = 16, 0xffff
		}
		r, err := strconv.ParseUint(end, base, 32)
		if err != nil || r > limit {
			warn("Invalid virtual server group IP address range %s - skipping", spec)
			return e, false
		}
		b := first.AsSlice()
		var start uint64
		if first.Is4() {
			start = uint64(b[3])
			b[3] = byte(r)
		} else {
			start = uint64(b[14])<<8 | uint64(b[15])
			b[14], b[15] = byte(r>>8), byte(r)
		}
		if start >= r {
			warn("Address range end is not greater than address range start - %s - skipping", spec)
			return e, false
		}
		e.last, _ = netip.AddrFromSlice(b)
	}
	if len(ws) > 2 {
		c.p.sink.warnf(at, "keepalived ignores the words after %q: %q", strings.Join(ws[:2], " "), strings.Join(ws[2:], " "))
	}
	return e, true
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// sockaddr parses an address and an optional port (1-65535) as
// inet_stosockaddr does, reporting a bad port number on c's line.
func (c *cmd) sockaddr(at pos, ip, port string) (netip.Addr, uint16, bool) {
	var p uint64
	if port != "" {
		sub := &cmd{p: c.p, at: at, lastDiag: -1, used: -2}
		var ok bool
		if p, ok, _ = sub.readUnsigned(port, 1, 65535, false); !ok {
			return netip.Addr{}, 0, false
		}
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, 0, false
	}
	return a.Unmap(), uint16(p), true
}

// noZeroPort is how alloc_vs and alloc_rs treat the port: "0", "00" or a
// missing port mean none.
func noZeroPort(c *cmd, i int) string {
	if c.has(i) && strings.Trim(c.args[i], "0") != "" {
		return c.args[i]
	}
	return ""
}

func vsStart(c *cmd) {
	p1, ok := c.arg(1)
	if !ok {
		return
	}
	vs := &virtualServer{at: c.at, granularity: unset, delayLoop: defaultDelayLoop, connTo: defaultConnectTimeout,
		warmup: unset, dbr: unset, retry: unset, smtpAlert: unset, quorum: 1, weight: 1}
	switch p1 {
	case "group":
		vs.vsgName, _ = c.arg(2)
	case "fwmark":
		s, _ := c.arg(2)
		n, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32, true)
		if !tOK {
			c.err("virtual server fwmark '%s' must be in [0, %d] - ignoring", s, uint32(math.MaxUint32))
		}
		if !ok {
			c.skipBlock = true
			return
		}
		vs.isFW, vs.fwmark = true, uint32(n)
	default:
		port := noZeroPort(c, 2)
		a, pt, ok := c.sockaddr(c.at, p1, port)
		if !ok {
			if port != "" {
				c.err("Invalid virtual server IP address/port %s/%s - skipping", p1, port)
			} else {
				c.err("Invalid virtual server IP address %s - skipping", p1)
			}
			c.skipBlock = true
			return
		}
		vs.addr, vs.port = a, pt
		vs.af = afOf(a)
	}
	c.st().curVS = vs
}

func afOf(a netip.Addr) int {
	if a.Is6() {
		return 6
	}
	return 4
}

// vsEnd is vs_end_handler.
func vsEnd(p *pass) {
	vs := p.st.curVS
	if vs == nil {
		return
	}
	p.st.curVS = nil
	if s := vs.sorry; s != nil && s.fwd != config.Tunnel {
		if vs.af == 0 {
			vs.af = afOf(s.addr)
		} else if vs.af != afOf(s.addr) {
			p.sink.warnf(p.here(), "Address family of virtual server and sorry server %s don't match - skipping sorry server.", s.addr)
			vs.sorry = nil
		}
	}
	p.st.vss = append(p.st.vss, vs)
}

// vs is the virtual server being read; a throwaway one when keepalived
// refused it but reads its block anyway.
func (c *cmd) vs() *virtualServer {
	if vs := c.st().curVS; vs != nil {
		return vs
	}
	return &virtualServer{granularity: unset, warmup: unset, dbr: unset, retry: unset, smtpAlert: unset}
}

func vsKeywords() []*keyword {
	return join([]*keyword{
		kw("ip_family", 1, func(c *cmd) {
			vs := c.vs()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			af := 0
			switch s {
			case "inet":
				af = 4
			case "inet6":
				af = 6
			default:
				c.warn("unknown address family %s", s)
				return
			}
			if vs.af != 0 && vs.af != af {
				c.warn("Virtual server specified family %s conflicts with server family", s)
				return
			}
			vs.af = af
		}),
		kw("retry", 1, func(c *cmd) {
			if n, ok := c.retry(); ok {
				c.vs().retry = n
			}
		}),
		kw("delay_before_retry", 1, func(c *cmd) {
			if d, ok := c.timer(0, 0, "virtual server delay before retry '%s' invalid - ignoring"); ok {
				c.vs().dbr = d
			}
		}),
		kw("warmup", 1, func(c *cmd) {
			if d, ok := c.timer(0, 0, "virtual server warmup '%s' invalid - ignoring"); ok {
				c.vs().warmup = d
			}
		}),
		kw("connect_timeout", 1, func(c *cmd) {
			if d, ok := c.timer(1, math.MaxUint32, "virtual server connect_timeout %s invalid - ignoring"); ok {
				c.vs().connTo = d
			}
		}),
		kw("delay_loop", 1, func(c *cmd) {
			if d, ok := c.timer(1, 0, "virtual server delay loop '%s' invalid - ignoring"); ok {
				c.vs().delayLoop = d
			}
		}),
		kw("inhibit_on_failure", 0, func(c *cmd) { c.vs().inhibit = true }),
		kw("lb_algo", 1, lbAlgo),
		kw("lvs_sched", 1, lbAlgo),
		kw("hashed", 0, lbFlags),
		kw("ops", 0, lbFlags),
		kw("flag-1", 0, lbFlags),
		kw("flag-2", 0, lbFlags),
		kw("flag-3", 0, lbFlags),
		kw("sh-port", 0, lbFlags),
		kw("sh-fallback", 0, lbFlags),
		kw("mh-port", 0, lbFlags),
		kw("mh-fallback", 0, lbFlags),
		kw("lb_kind", 1, func(c *cmd) {
			if f, ok := c.forwarding("virtual"); ok {
				c.vs().fwd = f
			}
		}),
		kw("lvs_method", 1, func(c *cmd) {
			if f, ok := c.forwarding("virtual"); ok {
				c.vs().fwd = f
			}
		}),
		kw("persistence_engine", -1, (*cmd).ignored),
		kw("persistence_timeout", 1, func(c *cmd) {
			vs := c.vs()
			if !c.has(1) {
				vs.persistence, vs.persistAt = persistentTimeout, c.at
				return
			}
			n, ok, _ := c.readUnsigned(c.args[1], 1, lvsMaxTimeout, false)
			if !ok {
				c.warn("persistence_timeout invalid")
				if c.args[1] == "0" {
					c.note("keepalived runs the service without persistence")
				}
				return
			}
			vs.persistence, vs.persistAt = uint32(n), c.at
		}),
		kw("persistence_granularity", 1, granularity),
		kw("protocol", 1, func(c *cmd) {
			s, ok := c.arg(1)
			if !ok {
				return
			}
			switch strings.ToUpper(s) {
			case "TCP", "UDP", "SCTP":
				c.vs().protocol = strings.ToLower(s)
			default:
				c.warn("Unknown protocol %s - ignoring", s)
			}
		}),
		kw("ha_suspend", 0, func(c *cmd) { c.vs().haSuspend = true }),
		kw("smtp_alert", 1, func(c *cmd) {
			if b, ok := c.flag("Invalid virtual_server smtp_alert parameter %s"); ok {
				c.vs().smtpAlert = b2i(b)
			}
		}),
		kw("virtualhost", 1, func(c *cmd) {
			if !c.has(1) {
				c.warn("virtual server virtualhost missing")
				return
			}
			c.vs().virtualhost = c.args[1]
		}),
		kw("alpha", 0, func(c *cmd) { c.vs().alpha = true }),
		kw("omega", 0, func(c *cmd) { c.vs().omega = true }),
		kw("quorum_up", -1, func(c *cmd) { c.notify(&c.vs().quorumUp, c.vs().vsgName) }),
		kw("quorum_down", -1, func(c *cmd) { c.notify(&c.vs().quorumDown, c.vs().vsgName) }),
		kw("quorum", 1, func(c *cmd) {
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readUnsigned(s, 1, math.MaxUint32, true)
			if !tOK {
				c.warn("Quorum %s must be in [1, %d]. Setting to 1.", s, uint32(math.MaxUint32))
			}
			if !ok {
				n = 1
			}
			c.vs().quorum = uint32(n)
		}),
		kw("hysteresis", 1, func(c *cmd) {
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32, true)
			if !tOK {
				c.warn("Hysteresis %s must be in [0, %d] - ignoring", s, uint32(math.MaxUint32))
			}
			if ok {
				c.vs().hysteresis = uint32(n)
			}
		}),
		kw("weight", 1, func(c *cmd) {
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readUnsigned(s, 1, ipvsWeightLimit, true)
			if !tOK {
				c.warn("Virtual server weight %s is outside range 1-%d", s, ipvsWeightLimit)
			}
			if ok {
				c.vs().weight = int64(n)
			}
		}),
		kw("sorry_server", 2, func(c *cmd) {
			vs := c.vs()
			ip, ok := c.arg(1)
			if !ok {
				return
			}
			a, p, ok := c.sockaddr(c.at, ip, noZeroPort(c, 2))
			if !ok {
				c.warn("Invalid sorry server IP address %s - skipping", ip)
				return
			}
			vs.sorry = &realServer{at: c.at, addr: a, port: p, weight: 1, fwd: vs.fwd}
		}),
		kw("sorry_server_inhibit", 0, func(c *cmd) {
			if c.vs().sorry == nil {
				c.warn("Ignoring sorry_server inhibit used before or without sorry_server")
				return
			}
			c.vs().sorryInhibit = true
		}),
		kw("sorry_server_lvs_method", 1, func(c *cmd) {
			vs := c.vs()
			if vs.sorry == nil {
				c.warn("sorry_server forwarding used without sorry_server")
				return
			}
			if f, ok := c.forwarding("sorry"); ok {
				vs.sorry.fwd = f
			}
		}),
		block("real_server", 2, rsStart, rsEnd, rsKeywords()...),
	}, ign("snmp_name"))
}

// lbAlgo is lbalgo_handler: an unknown scheduler is reported and ignored,
// so the default (wlc) applies later.
func lbAlgo(c *cmd) {
	s, ok := c.arg(1)
	if !ok {
		return
	}
	if !slices.Contains(lvsSchedulers, s) || len(s) >= schedNameMax {
		c.warn("Invalid lvs_scheduler '%s' - ignoring", s)
		return
	}
	c.vs().sched = s
}

// lbFlags is lbflags_handler: sh-* and mh-* count only after lb_algo sh
// or mh, and any other flag says it "only applies to sh scheduler".
func lbFlags(c *cmd) {
	vs := c.vs()
	add := func(f string) {
		if !slices.Contains(vs.flags, f) {
			vs.flags = append(vs.flags, f)
			vs.flagAt = append(vs.flagAt, c.at)
		}
	}
	switch s := c.args[0]; {
	case s == "ops":
		vs.ops = true
	case s == "flag-1" || s == "flag-2" || s == "flag-3":
		add(s)
	case vs.sched == "sh" || vs.sched == "mh":
		if strings.HasPrefix(s, vs.sched+"-") {
			add(s)
		} else {
			// keepalived ignores it without a word.
			c.warn("%s applies to the %s scheduler only; keepalived ignores it with lb_algo %s", s, s[:2], vs.sched)
		}
	default:
		c.warn("%s only applies to sh scheduler - ignoring", s)
	}
}

// forwarding reads "NAT|DR|TUN [type ipip|gue|gre] [port N] [csum...]"
// (svr_forwarding_handler).
func (c *cmd) forwarding(kind string) (config.Forward, bool) {
	s, ok := c.arg(1)
	if !ok {
		return "", false
	}
	var f config.Forward
	switch s {
	case "NAT":
		f = config.Masq
	case "DR":
		f = config.Route
	case "TUN":
		f = config.Tunnel
	default:
		c.warn("PARSER : unknown [%s] routing method for %s server.", s, kind)
		return "", false
	}
	c.used = -1
	tunType, port := "ipip", ""
	for i := 2; i < len(c.args); i++ {
		switch c.args[i] {
		case "type":
			if i+1 >= len(c.args) {
				c.warn("Missing tunnel type for %s server.", kind)
				return "", false
			}
			i++
			switch c.args[i] {
			case "ipip", "gue", "gre":
				tunType = c.args[i]
			default:
				c.warn("Unknown tunnel type %s for %s server.", c.args[i], kind)
				return "", false
			}
		case "port":
			if i+1 >= len(c.args) {
				c.warn("Missing port for %s server gue tunnel.", kind)
				return "", false
			}
			i++
			port = c.args[i]
		case "nocsum", "csum", "remcsum":
		default:
			c.warn("Invalid tunnel option %s for %s server.", c.args[i], kind)
			return "", false
		}
	}
	if (tunType == "gue") != (port != "") {
		c.warn("gue tunnels require port, otherwise cannot have port.")
		return "", false
	}
	if f == config.Tunnel && tunType != "ipip" {
		c.warn("fulcrum tunnels with IP-in-IP only; the %s tunnel type is not supported", tunType)
	}
	return f, true
}

// granularity is pgr_handler: a netmask for IPv4, a prefix length for
// IPv6; it also turns persistence on.
func granularity(c *cmd) {
	vs := c.vs()
	s, ok := c.arg(1)
	if !ok {
		return
	}
	af := vs.af
	if af == 0 {
		af = 6
		if strings.Contains(s, ".") {
			af = 4
		}
	}
	if af == 6 {
		n, ok, _ := c.readUnsigned(s, 1, 128, false)
		if !ok {
			c.warn("Invalid IPv6 persistence_granularity specified - %s", s)
			return
		}
		vs.granularity = int(n)
	} else {
		m, err := netip.ParseAddr(s)
		if err != nil || !m.Is4() {
			c.warn("Invalid IPv4 persistence_granularity specified - %s", s)
			return
		}
		bits, contiguous := maskBits(m)
		if !contiguous {
			// ipvsadm and the kernel accept any mask; the model holds a
			// prefix length.
			c.err("persistence_granularity %s is not a contiguous netmask; fulcrum needs a prefix length", s)
			return
		}
		vs.granularity = bits
	}
	vs.granAt = c.at
	if vs.af == 0 {
		vs.af = af
	}
	if vs.persistence == 0 {
		vs.persistence, vs.persistAt = persistentTimeout, c.at
	}
}

func maskBits(m netip.Addr) (int, bool) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for n < 32 && v&(0x80000000>>n) != 0 {
		n++
	}
	return n, n == 32 || v<<n == 0
}

// retry reads a virtual or real server retry count, 1 or more.
func (c *cmd) retry() (int, bool) {
	s, ok := c.arg(1)
	if !ok {
		return 0, false
	}
	n, ok, _ := c.readUnsigned(s, 1, math.MaxUint32, false)
	if !ok {
		c.warn("retry value invalid - %s", s)
		return 0, false
	}
	return int(min(n, math.MaxInt32)), true
}

// timer reads a delay in seconds (lo and hi in micro-seconds, hi 0 for no
// limit), printing keepalived's follow-up message when it is refused.
func (c *cmd) timer(lo, hi uint64, bad string) (time.Duration, bool) {
	s, ok := c.arg(1)
	if !ok {
		return 0, false
	}
	d, ok, tOK := c.readTimer(s, lo, hi, true)
	if !tOK {
		c.warn(bad, s)
	}
	return d, ok
}

// Real servers.

func rsStart(c *cmd) {
	vs := c.vs()
	ip, ok := c.arg(1)
	if !ok {
		return
	}
	port := noZeroPort(c, 2)
	a, p, ok := c.sockaddr(c.at, ip, port)
	if !ok {
		c.err("Invalid real server ip address/port %s/%s - skipping", ip, port)
		c.skipBlock = true
		c.st().curRS = nil
		return
	}
	c.st().curRS = &realServer{at: c.at, addr: a, port: p, weight: unset, fwd: vs.fwd,
		inhibit: unset, alpha: unset, smtpAlert: unset,
		connTo: unset, delayLoop: unset, warmup: unset, dbr: unset, retry: unset}
}

// rsEnd is rs_end_handler: a real server of the other address family is
// dropped unless it is tunnelled.
func rsEnd(p *pass) {
	vs, rs := p.st.curVS, p.st.curRS
	p.st.curRS = nil
	if vs == nil || rs == nil {
		return
	}
	if rs.fwd != config.Tunnel {
		if vs.af == 0 {
			vs.af = afOf(rs.addr)
		} else if vs.af != afOf(rs.addr) {
			p.sink.errorf(p.here(), "Address family of virtual server and real server %s don't match - skipping real server.", rs.addr)
			return
		}
	}
	vs.rss = append(vs.rss, rs)
}

func (c *cmd) rs() *realServer {
	if rs := c.st().curRS; rs != nil {
		return rs
	}
	return &realServer{}
}

func rsKeywords() []*keyword {
	return join([]*keyword{
		kw("weight", 1, func(c *cmd) {
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readUnsigned(s, 0, ipvsWeightLimit, true)
			if !tOK {
				c.warn("Real server weight %s is outside range 0-%d", s, ipvsWeightLimit)
			}
			if ok {
				c.rs().weight = int64(n)
			}
		}),
		kw("lvs_method", 1, func(c *cmd) {
			if f, ok := c.forwarding("real"); ok {
				c.rs().fwd = f
			}
		}),
		kw("uthreshold", 1, func(c *cmd) { c.threshold(&c.rs().uthr, "uthreshold") }),
		kw("lthreshold", 1, func(c *cmd) { c.threshold(&c.rs().lthr, "lthreshold") }),
		kw("inhibit_on_failure", 1, func(c *cmd) {
			if b, ok := c.flag("Invalid inhibit_on_failure parameter %s"); ok {
				c.rs().inhibit = b2i(b)
			}
		}),
		kw("notify_up", -1, func(c *cmd) { c.notify(&c.rs().notifyUp, c.vs().vsgName) }),
		kw("notify_down", -1, func(c *cmd) { c.notify(&c.rs().notifyDown, c.vs().vsgName) }),
		kw("alpha", 1, func(c *cmd) {
			if b, ok := c.flag("Invalid alpha parameter %s"); ok {
				c.rs().alpha = b2i(b)
			}
		}),
		kw("retry", 1, func(c *cmd) {
			if n, ok := c.retry(); ok {
				c.rs().retry = n
			}
		}),
		kw("delay_before_retry", 1, func(c *cmd) {
			if d, ok := c.timer(0, 0, "real server delay_before_retry '%s' invalid - ignoring"); ok {
				c.rs().dbr = d
			}
		}),
		kw("warmup", 1, func(c *cmd) {
			if d, ok := c.timer(0, 0, "real server warmup '%s' invalid - ignoring"); ok {
				c.rs().warmup = d
			}
		}),
		kw("connect_timeout", 1, func(c *cmd) {
			if d, ok := c.timer(1, math.MaxUint32, "real server connect_timeout %s invalid - ignoring"); ok {
				c.rs().connTo = d
			}
		}),
		kw("delay_loop", 1, func(c *cmd) {
			if d, ok := c.timer(1, 0, "real server delay_loop '%s' invalid - ignoring"); ok {
				c.rs().delayLoop = d
			}
		}),
		kw("smtp_alert", 1, func(c *cmd) {
			if b, ok := c.flag("Invalid real_server smtp_alert parameter %s"); ok {
				c.rs().smtpAlert = b2i(b)
			}
		}),
		kw("virtualhost", 1, func(c *cmd) {
			if !c.has(1) {
				c.warn("real server virtualhost missing")
				return
			}
			c.rs().virtualhost = c.args[1]
		}),
	},
		ign("snmp_name"),
		checkerKeywords(),
	)
}

func (c *cmd) threshold(dst *uint32, what string) {
	s, ok := c.arg(1)
	if !ok {
		return
	}
	n, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32, true)
	if !tOK {
		c.warn("Invalid real_server %s '%s' - ignoring", what, s)
	}
	if ok {
		*dst = uint32(n)
	}
}
