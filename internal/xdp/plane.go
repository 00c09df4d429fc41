package xdp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/conntab"
	"github.com/fulcrumlb/fulcrum/internal/l4"
	"github.com/fulcrumlb/fulcrum/internal/sched"
	"github.com/fulcrumlb/fulcrum/internal/stats"
)

// The status types are the userspace plane's, so the engine can swap
// planes without converting.
type (
	ServiceStatus = l4.ServiceStatus
	DestStatus    = l4.DestStatus
	ConnStatus    = l4.ConnStatus
	Stats         = stats.Stats
	Rates         = stats.Rates
)

// ErrUnsupported is wrapped by Apply for configurations the XDP plane
// cannot serve; the error text says what and why.
var ErrUnsupported = errors.New("not supported by the xdp data plane")

type unsupported string

func (u unsupported) Error() string { return string(u) }
func (u unsupported) Unwrap() error { return ErrUnsupported }

// AttachMode selects how the program is attached to the interfaces.
type AttachMode string

const (
	// ModeAuto tries native (driver) XDP and falls back to generic.
	ModeAuto AttachMode = ""
	// ModeNative is driver XDP (veth supports it).
	ModeNative AttachMode = "native"
	// ModeGeneric is skb-based XDP, for any device.
	ModeGeneric AttachMode = "generic"
)

// Options configures a Plane.
type Options struct {
	Logger *slog.Logger // nil = discard
	// Interfaces are the director's interfaces the program is attached to.
	// Empty attaches nothing: the maps and the program are loaded and can
	// be driven with Program().Run (tests, benchmarks).
	Interfaces []string
	Mode       AttachMode
	// NetNS is the path of the network namespace the interfaces live in
	// (e.g. /run/netns/lb); "" is the caller's.
	NetNS string
	// MaxConns sizes the LRU connection table (and the NAT reverse and
	// template tables); 0 means 262144.
	MaxConns int
	// ConnTabBits is the reported connection table size as 1<<bits
	// (ip_vs.conn_tab_bits); default 12, "(size=4096)".
	ConnTabBits int
	// Resolver finds real servers' next hops; nil uses netlink.
	Resolver Resolver
	// SweepInterval is how often expired connections are removed and the
	// counters reconciled; 0 means 1 s.
	SweepInterval time.Duration
	// Clock returns the time of bpf_ktime_get_ns (CLOCK_MONOTONIC); nil
	// reads it. Tests move it forward to expire entries.
	Clock func() time.Duration
	// LBLCRExpiration is the sysctl lblcr_expiration (ipvs-sysctl.rst):
	// how long an lblcr server set must stay unchanged before its most
	// loaded member is dropped, and how long an unused lblcr entry is
	// kept. 0 means the kernel default, 24 h.
	LBLCRExpiration time.Duration
}

