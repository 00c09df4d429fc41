package sched

import "sync"

func init() {
	register("rr", func(uint32, Options) Scheduler { return &rr{cur: -1} })
}

// rr is Round-Robin (ip_vs_rr.c). The kernel keeps a cursor into the
// destination list (svc->sched_data, the list head at init_service) and
// picks the next dest after it, wrapping, that has weight > 0 and no
// OVERLOAD flag. The cursor follows the dest it points to across adds (a
// list pointer is not moved by list_add_rcu at the head), and when that dest
// is deleted it falls back to its predecessor (ip_vs_rr_del_dest), so the
// rotation continues with the dest that followed the deleted one.
type rr struct {
	mu    sync.Mutex
	list  []*Dest
	cur   int // index of the last pick in list; -1 is the list head
	ready bool
}

func (s *rr) Name() string { return "rr" }

// DestsChanged moves the cursor to the same dest in the new list, or to the
// nearest surviving predecessor of a deleted one.
func (s *rr) DestsChanged(dests []*Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := append([]*Dest(nil), dests...)
	cur := -1
	if s.ready {
		// Walk back from the old cursor: the first dest still present is
		// the cursor dest itself or, if it was removed, its predecessor.
		for i := s.cur; i >= 0 && cur < 0; i-- {
			for j, d := range n {
				if d == s.list[i] {
					cur = j
					break
				}
			}
		}
	}
	s.list, s.cur, s.ready = n, cur, true
}

// Schedule is ip_vs_rr_schedule: scan forward from the cursor, wrapping past
// the head once; the dest under the cursor is the last one examined.
func (s *rr) Schedule(dests []*Dest, _ *Key) *Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready {
		s.list, s.ready = append([]*Dest(nil), dests...), true
	}
	last := s.cur
	pos := last
	for pass := 0; ; {
		for pos++; pos < len(s.list); pos++ {
			d := s.list[pos]
			if eligible(d) {
				s.cur = pos
				return d
			}
			if pos == last {
				return nil
			}
		}
		pos = -1
		// A cursor at the head needs no second pass (ip_vs_rr.c).
		if pass++; pass >= 2 || last == -1 {
			return nil
		}
	}
}
