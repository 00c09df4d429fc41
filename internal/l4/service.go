package l4

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/conntab"
	"github.com/fulcrumlb/fulcrum/internal/sched"
	"github.com/fulcrumlb/fulcrum/internal/stats"
)

// defaultScheduler is ipvsadm's DEF_SCHED.
const defaultScheduler = "wlc"

// plan is a validated config.Service in the form the plane uses.
type plan struct {
	key       config.ServiceKey
	proto     conntab.Proto
	vip       netip.AddrPort
	schedName string
	flags     uint32
	reals     []config.Real
	persist   bool
	prefix    int
	ptimeout  time.Duration
	proxy     int // 0, 1 or 2
	sorry     netip.AddrPort
	onePacket bool
}

// compile validates a service for this data plane.
func compile(s *config.Service) (*plan, error) {
	if s.FWMark != 0 {
		return nil, unsupported("firewall-mark services are not supported by the proxy data plane yet (it accepts on a VIP:port; fwmark services need the xdp data plane)")
	}
	pl := &plan{key: s.ServiceKey, vip: s.Address, schedName: s.Scheduler}
	switch s.Protocol {
	case config.TCP:
		pl.proto = conntab.ProtoTCP
	case config.UDP:
		pl.proto = conntab.ProtoUDP
	default:
		return nil, fmt.Errorf("unknown protocol %q", s.Protocol)
	}
	if !s.Address.Addr().IsValid() {
		return nil, errors.New("no virtual address")
	}
	if s.Address.Port() == 0 {
		return nil, unsupported("port-0 (all ports) services are not supported by the proxy data plane yet")
	}
	pl.vip = netip.AddrPortFrom(s.Address.Addr().Unmap(), s.Address.Port())
	if pl.schedName == "" {
		pl.schedName = defaultScheduler
	}
	if !sched.Known(pl.schedName) {
		return nil, fmt.Errorf("unknown scheduler %q", pl.schedName)
	}
	flags, err := schedFlags(s.SchedFlags)
	if err != nil {
		return nil, err
	}
	pl.flags = flags
	if s.OnePacket {
		if s.Protocol != config.UDP {
			return nil, errors.New("One-Packet Scheduling is only for UDP virtual services")
		}
		pl.onePacket = true
	}
	switch s.ProxyProtocol {
	case "":
	case "v1":
		if s.Protocol == config.UDP {
			return nil, unsupported("PROXY protocol v1 has no UDP form; use v2 for UDP services")
		}
		pl.proxy = 1
	case "v2":
		pl.proxy = 2
	default:
		return nil, fmt.Errorf("unknown proxy_protocol %q (want v1 or v2)", s.ProxyProtocol)
	}
	if p := s.Persistence; p != nil {
		bits := 32
		if pl.vip.Addr().Is6() {
			bits = 128
		}
		if p.PrefixBits < 0 || p.PrefixBits > bits {
			return nil, fmt.Errorf("persistence netmask /%d out of range for the address family", p.PrefixBits)
		}
		if p.Timeout < 0 {
			return nil, errors.New("negative persistence timeout")
		}
		pl.persist, pl.prefix, pl.ptimeout = true, p.PrefixBits, p.Timeout
		if pl.ptimeout == 0 {
			pl.ptimeout = config.DefaultPersistenceTimeout
		}
	}
	if s.SorryServer.IsValid() {
		pl.sorry = netip.AddrPortFrom(s.SorryServer.Addr().Unmap(), s.SorryServer.Port())
	}
	seen := map[netip.AddrPort]bool{}
	for _, r := range s.Reals {
		if !r.Address.Addr().IsValid() {
			return nil, errors.New("real server without an address")
		}
		if seen[r.Address] {
			return nil, fmt.Errorf("real server %s listed twice", r.Address)
		}
		seen[r.Address] = true
		switch r.Forward {
		case "", config.Masq:
		case config.Route:
			return nil, fmt.Errorf("real server %s: %w", r.Address,
				unsupported("forwarding method Route (-g) needs the xdp data plane; the proxy data plane forwards as Masq (-m)"))
		case config.Tunnel:
			return nil, fmt.Errorf("real server %s: %w", r.Address,
				unsupported("forwarding method Tunnel (-i) needs the xdp data plane; the proxy data plane forwards as Masq (-m)"))
		default:
			return nil, fmt.Errorf("real server %s: unknown forwarding method %q", r.Address, r.Forward)
		}
		if r.Weight < 0 {
			return nil, fmt.Errorf("real server %s: %w", r.Address, sched.ErrBadWeight)
		}
	}
	pl.reals = append([]config.Real(nil), s.Reals...)
	return pl, nil
}

