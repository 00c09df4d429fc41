package sched

import (
	"math"
	"math/rand/v2"
	"sync"
)

func init() {
	register("twos", func(_ uint32, opt Options) Scheduler {
		s := &twos{rand: opt.Rand}
		if s.rand == nil {
			s.pcg = &lockedPCG{r: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
		}
		return s
	})
}

// lockedPCG is the default random source of twos: a PCG private to the
// scheduler (not the global source), guarded because Schedule runs
// concurrently.
type lockedPCG struct {
	mu sync.Mutex
	r  *rand.Rand
}

// below2 draws two values in [0, n) under one lock.
func (p *lockedPCG) below2(n uint32) (uint32, uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.r.Uint32N(n), p.r.Uint32N(n)
}

// twos is Power of Twos Choice (ip_vs_twos.c): two dests are drawn with
// probability proportional to weight, among those without OVERLOAD and with
// weight > 0, and the second wins only if it is strictly less loaded
// (overhead/weight, cross-multiplied), so ties keep the first.
type twos struct {
	rand func(n uint32) uint32 // Options.Rand
	pcg  *lockedPCG            // default source when Options.Rand is nil
}

// draw2 is the two get_random_u32_below(total) calls.
func (s *twos) draw2(n uint32) (int64, int64) {
	if s.pcg != nil {
		a, b := s.pcg.below2(n)
		return int64(a), int64(b)
	}
	a := s.rand(n)
	return int64(a), int64(s.rand(n))
}

func (s *twos) Name() string { return "twos" }

// Schedule is ip_vs_twos_schedule: with total = sum of eligible weights + 1,
// r1 and r2 are drawn in [0, total) (get_random_u32_below); walking the list
// each eligible weight is subtracted and a choice lands on the first dest
// where r <= 0, so r = 0 favours the first eligible dest. Sums and products
// are 64-bit here; the kernel's int would overflow only past 2^31, and the
// draw range is capped at 2^32-1.
func (s *twos) Schedule(dests []*Dest, _ *Key) *Dest {
	var choice1, choice2 *Dest
	var total int64
	for _, d := range dests {
		if !d.Overloaded() {
			if w := d.Weight(); w > 0 {
				total += int64(w)
				choice1 = d
			}
		}
	}
	if choice1 == nil {
		return nil
	}
	total++
	if total > math.MaxUint32 {
		total = math.MaxUint32
	}
	r1, r2 := s.draw2(uint32(total))
	w1, w2 := int64(-1), int64(-1)
	var oh1, oh2 int64
	for _, d := range dests {
		if d.Overloaded() {
			continue
		}
		w := int64(d.Weight())
		if w <= 0 {
			continue
		}
		r1 -= w
		r2 -= w
		if r1 <= 0 && w1 == -1 {
			choice1, w1, oh1 = d, w, d.Overhead()
		}
		if r2 <= 0 && w2 == -1 {
			choice2, w2, oh2 = d, w, d.Overhead()
		}
		if w1 != -1 && w2 != -1 {
			break
		}
	}
	if choice2 != nil && w2*oh1 > w1*oh2 {
		choice1 = choice2
	}
	return choice1
}
