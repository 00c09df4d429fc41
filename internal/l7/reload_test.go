package l7

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/wstest"
)

// wsDial opens a WebSocket through the proxy (package wstest).
func wsDial(t *testing.T, addr netip.AddrPort, path string) *wstest.Conn {
	t.Helper()
	ws, err := wstest.Dial(addr.String(), path)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// TestWebSocketSurvivesApply: an open WebSocket keeps echoing across
// reloads that replace its upstream group, rebuild the listener's server
// (new limits, then http2 switched on) and add locations; Close ends it.
func TestWebSocketSurvivesApply(t *testing.T) {
	wsb, web := newBackend(t, "ws1"), newBackend(t, "web")
	wsb.setHandler(wstest.Echo("ws1"))
	addr := freeAddr(t, "127.0.0.1")
	mk := func(weight int, limits config.HTTPLimits, h2 bool, extra ...config.Location) *config.HTTP {
		locs := append([]config.Location{
			{Match: "/ws", ProxyPass: "http://ws"},
			{Match: "/", ProxyPass: "http://web"},
		}, extra...)
		return &config.HTTP{
			Servers: []config.HTTPServer{{Listen: []config.HTTPListen{{Address: addr, HTTP2: h2}}, Locations: locs}},
			Upstreams: []config.Upstream{
				{Name: "ws", Servers: []config.UpstreamServer{{Address: wsb.addr, Weight: weight}}},
				{Name: "web", Servers: servers(web.addr)},
			},
			Limits: limits,
		}
	}
	p := startProxy(t, mk(1, config.HTTPLimits{}, false))
	ws := wsDial(t, addr, "/ws")
	if got, err := ws.Echo("hello"); err != nil || got != "ws1:hello" {
		t.Fatalf("echo %q %v", got, err)
	}
	ln := p.listeners[addr].ln
	steps := []*config.HTTP{
		mk(2, config.HTTPLimits{}, false, config.Location{Match: "= /new", Return: &config.Return{Code: 200, Text: "new"}}),
		mk(2, config.HTTPLimits{MaxHeaders: 50}, false),
		mk(3, config.HTTPLimits{MaxHeaders: 50}, true),
	}
	for i, cfg := range steps {
		if err := p.Apply(context.Background(), cfg); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		if got, err := ws.Echo("again"); err != nil || got != "ws1:again" {
			t.Fatalf("after apply %d: echo %q %v", i, got, err)
		}
		if p.listeners[addr].ln != ln {
			t.Fatalf("apply %d reopened the listening socket", i)
		}
		_, body := get(t, client(addr), "GET", "http://x/page", nil, "")
		if decode(t, body).Name != "web" {
			t.Fatalf("after apply %d: HTTP request failed: %q", i, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Echo("bye"); err == nil {
		t.Errorf("the WebSocket survived Close")
	}
}

// TestApplyKeepsState: an unchanged upstream group keeps its balancer
// (the smooth WRR sequence goes on), its failure state and its idle
// connections across a reload; counters of servers and locations too.
func TestApplyKeepsState(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	dead := deadAddr(t)
	addr := freeAddr(t, "127.0.0.1")
	mk := func(ret string) *config.HTTP {
		return oneServer(addr, []config.Location{
			{Match: "/", ProxyPass: "http://w"},
			{Match: "= /r", Return: &config.Return{Code: 200, Text: ret}},
			{Match: "/d/", ProxyPass: "http://d"},
		},
			config.Upstream{Name: "w", Servers: []config.UpstreamServer{{Address: a.addr, Weight: 5}, {Address: b.addr}, {Address: c.addr}}},
			config.Upstream{Name: "d", Servers: servers(dead, b.addr)})
	}
	p := startProxy(t, mk("one"))
	hc := client(addr)
	var seq strings.Builder
	for range 3 {
		_, body := get(t, hc, "GET", "http://x/", nil, "")
		seq.WriteString(decode(t, body).Name)
	}
	get(t, hc, "GET", "http://x/d/", nil, "") // marks the dead server failed
	if err := p.Apply(context.Background(), mk("two")); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, hc, "GET", "http://x/r", nil, ""); body != "two" {
		t.Fatalf("new config not in force: %q", body)
	}
	for range 4 {
		_, body := get(t, hc, "GET", "http://x/", nil, "")
		seq.WriteString(decode(t, body).Name)
	}
	if want := "aabacaa"; seq.String() != want {
		t.Errorf("sequence across the reload %s, want %s (balancer state kept)", seq.String(), want)
	}
	get(t, hc, "GET", "http://x/d/", nil, "")
	st := p.Status()
	var d UpstreamStatus
	for _, u := range st.Upstreams {
		if u.Name == "d" {
			d = u
		}
	}
	if d.Peers[0].Counters.Requests != 1 {
		t.Errorf("dead server tried %d times; its failure was forgotten by the reload", d.Peers[0].Counters.Requests)
	}
	if n := a.conns.Load(); n != 1 {
		t.Errorf("backend a saw %d connections, want 1 (keep-alive pool kept)", n)
	}
	if loc := st.Servers[0].Locations[0]; loc.Match != "/" || loc.Counters.Requests != 7 || loc.Counters.Responses2xx != 7 {
		t.Errorf("location counters %+v", loc)
	}
}

// TestApplyAllOrNothing: a configuration that fails (a bad regex, a port
// held by someone else, a missing certificate) changes nothing.
func TestApplyAllOrNothing(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	good := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}})
	p := startProxy(t, good)

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().(*net.TCPAddr).AddrPort()
	other := freeAddr(t, "127.0.0.1")
	bad := []struct {
		name string
		cfg  *config.HTTP
		want string
	}{
		{"bad regex", oneServer(addr, []config.Location{{Match: "~ (a", ProxyPass: "http://" + be.addr}}), "location"},
		{"port busy", &config.HTTP{Servers: []config.HTTPServer{
			{Listen: []config.HTTPListen{{Address: other}}, Locations: []config.Location{{Match: "/", Return: &config.Return{Code: 200, Text: "x"}}}},
			{Listen: []config.HTTPListen{{Address: busyAddr}}, Locations: []config.Location{{Match: "/", Return: &config.Return{Code: 200, Text: "x"}}}},
		}}, "listen"},
		{"missing certificate", &config.HTTP{Servers: []config.HTTPServer{{
			Listen:       []config.HTTPListen{{Address: addr, TLS: true}},
			Certificates: []config.Certificate{{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}},
		}}}, "certificate"},
		{"unknown upstream variable", oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr,
			SetHeaders: []config.Header{{Name: "X", Value: "$no_such_thing"}}}}), "unknown variable"},
		{"uri part in regex location", oneServer(addr, []config.Location{{Match: "~ ^/a", ProxyPass: "http://" + be.addr + "/x"}}), "cannot have URI part"},
		{"bad balance", oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://u"}},
			config.Upstream{Name: "u", Balance: "fastest", Servers: servers(be.addr)}), "balance"},
	}
	for _, tc := range bad {
		err := p.Apply(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
		resp, body := get(t, client(addr), "GET", "http://x/", nil, "")
		if resp.StatusCode != 200 || decode(t, body).Name != "one" {
			t.Fatalf("%s: the running config changed: %d %q", tc.name, resp.StatusCode, body)
		}
	}
	if c, err := net.DialTimeout("tcp", other.String(), time.Second); err == nil {
		c.Close()
		t.Errorf("a failed Apply left %s open", other)
	}
	// Removing the listener closes it.
	other2 := freeAddr(t, "127.0.0.1")
	if err := p.Apply(context.Background(), oneServer(other2, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}})); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "old listener closed", func() bool {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if resp, _ := get(t, client(other2), "GET", "http://x/", nil, ""); resp.StatusCode != 200 {
		t.Errorf("new listener: %d", resp.StatusCode)
	}
}

