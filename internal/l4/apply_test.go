package l4

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/proxyproto"
)

func TestApplyUnsupported(t *testing.T) {
	vip := netip.MustParseAddrPort("127.0.40.10:80")
	realAt := func(f config.Forward) config.Service {
		s := tcpService(vip, "wlc", config.Real{Address: netip.MustParseAddrPort("127.0.40.1:80"), Weight: 1, Forward: f})
		return s
	}
	fw := tcpService(netip.AddrPort{}, "wlc")
	fw.ServiceKey = config.ServiceKey{FWMark: 1}
	port0 := tcpService(netip.MustParseAddrPort("127.0.40.10:0"), "wlc")
	port0.Persistence = &config.Persistence{Timeout: time.Minute, PrefixBits: 32}
	tests := []struct {
		name string
		svc  config.Service
		want string
	}{
		{"route", realAt(config.Route), "forwarding method Route (-g) needs the xdp data plane; the proxy data plane forwards as Masq (-m)"},
		{"tunnel", realAt(config.Tunnel), "forwarding method Tunnel (-i) needs the xdp data plane"},
		{"fwmark", fw, "firewall-mark services are not supported by the proxy data plane yet"},
		{"port 0", port0, "port-0 (all ports) services are not supported by the proxy data plane yet"},
	}
	p := newPlane(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Apply(context.Background(), []config.Service{tc.svc}, config.DefaultTimeouts)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err %v, want ErrUnsupported", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.svc.ServiceKey.String()) {
				t.Fatalf("message %q should name the service and say %q", err, tc.want)
			}
			if len(p.Status()) != 0 {
				t.Fatal("a rejected Apply changed the plane")
			}
		})
	}
	// Masq and the model's empty default are accepted; bad values are not.
	if err := p.Apply(context.Background(), []config.Service{realAt(config.Masq)}, config.DefaultTimeouts); err != nil {
		t.Fatal(err)
	}
	bad := realAt(config.Masq)
	bad.Scheduler = "nope"
	if err := p.Apply(context.Background(), []config.Service{bad}, config.DefaultTimeouts); err == nil || errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown scheduler: %v", err)
	}
	ops := realAt(config.Masq)
	ops.OnePacket = true
	if err := p.Apply(context.Background(), []config.Service{ops}, config.DefaultTimeouts); err == nil ||
		!strings.Contains(err.Error(), "One-Packet Scheduling is only for UDP virtual services") {
		t.Fatalf("one-packet on TCP: %v", err)
	}
}

