package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// closeAfterRead makes a backend read the request and drop the
// connection without answering: the request was sent, then "error".
func closeAfterRead(w http.ResponseWriter, _ *http.Request) bool {
	c, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = c.Close()
	}
	return true
}

func statusOf(code int) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, _ *http.Request) bool {
		w.WriteHeader(code)
		return true
	}
}

// TestRetryDialFailure: a server that refuses the connection is "error"
// before anything was sent, so the request (even a POST) goes to the next
// server; the failure counts against the dead server (max_fails=1), which
// is then skipped for fail_timeout.
func TestRetryDialFailure(t *testing.T) {
	live := newBackend(t, "live")
	dead := deadAddr(t)
	addr := freeAddr(t, "127.0.0.1")
	p := startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: servers(dead, live.addr)}))
	hc := client(addr)
	for i, m := range []string{"POST", "GET", "GET", "POST", "GET"} {
		resp, body := get(t, hc, m, "http://x/", nil, "payload")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		s := decode(t, body)
		if s.Name != "live" || (m == "POST" && s.Body != "payload") {
			t.Fatalf("request %d: %+v", i, s)
		}
	}
	st := p.Status().Upstreams[0]
	if st.Peers[0].Fails != 1 || st.Peers[0].Counters.Requests != 1 {
		t.Errorf("dead peer: fails %d attempts %d, want 1 and 1 (skipped during fail_timeout)",
			st.Peers[0].Fails, st.Peers[0].Counters.Requests)
	}
	if st.Peers[1].Counters.Requests != 5 {
		t.Errorf("live peer attempts %d, want 5", st.Peers[1].Counters.Requests)
	}
}

// TestRetryNonIdempotent: once sent, POST is not passed to the next
// server unless next_upstream lists non_idempotent; GET is
// (ngx_http_upstream_next).
func TestRetryNonIdempotent(t *testing.T) {
	tests := []struct {
		method    string
		next      []string
		status    int
		secondHit int
	}{
		{"POST", nil, http.StatusBadGateway, 0},
		{"PATCH", nil, http.StatusBadGateway, 0},
		{"GET", nil, http.StatusOK, 1},
		{"PUT", nil, http.StatusOK, 1},
		{"POST", []string{"error", "timeout", "non_idempotent"}, http.StatusOK, 1},
		{"GET", []string{"off"}, http.StatusBadGateway, 0},
	}
	for _, tc := range tests {
		t.Run(tc.method+strings.Join(tc.next, ","), func(t *testing.T) {
			first, second := newBackend(t, "first"), newBackend(t, "second")
			first.setHandler(closeAfterRead)
			addr := freeAddr(t, "127.0.0.1")
			startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up", NextUpstream: tc.next}},
				config.Upstream{Name: "up", Servers: servers(first.addr, second.addr)}))
			resp, body := get(t, client(addr), tc.method, "http://x/", nil, "data")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if first.count() != 1 {
				t.Errorf("first server saw %d requests, want 1", first.count())
			}
			if second.count() != tc.secondHit {
				t.Errorf("second server saw %d requests, want %d", second.count(), tc.secondHit)
			}
			if tc.secondHit == 1 && decode(t, body).Body != "data" {
				t.Errorf("the retried request lost its body: %q", body)
			}
			if tc.status == http.StatusBadGateway && !strings.Contains(body, "<center><h1>502 Bad Gateway</h1></center>") {
				t.Errorf("body %q is not nginx's 502 page", body)
			}
		})
	}
}

// TestAllServersFail502: nothing answers: 502 with nginx's page, every
// server tried once.
func TestAllServersFail502(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.setHandler(closeAfterRead)
	b.setHandler(closeAfterRead)
	addr := freeAddr(t, "127.0.0.1")
	startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: append(servers(a.addr, b.addr), config.UpstreamServer{Address: deadAddr(t)})}))
	resp, body := get(t, client(addr), "GET", "http://x/", nil, "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>fulcrum</center>\r\n</body>\r\n</html>\r\n"
	if body != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if resp.Header.Get("Content-Type") != "text/html" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	if a.count() != 1 || b.count() != 1 {
		t.Errorf("attempts a=%d b=%d, want 1 each", a.count(), b.count())
	}
}

