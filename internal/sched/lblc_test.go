package sched

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set moves the clock to d after its start.
func (c *fakeClock) Set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = time.Unix(1_700_000_000, 0).Add(d)
}

func dstKey(s string) *Key {
	return &Key{Dst: netip.MustParseAddr(s), Src: netip.MustParseAddr("198.51.100.1")}
}

func TestLBLC_IPVSLBLCc_RemembersDestination(t *testing.T) {
	clk := newFakeClock()
	s, m := newSvc(t, "lblc", 0, Options{Now: clk.Now}, w("A", 1), w("B", 1), w("C", 1)) // C,B,A
	x, y := dstKey("203.0.113.10"), dstKey("203.0.113.20")
	pick := func(k *Key) string { return nameOf(s.Schedule(k)) }

	if got := pick(x); got != "C" { // no entry: wlc, tie → list head
		t.Fatalf("x first → %s, want C", got)
	}
	conns(m["C"], 0, 3) // wlc would now avoid C
	if got := pick(x); got != "C" {
		t.Fatalf("x cached → %s, want C", got)
	}
	if got := pick(y); got != "B" { // new entry: wlc over C(3),B(0),A(0)
		t.Fatalf("y → %s, want B", got)
	}

	// lblc's own overload test: C has more active conns than its weight
	// while some dest is under half its weight → reschedule with wlc.
	conns(m["C"], 2, 0)             // C: active 2 > weight 1; A: 0*2 < 1
	if got := pick(x); got != "B" { // wlc: C 2*256+3, B 0, A 0 → B first
		t.Fatalf("x with C overloaded (lblc sense) → %s, want B", got)
	}
	if got := pick(y); got != "B" {
		t.Fatalf("y cached → %s, want B", got)
	}
}

func TestLBLC_IPVSLBLCc_CacheValidity(t *testing.T) {
	tests := []struct {
		name string
		prep func(t *testing.T, s *Service, m map[string]*Dest)
		want string // pick for the cached key, cached dest C
	}{
		{"valid entry is kept", func(*testing.T, *Service, map[string]*Dest) {}, "C"},
		{"weight 0 reschedules", func(t *testing.T, s *Service, _ map[string]*Dest) {
			if err := s.EditDest(addrOf("C"), 0, 0, 0); err != nil {
				t.Fatal(err)
			}
		}, "B"},
		{"deleted (not AVAILABLE) reschedules", func(t *testing.T, s *Service, _ map[string]*Dest) {
			if err := s.DelDest(addrOf("C")); err != nil {
				t.Fatal(err)
			}
		}, "B"},
		{"active > weight with a dest under half its weight reschedules", func(_ *testing.T, _ *Service, m map[string]*Dest) {
			conns(m["C"], 2, 0)
		}, "B"},
		{"active > weight but every dest at least half loaded keeps", func(_ *testing.T, _ *Service, m map[string]*Dest) {
			conns(m["C"], 2, 0)
			conns(m["B"], 1, 0) // 1*2 >= 1
			conns(m["A"], 1, 0)
		}, "C"},
		// is_overloaded of ip_vs_lblc.c does not look at
		// IP_VS_DEST_F_OVERLOAD: a cached dest past its upper threshold is
		// still used.
		{"OVERLOAD flag alone keeps the cached dest", func(t *testing.T, s *Service, m map[string]*Dest) {
			if err := s.EditDest(addrOf("C"), 1, 1, 0); err != nil {
				t.Fatal(err)
			}
			m["C"].Bind(false)
			if !m["C"].Overloaded() {
				t.Fatal("C not OVERLOAD")
			}
		}, "C"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, m := newSvc(t, "lblc", 0, Options{Now: newFakeClock().Now}, w("A", 1), w("B", 1), w("C", 1))
			x := dstKey("203.0.113.10")
			if got := nameOf(s.Schedule(x)); got != "C" {
				t.Fatalf("first pick %s", got)
			}
			tc.prep(t, s, m)
			if got := nameOf(s.Schedule(x)); got != tc.want {
				t.Fatalf("pick = %s, want %s", got, tc.want)
			}
			// A rescheduled entry now remembers the new dest.
			if got := nameOf(s.Scheduler().(*lblc).c.get(x.Dst).val.Load()); got != tc.want {
				t.Fatalf("cache holds %s, want %s", got, tc.want)
			}
		})
	}
}

