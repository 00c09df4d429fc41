package xdp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// lblcrSets returns the server set of each lblcr entry, by service id and
// destination address, as the dump prints them ("slot/gen ...").
func lblcrSets(t *testing.T, p *Plane) map[string][]string {
	t.Helper()
	sets := map[string][]string{}
	for _, line := range strings.Split(string(dump(t, p)), "\n") {
		if !strings.HasPrefix(line, "lblcr ") {
			continue
		}
		f := strings.Fields(line)
		set := strings.TrimSuffix(strings.TrimPrefix(strings.Join(f[3:], " "), "set=["), "]")
		sets[f[1]+" "+f[2]] = strings.Fields(set)
	}
	return sets
}

// ageLblcr moves every lblcr entry's times d into the past, as if d had
// passed since their last use and change (the program reads the kernel's
// monotonic clock, which a test cannot move).
func ageLblcr(t *testing.T, p *Plane, d time.Duration) {
	t.Helper()
	if monotonic() < 2*d {
		t.Skipf("the monotonic clock is younger than %s", 2*d)
	}
	var k lbLblcKey
	var v lbLblcr
	var ks []lbLblcKey
	var vs []lbLblcr
	it := p.objs.LblcrCache.Iterate()
	for it.Next(&k, &v) {
		ks = append(ks, k)
		vs = append(vs, v)
	}
	for i := range ks {
		vs[i].LastUse -= uint64(d)
		vs[i].Lastmod -= uint64(d)
		if err := p.objs.LblcrCache.Update(&ks[i], &vs[i], ebpf.UpdateExist); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeNow is a clock for package sched's lblcr that the test moves.
type fakeNow struct{ off atomic.Int64 }

var fakeBase = time.Unix(1_700_000_000, 0)

func (f *fakeNow) now() time.Time          { return fakeBase.Add(time.Duration(f.off.Load())) }
func (f *fakeNow) advance(d time.Duration) { f.off.Add(int64(d)) }

// lblcr in the fast path picks what package sched's lblcr picks
// (ip_vs_lblcr_schedule): per destination address a server set whose least
// loaded member (overhead/weight, AVAILABLE, weight > 0, not OVERLOAD)
// serves, unless lblc's is_overloaded holds, in which case the wlc pick
// over the service serves and joins the set. Two services (two VIPs, so
// two destination addresses) run side by side with their own oracles;
// thresholds make members OVERLOAD; weights change and a member leaves and
// comes back through Apply.
func TestLBLCRPicksMatchPackageSched(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	reals := []config.Real{rl("10.0.0.2:80", 3, 0), rl("10.0.0.3:80", 2, 6), rl("10.0.0.4:80", 1, 0), rl("10.0.0.5:80", 1, 3)}
	l := newLockstep(t, p, sched.Options{},
		svc(config.TCP, "10.0.0.100:80", "lblcr", reals...),
		svc(config.TCP, "10.0.0.101:80", "lblcr", reals[1:]...))
	grew := 0
	for round := range 6 {
		for range 8 {
			l.conn(0, true)
			l.conn(1, round%2 == 0)
		}
		for _, set := range lblcrSets(t, p) {
			grew = max(grew, len(set))
		}
		switch round {
		case 1:
			// a member gets weight 0: skipped by the set's scan
			l.set(0, rl("10.0.0.2:80", 3, 0), rl("10.0.0.3:80", 0, 6), rl("10.0.0.4:80", 1, 0), rl("10.0.0.5:80", 1, 3))
		case 2:
			// a member leaves the service: no longer AVAILABLE
			l.set(0, rl("10.0.0.2:80", 3, 0), rl("10.0.0.3:80", 2, 6), rl("10.0.0.5:80", 1, 3))
			l.set(1, rl("10.0.0.3:80", 4, 0), rl("10.0.0.4:80", 1, 0), rl("10.0.0.5:80", 1, 3))
		case 3:
			// and comes back from the trash, still in its sets
			l.set(0, reals...)
		}
		l.commit()
	}
	l.counters()
	if grew < 2 {
		t.Fatalf("no server set grew beyond one member (largest %d): the replication path was not exercised", grew)
	}
}

// A set of more than one member that was not changed for lblcr_expiration
// loses its most loaded member at the next lookup (time_after: strictly
// later), in the plane as in package sched with the same expiration.
func TestLBLCRSetShrinksAfterExpiration(t *testing.T) {
	const exp = 2 * time.Minute
	p, _ := newTestPlaneOpt(t, Options{LBLCRExpiration: exp})
	clk := &fakeNow{}
	reals := []config.Real{rl("10.0.0.2:80", 2, 0), rl("10.0.0.3:80", 2, 0), rl("10.0.0.4:80", 2, 0)}
	l := newLockstep(t, p, sched.Options{Now: clk.now, Expiration: exp}, svc(config.TCP, "10.0.0.100:80", "lblcr", reals...))
	for range 12 {
		l.conn(0, true)
	}
	before := lblcrSets(t, p)["svc=1 10.0.0.100"]
	if len(before) < 2 {
		t.Fatalf("set %v: want at least two members before expiring", before)
	}
	// Just at the expiration nothing changes...
	ageLblcr(t, p, exp-time.Second)
	clk.advance(exp - time.Second)
	l.conn(0, true)
	if got := lblcrSets(t, p)["svc=1 10.0.0.100"]; len(got) < len(before) {
		t.Fatalf("set shrank before the expiration: %v -> %v", before, got)
	}
	// ...past it, one member goes per lookup while more than one is left
	// and the set stays unchanged for the expiration.
	for range 3 {
		cur := lblcrSets(t, p)["svc=1 10.0.0.100"]
		ageLblcr(t, p, exp+time.Second)
		clk.advance(exp + time.Second)
		l.conn(0, false)
		got := lblcrSets(t, p)["svc=1 10.0.0.100"]
		if len(cur) > 1 && len(got) != len(cur)-1 {
			t.Fatalf("set %v -> %v after the expiration: want one member less", cur, got)
		}
	}
	if got := lblcrSets(t, p)["svc=1 10.0.0.100"]; len(got) != 1 {
		t.Fatalf("set %v: want one member left", got)
	}
	l.counters()
}

// The kernel's sets are unbounded lists; here a set holds LBLCR_SET_MAX (8)
// members. With more dests than that, a full set makes room for the wlc
// pick by dropping its most loaded member (ip_vs_dest_set_max), the one
// the kernel's own expiry drops first. Until a set first overflows, picks
// equal package sched's; after that the kernel may pick a member dropped
// here, so the test checks the bound and the choice of the dropped member.
func TestLBLCRSetBound(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	var reals []config.Real
	for i := range 12 {
		reals = append(reals, rl(fmt.Sprintf("10.0.0.%d:80", 2+i), 1, 0))
	}
	s := svc(config.TCP, "10.0.0.100:80", "lblcr", reals...)
	l := newLockstep(t, p, sched.Options{}, s)
	const key = "svc=1 10.0.0.100"
	for len(lblcrSets(t, p)[key]) < 8 {
		if l.n > 40 {
			t.Fatal("the set never filled up")
		}
		l.conn(0, true)
	}
	l.counters()

	ps := p.byKey[s.ServiceKey]
	evicted := 0
	for i := range 40 {
		before := lblcrSets(t, p)[key]
		load := map[string][2]int64{} // slot/gen -> overhead, weight
		for _, d := range p.Status()[0].Dests {
			ds := ps.dests[d.Addr]
			load[fmt.Sprintf("%d/%d", ds.slot, ds.gen)] = [2]int64{int64(d.ActiveConns)<<8 + int64(d.InactConns), int64(d.Weight)}
		}
		src := fmt.Sprintf("198.19.0.%d:2000", i+1)
		_, out := run(t, p, client(src, "10.0.0.100:80", fSYN).frame())
		run(t, p, client(src, "10.0.0.100:80", fACK).frame())
		picked := ps.dests[netip.AddrPortFrom(destOf(t, out), 80)]
		member := fmt.Sprintf("%d/%d", picked.slot, picked.gen)
		after := lblcrSets(t, p)[key]
		if len(after) > 8 {
			t.Fatalf("set of %d members: %v", len(after), after)
		}
		if len(before) < 8 || slices.Contains(before, member) {
			continue
		}
		// ip_vs_dest_set_max over the full set: the first member with
		// weight > 0 starts, a later one replaces it when strictly more
		// loaded per weight.
		most := ""
		for _, m := range before {
			if load[m][1] <= 0 {
				continue
			}
			if most == "" || load[most][0]*load[m][1] < load[m][0]*load[most][1] {
				most = m
			}
		}
		want := []string{member}
		for _, m := range before {
			if m != most {
				want = append(want, m)
			}
		}
		if !slices.Equal(after, want) {
			t.Fatalf("full set %v took %s: got %v, want %v (dropping the most loaded, %s)", before, member, after, want, most)
		}
		evicted++
	}
	if evicted == 0 {
		t.Fatal("no full set took a new member")
	}
}

// Random weights, thresholds and reconfigurations: lblcr picks stay equal
// to package sched's while no set needs more than 8 members (at most 6
// dests here).
func TestLBLCRRandomMatchesPackageSched(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 0x1b1c))
			reals := func() []config.Real {
				var rs []config.Real
				for _, i := range rnd.Perm(6)[:1+rnd.IntN(6)] {
					var upper uint32
					if rnd.IntN(3) == 0 {
						upper = uint32(2 + rnd.IntN(5))
					}
					rs = append(rs, rl(fmt.Sprintf("10.0.0.%d:80", 2+i), int32(rnd.IntN(5)), upper))
				}
				return rs
			}
			p, _ := newTestPlane(t, nil)
			l := newLockstep(t, p, sched.Options{}, svc(config.TCP, "10.0.0.100:80", "lblcr", reals()...))
			for range 15 {
				for range rnd.IntN(10) {
					l.conn(0, rnd.IntN(4) != 0)
				}
				l.set(0, reals()...)
				l.commit()
			}
			l.counters()
		})
	}
}