// TestRetryOnStatus: http_503 in next_upstream moves on; not listed, the
// 503 is the answer; on the last server the listed status is passed on.
func TestRetryOnStatus(t *testing.T) {
	t.Run("listed", func(t *testing.T) {
		a, b := newBackend(t, "a"), newBackend(t, "b")
		a.setHandler(statusOf(503))
		addr := freeAddr(t, "127.0.0.1")
		startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up", NextUpstream: []string{"error", "http_503"}}},
			config.Upstream{Name: "up", Servers: servers(a.addr, b.addr)}))
		resp, body := get(t, client(addr), "GET", "http://x/", nil, "")
		if resp.StatusCode != 200 || decode(t, body).Name != "b" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})
	t.Run("not listed", func(t *testing.T) {
		a, b := newBackend(t, "a"), newBackend(t, "b")
		a.setHandler(statusOf(503))
		addr := freeAddr(t, "127.0.0.1")
		startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
			config.Upstream{Name: "up", Servers: servers(a.addr, b.addr)}))
		resp, _ := get(t, client(addr), "GET", "http://x/", nil, "")
		if resp.StatusCode != 503 || b.count() != 0 {
			t.Fatalf("status %d, second server hit %d times", resp.StatusCode, b.count())
		}
	})
	t.Run("last server", func(t *testing.T) {
		a, b := newBackend(t, "a"), newBackend(t, "b")
		a.setHandler(statusOf(503))
		b.setHandler(statusOf(503))
		addr := freeAddr(t, "127.0.0.1")
		startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up", NextUpstream: []string{"http_503"}}},
			config.Upstream{Name: "up", Servers: servers(a.addr, b.addr)}))
		resp, _ := get(t, client(addr), "GET", "http://x/", nil, "")
		if resp.StatusCode != 503 || a.count() != 1 || b.count() != 1 {
			t.Fatalf("status %d, hits a=%d b=%d", resp.StatusCode, a.count(), b.count())
		}
	})
}

// TestNextUpstreamTries caps the attempts of a request.
func TestNextUpstreamTries(t *testing.T) {
	var bes []*backend
	var ss []config.UpstreamServer
	for _, n := range []string{"a", "b", "c"} {
		b := newBackend(t, n)
		b.setHandler(closeAfterRead)
		bes = append(bes, b)
		ss = append(ss, config.UpstreamServer{Address: b.addr})
	}
	addr := freeAddr(t, "127.0.0.1")
	startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up", NextUpstreamTries: 2}},
		config.Upstream{Name: "up", Servers: ss}))
	resp, _ := get(t, client(addr), "GET", "http://x/", nil, "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := bes[0].count() + bes[1].count() + bes[2].count(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

// TestReadTimeout504: proxy_read_timeout expires: 504 (nginx "upstream
// timed out"), and "timeout" is in the default next_upstream so a second
// server is tried.
func TestReadTimeout504(t *testing.T) {
	slow := func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		return true
	}
	t.Run("single", func(t *testing.T) {
		a := newBackend(t, "a")
		a.setHandler(slow)
		addr := freeAddr(t, "127.0.0.1")
		startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + a.addr, ReadTimeout: 100 * time.Millisecond}}))
		start := time.Now()
		resp, body := get(t, client(addr), "GET", "http://x/", nil, "")
		if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "504 Gateway Time-out") {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("took %v", d)
		}
	})
	t.Run("next", func(t *testing.T) {
		a, b := newBackend(t, "a"), newBackend(t, "b")
		a.setHandler(slow)
		addr := freeAddr(t, "127.0.0.1")
		startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up", ReadTimeout: 100 * time.Millisecond}},
			config.Upstream{Name: "up", Servers: servers(a.addr, b.addr)}))
		resp, body := get(t, client(addr), "GET", "http://x/", nil, "")
		if resp.StatusCode != 200 || decode(t, body).Name != "b" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	})
}

// TestNoRetryAfterBytes: once the response head went to the client, a
// failing server ends the response (the connection is cut); no other
// server sees the request.
func TestNoRetryAfterBytes(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	a.setHandler(func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = c.Close()
		}
		return true
	})
	addr := freeAddr(t, "127.0.0.1")
	startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: servers(a.addr, b.addr)}))
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	// The head may still sit in the proxy's buffer when the server fails;
	// either way the client must not get a complete response.
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
		got, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Fatalf("status %d, body %q: a complete response from a failed server", resp.StatusCode, got)
		}
	}
	if b.count() != 0 {
		t.Errorf("second server saw the request")
	}
}

