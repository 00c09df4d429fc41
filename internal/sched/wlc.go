package sched

func init() {
	register("wlc", func(uint32, Options) Scheduler { return wlc{} })
}

// wlc is Weighted Least-Connection (ip_vs_wlc.c), ipvsadm's default
// scheduler: the dest with the smallest overhead/weight. The first dest
// without OVERLOAD and with weight > 0 is the initial candidate; a later one
// replaces it only when loh*w_d > doh*w_least (64-bit, strictly), so ties
// keep the earlier dest and a weight-0 dest can never win.
type wlc struct{}

func (wlc) Name() string { return "wlc" }

func (wlc) Schedule(dests []*Dest, _ *Key) *Dest { return leastWeighted(dests) }

// leastWeighted is the body of ip_vs_wlc_schedule, shared with the fallback
// of lblc (__ip_vs_lblc_schedule) and lblcr (__ip_vs_lblcr_schedule), which
// are the same loop.
func leastWeighted(dests []*Dest) *Dest {
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
	loh := least.Overhead()
	for _, d := range dests[i+1:] {
		if d.Overloaded() {
			continue
		}
		if doh := d.Overhead(); loh*int64(d.Weight()) > doh*int64(least.Weight()) {
			least, loh = d, doh
		}
	}
	return least
}
