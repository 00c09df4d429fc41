package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// builder turns what the passes read into the model, applying the checks
// and defaults keepalived applies once the file is read
// (check_data.c validate_check_config, vrrp.c vrrp_complete_instance).
type builder struct {
	file string
	opts *Options
	sink *diagSink
	// where model keys came from, for config.Validate's diagnostics.
	keys map[string]pos
}

func newBuilder(file string, opts *Options, sink *diagSink) *builder {
	return &builder{file: file, opts: opts, sink: sink, keys: map[string]pos{}}
}

func (b *builder) build(vr, ck *state) *config.Config {
	c := &config.Config{
		Source:   b.file,
		Admin:    config.Admin{Socket: config.DefaultAdminSocket},
		Timeouts: config.DefaultTimeouts,
	}
	g := &ck.g
	if g.timeouts.TCP != 0 {
		c.Timeouts.TCP = g.timeouts.TCP
	}
	if g.timeouts.TCPFin != 0 {
		c.Timeouts.TCPFin = g.timeouts.TCPFin
	}
	if g.timeouts.UDP != 0 {
		c.Timeouts.UDP = g.timeouts.UDP
	}
	c.Global = b.global(g)
	b.vrrp(c, vr, g)
	b.services(c, ck)
	b.security(vr, ck, g)
	config.Normalize(c)
	b.validate(c)
	return c
}

func (b *builder) global(g *globalDefs) config.Global {
	out := config.Global{
		RouterID:              g.routerID,
		NotificationEmail:     g.emails,
		NotificationEmailFrom: g.emailFrom,
		SMTPServer:            g.smtpServer,
		SMTPHeloName:          g.smtpHelo,
		SMTPConnectTimeout:    30 * time.Second, // global_data.c
		EnableScriptSecurity:  g.scriptSecurity,
		ScriptUser:            g.scriptUser,
		ScriptGroup:           g.scriptGroup,
		VRRPVersion:           2,
		VRRPGarpMasterDelay:   5 * time.Second, // VRRP_GARP_DELAY
		VRRPGarpMasterRepeat:  5,               // VRRP_GARP_REP
		VRRPGarpRefresh:       0,
		VRRPGarpRefreshRep:    1,
		VRRPStrict:            g.vrrpStrict,
	}
	if g.smtpTimeout > 0 {
		out.SMTPConnectTimeout = g.smtpTimeout
	}
	if g.vrrpVersion != 0 {
		out.VRRPVersion = g.vrrpVersion
	}
	if g.garpDelay != unset {
		out.VRRPGarpMasterDelay = g.garpDelay
	}
	if g.garpRep != unset {
		out.VRRPGarpMasterRepeat = g.garpRep
	}
	if g.garpRefresh != unset {
		out.VRRPGarpRefresh = g.garpRefresh
	}
	if g.garpRefreshRep != unset {
		out.VRRPGarpRefreshRep = g.garpRefreshRep
	}
	return out
}

// security reports scripts run without enable_script_security, as
// keepalived does at start-up (and keepalived -t exits with status 6).
func (b *builder) security(vr, ck *state, g *globalDefs) {
	if g.scriptSecurity {
		return
	}
	if vr.scripts > 0 {
		b.sink.warnf(pos{}, "SECURITY VIOLATION - scripts are being executed but script_security not enabled.")
	}
	if ck.scripts > 0 {
		b.sink.warnf(pos{}, "SECURITY VIOLATION - check scripts are being executed but script_security not enabled.")
	}
}

// fmtVS formats a virtual server as keepalived's FMT_VS does.
func fmtVS(vs *virtualServer) string {
	switch {
	case vs.vsgName != "":
		return fmt.Sprintf("[%s]:%d", vs.vsgName, 0)
	case vs.isFW:
		return fmt.Sprintf("FWM %d", vs.fwmark)
	}
	return trio(vs.addr, vs.protocol, vs.port)
}