// schedFlags maps ipvsadm -b names to IP_VS_SVC_F_SCHED* bits
// (ipvsadm.c parse_sched_flags).
func schedFlags(names []string) (uint32, error) {
	var f uint32
	for _, n := range names {
		switch n {
		case "flag-1", "sh-fallback", "mh-fallback":
			f |= sched.FlagSched1
		case "flag-2", "sh-port", "mh-port":
			f |= sched.FlagSched2
		case "flag-3":
			f |= sched.FlagSched3
		default:
			return 0, fmt.Errorf("unknown scheduler flag %q", n)
		}
	}
	return f, nil
}

// destInfo is the plane's side of a real server: its counters and the
// address to connect to (a real with port 0 takes the service port, as
// ip_vs_schedule's "dest->port ? dest->port : vport").
type destInfo struct {
	d     *sched.Dest
	dial  netip.AddrPort
	stats *stats.Stat
}

// svcCfg is the part of a service's config read on the data path.
type svcCfg struct {
	persist   bool
	prefix    int
	ptimeout  time.Duration
	proxy     int
	sorry     *destInfo
	onePacket bool
}

type service struct {
	p     *Plane
	key   config.ServiceKey
	proto conntab.Proto
	vip   netip.AddrPort
	sched *sched.Service
	stats *stats.Stat
	cfg   atomic.Pointer[svcCfg]

	// dests maps every real address the service ever had (removed ones
	// too, like the kernel's dest trash) to its destInfo. Copy on write.
	dests  atomic.Pointer[map[netip.AddrPort]*destInfo]
	destMu sync.Mutex

	persistMu sync.Mutex // template lookup-or-create is atomic per service

	schedName string // guarded by p.mu
	flags     uint32

	socks *sockets
	udp   *udpService
}

func newService(p *Plane, pl *plan, so *sockets) (*service, error) {
	ss, err := sched.NewService(pl.schedName, pl.flags, sched.Options{})
	if err != nil {
		return nil, err
	}
	s := &service{
		p: p, key: pl.key, proto: pl.proto, vip: pl.vip, sched: ss, stats: stats.New(),
		schedName: pl.schedName, flags: pl.flags, socks: so,
	}
	dm := map[netip.AddrPort]*destInfo{}
	s.dests.Store(&dm)
	if so.udp != nil {
		s.udp = newUDPService(s, so.udp)
	}
	return s, nil
}

