package sched

func init() {
	register("lc", func(uint32, Options) Scheduler { return lc{} })
}

// lc is Least-Connection (ip_vs_lc.c): the dest with the smallest
// ip_vs_dest_conn_overhead (activeconns<<8 + inactconns; the comment there
// still says <<5) among those without OVERLOAD and with a non-zero weight;
// ties keep the earlier dest in list order (strict <).
type lc struct{}

func (lc) Name() string { return "lc" }

func (lc) Schedule(dests []*Dest, _ *Key) *Dest {
	var least *Dest
	var loh int64
	for _, d := range dests {
		if d.Overloaded() || d.Weight() == 0 {
			continue
		}
		if doh := d.Overhead(); least == nil || doh < loh {
			least, loh = d, doh
		}
	}
	return least
}
