package sched

import (
	"sync"
	"sync/atomic"
)

// sh table geometry: CONFIG_IP_VS_SH_TAB_BITS defaults to 8 (range 4..20,
// net/netfilter/ipvs/Kconfig).
const (
	shTabBits = 8
	shTabSize = 1 << shTabBits
	shTabMask = shTabSize - 1
)

func init() {
	register("sh", func(flags uint32, _ Options) Scheduler {
		s := &sh{}
		s.flags.Store(flags)
		return s
	})
}

// sh is Source Hashing (ip_vs_sh.c): a 256-bucket table where each dest, in
// list order, takes weight consecutive buckets per round (a weight-0 dest
// still takes one, since ++count >= 0 holds at once), indexed by the hash of
// the client address. sh-fallback (FlagSched1) rehashes around the table
// when the bucket's dest has weight <= 0 or is OVERLOAD; sh-port
// (FlagSched2) mixes the client port into the hash.
type sh struct {
	mu    sync.Mutex // serialises rebuilds
	tab   atomic.Pointer[[shTabSize]*Dest]
	flags atomic.Uint32
}

func (s *sh) Name() string { return "sh" }

func (s *sh) setFlags(f uint32) { s.flags.Store(f) }

// shHash is ip_vs_sh_hashkey: (offset + (port + addr) * 2654435761) & mask,
// computed mod 2^32 like the kernel's unsigned arithmetic (only the low
// bits matter after the mask).
func shHash(addr uint32, port uint16, offset uint32) uint32 {
	return (offset + (uint32(port)+addr)*goldenPrime) & shTabMask
}

// shAssign is ip_vs_sh_reassign.
func shAssign(dests []*Dest) *[shTabSize]*Dest {
	t := new([shTabSize]*Dest)
	if len(dests) == 0 {
		return t
	}
	p, count := 0, int32(0)
	for i := range t {
		d := dests[p]
		t[i] = d
		// Don't move to the next dest until its weight is filled.
		if count++; count >= d.Weight() {
			p = (p + 1) % len(dests)
			count = 0
		}
	}
	return t
}

// DestsChanged is ip_vs_sh_dest_changed (add, delete and update of a dest):
// weights shape the table, so every change rebuilds it.
func (s *sh) DestsChanged(dests []*Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tab.Store(shAssign(dests))
}

func (s *sh) table(dests []*Dest) *[shTabSize]*Dest {
	if t := s.tab.Load(); t != nil {
		return t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tab.Load() == nil {
		s.tab.Store(shAssign(dests))
	}
	return s.tab.Load()
}

// Schedule is ip_vs_sh_schedule with ip_vs_sh_get / ip_vs_sh_get_fallback.
func (s *sh) Schedule(dests []*Dest, k *Key) *Dest {
	t := s.table(dests)
	flags := s.flags.Load()
	var port uint16
	if flags&FlagSched2 != 0 {
		port = k.SrcPort
	}
	addr := foldAddr(k.Src)
	ihash := shHash(addr, port, 0)
	d := t[ihash]
	if d == nil {
		return nil
	}
	if eligible(d) {
		return d
	}
	if flags&FlagSched1 == 0 {
		return nil
	}
	// Loop around the table starting from the original hash, rehashing
	// with each offset, until an available dest turns up.
	for off := uint32(0); off < shTabSize; off++ {
		roff := (off + ihash) % shTabSize
		d = t[shHash(addr, port, roff)]
		if d == nil {
			break
		}
		if eligible(d) {
			return d
		}
	}
	return nil
}
