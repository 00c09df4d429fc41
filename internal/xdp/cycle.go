package xdp

import (
	"net/netip"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// cursorSynced marks a cursor the Go side placed (CURSOR_SYNCED in
// bpf/lb.h): the program has not picked since.
const cursorSynced = 0x80000000

// cycle is the reconciler's copy of the state of a service's rr or wrr
// scheduler, so that the program's walk carries on across a configuration
// change where the kernel's scheduler would:
//
//   - rr keeps its cursor on the dest it last picked (svc->sched_data in
//     ip_vs_rr.c); adding or editing dests leaves it there, deleting that
//     dest moves it to its predecessor (ip_vs_rr_del_dest);
//   - wrr (struct ip_vs_wrr_mark in ip_vs_wrr.c) goes back to the list
//     head on every add, delete or edit but keeps its current weight cw,
//     clamped to the new maximum or aligned to the new gcd
//     (ip_vs_wrr_dest_changed).
//
// The program walks tab, one period of picks from the initial state (list
// head, cw = mw), with a per-service cursor. Before a change, the state is
// read back from the cursor (the last pick's dest and, for wrr, its pass);
// the change is applied here exactly as package sched applies it (rr's and
// wrr's DestsChanged), and the cursor is placed where the new period
// continues from the new state. Package sched's unexported state cannot be
// read, hence this copy; tests check it against sched pick by pick.
type cycle struct {
	wrr   bool
	list  []cdest        // the list in kernel order, as of the last change
	cur   netip.AddrPort // rr: the cursor's dest; wrr: cl. Invalid: the list head
	cw    int32          // wrr: current weight
	tab   []cpick        // the period the program walks
	exact bool           // tab is the kernel's period (wrr weights not scaled)
	dirty bool           // changed since the program's cursor was placed
}

type cdest struct {
	addr netip.AddrPort
	w    int32
}

// cpick is one entry of the period: a dest and, for wrr, the cw of the
// pass it belongs to.
type cpick struct {
	addr netip.AddrPort
	cw   int32
}

// newCycle is a fresh scheduler given the service's list, as
// sched.Service.SetScheduler does (init_service): rr at the list head, wrr
// at the list head with cw = mw.
func newCycle(name string, list []*sched.Dest) *cycle {
	c := &cycle{wrr: name == "wrr", exact: true}
	c.changed(list)
	return c
}

// changed applies one add, delete or edit (the kernel's add_dest,
// del_dest, upd_dest hooks) with the list as it is after it.
func (c *cycle) changed(list []*sched.Dest) {
	n := make([]cdest, len(list))
	for i, d := range list {
		n[i] = cdest{d.Addr, d.Weight()}
	}
	if c.wrr {
		// ip_vs_wrr_dest_changed
		c.cur = netip.AddrPort{}
		di := cgcd(n)
		mw := cmax(n) - (di - 1)
		if c.cw > mw || c.cw == 0 {
			c.cw = mw
		} else if di > 1 {
			c.cw = (c.cw/di)*di + 1
		}
	} else if c.cur.IsValid() {
		// ip_vs_rr_del_dest: the cursor's dest, or if it went, the
		// nearest predecessor still in the list.
		at := c.index(c.cur)
		c.cur = netip.AddrPort{}
		for i := at; i >= 0 && !c.cur.IsValid(); i-- {
			for _, d := range n {
				if d.addr == c.list[i].addr {
					c.cur = d.addr
					break
				}
			}
		}
	}
	c.list = n
	c.dirty = true
}

// observe takes the scheduler's state from the program's cursor: after a
// pick at tab[i-1] the cursor is i, and the kernel's cursor is on that
// dest (with that pass's cw for wrr). A cursor still marked synced means
// no pick since it was placed: the state is the one kept here.
func (c *cycle) observe(cursor uint32) {
	if c.dirty || cursor&cursorSynced != 0 || !c.exact {
		return
	}
	if i := int(cursor); i >= 1 && i <= len(c.tab) {
		c.cur = c.tab[i-1].addr
		if c.wrr {
			c.cw = c.tab[i-1].cw
		}
	}
}

// build computes the period of the current list and the table position of
// the next pick from the current state. A wrr period longer than one table
// row has its weights scaled down (exact = false; the walk then restarts
// at the period's start after a change).
func (c *cycle) build(slots map[netip.AddrPort]uint16) (table, uint32) {
	c.tab = c.tab[:0]
	c.exact = true
	if !c.wrr {
		for _, d := range c.list {
			if d.w > 0 {
				c.tab = append(c.tab, cpick{addr: d.addr})
			}
		}
	} else {
		ws := c.list
		g := cgcd(ws)
		var sum int64
		for _, d := range ws {
			if d.w > 0 {
				sum += int64(d.w / g)
			}
		}
		if sum > tabSize {
			// Scale to about half a row, keeping every positive weight >= 1.
			c.exact = false
			ws = make([]cdest, len(c.list))
			for i, d := range c.list {
				ws[i] = d
				if d.w > 0 {
					ws[i].w = int32(max(1, int64(d.w)*tabSize/(sum*int64(g))/2))
				}
			}
			g = cgcd(ws)
		}
		// ip_vs_wrr_schedule from (head, mw): passes cw = mw, mw-di, ...
		// down to the last positive one, each emitting the dests with
		// weight >= cw in list order.
		for cw := cmax(ws) - (g - 1); cw > 0; cw -= g {
			for _, d := range ws {
				if d.w >= cw {
					c.tab = append(c.tab, cpick{addr: d.addr, cw: cw})
				}
			}
		}
	}
	t := make(table, len(c.tab))
	for i, pk := range c.tab {
		t[i] = slots[pk.addr]
	}
	return t, c.next()
}

// next is the table position where the kernel's next pick from the current
// state is found (before OVERLOAD skips, which the program applies alike).
func (c *cycle) next() uint32 {
	if len(c.tab) == 0 || !c.exact {
		return 0
	}
	at := -1 // list index of the cursor; -1 is the head
	if c.cur.IsValid() {
		at = c.index(c.cur)
	}
	pos := map[netip.AddrPort]int{} // list index of each address
	for i, d := range c.list {
		pos[d.addr] = i
	}
	if !c.wrr {
		// ip_vs_rr_schedule: the first dest with weight > 0 after the
		// cursor, wrapping.
		for i, pk := range c.tab {
			if pos[pk.addr] > at {
				return uint32(i)
			}
		}
		return 0
	}
	// ip_vs_wrr_schedule: the next dest of pass cw after cl; past the end
	// of the pass, the next pass from the head (wrapping to mw).
	last := -1
	for i, pk := range c.tab {
		if pk.cw != c.cw {
			continue
		}
		if pos[pk.addr] > at {
			return uint32(i)
		}
		last = i
	}
	if last < 0 {
		return 0
	}
	return uint32((last + 1) % len(c.tab))
}

func (c *cycle) index(a netip.AddrPort) int {
	for i, d := range c.list {
		if d.addr == a {
			return i
		}
	}
	return -1
}

// cgcd is ip_vs_wrr_gcd_weight: the gcd of the positive weights, 1 if none.
func cgcd(ds []cdest) int32 {
	var g int32
	for _, d := range ds {
		if d.w > 0 {
			if g > 0 {
				g = gcd(g, d.w)
			} else {
				g = d.w
			}
		}
	}
	return max(g, 1)
}

// cmax is ip_vs_wrr_max_weight: the largest weight, 0 if none.
func cmax(ds []cdest) int32 {
	var m int32
	for _, d := range ds {
		m = max(m, d.w)
	}
	return m
}
