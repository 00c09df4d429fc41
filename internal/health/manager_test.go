package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// fakeProber returns what the test sets and records when it was called.
type fakeProber struct {
	mu    sync.Mutex
	res   Result
	calls []time.Time
}

func (f *fakeProber) set(ok bool, w *int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.res = Result{OK: ok, Weight: w}
	if !ok {
		f.res.Err = errors.New("scripted failure")
	}
}

func (f *fakeProber) Probe(context.Context) Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	return f.res
}

func (f *fakeProber) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// fakes hands out one fakeProber per real server address, initially
// passing.
type fakes struct {
	mu sync.Mutex
	by map[netip.AddrPort]*fakeProber
}

func newFakes() *fakes { return &fakes{by: map[netip.AddrPort]*fakeProber{}} }

func (fs *fakes) get(a netip.AddrPort) *fakeProber {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := fs.by[a]
	if f == nil {
		f = &fakeProber{res: Result{OK: true}}
		fs.by[a] = f
	}
	return f
}

func (fs *fakes) newProber(_ config.Check, target netip.AddrPort, _ ProbeOptions) (Prober, error) {
	return fs.get(target), nil
}

// recorder collects events with their offset from the start of a test.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	evs   []Event
}

func (r *recorder) on(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, e)
}

// lines renders events as "T+3s real_down 127.0.0.1:80" for comparison.
func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.evs {
		s := fmt.Sprintf("T+%s %s", e.Time.Sub(r.start), e.Kind)
		if e.Real.IsValid() {
			s += " " + e.Real.String()
		}
		out = append(out, s)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func offsets(start time.Time, ts []time.Time) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Sub(start).String())
	}
	return out
}

func checkLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// running starts Run in the bubble and returns a stop function that
// cancels it and waits for it to return.
func running(m *Manager) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// sleepUntil advances the fake clock to start+d and lets the manager
// settle.
func sleepUntil(start time.Time, d time.Duration) {
	time.Sleep(time.Until(start.Add(d)))
	synctest.Wait()
}

func reals(cfg *config.Config) map[netip.AddrPort]int32 {
	m := map[netip.AddrPort]int32{}
	for _, s := range cfg.Services {
		for _, r := range s.Reals {
			m[r.Address] = r.Weight
		}
	}
	return m
}

func effective(m *Manager, cfg *config.Config) map[netip.AddrPort]int32 {
	return reals(&config.Config{Services: m.Effective(cfg)})
}

var vip = config.ServiceKey{Protocol: config.TCP, Address: ap("192.0.2.10:80")}

// The timeline of keepalived's tcp_epilog with delay_loop 2, retry 2,
// delay_before_retry 1, against a real TCP listener that is closed and
// reopened: the first check at 1 s (BOOTSTRAP_DELAY, warmup 0), then every
// 2 s; the killed backend fails at 5, is retried at 6 and 7 and goes down
// at 7, after retry+1 = 3 failures; inhibit_on_failure keeps it at weight
// 0; it is up again after the first success, at the next delay_loop tick.
func TestTimelineTCPRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().(*net.TCPAddr).AddrPort()
		start := time.Now()
		rec := &recorder{start: start}
		var mu sync.Mutex
		var attempts []time.Time
		m := NewManager(Options{OnEvent: rec.on})
		m.newProber = func(c config.Check, target netip.AddrPort, opt ProbeOptions) (Prober, error) {
			p, err := NewProber(c, target, opt)
			return proberFunc(func(ctx context.Context) Result {
				mu.Lock()
				attempts = append(attempts, time.Now())
				mu.Unlock()
				return p.Probe(ctx)
			}), err
		}
		cfg := &config.Config{Services: []config.Service{{ServiceKey: vip, Reals: []config.Real{{
			Address: addr, Weight: 5, Forward: config.Masq,
			Health: config.RealHealth{InhibitOnFailure: true, Checks: []config.Check{{
				Type: config.CheckTCP, DelayLoop: 2 * time.Second, Retry: 2, DelayBeforeRetry: time.Second,
				ConnectTimeout: time.Second,
			}}},
		}}}}}
		m.Apply(cfg)
		stop := running(m)
		defer stop()

		sleepUntil(start, 3500*time.Millisecond)
		if w := effective(m, cfg)[addr]; w != 5 {
			t.Fatalf("weight %d before the kill, want 5", w)
		}
		ln.Close() // kill the backend
		sleepUntil(start, 6500*time.Millisecond)
		if st := m.Status()[0].Reals[0]; st.State != StateUp || st.Checks[0].Retries != 2 {
			t.Fatalf("after two failures: %+v, want still up with retry_it 2", st)
		}
		sleepUntil(start, 7500*time.Millisecond)
		if w, ok := effective(m, cfg)[addr]; !ok || w != 0 {
			t.Fatalf("after three failures: in table %v weight %d, want kept at weight 0 (inhibit_on_failure)", ok, w)
		}
		ln, err = net.Listen("tcp", addr.String()) // bring it back
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		sleepUntil(start, 10*time.Second)
		if w := effective(m, cfg)[addr]; w != 5 {
			t.Fatalf("weight %d after recovery, want 5", w)
		}
		mu.Lock()
		got := offsets(start, attempts)
		mu.Unlock()
		checkLines(t, "attempts", got, []string{"1s", "3s", "5s", "6s", "7s", "9s"})
		checkLines(t, "events", rec.lines(), []string{
			"T+0s quorum_up",
			"T+7s real_down " + addr.String(),
			"T+7s quorum_down",
			"T+9s real_up " + addr.String(),
			"T+9s quorum_up",
		})
		st := m.Status()[0].Reals[0]
		if len(st.Transitions) != 2 || st.Transitions[0].State != StateDown ||
			!strings.Contains(st.Transitions[0].Reason, "TCP_CHECK failed after 2 retries") ||
			!strings.Contains(st.Transitions[0].Reason, "connection refused") {
			t.Fatalf("transitions %+v", st.Transitions)
		}
	})
}

