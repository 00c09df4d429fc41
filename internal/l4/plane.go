package l4

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/conntab"
	"github.com/fulcrumlb/fulcrum/internal/stats"
)

// ErrUnsupported is wrapped by Apply for configurations this data plane
// cannot serve; the error text says what and why.
var ErrUnsupported = errors.New("not supported by the proxy data plane")

// unsupported is an error with its own message that matches ErrUnsupported.
type unsupported string

func (u unsupported) Error() string { return string(u) }
func (u unsupported) Unwrap() error { return ErrUnsupported }

// Options configures a Plane.
type Options struct {
	Logger *slog.Logger // nil = discard
	// ConnTabBits is the reported connection table size as 1<<bits
	// (ip_vs.conn_tab_bits); default 12, which ipvsadm prints as
	// "(size=4096)".
	ConnTabBits int
	// MaxConns bounds the connection table, templates included; 0 means
	// unbounded like IPVS. When full, the oldest inactive connection is
	// evicted; if there is none the new connection is refused.
	MaxConns int
	// DialTimeout bounds connecting to a real server; 0 means 10 s.
	DialTimeout time.Duration
	// Now is the clock of the connection table (expiry, Expires); nil
	// means time.Now. Tests inject a fake clock.
	Now func() time.Time
}

// Stats are cumulative counters (struct ip_vs_stats_user); see doc.go for
// what packets and bytes mean in a proxy.
type Stats = stats.Stats

// Rates are the estimator's rates (ip_vs_est.c).
type Rates = stats.Rates

// ServiceStatus is one virtual service's live state.
type ServiceStatus struct {
	Key   config.ServiceKey
	Stats Stats
	Rates Rates
	// Dests are the real servers in kernel list order (newest first).
	Dests []DestStatus
	// Sorry is the sorry server's state when one is configured; it is not
	// part of the scheduler's list.
	Sorry *DestStatus
}

// DestStatus is one real server's live state.
type DestStatus struct {
	Addr                                  netip.AddrPort
	Weight                                int32
	ActiveConns, InactConns, PersistConns int32
	Overloaded                            bool
	Stats                                 Stats
	Rates                                 Rates
}

// ConnStatus is one connection-table entry, as ipvsadm -Lc lists it.
type ConnStatus struct {
	// Protocol is "" for fwmark templates (ipvsadm prints "IP").
	Protocol              config.Protocol
	Client, Virtual, Dest netip.AddrPort
	// State is the IPVS state name (ESTABLISHED, TIME_WAIT, UDP, NONE...).
	State    string
	Expires  time.Duration
	Template bool
}

const (
	defaultDialTimeout = 10 * time.Second
	sweepInterval      = time.Second
	statsInterval      = stats.Tick * time.Second
)

// Plane is the userspace proxy data plane: it serves virtual services by
// accepting on VIP:port and relaying to real servers, keeping an IPVS-style
// connection table and counters.
type Plane struct {
	log   *slog.Logger
	opt   Options
	table *conntab.Table
	now   func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex // serialises Apply, Zero and Close
	closed   bool
	services []*service
	byKey    map[config.ServiceKey]*service
	svcList  atomic.Pointer[[]*service] // lock-free view for the background loops

	loops    []*loop
	loopsErr error // why there are no loops: TCP services cannot be served
}

// New starts a data plane with no services.
func New(opt Options) *Plane {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = defaultDialTimeout
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Plane{
		log: log,
		opt: opt,
		table: conntab.New(conntab.Options{
			Bits: opt.ConnTabBits, MaxEntries: opt.MaxConns, Now: now,
		}),
		now:    now,
		ctx:    ctx,
		cancel: cancel,
		byKey:  map[config.ServiceKey]*service{},
	}
	empty := []*service{}
	p.svcList.Store(&empty)
	// One relay loop per P, as nginx runs a worker per CPU.
	for range runtime.GOMAXPROCS(0) {
		l, err := newLoop(p)
		if err != nil {
			for _, l := range p.loops {
				l.closeFds()
			}
			p.loops, p.loopsErr = nil, fmt.Errorf("TCP relay: %w", err)
			break
		}
		p.loops = append(p.loops, l)
	}
	p.wg.Add(2 + len(p.loops))
	for _, l := range p.loops {
		go l.run()
	}
	go p.every(sweepInterval, p.sweep)
	go p.every(statsInterval, p.statsTick)
	return p
}

// ConnTabSize is the reported connection table size (1<<ConnTabBits).
func (p *Plane) ConnTabSize() int { return p.table.Size() }

