package xdp

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// oracle is package sched driven like the kernel drives a scheduler: the
// same list (config order added one by one), then Bind for every new
// connection and Activate when it is established.
type oracle struct {
	s *sched.Service
}

func newOracle(t *testing.T, name string, flags uint32, reals []config.Real) *oracle {
	t.Helper()
	s, err := sched.NewService(name, flags, sched.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reals {
		if _, err := s.AddDest(r.Address, r.Weight, r.UpperThreshold, r.LowerThreshold); err != nil {
			t.Fatal(err)
		}
	}
	return &oracle{s: s}
}

func (o *oracle) pick(k *sched.Key) *sched.Dest {
	d := o.s.Schedule(k)
	if d != nil {
		d.Bind(false)
	}
	return d
}

// The fast path picks what package sched picks for the same state:
// table-driven schedulers (rr, wrr, dh, sh, mh) from tables built from the
// kernel algorithms, connection-count ones (lc, wlc, sed, nq, fo, ovf, and
// lblcr's set scan with its wlc fallback) from the live counters the
// program keeps, with thresholds and weight 0 in play. Every third
// connection stays unestablished so active and inactive counts differ.
func TestSchedulerPicksMatchPackageSched(t *testing.T) {
	mixed := []config.Real{rl("10.0.0.2:80", 4, 0), rl("10.0.0.3:80", 3, 0), rl("10.0.0.4:80", 2, 0), rl("10.0.0.5:80", 0, 0)}
	thresh := []config.Real{rl("10.0.0.2:80", 5, 3), rl("10.0.0.3:80", 1, 0), rl("10.0.0.4:80", 2, 0)}
	equal := []config.Real{rl("10.0.0.2:80", 1, 0), rl("10.0.0.3:80", 1, 0), rl("10.0.0.4:80", 1, 0)}
	cases := []struct {
		sched string
		flags []string
		reals []config.Real
	}{
		{"rr", nil, mixed},
		{"rr", nil, thresh},
		{"wrr", nil, mixed},
		{"wrr", nil, thresh},
		{"lc", nil, mixed},
		{"wlc", nil, mixed},
		{"wlc", nil, thresh},
		{"sed", nil, mixed},
		{"nq", nil, mixed},
		{"fo", nil, thresh},
		{"ovf", nil, mixed},
		{"sh", nil, mixed},
		{"sh", []string{"sh-port", "sh-fallback"}, mixed},
		{"mh", nil, mixed},
		{"mh", []string{"mh-port", "mh-fallback"}, mixed},
		{"mh", nil, equal},
		{"lblcr", nil, mixed},
		{"lblcr", nil, thresh},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s%v/%d", c.sched, c.flags, len(c.reals)), func(t *testing.T) {
			p, _ := newTestPlane(t, nil)
			s := svc(config.TCP, "10.0.0.100:80", c.sched, c.reals...)
			s.SchedFlags = c.flags
			apply(t, p, s)
			pl, err := compile(&s)
			if err != nil {
				t.Fatal(err)
			}
			o := newOracle(t, c.sched, pl.flags, c.reals)
			for i := range 60 {
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2 + byte(i%3), byte(7 + i*13)}), uint16(30000+i*7))
				k := &sched.Key{Src: src.Addr(), SrcPort: src.Port(), Dst: netip.MustParseAddr("10.0.0.100"), DstPort: 80}
				want := o.pick(k)
				ret, out := run(t, p, client(src.String(), "10.0.0.100:80", fSYN).frame())
				if want == nil {
					if ret != xdpTX || out[14+9] != 1 {
						t.Fatalf("conn %d: sched found no server, XDP verdict %d", i, ret)
					}
					continue
				}
				if got := destOf(t, out); got != want.Addr.Addr() {
					t.Fatalf("conn %d from %s: xdp picked %s, sched %s", i, src, got, want.Addr.Addr())
				}
				if i%3 != 0 {
					run(t, p, client(src.String(), "10.0.0.100:80", fACK).frame())
					want.Activate()
				}
			}
			// The counters the program kept agree with the oracle's.
			st := p.Status()[0]
			for i, d := range o.s.Dests() {
				got := st.Dests[i]
				if got.Addr != d.Addr || got.ActiveConns != d.ActiveConns() || got.InactConns != d.InactConns() || got.Overloaded != d.Overloaded() {
					t.Fatalf("dest %s: xdp %+v, sched active=%d inact=%d overload=%v", d.Addr, got, d.ActiveConns(), d.InactConns(), d.Overloaded())
				}
			}
		})
	}
}

