package sched

import (
	"sync"
	"sync/atomic"
)

// dh table geometry: CONFIG_IP_VS_DH_TAB_BITS defaults to 8 (ip_vs_dh.c).
const (
	dhTabBits = 8
	dhTabSize = 1 << dhTabBits
	dhTabMask = dhTabSize - 1
)

func init() {
	register("dh", func(uint32, Options) Scheduler { return &dh{} })
}

// dh is Destination Hashing (ip_vs_dh.c): a 256-bucket table filled by
// walking the destination list round-robin, one bucket per dest regardless
// of weight (ip_vs_dh_reassign), indexed by the hash of the packet's
// destination address. There is no fallback: a bucket whose dest is not
// AVAILABLE, has weight <= 0 or is OVERLOAD yields nil (meant to be paired
// with cache_bypass).
type dh struct {
	mu  sync.Mutex // serialises rebuilds
	tab atomic.Pointer[[dhTabSize]*Dest]
}

func (s *dh) Name() string { return "dh" }

// dhHash is ip_vs_dh_hashkey.
func dhHash(k *Key) uint32 { return (foldAddr(k.Dst) * goldenPrime) & dhTabMask }

// DestsChanged is ip_vs_dh_dest_changed: rebuild the table from the list.
func (s *dh) DestsChanged(dests []*Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tab.Store(dhAssign(dests))
}

// dhAssign is ip_vs_dh_reassign: bucket i holds dest i mod n, in list
// order; an empty list leaves every bucket empty.
func dhAssign(dests []*Dest) *[dhTabSize]*Dest {
	t := new([dhTabSize]*Dest)
	if len(dests) == 0 {
		return t
	}
	for i := range t {
		t[i] = dests[i%len(dests)]
	}
	return t
}

func (s *dh) table(dests []*Dest) *[dhTabSize]*Dest {
	if t := s.tab.Load(); t != nil {
		return t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tab.Load() == nil {
		s.tab.Store(dhAssign(dests))
	}
	return s.tab.Load()
}

// Schedule is ip_vs_dh_schedule.
func (s *dh) Schedule(dests []*Dest, k *Key) *Dest {
	d := s.table(dests)[dhHash(k)]
	if d == nil || !d.Available() || !eligible(d) {
		return nil
	}
	return d
}
