package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

const (
	// DefaultScheduler is ipvsadm's DEF_SCHED (ipvsadm.c).
	DefaultScheduler = "wlc"
	// DefaultAdminSocket is where the admin API listens when the config
	// does not say otherwise.
	DefaultAdminSocket = "/run/fulcrum/admin.sock"

	// MaxTimeout bounds the --set timeouts and the persistence timeout:
	// ipvsadm.c MAX_TIMEOUT is 86400*31 seconds, checked by parse_timeout
	// for both -p and --set.
	MaxTimeout = 31 * 24 * time.Hour
	// MaxThreshold is the largest -x/-y value ipvsadm accepts
	// (string_to_number(optarg, 0, INT_MAX) in parse_options; the man page's
	// "0 through to 65535" is stale).
	MaxThreshold = math.MaxInt32
	// maxUnixPath is the longest path a unix socket address can hold:
	// sockaddr_un.sun_path is 108 bytes and Go needs room for the NUL.
	maxUnixPath = 107
)

// Scheduler flags accepted in Service.SchedFlags, as ipvsadm -b spells them
// (ipvsadm.c parse_sched_flags). sh-* and mh-* are aliases of flag-1/flag-2
// that ipvsadm accepts only with the matching scheduler.
var schedFlagBits = map[string]uint32{
	"flag-1":      sched.FlagSched1,
	"flag-2":      sched.FlagSched2,
	"flag-3":      sched.FlagSched3,
	"sh-fallback": sched.FlagSched1,
	"sh-port":     sched.FlagSched2,
	"mh-fallback": sched.FlagSched1,
	"mh-port":     sched.FlagSched2,
}

// SchedFlagBits returns the IP_VS_SVC_F_SCHED* bits of s's scheduler flags
// (unknown names are ignored; Validate reports them).
func (s *Service) SchedFlagBits() uint32 {
	var f uint32
	for _, n := range s.SchedFlags {
		f |= schedFlagBits[n]
	}
	return f
}

// IsIPv6 reports the address family of the service: the -6 flag of a
// fwmark service, otherwise the family of its address.
func (k ServiceKey) IsIPv6() bool {
	if k.FWMark != 0 {
		return k.IPv6
	}
	return k.Address.Addr().Is6()
}

// HostBits is the prefix length of a host mask in the service's family,
// the persistence netmask default (ipvsadm: 255.255.255.255, or 128 for
// IPv6).
func (k ServiceKey) HostBits() int {
	if k.IsIPv6() {
		return 128
	}
	return 32
}

// Normalize fills the defaults that a model can express unambiguously:
// scheduler "" becomes wlc, forward "" becomes masq; a VRRP instance gets
// state BACKUP, priority 100, advert_int 1 s and its version (3 for IPv6,
// else global.vrrp_version, else 2); a vrrp_script gets interval 1 s,
// timeout = interval, rise and fall 1; state, auth_type, dns_type and
// http_protocol are written in capitals; the http section gets the L7
// defaults and nested locations what they inherit (normalizeHTTP); and
// empty lists become nil so that equal configs compare equal. Values whose zero is meaningful
// (weight 0, an empty admin socket, a /0 mask, a check's retry 0) are left
// alone: Parse fills those from the absence of the key, and a check's
// timing comes from ResolveCheckDefaults.
func Normalize(c *Config) {
	if c == nil {
		return
	}
	if len(c.Services) == 0 {
		c.Services = nil
	}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Scheduler == "" {
			s.Scheduler = DefaultScheduler
		}
		if len(s.SchedFlags) == 0 {
			s.SchedFlags = nil
		}
		if len(s.Reals) == 0 {
			s.Reals = nil
		}
		for j := range s.Reals {
			r := &s.Reals[j]
			if r.Forward == "" {
				r.Forward = Masq
			}
			nilIfEmpty(&r.Health.Checks)
			for k := range r.Health.Checks {
				normalizeCheck(&r.Health.Checks[k])
			}
		}
	}
	normalizeVRRP(c)
	normalizeHTTP(c.HTTP)
	if c.Demo != nil && len(c.Demo.Backends) == 0 {
		c.Demo.Backends = nil
	}
}