// Sets live as long as their service and scheduler (done_service flushes
// them); idle entries are collected by the sweeper after lblcr_expiration;
// a removed dest that a set still holds keeps its slot, as the kernel's
// set holds a reference that keeps the dest in the trash, and comes back
// with its set membership.
func TestLBLCRLifecycle(t *testing.T) {
	p, clk := newTestPlaneOpt(t, Options{LBLCRExpiration: time.Hour})
	reals := []config.Real{rl("10.0.0.2:53", 1, 0), rl("10.0.0.3:53", 1, 0)}
	s := svc(config.UDP, "10.0.0.100:53", "lblcr", reals...)
	apply(t, p, s)
	run(t, p, pkt{src: ap("192.0.2.1:1000"), dst: ap("10.0.0.100:53"), proto: 17}.frame())
	sets := lblcrSets(t, p)
	if len(sets) != 1 {
		t.Fatalf("sets %v: want one", sets)
	}
	member := sets["svc=1 10.0.0.100"][0]

	// The member's dest leaves; its connection expires; the sweeper keeps
	// the slot because the set holds it.
	var gone config.Real
	for _, r := range reals {
		if fmt.Sprintf("%d/1", p.byKey[s.ServiceKey].dests[r.Address].slot) == member {
			gone = r
		}
	}
	var left []config.Real
	for _, r := range reals {
		if r.Address != gone.Address {
			left = append(left, r)
		}
	}
	s.Reals = left
	apply(t, p, s)
	clk.advance(10 * time.Minute) // past the UDP timeout, within the expiration
	p.Sweep()
	if len(p.Conns()) != 0 {
		t.Fatalf("connections left: %v", p.Conns())
	}
	s.Reals = reals
	apply(t, p, s)
	if got := fmt.Sprintf("%d/%d", p.byKey[s.ServiceKey].dests[gone.Address].slot, p.byKey[s.ServiceKey].dests[gone.Address].gen); got != member {
		t.Fatalf("re-added dest is %s, the set holds %s: the slot was not kept", got, member)
	}

	// Unused for longer than the expiration: collected.
	clk.advance(2 * time.Hour)
	p.Sweep()
	if sets := lblcrSets(t, p); len(sets) != 0 {
		t.Fatalf("sets %v survived their expiration", sets)
	}

	// A change of scheduler, or the service's removal, flushes the sets.
	run(t, p, pkt{src: ap("192.0.2.2:1000"), dst: ap("10.0.0.100:53"), proto: 17}.frame())
	s.Scheduler = "wlc"
	apply(t, p, s)
	if sets := lblcrSets(t, p); len(sets) != 0 {
		t.Fatalf("sets %v survived the change to wlc", sets)
	}
	s.Scheduler = "lblcr"
	apply(t, p, s)
	run(t, p, pkt{src: ap("192.0.2.3:1000"), dst: ap("10.0.0.100:53"), proto: 17}.frame())
	if len(lblcrSets(t, p)) != 1 {
		t.Fatal("no set after switching back to lblcr")
	}
	apply(t, p)
	if sets := lblcrSets(t, p); len(sets) != 0 {
		t.Fatalf("sets %v survived the service's removal", sets)
	}
}