type proberFunc func(ctx context.Context) Result

func (f proberFunc) Probe(ctx context.Context) Result { return f(ctx) }

// Without alpha a real server starts up and one failure takes it down
// (check_data.c: retry_it = retry before the first run).
func TestFirstFailureIsEnough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		start := time.Now()
		rec := &recorder{start: start}
		m := NewManager(Options{OnEvent: rec.on})
		m.newProber = fs.newProber
		a := ap("10.0.0.1:80")
		cfg := oneReal(a, false, config.Check{Type: config.CheckTCP, DelayLoop: 5 * time.Second, Retry: 3, DelayBeforeRetry: time.Second})
		fs.get(a).set(false, nil)
		m.Apply(cfg)
		if _, ok := effective(m, cfg)[a]; !ok {
			t.Fatal("without alpha the real server must start in the table")
		}
		stop := running(m)
		defer stop()
		sleepUntil(start, 1500*time.Millisecond)
		if _, ok := effective(m, cfg)[a]; ok {
			t.Fatal("still in the table after the first failure")
		}
		sleepUntil(start, 6500*time.Millisecond)
		// Already down: no retries, next attempt after delay_loop.
		checkLines(t, "attempts", offsets(start, fs.get(a).calls), []string{"1s", "6s"})
		checkLines(t, "events", rec.lines(), []string{"T+0s quorum_up", "T+1s real_down " + a.String(), "T+1s quorum_down"})
	})
}

func oneReal(a netip.AddrPort, inhibit bool, checks ...config.Check) *config.Config {
	return &config.Config{Services: []config.Service{{ServiceKey: vip, Reals: []config.Real{{
		Address: a, Weight: 1, Forward: config.Masq,
		Health: config.RealHealth{InhibitOnFailure: inhibit, Checks: checks,
			NotifyUp: &config.Script{Command: "/bin/up"}, NotifyDown: &config.Script{Command: "/bin/down"}},
	}}}}}
}