// normalizeCheck gives a check's lists and names their canonical form:
// empty lists nil, the DNS query type and HTTP protocol in capitals as
// keepalived compares them case-insensitively.
func normalizeCheck(c *Check) {
	nilIfEmpty(&c.URLs)
	nilIfEmpty(&c.Payload)
	for i := range c.URLs {
		nilIfEmpty(&c.URLs[i].StatusCodes)
	}
	upper(&c.DNSType)
	upper(&c.HTTPProtocol)
}

// Validate checks a model from any source (file, keepalived.conf, admin
// API, ipvsadm commands) as a whole. Keys are paths in the native YAML
// schema; no positions are known here.
func Validate(c *Config) Diagnostics {
	if c == nil {
		return Diagnostics{{Message: "no configuration"}}
	}
	v := &validator{}
	switch c.DataPlane {
	case "", DataPlaneProxy, DataPlaneAuto:
	case DataPlaneXDP:
		if len(c.XDP.Interfaces) == 0 {
			v.errorf("xdp.interfaces", "data_plane xdp needs the interfaces that receive the services' traffic")
		}
	default:
		v.errorf("data_plane", "unknown data plane %q (want proxy, xdp or auto)", c.DataPlane)
	}
	switch c.XDP.Mode {
	case "", "native", "generic":
	default:
		v.errorf("xdp.mode", "unknown XDP attach mode %q (want native or generic)", c.XDP.Mode)
	}
	for i, name := range c.XDP.Interfaces {
		if name == "" || strings.ContainsAny(name, " /") || len(name) > 15 {
			v.errorf(fmt.Sprintf("xdp.interfaces[%d]", i), "bad interface name %q", name)
		}
	}
	v.admin(&c.Admin)
	v.timeouts(&c.Timeouts)
	v.global(&c.Global)
	seen := map[ServiceKey]int{}
	for i := range c.Services {
		v.service(fmt.Sprintf("services[%d]", i), &c.Services[i], seen, i)
	}
	v.vrrp(c)
	if v.firstSMTPAlert != "" && (!c.Global.SMTPServer.IsValid() || len(c.Global.NotificationEmail) == 0) {
		v.warnf(v.firstSMTPAlert, "no mail is sent: smtp_alert needs global.smtp_server and global.notification_email")
	}
	v.http(c)
	v.demo(c)
	return v.ds
}

type validator struct {
	ds Diagnostics
	// firstSMTPAlert is the first setting that asks for e-mail.
	firstSMTPAlert string
}

