package health

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// EventKind says what happened.
type EventKind string

const (
	RealUp     EventKind = "real_up"
	RealDown   EventKind = "real_down"
	QuorumUp   EventKind = "quorum_up"
	QuorumDown EventKind = "quorum_down"
)

// Event is a transition the caller acts on: run Script (notify_up/down or
// quorum_up/down) and send e-mail when SMTPAlert is set.
type Event struct {
	Kind    EventKind         `json:"kind"`
	Service config.ServiceKey `json:"service"`
	// Real is the real server of RealUp/RealDown, zero for quorum events.
	Real      netip.AddrPort `json:"real,omitzero"`
	Script    *config.Script `json:"script,omitempty"`
	SMTPAlert bool           `json:"smtp_alert,omitempty"`
	Reason    string         `json:"reason"`
	Time      time.Time      `json:"time"`
}

// Options configures a Manager.
//
// There is no clock seam: every timer and timestamp comes from the time
// package, which testing/synctest replaces with a fake clock.
type Options struct {
	Logger *slog.Logger
	// Rand returns a number in [0, 1) that spreads the first check over
	// the warmup (check_api.c register_checkers_thread); nil uses
	// math/rand/v2.
	Rand func() float64
	// OnEvent receives events one at a time, from Run's goroutine, in the
	// order they happened. It must not block for long.
	OnEvent func(Event)
	// RunScript runs MISC_CHECK scripts; without it every misc_check
	// fails ("misc_check needs a script runner").
	RunScript ScriptRunner
	// History is how many transitions Status keeps per real server
	// (default 10).
	History int
}

// Manager runs the checkers of a config and keeps keepalived's view of
// every real server and service.
type Manager struct {
	opt       Options
	log       *slog.Logger
	newProber func(config.Check, netip.AddrPort, ProbeOptions) (Prober, error)

	wake    chan struct{}
	changed chan struct{}

	mu       sync.Mutex
	services map[config.ServiceKey]*service
	order    []config.ServiceKey
	master   bool
	running  bool
	events   []Event
}

// NewManager returns an idle Manager; Apply gives it a config and Run
// runs the checkers.
func NewManager(opt Options) *Manager {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Rand == nil {
		opt.Rand = rand.Float64
	}
	if opt.History <= 0 {
		opt.History = 10
	}
	return &Manager{
		opt:       opt,
		log:       opt.Logger,
		newProber: NewProber,
		wake:      make(chan struct{}, 1),
		changed:   make(chan struct{}, 1),
		services:  map[config.ServiceKey]*service{},
		master:    true,
	}
}

// Changed delivers a signal (buffered 1) whenever Effective may return
// something different.
func (m *Manager) Changed() <-chan struct{} { return m.changed }

func (m *Manager) signalChanged() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// SetHAState tells whether this node holds the virtual addresses. While it
// does not, the checkers of services with ha_suspend do not probe; they
// keep their state and re-arm every delay_loop, as a disabled keepalived
// checker does (check_api.c update_checker_activity; *_connect_thread
// "if (!checker->enabled)").
func (m *Manager) SetHAState(master bool) {
	m.mu.Lock()
	m.master = master
	m.mu.Unlock()
	m.poke()
}

// Apply starts the checkers of services and real servers that are new,
// stops those of the ones that are gone, and keeps the state and timers of
// every check that did not change (same service, same real server, equal
// check), as ipwrapper.c clear_diff_services and migrate_checkers do on a
// reload.
func (m *Manager) Apply(cfg *config.Config) {
	m.mu.Lock()
	seen := map[config.ServiceKey]bool{}
	for i := range cfg.Services {
		seen[cfg.Services[i].ServiceKey] = true
	}
	// Removals first, as keepalived's reload runs clear_diff_services
	// before init_services.
	for _, k := range m.order {
		if !seen[k] {
			m.removeService(m.services[k])
			delete(m.services, k)
		}
	}
	var order []config.ServiceKey
	for i := range cfg.Services {
		sc := &cfg.Services[i]
		if slices.Contains(order, sc.ServiceKey) {
			continue
		}
		order = append(order, sc.ServiceKey)
		if s := m.services[sc.ServiceKey]; s != nil {
			m.updateService(s, sc)
		} else {
			m.services[sc.ServiceKey] = m.newService(sc)
		}
	}
	m.order = order
	m.mu.Unlock()
	m.signalChanged()
	m.poke()
}

