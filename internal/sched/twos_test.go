package sched

import (
	"slices"
	"testing"
)

// seqRand returns the draws in order and records the bounds it was asked
// for.
type seqRand struct {
	draws  []uint32
	bounds []uint32
}

func (r *seqRand) below(n uint32) uint32 {
	r.bounds = append(r.bounds, n)
	v := r.draws[0]
	r.draws = r.draws[1:]
	return v
}

// List C1,B2,A3 (added A3, B2, C1): total = 6 + 1 = 7, draws in [0,7).
// Walking C,B,A and subtracting weights, a draw lands on the first dest
// where it drops to <= 0: r in {0,1} → C, {2,3} → B, {4,5,6} → A.
func TestTWOS_IPVSTWOSc_Choices(t *testing.T) {
	tests := []struct {
		name   string
		r1, r2 uint32
		prep   func(m map[string]*Dest)
		want   string
	}{
		{"r=0 lands on the first dest", 0, 0, nil, "C"},
		{"r=1 still C", 1, 1, nil, "C"},
		{"r=2 and r=3 are B", 2, 3, nil, "B"},
		{"r=6 (total-1) is the last dest", 6, 6, nil, "A"},
		{"equal load keeps choice1", 0, 5, nil, "C"},
		{"choice2 wins when strictly less loaded per weight", 0, 5,
			func(m map[string]*Dest) { conns(m["C"], 1, 0) }, "A"},
		// C oh 1 w1 vs A oh 3 w3: 3*1 > 1*3 is false → choice1.
		{"equal ratio keeps choice1", 0, 5,
			func(m map[string]*Dest) { conns(m["C"], 0, 1); conns(m["A"], 0, 3) }, "C"},
		{"choice1 less loaded stays", 5, 0,
			func(m map[string]*Dest) { conns(m["C"], 0, 9) }, "A"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &seqRand{draws: []uint32{tc.r1, tc.r2}}
			s, m := newSvc(t, "twos", 0, Options{Rand: r.below}, w("A", 3), w("B", 2), w("C", 1))
			if tc.prep != nil {
				tc.prep(m)
			}
			if got := nameOf(s.Schedule(&Key{})); got != tc.want {
				t.Fatalf("pick = %s, want %s", got, tc.want)
			}
			if !slices.Equal(r.bounds, []uint32{7, 7}) {
				t.Fatalf("draw bounds = %v, want [7 7] (get_random_u32_below(total+1))", r.bounds)
			}
		})
	}
}

func TestTWOS_IPVSTWOSc_SkipsIneligible(t *testing.T) {
	// C weight 0 and B OVERLOAD drop out of the total: 3 + 1 = 4.
	r := &seqRand{draws: []uint32{0, 3}}
	s, m := newSvc(t, "twos", 0, Options{Rand: r.below}, w("A", 3), spec{"B", 2, 1, 0}, w("C", 0))
	m["B"].Bind(false)
	if got := nameOf(s.Schedule(&Key{})); got != "A" {
		t.Fatalf("pick = %s, want A", got)
	}
	if !slices.Equal(r.bounds, []uint32{4, 4}) {
		t.Fatalf("bounds = %v, want [4 4]", r.bounds)
	}
	none, _ := newSvc(t, "twos", 0, Options{Rand: r.below}, w("A", 0))
	if got := none.Schedule(&Key{}); got != nil {
		t.Fatalf("no eligible dest → %s", nameOf(got))
	}
	if len(r.bounds) != 2 {
		t.Fatal("random drawn without an eligible dest")
	}
}

func TestTWOS_DefaultRandomSourceSpreadsByWeight(t *testing.T) {
	s, _ := newSvc(t, "twos", 0, Options{}, w("A", 3), w("B", 1))
	seen := map[string]int{}
	for range 400 {
		seen[nameOf(s.Schedule(&Key{}))]++
	}
	// Unloaded dests: choice1 always wins, drawn with weights 3+1 over a
	// total of 5 where r=0 also lands on the head (B): P(B) = 2/5. Both
	// must show up; nothing else may.
	if len(seen) != 2 || seen["A"] == 0 || seen["B"] == 0 {
		t.Fatalf("picks = %v", seen)
	}
}
