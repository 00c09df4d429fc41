package sched

import "sync"

func init() {
	register("wrr", func(uint32, Options) Scheduler { return &wrr{cl: -1} })
}

// wrr is Weighted Round-Robin (ip_vs_wrr.c). State, as struct ip_vs_wrr_mark:
// cl the cursor (list head initially), cw the current weight, mw the maximum
// weight reduced by di-1 so that the last pass runs with cw = 1, di the gcd
// of the positive weights. Each pass scans the list for dests with
// weight >= cw, then lowers cw by di; a pass that wraps below 1 restarts at
// mw.
type wrr struct {
	mu    sync.Mutex
	list  []*Dest
	cl    int // index of the last pick; -1 is the list head
	cw    int32
	mw    int32
	di    int32
	ready bool
}

func (s *wrr) Name() string { return "wrr" }

// gcdWeight is ip_vs_wrr_gcd_weight: gcd of the positive weights, 1 if none.
func gcdWeight(list []*Dest) int32 {
	var g int32
	for _, d := range list {
		if w := d.Weight(); w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
		}
	}
	if g == 0 {
		return 1
	}
	return g
}

// maxWeight is ip_vs_wrr_max_weight: the largest weight, 0 if none.
func maxWeight(list []*Dest) int32 {
	var m int32
	for _, d := range list {
		if w := d.Weight(); w > m {
			m = w
		}
	}
	return m
}

// DestsChanged is ip_vs_wrr_dest_changed (add_dest, del_dest, upd_dest):
// the cursor goes back to the head, di and mw are recomputed, and cw is
// clamped to mw (or, when zero, set to mw, which on a fresh scheduler is
// exactly ip_vs_wrr_init_svc's cw = mw); otherwise, with di > 1, cw is
// aligned to the first value of its di step plus one.
func (s *wrr) DestsChanged(dests []*Dest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append([]*Dest(nil), dests...)
	s.changed()
	s.ready = true
}

func (s *wrr) changed() {
	s.cl = -1
	s.di = gcdWeight(s.list)
	s.mw = maxWeight(s.list) - (s.di - 1)
	if s.cw > s.mw || s.cw == 0 {
		s.cw = s.mw
	} else if s.di > 1 {
		s.cw = (s.cw/s.di)*s.di + 1
	}
}

// Schedule is ip_vs_wrr_schedule, including its termination rule: give up
// only after every dest was checked for weight >= 1 (the last pass), so an
// all-OVERLOAD list returns nil instead of spinning.
func (s *wrr) Schedule(dests []*Dest, _ *Key) *Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready {
		s.list = append([]*Dest(nil), dests...)
		s.changed()
		s.ready = true
	}
	if s.mw == 0 {
		return nil
	}
	const head = -1
	last := s.cl
	stop := -2 // no stop dest yet
	lastPass, restarted := false, false
	pos := last
	for {
		for pos++; pos < len(s.list); pos++ {
			d := s.list[pos]
			if !d.Overloaded() && d.Weight() >= s.cw {
				s.cl = pos
				return d
			}
			if pos == stop {
				s.cl = pos
				return nil
			}
		}
		pos = head
		s.cw -= s.di
		if s.cw <= 0 {
			s.cw = s.mw
			// Stop if the last pass already ran from the first dest, or
			// the only traversal started at the head with w >= 1.
			if lastPass || last == head {
				s.cl = head
				return nil
			}
			restarted = true
		}
		lastPass = s.cw <= s.di
		if lastPass && restarted && last != head {
			// The first traversal covered only the dests after last for
			// w >= 1; now check those up to and including last.
			stop = last
		}
	}
}