func (v *validator) errorf(key, format string, args ...any) {
	v.ds = append(v.ds, Diagnostic{Key: key, Severity: Error, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) warnf(key, format string, args ...any) {
	v.ds = append(v.ds, Diagnostic{Key: key, Severity: Warning, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) admin(a *Admin) {
	if a.Socket != "" {
		switch {
		case !filepath.IsAbs(a.Socket):
			v.errorf("admin.socket", "%q is not an absolute path", a.Socket)
		case len(a.Socket) > maxUnixPath:
			v.errorf("admin.socket", "path is %d bytes long; a unix socket path holds at most %d (sockaddr_un.sun_path)", len(a.Socket), maxUnixPath)
		}
	}
	if a.Listen != "" {
		v.listen(a.Listen)
		if a.TokenFile == "" {
			v.errorf("admin.token_file", "required when admin.listen is set: the TCP listener authenticates requests with this bearer token")
		}
	} else if a.TokenFile != "" {
		v.warnf("admin.token_file", "unused: the token only guards admin.listen, which is not set")
	}
}

func (v *validator) listen(addr string) {
	const key = "admin.listen"
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(key, "%q is not host:port (IPv6 in brackets, e.g. [::1]:9099)", addr)
		return
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		v.errorf(key, "port %q is not a number in 1..65535", port)
		return
	}
	switch {
	case host == "":
		v.warnf(key, "listens on every interface: anyone who can reach it with the token controls the load balancer")
	case strings.EqualFold(host, "localhost"):
	default:
		ip, err := netip.ParseAddr(host)
		switch {
		case err != nil:
			v.warnf(key, "host %q is not a loopback address: anyone who can reach it with the token controls the load balancer", host)
		case ip.IsUnspecified():
			v.warnf(key, "listens on every interface: anyone who can reach it with the token controls the load balancer")
		case !ip.IsLoopback():
			v.warnf(key, "%s is not a loopback address: anyone who can reach it with the token controls the load balancer", ip)
		}
	}
}

func (v *validator) timeouts(t *Timeouts) {
	v.timeout("timeouts.tcp", t.TCP, DefaultTimeouts.TCP)
	v.timeout("timeouts.tcpfin", t.TCPFin, DefaultTimeouts.TCPFin)
	v.timeout("timeouts.udp", t.UDP, DefaultTimeouts.UDP)
}

// timeout checks one --set value. ipvsadm --set takes 0 to mean "keep the
// current value"; a config states the whole desired value, so 0 is refused
// and an absent key gives the kernel default instead.
func (v *validator) timeout(key string, d, def time.Duration) {
	switch {
	case d == 0:
		v.errorf(key, "0 is not allowed (ipvsadm --set uses 0 for \"keep the current value\"); leave the key out for the default %s", formatDuration(def))
	case d < time.Second || d > MaxTimeout:
		v.errorf(key, "%s is out of range 1s..%s (ipvsadm MAX_TIMEOUT); leave the key out for the default %s", formatDuration(d), formatDuration(MaxTimeout), formatDuration(def))
	case d%time.Second != 0:
		v.errorf(key, "%s is not a whole number of seconds; IPVS counts timeouts in seconds", d)
	}
}

func (v *validator) service(p string, s *Service, seen map[ServiceKey]int, i int) {
	keyOK := true
	if s.FWMark != 0 {
		if s.Protocol != "" {
			v.errorf(p+".protocol", "a fwmark service has no protocol: it matches packets by firewall mark")
			keyOK = false
		}
		if s.Address.IsValid() {
			v.errorf(p+".address", "a fwmark service has no address: it matches packets by firewall mark")
			keyOK = false
		}
	} else {
		if s.IPv6 {
			// ipvsadm: "-6 used before -f".
			v.errorf(p+".ipv6", "ipv6 applies only to fwmark services; an address service takes its family from the address")
		}
		switch s.Protocol {
		case TCP, UDP:
		case "":
			v.errorf(p+".protocol", "missing: a service needs protocol and address, or fwmark")
			keyOK = false
		default:
			v.errorf(p+".protocol", "unknown protocol %q: want tcp or udp", s.Protocol)
			keyOK = false
		}
		if !s.Address.IsValid() {
			v.errorf(p+".address", "missing: a service needs protocol and address, or fwmark")
			keyOK = false
		} else if !v.addr(p+".address", s.Address) {
			keyOK = false
		}
	}
	if keyOK {
		if j, dup := seen[s.ServiceKey]; dup {
			v.errorf(p, "duplicate service %s (also services[%d])", s.ServiceKey, j)
		} else {
			seen[s.ServiceKey] = i
		}
	}
	// ipvsadm process_options: a port-0 (all ports) service must be
	// persistent.
	if s.FWMark == 0 && s.Address.IsValid() && s.Address.Port() == 0 && s.Persistence == nil {
		v.errorf(p+".address", "zero port specified for non-persistent service (a port-0 service needs persistence)")
	}
	v.scheduler(p, s)
	if s.Persistence != nil {
		v.persistence(p+".persistence", s)
	}
	// ipvsadm process_options: "One-Packet Scheduling is only for UDP
	// virtual services" (fwmark services are let through).
	if s.OnePacket && s.FWMark == 0 && s.Protocol != UDP {
		v.errorf(p+".one_packet", "one-packet scheduling is only for UDP virtual services")
	}
	switch s.ProxyProtocol {
	case "", "v2":
	case "v1":
		// The v1 header names only TCP4, TCP6 and UNKNOWN (haproxy
		// proxy-protocol.txt, section 2.1); datagrams need v2.
		if s.Protocol == UDP {
			v.errorf(p+".proxy_protocol", "PROXY protocol v1 has no UDP form; use v2")
		}
	default:
		v.errorf(p+".proxy_protocol", "unknown PROXY protocol version %q: want v1 or v2 (or leave it out)", s.ProxyProtocol)
	}
	if s.SorryServer.IsValid() {
		v.dest(p+".sorry_server", s, s.SorryServer, Masq)
	}
	v.serviceHealth(p, s)
	seenReal := map[netip.AddrPort]int{}
	for j := range s.Reals {
		rp := fmt.Sprintf("%s.reals[%d]", p, j)
		r := &s.Reals[j]
		if !r.Address.IsValid() {
			v.errorf(rp+".address", "missing: a real server needs an ip:port address")
		} else if v.dest(rp+".address", s, r.Address, r.Forward) {
			if k, dup := seenReal[r.Address]; dup {
				v.errorf(rp+".address", "duplicate real server %s (also reals[%d])", r.Address, k)
			} else {
				seenReal[r.Address] = j
			}
		}
		v.real(rp, s, r)
		v.realHealth(rp, r)
	}
}

// addr checks the parts of an address every use shares; it reports whether
// the address is usable.
func (v *validator) addr(key string, a netip.AddrPort) bool {
	if a.Addr().Zone() != "" {
		v.errorf(key, "%s has an IPv6 zone; IPVS addresses have none", a)
		return false
	}
	return true
}

// dest checks a real server or sorry server address against its service.
func (v *validator) dest(key string, s *Service, a netip.AddrPort, fwd Forward) bool {
	if !v.addr(key, a) {
		return false
	}
	if a.Addr().IsUnspecified() {
		v.errorf(key, "%s is the unspecified address", a)
		return false
	}
	ok := true
	svcKnown := s.FWMark != 0 || s.Address.IsValid()
	// ipvsadm process_options: "Different address family is allowed only
	// for tunneling servers"; the kernel agrees (ip_vs_genl_set_cmd).
	if svcKnown && a.Addr().Is6() != s.IsIPv6() && fwd != Tunnel {
		v.errorf(key, "different address family is allowed only for tunneling servers (service is %s, %s is not)", family(s.IsIPv6()), a)
		ok = false
	}
	if s.FWMark == 0 && s.Address.IsValid() {
		switch {
		case (fwd == Route || fwd == Tunnel) && a.Port() != s.Address.Port():
			// ipvsadm silently rewrites the port ("The destination port
			// must be equal to the service port if the IP_VS_CONN_F_TUNNEL
			// or IP_VS_CONN_F_DROUTE is set"); a config says it instead.
			v.errorf(key, "port %d differs from the service port %d; %s forwarding cannot change the port", a.Port(), s.Address.Port(), fwd)
			ok = false
		case a.Port() == 0 && s.Address.Port() != 0:
			v.errorf(key, "port 0 is allowed only for fwmark and port-0 services")
			ok = false
		}
	}
	return ok
}

func (v *validator) real(rp string, s *Service, r *Real) {
	if r.Weight < 0 {
		// ip_vs_add_dest: "server weight less than zero" (ERANGE).
		v.errorf(rp+".weight", "%d is out of range 0..%d", r.Weight, math.MaxInt32)
	}
	switch r.Forward {
	case Masq, Route, Tunnel:
	case "":
		v.errorf(rp+".forward", "missing: want masq, route or tunnel")
	default:
		v.errorf(rp+".forward", "unknown forwarding method %q: want masq, route or tunnel", r.Forward)
	}
	if s.ProxyProtocol != "" && (r.Forward == Route || r.Forward == Tunnel) {
		v.errorf(rp+".forward", "proxy_protocol needs masq forwarding: with %s the load balancer does not terminate the connection and cannot add a header", r.Forward)
	}
	if r.UpperThreshold > MaxThreshold {
		v.errorf(rp+".upper_threshold", "%d is out of range 0..%d", r.UpperThreshold, MaxThreshold)
	}
	if r.LowerThreshold > MaxThreshold {
		v.errorf(rp+".lower_threshold", "%d is out of range 0..%d", r.LowerThreshold, MaxThreshold)
	}
	// ip_vs_add_dest and ip_vs_edit_dest refuse l_threshold > u_threshold
	// with ERANGE, even when the upper threshold is 0 (unset).
	if r.LowerThreshold > r.UpperThreshold {
		if r.UpperThreshold == 0 {
			v.errorf(rp+".lower_threshold", "lower threshold %d is set without an upper threshold; the kernel refuses lower > upper (ip_vs_add_dest)", r.LowerThreshold)
		} else {
			v.errorf(rp+".lower_threshold", "lower threshold %d is higher than upper threshold %d", r.LowerThreshold, r.UpperThreshold)
		}
	}
}

func (v *validator) scheduler(p string, s *Service) {
	switch {
	case s.Scheduler == "":
		v.errorf(p+".scheduler", "missing (the default is %s)", DefaultScheduler)
	case !sched.Known(s.Scheduler):
		v.errorf(p+".scheduler", "unknown scheduler %q (known: %s)", s.Scheduler, strings.Join(sched.Names(), " "))
	}
	for j, f := range s.SchedFlags {
		k := fmt.Sprintf("%s.sched_flags[%d]", p, j)
		switch {
		case schedFlagBits[f] == 0:
			v.errorf(k, "invalid scheduler flag %q (want sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2 or flag-3)", f)
		case strings.HasPrefix(f, "sh-") && s.Scheduler != "sh", strings.HasPrefix(f, "mh-") && s.Scheduler != "mh":
			// ipvsadm parse_sched_flags: "incompatible scheduler flag".
			v.errorf(k, "incompatible scheduler flag %q: it applies only to the %s scheduler", f, f[:2])
		case slices.Index(s.SchedFlags, f) < j:
			v.warnf(k, "scheduler flag %q is listed twice", f)
		}
	}
}

func (v *validator) persistence(p string, s *Service) {
	pe := s.Persistence
	switch {
	case pe.Timeout < time.Second || pe.Timeout > MaxTimeout:
		// ipvsadm -p: parse_timeout(optarg, 1, MAX_TIMEOUT).
		v.errorf(p+".timeout", "%s is out of range 1s..%s (ipvsadm -p); leave the key out for the default %s", formatDuration(pe.Timeout), formatDuration(MaxTimeout), formatDuration(DefaultPersistenceTimeout))
	case pe.Timeout%time.Second != 0:
		v.errorf(p+".timeout", "%s is not a whole number of seconds; IPVS counts timeouts in seconds", pe.Timeout)
	}
	if s.FWMark == 0 && !s.Address.IsValid() {
		return // family unknown; the address error says why
	}
	if s.IsIPv6() {
		// ipvsadm -M with -6: "illegal ipv6 netmask specified"; the kernel
		// (ip_vs_add_service) refuses a plen outside 1..128 with EINVAL.
		if pe.PrefixBits < 1 || pe.PrefixBits > 128 {
			v.errorf(p+".netmask", "illegal ipv6 netmask specified: prefix length %d is not in 1..128", pe.PrefixBits)
		}
		return
	}
	switch {
	case pe.PrefixBits < 0 || pe.PrefixBits > 32:
		v.errorf(p+".netmask", "illegal virtual server persistent mask specified: prefix length %d is not in 0..32", pe.PrefixBits)
	case pe.PrefixBits == 0:
		v.warnf(p+".netmask", "mask /0 sends every client to the same real server")
	}
}

func (v *validator) demo(c *Config) {
	if c.Demo == nil {
		return
	}
	type pa struct {
		p Protocol
		a netip.AddrPort
	}
	vips := map[pa]int{}
	for i, s := range c.Services {
		if s.FWMark == 0 && s.Address.IsValid() {
			vips[pa{s.Protocol, s.Address}] = i
		}
	}
	names := map[string]int{}
	addrs := map[pa]int{}
	for i, b := range c.Demo.Backends {
		p := fmt.Sprintf("demo.backends[%d]", i)
		if b.Name == "" {
			v.errorf(p+".name", "missing: a demo backend answers with its name")
		} else if j, dup := names[b.Name]; dup {
			v.errorf(p+".name", "duplicate demo backend name %q (also demo.backends[%d])", b.Name, j)
		} else {
			names[b.Name] = i
		}
		protoOK := true
		switch b.Protocol {
		case TCP, UDP:
		case "":
			v.errorf(p+".protocol", "missing: want tcp or udp")
			protoOK = false
		default:
			v.errorf(p+".protocol", "unknown protocol %q: want tcp or udp", b.Protocol)
			protoOK = false
		}
		switch {
		case !b.Address.IsValid():
			v.errorf(p+".address", "missing: a demo backend needs an ip:port to listen on")
		case !v.addr(p+".address", b.Address):
		case b.Address.Port() == 0:
			v.errorf(p+".address", "port 0: a demo backend needs a fixed port for real servers to point at")
		case !protoOK:
		default:
			k := pa{b.Protocol, b.Address}
			if j, dup := addrs[k]; dup {
				v.errorf(p+".address", "%s %s is already used by demo.backends[%d]", b.Protocol, b.Address, j)
			} else {
				addrs[k] = i
			}
			if j, clash := vips[k]; clash {
				v.errorf(p+".address", "%s %s is also the address of services[%d]", b.Protocol, b.Address, j)
			}
		}
	}
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// formatDuration writes whole seconds the way the YAML schema and ipvsadm
// count them ("900s"), and anything finer in Go syntax.
func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
