package l4

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// refWRR re-derives ip_vs_wrr.c for dests added in order with the given
// weights (none overloaded): every add_dest re-runs dest_changed on the
// list, which list_add_rcu grows at the head. It returns the indexes (in
// add order) of n picks.
func refWRR(weights []int, n int) []int {
	gcd := func(a, b int) int {
		for b != 0 {
			a, b = b, a%b
		}
		return a
	}
	var list []int // indexes into weights, kernel order
	cl, cw, mw, di := -1, 0, 0, 1
	changed := func() { // ip_vs_wrr_dest_changed
		cl, di, mw = -1, 0, 0
		for _, i := range list {
			if w := weights[i]; w > 0 {
				if di > 0 {
					di = gcd(w, di)
				} else {
					di = w
				}
			}
			mw = max(mw, weights[i])
		}
		if di == 0 {
			di = 1
		}
		mw -= di - 1
		if cw > mw || cw == 0 {
			cw = mw
		} else if di > 1 {
			cw = (cw/di)*di + 1
		}
	}
	// init_service on the empty list: di = 1, mw = 0, cw = 0.
	for i := range weights {
		list = append([]int{i}, list...)
		changed()
	}
	var out []int
	for range n {
		for {
			cl++
			if cl == len(list) { // back at the head: next pass
				cl = -1
				if cw -= di; cw <= 0 {
					cw = mw
				}
				continue
			}
			if weights[list[cl]] >= cw {
				break
			}
		}
		out = append(out, list[cl])
	}
	return out
}

// refRR re-derives ip_vs_rr.c: the cursor starts at the list head, each
// pick is the next dest after it with weight > 0, wrapping.
func refRR(weights []int, n int) []int {
	var list []int
	for i := range weights {
		list = append([]int{i}, list...)
	}
	var out []int
	cur := -1
	for range n {
		for k := 1; k <= len(list); k++ {
			j := (cur + k) % len(list)
			if cur < 0 {
				j = k - 1
			}
			if weights[list[j]] > 0 {
				cur = j
				out = append(out, list[j])
				break
			}
		}
	}
	return out
}

func names(bs []*tcpBackend, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = bs[j].name
	}
	return out
}

func TestTCPSchedulingSequences(t *testing.T) {
	tests := []struct {
		name      string
		scheduler string
		weights   []int
		ref       func([]int, int) []int
		n         int
	}{
		// -A -s wrr; -a A -w 4; -a B -w 3; -a C -w 2: list C,B,A.
		{name: "ip_vs_wrr 4,3,2", scheduler: "wrr", weights: []int{4, 3, 2}, ref: refWRR, n: 9},
		{name: "ip_vs_rr", scheduler: "rr", weights: []int{1, 1, 1}, ref: refRR, n: 6},
		{name: "ip_vs_rr skips weight 0", scheduler: "rr", weights: []int{1, 0, 1}, ref: refRR, n: 4},
	}
	for ti, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !sched.Known(tc.scheduler) {
				t.Skipf("scheduler %s not registered", tc.scheduler)
			}
			var bs []*tcpBackend
			var reals []config.Real
			for i, w := range tc.weights {
				b := startTCPBackend(t, "127.0.21.1", string(rune('A'+i)), false)
				bs = append(bs, b)
				reals = append(reals, rs(b.addr, int32(w)))
			}
			p := newPlane(t, nil)
			vip := freeAddr(t, config.TCP, "127.0.20."+string(rune('1'+ti)))
			apply(t, p, tcpService(vip, tc.scheduler, reals...))
			want := names(bs, tc.ref(tc.weights, tc.n))
			var got []string
			for range tc.n {
				name, err := ask(t, vip, "")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, name)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("backends %v, kernel order %v", got, want)
			}
			for i, w := range tc.weights {
				if w == 0 && bs[i].accepted.Load() != 0 {
					t.Errorf("weight-0 backend %s got %d connections", bs[i].name, bs[i].accepted.Load())
				}
			}
		})
	}
}