func TestLBLC_IPVSLBLCc_FullExpirationCheck(t *testing.T) {
	// ip_vs_lblc_check_expire runs every 60 s; every 30th run (while the
	// table is within max_size) is a full check dropping entries unused for
	// lblc_expiration (24 h): full checks at 30, 60, ... minutes.
	clk := newFakeClock()
	s, _ := newSvc(t, "lblc", 0, Options{Now: clk.Now}, w("A", 1))
	c := s.Scheduler().(*lblc).c
	x, y := dstKey("203.0.113.10"), dstKey("203.0.113.20")
	s.Schedule(x)
	s.Schedule(y)
	clk.Set(10 * time.Hour)
	s.Schedule(x) // x used again
	gcAt := func(d time.Duration) {
		clk.Set(d)
		c.maybeGC(c.now())
	}
	gcAt(24*time.Hour - time.Second) // last full check at 23:30
	if c.len() != 2 {
		t.Fatalf("entries at 23:59:59 = %d, want 2", c.len())
	}
	gcAt(24 * time.Hour) // full check at 24:00: y idle exactly 24 h
	if c.get(y.Dst) != nil || c.get(x.Dst) == nil {
		t.Fatalf("at 24:00 y present=%v x present=%v, want y gone, x kept", c.get(y.Dst) != nil, c.get(x.Dst) != nil)
	}
	gcAt(34*time.Hour - time.Second)
	if c.get(x.Dst) == nil {
		t.Fatal("x gone before 34:00")
	}
	gcAt(34 * time.Hour)
	if c.len() != 0 {
		t.Fatalf("entries at 34:00 = %d, want 0", c.len())
	}
}

func TestLBLC_IPVSLBLCc_ExpirationOption(t *testing.T) {
	clk := newFakeClock()
	s, _ := newSvc(t, "lblc", 0, Options{Now: clk.Now, Expiration: time.Hour}, w("A", 1))
	c := s.Scheduler().(*lblc).c
	s.Schedule(dstKey("203.0.113.10"))
	clk.Set(59 * time.Minute) // full check at 30 min: idle 30 min < 1 h
	c.maybeGC(c.now())
	if c.len() != 1 {
		t.Fatal("entry dropped before the expiration")
	}
	clk.Set(time.Hour) // full check at 60 min
	c.maybeGC(c.now())
	if c.len() != 0 {
		t.Fatal("entry kept past the expiration")
	}
}

func TestLBLC_IPVSLBLCc_PartialCollectionOverMaxSize(t *testing.T) {
	// Over max_size (16*1024 entries) each 60 s run removes entries idle for
	// ENTRY_TIMEOUT (6 min), whole buckets at a time from the rover, until
	// 4/3 of the excess went.
	clk := newFakeClock()
	s, _ := newSvc(t, "lblc", 0, Options{Now: clk.Now}, w("A", 1))
	c := s.Scheduler().(*lblc).c
	const extra = 300
	n := cacheMaxSize + extra
	for i := range n {
		s.Schedule(&Key{Dst: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})})
	}
	if c.len() != n {
		t.Fatalf("entries = %d, want %d", c.len(), n)
	}
	var before [cacheTabSize]int
	for b := range c.buckets {
		before[b] = len(c.buckets[b])
	}
	clk.Set(6*time.Minute - time.Second) // runs at 1..5 min: nothing idle 6 min
	c.maybeGC(c.now())
	if c.len() != n {
		t.Fatalf("entries at 5:59 = %d, want %d", c.len(), n)
	}
	clk.Set(6 * time.Minute)
	c.maybeGC(c.now())
	removed := n - c.len()
	goal := extra * 4 / 3
	if removed < goal {
		t.Fatalf("removed %d, want at least %d", removed, goal)
	}
	// Buckets 1..rover were emptied (the rover started at 0 and a sweep
	// begins after it); the others are untouched; the last bucket pushed
	// the count over the goal.
	if c.rover < 1 {
		t.Fatalf("rover = %d", c.rover)
	}
	sum := 0
	for b := range c.buckets {
		switch {
		case b >= 1 && b <= c.rover:
			if len(c.buckets[b]) != 0 {
				t.Fatalf("bucket %d not emptied", b)
			}
			sum += before[b]
		case len(c.buckets[b]) != before[b]:
			t.Fatalf("bucket %d outside the sweep changed", b)
		}
	}
	if sum != removed || removed-before[c.rover] >= goal {
		t.Fatalf("removed %d from buckets 1..%d (sum %d); goal %d reached before the last bucket", removed, c.rover, sum, goal)
	}
}