// Run runs the checkers until ctx ends, delivering events to
// Options.OnEvent. It returns after every probe it started has returned;
// on the way out it emits, for services with omega, RealDown for their
// live real servers and QuorumDown (ipwrapper.c clear_services with
// stopping set), so their scripts run.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		panic("health: Manager.Run called while running")
	}
	m.running = true
	m.mu.Unlock()

	results := make(chan probeDone)
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		m.mu.Lock()
		next := m.schedule(ctx, results, &wg)
		evs := m.takeEvents()
		m.mu.Unlock()
		m.dispatch(evs)
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-m.wake:
		case d := <-results:
			// A probe that ended because Run is stopping says nothing
			// about the server.
			if ctx.Err() == nil {
				m.mu.Lock()
				m.handle(d)
				m.mu.Unlock()
			}
		}
	}
	wg.Wait()
	m.mu.Lock()
	m.stopAll()
	m.omega()
	evs := m.takeEvents()
	m.running = false
	m.mu.Unlock()
	m.dispatch(evs)
}

func (m *Manager) takeEvents() []Event {
	evs := m.events
	m.events = nil
	return evs
}

func (m *Manager) dispatch(evs []Event) {
	if m.opt.OnEvent == nil {
		return
	}
	for _, e := range evs {
		m.opt.OnEvent(e)
	}
}

// maxQueuedEvents bounds the events kept while Run is not delivering
// them (Apply called repeatedly without Run).
const maxQueuedEvents = 4096

func (m *Manager) emit(e Event) {
	e.Time = time.Now()
	if len(m.events) >= maxQueuedEvents {
		m.log.Warn("health events dropped: Run is not delivering them", "dropped", len(m.events)-maxQueuedEvents+1)
		m.events = slices.Delete(m.events, 0, len(m.events)-maxQueuedEvents+1)
	}
	m.events = append(m.events, e)
	m.log.Info("health event", "kind", e.Kind, "service", e.Service.String(), "real", e.Real, "reason", e.Reason)
}

type probeDone struct {
	ch  *checker
	res Result
}

// schedule launches every checker that is due and returns when the next
// one will be (zero if none).
func (m *Manager) schedule(ctx context.Context, results chan<- probeDone, wg *sync.WaitGroup) time.Time {
	now := time.Now()
	var next time.Time
	for _, k := range m.order {
		s := m.services[k]
		suspended := s.cfg.Health.HASuspend && !m.master
		for _, r := range s.reals {
			for _, ch := range r.checkers {
				if ch.inflight {
					continue
				}
				if ch.due.IsZero() {
					ch.due = now.Add(m.firstDelay(ch))
				}
				if !ch.due.After(now) {
					if suspended && ch.cfg.Type != config.CheckFile {
						ch.due = now.Add(ch.delayLoop())
					} else {
						m.launch(ctx, ch, now, results, wg)
						continue
					}
				}
				if next.IsZero() || ch.due.Before(next) {
					next = ch.due
				}
			}
		}
	}
	return next
}

// firstDelay is check_api.c register_checkers_thread: BOOTSTRAP_DELAY plus
// warmup × random()/RAND_MAX.
func (m *Manager) firstDelay(ch *checker) time.Duration {
	if ch.cfg.Type == config.CheckFile {
		return filePollInterval
	}
	d := bootstrapDelay
	if w := ch.cfg.Warmup; w > 0 {
		d += time.Duration(float64(w) * m.opt.Rand())
	}
	return d
}

func (m *Manager) launch(ctx context.Context, ch *checker, now time.Time, results chan<- probeDone, wg *sync.WaitGroup) {
	pctx, cancel := context.WithCancel(ctx)
	ch.inflight, ch.cancel, ch.started = true, cancel, now
	p, urls, idx := ch.prober, ch.urls, ch.urlIt
	if ch.riseFall() {
		urls = nil // with rise/fall one attempt checks every URL
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel()
		var res Result
		if urls != nil {
			res = urls.ProbeURL(pctx, idx)
		} else {
			res = p.Probe(pctx)
		}
		select {
		case results <- probeDone{ch, res}:
		case <-ctx.Done():
		}
	}()
}