// The reference models agree with what l4.md §1.1 records for the kernel.
func TestReferenceModels(t *testing.T) {
	letters := func(idx []int) string {
		var b strings.Builder
		for _, i := range idx {
			b.WriteByte(byte('A' + i))
		}
		return b.String()
	}
	// The cw = 1 pass left by the adds (C B A), then the 9-pick cycle
	// A B A C B A C B A (cw = 4, 3, 2, 1).
	if got := letters(refWRR([]int{4, 3, 2}, 21)); got != "CBA"+"ABACBACBA"+"ABACBACBA" {
		t.Errorf("wrr %s", got)
	}
	if got := letters(refRR([]int{1, 1, 1}, 6)); got != "CBACBA" {
		t.Errorf("rr %s", got)
	}
	if got := letters(refRR([]int{1, 0, 1}, 4)); got != "CACA" {
		t.Errorf("rr with B=0 %s", got)
	}
}

// expectReset connects to vip and expects the connection to be reset,
// which may already show in connect(2) on loopback.
func expectReset(t *testing.T, vip netip.AddrPort) {
	t.Helper()
	c, err := dialVIP(t, vip, "")
	if err == nil {
		_, err = c.r.ReadByte()
		c.Close()
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("got %v, want a connection reset", err)
	}
}

func TestAllWeightsZeroResets(t *testing.T) {
	a := startTCPBackend(t, "127.0.22.1", "A", false)
	b := startTCPBackend(t, "127.0.22.1", "B", false)
	p := newPlane(t, nil)
	vip := freeAddr(t, config.TCP, "127.0.22.10")
	svc := tcpService(vip, "wlc", rs(a.addr, 0), rs(b.addr, 0))
	apply(t, p, svc)
	expectReset(t, vip)
	if a.accepted.Load()+b.accepted.Load() != 0 {
		t.Fatal("a backend saw the connection")
	}
	if st, _ := statusOf(p, svc.ServiceKey); st.Stats.Conns != 0 {
		t.Fatalf("rejected connection counted: %+v", st.Stats)
	}

	// The sorry server takes over while no real server can.
	sorry := startTCPBackend(t, "127.0.22.2", "SORRY", false)
	svc.SorryServer = sorry.addr
	apply(t, p, svc)
	if name, err := ask(t, vip, ""); err != nil || name != "SORRY" {
		t.Fatalf("got %q, %v; want the sorry server", name, err)
	}
	st, _ := statusOf(p, svc.ServiceKey)
	if st.Sorry == nil || st.Sorry.Stats.Conns != 1 || st.Stats.Conns != 1 {
		t.Fatalf("sorry status %+v, service %+v", st.Sorry, st.Stats)
	}
	// A real server back in service wins again.
	svc.Reals[1].Weight = 1
	apply(t, p, svc)
	if name, err := ask(t, vip, ""); err != nil || name != "B" {
		t.Fatalf("got %q, %v; want B", name, err)
	}
}

func TestPersistencePrefix24_ip_vs_sched_persist(t *testing.T) {
	var bs []*tcpBackend
	var reals []config.Real
	for _, n := range []string{"A", "B", "C"} {
		b := startTCPBackend(t, "127.0.23.1", n, false)
		bs = append(bs, b)
		reals = append(reals, rs(b.addr, 1))
	}
	p := newPlane(t, nil)
	vip := freeAddr(t, config.TCP, "127.0.23.10")
	svc := tcpService(vip, "rr", reals...)
	svc.Persistence = &config.Persistence{Timeout: 300 * time.Second, PrefixBits: 24}
	apply(t, p, svc)

	first := ""
	for i := range 6 {
		src := "127.0.1." + string(rune('0'+i+1)) + "0" // 127.0.1.10, .20, ...
		name, err := ask(t, vip, src)
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = name
		} else if name != first {
			t.Fatalf("client %s went to %s, the 127.0.1.0/24 template points to %s", src, name, first)
		}
	}
	// Another /24 is scheduled afresh: rr moves on to the next dest.
	other, err := ask(t, vip, "127.0.2.10")
	if err != nil {
		t.Fatal(err)
	}
	if other == first {
		t.Fatalf("client of another /24 also went to %s", first)
	}
	tpl := connsOf(p, config.TCP, true)
	if len(tpl) != 2 {
		t.Fatalf("templates %+v, want 2", tpl)
	}
	for _, c := range tpl {
		if c.Client.Port() != 0 || c.State != "NONE" || c.Virtual != vip {
			t.Errorf("template %+v", c)
		}
		if c.Client.Addr() != netip.MustParseAddr("127.0.1.0") && c.Client.Addr() != netip.MustParseAddr("127.0.2.0") {
			t.Errorf("template client %v is not a masked /24", c.Client)
		}
	}
	st, _ := statusOf(p, svc.ServiceKey)
	var persist int32
	for _, d := range st.Dests {
		persist += d.PersistConns
	}
	if persist != 2 {
		t.Fatalf("PersistConns total %d, want 2", persist)
	}

	// Weight 0 keeps persistent clients on their server
	// (expire_quiescent_template = 0).
	for i := range svc.Reals {
		if bs[i].name == first {
			svc.Reals[i].Weight = 0
		}
	}
	apply(t, p, svc)
	if name, err := ask(t, vip, "127.0.1.99"); err != nil || name != first {
		t.Fatalf("persistent client on a weight-0 server went to %q (%v), want %s", name, err, first)
	}
	// Removing the server invalidates the template: rescheduled.
	var keep []config.Real
	for i, r := range svc.Reals {
		if bs[i].name != first {
			keep = append(keep, r)
		}
	}
	svc.Reals = keep
	apply(t, p, svc)
	if name, err := ask(t, vip, "127.0.1.98"); err != nil || name == first {
		t.Fatalf("client of a removed server's template went to %q (%v)", name, err)
	}
}

