package sched

import (
	"strings"
	"testing"
)

func repeat(s string, n int) string {
	return strings.TrimSpace(strings.Repeat(s+" ", n))
}

// Sequences derived by hand from ip_vs_wrr_schedule and
// ip_vs_wrr_dest_changed (see the comments for the state after each step).
func TestWRR_IPVSWRRc_KernelRealSequenceAfterAdds(t *testing.T) {
	// ipvsadm -A -s wrr (init: mw=0, cw=0); -a A -w4: di=4, mw=4-3=1, cw=0
	// so cw=mw=1; -a B -w3: di=1, mw=4, cw=1 kept; -a C -w2: same, cw=1.
	// List C,B,A, cursor at head. Pass cw=1: C B A; cw=4: A; cw=3: B A;
	// cw=2: C B A; then cw=1 again: the 9-pick cycle repeats from the start.
	s, _ := newSvc(t, "wrr", 0, Options{}, w("A", 4), w("B", 3), w("C", 2))
	want := repeat("C B A A B A C B A", 3)
	if got := picks(s, 27, &Key{}); got != want {
		t.Fatalf("picks =\n%s\nwant\n%s", got, want)
	}
}

func TestWRR_IPVSWRRc_InitServiceStartsAtMaxWeight(t *testing.T) {
	// ipvsadm -E -s wrr on an existing list: ip_vs_wrr_init_svc sets cw=mw=4.
	// cw=4: A; cw=3: B A; cw=2: C B A; cw=1: C B A.
	s, _ := newSvc(t, "rr", 0, Options{}, w("A", 4), w("B", 3), w("C", 2))
	if err := s.SetScheduler("wrr", 0); err != nil {
		t.Fatal(err)
	}
	want := repeat("A B A C B A C B A", 2)
	if got := picks(s, 18, &Key{}); got != want {
		t.Fatalf("picks = %s, want %s", got, want)
	}
}

func TestWRR_IPVSWRRc_Cases(t *testing.T) {
	tests := []struct {
		name  string
		adds  []spec
		prep  func(m map[string]*Dest)
		fresh bool // switch to wrr after the adds (init_service path)
		n     int
		want  string
	}{
		// List A,B,C (added C, B, A). Adds: C1 sets cw=mw=1, later adds keep
		// cw=1, so the first pass (cw=1) is A B C, then cw=5..1: A A A A A B C.
		{"A5,B1,C1 after adds", []spec{w("C", 1), w("B", 1), w("A", 5)}, nil, false, 17,
			"A B C " + repeat("A A A A A B C", 2)},
		{"A5,B1,C1 fresh", []spec{w("C", 1), w("B", 1), w("A", 5)}, nil, true, 14,
			repeat("A A A A A B C", 2)},
		// A4 OVERLOAD, B3, C2 (list A,B,C), fresh cw=4: nothing; cw=3: B;
		// cw=2: B C; cw=1: B C; then restart at cw=4 (nothing), cw=3: B ...
		{"A4 OVERLOAD,B3,C2 fresh", []spec{w("C", 2), w("B", 3), {"A", 4, 1, 0}},
			func(m map[string]*Dest) { m["A"].Bind(false) }, true, 15, repeat("B B C B C", 3)},
		// A4,B0,C2 (list A,B,C): gcd 2, mw = 4-1 = 3; cw=3: A; cw=1: A C;
		// cw=-1 → 3.
		{"A4,B0,C2 fresh", []spec{w("C", 2), w("B", 0), w("A", 4)}, nil, true, 9, repeat("A A C", 3)},
		{"all weights 0", []spec{w("A", 0), w("B", 0)}, nil, true, 3, "- - -"},
		{"empty", nil, nil, true, 2, "- -"},
		// All dests OVERLOAD: the last pass checks every dest for w >= 1 and
		// gives up instead of looping.
		{"all OVERLOAD", []spec{{"A", 2, 1, 0}, {"B", 1, 1, 0}},
			func(m map[string]*Dest) { m["A"].Bind(false); m["B"].Bind(false) }, true, 3, "- - -"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sched := "wrr"
			if tc.fresh {
				sched = "rr"
			}
			s, m := newSvc(t, sched, 0, Options{}, tc.adds...)
			if tc.prep != nil {
				tc.prep(m)
			}
			if tc.fresh {
				if err := s.SetScheduler("wrr", 0); err != nil {
					t.Fatal(err)
				}
			}
			if got := picks(s, tc.n, &Key{}); got != tc.want {
				t.Fatalf("picks = %q, want %q", got, tc.want)
			}
		})
	}
}

// The stop rule of ip_vs_wrr_schedule when the cursor is in the middle of
// the list and everything becomes OVERLOAD: the scan restarts, runs a last
// pass with cw <= di up to the old cursor and returns nil.
func TestWRR_IPVSWRRc_AllOverloadFromMidListTerminates(t *testing.T) {
	s, m := newSvc(t, "rr", 0, Options{}, spec{"C", 1, 1, 0}, spec{"B", 3, 1, 0}, spec{"A", 2, 1, 0})
	if err := s.SetScheduler("wrr", 0); err != nil {
		t.Fatal(err)
	}
	// list A2,B3,C1: cw=3: B. Cursor on B (middle).
	if got := picks(s, 1, &Key{}); got != "B" {
		t.Fatalf("first pick %s", got)
	}
	for _, d := range m {
		d.Bind(false)
	}
	if got := picks(s, 4, &Key{}); got != "- - - -" {
		t.Fatalf("picks = %q, want no destination", got)
	}
	// Unbinding C (lower threshold unset, u=1: 0*4 < 3) makes it eligible
	// again, and wrr finds it.
	m["C"].Unbind(false, false)
	if got := picks(s, 2, &Key{}); got != "C C" {
		t.Fatalf("picks = %q, want C C", got)
	}
}

// ip_vs_wrr_dest_changed keeps cw across an update but, when the gcd is
// above 1, aligns it to (cw/di)*di + 1.
func TestWRR_IPVSWRRc_DestChangedAlignsCurrentWeight(t *testing.T) {
	s, _ := newSvc(t, "rr", 0, Options{}, w("B", 3), w("A", 4)) // list A,B
	if err := s.SetScheduler("wrr", 0); err != nil {
		t.Fatal(err)
	}
	// cw=4: A; cw=3: A B; cw=2: A (stop here with cw=2, cursor on A).
	if got := picks(s, 4, &Key{}); got != "A A B A" {
		t.Fatalf("picks = %s", got)
	}
	// B -> 2: di=2, mw=3, cw=2 becomes (2/2)*2+1 = 3 and the cursor goes
	// back to the head. cw=3: A; cw=1: A B; cw=3: A ...
	if err := s.EditDest(addrOf("B"), 2, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := picks(s, 6, &Key{}); got != "A A B A A B" {
		t.Fatalf("picks after update = %q, want %q (cw kept at 2 would give A B A A B ...)", got, "A A B A A B")
	}
	// The picks above leave cw=1. A -> 1 gives A1,B2: di=1, mw=2, cw=1 is
	// kept (neither above mw nor 0, di=1) and the cursor goes to the head:
	// cw=1: A B; cw=2: B; cw=1: A B.
	if err := s.EditDest(addrOf("A"), 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := picks(s, 5, &Key{}); got != "A B B A B" {
		t.Fatalf("picks after second update = %q", got)
	}
}