func TestApplyKeepsState(t *testing.T) {
	clk := newClock()
	a := startTCPBackend(t, "127.0.41.1", "A", false)
	b := startTCPBackend(t, "127.0.41.1", "B", false)
	p := newPlane(t, clk)
	vip := freeAddr(t, config.TCP, "127.0.41.10")
	svc := tcpService(vip, "rr", rs(a.addr, 1), rs(b.addr, 1))
	apply(t, p, svc)
	if name, _ := ask(t, vip, ""); name != "B" {
		t.Fatalf("first pick %s", name)
	}
	open, err := dialVIP(t, vip, "")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if name, _, err := open.greeting(); err != nil || name != "A" {
		t.Fatalf("second pick %s %v", name, err)
	}
	before, _ := statusOf(p, svc.ServiceKey)

	// Same key, a changed weight: EditDest only.
	svc.Reals[0].Weight = 5
	apply(t, p, svc)
	after, _ := statusOf(p, svc.ServiceKey)
	if after.Stats != before.Stats || after.Stats.Conns != 2 {
		t.Fatalf("counters changed across re-apply: %+v -> %+v", before.Stats, after.Stats)
	}
	if d := destOf(after, a.addr); d.Weight != 5 || d.ActiveConns != 1 {
		t.Fatalf("dest A after edit: %+v", d)
	}
	if n := len(connsOf(p, config.TCP, false)); n != 2 {
		t.Fatalf("%d entries after re-apply, want 2 (TIME_WAIT + ESTABLISHED)", n)
	}
	// The open connection still flows through the kept listener's plane.
	if _, err := open.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := open.r.ReadString('\n'); err != nil || line != "hi\n" {
		t.Fatalf("echo after re-apply %q %v", line, err)
	}
	// The rr cursor was kept (list B, A; last pick A): next is B.
	if name, _ := ask(t, vip, ""); name != "B" {
		t.Fatalf("scheduler state lost: got %s", name)
	}

	// Real servers in config order A, B -> list B, A; a new C goes first.
	c := startTCPBackend(t, "127.0.41.1", "C", false)
	svc.Reals = append(svc.Reals, rs(c.addr, 1))
	apply(t, p, svc)
	st, _ := statusOf(p, svc.ServiceKey)
	var order []netip.AddrPort
	for _, d := range st.Dests {
		order = append(order, d.Addr)
	}
	if len(order) != 3 || order[0] != c.addr || order[1] != b.addr || order[2] != a.addr {
		t.Fatalf("kernel list order %v, want C B A", order)
	}

	// Weight 0 drains A: its open connection keeps flowing, new ones avoid it.
	svc.Reals[0].Weight = 0
	apply(t, p, svc)
	for range 4 {
		if name, err := ask(t, vip, ""); err != nil || name == "A" {
			t.Fatalf("new connection to a weight-0 server: %q %v", name, err)
		}
	}
	if _, err := open.Write([]byte("drain\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := open.r.ReadString('\n'); err != nil || line != "drain\n" {
		t.Fatalf("drained connection: %q %v", line, err)
	}

	// Removing the service leaves its connection running.
	apply(t, p)
	if len(p.Status()) != 0 {
		t.Fatal("service still listed")
	}
	if _, err := open.Write([]byte("still\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := open.r.ReadString('\n'); err != nil || line != "still\n" {
		t.Fatalf("connection of a removed service: %q %v", line, err)
	}
	if _, err := net.DialTimeout("tcp4", vip.String(), time.Second); err == nil {
		t.Fatal("listener of a removed service still accepts")
	}
}

func TestApplyPortInUseIsAtomic(t *testing.T) {
	a := startTCPBackend(t, "127.0.42.1", "A", false)
	p := newPlane(t, nil)
	vip := freeAddr(t, config.TCP, "127.0.42.10")
	good := tcpService(vip, "rr", rs(a.addr, 1))
	apply(t, p, good)

	squatter, err := net.Listen("tcp4", "127.0.42.11:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	taken := tcpService(addrPort(squatter.Addr()), "rr", rs(a.addr, 1))
	fresh := tcpService(freeAddr(t, config.TCP, "127.0.42.12"), "rr", rs(a.addr, 1))
	changed := good
	changed.Reals = []config.Real{rs(a.addr, 7)}

	err = p.Apply(context.Background(), []config.Service{changed, fresh, taken}, config.DefaultTimeouts)
	if err == nil || !strings.Contains(err.Error(), taken.ServiceKey.String()) {
		t.Fatalf("err %v, want one naming %s", err, taken.ServiceKey)
	}
	st := p.Status()
	if len(st) != 1 || st[0].Key != good.ServiceKey || st[0].Dests[0].Weight != 1 {
		t.Fatalf("status after a failed Apply: %+v", st)
	}
	if name, err := ask(t, vip, ""); err != nil || name != "A" {
		t.Fatalf("previous service stopped serving: %q %v", name, err)
	}
	// The socket opened for "fresh" was closed again.
	if c, err := net.DialTimeout("tcp4", fresh.Address.String(), time.Second); err == nil {
		c.Close()
		t.Fatal("a socket of the failed Apply is still open")
	}
	// UDP port clash too.
	uc, err := net.ListenPacket("udp4", "127.0.42.13:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	usvc := udpSvc(addrPort(uc.LocalAddr()), "rr", rs(a.addr, 1))
	if err := p.Apply(context.Background(), []config.Service{good, usvc}, config.DefaultTimeouts); err == nil {
		t.Fatal("UDP port in use not detected")
	}
}

func TestZeroOneService(t *testing.T) {
	a := startTCPBackend(t, "127.0.43.1", "A", false)
	p := newPlane(t, nil)
	s1 := tcpService(freeAddr(t, config.TCP, "127.0.43.10"), "rr", rs(a.addr, 1))
	s2 := tcpService(freeAddr(t, config.TCP, "127.0.43.11"), "rr", rs(a.addr, 1))
	apply(t, p, s1, s2)
	for _, s := range []config.Service{s1, s2} {
		if _, err := ask(t, s.Address, ""); err != nil {
			t.Fatal(err)
		}
	}
	p.Zero(&s1.ServiceKey)
	st1, _ := statusOf(p, s1.ServiceKey)
	st2, _ := statusOf(p, s2.ServiceKey)
	if st1.Stats.Conns != 0 || destOf(st1, a.addr).Stats.Conns != 0 {
		t.Fatalf("zeroed service %+v", st1.Stats)
	}
	if st2.Stats.Conns != 1 {
		t.Fatalf("other service zeroed too: %+v", st2.Stats)
	}
	if got := p.Status(); got[0].Key != s1.ServiceKey || got[1].Key != s2.ServiceKey {
		t.Fatal("Status not in applied order")
	}
}

// Close leaves no goroutine behind, with live TCP connections (idle and
// mid-dial) and UDP flows.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	a := startTCPBackend(t, "127.0.44.1", "A", false)
	u := startUDPBackend(t, "127.0.44.1", "U", false)
	runtime.GC()
	base := runtime.NumGoroutine()

	p := New(Options{})
	tv := freeAddr(t, config.TCP, "127.0.44.10")
	uv := freeAddr(t, config.UDP, "127.0.44.10")
	apply(t, p, tcpService(tv, "rr", rs(a.addr, 1)), udpSvc(uv, "rr", rs(u.addr, 1)))
	var clients []*clientConn
	for range 5 {
		c, err := dialVIP(t, tv, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.greeting(); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for range 3 {
		udpAsk(t, udpClient(t, uv, ""), "x")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if _, err := c.r.ReadByte(); err == nil {
			t.Fatal("proxied connection survived Close")
		}
		c.Close()
	}
	if n := goroutinesSettle(base); n > base {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
	if err := p.Apply(context.Background(), nil, config.DefaultTimeouts); err == nil {
		t.Fatal("Apply after Close succeeded")
	}
}

func TestProxyProtocol(t *testing.T) {
	tests := []struct {
		name  string
		proto config.Protocol
		ver   string
	}{
		{"tcp v1", config.TCP, "v1"},
		{"tcp v2", config.TCP, "v2"},
		{"udp v2", config.UDP, "v2"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlane(t, nil)
			vip := freeAddr(t, tc.proto, "127.0.45."+string(rune('1'+i)))
			client := "127.0.5." + string(rune('1'+i))
			if tc.proto == config.TCP {
				b := startTCPBackend(t, "127.0.45.100", "A", true)
				svc := tcpService(vip, "rr", rs(b.addr, 1))
				svc.ProxyProtocol = tc.ver
				apply(t, p, svc)
				c, err := dialVIP(t, vip, client)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_, f, err := c.greeting()
				if err != nil {
					t.Fatal(err)
				}
				if f[0] != addrPort(c.LocalAddr()).String() || f[1] != vip.String() {
					t.Fatalf("backend saw PROXY %v, want %v %v", f, c.LocalAddr(), vip)
				}
				// The header is not payload: nothing extra reaches the client.
				if _, err := c.Write([]byte("ping\n")); err != nil {
					t.Fatal(err)
				}
				if line, _ := c.r.ReadString('\n'); line != "ping\n" {
					t.Fatalf("echo %q", line)
				}
				return
			}
			b := startUDPBackend(t, "127.0.45.100", "U", true)
			svc := udpSvc(vip, "rr", rs(b.addr, 1))
			svc.ProxyProtocol = tc.ver
			apply(t, p, svc)
			c := udpClient(t, vip, client)
			for _, m := range []string{"first", "second"} {
				r := udpAsk(t, c, m)
				if r[1] != addrPort(c.LocalAddr()).String() || r[2] != vip.String() || r[3] != m {
					t.Fatalf("backend saw %v for %q", r, m)
				}
			}
			// The plane counts a datagram after sending it on, so the
			// reply can arrive first: wait for the count. The header would
			// make it larger, never equal.
			want := uint64(len("first") + len("second"))
			waitFor(t, "payload bytes without the PROXY header", func() bool {
				st, _ := statusOf(p, svc.ServiceKey)
				return st.Stats.InBytes == want
			})
		})
	}
	if err := newPlane(t, nil).Apply(context.Background(), []config.Service{func() config.Service {
		s := udpSvc(netip.MustParseAddrPort("127.0.45.50:53"), "rr")
		s.ProxyProtocol = "v1"
		return s
	}()}, config.DefaultTimeouts); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("v1 over UDP: %v", err)
	}
}

// IP_FREEBIND: a VIP that is on no interface can be configured (no packet
// is sent to it).
func TestFreebindVIP(t *testing.T) {
	p := newPlane(t, nil)
	vip := netip.MustParseAddrPort("203.0.113.7:8080") // TEST-NET-3, not local
	svcs := []config.Service{
		tcpService(vip, "rr", rs(netip.MustParseAddrPort("127.0.46.1:80"), 1)),
		udpSvc(vip, "rr", rs(netip.MustParseAddrPort("127.0.46.1:53"), 1)),
	}
	if err := p.Apply(context.Background(), svcs, config.DefaultTimeouts); err != nil {
		t.Fatalf("non-local VIP: %v", err)
	}
	if len(p.Status()) != 2 {
		t.Fatal("services not listed")
	}
}

func TestIPv6Service(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	b := startTCPBackend6(t)
	p := newPlane(t, nil)
	vip := addrPort(func() net.Addr {
		l, _ := net.Listen("tcp6", "[::1]:0")
		defer l.Close()
		return l.Addr()
	}())
	svc := tcpService(vip, "wlc", rs(b, 1))
	svc.ProxyProtocol = "v2"
	svc.Persistence = &config.Persistence{Timeout: time.Minute, PrefixBits: 64}
	apply(t, p, svc)
	c, err := net.Dial("tcp6", vip.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := "A " + addrPort(c.LocalAddr()).String() + " " + vip.String() + "\n"; line != want {
		t.Fatalf("backend saw %q, want %q", line, want)
	}
	tpl := connsOf(p, config.TCP, true)
	if len(tpl) != 1 || tpl[0].Client != netip.MustParseAddrPort("[::]:0") {
		t.Fatalf("IPv6 /64 template %+v", tpl)
	}
}

func startTCPBackend6(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				h, err := proxyproto.Read(br)
				if err != nil {
					return
				}
				fmt.Fprintf(c, "A %s %s\n", h.Source, h.Destination)
				_, _ = io.Copy(io.Discard, br)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return addrPort(ln.Addr())
}

// The plane's estimator tick feeds Status' rates (ip_vs_est.c arithmetic:
// 5 connections in one 2 s tick -> cps avg (5<<9)>>2 = 640 -> (640+511)>>10 = 1).
func TestPlaneRates(t *testing.T) {
	a := startTCPBackend(t, "127.0.47.1", "A", false)
	p := newPlane(t, nil)
	svc := tcpService(freeAddr(t, config.TCP, "127.0.47.10"), "rr", rs(a.addr, 1))
	apply(t, p, svc)
	for range 5 {
		if _, err := ask(t, svc.Address, ""); err != nil {
			t.Fatal(err)
		}
	}
	p.Zero(nil) // start the estimator from here, as -Z does
	for range 5 {
		if _, err := ask(t, svc.Address, ""); err != nil {
			t.Fatal(err)
		}
	}
	p.statsTick()
	st, _ := statusOf(p, svc.ServiceKey)
	if st.Rates.CPS != 1 || destOf(st, a.addr).Rates.CPS != 1 {
		t.Fatalf("rates %+v / %+v, want CPS 1", st.Rates, destOf(st, a.addr).Rates)
	}
	// ask sends no payload, only the handshake and FIN: packets in, bytes out.
	if st.Rates.InPPS == 0 || st.Rates.OutPPS == 0 || st.Rates.OutBPS == 0 || st.Rates.InBPS != 0 {
		t.Fatalf("traffic rates %+v", st.Rates)
	}
}

// A service deleted and created again starts from zero and does not reuse
// the old service's persistence templates.
func TestRecreatedServiceStartsFresh(t *testing.T) {
	a := startTCPBackend(t, "127.0.48.1", "A", false)
	b := startTCPBackend(t, "127.0.48.1", "B", false)
	p := newPlane(t, nil)
	vip := freeAddr(t, config.TCP, "127.0.48.10")
	svc := tcpService(vip, "rr", rs(a.addr, 1), rs(b.addr, 1))
	svc.Persistence = &config.Persistence{Timeout: time.Hour, PrefixBits: 32}
	apply(t, p, svc)
	if name, _ := ask(t, vip, "127.0.6.1"); name != "B" {
		t.Fatalf("first pick %s", name)
	}
	apply(t, p)
	svc.Reals = []config.Real{rs(a.addr, 1)}
	apply(t, p, svc)
	if name, err := ask(t, vip, "127.0.6.1"); err != nil || name != "A" {
		t.Fatalf("re-created service used an old template: %q %v", name, err)
	}
	st, _ := statusOf(p, svc.ServiceKey)
	if st.Stats.Conns != 1 {
		t.Fatalf("re-created service counters %+v", st.Stats)
	}
}

// Stats samples taken while the plane closes neither hang Close nor hang
// themselves: a sample posted to a relay loop that has stopped returns at
// once, and one posted while it stops still runs (the estimator's tick
// waits for it, and Close waits for the tick). The second window is a few
// hundred nanoseconds wide; this loop seldom hits it.
func TestCloseWhileSampling(t *testing.T) {
	for range 50 {
		p := New(Options{})
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
					p.sampleAll()
				}
			}
		}()
		time.Sleep(200 * time.Microsecond)
		closed := make(chan struct{})
		go func() { _ = p.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close hung")
		}
		close(stop)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a sample posted during Close never ran")
		}
	}
}