func (m *Manager) handle(d probeDone) {
	ch := d.ch
	ch.inflight, ch.cancel = false, nil
	if ch.removed {
		return
	}
	now := time.Now()
	ch.lastCheck, ch.lastOK, ch.lastErr = now, d.res.OK, d.res.Err
	if d.res.Err != nil {
		ch.r.lastErr = d.res.Err.Error()
	}
	delay, base := m.epilog(ch, d.res)
	ch.due = base.Add(delay)
	if ch.due.Before(now) {
		ch.due = now
	}
}

// stopAll cancels probes in flight; their results are dropped.
func (m *Manager) stopAll() {
	for _, s := range m.services {
		for _, r := range s.reals {
			for _, ch := range r.checkers {
				if ch.cancel != nil {
					ch.cancel()
				}
				ch.inflight, ch.cancel = false, nil
			}
		}
	}
}

// omega emits the shutdown notifications of services with omega
// (ipwrapper.c clear_service_rs and update_vs_notifies with stopping):
// notify_down for each live real server that is in the table, then
// quorum_down whatever the quorum state was.
func (m *Manager) omega() {
	for _, k := range m.order {
		s := m.services[k]
		if !s.cfg.Health.Omega {
			continue
		}
		for _, r := range s.reals {
			if r.alive && s.inTable(r) {
				m.emit(Event{Kind: RealDown, Service: k, Real: r.cfg.Address, Script: r.cfg.Health.NotifyDown,
					SMTPAlert: r.cfg.Health.SMTPAlert, Reason: "shutting down"})
			}
		}
		m.emit(Event{Kind: QuorumDown, Service: k, Script: s.cfg.Health.QuorumDown,
			SMTPAlert: s.cfg.Health.SMTPAlert, Reason: "shutting down"})
	}
}

// service is a virtual server's health state (keepalived's
// virtual_server_t: quorum_state_up and the sorry server's alive flag).
type service struct {
	cfg         config.Service
	quorumUp    bool
	sorryActive bool
	reals       []*real
	byAddr      map[netip.AddrPort]*real
}

// real is a real server's health state (real_server_t: alive,
// num_failed_checkers).
type real struct {
	svc       *service
	cfg       config.Real
	alive     bool
	numFailed int
	checkers  []*checker
	since     time.Time
	lastErr   string
	history   []Transition
}

func (s *service) hasSorry() bool { return s.cfg.SorryServer.IsValid() }

// inTable reports whether a live real server is in the IPVS table: not
// while the sorry server stands in for it, unless inhibit_on_failure keeps
// it there at weight 0.
func (s *service) inTable(r *real) bool {
	return !s.sorryActive || r.cfg.Health.InhibitOnFailure
}

// weight is the real server's effective weight: the configured weight plus
// the dynamic weights of its checkers, clamped as ipwrapper.h real_weight.
func (r *real) weight(configured int32) int32 {
	w := int64(configured)
	for _, ch := range r.checkers {
		w += ch.delta
	}
	return int32(max(min(w, 1<<31-1), 0))
}

// aliveWeight is ipwrapper.c weigh_live_realservers.
func (s *service) aliveWeight() int64 {
	var sum int64
	for _, r := range s.reals {
		if r.alive {
			sum += int64(r.weight(r.cfg.Weight))
		}
	}
	return sum
}

func (m *Manager) newService(sc *config.Service) *service {
	s := &service{cfg: copyService(sc), byAddr: map[netip.AddrPort]*real{}}
	for _, rc := range sc.Reals {
		if s.byAddr[rc.Address] != nil {
			continue
		}
		r := m.newReal(s, rc)
		s.reals = append(s.reals, r)
		s.byAddr[rc.Address] = r
	}
	// set_quorum_states runs before any real server is alive, so a new
	// service starts with quorum down and init_service_vs's
	// update_quorum_state(init) announces the starting state.
	m.updateQuorum(s, true)
	return s
}