func trio(a netip.Addr, proto string, port uint16) string {
	if proto == "" {
		proto = "none"
	}
	return fmt.Sprintf("[%s]:%s:%d", a, proto, port)
}

func (b *builder) services(c *config.Config, st *state) {
	for _, vs := range st.vss {
		b.virtualServer(c, st, vs)
	}
}

// virtualServer is validate_check_config for one virtual server, then the
// model: one service, or one per member of its virtual_server_group.
func (b *builder) virtualServer(c *config.Config, st *state, vs *virtualServer) {
	warn := func(format string, args ...any) { b.sink.warnf(vs.at, format, args...) }
	if len(vs.rss) == 0 {
		warn("Virtual server %s has no real servers - ignoring", fmtVS(vs))
		return
	}
	var group *vsGroup
	if vs.vsgName != "" {
		for _, g := range st.vsgs {
			if g.name == vs.vsgName {
				group = g
			}
		}
		if group == nil {
			b.sink.errorf(vs.at, "virtual_server group %s: there is no virtual_server_group %s, so keepalived has no address for it", vs.vsgName, vs.vsgName)
			return
		}
	}
	hasAddr := group == nil && !vs.isFW
	hasFW := vs.isFW
	if group != nil {
		for _, e := range group.entries {
			hasAddr = hasAddr || !e.isFW
			hasFW = hasFW || e.isFW
		}
	}
	if vs.haSuspend && hasFW {
		warn("Virtual server %s: cannot use ha_suspend with fwmarks - clearing ha_suspend", fmtVS(vs))
		vs.haSuspend = false
	}
	if hasAddr {
		if vs.protocol == "" {
			warn("Virtual server %s: no protocol set - defaulting to UDP (the kernel's default; write \"protocol TCP\" for a TCP service)", fmtVS(vs))
			vs.protocol = "udp"
		}
		if vs.ops && vs.protocol != "udp" {
			warn("Virtual server %s: one packet scheduling requires UDP - resetting", fmtVS(vs))
			vs.ops = false
		}
		if vs.persistence == 0 && group == nil && !vs.isFW && vs.port == 0 {
			warn("Virtual server %s: zero port only valid for persistent services - setting", fmtVS(vs))
			vs.persistence = persistentTimeout
		}
	}
	if vs.persistence == 0 && group != nil {
		for _, e := range group.entries {
			if !e.isFW && e.port == 0 {
				warn("Virtual server %s: zero port only valid for persistent services - setting", fmtVS(vs))
				vs.persistence = persistentTimeout
				break
			}
		}
	}
	if vs.protocol != "" && hasFW && !hasAddr {
		warn("Warning: Virtual server %s: protocol specified for fwmark - protocol will be ignored", fmtVS(vs))
		vs.protocol = ""
	}
	if vs.sched == "" {
		warn("Virtual server %s: no scheduler set, setting default '%s'", fmtVS(vs), config.DefaultScheduler)
		vs.sched = config.DefaultScheduler
	}
	smtpAlert := resolveAlert(vs.smtpAlert, st.g.smtpAlertChecker, st.g.smtpAlert, false)

	// The real servers take the virtual server's settings they lack.
	var rss []*realServer
	var weightSum uint64
	for _, rs := range vs.rss {
		dup := slices.ContainsFunc(rss, func(o *realServer) bool { return o.addr == rs.addr && o.port == rs.port })
		if dup {
			b.sink.warnf(rs.at, "VS %s: real server %s is duplicated - removing second rs", fmtVS(vs), trio(rs.addr, vs.protocol, rs.port))
			continue
		}
		if rs.fwd == "" {
			if vs.fwd == "" {
				warn("Virtual server %s: no forwarding method set, setting default NAT", fmtVS(vs))
				vs.fwd = config.Masq
			}
			rs.fwd = vs.fwd
		}
		if rs.alpha == unset {
			rs.alpha = b2i(vs.alpha)
		}
		if rs.inhibit == unset {
			rs.inhibit = b2i(vs.inhibit)
		}
		if rs.retry == unset {
			rs.retry = vs.retry
		}
		if rs.connTo == unset {
			rs.connTo = vs.connTo
		}
		if rs.delayLoop == unset {
			rs.delayLoop = vs.delayLoop
		}
		if rs.warmup == unset {
			rs.warmup = vs.warmup
		}
		if rs.dbr == unset {
			rs.dbr = vs.dbr
		}
		if rs.weight == unset {
			rs.weight = vs.weight
		}
		// Inconsistent with the other smtp_alert defaults, kept by
		// keepalived for backward compatibility: on. Without a mail
		// server and recipients nothing is sent, so the model says so.
		mail := st.g.smtpServer.IsValid() && len(st.g.emails) > 0
		rs.smtpAlert = b2i(resolveAlert(rs.smtpAlert, st.g.smtpAlertChecker, st.g.smtpAlert, mail))
		weightSum += uint64(rs.weight)
		if s := vs.sorry; s != nil && s.addr == rs.addr && s.port == rs.port && vs.sorryInhibit != (rs.inhibit == 1) {
			verb := "clear"
			if rs.inhibit == 1 {
				verb = "sett"
			}
			warn("Virtual server %s: real server %s matches sorry server, but inhibit setting differs, %sing on sorry server", fmtVS(vs), trio(rs.addr, vs.protocol, rs.port), verb)
			vs.sorryInhibit = rs.inhibit == 1
		}
		rss = append(rss, rs)
	}
	vs.rss = rss
	if s := vs.sorry; s != nil && s.fwd == "" {
		if vs.fwd == "" {
			warn("Virtual server %s: no forwarding method set, setting default NAT", fmtVS(vs))
			vs.fwd = config.Masq
		}
		s.fwd = vs.fwd
	}
	if uint64(vs.quorum) > weightSum {
		warn("Warning - quorum %d for %s exceeds total weight of real servers %d, reducing quorum to %d", vs.quorum, fmtVS(vs), weightSum, weightSum)
		vs.quorum = uint32(min(weightSum, math.MaxUint32))
	}
	if vs.hysteresis >= vs.quorum {
		warn("Virtual server %s: hysteresis %d >= quorum %d; setting hysteresis to %d", fmtVS(vs), vs.hysteresis, vs.quorum, vs.quorum-1)
		vs.hysteresis = vs.quorum - 1
	}
	b.ports(vs, group)
	for _, rs := range vs.rss {
		b.checkers(vs, rs, st)
	}

	if vs.protocol == "sctp" {
		b.sink.errorf(vs.at, "Virtual server %s: fulcrum balances TCP and UDP; SCTP is not supported", fmtVS(vs))
		return
	}
	svc := config.Service{
		Scheduler:  vs.sched,
		SchedFlags: slices.Clone(vs.flags),
		OnePacket:  vs.ops,
		Health: config.ServiceHealth{
			Quorum:             vs.quorum,
			Hysteresis:         vs.hysteresis,
			QuorumUp:           vs.quorumUp,
			QuorumDown:         vs.quorumDown,
			Alpha:              vs.alpha,
			Omega:              vs.omega,
			HASuspend:          vs.haSuspend,
			SorryServerInhibit: vs.sorryInhibit,
			SMTPAlert:          smtpAlert,
		},
	}
	for _, rs := range vs.rss {
		svc.Reals = append(svc.Reals, b.real(vs, rs, st))
	}
	keys := func(i int, port uint16) {
		p := fmt.Sprintf("services[%d]", i)
		b.keys[p] = vs.at
		if vs.persistence != 0 {
			b.keys[p+".persistence"] = vs.persistAt
			if vs.granularity != unset {
				b.keys[p+".persistence.netmask"] = vs.granAt
			}
		}
		for k, at := range vs.flagAt {
			b.keys[fmt.Sprintf("%s.sched_flags[%d]", p, k)] = at
		}
		if vs.sorry != nil {
			b.keys[p+".sorry_server"] = vs.sorry.at
		}
		for j, rs := range vs.rss {
			b.keys[fmt.Sprintf("%s.reals[%d]", p, j)] = rs.at
		}
	}
	add := func(key config.ServiceKey, port uint16) {
		s := svc
		s.ServiceKey = key
		s.SchedFlags = slices.Clone(svc.SchedFlags)
		s.Reals = slices.Clone(svc.Reals)
		for j := range s.Reals {
			// A group member's real servers without a port use the
			// member's.
			if s.Reals[j].Address.Port() == 0 && key.FWMark == 0 {
				s.Reals[j].Address = netip.AddrPortFrom(s.Reals[j].Address.Addr(), port)
			}
		}
		if vs.persistence != 0 {
			bits := key.HostBits()
			if vs.granularity != unset {
				bits = vs.granularity
			}
			s.Persistence = &config.Persistence{Timeout: time.Duration(vs.persistence) * time.Second, PrefixBits: bits}
		}
		if vs.sorry != nil {
			sp := vs.sorry.port
			if sp == 0 && key.FWMark == 0 {
				sp = port
			}
			s.SorryServer = netip.AddrPortFrom(vs.sorry.addr, sp)
		}
		keys(len(c.Services), port)
		c.Services = append(c.Services, s)
	}
	switch {
	case group != nil:
		if n := groupSize(group); n > maxGroupServices {
			b.sink.errorf(vs.at, "virtual_server group %s: its virtual_server_group has %d addresses; keepalived makes a service of each, fulcrum at most %d", vs.vsgName, n, maxGroupServices)
			return
		}
		for _, e := range group.entries {
			if e.isFW {
				add(config.ServiceKey{FWMark: e.fwmark, IPv6: e.fwFam == 6 || (e.fwFam == 0 && vs.af == 6)}, 0)
				continue
			}
			for a := e.first; ; a = a.Next() {
				add(config.ServiceKey{Protocol: config.Protocol(vs.protocol), Address: netip.AddrPortFrom(a, e.port)}, e.port)
				if a == e.last || !a.IsValid() {
					break
				}
			}
		}
	case vs.isFW:
		add(config.ServiceKey{FWMark: vs.fwmark, IPv6: vs.af == 6}, 0)
	default:
		add(config.ServiceKey{Protocol: config.Protocol(vs.protocol), Address: netip.AddrPortFrom(vs.addr, vs.port)}, vs.port)
	}
}

