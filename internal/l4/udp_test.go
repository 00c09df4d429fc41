package l4

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

func udpSvc(vip netip.AddrPort, scheduler string, reals ...config.Real) config.Service {
	return config.Service{
		ServiceKey: config.ServiceKey{Protocol: config.UDP, Address: vip},
		Scheduler:  scheduler,
		Reals:      reals,
	}
}

// udpAsk sends msg from conn and returns the reply's fields.
func udpAsk(t *testing.T, c *net.UDPConn, msg string) []string {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no reply to %q: %v", msg, err)
	}
	return strings.Fields(string(buf[:n]))
}

func udpClient(t *testing.T, vip netip.AddrPort, src string) *net.UDPConn {
	t.Helper()
	var laddr *net.UDPAddr
	if src != "" {
		laddr = &net.UDPAddr{IP: net.ParseIP(src)}
	}
	c, err := net.DialUDP("udp4", laddr, net.UDPAddrFromAddrPort(vip))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPRelay(t *testing.T) {
	clk := newClock()
	a := startUDPBackend(t, "127.0.31.1", "A", false)
	b := startUDPBackend(t, "127.0.31.1", "B", false)
	p := newPlane(t, clk)
	vip := freeAddr(t, config.UDP, "127.0.31.10")
	svc := udpSvc(vip, "rr", rs(a.addr, 1), rs(b.addr, 1))
	apply(t, p, svc)

	c1 := udpClient(t, vip, "")
	c2 := udpClient(t, vip, "")
	// rr over the list B, A: the first flow goes to B, the second to A;
	// every datagram of a flow follows it.
	r := udpAsk(t, c1, "one")
	if r[0] != "B" || r[2] != "one" {
		t.Fatalf("reply %v", r)
	}
	if r := udpAsk(t, c2, "two"); r[0] != "A" {
		t.Fatalf("second flow went to %v", r)
	}
	if r := udpAsk(t, c1, "three"); r[0] != "B" || r[2] != "three" {
		t.Fatalf("flow moved: %v", r)
	}
	// The backend saw the plane's socket, and the reply came from the VIP.
	if r[1] == addrPort(c1.LocalAddr()).String() {
		t.Fatal("backend saw the client address: not proxied")
	}
	// The plane counts a datagram after sending it on: the client may
	// have its reply first.
	var st ServiceStatus
	waitFor(t, "three datagrams and replies counted", func() bool {
		st, _ = statusOf(p, svc.ServiceKey)
		return st.Stats.InPkts == 3 && st.Stats.OutPkts == 3
	})
	for _, d := range st.Dests {
		if d.ActiveConns != 0 || d.InactConns != 1 {
			t.Fatalf("dest %s: active %d inactive %d, UDP entries are always inactive", d.Addr, d.ActiveConns, d.InactConns)
		}
	}
	if st.Stats.Conns != 2 || st.Stats.InPkts != 3 || st.Stats.OutPkts != 3 || st.Stats.InBytes != uint64(len("one")+len("two")+len("three")) {
		t.Fatalf("stats %+v", st.Stats)
	}
	cs := connsOf(p, config.UDP, false)
	if len(cs) != 2 || cs[0].State != "UDP" || cs[0].Expires != 300*time.Second {
		t.Fatalf("conns %+v", cs)
	}

	// --set udp 10 applies at the next datagram; then the idle flow expires.
	if err := p.Apply(t.Context(), []config.Service{svc}, config.Timeouts{UDP: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	udpAsk(t, c1, "four")
	clk.Advance(11 * time.Second)
	p.sweep()
	cs = connsOf(p, config.UDP, false)
	if len(cs) != 1 || cs[0].Client != addrPort(c2.LocalAddr()) {
		t.Fatalf("after 11 s: %+v (c1's flow should have expired, c2's keeps 300 s)", cs)
	}
	// A new datagram from c1 opens a new flow, scheduled again (rr: B).
	if r := udpAsk(t, c1, "five"); r[0] != "B" {
		t.Fatalf("new flow went to %v", r)
	}
	if st, _ := statusOf(p, svc.ServiceKey); st.Stats.Conns != 3 {
		t.Fatalf("conns %d, want 3", st.Stats.Conns)
	}
}

func TestUDPOnePacket(t *testing.T) {
	a := startUDPBackend(t, "127.0.32.1", "A", false)
	b := startUDPBackend(t, "127.0.32.1", "B", false)
	p := newPlane(t, nil)
	vip := freeAddr(t, config.UDP, "127.0.32.10")
	svc := udpSvc(vip, "rr", rs(a.addr, 1), rs(b.addr, 1))
	svc.OnePacket = true
	apply(t, p, svc)
	c := udpClient(t, vip, "")
	var got []string
	for _, m := range []string{"1", "2", "3", "4"} {
		got = append(got, udpAsk(t, c, m)[0])
	}
	if strings.Join(got, "") != "BABA" {
		t.Fatalf("one-packet scheduling from one socket: %v, want every datagram scheduled (B A B A)", got)
	}
	// Each entry expires right after its datagram is sent, and the reply
	// is counted after it is sent: the client may be quicker than both.
	waitFor(t, "the one-packet entries gone", func() bool { return len(connsOf(p, config.UDP, false)) == 0 })
	var st ServiceStatus
	waitFor(t, "four datagrams and replies counted", func() bool {
		st, _ = statusOf(p, svc.ServiceKey)
		return st.Stats.InPkts == 4 && st.Stats.OutPkts == 4
	})
	if st.Stats.Conns != 4 || st.Stats.InPkts != 4 || st.Stats.OutPkts != 4 {
		t.Fatalf("stats %+v", st.Stats)
	}
	for _, d := range st.Dests {
		if d.InactConns != 0 || d.ActiveConns != 0 {
			t.Fatalf("dest %s still counts one-packet entries", d.Addr)
		}
	}
}

// A UDP flow whose real server was deleted is rescheduled at once.
func TestUDPRemovedDestReschedules(t *testing.T) {
	a := startUDPBackend(t, "127.0.33.1", "A", false)
	b := startUDPBackend(t, "127.0.33.1", "B", false)
	p := newPlane(t, nil)
	vip := freeAddr(t, config.UDP, "127.0.33.10")
	svc := udpSvc(vip, "rr", rs(a.addr, 1), rs(b.addr, 1))
	apply(t, p, svc)
	c := udpClient(t, vip, "")
	if r := udpAsk(t, c, "x"); r[0] != "B" {
		t.Fatalf("first flow %v", r)
	}
	svc.Reals = svc.Reals[:1] // drop B
	apply(t, p, svc)
	if r := udpAsk(t, c, "y"); r[0] != "A" {
		t.Fatalf("flow to a removed server: %v", r)
	}
}

func TestUDPPersistence(t *testing.T) {
	a := startUDPBackend(t, "127.0.34.1", "A", false)
	b := startUDPBackend(t, "127.0.34.1", "B", false)
	p := newPlane(t, nil)
	vip := freeAddr(t, config.UDP, "127.0.34.10")
	svc := udpSvc(vip, "rr", rs(a.addr, 1), rs(b.addr, 1))
	svc.Persistence = &config.Persistence{Timeout: time.Minute, PrefixBits: 24}
	apply(t, p, svc)
	first := udpAsk(t, udpClient(t, vip, "127.0.3.1"), "x")[0]
	for _, src := range []string{"127.0.3.2", "127.0.3.3"} {
		if r := udpAsk(t, udpClient(t, vip, src), "x"); r[0] != first {
			t.Fatalf("client %s went to %s, template says %s", src, r[0], first)
		}
	}
	tpl := connsOf(p, config.UDP, true)
	if len(tpl) != 1 || tpl[0].Client != netip.MustParseAddrPort("127.0.3.0:0") || tpl[0].State != "NONE" {
		t.Fatalf("templates %+v", tpl)
	}
}