// alpha: a real server starts down (in the table at weight 0 only with
// inhibit_on_failure) and comes up with its first success; an alpha
// checker's first failure runs notify_down although nothing changes
// (ipwrapper.c update_svr_checker_state).
func TestAlpha(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		start := time.Now()
		rec := &recorder{start: start}
		m := NewManager(Options{OnEvent: rec.on})
		m.newProber = fs.newProber
		a, b := ap("10.0.0.1:80"), ap("10.0.0.2:80")
		chk := config.Check{Type: config.CheckTCP, DelayLoop: 3 * time.Second, Retry: 1, DelayBeforeRetry: time.Second}
		cfg := &config.Config{Services: []config.Service{{ServiceKey: vip,
			Health: config.ServiceHealth{Alpha: true},
			Reals: []config.Real{
				{Address: a, Weight: 4, Health: config.RealHealth{Checks: []config.Check{chk}}},
				{Address: b, Weight: 2, Health: config.RealHealth{InhibitOnFailure: true, Checks: []config.Check{chk},
					NotifyDown: &config.Script{Command: "/bin/b-down"}}},
			}}}}
		fs.get(b).set(false, nil)
		if got := effective(m, cfg); len(got) != 1 || got[b] != 0 {
			t.Fatalf("preview before Apply: %v, want only b at weight 0", got)
		}
		m.Apply(cfg)
		if got := effective(m, cfg); len(got) != 1 || got[b] != 0 {
			t.Fatalf("at start: %v, want only b at weight 0", got)
		}
		stop := running(m)
		defer stop()
		sleepUntil(start, 1500*time.Millisecond)
		if got := effective(m, cfg); len(got) != 2 || got[a] != 4 || got[b] != 0 {
			t.Fatalf("after the first checks: %v, want a:4 b:0", got)
		}
		// a and b are probed at the same instant: their events may come in
		// either order, but a's real_up precedes the quorum it brings.
		got := rec.lines()
		checkLines(t, "events", sorted(got), sorted([]string{
			"T+1s real_up " + a.String(), "T+1s quorum_up", "T+1s real_down " + b.String(),
		}))
		if slices.Index(got, "T+1s real_up "+a.String()) > slices.Index(got, "T+1s quorum_up") {
			t.Fatalf("quorum_up before the real_up that caused it: %q", got)
		}
		rec.mu.Lock()
		for _, e := range rec.evs {
			if e.Real == b && (e.Script == nil || e.Script.Command != "/bin/b-down") {
				t.Fatalf("alpha notify script %v, want b's notify_down", e.Script)
			}
		}
		rec.mu.Unlock()
		// b stays down: next attempt after delay_loop, no retries.
		sleepUntil(start, 4500*time.Millisecond)
		checkLines(t, "b attempts", offsets(start, fs.get(b).calls), []string{"1s", "4s"})
	})
}

