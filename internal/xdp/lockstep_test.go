package xdp

import (
	"context"
	"net/netip"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// lockstep drives the plane and package sched with the same
// configurations and the same new connections, and fails at the first
// pick that differs. Each service has its own oracle: a sched.Service
// given the dest changes in the order Apply documents (deletions in list
// order, then additions and edits in configuration order, as ipvsadm -d,
// -a and -e would), Bind for every new connection and Activate when it is
// established, as ip_vs_bind_dest and set_tcp_state do.
type lockstep struct {
	t    *testing.T
	p    *Plane
	svcs []*lsvc
	opt  sched.Options
	n    int // connections so far: each gets its own client address
}

type lsvc struct {
	cfg config.Service
	o   *sched.Service
}

func newLockstep(t *testing.T, p *Plane, opt sched.Options, svcs ...config.Service) *lockstep {
	t.Helper()
	l := &lockstep{t: t, p: p, opt: opt}
	for _, s := range svcs {
		pl, err := compile(&s)
		if err != nil {
			t.Fatal(err)
		}
		o, err := sched.NewService(pl.sched, pl.flags, opt)
		if err != nil {
			t.Fatal(err)
		}
		ls := &lsvc{cfg: s, o: o}
		ls.cfg.Reals = nil
		l.svcs = append(l.svcs, ls)
		l.mirror(ls, s.Reals)
	}
	l.commit()
	return l
}

// set gives service i new real servers (applied by the next commit).
func (l *lockstep) set(i int, reals ...config.Real) {
	l.t.Helper()
	l.mirror(l.svcs[i], reals)
}

// scheduler switches service i to another scheduler, as ipvsadm -E.
func (l *lockstep) scheduler(i int, name string) {
	l.t.Helper()
	s := l.svcs[i]
	if err := s.o.SetScheduler(name, 0); err != nil {
		l.t.Fatal(err)
	}
	s.cfg.Scheduler = name
}

func (l *lockstep) mirror(s *lsvc, reals []config.Real) {
	l.t.Helper()
	old := map[netip.AddrPort]config.Real{}
	for _, r := range s.cfg.Reals {
		old[r.Address] = r
	}
	want := map[netip.AddrPort]bool{}
	for _, r := range reals {
		want[r.Address] = true
	}
	for _, d := range s.o.Dests() {
		if !want[d.Addr] {
			if err := s.o.DelDest(d.Addr); err != nil {
				l.t.Fatal(err)
			}
		}
	}
	for _, r := range reals {
		was, ok := old[r.Address]
		var err error
		switch {
		case !ok:
			_, err = s.o.AddDest(r.Address, r.Weight, r.UpperThreshold, r.LowerThreshold)
		case was.Weight != r.Weight || was.UpperThreshold != r.UpperThreshold || was.LowerThreshold != r.LowerThreshold:
			err = s.o.EditDest(r.Address, r.Weight, r.UpperThreshold, r.LowerThreshold)
		}
		if err != nil {
			l.t.Fatal(err)
		}
	}
	s.cfg.Reals = reals
}

// commit applies every service's configuration to the plane.
func (l *lockstep) commit() {
	l.t.Helper()
	cfgs := make([]config.Service, len(l.svcs))
	for i, s := range l.svcs {
		cfgs[i] = s.cfg
	}
	if err := l.p.Apply(context.Background(), cfgs, config.DefaultTimeouts); err != nil {
		l.t.Fatal(err)
	}
}

// conn opens one TCP connection to service i from a new client, checks
// the plane's pick against sched's, and establishes it if asked. It
// returns the pick (invalid when neither found a server).
func (l *lockstep) conn(i int, establish bool) netip.Addr {
	l.t.Helper()
	s := l.svcs[i]
	l.n++
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(l.n >> 8), byte(l.n)}), uint16(1024+l.n))
	vip := s.cfg.Address
	want := s.o.Schedule(&sched.Key{Src: src.Addr(), SrcPort: src.Port(), Dst: vip.Addr(), DstPort: vip.Port()})
	ret, out := run(l.t, l.p, client(src.String(), vip.String(), fSYN).frame())
	if want == nil {
		if ret != xdpTX || out[14+9] != 1 {
			l.t.Fatalf("conn %d to %s: sched found no server, the program returned %d", l.n, vip, ret)
		}
		return netip.Addr{}
	}
	want.Bind(false)
	got := destOf(l.t, out)
	if got != want.Addr.Addr() {
		l.t.Fatalf("conn %d to %s: xdp picked %s, sched %s", l.n, vip, got, want.Addr.Addr())
	}
	if establish {
		run(l.t, l.p, client(src.String(), vip.String(), fACK).frame())
		want.Activate()
	}
	return got
}

// conns opens n connections to service i, establishing two of three.
func (l *lockstep) conns(i, n int) []netip.Addr {
	l.t.Helper()
	var picks []netip.Addr
	for k := range n {
		picks = append(picks, l.conn(i, k%3 != 2))
	}
	return picks
}

// counters checks the program's per-dest counters against the oracle's.
func (l *lockstep) counters() {
	l.t.Helper()
	for i, st := range l.p.Status() {
		o := l.svcs[i].o
		for j, d := range o.Dests() {
			got := st.Dests[j]
			if got.Addr != d.Addr || got.ActiveConns != d.ActiveConns() || got.InactConns != d.InactConns() || got.Overloaded != d.Overloaded() {
				l.t.Fatalf("service %d dest %s: xdp %+v, sched active=%d inact=%d overload=%v",
					i, d.Addr, got, d.ActiveConns(), d.InactConns(), d.Overloaded())
			}
		}
	}
}

// rl is a DR real server with an upper threshold.
func rl(addr string, w int32, upper uint32) config.Real {
	r := real(addr, w, config.Route)
	r.UpperThreshold = upper
	return r
}
