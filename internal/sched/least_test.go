package sched

import "testing"

// load is the state of one dest for the stateless schedulers' tests:
// weight, active and inactive connections, OVERLOAD (set through an upper
// threshold of 1 and one more inactive connection).
type load struct {
	name         string
	w            int32
	active, inac int
	overload     bool
}

// statelessPick builds a list in the given order (index 0 is the list head)
// and returns the named scheduler's pick.
func statelessPick(t *testing.T, sched string, loads []load) string {
	t.Helper()
	adds := make([]spec, 0, len(loads))
	for i := len(loads) - 1; i >= 0; i-- { // add in reverse: head insert
		l := loads[i]
		sp := w(l.name, l.w)
		if l.overload {
			sp.u = uint32(l.active + l.inac + 1)
		}
		adds = append(adds, sp)
	}
	s, m := newSvc(t, sched, 0, Options{}, adds...)
	for _, l := range loads {
		conns(m[l.name], l.active, l.inac)
		if l.overload {
			m[l.name].Bind(false)
			if !m[l.name].Overloaded() {
				t.Fatalf("%s not overloaded", l.name)
			}
		}
	}
	return nameOf(s.Schedule(&Key{}))
}

func TestLeastConnFamily(t *testing.T) {
	tests := []struct {
		name  string
		sched string
		loads []load // list order, head first
		want  string
	}{
		// ip_vs_lc.c: min (active<<8)+inactive, strict <: ties keep the first.
		{"lc tie keeps first (ip_vs_lc.c)", "lc", []load{{"C", 1, 0, 0, false}, {"B", 1, 0, 0, false}}, "C"},
		{"lc active weighs 256 inactive (ip_vs_lc.c)", "lc",
			[]load{{"C", 1, 1, 0, false}, {"B", 1, 0, 255, false}, {"A", 1, 0, 255, false}}, "B"},
		{"lc 256 inactive equals 1 active, first wins (ip_vs_lc.c)", "lc",
			[]load{{"C", 1, 1, 0, false}, {"B", 1, 0, 256, false}}, "C"},
		{"lc ignores weight except 0 (ip_vs_lc.c)", "lc",
			[]load{{"C", 100, 0, 2, false}, {"B", 0, 0, 0, false}, {"A", 1, 0, 1, false}}, "A"},
		{"lc skips OVERLOAD (ip_vs_lc.c)", "lc",
			[]load{{"C", 1, 0, 0, true}, {"B", 1, 0, 5, false}}, "B"},
		{"lc none (ip_vs_lc.c)", "lc", []load{{"C", 0, 0, 0, false}, {"B", 1, 0, 0, true}}, "-"},

		// ip_vs_wlc.c: min overhead/weight via loh*w_d > doh*w_least.
		// C 256/1, B 512/3 = 170.7, A 256/2 = 128.
		{"wlc weighted minimum (ip_vs_wlc.c)", "wlc",
			[]load{{"C", 1, 1, 0, false}, {"B", 3, 2, 0, false}, {"A", 2, 1, 0, false}}, "A"},
		{"wlc equal ratio keeps first (ip_vs_wlc.c)", "wlc",
			[]load{{"C", 2, 0, 2, false}, {"B", 1, 0, 1, false}}, "C"},
		{"wlc first candidate skips weight 0 (ip_vs_wlc.c)", "wlc",
			[]load{{"C", 0, 0, 0, false}, {"B", 1, 0, 10, false}, {"A", 1, 0, 10, false}}, "B"},
		{"wlc weight 0 never wins later (ip_vs_wlc.c)", "wlc",
			[]load{{"C", 1, 0, 5, false}, {"B", 0, 0, 0, false}}, "C"},
		{"wlc skips OVERLOAD (ip_vs_wlc.c)", "wlc",
			[]load{{"C", 1, 0, 0, true}, {"B", 5, 0, 50, false}, {"A", 1, 0, 20, false}}, "B"},
		{"wlc none (ip_vs_wlc.c)", "wlc", []load{{"C", 0, 0, 0, false}}, "-"},
		{"wlc 64-bit products do not overflow (ip_vs_wlc.c __s64)", "wlc",
			[]load{{"C", 2147483647, 0, 3, false}, {"B", 2147483646, 0, 3, false}}, "C"},

		// ip_vs_sed.c: (active+1)/weight, inactive ignored.
		// C: sed 2, wlc 256; B: sed 1, wlc 300.
		{"sed ignores inactive (ip_vs_sed.c)", "sed",
			[]load{{"C", 1, 1, 0, false}, {"B", 1, 0, 300, false}}, "B"},
		{"wlc on the same load picks C (ip_vs_wlc.c)", "wlc",
			[]load{{"C", 1, 1, 0, false}, {"B", 1, 0, 300, false}}, "C"},
		{"sed tie keeps first (ip_vs_sed.c)", "sed",
			[]load{{"C", 1, 0, 0, false}, {"B", 3, 2, 0, false}}, "C"},
		{"sed lower expected delay wins (ip_vs_sed.c)", "sed",
			[]load{{"C", 1, 0, 0, false}, {"B", 4, 2, 0, false}}, "B"},
		{"sed skips weight 0 and OVERLOAD (ip_vs_sed.c)", "sed",
			[]load{{"C", 0, 0, 0, false}, {"B", 9, 0, 0, true}, {"A", 1, 7, 0, false}}, "A"},

		// ip_vs_nq.c: first idle (active == 0) dest wins at once.
		{"nq first idle in list order (ip_vs_nq.c)", "nq",
			[]load{{"C", 1, 3, 0, false}, {"B", 1, 0, 0, false}, {"A", 10, 0, 0, false}}, "B"},
		{"nq idle ignores inactive (ip_vs_nq.c)", "nq",
			[]load{{"C", 5, 1, 0, false}, {"B", 1, 0, 1000, false}}, "B"},
		{"nq no idle: sed rule (ip_vs_nq.c)", "nq",
			[]load{{"C", 1, 1, 0, false}, {"B", 2, 2, 0, false}}, "B"},
		{"nq no idle: sed tie keeps first (ip_vs_nq.c)", "nq",
			[]load{{"C", 1, 1, 0, false}, {"B", 2, 3, 0, false}}, "C"},
		{"nq idle but weight 0 or OVERLOAD skipped (ip_vs_nq.c)", "nq",
			[]load{{"C", 0, 0, 0, false}, {"B", 1, 0, 0, true}, {"A", 1, 4, 0, false}}, "A"},

		// ip_vs_fo.c: highest weight, strictly greater replaces.
		{"fo highest weight, tie keeps first (ip_vs_fo.c)", "fo",
			[]load{{"C", 2, 0, 0, false}, {"B", 5, 9, 9, false}, {"A", 5, 0, 0, false}}, "B"},
		{"fo skips OVERLOAD (ip_vs_fo.c)", "fo",
			[]load{{"C", 2, 0, 0, false}, {"B", 5, 0, 0, true}, {"A", 5, 0, 0, false}}, "A"},
		{"fo all weight 0 (ip_vs_fo.c)", "fo", []load{{"C", 0, 0, 0, false}}, "-"},

		// ip_vs_ovf.c: highest weight with active <= weight.
		{"ovf overflows past active > weight (ip_vs_ovf.c)", "ovf",
			[]load{{"C", 2, 3, 0, false}, {"B", 1, 1, 0, false}, {"A", 1, 0, 0, false}}, "B"},
		{"ovf active == weight still takes (ip_vs_ovf.c)", "ovf",
			[]load{{"C", 2, 2, 0, false}, {"B", 1, 0, 0, false}}, "C"},
		{"ovf inactive ignored (ip_vs_ovf.c)", "ovf",
			[]load{{"C", 2, 0, 500, false}, {"B", 1, 0, 0, false}}, "C"},
		{"ovf all over (ip_vs_ovf.c)", "ovf",
			[]load{{"C", 1, 2, 0, false}, {"B", 0, 0, 0, false}, {"A", 3, 0, 0, true}}, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := statelessPick(t, tc.sched, tc.loads); got != tc.want {
				t.Fatalf("%s picked %s, want %s", tc.sched, got, tc.want)
			}
		})
	}
}

// A wlc service fed by its own picks spreads by weight: with A3,B1 every
// pick goes to the minimum of overhead/weight, ties to the list head (B).
func TestWLC_IPVSWLCc_BindsSpreadByWeight(t *testing.T) {
	s, _ := newSvc(t, "wlc", 0, Options{}, w("A", 3), w("B", 1)) // list B,A
	got := ""
	for range 8 {
		d := s.Schedule(&Key{})
		d.Bind(false)
		got += nameOf(d)
	}
	// overhead (inactive) B/1 vs A/3: 0/0 → B; 1 vs 0 → A; 1 vs 1/3 → A;
	// 1 vs 2/3 → A; 1 vs 1 → tie B; 2 vs 1 → A; 2 vs 4/3 → A; 2 vs 5/3 → A.
	if want := "BAAABAAA"; got != want {
		t.Fatalf("picks = %s, want %s", got, want)
	}
}