// Quorum with hysteresis and a sorry server (ipwrapper.c
// update_quorum_state): quorum 3, hysteresis 1 — lost below 2 (or at 0),
// gained at 4. While lost, the sorry server replaces the real servers,
// inhibit_on_failure ones stay at weight 0, and real servers coming back
// do not enter the table until the quorum is gained again.
func TestQuorumHysteresisSorry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		start := time.Now()
		rec := &recorder{start: start}
		m := NewManager(Options{OnEvent: rec.on})
		m.newProber = fs.newProber
		a, b, c := ap("10.0.0.1:80"), ap("10.0.0.2:80"), ap("10.0.0.3:80")
		sorry := ap("10.0.0.99:0")
		chk := []config.Check{{Type: config.CheckTCP, DelayLoop: time.Second}}
		cfg := &config.Config{Services: []config.Service{{ServiceKey: vip, SorryServer: sorry,
			Health: config.ServiceHealth{Quorum: 3, Hysteresis: 1,
				QuorumUp: &config.Script{Command: "/bin/qup"}, QuorumDown: &config.Script{Command: "/bin/qdown"}},
			Reals: []config.Real{
				{Address: a, Weight: 2, Health: config.RealHealth{Checks: chk}},
				{Address: b, Weight: 1, Health: config.RealHealth{Checks: chk}},
				{Address: c, Weight: 1, Health: config.RealHealth{InhibitOnFailure: true, Checks: chk}},
			}}}}
		sorryAddr := ap("10.0.0.99:80") // no port: the virtual server's
		m.Apply(cfg)
		stop := running(m)
		defer stop()

		step := func(at time.Duration, set func(), want map[netip.AddrPort]int32, quorumUp bool) {
			t.Helper()
			set()
			sleepUntil(start, at)
			got := effective(m, cfg)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("T+%s: table %v, want %v", at, got, want)
			}
			if s := m.Status()[0]; s.QuorumUp != quorumUp || s.SorryActive == quorumUp {
				t.Fatalf("T+%s: quorum up %v sorry %v, want quorum %v", at, s.QuorumUp, s.SorryActive, quorumUp)
			}
		}
		all := map[netip.AddrPort]int32{a: 2, b: 1, c: 1}
		step(500*time.Millisecond, func() {}, all, true)
		step(1500*time.Millisecond, func() { fs.get(b).set(false, nil) }, map[netip.AddrPort]int32{a: 2, c: 1}, true)
		// sum 2 is below the quorum (3) but not below quorum-hysteresis.
		step(2500*time.Millisecond, func() { fs.get(c).set(false, nil) }, map[netip.AddrPort]int32{a: 2, c: 0}, true)
		// sum 0: lost; the sorry server stands in, c stays at weight 0.
		step(3500*time.Millisecond, func() { fs.get(a).set(false, nil) }, map[netip.AddrPort]int32{c: 0, sorryAddr: 1}, false)
		// a back: sum 2 < 4, still lost, the table does not change.
		step(4500*time.Millisecond, func() { fs.get(a).set(true, nil) }, map[netip.AddrPort]int32{c: 0, sorryAddr: 1}, false)
		// b back: sum 3 = quorum, but gaining needs quorum+hysteresis.
		step(5500*time.Millisecond, func() { fs.get(b).set(true, nil) }, map[netip.AddrPort]int32{c: 0, sorryAddr: 1}, false)
		// c back: sum 4, gained; the sorry server leaves.
		step(6500*time.Millisecond, func() { fs.get(c).set(true, nil) }, all, true)
		checkLines(t, "events", rec.lines(), []string{
			"T+0s quorum_up",
			"T+1s real_down " + b.String(),
			"T+2s real_down " + c.String(),
			"T+3s real_down " + a.String(),
			"T+3s quorum_down",
			"T+4s real_up " + a.String(),
			"T+5s real_up " + b.String(),
			"T+6s real_up " + c.String(),
			"T+6s quorum_up",
		})
		rec.mu.Lock()
		if e := rec.evs[4]; e.Script == nil || e.Script.Command != "/bin/qdown" || !strings.Contains(e.Reason, "lost quorum 3-1=2 > 0") {
			t.Fatalf("quorum_down event %+v", e)
		}
		if e := rec.evs[8]; e.Script == nil || e.Script.Command != "/bin/qup" || !strings.Contains(e.Reason, "gained quorum 3+1=4 <= 4") {
			t.Fatalf("quorum_up event %+v", e)
		}
		rec.mu.Unlock()
	})
}

// sorry_server_inhibit keeps the sorry server in the table at weight 0
// while the quorum holds; a service starting without quorum puts its sorry
// server in at once ("Starting with quorum down").
func TestSorryServerInhibitAndStartDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		rec := &recorder{start: time.Now()}
		m := NewManager(Options{OnEvent: rec.on})
		m.newProber = fs.newProber
		a := ap("10.0.0.1:80")
		sorry := ap("10.0.0.99:8080")
		cfg := oneReal(a, false, config.Check{Type: config.CheckTCP, DelayLoop: time.Second})
		cfg.Services[0].SorryServer = sorry
		cfg.Services[0].Health.SorryServerInhibit = true
		m.Apply(cfg)
		if got := effective(m, cfg); fmt.Sprint(got) != fmt.Sprint(map[netip.AddrPort]int32{a: 1, sorry: 0}) {
			t.Fatalf("table %v, want a:1 and the sorry server at weight 0", got)
		}
		cfg2 := oneReal(a, false, config.Check{Type: config.CheckTCP, DelayLoop: time.Second})
		cfg2.Services[0].SorryServer = sorry
		cfg2.Services[0].Health.Alpha = true
		cfg2.Services[0].ServiceKey = config.ServiceKey{Protocol: config.TCP, Address: ap("192.0.2.11:80")}
		m.Apply(cfg2)
		if got := effective(m, cfg2); fmt.Sprint(got) != fmt.Sprint(map[netip.AddrPort]int32{sorry: 1}) {
			t.Fatalf("alpha service at start: %v, want only the sorry server", got)
		}
		// Events queue until Run delivers them.
		stop := running(m)
		synctest.Wait()
		stop()
		checkLines(t, "events", rec.lines(), []string{"T+0s quorum_up", "T+0s real_down " + a.String(), "T+0s quorum_down", "T+0s quorum_down"})
		// The first Apply's service went away with the second Apply: its
		// live real server and its quorum were notified down.
		rec.mu.Lock()
		if rec.evs[1].Service != vip || rec.evs[2].Service != vip || rec.evs[3].Service == vip {
			t.Fatalf("events %+v", rec.evs)
		}
		rec.mu.Unlock()
	})
}

