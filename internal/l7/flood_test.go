package l7

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/flood"
)

// fromSource is an HTTP client whose connections leave from src (a
// 127.0.21.x address), one connection per request.
func fromSource(addr netip.AddrPort, src string) *http.Client {
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr.String())
			},
			DisableKeepAlives: true,
		},
	}
}

func dialFrom(t *testing.T, addr netip.AddrPort, src string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestFloodPerSourceCap: one source holding its connections is capped;
// its further connections are reset at accept; other sources keep being
// served; a connection that sends nothing is closed at the first-byte
// timeout.
func TestFloodPerSourceCap(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}})
	cfg.Flood = config.FloodDefence{MaxConnsPerSource: 3, FirstByteTimeout: 300 * time.Millisecond}
	p := startProxy(t, cfg)

	// The attacker: three connections that started a request and hold it.
	var held []net.Conn
	for range 3 {
		c := dialFrom(t, addr, "127.0.21.2")
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	eventually(t, 2*time.Second, "three connections admitted", func() bool { return p.Status().Flood.Active == 3 })
	attacker := fromSource(addr, "127.0.21.2")
	legit := fromSource(addr, "127.0.21.3")
	for i := range 5 {
		if resp, err := attacker.Get("http://x/"); err == nil {
			resp.Body.Close()
			t.Errorf("attacker connection %d was served: %s", i, resp.Status)
		}
		resp, err := legit.Get("http://x/")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("legitimate request %d failed: %v", i, err)
		}
		resp.Body.Close()
	}
	// Silent connection: closed by the first-byte timeout.
	silent := dialFrom(t, addr, "127.0.21.4")
	start := time.Now()
	_ = silent.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Error("silent connection got data")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("silent connection was not closed")
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("silent connection closed after %v, want about 300ms", d)
	}
	st := p.Status()
	if st.Flood.RejectedConns != 5 || st.Flood.FirstByteTimeouts != 1 || !st.Flood.Enabled || st.Listeners[0].FloodRefused != 5 {
		t.Errorf("flood status %+v, listener %+v", st.Flood, st.Listeners[0])
	}
	// Once the attacker lets go, it is served again.
	for _, c := range held {
		c.Close()
	}
	eventually(t, 2*time.Second, "slots released", func() bool { return p.Status().Flood.Active == 0 })
	resp, err := attacker.Get("http://x/")
	if err != nil {
		t.Fatalf("after releasing: %v", err)
	}
	resp.Body.Close()
}

// TestFloodConnRate: the new-connection bucket of a source.
func TestFloodConnRate(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}})
	cfg.Flood = config.FloodDefence{ConnRate: 0.5, ConnBurst: 3,
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.21.8/32")}}
	p := startProxy(t, cfg)
	fast := fromSource(addr, "127.0.21.6")
	ok := 0
	for range 6 {
		if resp, err := fast.Get("http://x/"); err == nil {
			resp.Body.Close()
			ok++
		}
	}
	if ok != 3 {
		t.Errorf("%d of 6 rapid connections served, want the burst of 3", ok)
	}
	for _, src := range []string{"127.0.21.7", "127.0.21.8", "127.0.21.8", "127.0.21.8", "127.0.21.8"} {
		resp, err := fromSource(addr, src).Get("http://x/")
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		resp.Body.Close()
	}
	if st := p.Status().Flood; st.RejectedRate != 3 {
		t.Errorf("flood status %+v", st)
	}
}

// TestSynCookiesReported: the kernel setting read at start is in Status.
func TestSynCookiesReported(t *testing.T) {
	want, err := flood.SynCookies(flood.SynCookiesPath)
	p := New(Options{Logger: testLogger(t)})
	defer p.Close(context.Background())
	if err := p.Apply(context.Background(), oneServer(freeAddr(t, "127.0.0.1"), []config.Location{{Match: "/", Return: &config.Return{Code: 204}}})); err != nil {
		t.Fatal(err)
	}
	got := p.Status().Flood.SynCookies
	if err != nil {
		want = -1
	}
	if got != want {
		t.Errorf("SynCookies %d, want %d", got, want)
	}
	q := New(Options{Logger: testLogger(t), SynCookiesPath: "/nonexistent"})
	defer q.Close(context.Background())
	if q.synCookies != -1 {
		t.Errorf("unreadable setting: %d", q.synCookies)
	}
}
