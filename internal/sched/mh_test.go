package sched

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// maglevModel is the population loop of the Maglev paper (NSDI'16, §3.4,
// Pseudocode 1), written independently of mhBuild: permutation[i][j] =
// (offset + j*skip) mod M and next[i] counts the positions dest i has
// consumed; IPVS's only change is that dest i takes turns[i] slots per
// round instead of one. It returns, per slot, the index of the dest.
func maglevModel(offset, skip []uint32, turns []int) []int {
	const m = mhTabSize
	entry := make([]int, m)
	for i := range entry {
		entry[i] = -1
	}
	next := make([]uint32, len(offset))
	filled := 0
	any := false
	for _, t := range turns {
		any = any || t > 0
	}
	if !any {
		return entry
	}
	for {
		for i := range offset {
			for range turns[i] {
				c := (offset[i] + next[i]*skip[i]) % m
				for entry[c] >= 0 {
					next[i]++
					c = (offset[i] + next[i]*skip[i]) % m
				}
				entry[c] = i
				next[i]++
				if filled++; filled == m {
					return entry
				}
			}
		}
	}
}

// modelTable computes the inputs of maglevModel the way ip_vs_mh_permutate
// defines them (offset from hash1, skip from hash2, turns from last_weight)
// and returns the table as dest pointers.
func modelTable(dests []*Dest) []*Dest {
	n := len(dests)
	offset, skip, turns := make([]uint32, n), make([]uint32, n), make([]int, n)
	var g, maxw int32
	for _, d := range dests {
		if lw := d.LastWeight(); lw > 0 {
			if g == 0 {
				g = lw
			} else {
				g = gcd(g, lw)
			}
			maxw = max(maxw, lw)
		}
	}
	shift := 0
	if g > 0 {
		for bits := 0; ; bits++ { // fls(maxw/g) - IP_VS_MH_TAB_BITS
			if (maxw/g)>>bits == 0 {
				shift = max(0, bits-mhTabBits)
				break
			}
		}
	}
	for i, d := range dests {
		v := foldAddr(d.Addr.Addr()) + uint32(d.Addr.Port())
		offset[i] = hsiphash1u32(v, mhKey1) % mhTabSize
		skip[i] = hsiphash1u32(v, mhKey2)%(mhTabSize-1) + 1
		if g > 0 {
			turns[i] = int((d.LastWeight() / g) >> shift)
			if turns[i] == 0 && d.LastWeight() != 0 {
				turns[i] = 1
			}
		}
	}
	out := make([]*Dest, mhTabSize)
	for c, i := range maglevModel(offset, skip, turns) {
		if i >= 0 {
			out[c] = dests[i]
		}
	}
	return out
}

func mhDests(weights ...int32) []*Dest {
	ds := make([]*Dest, len(weights))
	for i, w := range weights {
		ds[i] = NewDest(addrOf(string(rune('A'+i))), w, 0, 0)
	}
	return ds
}

func count(tab []*Dest) map[string]int {
	c := map[string]int{}
	for _, d := range tab {
		c[nameOf(d)]++
	}
	return c
}

func TestMH_IPVSMHc_TableMatchesMaglevModel(t *testing.T) {
	tests := []struct {
		name    string
		weights []int32
	}{
		{"one dest", []int32{1}},
		{"equal weights", []int32{1, 1, 1, 1, 1}},
		{"mixed weights", []int32{3, 1, 2, 5}},
		{"gcd 4", []int32{8, 4, 12}},
		{"rshift 2 (128/1: fls 8 - 6)", []int32{128, 1, 64}},
		{"added with weight 0 takes nothing", []int32{2, 0, 1}},
		{"all last weights 0: empty table", []int32{0, 0}},
		{"no dests", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := mhDests(tc.weights...)
			got := mhBuild(ds)
			want := modelTable(ds)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("slot %d = %s, model %s", i, nameOf(got[i]), nameOf(want[i]))
				}
			}
		})
	}
}

// Slot counts follow from the population order alone: dests claim in list
// order, turns slots each per round, until 4093 slots are full.
func TestMH_IPVSMHc_SlotCounts(t *testing.T) {
	tests := []struct {
		name    string
		weights []int32 // list order
		want    map[string]int
	}{
		{"single dest owns all", []int32{7}, map[string]int{"A": 4093}},
		// 4093 = 2*2046 + 1: the head dest claims the odd slot.
		{"1:1", []int32{1, 1}, map[string]int{"A": 2047, "B": 2046}},
		// turns 2,1: 4093 = 1364*3 + 1.
		{"2:1", []int32{2, 1}, map[string]int{"A": 2729, "B": 1364}},
		// gcd 3 reduces 6:3 to 2:1.
		{"6:3 like 2:1", []int32{6, 3}, map[string]int{"A": 2729, "B": 1364}},
		// 128/1 has 8 bits: rshift 2, turns 32 and 1 (1>>2 = 0 → lw != 0).
		// 4093 = 124*33 + 1.
		{"128:1 shifted", []int32{128, 1}, map[string]int{"A": 124*32 + 1, "B": 124}},
		{"1:128 shifted", []int32{1, 128}, map[string]int{"A": 125, "B": 124 * 32}},
		// ten equal dests: 4093 = 409*10 + 3, the first three get one more.
		{"10 equal", []int32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
			map[string]int{"A": 410, "B": 410, "C": 410, "D": 409, "E": 409, "F": 409, "G": 409, "H": 409, "I": 409, "J": 409}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := count(mhBuild(mhDests(tc.weights...))[:])
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s owns %d slots, want %d (all %v)", k, got[k], v, got)
				}
			}
		})
	}
}