// maxGroupServices bounds the services a virtual_server_group expands to
// (keepalived adds one IPVS service per address of a range).
const maxGroupServices = 1 << 16

func groupSize(g *vsGroup) uint64 {
	var n uint64
	for _, e := range g.entries {
		if e.isFW {
			n++
			continue
		}
		a, b := e.first.As16(), e.last.As16()
		// The two addresses share their first 8 bytes in any range
		// a group can hold; the difference of the last 8 is the size.
		hi := func(x [16]byte) uint64 {
			var v uint64
			for _, c := range x[:8] {
				v = v<<8 | uint64(c)
			}
			return v
		}
		lo := func(x [16]byte) uint64 {
			var v uint64
			for _, c := range x[8:] {
				v = v<<8 | uint64(c)
			}
			return v
		}
		if hi(a) != hi(b) {
			return math.MaxUint64
		}
		n += lo(b) - lo(a) + 1
		if n > maxGroupServices {
			return n
		}
	}
	return n
}

func resolveAlert(own, checker, global int, def bool) bool {
	switch {
	case own != unset:
		return own == 1
	case checker != unset:
		return checker == 1
	case global != unset:
		return global == 1
	}
	return def
}

// ports applies keepalived's port rules: with DR or TUN a real server
// listens on the service's port, so a different one is reset; a missing
// port is the service's.
func (b *builder) ports(vs *virtualServer, group *vsGroup) {
	if group != nil {
		for _, e := range group.entries {
			for _, rs := range vs.rss {
				if rs.fwd == config.Masq {
					continue
				}
				if e.isFW && rs.port != 0 {
					b.sink.warnf(rs.at, "WARNING - fwmark virtual server %s, real server %s has port specified - port will be ignored", fmtVS(vs), trio(rs.addr, vs.protocol, rs.port))
				}
				if !e.isFW && rs.port != 0 && rs.port != e.port {
					b.sink.warnf(rs.at, "virtual server %s:[%s,%d] and real server %s ports don't match", fmtVS(vs), e.first, e.port, trio(rs.addr, vs.protocol, rs.port))
				}
			}
		}
		return
	}
	fix := func(rs *realServer, what string) {
		if rs.fwd == config.Masq {
			if !vs.isFW && rs.port == 0 {
				rs.port = vs.port
			}
			return
		}
		switch {
		case vs.isFW:
			if rs.port != 0 {
				if what == "real" {
					b.sink.warnf(rs.at, "WARNING - fwmark virtual server %s, real server %s has port specified - clearing", fmtVS(vs), trio(rs.addr, vs.protocol, rs.port))
				} else {
					b.sink.warnf(rs.at, "WARNING - virtual server %s, sorry server has port specified - clearing", fmtVS(vs))
				}
				rs.port = 0
			}
		case rs.port == 0:
			rs.port = vs.port
		case rs.port != vs.port:
			why := fmt.Sprintf(" (with %s forwarding the real server receives packets for port %d)", fwdName(rs.fwd), vs.port)
			if what == "real" {
				b.sink.warnf(rs.at, "WARNING - virtual server %s and real server %s ports don't match - resetting%s", fmtVS(vs), trio(rs.addr, vs.protocol, rs.port), why)
			} else {
				b.sink.warnf(rs.at, "WARNING - virtual server %s and sorry server ports don't match - resetting%s", fmtVS(vs), why)
			}
			rs.port = vs.port
		}
	}
	for _, rs := range vs.rss {
		fix(rs, "real")
	}
	if vs.sorry != nil {
		fix(vs.sorry, "sorry")
	}
}

