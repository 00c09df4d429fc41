package sched

func init() {
	register("sed", func(uint32, Options) Scheduler { return sed{} })
}

// sed is Shortest Expected Delay (ip_vs_sed.c): like wlc but the cost is
// (activeconns + 1) / weight, inactive connections ignored. Same candidate
// rule and strict 64-bit cross-multiplied comparison, so ties keep the
// earlier dest.
type sed struct{}

func (sed) Name() string { return "sed" }

// sedOverhead is ip_vs_sed_dest_overhead (and ip_vs_nq_dest_overhead).
func sedOverhead(d *Dest) int64 { return int64(d.ActiveConns()) + 1 }

func (sed) Schedule(dests []*Dest, _ *Key) *Dest {
	i := 0
	for ; i < len(dests); i++ {
		if eligible(dests[i]) {
			break
		}
	}
	if i == len(dests) {
		return nil
	}
	least := dests[i]
	loh := sedOverhead(least)
	for _, d := range dests[i+1:] {
		if d.Overloaded() {
			continue
		}
		if doh := sedOverhead(d); loh*int64(d.Weight()) > doh*int64(least.Weight()) {
			least, loh = d, doh
		}
	}
	return least
}