func TestActiveInactiveTimeWait(t *testing.T) {
	clk := newClock()
	a := startTCPBackend(t, "127.0.24.1", "A", false)
	p := newPlane(t, clk)
	vip := freeAddr(t, config.TCP, "127.0.24.10")
	svc := tcpService(vip, "rr", rs(a.addr, 1))
	apply(t, p, svc)

	c, err := dialVIP(t, vip, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.greeting(); err != nil {
		t.Fatal(err)
	}
	st, _ := statusOf(p, svc.ServiceKey)
	if d := destOf(st, a.addr); d.ActiveConns != 1 || d.InactConns != 0 {
		t.Fatalf("open idle connection: active %d inactive %d, want 1 0", d.ActiveConns, d.InactConns)
	}
	cs := connsOf(p, config.TCP, false)
	if len(cs) != 1 || cs[0].State != "ESTABLISHED" || cs[0].Expires != 900*time.Second || cs[0].Dest != a.addr {
		t.Fatalf("conns %+v", cs)
	}
	if cs[0].Client != addrPort(c.LocalAddr()) || cs[0].Virtual != vip {
		t.Fatalf("conn addresses %+v", cs[0])
	}

	// Client closes first (INPUT FIN: CLOSE_WAIT), the backend follows
	// (OUTPUT FIN: TIME_WAIT).
	_ = c.Conn.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c.r)
	c.Close()
	waitFor(t, "TIME_WAIT", func() bool {
		cs := connsOf(p, config.TCP, false)
		return len(cs) == 1 && cs[0].State == "TIME_WAIT"
	})
	st, _ = statusOf(p, svc.ServiceKey)
	if d := destOf(st, a.addr); d.ActiveConns != 0 || d.InactConns != 1 {
		t.Fatalf("after close: active %d inactive %d, want 0 1", d.ActiveConns, d.InactConns)
	}
	clk.Advance(119 * time.Second)
	p.sweep()
	if cs := connsOf(p, config.TCP, false); len(cs) != 1 || cs[0].Expires != time.Second {
		t.Fatalf("TIME_WAIT entry at 119 s: %+v", cs)
	}
	clk.Advance(time.Second)
	p.sweep()
	if cs := connsOf(p, config.TCP, false); len(cs) != 0 {
		t.Fatalf("TIME_WAIT entry after 120 s: %+v", cs)
	}
	st, _ = statusOf(p, svc.ServiceKey)
	if d := destOf(st, a.addr); d.ActiveConns != 0 || d.InactConns != 0 {
		t.Fatalf("after expiry: active %d inactive %d", d.ActiveConns, d.InactConns)
	}
}