// recordingURLs wraps the HTTP prober to log which URL each attempt
// fetched.
type recordingURLs struct {
	p   *httpProber
	mu  *sync.Mutex
	log *[]string
	t0  time.Time
}

func (r recordingURLs) Probe(ctx context.Context) Result { return r.p.Probe(ctx) }
func (r recordingURLs) NumURLs() int                     { return r.p.NumURLs() }
func (r recordingURLs) ProbeURL(ctx context.Context, i int) Result {
	r.mu.Lock()
	*r.log = append(*r.log, fmt.Sprintf("%s %s", time.Since(r.t0), r.p.urls[i].path))
	r.mu.Unlock()
	return r.p.ProbeURL(ctx, i)
}

// Several URLs (check_http.c epilog): one URL per delay_loop; a failing
// URL is retried after delay_before_retry, then the checker goes down and
// checks the failed URL every max(delay_before_retry, delay_loop); when it
// passes, the walk restarts from the first URL and the checker is up once
// all have passed. fast_recovery does that walk without waiting.
func TestHTTPSeveralURLs(t *testing.T) {
	for _, fast := range []bool{false, true} {
		t.Run(fmt.Sprintf("fast_recovery=%v", fast), func(t *testing.T) {
			var mu sync.Mutex
			bOK := true
			srv := newRawServer(t, "tcp", "127.0.0.1:0", func(req string) string {
				mu.Lock()
				defer mu.Unlock()
				if strings.HasPrefix(req, "GET /b ") && !bOK {
					return "HTTP/1.0 500 Internal Server Error\r\n\r\n"
				}
				return "HTTP/1.0 200 OK\r\n\r\nok"
			})
			setB := func(ok bool) { mu.Lock(); bOK = ok; mu.Unlock() }
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				rec := &recorder{start: start}
				var lmu sync.Mutex
				var log []string
				m := NewManager(Options{OnEvent: rec.on})
				m.newProber = func(c config.Check, target netip.AddrPort, opt ProbeOptions) (Prober, error) {
					p, err := NewProber(c, target, opt)
					if err != nil {
						return nil, err
					}
					return recordingURLs{p: p.(*httpProber), mu: &lmu, log: &log, t0: start}, nil
				}
				cfg := oneReal(srv.addr(), false, config.Check{Type: config.CheckHTTP, DelayLoop: 4 * time.Second,
					Retry: 1, DelayBeforeRetry: time.Second, ConnectTimeout: time.Second, FastRecovery: fast,
					URLs: []config.CheckURL{{Path: "/a"}, {Path: "/b"}}})
				m.Apply(cfg)
				stop := running(m)
				defer stop()
				sleepUntil(start, 10*time.Second)
				setB(false)
				sleepUntil(start, 19*time.Second)
				if st := m.Status()[0].Reals[0].Checks[0]; st.Up || st.FailedURL != "/b" {
					t.Fatalf("status %+v, want down with failed URL /b", st)
				}
				setB(true)
				sleepUntil(start, 31*time.Second)
				rs := srv.addr().String()
				want := []string{"1s /a", "5s /b", "9s /a", "13s /b", "14s /b", "18s /b", "22s /b", "26s /a", "30s /b"}
				wantEvents := []string{"T+0s quorum_up", "T+14s real_down " + rs, "T+14s quorum_down",
					"T+30s real_up " + rs, "T+30s quorum_up"}
				if fast {
					// Before the first full run and while down with no known
					// failed URL, the next URL is checked at once.
					want = []string{"1s /a", "1s /b", "5s /a", "9s /b", "13s /a", "17s /b", "18s /b", "22s /b",
						"22s /a", "22s /b", "26s /a", "30s /b"}
					wantEvents = []string{"T+0s quorum_up", "T+18s real_down " + rs, "T+18s quorum_down",
						"T+22s real_up " + rs, "T+22s quorum_up"}
				}
				lmu.Lock()
				checkLines(t, "URL attempts", log, want)
				lmu.Unlock()
				checkLines(t, "events", rec.lines(), wantEvents)
			})
		})
	}
}