// TestRetryBudget: retries in flight stay below max(3, 20% of requests in
// flight).
func TestRetryBudget(t *testing.T) {
	u := &upstream{budget: 0.2}
	rq := &request{p: New(Options{}), r: httptestRequest("GET"), lc: &locConf{nextMask: ftError}, tgt: &target{up: u}}
	u.inflight.Store(10)
	u.retrying.Store(2)
	if !rq.mayRetry(ftError, false, 1, time.Now(), nil) {
		t.Errorf("2 retries of 10 in flight: refused, want allowed (minimum 3)")
	}
	u.retrying.Store(3)
	if rq.mayRetry(ftError, false, 1, time.Now(), nil) {
		t.Errorf("3 retries of 10 in flight: allowed, want refused")
	}
	u.inflight.Store(100)
	u.retrying.Store(19)
	if !rq.mayRetry(ftError, false, 1, time.Now(), nil) {
		t.Errorf("19 retries of 100 in flight: refused, want allowed")
	}
	u.retrying.Store(20)
	if rq.mayRetry(ftError, false, 1, time.Now(), nil) {
		t.Errorf("20 retries of 100 in flight: allowed, want refused")
	}
	// A request already retrying keeps its slot.
	rq.retrying = true
	if !rq.mayRetry(ftError, false, 2, time.Now(), nil) {
		t.Errorf("a retrying request was refused its next try")
	}
}

func httptestRequest(method string) *http.Request {
	r, _ := http.NewRequest(method, "http://x/", nil)
	return r
}

// TestOutlierEjection: Consecutive5xx ejects a server for EjectionTime.
func TestOutlierEjection(t *testing.T) {
	bad, good := newBackend(t, "bad"), newBackend(t, "good")
	bad.setHandler(statusOf(500))
	addr := freeAddr(t, "127.0.0.1")
	p := startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: servers(bad.addr, good.addr),
			Health: config.UpstreamHealth{Consecutive5xx: 2, EjectionTime: time.Minute}}))
	hc := client(addr)
	for range 4 {
		get(t, hc, "GET", "http://x/", nil, "")
	}
	if bad.count() != 2 {
		t.Fatalf("bad server saw %d requests before ejection, want 2", bad.count())
	}
	for range 6 {
		resp, _ := get(t, hc, "GET", "http://x/", nil, "")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d after ejection", resp.StatusCode)
		}
	}
	if bad.count() != 2 {
		t.Errorf("ejected server saw %d requests, want still 2", bad.count())
	}
	if st := p.Status().Upstreams[0].Peers[0]; st.State != PeerEjected || st.Ejections != 1 {
		t.Errorf("peer state %q ejections %d", st.State, st.Ejections)
	}
}

// TestActiveHealthCheck: an HTTP_GET check with fall/rise takes a failing
// server out of rotation and brings it back.
func TestActiveHealthCheck(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	healthy := make(chan bool, 1)
	healthy <- true
	state := func() bool { v := <-healthy; healthy <- v; return v }
	set := func(v bool) { <-healthy; healthy <- v }
	a.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/health" {
			if !state() {
				w.WriteHeader(503)
			}
			return true
		}
		return false
	})
	addr := freeAddr(t, "127.0.0.1")
	chk := config.Check{Type: config.CheckHTTP, DelayLoop: 30 * time.Millisecond, ConnectTimeout: time.Second,
		Rise: 1, Fall: 1, URLs: []config.CheckURL{{Path: "/health"}}}
	up := config.Upstream{Name: "up", Servers: servers(a.addr, b.addr), Health: config.UpstreamHealth{Checks: []config.Check{chk}}}
	// b has no /health handler: the backend answers 200 with JSON.
	p := startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}}, up))
	hc := client(addr)
	set(false)
	eventually(t, 3*time.Second, "a marked down", func() bool { return p.Status().Upstreams[0].Peers[0].State == PeerDown })
	for range 4 {
		_, body := get(t, hc, "GET", "http://x/", nil, "")
		if n := decode(t, body).Name; n != "b" {
			t.Fatalf("request went to %s while a is down", n)
		}
	}
	set(true)
	eventually(t, 3*time.Second, "a back up", func() bool { return p.Status().Upstreams[0].Peers[0].State == PeerUp })
	seenA := false
	for range 4 {
		_, body := get(t, hc, "GET", "http://x/", nil, "")
		seenA = seenA || decode(t, body).Name == "a"
	}
	if !seenA {
		t.Errorf("a gets no traffic after coming back")
	}
	if cs := p.Status().Upstreams[0].Peers[0].Checks; len(cs) != 1 || cs[0].Probes < 2 {
		t.Errorf("check status %+v", cs)
	}
}