// Plane is the XDP data plane: an IPVS-style director in an XDP program,
// configured from the model by a reconciler that writes BPF maps.
type Plane struct {
	log      *slog.Logger
	opt      Options
	objs     lbObjects
	rtMem    []byte // dest_rts, mmapped: struct dest_rt per slot
	links    []link.Link
	clock    func() time.Duration
	timeouts *conntab.Table // per-state timeouts, as the proxy plane's

	mu       sync.Mutex // serialises Apply, Zero, sweeps and Close
	closed   bool
	services []*service
	byKey    map[config.ServiceKey]*service
	svcIDs   [maxSvcs]bool
	slots    [maxDests]*destState
	gens     [maxDests]uint32
	trash    map[trashKey]*destState
	drift    map[uint16][3]int32
	svcList  atomic.Pointer[[]*service]

	statsMu sync.Mutex // guards the raw-counter bookkeeping of syncStats

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type trashKey struct {
	svc  config.ServiceKey
	addr netip.AddrPort
}

type service struct {
	key       config.ServiceKey
	id        uint32
	proto     uint8
	vip       netip.AddrPort
	sched     *sched.Service
	schedName string
	flags     uint32
	persist   bool
	prefix    int
	ptimeout  time.Duration
	row       uint32 // 0 or 1: which of the two rows holds the table
	table     table
	exact     bool
	cyc       *cycle // rr, wrr: the kernel scheduler's state
	dests     map[netip.AddrPort]*destState
	stats     *stats.Stat
	raw       stats.Stats
}

type destState struct {
	slot      uint16
	gen       uint32
	svc       *service
	real      config.Real
	fwd       uint8
	nh        NextHop
	nhOK      bool
	available bool
	stats     *stats.Stat
	raw       stats.Stats
}

// Forwarding methods and scheduler kinds of bpf/lb.h.
const (
	fwdRoute  = 1
	fwdTunnel = 2
	fwdMasq   = 3
)

var schedKinds = map[string]uint32{
	"rr": 1, "wrr": 2, "lc": 3, "wlc": 4, "sed": 5, "nq": 6, "fo": 7, "ovf": 8,
	"dh": 9, "sh": 10, "mh": 11, "lblc": 12, "twos": 13, "lblcr": 14,
}

const (
	svcFPersist    = 0x0100
	destFAvailable = 0x1
	destFNH        = 0x2
	connFInactive  = 0x01
	connFNoOutput  = 0x02
	connFTmpl      = 0x04
	connFRev       = 0x08
	defaultSched   = "wlc" // ipvsadm's DEF_SCHED
)

// monotonic reads CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
func monotonic() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// New loads the program and its maps, attaches the program to
// opt.Interfaces and starts the sweeper. It fails with a clear error when
// BPF or XDP is not available (see Supported).
func New(opt Options) (*Plane, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 262144
	}
	if opt.SweepInterval <= 0 {
		opt.SweepInterval = time.Second
	}
	if opt.LBLCRExpiration <= 0 {
		opt.LBLCRExpiration = lblcExpiration
	}
	if opt.Resolver == nil {
		opt.Resolver = &netlinkResolver{nsPath: opt.NetNS, wait: time.Second}
	}
	p := &Plane{
		log:      log,
		opt:      opt,
		clock:    opt.Clock,
		timeouts: conntab.New(conntab.Options{Bits: opt.ConnTabBits}),
		byKey:    map[config.ServiceKey]*service{},
		trash:    map[trashKey]*destState{},
		drift:    map[uint16][3]int32{},
	}
	if p.clock == nil {
		p.clock = monotonic
	}
	empty := []*service{}
	p.svcList.Store(&empty)
	if err := p.load(); err != nil {
		return nil, err
	}
	if err := p.attach(); err != nil {
		p.closeObjects()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(2)
	go p.every(ctx, opt.SweepInterval, p.Sweep)
	go p.every(ctx, stats.Tick*time.Second, p.statsTick)
	return p, nil
}

// load creates the maps and programs, with the TCP state table taken from
// package conntab so both planes share it.
func (p *Plane) load() error {
	spec, err := loadLb()
	if err != nil {
		return err
	}
	var states [3][4][11]uint8
	for d := range 3 {
		for f := range 4 {
			for s := range 11 {
				states[d][f][s] = uint8(conntab.NextTCPState(conntab.State(s), conntab.Dir(d), conntab.Flag(f)))
			}
		}
	}
	if err := spec.Variables["tcp_states"].Set(states); err != nil {
		return fmt.Errorf("tcp state table: %w", err)
	}
	if err := spec.Variables["lblcr_expire_ns"].Set(uint64(p.opt.LBLCRExpiration)); err != nil {
		return fmt.Errorf("lblcr expiration: %w", err)
	}
	for _, m := range []string{"conns", "revs", "templates"} {
		spec.Maps[m].MaxEntries = uint32(p.opt.MaxConns)
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("loading the XDP program: %+v", ve)
		}
		return fmt.Errorf("loading the XDP program: %w", err)
	}
	size := int(p.objs.DestRts.ValueSize() * p.objs.DestRts.MaxEntries())
	mem, err := unix.Mmap(p.objs.DestRts.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		p.objs.Close()
		return fmt.Errorf("mapping dest counters: %w", err)
	}
	p.rtMem = mem
	return nil
}

func (p *Plane) closeObjects() {
	if p.rtMem != nil {
		_ = unix.Munmap(p.rtMem)
		p.rtMem = nil
	}
	p.objs.Close()
}