// rise/fall replace retry with HAProxy's consecutive counts: down after
// fall failures, up after rise successes, every delay_loop.
func TestRiseFall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		start := time.Now()
		rec := &recorder{start: start}
		m := NewManager(Options{OnEvent: rec.on})
		m.newProber = fs.newProber
		a := ap("10.0.0.1:80")
		cfg := oneReal(a, false, config.Check{Type: config.CheckTCP, DelayLoop: time.Second, Rise: 2, Fall: 3,
			Retry: 9, DelayBeforeRetry: time.Hour})
		m.Apply(cfg)
		stop := running(m)
		defer stop()
		f := fs.get(a)
		sleepUntil(start, 2500*time.Millisecond) // successes at 1, 2
		f.set(false, nil)
		sleepUntil(start, 5500*time.Millisecond) // failures at 3, 4, 5
		f.set(true, nil)
		sleepUntil(start, 7500*time.Millisecond) // successes at 6, 7
		checkLines(t, "attempts", offsets(start, f.calls), []string{"1s", "2s", "3s", "4s", "5s", "6s", "7s"})
		checkLines(t, "events", rec.lines(), []string{"T+0s quorum_up",
			"T+5s real_down " + a.String(), "T+5s quorum_down", "T+7s real_up " + a.String(), "T+7s quorum_up"})
	})
}

// misc_dynamic weights (check_misc.c): the real server's weight follows
// exit-2, the quorum counts it, and a failure drops the dynamic weight.
func TestMiscDynamicWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		exit := 7
		var runs []time.Time
		run := func(ctx context.Context, s *config.Script, timeout time.Duration) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			runs = append(runs, time.Now())
			return exit, nil
		}
		setExit := func(e int) { mu.Lock(); exit = e; mu.Unlock() }
		m := NewManager(Options{RunScript: run})
		a := ap("10.0.0.1:80")
		cfg := oneReal(a, false, config.Check{Type: config.CheckMisc, DelayLoop: 2 * time.Second, Retry: 1,
			DelayBeforeRetry: time.Second, MiscPath: &config.Script{Command: "/bin/check"}, MiscDynamic: true})
		cfg.Services[0].Reals[0].Weight = 3
		cfg.Services[0].Health.Quorum = 5
		m.Apply(cfg)
		stop := running(m)
		defer stop()
		sleepUntil(start, 1500*time.Millisecond)
		if w := effective(m, cfg)[a]; w != 5 {
			t.Fatalf("weight %d, want exit 7 - 2", w)
		}
		if s := m.Status()[0]; !s.QuorumUp || s.AliveWeight != 5 {
			t.Fatalf("quorum %+v, want up with alive weight 5", s)
		}
		setExit(3)
		sleepUntil(start, 3500*time.Millisecond)
		if w := effective(m, cfg)[a]; w != 1 {
			t.Fatalf("weight %d, want exit 3 - 2", w)
		}
		if s := m.Status()[0]; s.QuorumUp {
			t.Fatal("quorum should be lost at weight 1 < 5")
		}
		setExit(0)
		sleepUntil(start, 5500*time.Millisecond)
		if w := effective(m, cfg)[a]; w != 3 {
			t.Fatalf("weight %d, want the configured 3 after exit 0", w)
		}
		setExit(1)
		sleepUntil(start, 10*time.Second)
		// Failure at 7 (retry pending, next from the start of that run +1s),
		// final failure at 8, then delay_loop.
		mu.Lock()
		checkLines(t, "runs", offsets(start, runs), []string{"1s", "3s", "5s", "7s", "8s", "10s"})
		mu.Unlock()
		if _, ok := effective(m, cfg)[a]; ok {
			t.Fatal("failed misc check left the server in the table")
		}
	})
}