// The real server closes first: OUTPUT FIN -> FIN_WAIT (tcpfin timeout);
// the half-closed connection still carries the client's data.
func TestHalfCloseServerFirst(t *testing.T) {
	clk := newClock()
	ln, err := net.Listen("tcp4", "127.0.25.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("bye\n"))
		_ = c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	p := newPlane(t, clk)
	vip := freeAddr(t, config.TCP, "127.0.25.10")
	apply(t, p, config.Service{ServiceKey: config.ServiceKey{Protocol: config.TCP, Address: vip}, Scheduler: "rr",
		Reals: []config.Real{rs(addrPort(ln.Addr()), 1)}})
	c, err := dialVIP(t, vip, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if line, err := c.r.ReadString('\n'); err != nil || line != "bye\n" {
		t.Fatalf("read %q %v", line, err)
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("want EOF after the server's FIN, got %v", err)
	}
	waitFor(t, "FIN_WAIT", func() bool {
		cs := connsOf(p, config.TCP, false)
		return len(cs) == 1 && cs[0].State == "FIN_WAIT" && cs[0].Expires == 120*time.Second
	})
	if _, err := c.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn.(*net.TCPConn).CloseWrite()
	select {
	case s := <-got:
		if s != "still here" {
			t.Fatalf("server got %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("half-closed data not relayed")
	}
	waitFor(t, "TIME_WAIT", func() bool {
		cs := connsOf(p, config.TCP, false)
		return len(cs) == 1 && cs[0].State == "TIME_WAIT"
	})
}

// An ESTABLISHED connection idle for longer than the tcp timeout expires
// and its proxied connection is closed.
func TestIdleEstablishedExpires(t *testing.T) {
	clk := newClock()
	a := startTCPBackend(t, "127.0.26.1", "A", false)
	p := newPlane(t, clk)
	vip := freeAddr(t, config.TCP, "127.0.26.10")
	svc := tcpService(vip, "rr", rs(a.addr, 1))
	if err := p.Apply(t.Context(), []config.Service{svc}, config.Timeouts{TCP: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	c, err := dialVIP(t, vip, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.greeting(); err != nil {
		t.Fatal(err)
	}
	p.sampleAll() // absorb the handshake and greeting
	clk.Advance(29 * time.Second)
	p.sampleAll()
	p.sweep()
	if cs := connsOf(p, config.TCP, false); len(cs) != 1 || cs[0].State != "ESTABLISHED" {
		t.Fatalf("entry gone before the timeout: %+v", cs)
	}
	// Traffic re-arms the timer (seen by the next TCP_INFO sample).
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := c.r.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo %q %v", line, err)
	}
	p.sampleAll()
	clk.Advance(29 * time.Second)
	p.sweep()
	if cs := connsOf(p, config.TCP, false); len(cs) != 1 {
		t.Fatal("active connection expired")
	}
	clk.Advance(2 * time.Second)
	p.sampleAll()
	p.sweep()
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("proxied connection still open after its entry expired")
	}
	st, _ := statusOf(p, svc.ServiceKey)
	if d := destOf(st, a.addr); d.ActiveConns != 0 || d.InactConns != 0 {
		t.Fatalf("after expiry: active %d inactive %d", d.ActiveConns, d.InactConns)
	}
}

func TestDialFailureResetsClient(t *testing.T) {
	dead := freeAddr(t, config.TCP, "127.0.27.1") // nothing listens there
	p := newPlane(t, newClock())
	vip := freeAddr(t, config.TCP, "127.0.27.10")
	apply(t, p, tcpService(vip, "rr", rs(dead, 1)))
	expectReset(t, vip)
	waitFor(t, "CLOSE", func() bool {
		cs := connsOf(p, config.TCP, false)
		return len(cs) == 1 && cs[0].State == "CLOSE" && cs[0].Expires == 10*time.Second
	})
}

// A real server that never answers the SYN fails the dial after
// Options.DialTimeout: the client is reset and the entry is CLOSE. The SYN
// is dropped because the server's accept queue is full (listen backlog 0
// and one connection nobody accepted: tcp_conn_request drops on
// sk_acceptq_is_full).
func TestDialTimeoutResetsClient(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 27, 2}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	silent := netip.AddrPortFrom(netip.MustParseAddr("127.0.27.2"), uint16(sa.(*unix.SockaddrInet4).Port))
	filler, err := net.DialTimeout("tcp4", silent.String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer filler.Close()

	const timeout = 500 * time.Millisecond
	p := New(Options{DialTimeout: timeout})
	t.Cleanup(func() { _ = p.Close() })
	vip := freeAddr(t, config.TCP, "127.0.27.11")
	apply(t, p, tcpService(vip, "rr", rs(silent, 1)))
	start := time.Now()
	expectReset(t, vip)
	if took := time.Since(start); took < timeout {
		t.Fatalf("reset after %v, before the dial timeout", took)
	}
	waitFor(t, "CLOSE", func() bool {
		cs := connsOf(p, config.TCP, false)
		return len(cs) == 1 && cs[0].State == "CLOSE"
	})
}

// Counters: payload bytes in each direction, settled exactly at close.
func TestTCPCounters(t *testing.T) {
	a := startTCPBackend(t, "127.0.28.1", "A", false)
	p := newPlane(t, nil)
	vip := freeAddr(t, config.TCP, "127.0.28.10")
	svc := tcpService(vip, "rr", rs(a.addr, 1))
	apply(t, p, svc)
	c, err := dialVIP(t, vip, "")
	if err != nil {
		t.Fatal(err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 1<<20)
	go func() {
		_, _ = c.Write([]byte(payload))
		_ = c.Conn.(*net.TCPConn).CloseWrite()
	}()
	echoed, err := io.ReadAll(c.r)
	if err != nil || len(echoed) != len(payload) {
		t.Fatalf("echo %d bytes, %v", len(echoed), err)
	}
	c.Close()
	waitFor(t, "TIME_WAIT", func() bool {
		cs := connsOf(p, config.TCP, false)
		return len(cs) == 1 && cs[0].State == "TIME_WAIT"
	})
	st, _ := statusOf(p, svc.ServiceKey)
	want := Stats{Conns: 1, InBytes: uint64(len(payload)), OutBytes: uint64(len(line) + len(payload))}
	got := st.Stats
	if got.Conns != want.Conns || got.InBytes != want.InBytes || got.OutBytes != want.OutBytes {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
	// Segments: at least the handshake, the data and the FIN each way.
	if got.InPkts < 4 || got.OutPkts < 4 {
		t.Fatalf("packets in %d out %d", got.InPkts, got.OutPkts)
	}
	if d := destOf(st, a.addr); d.Stats != st.Stats {
		t.Fatalf("dest stats %+v differ from the only dest's service %+v", d.Stats, st.Stats)
	}
	p.Zero(nil)
	st, _ = statusOf(p, svc.ServiceKey)
	if st.Stats != (Stats{}) || destOf(st, a.addr).Stats != (Stats{}) || st.Rates != (Rates{}) {
		t.Fatalf("after Zero: %+v %+v", st.Stats, destOf(st, a.addr).Stats)
	}
}

// Many concurrent connections: every one is served, counted once and ends
// in TIME_WAIT; the dest counters add up.
func TestManyConcurrentConns(t *testing.T) {
	const n = 300
	a := startTCPBackend(t, "127.0.29.1", "A", false)
	b := startTCPBackend(t, "127.0.29.1", "B", false)
	p := newPlane(t, nil)
	vip := freeAddr(t, config.TCP, "127.0.29.10")
	svc := tcpService(vip, "wlc", rs(a.addr, 1), rs(b.addr, 1))
	apply(t, p, svc)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := dialVIP(t, vip, "")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if _, _, err := c.greeting(); err != nil {
				errs <- err
				return
			}
			if _, err := c.Write([]byte("x\n")); err != nil {
				errs <- err
				return
			}
			if _, err := c.r.ReadString('\n'); err != nil {
				errs <- err
				return
			}
			_ = c.Conn.(*net.TCPConn).CloseWrite()
			_, _ = io.Copy(io.Discard, c.r)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, "all TIME_WAIT", func() bool {
		cs := connsOf(p, config.TCP, false)
		for _, c := range cs {
			if c.State != "TIME_WAIT" {
				return false
			}
		}
		return len(cs) == n
	})
	st, _ := statusOf(p, svc.ServiceKey)
	da, db := destOf(st, a.addr), destOf(st, b.addr)
	if st.Stats.Conns != n || da.Stats.Conns+db.Stats.Conns != n {
		t.Fatalf("conns %d (%d + %d), want %d", st.Stats.Conns, da.Stats.Conns, db.Stats.Conns, n)
	}
	if da.InactConns+db.InactConns != n || da.ActiveConns+db.ActiveConns != 0 {
		t.Fatalf("inactive %d+%d active %d+%d", da.InactConns, db.InactConns, da.ActiveConns, db.ActiveConns)
	}
	if st.Stats.InBytes != 2*n {
		t.Fatalf("in bytes %d, want %d", st.Stats.InBytes, 2*n)
	}
}
