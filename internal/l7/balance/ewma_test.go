package balance

import (
	"errors"
	"math"
	"testing"
	"time"
)

// answer runs one request on peer name's selection lasting d.
func answer(t *testing.T, b Balancer, clk *fakeClock, d time.Duration, ok bool) string {
	t.Helper()
	s, err := b.Pick(&Request{})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(d)
	name := s.Peer().Name
	s.Done(ok)
	return name
}

// TestPeakEWMA follows Finagle's PeakEwma: a sample above the estimate
// replaces it at once; below, the estimate moves towards it with weight
// 1-exp(-elapsed/Decay); reads decay it towards zero.
func TestPeakEWMA(t *testing.T) {
	clk := newClock()
	// draws: Rand(2)=0 then Rand(1)=0 → first a, second b
	b := mustNew(t, Config{Method: PeakEWMA}, letters(1, 1), Options{Now: clk.Now, Rand: scripted(0)}).(*ewma)
	a := &b.p[0]
	if a.cost != float64(30*time.Millisecond) {
		t.Fatalf("initial estimate %v, want DefaultRTT 30ms", time.Duration(a.cost))
	}
	// equal estimates, no load: the first draw wins the tie
	s, _ := b.Pick(&Request{})
	if s.Peer().Name != "a" {
		t.Fatalf("tie: %s", s.Peer().Name)
	}
	clk.Add(200 * time.Millisecond)
	s.Done(true)
	if a.cost != float64(200*time.Millisecond) {
		t.Fatalf("peak: %v, want 200ms", time.Duration(a.cost))
	}
	// b (30ms, idle) beats a (200ms) now
	if got := answer(t, b, clk, 10*time.Millisecond, true); got != "b" {
		t.Fatalf("got %s, want the faster b", got)
	}
	// a 10ms sample one decay period (10s) after a 200ms estimate:
	// 200*e^-1 + 10*(1-e^-1)
	a.cost, a.stamp = float64(200*time.Millisecond), clk.Now().UnixNano()
	clk.Add(10 * time.Second)
	b.observe(a, clk.Now().UnixNano(), float64(10*time.Millisecond))
	want := 200*math.Exp(-1) + 10*(1-math.Exp(-1))
	if got := a.cost / float64(time.Millisecond); math.Abs(got-want) > 0.01 {
		t.Errorf("decayed estimate %.3fms, want %.3fms", got, want)
	}
}

// TestPeakEWMALoad: the load is estimate × (in flight + 1) over the
// weight, so a busy or light peer loses to an idle or heavy one.
func TestPeakEWMALoad(t *testing.T) {
	clk := newClock()
	b := mustNew(t, Config{Method: PeakEWMA}, letters(1, 1), Options{Now: clk.Now, Rand: scripted(0)})
	held, _ := b.Pick(&Request{}) // a: one in flight
	if held.Peer().Name != "a" {
		t.Fatal("a first")
	}
	if got := pickName(t, b, &Request{}); got != "b" {
		t.Errorf("a busy: %s, want b", got)
	}
	held.Done(true)

	w := mustNew(t, Config{Method: PeakEWMA}, letters(1, 3), Options{Now: clk.Now, Rand: scripted(0)})
	s1, _ := w.Pick(&Request{}) // equal idle loads, weight 3 divides b's: b
	if s1.Peer().Name != "b" {
		t.Fatalf("weights 1,3: %s, want b", s1.Peer().Name)
	}
	// b with one in flight: 2×30/3 = 20 < a's 30/1: b again
	s2, _ := w.Pick(&Request{})
	if s2.Peer().Name != "b" {
		t.Errorf("b 2/3 loaded vs a 1: %s, want b", s2.Peer().Name)
	}
	// b with two: 3×30/3 = 30, a tie won by the first draw, a
	if got := pickName(t, w, &Request{}); got != "a" {
		t.Errorf("tie: %s, want a (first draw)", got)
	}
	s1.Done(true)
	s2.Done(true)
}

// TestPeakEWMAFailurePenalty: a fast failure is recorded as FailurePenalty
// so a failing peer does not attract traffic.
func TestPeakEWMAFailurePenalty(t *testing.T) {
	clk := newClock()
	b := mustNew(t, Config{Method: PeakEWMA}, letters(1, 1), Options{Now: clk.Now, Rand: scripted(0)}).(*ewma)
	if got := answer(t, b, clk, time.Millisecond, false); got != "a" {
		t.Fatal("a first")
	}
	if b.p[0].cost != float64(time.Second) {
		t.Errorf("failed in 1ms: estimate %v, want the 1s penalty", time.Duration(b.p[0].cost))
	}
	for i := 0; i < 5; i++ {
		if got := answer(t, b, clk, 40*time.Millisecond, true); got != "b" {
			t.Fatalf("after a's failure: %s, want b", got)
		}
	}
}

// TestPeakEWMASlowStart: a peer coming back ramps its weight over
// SlowStart (HAProxy's formula), so it is avoided at first.
func TestPeakEWMASlowStart(t *testing.T) {
	clk := newClock()
	peers := letters(1, 1)
	peers[1].SlowStart = 10 * time.Second
	b := mustNew(t, Config{Method: PeakEWMA}, peers, Options{Now: clk.Now, Rand: scripted(1, 0)}).(*ewma)
	b.SetDown(1, true)
	b.SetDown(1, false)
	// draws: b first, a second; b's load is 16× (ramp 1/16)
	if got := pickName(t, b, &Request{}); got != "a" {
		t.Errorf("b just up: %s, want a", got)
	}
	clk.Add(10 * time.Second)
	if got := pickName(t, b, &Request{}); got != "b" {
		t.Errorf("b after slow start: %s, want b (first draw, equal loads)", got)
	}
}

func TestPeakEWMARetryAndDown(t *testing.T) {
	b := mustNew(t, Config{Method: PeakEWMA}, letters(1, 1, 1), Options{})
	s, err := b.Pick(&Request{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{s.Peer().Name: true}
	for s.Retry(true) == nil {
		if seen[s.Peer().Name] {
			t.Fatalf("retry went back to %s", s.Peer().Name)
		}
		seen[s.Peer().Name] = true
	}
	if len(seen) != 3 {
		t.Errorf("retries tried %d peers, want 3", len(seen))
	}
	for i := 0; i < 3; i++ {
		b.(Marker).SetDown(i, true)
	}
	if _, err := b.Pick(&Request{}); !errors.Is(err, ErrNoLiveUpstreams) {
		t.Errorf("all down: %v", err)
	}
}