// Apply keeps unchanged checkers (state and timer), replaces changed ones
// and stops those of removed real servers.
func TestApplyKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		start := time.Now()
		m := NewManager(Options{})
		m.newProber = fs.newProber
		a, b, c := ap("10.0.0.1:80"), ap("10.0.0.2:80"), ap("10.0.0.3:80")
		chk := config.Check{Type: config.CheckTCP, DelayLoop: 3 * time.Second, Retry: 2, DelayBeforeRetry: time.Second}
		mk := func(addrs ...netip.AddrPort) *config.Config {
			cfg := &config.Config{Services: []config.Service{{ServiceKey: vip}}}
			for _, x := range addrs {
				cfg.Services[0].Reals = append(cfg.Services[0].Reals, config.Real{Address: x, Weight: 1,
					Health: config.RealHealth{Checks: []config.Check{chk}}})
			}
			return cfg
		}
		cfg := mk(a, b)
		m.Apply(cfg)
		stop := running(m)
		defer stop()
		fs.get(a).set(false, nil)
		sleepUntil(start, 1500*time.Millisecond) // a failed once: down (first failure)
		m.mu.Lock()
		chA := m.services[vip].byAddr[a].checkers[0]
		chB := m.services[vip].byAddr[b].checkers[0]
		dueA := chA.due
		m.mu.Unlock()

		m.Apply(mk(a, b)) // identical
		m.mu.Lock()
		if m.services[vip].byAddr[a].checkers[0] != chA || chA.due != dueA || chA.isUp {
			t.Fatal("an identical Apply lost a checker's state or timer")
		}
		m.mu.Unlock()

		cfg2 := mk(a, c)
		cfg2.Services[0].Reals[0].Health.Checks[0].DelayLoop = 5 * time.Second // a's check changes
		m.Apply(cfg2)
		m.mu.Lock()
		chA2 := m.services[vip].byAddr[a].checkers[0]
		if chA2 == chA || !chB.removed || m.services[vip].byAddr[b] != nil {
			t.Fatal("a changed check must get a new checker and a removed real server's checker must stop")
		}
		// The new checker of a server that is down needs one failure only.
		if chA2.retryIt != 2 {
			t.Fatalf("retry_it %d, want 2", chA2.retryIt)
		}
		m.mu.Unlock()
		nb := fs.get(b).callCount()
		sleepUntil(start, 20*time.Second)
		if fs.get(b).callCount() != nb {
			t.Fatal("the removed real server is still probed")
		}
		if fs.get(c).callCount() == 0 {
			t.Fatal("the new real server is not probed")
		}
	})
}

// omega: at shutdown, notify_down for live real servers and quorum_down
// run (ipwrapper.c clear_service_rs / update_vs_notifies, stopping).
func TestOmegaOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		rec := &recorder{start: time.Now()}
		m := NewManager(Options{OnEvent: rec.on})
		m.newProber = fs.newProber
		a := ap("10.0.0.1:80")
		cfg := oneReal(a, false, config.Check{Type: config.CheckTCP, DelayLoop: time.Second})
		cfg.Services[0].Health.Omega = true
		cfg.Services[0].Health.QuorumDown = &config.Script{Command: "/bin/qdown"}
		plain := config.Service{ServiceKey: config.ServiceKey{Protocol: config.UDP, Address: ap("192.0.2.10:53")},
			Reals: []config.Real{{Address: ap("10.0.0.2:53"), Weight: 1}}}
		cfg.Services = append(cfg.Services, plain)
		m.Apply(cfg)
		if st := m.Status()[1].Reals[0].State; st != StateUnchecked {
			t.Fatalf("a real server without checks is %q, want %q", st, StateUnchecked)
		}
		stop := running(m)
		time.Sleep(2 * time.Second)
		stop()
		checkLines(t, "events", rec.lines(), []string{"T+0s quorum_up", "T+0s quorum_up", "T+2s real_down " + a.String(), "T+2s quorum_down"})
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if e := rec.evs[2]; e.Script == nil || e.Script.Command != "/bin/down" || e.Reason != "shutting down" {
			t.Fatalf("omega real_down %+v", e)
		}
		if e := rec.evs[3]; e.Script == nil || e.Script.Command != "/bin/qdown" || e.Service != vip {
			t.Fatalf("omega quorum_down %+v", e)
		}
	})
}