// update applies a plan to a live (or fresh) service.
func (s *service) update(pl *plan) error {
	var errs []error
	if s.schedName != pl.schedName || s.flags != pl.flags {
		if err := s.sched.SetScheduler(pl.schedName, pl.flags); err != nil {
			errs = append(errs, err)
		} else {
			s.schedName, s.flags = pl.schedName, pl.flags
		}
	}
	want := make(map[netip.AddrPort]bool, len(pl.reals))
	for _, r := range pl.reals {
		want[r.Address] = true
	}
	for _, d := range s.sched.Dests() {
		if !want[d.Addr] {
			if err := s.sched.DelDest(d.Addr); err != nil {
				errs = append(errs, fmt.Errorf("real server %s: %w", d.Addr, err))
			}
		}
	}
	existed := map[netip.AddrPort]bool{}
	for _, d := range s.sched.Dests() {
		existed[d.Addr] = true
	}
	for _, r := range pl.reals {
		if existed[r.Address] {
			continue
		}
		d, err := s.sched.AddDest(r.Address, r.Weight, r.UpperThreshold, r.LowerThreshold)
		if err != nil {
			errs = append(errs, fmt.Errorf("real server %s: %w", r.Address, err))
			continue
		}
		s.destInfo(d)
	}
	for _, r := range pl.reals {
		if !existed[r.Address] {
			continue
		}
		d := s.sched.Dest(r.Address)
		if d != nil && (d.Weight() != r.Weight || d.UThreshold() != r.UpperThreshold || d.LThreshold() != r.LowerThreshold) {
			if err := s.sched.EditDest(r.Address, r.Weight, r.UpperThreshold, r.LowerThreshold); err != nil {
				errs = append(errs, fmt.Errorf("real server %s: %w", r.Address, err))
			}
		}
	}

	c := &svcCfg{persist: pl.persist, prefix: pl.prefix, ptimeout: pl.ptimeout, proxy: pl.proxy, onePacket: pl.onePacket}
	if pl.sorry.IsValid() {
		if old := s.cfg.Load(); old != nil && old.sorry != nil && old.sorry.d.Addr == pl.sorry {
			c.sorry = old.sorry
		} else {
			c.sorry = &destInfo{d: sched.NewDest(pl.sorry, 1, 0, 0), dial: s.dialAddr(pl.sorry), stats: stats.New()}
		}
	}
	s.cfg.Store(c)
	return errors.Join(errs...)
}

func (s *service) dialAddr(a netip.AddrPort) netip.AddrPort {
	if a.Port() == 0 {
		return netip.AddrPortFrom(a.Addr(), s.vip.Port())
	}
	return a
}

// destInfo returns the plane's record for a scheduler dest, creating it on
// first use. A dest re-added after removal finds its old counters.
func (s *service) destInfo(d *sched.Dest) *destInfo {
	if di := (*s.dests.Load())[d.Addr]; di != nil && di.d == d {
		return di
	}
	s.destMu.Lock()
	defer s.destMu.Unlock()
	cur := *s.dests.Load()
	old := cur[d.Addr]
	if old != nil && old.d == d {
		return old
	}
	di := &destInfo{d: d, dial: s.dialAddr(d.Addr)}
	if old != nil {
		di.stats = old.stats
	} else {
		di.stats = stats.New()
	}
	next := maps.Clone(cur)
	next[d.Addr] = di
	s.dests.Store(&next)
	return di
}

func (s *service) start() {
	if s.udp != nil {
		s.p.wg.Add(1)
		go s.udp.readLoop()
		return
	}
	fd := int32(s.socks.tcp)
	for _, l := range s.p.loops {
		l.post(func() { l.addListener(fd, s) })
	}
}

// stop closes the service's socket and unlinks its dests, as deleting a
// service does in the kernel: their templates become invalid
// (ip_vs_check_template), so a service re-created with the same key
// schedules afresh. TCP connections keep running; UDP flows end with the
// socket they answer through (their entries stay until they time out).
func (s *service) stop() {
	if s.udp != nil {
		s.udp.stop()
	} else {
		// No loop may be accepting on the socket when it is closed (its
		// number could be reused at once).
		fd := int32(s.socks.tcp)
		for _, l := range s.p.loops {
			l.postWait(func() { l.removeListener(fd) })
		}
		s.socks.close()
	}
	for _, d := range s.sched.Dests() {
		_ = s.sched.DelDest(d.Addr)
	}
}

