package sched

import (
	"net/netip"
	"strings"
	"testing"
)

// The dh/sh bucket of an address: (addr * 2654435761) & 255 keeps only the
// low byte of the product, which is (low byte of addr) * 0xB1 mod 256
// (2654435761 = 0x9E3779B1). So 10.0.0.1 → 0xB1 = 177, 10.0.0.2 → 354 mod
// 256 = 98, 10.0.0.3 → 531 mod 256 = 19, 10.0.0.4 → 708 mod 256 = 196, and
// 2001:db8::1 folds to 0x20010db9 → 0xB9 * 0xB1 = 32745 mod 256 = 233.
func TestDHHashKeyByHand_IPVSDHc(t *testing.T) {
	tests := []struct {
		addr string
		want uint32
	}{
		{"10.0.0.1", 177}, {"10.0.0.2", 98}, {"10.0.0.3", 19}, {"10.0.0.4", 196},
		{"192.168.7.1", 177}, {"2001:db8::1", 233},
	}
	for _, tc := range tests {
		if got := dhHash(&Key{Dst: netip.MustParseAddr(tc.addr)}); got != tc.want {
			t.Errorf("dh hash(%s) = %d, want %d", tc.addr, got, tc.want)
		}
	}
}

func TestDH_IPVSDHc_TableAndLookup(t *testing.T) {
	// -a A; -a B; -a C → list C,B,A; ip_vs_dh_reassign gives bucket i the
	// dest i mod 3 in list order: C B A C B A ...
	s, m := newSvc(t, "dh", 0, Options{}, w("A", 1), w("B", 5), w("C", 1))
	tab := s.Scheduler().(*dh).tab.Load()
	for i, d := range tab {
		if want := []string{"C", "B", "A"}[i%3]; nameOf(d) != want {
			t.Fatalf("bucket %d = %s, want %s", i, nameOf(d), want)
		}
	}
	tests := []struct{ dst, want string }{
		{"10.0.0.1", "C"},    // 177 mod 3 = 0
		{"10.0.0.2", "A"},    // 98 mod 3 = 2
		{"10.0.0.3", "B"},    // 19 mod 3 = 1
		{"10.0.0.4", "B"},    // 196 mod 3 = 1
		{"2001:db8::1", "A"}, // 233 mod 3 = 2
	}
	for _, tc := range tests {
		// dh hashes the destination; the source does not matter.
		k := &Key{Src: netip.MustParseAddr("1.2.3.4"), SrcPort: 999, Dst: netip.MustParseAddr(tc.dst)}
		if got := nameOf(s.Schedule(k)); got != tc.want {
			t.Errorf("dst %s → %s, want %s", tc.dst, got, tc.want)
		}
	}
	// No fallback: a quiesced or overloaded bucket dest yields nil.
	if err := s.EditDest(addrOf("C"), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := s.Schedule(&Key{Dst: netip.MustParseAddr("10.0.0.1")}); got != nil {
		t.Errorf("weight-0 bucket dest returned %s", nameOf(got))
	}
	if err := s.EditDest(addrOf("A"), 1, 1, 0); err != nil {
		t.Fatal(err)
	}
	m["A"].Bind(false)
	if got := s.Schedule(&Key{Dst: netip.MustParseAddr("10.0.0.2")}); got != nil {
		t.Errorf("OVERLOAD bucket dest returned %s", nameOf(got))
	}
	// Deleting a dest re-tiles the table: list B,A gives B A B A ...
	if err := s.DelDest(addrOf("C")); err != nil {
		t.Fatal(err)
	}
	if got := nameOf(s.Schedule(&Key{Dst: netip.MustParseAddr("10.0.0.2")})); got != "B" {
		t.Errorf("after delete 10.0.0.2 (98 even) → %s, want B", got)
	}
	m["A"].Unbind(false, false) // clears OVERLOAD
	if got := nameOf(s.Schedule(&Key{Dst: netip.MustParseAddr("10.0.0.1")})); got != "A" {
		t.Errorf("after delete 10.0.0.1 (177 odd) → %s, want A (was C before)", got)
	}
	empty, _ := newSvc(t, "dh", 0, Options{})
	if empty.Schedule(&Key{Dst: netip.MustParseAddr("10.0.0.1")}) != nil {
		t.Error("empty dh returned a dest")
	}
}

func tableNames(tab []*Dest) string {
	var b strings.Builder
	for _, d := range tab {
		b.WriteString(nameOf(d))
	}
	return b.String()
}

func TestSH_IPVSSHc_WeightedTiling(t *testing.T) {
	// ip_vs_sh_reassign: list C(2),B(1),A(3) → each dest takes weight
	// consecutive buckets per round: C C B A A A, repeated; 256 = 42*6 + 4.
	s, _ := newSvc(t, "sh", 0, Options{}, w("A", 3), w("B", 1), w("C", 2))
	got := tableNames(s.Scheduler().(*sh).tab.Load()[:])
	want := strings.Repeat("CCBAAA", 42) + "CCBA"
	if got != want {
		t.Fatalf("table =\n%s\nwant\n%s", got, want)
	}
	// Weight 0 still takes one bucket (++count >= 0).
	s2, _ := newSvc(t, "sh", 0, Options{}, w("A", 0), w("B", 2)) // list B,A
	if got := tableNames(s2.Scheduler().(*sh).tab.Load()[:12]); got != "BBABBABBABBA" {
		t.Fatalf("table with weight 0 = %s", got)
	}
}

func TestSH_IPVSSHc_Lookup(t *testing.T) {
	s, _ := newSvc(t, "sh", 0, Options{}, w("A", 3), w("B", 1), w("C", 2)) // CCBAAA...
	tests := []struct {
		src  string
		port uint16
		want string
	}{
		{"10.0.0.1", 0, "A"},    // 177 mod 6 = 3
		{"10.0.0.2", 0, "B"},    // 98 mod 6 = 2
		{"10.0.0.3", 0, "C"},    // 19 mod 6 = 1
		{"10.0.0.1", 5000, "A"}, // no sh-port: the port is ignored
	}
	for _, tc := range tests {
		k := &Key{Src: netip.MustParseAddr(tc.src), SrcPort: tc.port, Dst: netip.MustParseAddr("9.9.9.9")}
		if got := nameOf(s.Schedule(k)); got != tc.want {
			t.Errorf("src %s:%d → %s, want %s", tc.src, tc.port, got, tc.want)
		}
	}
	// sh-port (flag-2): hash of port + addr. 10.0.0.1 port 1 → low byte 2
	// → 98 → B; port 255 → low byte 0 → bucket 0 → C.
	if err := s.SetScheduler("sh", FlagSched2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		port uint16
		want string
	}{{1, "B"}, {255, "C"}} {
		k := &Key{Src: netip.MustParseAddr("10.0.0.1"), SrcPort: tc.port}
		if got := nameOf(s.Schedule(k)); got != tc.want {
			t.Errorf("sh-port 10.0.0.1:%d → %s, want %s", tc.port, got, tc.want)
		}
	}
}

func TestSH_IPVSSHc_Fallback(t *testing.T) {
	// List B(1),A(0) → table B A B A ...; 10.0.0.2 hashes to 98 (even) → B.
	// With A at weight 0 the table still alternates (weight 0 takes a
	// bucket); make B the unavailable one instead by quiescing it.
	s, _ := newSvc(t, "sh", 0, Options{}, w("A", 1), w("B", 1)) // list B,A: B A B A
	if err := s.EditDest(addrOf("B"), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	k := &Key{Src: netip.MustParseAddr("10.0.0.2")} // bucket 98 → B
	if got := s.Schedule(k); got != nil {
		t.Fatalf("without sh-fallback got %s, want nil", nameOf(got))
	}
	// sh-fallback (flag-1): offset 0 → roffset 98 → hash (98 + 98) & 255 =
	// 196 → B again; offset 1 → roffset 99 → 197 → A.
	if err := s.SetScheduler("sh", FlagSched1); err != nil {
		t.Fatal(err)
	}
	if got := nameOf(s.Schedule(k)); got != "A" {
		t.Fatalf("sh-fallback → %s, want A", got)
	}
	if err := s.EditDest(addrOf("A"), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := s.Schedule(k); got != nil {
		t.Fatalf("sh-fallback with nothing available → %s, want nil", nameOf(got))
	}
}
