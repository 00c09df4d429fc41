package sched

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// mh table geometry (ip_vs_mh.c): the size is primes[CONFIG_IP_VS_MH_TAB_INDEX
// - 8] with the default index 12, i.e. 4093, and IP_VS_MH_TAB_BITS is half the
// index; it bounds the bits of max_weight/gcd that become turns.
const (
	mhTabIndex = 12
	mhTabSize  = 4093
	mhTabBits  = mhTabIndex / 2
)

// The fixed hsiphash keys of generate_hash_secret (ip_vs_mh.c): every
// director hashes the same way, so a client lands on the same real server
// whichever director sees it.
var (
	mhKey1 = sipKey{2654435761, 2654435761}
	mhKey2 = sipKey{2654446892, 2654446892}
)

func init() {
	register("mh", func(flags uint32, _ Options) Scheduler {
		s := &mh{}
		s.flags.Store(flags)
		return s
	})
}

// mh is Maglev Hashing (ip_vs_mh.c, after §3.4 of the Maglev paper). Each
// dest gets a permutation of the 4093 slots from its address and port
// (offset from one hsiphash key, skip from the other); the dests, in list
// order, take turns claiming their next free slot, a dest claiming
// last_weight/gcd >> rshift slots per round. Using last_weight means a dest
// set to weight 0 keeps its slots (no disruption for the others); lookups
// that hit it return nil, or with mh-fallback (FlagSched1) rehash with
// increasing offsets. mh-port (FlagSched2) mixes the client port in.
type mh struct {
	mu     sync.Mutex // serialises rebuilds
	lookup atomic.Pointer[[mhTabSize]*Dest]
	flags  atomic.Uint32
}

func (s *mh) Name() string { return "mh" }

func (s *mh) setFlags(f uint32) { s.flags.Store(f) }

// maxDests is the EINVAL limit of ip_vs_mh_reassign: num_dests > table size.
func (s *mh) maxDests() int { return mhTabSize }

// mhHash is ip_vs_mh_hashkey: hsiphash of the u32 offset + port + address.
func mhHash(addr uint32, port uint16, k sipKey, offset uint32) uint32 {
	return hsiphash1u32(offset+uint32(port)+addr, k)
}

// mhGCD is ip_vs_mh_gcd_weight: gcd of the positive last weights, 0 if none.
func mhGCD(dests []*Dest) int32 {
	var g int32
	for _, d := range dests {
		if w := d.LastWeight(); w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
		}
	}
	return g
}

// mhShift is ip_vs_mh_shift_weight: how far to shift weight/gcd so that the
// largest one keeps at most IP_VS_MH_TAB_BITS bits (fls(mw) - 6, not below 0).
func mhShift(dests []*Dest, g int32) int {
	if g < 1 {
		return 0
	}
	var m int32
	for _, d := range dests {
		if w := d.LastWeight(); w > m {
			m = w
		}
	}
	if sh := bits.Len32(uint32(m/g)) - mhTabBits; sh > 0 {
		return sh
	}
	return 0
}

// mhSetup is struct ip_vs_mh_dest_setup.
type mhSetup struct {
	offset, skip, perm uint32
	turns              int32
}

// mhBuild is ip_vs_mh_reassign: ip_vs_mh_permutate then ip_vs_mh_populate.
// It returns nil when the list is too long (the kernel's -EINVAL leaves the
// previous table in place). With no positive last weight every slot is
// empty (ip_vs_mh_reset).
func mhBuild(dests []*Dest) *[mhTabSize]*Dest {
	if len(dests) > mhTabSize {
		return nil
	}
	t := new([mhTabSize]*Dest)
	g := mhGCD(dests)
	if g < 1 {
		return t
	}
	rshift := mhShift(dests, g)
	ds := make([]mhSetup, len(dests))
	for i, d := range dests {
		addr, port := foldAddr(d.Addr.Addr()), d.Addr.Port()
		ds[i].offset = mhHash(addr, port, mhKey1, 0) % mhTabSize
		ds[i].skip = mhHash(addr, port, mhKey2, 0)%(mhTabSize-1) + 1
		ds[i].perm = ds[i].offset
		lw := d.LastWeight()
		ds[i].turns = (lw / g) >> rshift
		if ds[i].turns == 0 && lw != 0 {
			ds[i].turns = 1
		}
	}
	claimants := 0
	for i := range ds {
		if ds[i].turns >= 1 {
			claimants++
		}
	}
	if claimants == 0 {
		// Cannot happen with g >= 1; guards the fill loop below.
		return t
	}
	var used [mhTabSize]bool
	n := 0
	for {
		dtCount := int32(0)
		for p := 0; p < len(dests); {
			s := &ds[p]
			// Ignore a dest added with weight 0 (no last weight).
			if s.turns < 1 {
				p++
				continue
			}
			c := s.perm
			for used[c] {
				s.perm += s.skip
				if s.perm >= mhTabSize {
					s.perm -= mhTabSize
				}
				c = s.perm
			}
			used[c] = true
			t[c] = dests[p]
			if n++; n == mhTabSize {
				return t
			}
			if dtCount++; dtCount >= s.turns {
				dtCount = 0
				p++
			}
		}
	}
}

// DestsChanged is ip_vs_mh_dest_changed: recompute gcd and shift and
// repopulate the table. A list longer than the table keeps the old table,
// as the kernel does when ip_vs_mh_reassign fails; Service refuses such an
// add with ErrTooManyDests before it gets here.
func (s *mh) DestsChanged(dests []*Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := mhBuild(dests); t != nil {
		s.lookup.Store(t)
	} else if s.lookup.Load() == nil {
		s.lookup.Store(new([mhTabSize]*Dest))
	}
}

func (s *mh) table(dests []*Dest) *[mhTabSize]*Dest {
	if t := s.lookup.Load(); t != nil {
		return t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookup.Load() == nil {
		t := mhBuild(dests)
		if t == nil {
			t = new([mhTabSize]*Dest)
		}
		s.lookup.Store(t)
	}
	return s.lookup.Load()
}

// Schedule is ip_vs_mh_schedule with ip_vs_mh_get / ip_vs_mh_get_fallback,
// hashing the client address (and port with mh-port).
func (s *mh) Schedule(dests []*Dest, k *Key) *Dest {
	t := s.table(dests)
	flags := s.flags.Load()
	var port uint16
	if flags&FlagSched2 != 0 {
		port = k.SrcPort
	}
	addr := foldAddr(k.Src)
	ihash := mhHash(addr, port, mhKey1, 0) % mhTabSize
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
	// Loop around the table starting from ihash to find a new dest.
	for off := uint32(0); off < mhTabSize; off++ {
		roff := (off + ihash) % mhTabSize
		d = t[mhHash(addr, port, mhKey1, roff)%mhTabSize]
		if d == nil {
			break
		}
		if eligible(d) {
			return d
		}
	}
	return nil
}
