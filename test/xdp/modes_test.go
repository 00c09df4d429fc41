package xdp

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/realserver"
	"github.com/fulcrumlb/fulcrum/internal/xdp"
)

// seedLab is the seed's LVS lab: client .10, director .1 (holding the VIP
// .100 on eth0 so it answers ARP for it), real servers .2 and .3, each
// serving :80 and answering with its name.
func seedLab(t testing.TB, subnet int, clientAddr string) *lab {
	l := newLab(t, subnet, map[string]string{
		"client": clientAddr,
		"lb":     fmt.Sprintf("10.%d.0.1/24", subnet),
		"rs1":    fmt.Sprintf("10.%d.0.2/24", subnet),
		"rs2":    fmt.Sprintf("10.%d.0.3/24", subnet),
	})
	l.ip(l.ns("lb"), "addr", "add", l.vip().String()+"/32", "dev", "eth0")
	l.peerPass("plb")
	for _, h := range []string{"client", "rs1", "rs2"} {
		l.in(h, func() error { return txChecksumOff("eth0") })
	}
	l.serve("rs1", 80)
	l.serve("rs2", 80)
	return l
}

func service(l *lab, fwd config.Forward) config.Service {
	return config.Service{
		ServiceKey: config.ServiceKey{Protocol: config.TCP, Address: netip.AddrPortFrom(l.vip(), 80)},
		Scheduler:  "rr",
		Reals: []config.Real{
			{Address: netip.AddrPortFrom(l.addr("rs1"), 80), Weight: 1, Forward: fwd},
			{Address: netip.AddrPortFrom(l.addr("rs2"), 80), Weight: 1, Forward: fwd},
		},
	}
}

// exercise runs the checks every mode shares: rr alternates the servers,
// the director holds no TCP socket, and Conns lists every connection with
// an IPVS state. It returns the director-port tap for mode-specific checks.
func exercise(t *testing.T, l *lab, p *xdp.Plane, fwd config.Forward, wantStates ...string) *tap {
	t.Helper()
	if err := p.Apply(context.Background(), []config.Service{service(l, fwd)}, config.DefaultTimeouts); err != nil {
		t.Fatal(err)
	}
	vip := netip.AddrPortFrom(l.vip(), 80)
	tp := l.tap("sw", "plb", vip)
	var got []string
	for i := range 4 {
		var ans string
		var err error
		// The first connection may wait for ARP on the way.
		for try := 0; try < 3; try++ {
			if ans, err = l.fetch("client", vip); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		got = append(got, ans)
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] || (got[i] != "rs1" && got[i] != "rs2") {
			t.Fatalf("rr did not alternate the real servers: %v", got)
		}
	}
	if n := l.tcpSockets("lb"); n != 0 {
		t.Fatalf("the director holds %d TCP sockets; the data plane must not terminate TCP", n)
	}
	conns := p.Conns()
	byDest := map[netip.Addr]int{}
	for _, c := range conns {
		if c.Template || c.Virtual != vip {
			continue
		}
		if c.Client.Addr() != l.addr("client") {
			t.Fatalf("connection from %s", c.Client)
		}
		ok := false
		for _, s := range wantStates {
			ok = ok || c.State == s
		}
		if !ok {
			t.Fatalf("connection %+v in state %s, want one of %v", c, c.State, wantStates)
		}
		byDest[c.Dest.Addr()]++
	}
	if byDest[l.addr("rs1")] != 2 || byDest[l.addr("rs2")] != 2 {
		t.Fatalf("Conns per real server %v, want 2 each; all: %+v", byDest, conns)
	}
	st := p.Status()
	if len(st) != 1 || st[0].Stats.Conns != 4 || st[0].Stats.InPkts == 0 {
		t.Fatalf("status %+v", st)
	}
	return tp
}

// DR: the real servers hold the VIP on lo with the ARP sysctls
// (realserver.Up); replies go from them straight to the client, so the
// director's switch port sees only the client-to-VIP direction.
func TestLabDirectRouting(t *testing.T) {
	l := seedLab(t, 241, "10.241.0.10/24")
	for _, rs := range []string{"rs1", "rs2"} {
		dir := t.TempDir()
		l.in(rs, func() error {
			return realserver.Up(context.Background(), realserver.Options{VIPs: []netip.Addr{l.vip()}, Mode: realserver.DR, Dev: "eth0", StateDir: dir})
		})
	}
	p := newDirector(t, l)
	tp := exercise(t, l, p, config.Route, "FIN_WAIT", "ESTABLISHED", "CLOSE", "TIME_WAIT")
	if tp.to.Load() == 0 || tp.from.Load() != 0 {
		t.Fatalf("director port saw %d packets to the VIP and %d from it; want some, and none", tp.to.Load(), tp.from.Load())
	}
	// INPUT-ONLY: with the client's FIN seen, DR connections sit in
	// FIN_WAIT (the last state the director can know).
	fin := 0
	for _, c := range p.Conns() {
		if c.State == "FIN_WAIT" {
			fin++
		}
	}
	if fin == 0 {
		t.Fatalf("no connection reached FIN_WAIT: %+v", p.Conns())
	}
}

// TUN: IPIP to the real servers, whose XDP decapsulator (realserver.Up
// --mode tun) hands the inner packet to the VIP on lo.
func TestLabTunnel(t *testing.T) {
	l := seedLab(t, 242, "10.242.0.10/24")
	for _, rs := range []string{"rs1", "rs2"} {
		dir := t.TempDir()
		l.in(rs, func() error {
			return realserver.Up(context.Background(), realserver.Options{VIPs: []netip.Addr{l.vip()}, Mode: realserver.TUN, Dev: "eth0", StateDir: dir})
		})
	}
	p := newDirector(t, l)
	tp := exercise(t, l, p, config.Tunnel, "FIN_WAIT", "ESTABLISHED", "CLOSE", "TIME_WAIT")
	if tp.from.Load() != 0 {
		t.Fatalf("director port saw %d replies from the VIP", tp.from.Load())
	}
}

// NAT: the client is on another subnet of the same L2, the real servers
// route it through the director, which DNATs in and SNATs the replies
// back; both directions cross the director and the TCP states are the
// full table's.
func TestLabNAT(t *testing.T) {
	l := seedLab(t, 243, "10.244.0.10/24")
	l.ip(l.ns("client"), "route", "add", "10.243.0.0/24", "dev", "eth0")
	l.ip(l.ns("lb"), "route", "add", "10.244.0.0/24", "dev", "eth0")
	for _, rs := range []string{"rs1", "rs2"} {
		l.ip(l.ns(rs), "route", "add", "10.244.0.0/24", "via", "10.243.0.1")
	}
	p := newDirector(t, l)
	tp := exercise(t, l, p, config.Masq, "TIME_WAIT", "CLOSE_WAIT", "FIN_WAIT", "LAST_ACK", "CLOSE", "ESTABLISHED")
	if tp.to.Load() == 0 || tp.from.Load() == 0 {
		t.Fatalf("NAT: director port saw %d to and %d from the VIP; want both", tp.to.Load(), tp.from.Load())
	}
	if st := p.Status()[0].Stats; st.OutPkts == 0 {
		t.Fatalf("no reply counted: %+v", st)
	}
	if !waitFor(2*time.Second, func() bool {
		for _, c := range p.Conns() {
			if c.State == "TIME_WAIT" {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no NAT connection reached TIME_WAIT: %+v", p.Conns())
	}
}