// schedule picks the real server for a new connection from client: the
// persistent path of ip_vs_sched_persist when the service is persistent,
// otherwise ip_vs_schedule. It returns the dest, the controlling template
// (nil without persistence) and false when no server can take the
// connection (the kernel's ip_vs_leave). The sorry server is used when the
// scheduler finds nothing; no template is made for it, so clients return to
// the real servers as soon as one is available.
func (s *service) schedule(c *svcCfg, client netip.AddrPort) (*destInfo, *conntab.Entry, bool) {
	k := sched.Key{Src: client.Addr(), SrcPort: client.Port(), Dst: s.vip.Addr(), DstPort: s.vip.Port()}
	if !c.persist {
		if d := s.sched.Schedule(&k); d != nil {
			return s.destInfo(d), nil, true
		}
		return c.sorry, nil, c.sorry != nil
	}
	// Template <proto, caddr & mask, 0, vaddr, vport>: the non-FTP form of
	// ip_vs_sched_persist (the port-0 form <proto, caddr&mask, 0, vaddr, 0>
	// and the fwmark form <IPPROTO_IP, caddr&mask, 0, fwmark, 0> belong to
	// services this plane does not serve yet).
	pfx, _ := client.Addr().Prefix(c.prefix)
	key := conntab.Key{Proto: s.proto, Client: netip.AddrPortFrom(pfx.Addr(), 0), Virtual: s.vip}
	t := s.p.table
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	if ct := t.Lookup(key); ct != nil && t.CheckTemplate(ct, false) {
		ct.Touch() // ip_vs_conn_put(ct) re-arms the template
		return s.destInfo(ct.DestRef()), ct, true
	}
	d := s.sched.Schedule(&k)
	if d == nil {
		return c.sorry, nil, c.sorry != nil
	}
	di := s.destInfo(d)
	ct, err := t.Insert(conntab.Params{
		Key: key, Dest: d.Addr, DestRef: d, Template: true, Timeout: c.ptimeout, Hashed: true,
	})
	if err != nil {
		s.p.log.Debug("no room for a persistence template", "service", s.key.String(), "err", err)
		return nil, nil, false
	}
	return di, ct, true
}

func (s *service) status() ServiceStatus {
	st := ServiceStatus{Key: s.key, Stats: s.stats.Snapshot(), Rates: s.stats.Rates()}
	dm := *s.dests.Load()
	for _, d := range s.sched.Dests() {
		ds := destStatus(d)
		if di := dm[d.Addr]; di != nil {
			ds.Stats, ds.Rates = di.stats.Snapshot(), di.stats.Rates()
		}
		st.Dests = append(st.Dests, ds)
	}
	if c := s.cfg.Load(); c != nil && c.sorry != nil {
		ds := destStatus(c.sorry.d)
		ds.Stats, ds.Rates = c.sorry.stats.Snapshot(), c.sorry.stats.Rates()
		st.Sorry = &ds
	}
	return st
}

func destStatus(d *sched.Dest) DestStatus {
	return DestStatus{
		Addr: d.Addr, Weight: d.Weight(),
		ActiveConns: d.ActiveConns(), InactConns: d.InactConns(), PersistConns: d.PersistConns(),
		Overloaded: d.Overloaded(),
	}
}

// zero is ip_vs_zero_service: the service and its listed dests.
func (s *service) zero() {
	s.stats.Zero()
	dm := *s.dests.Load()
	for _, d := range s.sched.Dests() {
		if di := dm[d.Addr]; di != nil {
			di.stats.Zero()
		}
	}
	if c := s.cfg.Load(); c != nil && c.sorry != nil {
		c.sorry.stats.Zero()
	}
}

// tick runs the estimator of the service and its listed dests.
func (s *service) tick() {
	s.stats.Tick()
	dm := *s.dests.Load()
	for _, d := range s.sched.Dests() {
		if di := dm[d.Addr]; di != nil {
			di.stats.Tick()
		}
	}
	if c := s.cfg.Load(); c != nil && c.sorry != nil {
		c.sorry.stats.Tick()
	}
}