// In the first round (one slot per dest here) each dest claims its offset,
// hsiphash(ntohl(addr) + port, hash1) mod 4093, unless a dest before it in
// the list already holds that slot; ownership never changes afterwards.
func TestMH_IPVSMHc_FirstClaimIsOffset(t *testing.T) {
	ds := mhDests(1, 1, 1, 1, 1, 1, 1, 1)
	tab := mhBuild(ds)
	pos := map[*Dest]int{}
	for i, d := range ds {
		pos[d] = i
	}
	for i, d := range ds {
		off := hsiphash1u32(foldAddr(d.Addr.Addr())+80, mhKey1) % mhTabSize
		if owner := tab[off]; owner != d && pos[owner] >= i {
			t.Errorf("offset %d of %s owned by %s, which comes later", off, nameOf(d), nameOf(owner))
		}
	}
}

func mhKeyFor(i int) *Key {
	return &Key{Src: netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), SrcPort: uint16(40000 + i)}
}

func TestMH_IPVSMHc_LookupHashesSourceAddress(t *testing.T) {
	s, _ := newSvc(t, "mh", 0, Options{}, w("A", 1), w("B", 1), w("C", 1))
	tab := s.Scheduler().(*mh).lookup.Load()
	for i := range 200 {
		k := mhKeyFor(i)
		// ip_vs_mh_get: lookup[hsiphash(0 + 0 + ntohl(saddr)) % size].
		want := tab[hsiphash1u32(foldAddr(k.Src), mhKey1)%mhTabSize]
		if got := s.Schedule(k); got != want {
			t.Fatalf("key %d → %s, want %s", i, nameOf(got), nameOf(want))
		}
		// Without mh-port the port and destination do not matter.
		k2 := *k
		k2.SrcPort, k2.Dst = 1, netip.MustParseAddr("8.8.8.8")
		if got := s.Schedule(&k2); got != want {
			t.Fatalf("key %d with other port → %s, want %s", i, nameOf(got), nameOf(want))
		}
	}
	// mh-port (flag-2) adds the source port to the hashed value.
	if err := s.SetScheduler("mh", FlagSched2); err != nil {
		t.Fatal(err)
	}
	differs := 0
	for i := range 200 {
		k := mhKeyFor(i)
		want := tab[hsiphash1u32(foldAddr(k.Src)+uint32(k.SrcPort), mhKey1)%mhTabSize]
		if got := s.Schedule(k); got != want {
			t.Fatalf("mh-port key %d → %s, want %s", i, nameOf(got), nameOf(want))
		}
		if want != tab[hsiphash1u32(foldAddr(k.Src), mhKey1)%mhTabSize] {
			differs++
		}
	}
	if differs == 0 {
		t.Error("mh-port never changed a pick")
	}
}