// TestInFlightAcrossApply: a request in progress during a reload that
// rebuilds the listener's server completes; a keep-alive connection of
// the old server is told "Connection: close".
func TestInFlightAcrossApply(t *testing.T) {
	be := newBackend(t, "one")
	release := make(chan struct{})
	be.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/slow" {
			<-release
			_, _ = io.WriteString(w, "slow done")
			return true
		}
		return false
	})
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}})
	p := startProxyOpts(t, cfg, Options{DrainDelay: 500 * time.Millisecond})
	hc := client(addr)
	done := make(chan string, 1)
	go func() {
		_, body := get(t, hc, "GET", "http://x/slow", nil, "")
		done <- body
	}()
	eventually(t, 3*time.Second, "slow request at the backend", func() bool { return be.count() == 1 })
	// An idle keep-alive connection, on a raw socket so that the second
	// request surely takes it (an http.Client may dial anew while it
	// still puts the first connection back in its pool).
	keep, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	_ = keep.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(keep)
	ask := func() *http.Response {
		t.Helper()
		if _, err := io.WriteString(keep, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp
	}
	if ask().Close {
		t.Fatal("the first response closed the connection")
	}
	cfg2 := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}})
	cfg2.Limits.MaxHeaders = 42
	if err := p.Apply(context.Background(), cfg2); err != nil {
		t.Fatal(err)
	}
	if !ask().Close {
		t.Errorf("a request on the old server's keep-alive connection did not get Connection: close")
	}
	close(release)
	select {
	case body := <-done:
		if body != "slow done" {
			t.Errorf("in-flight request got %q", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request did not complete")
	}
}

// TestCloseGraceful: Close waits for requests in flight, refuses new
// connections and returns once they are done.
func TestCloseGraceful(t *testing.T) {
	be := newBackend(t, "one")
	var answered atomic.Bool
	be.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/slow" {
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(w, "slow done")
			answered.Store(true)
			return true
		}
		return false
	})
	addr := freeAddr(t, "127.0.0.1")
	p := New(Options{Logger: testLogger(t), DrainDelay: 10 * time.Millisecond})
	if err := p.Apply(context.Background(), oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}})); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		_, body := get(t, client(addr), "GET", "http://x/slow", nil, "")
		done <- body
	}()
	eventually(t, 3*time.Second, "request at the backend", func() bool { return be.count() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !answered.Load() {
		t.Fatal("Close returned before the request in flight was answered")
	}
	select {
	case body := <-done:
		if body != "slow done" {
			t.Errorf("in-flight request got %q", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight request did not complete")
	}
	if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c.Close()
		t.Errorf("listener still open after Close")
	}
	if err := p.Apply(context.Background(), oneServer(addr, nil)); err == nil {
		t.Errorf("Apply after Close succeeded")
	}
}