// dh hashes the destination address: one service per VIP, each compared
// with package sched.
func TestDHPicksMatchPackageSched(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	reals := []config.Real{real("10.0.0.2:80", 1, config.Route), real("10.0.0.3:80", 2, config.Route), real("10.0.0.4:80", 1, config.Route)}
	var svcs []config.Service
	for i := range 24 {
		svcs = append(svcs, svc(config.TCP, fmt.Sprintf("10.0.1.%d:80", 10+i*7), "dh", reals...))
	}
	apply(t, p, svcs...)
	o := newOracle(t, "dh", 0, reals)
	seen := map[netip.Addr]bool{}
	for i := range 24 {
		vip := netip.MustParseAddr(fmt.Sprintf("10.0.1.%d", 10+i*7))
		want := o.s.Schedule(&sched.Key{Src: netip.MustParseAddr("192.0.2.1"), SrcPort: 1000, Dst: vip, DstPort: 80})
		_, out := run(t, p, client("192.0.2.1:1000", vip.String()+":80", fSYN).frame())
		got := destOf(t, out)
		if got != want.Addr.Addr() {
			t.Fatalf("vip %s: xdp %s, sched %s", vip, got, want.Addr.Addr())
		}
		seen[got] = true
	}
	if len(seen) != 3 {
		t.Fatalf("dh used %d of 3 servers over 24 VIPs", len(seen))
	}
}

// lblc and twos run in the fast path too: lblc remembers the wlc pick per
// destination address; twos only ever picks eligible servers.
func TestLBLCAndTwos(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	reals := []config.Real{real("10.0.0.2:80", 1, config.Route), real("10.0.0.3:80", 1, config.Route), real("10.0.0.4:80", 0, config.Route)}
	apply(t, p, svc(config.TCP, "10.0.0.100:80", "lblc", reals...), svc(config.TCP, "10.0.0.101:80", "twos", reals...))
	o := newOracle(t, "lblc", 0, reals)
	for i := range 10 {
		src := fmt.Sprintf("192.0.2.%d:1000", i+1)
		want := o.pick(&sched.Key{Src: netip.MustParseAddrPort(src).Addr(), Dst: netip.MustParseAddr("10.0.0.100"), DstPort: 80})
		_, out := run(t, p, client(src, "10.0.0.100:80", fSYN).frame())
		if got := destOf(t, out); got != want.Addr.Addr() {
			t.Fatalf("lblc conn %d: xdp %s, sched %s", i, got, want.Addr.Addr())
		}
	}
	for i := range 30 {
		_, out := run(t, p, client(fmt.Sprintf("192.0.2.%d:2000", i+1), "10.0.0.101:80", fSYN).frame())
		if destOf(t, out) == netip.MustParseAddr("10.0.0.4") {
			t.Fatal("twos picked a weight-0 server")
		}
	}
}

// The Go-side tables equal what package sched schedules for every bucket.
func TestTablesAgreeWithSchedHashes(t *testing.T) {
	reals := []config.Real{real("10.0.0.2:80", 5, config.Route), real("10.0.0.3:80", 1, config.Route), real("10.0.0.4:80", 3, config.Route)}
	for _, name := range []string{"sh", "mh"} {
		o := newOracle(t, name, 0, reals)
		var ds []tdest
		slotOf := map[uint16]netip.AddrPort{}
		for i, d := range o.s.Dests() {
			ds = append(ds, tdest{uint16(i + 1), d})
			slotOf[uint16(i+1)] = d.Addr
		}
		tab := shTable(ds)
		if name == "mh" {
			tab = mhTable(ds)
		}
		for i := range 2000 {
			src := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
			want := o.s.Schedule(&sched.Key{Src: src})
			var idx uint32
			if name == "sh" {
				idx = (foldAddr(src) * 2654435761) & 255
			} else {
				idx = hsiphash32(foldAddr(src), mhKey1) % mhTabSize
			}
			if slotOf[tab[idx]] != want.Addr {
				t.Fatalf("%s: client %s: table %s, sched %s", name, src, slotOf[tab[idx]], want.Addr)
			}
		}
	}
}