// Apply makes the plane serve exactly these services with these timeouts.
// It is all-or-nothing: every service is validated and every new socket is
// opened first; on any failure what was opened is closed, nothing changes,
// and the error names the service. Services whose key is unchanged keep
// their socket, connection-table entries, counters and scheduler state; a
// changed scheduler name or flags calls SetScheduler; reals are diffed
// (removed -> DelDest, new -> AddDest in config order, changed weight or
// thresholds -> EditDest). Removed services close their socket; their TCP
// connections are left to finish. The only errors that can still occur
// after the sockets are open come from the scheduler refusing a dest
// (e.g. mh's table limit); they are returned after the rest was applied.
func (p *Plane) Apply(ctx context.Context, services []config.Service, t config.Timeouts) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("data plane is closed")
	}
	plans := make([]*plan, len(services))
	seen := make(map[config.ServiceKey]bool, len(services))
	for i := range services {
		s := &services[i]
		if seen[s.ServiceKey] {
			return fmt.Errorf("service %s: listed twice", s.ServiceKey)
		}
		seen[s.ServiceKey] = true
		pl, err := compile(s)
		if err != nil {
			return fmt.Errorf("service %s: %w", s.ServiceKey, err)
		}
		plans[i] = pl
	}

	// Open every new socket before touching anything.
	opened := map[config.ServiceKey]*sockets{}
	closeOpened := func() {
		for _, so := range opened {
			so.close()
		}
	}
	for _, pl := range plans {
		if _, ok := p.byKey[pl.key]; ok {
			continue
		}
		if pl.key.Protocol == config.TCP && p.loopsErr != nil {
			closeOpened()
			return fmt.Errorf("service %s: %w", pl.key, p.loopsErr)
		}
		so, err := listen(ctx, pl.key)
		if err != nil {
			closeOpened()
			return fmt.Errorf("service %s: %w", pl.key, err)
		}
		opened[pl.key] = so
	}
	// New services get their scheduler before anything is committed, so a
	// scheduler that cannot be built fails the whole Apply.
	fresh := map[config.ServiceKey]*service{}
	for _, pl := range plans {
		if so, ok := opened[pl.key]; ok {
			s, err := newService(p, pl, so)
			if err != nil {
				closeOpened()
				return fmt.Errorf("service %s: %w", pl.key, err)
			}
			fresh[pl.key] = s
		}
	}

	// Commit.
	p.table.SetTimeouts(conntab.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP})
	var errs []error
	next := make([]*service, 0, len(plans))
	byKey := make(map[config.ServiceKey]*service, len(plans))
	for _, pl := range plans {
		s := fresh[pl.key]
		if s == nil {
			s = p.byKey[pl.key]
		}
		if err := s.update(pl); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", pl.key, err))
		}
		next = append(next, s)
		byKey[pl.key] = s
	}
	for k, s := range p.byKey {
		if byKey[k] == nil {
			s.stop()
		}
	}
	for _, s := range next {
		if fresh[s.key] != nil {
			s.start()
		}
	}
	p.services, p.byKey = next, byKey
	list := slices.Clone(next)
	p.svcList.Store(&list)
	return errors.Join(errs...)
}

// Status returns one entry per service, in the order last applied.
func (p *Plane) Status() []ServiceStatus {
	svcs := *p.svcList.Load()
	out := make([]ServiceStatus, 0, len(svcs))
	for _, s := range svcs {
		out = append(out, s.status())
	}
	return out
}

// Conns lists the connection table, persistence templates included.
func (p *Plane) Conns() []ConnStatus {
	infos := p.table.Snapshot()
	out := make([]ConnStatus, 0, len(infos))
	for _, in := range infos {
		var proto config.Protocol
		switch in.Proto {
		case conntab.ProtoTCP:
			proto = config.TCP
		case conntab.ProtoUDP:
			proto = config.UDP
		}
		out = append(out, ConnStatus{
			Protocol: proto,
			Client:   in.Client,
			Virtual:  in.Virtual,
			Dest:     in.Dest,
			State:    in.StateName(),
			Expires:  in.Expires,
			Template: in.Template,
		})
	}
	return out
}

// Timeouts returns the current --set timeouts.
func (p *Plane) Timeouts() config.Timeouts {
	t := p.table.Timeouts()
	return config.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP}
}

// Zero is ipvsadm -Z: it resets the counters and rates of one service and
// its real servers (ip_vs_zero_service), or of every service when key is
// nil (ip_vs_zero_all).
func (p *Plane) Zero(key *config.ServiceKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.services {
		if key == nil || s.key == *key {
			s.zero()
		}
	}
}

// Close stops every listener, closes every proxied connection and waits
// for all goroutines of the plane to end.
func (p *Plane) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	svcs := p.services
	p.services, p.byKey = nil, map[config.ServiceKey]*service{}
	empty := []*service{}
	p.svcList.Store(&empty)
	p.mu.Unlock()

	p.cancel()
	for _, s := range svcs {
		s.stop()
	}
	for _, l := range p.loops {
		l.post(l.shutdown)
	}
	p.wg.Wait()
	return nil
}

// every runs fn each interval until the plane closes.
func (p *Plane) every(interval time.Duration, fn func()) {
	defer p.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// sweep expires connection-table entries and idle one-packet sockets, and
// lets the relay loops fail dials past their deadline.
func (p *Plane) sweep() {
	p.table.Sweep()
	now := time.Now()
	for _, l := range p.loops {
		l.post(func() { l.housekeeping(now) })
	}
	for _, s := range *p.svcList.Load() {
		if s.udp != nil {
			s.udp.sweepOPS(p.now())
		}
	}
}

// statsTick is one estimator period: fold the live TCP connections' kernel
// counters in, then run every service's and dest's estimator.
func (p *Plane) statsTick() {
	p.sampleAll()
	for _, s := range *p.svcList.Load() {
		s.tick()
	}
}

// sampleAll folds the kernel's per-socket counters of every live TCP
// connection into the service and dest counters.
func (p *Plane) sampleAll() {
	for _, l := range p.loops {
		l.postWait(func() {
			for _, r := range l.relays {
				if r != nil {
					r.sample()
				}
			}
		})
	}
}