func copyService(sc *config.Service) config.Service {
	c := *sc
	c.Reals = slices.Clone(sc.Reals)
	c.SchedFlags = slices.Clone(sc.SchedFlags)
	return c
}

func (m *Manager) newReal(s *service, rc config.Real) *real {
	r := &real{svc: s, cfg: rc, since: time.Now()}
	for _, c := range rc.Health.Checks {
		r.checkers = append(r.checkers, m.newChecker(r, c))
	}
	r.numFailed = r.countFailed()
	r.alive = r.numFailed == 0
	return r
}

func (r *real) countFailed() int {
	n := 0
	for _, ch := range r.checkers {
		if !ch.isUp {
			n++
		}
	}
	return n
}

func (m *Manager) updateService(s *service, sc *config.Service) {
	s.cfg = copyService(sc)
	if !s.hasSorry() {
		s.sorryActive = false
	}
	keep := map[netip.AddrPort]bool{}
	var reals []*real
	for _, rc := range sc.Reals {
		if keep[rc.Address] {
			continue
		}
		keep[rc.Address] = true
		r := s.byAddr[rc.Address]
		if r != nil {
			m.updateReal(r, rc)
		} else {
			r = m.newReal(s, rc)
			s.byAddr[rc.Address] = r
		}
		reals = append(reals, r)
	}
	for _, r := range s.reals {
		if !keep[r.cfg.Address] {
			m.removeReal(s, r, "removed from the configuration")
			delete(s.byAddr, r.cfg.Address)
		}
	}
	s.reals = reals
	m.updateQuorum(s, true)
}

// updateReal keeps each checker whose check is unchanged, starts the new
// ones and stops the others; then the real server's state follows its
// checkers (migrate_checkers).
func (m *Manager) updateReal(r *real, rc config.Real) {
	weightChanged := r.cfg.Weight != rc.Weight
	r.cfg = rc
	old := r.checkers
	used := make([]bool, len(old))
	r.checkers = nil
	var fresh []*checker
	for _, c := range rc.Health.Checks {
		var kept *checker
		for i, ch := range old {
			if !used[i] && reflect.DeepEqual(ch.cfg, c) {
				used[i], kept = true, ch
				break
			}
		}
		if kept == nil {
			kept = m.newChecker(r, c)
			if c.Type != config.CheckFile {
				fresh = append(fresh, kept)
			}
		} else if weightChanged {
			m.rebuildProber(kept)
		}
		r.checkers = append(r.checkers, kept)
	}
	for i, ch := range old {
		if !used[i] {
			ch.stop()
		}
	}
	// migrate_checkers: a new checker starts up, and needs retry+1
	// failures, unless a checker of this real server has failed, or none
	// has run on a server that is down: then alpha checkers start down and
	// one failure is enough.
	failedRun, anyRun := 0, false
	for _, ch := range r.checkers {
		if ch.hasRun {
			anyRun = true
			if !ch.isUp {
				failedRun++
			}
		}
	}
	pessimistic := failedRun > 0 || (!r.alive && !anyRun)
	for _, ch := range fresh {
		up, retryIt := true, 0
		if pessimistic {
			up, retryIt = !ch.alpha, ch.cfg.Retry
		}
		ch.setInitial(up, retryIt)
	}
	r.numFailed = r.countFailed()
	m.performSvrState(r, r.numFailed == 0, "checkers changed")
}

func (m *Manager) removeReal(s *service, r *real, reason string) {
	for _, ch := range r.checkers {
		ch.stop()
	}
	// clear_service_rs: only a live real server in the table is notified.
	if r.alive && s.inTable(r) {
		r.alive = false
		m.emit(Event{Kind: RealDown, Service: s.cfg.ServiceKey, Real: r.cfg.Address, Script: r.cfg.Health.NotifyDown,
			SMTPAlert: r.cfg.Health.SMTPAlert, Reason: reason})
	}
	r.alive = false
}