func (p *Plane) attach() error {
	return InNetNS(p.opt.NetNS, func() error {
		for _, name := range p.opt.Interfaces {
			ifc, err := net.InterfaceByName(name)
			if err != nil {
				p.detach()
				return fmt.Errorf("interface %s: %w", name, err)
			}
			l, err := attachXDP(p.objs.XdpLb, ifc.Index, p.opt.Mode)
			if err != nil {
				p.detach()
				return fmt.Errorf("attaching XDP to %s: %w", name, err)
			}
			p.links = append(p.links, l)
		}
		return nil
	})
}

func attachXDP(prog *ebpf.Program, ifindex int, mode AttachMode) (link.Link, error) {
	switch mode {
	case ModeNative:
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
	case ModeGeneric:
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPGenericMode})
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if err == nil {
		return l, nil
	}
	return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPGenericMode})
}

func (p *Plane) detach() {
	for _, l := range p.links {
		_ = l.Close()
	}
	p.links = nil
}

// Program is the director program, for BPF_PROG_TEST_RUN.
func (p *Plane) Program() *ebpf.Program { return p.objs.XdpLb }

// ConnTabSize is the reported connection table size (1<<ConnTabBits).
func (p *Plane) ConnTabSize() int { return p.timeouts.Size() }

// rt returns the live counters of a slot, shared with the program.
func (p *Plane) rt(slot uint16) *destRT {
	return (*destRT)(unsafe.Pointer(&p.rtMem[int(slot)*int(unsafe.Sizeof(lbDestRt{}))]))
}

// destRT is struct dest_rt accessed atomically (the program uses
// __sync_fetch_and_add on the same words).
type destRT struct {
	active, inact, persist atomic.Int32
	overload               atomic.Uint32
}

// Close detaches the program, stops the sweeper and frees every map.
func (p *Plane) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	_ = InNetNS(p.opt.NetNS, func() error { p.detach(); return nil })
	p.closeObjects()
	empty := []*service{}
	p.svcList.Store(&empty)
	return err
}

func (p *Plane) every(ctx context.Context, d time.Duration, fn func()) {
	defer p.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Timeouts returns the current --set timeouts.
func (p *Plane) Timeouts() config.Timeouts {
	t := p.timeouts.Timeouts()
	return config.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP}
}

// addrBytes is an address in the maps' 16-byte form: IPv4 in the first
// four bytes.
func addrBytes(a netip.Addr) [16]byte {
	var b [16]byte
	if a.Is4() {
		v := a.As4()
		copy(b[:], v[:])
		return b
	}
	return a.As16()
}

func addrFrom(b [16]byte, family uint8) netip.Addr {
	if family == 4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func svcKeyOf(s *service) lbSvcKey {
	return lbSvcKey{Addr: addrBytes(s.vip.Addr()), Port: htons(s.vip.Port()), Proto: s.proto, Family: 4}
}

// Status returns one entry per service, in the order last applied, with
// counters and rates read from the maps.
func (p *Plane) Status() []ServiceStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.syncStats()
	out := make([]ServiceStatus, 0, len(p.services))
	for _, s := range p.services {
		st := ServiceStatus{Key: s.key, Stats: s.stats.Snapshot(), Rates: s.stats.Rates()}
		for _, d := range s.sched.Dests() {
			ds := s.dests[d.Addr]
			if ds == nil {
				continue
			}
			rt := p.rt(ds.slot)
			st.Dests = append(st.Dests, DestStatus{
				Addr:         d.Addr,
				Weight:       d.Weight(),
				ActiveConns:  rt.active.Load(),
				InactConns:   rt.inact.Load(),
				PersistConns: rt.persist.Load(),
				Overloaded:   rt.overload.Load() != 0,
				Stats:        ds.stats.Snapshot(),
				Rates:        ds.stats.Rates(),
			})
		}
		out = append(out, st)
	}
	return out
}

// Zero is ipvsadm -Z for one service, or all when key is nil.
func (p *Plane) Zero(key *config.ServiceKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.syncStats()
	for _, s := range p.services {
		if key == nil || s.key == *key {
			s.stats.Zero()
			for _, d := range s.dests {
				d.stats.Zero()
			}
		}
	}
}

