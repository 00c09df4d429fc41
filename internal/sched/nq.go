package sched

func init() {
	register("nq", func(uint32, Options) Scheduler { return nq{} })
}

// nq is Never Queue (ip_vs_nq.c): the first dest in list order without
// OVERLOAD, with a non-zero weight and no active connection wins at once;
// otherwise the sed rule (activeconns+1)/weight applies, ties keeping the
// earlier dest.
type nq struct{}

func (nq) Name() string { return "nq" }

func (nq) Schedule(dests []*Dest, _ *Key) *Dest {
	var least *Dest
	var loh int64
	for _, d := range dests {
		if d.Overloaded() || d.Weight() == 0 {
			continue
		}
		doh := sedOverhead(d)
		if d.ActiveConns() == 0 {
			return d
		}
		if least == nil || loh*int64(d.Weight()) > doh*int64(least.Weight()) {
			least, loh = d, doh
		}
	}
	return least
}