func (m *Manager) removeService(s *service) {
	for _, r := range s.reals {
		m.removeReal(s, r, "virtual server removed from the configuration")
	}
	// update_vs_notifies: with no real server left, a quorum that was up
	// is lost.
	if s.quorumUp {
		s.quorumUp = false
		m.emit(Event{Kind: QuorumDown, Service: s.cfg.ServiceKey, Script: s.cfg.Health.QuorumDown,
			SMTPAlert: s.cfg.Health.SMTPAlert, Reason: "virtual server removed from the configuration"})
	}
}

// performSvrState is ipwrapper.c perform_svr_state: a change of the real
// server's alive flag, its notification, and the quorum that may follow.
func (m *Manager) performSvrState(r *real, alive bool, reason string) {
	if r.alive == alive {
		return
	}
	r.alive = alive
	r.since = time.Now()
	st := StateDown
	kind, script := RealDown, r.cfg.Health.NotifyDown
	if alive {
		st, kind, script = StateUp, RealUp, r.cfg.Health.NotifyUp
	}
	r.history = append(r.history, Transition{Time: r.since, State: st, Reason: reason})
	if n := len(r.history) - m.opt.History; n > 0 {
		r.history = slices.Delete(r.history, 0, n)
	}
	m.emit(Event{Kind: kind, Service: r.svc.cfg.ServiceKey, Real: r.cfg.Address, Script: script,
		SMTPAlert: r.cfg.Health.SMTPAlert, Reason: reason})
	m.updateQuorum(r.svc, false)
	m.signalChanged()
}

// notifyReal is do_rs_notifies without a change of state: keepalived runs
// the notify script of the current state when an alpha checker reports its
// first result. No e-mail: the checkers mail only on a change of their
// own state (check_tcp.c tcp_epilog: checker_was_up).
func (m *Manager) notifyReal(r *real, reason string) {
	kind, script := RealDown, r.cfg.Health.NotifyDown
	if r.alive {
		kind, script = RealUp, r.cfg.Health.NotifyUp
	}
	m.emit(Event{Kind: kind, Service: r.svc.cfg.ServiceKey, Real: r.cfg.Address, Script: script, Reason: reason})
}

// updateQuorum is ipwrapper.c update_quorum_state. The sum of the weights
// of live real servers gains quorum at quorum+hysteresis and loses it at 0
// or below quorum-hysteresis; on loss the sorry server (if any) replaces
// the live real servers, on gain they come back. With init, a service that
// starts without quorum puts its sorry server in.
func (m *Manager) updateQuorum(s *service, init bool) {
	sum := s.aliveWeight()
	q := int64(max(s.cfg.Health.Quorum, 1))
	h := int64(s.cfg.Health.Hysteresis)
	k := s.cfg.ServiceKey
	if !s.quorumUp {
		thr := q + h
		if sum >= thr {
			s.quorumUp = true
			s.sorryActive = false
			what := "gained quorum"
			if init {
				what = "starting with quorum up"
			}
			m.emit(Event{Kind: QuorumUp, Service: k, Script: s.cfg.Health.QuorumUp, SMTPAlert: s.cfg.Health.SMTPAlert,
				Reason: fmt.Sprintf("%s %d+%d=%d <= %d", what, q, h, thr, sum)})
			m.signalChanged()
			return
		}
		if init && s.hasSorry() && !s.sorryActive {
			s.sorryActive = true
			m.emit(Event{Kind: QuorumDown, Service: k, Script: s.cfg.Health.QuorumDown, SMTPAlert: s.cfg.Health.SMTPAlert,
				Reason: fmt.Sprintf("starting with quorum down %d+%d=%d > %d", q, h, thr, sum)})
			m.signalChanged()
		}
		return
	}
	thr := q - h
	if sum == 0 || sum < thr {
		s.quorumUp = false
		if s.hasSorry() {
			s.sorryActive = true
		}
		m.emit(Event{Kind: QuorumDown, Service: k, Script: s.cfg.Health.QuorumDown, SMTPAlert: s.cfg.Health.SMTPAlert,
			Reason: fmt.Sprintf("lost quorum %d-%d=%d > %d", q, h, thr, sum)})
		m.signalChanged()
	}
}