// Uses last_weight: quiescing a dest does not rebuild the table, so no other
// client moves; its own clients get nil (or another dest with mh-fallback).
func TestMH_IPVSMHc_WeightZeroKeepsTable(t *testing.T) {
	s, _ := newSvc(t, "mh", 0, Options{}, w("A", 1), w("B", 2), w("C", 1))
	before := *s.Scheduler().(*mh).lookup.Load()
	if err := s.EditDest(addrOf("B"), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	after := *s.Scheduler().(*mh).lookup.Load()
	if before != after {
		t.Fatal("table changed when B was quiesced")
	}
	hitB := 0
	for i := range 300 {
		k := mhKeyFor(i)
		slot := before[hsiphash1u32(foldAddr(k.Src), mhKey1)%mhTabSize]
		got := s.Schedule(k)
		switch {
		case nameOf(slot) == "B":
			hitB++
			if got != nil {
				t.Fatalf("key %d on quiesced B → %s, want nil", i, nameOf(got))
			}
		case got != slot:
			t.Fatalf("key %d moved from %s to %s", i, nameOf(slot), nameOf(got))
		}
	}
	if hitB == 0 {
		t.Fatal("no key hashed to B; pick other keys")
	}
	// mh-fallback (flag-1): rehash with offsets (ihash + i) % size and take
	// the first available dest.
	if err := s.SetScheduler("mh", FlagSched1); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		k := mhKeyFor(i)
		ihash := hsiphash1u32(foldAddr(k.Src), mhKey1) % mhTabSize
		if nameOf(before[ihash]) != "B" {
			continue
		}
		var want *Dest
		for off := uint32(0); off < mhTabSize; off++ {
			d := before[hsiphash1u32((off+ihash)%mhTabSize+foldAddr(k.Src), mhKey1)%mhTabSize]
			if nameOf(d) != "B" {
				want = d
				break
			}
		}
		if got := s.Schedule(k); got == nil || got != want {
			t.Fatalf("mh-fallback key %d → %s, want %s", i, nameOf(got), nameOf(want))
		}
	}
	// Bringing B back with another weight does rebuild (upd_dest).
	if err := s.EditDest(addrOf("B"), 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	if c := count(s.Scheduler().(*mh).lookup.Load()[:]); c["B"] != 1365 && c["B"] != 1364 {
		t.Errorf("B owns %d slots after weight 1", c["B"])
	}
}

// Maglev's point: removing one of N dests moves its own slots and only few
// others. For the ten dests below, 1.3 % of the other slots move at worst;
// the bound leaves room but fails a non-consistent table (which would move
// most of them).
func TestMH_IPVSMHc_MinimalDisruption(t *testing.T) {
	ds := make([]*Dest, 10)
	for i := range ds {
		ds[i] = NewDest(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}), 80), 1, 0, 0)
	}
	full := mhBuild(ds)
	for r := range ds {
		rest := append(append([]*Dest(nil), ds[:r]...), ds[r+1:]...)
		part := mhBuild(rest)
		moved := 0
		for i := range full {
			if part[i] == ds[r] {
				t.Fatalf("removed dest still in slot %d", i)
			}
			if full[i] != ds[r] && full[i] != part[i] {
				moved++
			}
		}
		if moved > mhTabSize*3/100 {
			t.Errorf("removing dest %d moved %d other slots (> 3%%)", r, moved)
		}
	}
}

func TestMH_IPVSMHc_TooManyDestsEINVAL(t *testing.T) {
	s, err := NewService("rr", 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range mhTabSize + 1 {
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), 80)
		if _, err := s.AddDest(a, 1, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	// ip_vs_mh_init_svc → ip_vs_mh_reassign: num_dests > table size → EINVAL.
	if err := s.SetScheduler("mh", 0); !errors.Is(err, ErrTooManyDests) {
		t.Fatalf("SetScheduler(mh) with 4094 dests: %v, want ErrTooManyDests", err)
	}
	if s.Scheduler().Name() != "rr" {
		t.Fatal("failed SetScheduler replaced rr")
	}
	if err := s.DelDest(s.Dests()[0].Addr); err != nil {
		t.Fatal(err)
	}
	if err := s.SetScheduler("mh", 0); err != nil {
		t.Fatalf("SetScheduler(mh) with 4093 dests: %v", err)
	}
	owners := map[*Dest]int{}
	for _, d := range s.Scheduler().(*mh).lookup.Load() {
		owners[d]++
	}
	if len(owners) != mhTabSize {
		t.Errorf("%d of 4093 dests of weight 1 own a slot, want each one exactly one", len(owners))
	}
	_, err = s.AddDest(netip.MustParseAddrPort("10.3.0.1:80"), 1, 0, 0)
	if !errors.Is(err, ErrTooManyDests) {
		t.Fatalf("AddDest beyond the table: %v, want ErrTooManyDests", err)
	}
}

// The table of a fixed service, kept as a regression guard for bit
// exactness (its derivation is checked by the model test above).
func TestMH_IPVSMHc_GoldenTable(t *testing.T) {
	s, _ := newSvc(t, "mh", 0, Options{}, w("A", 3), w("B", 1), w("C", 2), w("D", 1))
	tab := s.Scheduler().(*mh).lookup.Load()
	var b strings.Builder
	for i, d := range tab {
		b.WriteString(nameOf(d))
		if i%80 == 79 {
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
	got := b.String()
	if want := tableNames(modelTable(s.Dests())); strings.ReplaceAll(got, "\n", "") != want {
		t.Fatal("table differs from the Maglev model")
	}
	path := filepath.Join("testdata", "mh_table_A3B1C2D1.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got != string(want) {
		t.Fatalf("table differs from %s", path)
	}
}

func ExampleNewService_mh() {
	s, _ := NewService("mh", FlagSched1, Options{})
	for _, a := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"} {
		_, _ = s.AddDest(netip.MustParseAddrPort(a), 1, 0, 0)
	}
	k := &Key{Src: netip.MustParseAddr("198.51.100.7"), SrcPort: 51000}
	d := s.Schedule(k)
	fmt.Println(d == s.Schedule(k)) // the same client always lands on the same dest
	// Output: true
}
