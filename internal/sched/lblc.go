package sched

import "sync/atomic"

func init() {
	register("lblc", func(_ uint32, opt Options) Scheduler {
		return &lblc{c: newLocalityCache[atomic.Pointer[Dest]](opt)}
	})
}

// lblc is Locality-Based Least-Connection (ip_vs_lblc.c), for cache
// clusters: each destination address is remembered with the dest it was
// sent to. A remembered dest is reused while it is AVAILABLE, has weight > 0
// and is not "overloaded" in lblc's own sense (more active connections than
// its weight while another dest is under half its weight). Note that this
// test does not look at the OVERLOAD flag: the kernel reuses a cached dest
// past its upper threshold. Otherwise the wlc pick over all dests is used
// and remembered.
type lblc struct {
	c *localityCache[atomic.Pointer[Dest]]
}

func (s *lblc) Name() string { return "lblc" }

// Schedule is ip_vs_lblc_schedule.
func (s *lblc) Schedule(dests []*Dest, k *Key) *Dest {
	now := s.c.now()
	s.c.maybeGC(now)
	if e := s.c.get(k.Dst); e != nil {
		e.lastuse.Store(now)
		if d := e.val.Load(); d != nil && d.Available() && d.Weight() > 0 && !lblcOverloaded(d, dests) {
			return d
		}
	}
	// No cache entry or it is invalid, time to schedule.
	d := leastWeighted(dests)
	if d == nil {
		return nil
	}
	// ip_vs_lblc_new: update the entry or create one; when none can be
	// created the valid dest is used anyway.
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	e := s.c.lookupLocked(k.Dst)
	if e == nil {
		e = s.c.insertLocked(k.Dst, now)
	}
	if e != nil && e.val.Load() != d {
		e.val.Store(d)
	}
	return d
}