func fwdName(f config.Forward) string {
	switch f {
	case config.Route:
		return "DR"
	case config.Tunnel:
		return "TUN"
	}
	return "NAT"
}

func (b *builder) real(vs *virtualServer, rs *realServer, st *state) config.Real {
	r := config.Real{
		Address:        netip.AddrPortFrom(rs.addr, rs.port),
		Weight:         int32(min(rs.weight, math.MaxInt32)),
		Forward:        rs.fwd,
		UpperThreshold: rs.uthr,
		LowerThreshold: rs.lthr,
		Health: config.RealHealth{
			InhibitOnFailure: rs.inhibit == 1,
			NotifyUp:         rs.notifyUp,
			NotifyDown:       rs.notifyDown,
			SMTPAlert:        rs.smtpAlert == 1,
		},
	}
	if (rs.alpha == 1) != vs.alpha {
		b.sink.warnf(rs.at, "alpha on a real server is not supported by fulcrum, which applies alpha to the whole virtual server (alpha is %s there)", onOff(vs.alpha))
	}
	for _, k := range rs.checks {
		if k.dropped {
			continue
		}
		r.Health.Checks = append(r.Health.Checks, b.check(vs, rs, k, st))
	}
	return r
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// checkers resolves each checker's timing: the checker's own value, else
// the real server's (which took the virtual server's), else the checker
// type's default (validate_check_config).
func (b *builder) checkers(vs *virtualServer, rs *realServer, st *state) {
	for _, k := range rs.checks {
		if k.dropped {
			continue
		}
		if k.alpha == unset {
			k.alpha = rs.alpha
		} else if (k.alpha == 1) != vs.alpha {
			b.sink.warnf(k.at, "alpha on a checker is not supported by fulcrum, which applies alpha to the whole virtual server (alpha is %s there)", onOff(vs.alpha))
		}
		if k.retry == unset {
			k.retry = k.defRetry
			if rs.retry != unset {
				k.retry = rs.retry
			}
		}
		if k.co.connTo == unset {
			k.co.connTo = rs.connTo
		}
		if k.delayLoop == unset {
			k.delayLoop = rs.delayLoop
		}
		if k.warmup == unset {
			k.warmup = k.delayLoop
			if rs.warmup != unset {
				k.warmup = rs.warmup
			}
		}
		if k.dbr == unset {
			switch {
			case rs.dbr != unset:
				k.dbr = rs.dbr
			case k.defDBR != 0:
				k.dbr = k.defDBR
			default:
				k.dbr = k.delayLoop
			}
		}
	}
}

func (b *builder) check(vs *virtualServer, rs *realServer, k *checker, st *state) config.Check {
	ch := config.Check{
		Type:             k.typ,
		DelayLoop:        k.delayLoop,
		Retry:            k.retry,
		DelayBeforeRetry: k.dbr,
		Warmup:           k.warmup,
	}
	switch k.typ {
	case config.CheckMisc:
		ch.MiscPath = k.misc
		ch.MiscDynamic = k.miscDynamic
		// misc_check_thread: no misc_timeout means the virtual
		// server's delay_loop.
		ch.MiscTimeout = k.miscTimeout
		if ch.MiscTimeout == 0 {
			ch.MiscTimeout = vs.delayLoop
		}
		return ch
	case config.CheckFile:
		for _, tf := range st.trackFiles {
			if tf.name == k.trackFile {
				ch.File = tf.file
				ch.FileWeight, ch.FileReverse = tf.weight, tf.reverse
			}
		}
		if k.fileWSet {
			ch.FileWeight, ch.FileReverse = k.fileWeight, k.fileReverse
		}
		ch.DelayLoop, ch.Retry, ch.DelayBeforeRetry, ch.Warmup = 0, 0, 0, 0
		return ch
	}
	ch.ConnectTimeout = k.co.connTo
	ch.ConnectIP = k.co.connectIP
	ch.ConnectPort = k.co.connectPort
	ch.BindTo = k.co.bindTo
	ch.BindPort = k.co.bindPort
	ch.BindIf = k.co.bindIf
	ch.FWMark = k.co.fwmark
	switch k.typ {
	case config.CheckHTTP, config.CheckSSL:
		ch.URLs = slices.Clone(k.urls)
		ch.HTTPProtocol = "1.0"
		if k.httpProto != "" {
			ch.HTTPProtocol = k.httpProto
		}
		// The Host header: the url's virtualhost, else the checker's,
		// the real server's or the virtual server's (check_http.c).
		ch.Virtualhost = firstNonEmpty(k.virtualhost, rs.virtualhost, vs.virtualhost)
		ch.FastRecovery = k.fastRecovery
		ch.EnableSNI = k.enableSNI
		ch.SNIName = k.sniName
		ch.TLSCompliant = k.tlsCompliant
	case config.CheckUDP:
		ch.Payload = k.payload
		ch.RequireReply = k.reply
		ch.MinReplyLength = k.minLen
		ch.MaxReplyLength = k.maxLen
		if k.requireReply && k.reply == "" {
			b.sink.warnf(k.at, "require_reply without data: fulcrum's model has no way yet to require a reply of any content, so this check succeeds without one")
		}
	case config.CheckDNS:
		ch.DNSType, ch.DNSName = k.dnsType, k.dnsName
	case config.CheckSMTP:
		ch.HeloName = k.helo
	}
	return ch
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// validate runs the model's own checks and places their findings on the
// keepalived.conf lines they come from.
func (b *builder) validate(c *config.Config) {
	for _, d := range config.Validate(c) {
		at := b.locate(d.Key)
		b.sink.add(at, d.Severity, d.Key, d.Message)
	}
}

// locate finds the line of the longest known prefix of key.
func (b *builder) locate(key string) pos {
	for k := key; k != ""; {
		if at, ok := b.keys[k]; ok {
			return at
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return pos{file: b.file}
}
