package sched

import "testing"

// Sequences derived from ip_vs_rr_schedule: the cursor starts at the list
// head, each pick is the next dest after the cursor with weight > 0 and no
// OVERLOAD, wrapping; -a A; -a B; -a C gives the list C,B,A.
func TestRR_IPVSRRc_Sequences(t *testing.T) {
	tests := []struct {
		name string
		adds []spec
		prep func(m map[string]*Dest)
		n    int
		want string
	}{
		{"list C,B,A", []spec{w("A", 1), w("B", 1), w("C", 1)}, nil, 6, "C B A C B A"},
		{"B weight 0 is quiesced", []spec{w("A", 1), w("B", 0), w("C", 1)}, nil, 4, "C A C A"},
		{"weights other than 0 do not matter", []spec{w("A", 5), w("B", 1), w("C", 9)}, nil, 6, "C B A C B A"},
		{"B OVERLOAD is skipped", []spec{w("A", 1), {"B", 1, 1, 0}, w("C", 1)},
			func(m map[string]*Dest) { m["B"].Bind(false) }, 4, "C A C A"},
		{"single eligible dest repeats", []spec{w("A", 0), w("B", 3), w("C", 0)}, nil, 3, "B B B"},
		{"all weight 0: no destination", []spec{w("A", 0), w("B", 0)}, nil, 2, "- -"},
		{"empty service", nil, nil, 1, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, m := newSvc(t, "rr", 0, Options{}, tc.adds...)
			if tc.prep != nil {
				tc.prep(m)
			}
			if got := picks(s, tc.n, &Key{}); got != tc.want {
				t.Fatalf("picks = %q, want %q", got, tc.want)
			}
		})
	}
}

// ip_vs_rr_del_dest: when the dest under the cursor is deleted the cursor
// moves to its predecessor, so the rotation goes on with its successor.
func TestRR_IPVSRRc_DelDestMovesCursorToPredecessor(t *testing.T) {
	s, _ := newSvc(t, "rr", 0, Options{}, w("A", 1), w("B", 1), w("C", 1), w("D", 1))
	// list D,C,B,A
	if got := picks(s, 2, &Key{}); got != "D C" {
		t.Fatalf("picks = %s", got)
	}
	if err := s.DelDest(addrOf("C")); err != nil { // cursor on C → D
		t.Fatal(err)
	}
	if got := picks(s, 4, &Key{}); got != "B A D B" {
		t.Errorf("after deleting the cursor dest picks = %q, want %q", got, "B A D B")
	}
	// Deleting the head dest while the cursor is on it puts the cursor at
	// the list head.
	s2, _ := newSvc(t, "rr", 0, Options{}, w("A", 1), w("B", 1), w("C", 1))
	picks(s2, 1, &Key{}) // C
	if err := s2.DelDest(addrOf("C")); err != nil {
		t.Fatal(err)
	}
	if got := picks(s2, 3, &Key{}); got != "B A B" {
		t.Errorf("after deleting the head cursor dest picks = %q, want %q", got, "B A B")
	}
}

// rr has no add_dest hook: a list pointer cursor stays on its dest when a
// new dest is inserted at the head, which is reached only on wrap-around.
func TestRR_IPVSRRc_AddKeepsCursor(t *testing.T) {
	s, _ := newSvc(t, "rr", 0, Options{}, w("A", 1), w("B", 1), w("C", 1))
	if got := picks(s, 1, &Key{}); got != "C" {
		t.Fatal(got)
	}
	if _, err := s.AddDest(addrOf("D"), 1, 0, 0); err != nil { // list D,C,B,A
		t.Fatal(err)
	}
	if got := picks(s, 5, &Key{}); got != "B A D C B" {
		t.Errorf("picks = %q, want %q", got, "B A D C B")
	}
	if err := s.EditDest(addrOf("A"), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := picks(s, 3, &Key{}); got != "D C B" {
		t.Errorf("after quiescing A picks = %q, want %q", got, "D C B")
	}
}