// statsTick runs the estimator (ip_vs_est.c, every 2 s).
func (p *Plane) statsTick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.syncStats()
	for _, s := range p.services {
		s.stats.Tick()
		for _, d := range s.dests {
			d.stats.Tick()
		}
	}
}

// readStats sums one per-CPU counter entry.
func readStats(m *ebpf.Map, key uint32) stats.Stats {
	var per []lbStats
	if err := m.Lookup(key, &per); err != nil {
		return stats.Stats{}
	}
	var s stats.Stats
	for _, c := range per {
		s.Conns += c.Conns
		s.InPkts += c.Inpkts
		s.OutPkts += c.Outpkts
		s.InBytes += c.Inbytes
		s.OutBytes += c.Outbytes
	}
	return s
}

// syncStats moves what the program counted since the last call into the
// stats.Stat of each service and dest, so the estimator, -Z and the
// snapshot logic of package stats apply unchanged. Called with p.mu held.
func (p *Plane) syncStats() {
	add := func(st *stats.Stat, last *stats.Stats, cur stats.Stats) {
		d := cur.Sub(*last)
		*last = cur
		for range d.Conns {
			st.AddConn()
		}
		st.AddIn(d.InPkts, d.InBytes)
		st.AddOut(d.OutPkts, d.OutBytes)
	}
	for _, s := range p.services {
		add(s.stats, &s.raw, readStats(p.objs.SvcStats, s.id))
		for _, d := range s.dests {
			add(d.stats, &d.raw, readStats(p.objs.DestStats, uint32(d.slot)))
		}
	}
}

// Conns lists the connection table and the persistence templates, as
// ipvsadm -Lnc shows them.
func (p *Plane) Conns() []ConnStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	now := p.clock()
	var out []ConnStatus
	var k lbConnKey
	var v lbConn
	it := p.objs.Conns.Iterate()
	for it.Next(&k, &v) {
		ds := p.slots[v.Dest]
		dst := netip.AddrPort{}
		if ds != nil && ds.gen == v.DestGen {
			dst = ds.real.Address
			if dst.Port() == 0 {
				dst = netip.AddrPortFrom(dst.Addr(), htons(k.Dport))
			}
		}
		state := conntab.State(v.State)
		out = append(out, ConnStatus{
			Protocol: protoOf(k.Proto),
			Client:   netip.AddrPortFrom(addrFrom(k.Saddr, k.Family), htons(k.Sport)),
			Virtual:  netip.AddrPortFrom(addrFrom(k.Daddr, k.Family), htons(k.Dport)),
			Dest:     dst,
			State:    state.String(),
			Expires:  max(0, p.timeouts.StateTimeout(state)-(now-time.Duration(v.LastSeen))),
		})
	}
	var tk lbPersistKey
	var tv lbPersist
	tit := p.objs.Templates.Iterate()
	for tit.Next(&tk, &tv) {
		s := p.serviceByID(tk.Svc)
		ds := p.slots[tv.Dest]
		if s == nil || ds == nil || ds.gen != tv.DestGen {
			continue
		}
		dst := ds.real.Address
		if dst.Port() == 0 {
			dst = netip.AddrPortFrom(dst.Addr(), s.vip.Port())
		}
		out = append(out, ConnStatus{
			Protocol: s.key.Protocol,
			Client:   netip.AddrPortFrom(addrFrom(tk.Caddr, 4), 0),
			Virtual:  s.vip,
			Dest:     dst,
			State:    conntab.StateNone.String(),
			Expires:  max(0, s.ptimeout-(now-time.Duration(tv.LastSeen))),
			Template: true,
		})
	}
	slices.SortFunc(out, func(a, b ConnStatus) int {
		if c := a.Client.Compare(b.Client); c != 0 {
			return c
		}
		return a.Virtual.Compare(b.Virtual)
	})
	return out
}

func protoOf(p uint8) config.Protocol {
	switch p {
	case unix.IPPROTO_TCP:
		return config.TCP
	case unix.IPPROTO_UDP:
		return config.UDP
	}
	return ""
}

func (p *Plane) serviceByID(id uint32) *service {
	for _, s := range p.services {
		if s.id == id {
			return s
		}
	}
	return nil
}
