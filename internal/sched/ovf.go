package sched

func init() {
	register("ovf", func(uint32, Options) Scheduler { return ovf{} })
}

// ovf is Overflow-Connection (ip_vs_ovf.c): the highest-weight dest that has
// no OVERLOAD flag, a non-zero weight and no more active connections than
// its weight; ties keep the earlier dest. Traffic overflows to the next
// weight once the active connections of the heaviest dest exceed its weight.
type ovf struct{}

func (ovf) Name() string { return "ovf" }

func (ovf) Schedule(dests []*Dest, _ *Key) *Dest {
	var h *Dest
	var hw int32
	for _, d := range dests {
		w := d.Weight()
		if d.Overloaded() || d.ActiveConns() > w || w == 0 {
			continue
		}
		if h == nil || w > hw {
			h, hw = d, w
		}
	}
	return h
}
