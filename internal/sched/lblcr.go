package sched

import "sync/atomic"

func init() {
	register("lblcr", func(_ uint32, opt Options) Scheduler {
		return &lblcr{c: newLocalityCache[destSet](opt)}
	})
}

// lblcr is Locality-Based Least-Connection with Replication (ip_vs_lblcr.c):
// each destination address maps to a set of dests. The pick is the set
// member with the least overhead/weight; if there is none, or it is
// overloaded in lblc's sense, the wlc pick over all dests is used and added
// to the set. A set with more than one member that was not modified for the
// expiration time loses its most loaded member.
type lblcr struct {
	c *localityCache[destSet]
}

// destSet is struct ip_vs_dest_set: members newest first (list_add_rcu) and
// the time of the last change. Readers load the member slice lock-free;
// changes copy it under the cache's write lock.
type destSet struct {
	list    atomic.Pointer[[]*Dest]
	lastmod atomic.Int64
}

func (s *destSet) members() []*Dest {
	if p := s.list.Load(); p != nil {
		return *p
	}
	return nil
}

// insertLocked is ip_vs_dest_set_insert.
func (s *destSet) insertLocked(d *Dest, check bool, now int64) {
	old := s.members()
	if check {
		for _, x := range old {
			if x == d {
				return
			}
		}
	}
	n := make([]*Dest, 0, len(old)+1)
	n = append(n, d)
	n = append(n, old...)
	s.list.Store(&n)
	s.lastmod.Store(now)
}

// eraseLocked is ip_vs_dest_set_erase.
func (s *destSet) eraseLocked(d *Dest, now int64) {
	old := s.members()
	for i, x := range old {
		if x == d {
			n := make([]*Dest, 0, len(old)-1)
			n = append(n, old[:i]...)
			n = append(n, old[i+1:]...)
			s.list.Store(&n)
			s.lastmod.Store(now)
			return
		}
	}
}

// min is ip_vs_dest_set_min: the first member without OVERLOAD, with weight
// > 0 and AVAILABLE starts; a later member without OVERLOAD replaces it if
// strictly less loaded per weight and AVAILABLE.
func (s *destSet) min() *Dest {
	list := s.members()
	i := 0
	for ; i < len(list); i++ {
		if d := list[i]; eligible(d) && d.Available() {
			break
		}
	}
	if i == len(list) {
		return nil
	}
	least := list[i]
	loh := least.Overhead()
	for _, d := range list[i+1:] {
		if d.Overloaded() {
			continue
		}
		if doh := d.Overhead(); loh*int64(d.Weight()) > doh*int64(least.Weight()) && d.Available() {
			least, loh = d, doh
		}
	}
	return least
}

// max is ip_vs_dest_set_max: the most loaded member per weight among those
// with weight > 0 (flags are not looked at); ties keep the earlier member.
func (s *destSet) max() *Dest {
	list := s.members()
	i := 0
	for ; i < len(list); i++ {
		if list[i].Weight() > 0 {
			break
		}
	}
	if i == len(list) {
		return nil
	}
	most := list[i]
	moh := most.Overhead()
	for _, d := range list[i+1:] {
		dw := int64(d.Weight())
		if doh := d.Overhead(); moh*dw < doh*int64(most.Weight()) && dw > 0 {
			most, moh = d, doh
		}
	}
	return most
}

func (s *lblcr) Name() string { return "lblcr" }

// Schedule is ip_vs_lblcr_schedule.
func (s *lblcr) Schedule(dests []*Dest, k *Key) *Dest {
	now := s.c.now()
	s.c.maybeGC(now)
	if e := s.c.get(k.Dst); e != nil {
		e.lastuse.Store(now)
		set := &e.val
		d := set.min()
		// More than one member and unchanged for the expiration time
		// (time_after: strictly later): drop the most loaded one.
		if len(set.members()) > 1 && now > set.lastmod.Load()+s.c.expire {
			s.c.mu.Lock()
			if len(set.members()) > 1 {
				if m := set.max(); m != nil {
					set.eraseLocked(m, now)
				}
			}
			s.c.mu.Unlock()
		}
		if d != nil && !lblcOverloaded(d, dests) {
			return d
		}
		// The cache entry is invalid, time to schedule.
		if d = leastWeighted(dests); d == nil {
			return nil
		}
		s.c.mu.Lock()
		set.insertLocked(d, true, now)
		s.c.mu.Unlock()
		return d
	}
	d := leastWeighted(dests)
	if d == nil {
		return nil
	}
	// ip_vs_lblcr_new: create the entry, or add to a set that appeared
	// meanwhile; when no entry can be created the valid dest is used anyway.
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if e := s.c.lookupLocked(k.Dst); e != nil {
		e.val.insertLocked(d, true, now)
	} else if e = s.c.insertLocked(k.Dst, now); e != nil {
		e.val.insertLocked(d, false, now)
	}
	return d
}