// ha_suspend: while not master the checkers do not probe and keep their
// state; they resume at their next delay_loop tick.
func TestHASuspend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		start := time.Now()
		m := NewManager(Options{})
		m.newProber = fs.newProber
		a := ap("10.0.0.1:80")
		cfg := oneReal(a, false, config.Check{Type: config.CheckTCP, DelayLoop: 2 * time.Second})
		cfg.Services[0].Health.HASuspend = true
		m.Apply(cfg)
		stop := running(m)
		defer stop()
		sleepUntil(start, 1500*time.Millisecond)
		m.SetHAState(false)
		fs.get(a).set(false, nil)
		sleepUntil(start, 8*time.Second)
		if !m.Status()[0].Suspended {
			t.Fatal("status does not show the suspension")
		}
		if _, ok := effective(m, cfg)[a]; !ok {
			t.Fatal("a suspended checker changed the state")
		}
		m.SetHAState(true)
		sleepUntil(start, 10*time.Second)
		checkLines(t, "attempts", offsets(start, fs.get(a).calls), []string{"1s", "9s"})
	})
}

// FILE_CHECK state follows the file: read at Apply, polled afterwards.
func TestFileCheckInManager(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		path := dir + "/w"
		writeFile := func(s string) {
			if err := osWriteFile(path, s); err != nil {
				t.Fatal(err)
			}
		}
		writeFile("3")
		m := NewManager(Options{})
		a := ap("10.0.0.1:80")
		cfg := oneReal(a, false, config.Check{Type: config.CheckFile, File: path, FileWeight: 2})
		cfg.Services[0].Reals[0].Weight = 10
		cfg.Services[0].Health.Alpha = true // no effect on FILE_CHECK
		m.Apply(cfg)
		if w := effective(m, cfg)[a]; w != 16 {
			t.Fatalf("weight %d at Apply, want 10+3×2", w)
		}
		stop := running(m)
		defer stop()
		writeFile("-2147483648")
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if _, ok := effective(m, cfg)[a]; ok {
			t.Fatal("a fault value left the server in the table")
		}
		writeFile("1")
		time.Sleep(time.Second)
		synctest.Wait()
		if w := effective(m, cfg)[a]; w != 12 {
			t.Fatalf("weight %d, want 10+1×2", w)
		}
	})
}

// Changed is signalled when the table may change.
func TestChangedSignal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := newFakes()
		m := NewManager(Options{})
		m.newProber = fs.newProber
		a := ap("10.0.0.1:80")
		cfg := oneReal(a, false, config.Check{Type: config.CheckTCP, DelayLoop: time.Second})
		m.Apply(cfg)
		<-m.Changed()
		stop := running(m)
		defer stop()
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		select {
		case <-m.Changed():
			t.Fatal("signalled without a change")
		default:
		}
		fs.get(a).set(false, nil)
		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case <-m.Changed():
		default:
			t.Fatal("no signal after the server went down")
		}
	})
}

// No goroutine outlives Run, with real probers against real servers.
func TestNoGoroutineLeak(t *testing.T) {
	srv := newRawServer(t, "tcp", "127.0.0.1:0", func(string) string { return httpOK("x") })
	silent := lineServer(t, func(c net.Conn) { time.Sleep(3 * time.Second) })
	cfg := &config.Config{Services: []config.Service{{ServiceKey: vip, Reals: []config.Real{
		{Address: srv.addr(), Weight: 1, Health: config.RealHealth{Checks: []config.Check{
			{Type: config.CheckHTTP, DelayLoop: 100 * time.Millisecond, ConnectTimeout: time.Second, URLs: []config.CheckURL{{Path: "/"}}},
			{Type: config.CheckTCP, DelayLoop: 100 * time.Millisecond, ConnectTimeout: time.Second},
		}}},
		// A check still in flight when Run ends: the server never answers.
		{Address: silent, Weight: 1, Health: config.RealHealth{Checks: []config.Check{
			{Type: config.CheckSMTP, DelayLoop: 100 * time.Millisecond, ConnectTimeout: 10 * time.Second},
		}}},
	}}}}
	var mu sync.Mutex
	var evs []Event
	m := NewManager(Options{OnEvent: func(e Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() }})
	m.Apply(cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	time.Sleep(1300 * time.Millisecond)
	if st := m.Status()[0].Reals[0].Checks[0]; !st.HasRun || !st.LastOK {
		t.Fatalf("HTTP check did not run: %+v", st)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return promptly with a probe in flight")
	}
	mu.Lock()
	for _, e := range evs {
		if e.Kind == RealDown {
			t.Errorf("the probe cut short by the shutdown took a server down: %+v", e)
		}
	}
	mu.Unlock()
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var leaked []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "internal/health.") && !strings.Contains(g, "_test.go") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Run:\n%s", strings.Join(leaked, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