func TestLBLC_HardLimitUsesDestWithoutCaching(t *testing.T) {
	s, _ := newSvc(t, "lblc", 0, Options{Now: newFakeClock().Now}, w("A", 1), w("B", 1))
	c := s.Scheduler().(*lblc).c
	c.hardLimit = 5
	for i := range 10 {
		if d := s.Schedule(&Key{Dst: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}); d == nil {
			t.Fatalf("pick %d returned nil", i)
		}
	}
	if c.len() != 5 {
		t.Fatalf("entries = %d, want the limit 5", c.len())
	}
}

func TestLBLCR_IPVSLBLCRc_ServerSet(t *testing.T) {
	clk := newFakeClock()
	s, m := newSvc(t, "lblcr", 0, Options{Now: clk.Now, Expiration: time.Hour}, w("A", 1), w("B", 1), w("C", 1))
	set := func(k *Key) string { return listNames(s.Scheduler().(*lblcr).c.get(k.Dst).val.members()) }
	x := dstKey("203.0.113.10")
	pick := func() string { return nameOf(s.Schedule(x)) }

	if got := pick(); got != "C" { // wlc over C,B,A all idle
		t.Fatalf("first → %s", got)
	}
	conns(m["C"], 2, 0) // C: active 2 > weight 1, A and B under half
	if got := pick(); got != "B" {
		t.Fatalf("C overloaded (lblc sense) → %s, want wlc pick B", got)
	}
	if got := set(x); got != "B,C" { // list_add_rcu: newest first
		t.Fatalf("set = %s, want B,C", got)
	}
	if got := pick(); got != "B" { // set_min: B (0) beats C (512)
		t.Fatalf("→ %s, want B", got)
	}
	// Keep the entry in use so the full checks at 30 and 60 min keep it.
	clk.Set(30 * time.Minute)
	pick()
	clk.Set(59 * time.Minute)
	pick()
	// Set unchanged for more than lblcr_expiration (1 h here, strictly
	// after): the most loaded member per weight (C) leaves.
	clk.Set(time.Hour)
	pick()
	if got := set(x); got != "B,C" {
		t.Fatalf("set at exactly lastmod+expiration = %s, want B,C", got)
	}
	clk.Set(time.Hour + time.Second)
	if got := pick(); got != "B" {
		t.Fatalf("→ %s, want B", got)
	}
	if got := set(x); got != "B" {
		t.Fatalf("set after expiry = %s, want B", got)
	}
	// A member that left the service is not picked (not AVAILABLE): wlc
	// over C(512),A(0) → A, added to the set.
	if err := s.DelDest(addrOf("B")); err != nil {
		t.Fatal(err)
	}
	if got := pick(); got != "A" {
		t.Fatalf("after deleting B → %s, want A", got)
	}
	if got := set(x); got != "A,B" {
		t.Fatalf("set = %s, want A,B", got)
	}
}

func TestLBLCR_IPVSLBLCRc_SetMinMax(t *testing.T) {
	mk := func(name string, wt int32, active int) *Dest {
		d := NewDest(addrOf(name), wt, 0, 0)
		d.setFlag(DestAvailable)
		conns(d, active, 0)
		return d
	}
	a, b, c := mk("A", 2, 2), mk("B", 1, 1), mk("C", 4, 4) // all 128 per weight
	var ds destSet
	for _, d := range []*Dest{a, b, c} { // list C,B,A
		ds.insertLocked(d, false, 0)
	}
	// Equal load: set_min keeps the first (C), set_max the first (C).
	if got := nameOf(ds.min()); got != "C" {
		t.Errorf("min = %s, want C", got)
	}
	if got := nameOf(ds.max()); got != "C" {
		t.Errorf("max = %s, want C", got)
	}
	conns(b, 1, 0) // B: 512/1
	if got := nameOf(ds.max()); got != "B" {
		t.Errorf("max = %s, want B", got)
	}
	// set_max ignores flags but skips weight 0; set_min skips both.
	c.weight.Store(0)
	if got := nameOf(ds.min()); got != "A" {
		t.Errorf("min with C weight 0 = %s, want A", got)
	}
	ds.insertLocked(b, true, 0) // already a member: no change
	if got := listNames(ds.members()); got != "C,B,A" {
		t.Errorf("members = %s", got)
	}
	ds.eraseLocked(b, 5)
	if got := listNames(ds.members()); got != "C,A" || ds.lastmod.Load() != 5 {
		t.Errorf("after erase members = %s lastmod = %d", got, ds.lastmod.Load())
	}
}
