package sched

func init() {
	register("fo", func(uint32, Options) Scheduler { return fo{} })
}

// fo is Weighted Fail Over (ip_vs_fo.c): the dest with the highest weight
// among those without OVERLOAD; the running maximum starts at 0 and only a
// strictly larger weight replaces it, so weight-0 dests never win and ties
// keep the earlier dest.
type fo struct{}

func (fo) Name() string { return "fo" }

func (fo) Schedule(dests []*Dest, _ *Key) *Dest {
	var best *Dest
	var hw int32
	for _, d := range dests {
		if w := d.Weight(); !d.Overloaded() && w > hw {
			best, hw = d, w
		}
	}
	return best
}
