package l7

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/harden"
)

// fastLab is a proxy in front of a backend whose answer depends on the
// path, for comparing the fast front with net/http.
func fastLab(t *testing.T) (*Proxy, netip.AddrPort) {
	t.Helper()
	be := newBackend(t, "b")
	be.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/1k":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, strings.Repeat("x", 1024))
		case "/big":
			// No Content-Length and more than a write buffer: chunked.
			for i := 0; i < 8; i++ {
				_, _ = io.WriteString(w, strings.Repeat("y", 1000))
				w.(http.Flusher).Flush()
			}
		case "/html":
			// No Content-Type: net/http sniffs one.
			w.Header()["Content-Type"] = nil
			_, _ = io.WriteString(w, "<html><body>hi</body></html>")
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/500":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			return false
		}
		return true
	})
	addr := freeAddr(t, "127.0.0.1")
	p := startProxy(t, oneServer(addr, []config.Location{
		{Match: "/", ProxyPass: "http://up"},
		{Match: "= /gone", Return: &config.Return{Code: 410, Text: "gone for good"}},
		{Match: "= /moved", Return: &config.Return{Code: 301, Text: "/new"}},
		{Match: "= /dead", ProxyPass: "http://" + deadAddr(t)},
	}, config.Upstream{Name: "up", Servers: servers(be.addr)}))
	return p, addr
}

// The fast front answers as net/http does: status, header fields (but
// Date) and body, for proxied, generated and failed responses.
func TestFastMatchesNetHTTP(t *testing.T) {
	p, addr := fastLab(t)
	paths := []string{"/1k", "/big", "/html", "/304", "/500", "/gone", "/moved", "/dead", "/echo?a=b",
		"/%2e%2e/x", "/a/../b"}
	for _, path := range paths {
		get := func(fast bool) (*http.Response, string) {
			p.noFast.Store(!fast)
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nPragma: no-cache\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			resp.Header.Del("Date")
			return resp, string(b)
		}
		r1, b1 := get(true)
		r2, b2 := get(false)
		h1, h2 := headerString(r1.Header), headerString(r2.Header)
		if r1.StatusCode != r2.StatusCode || h1 != h2 || b1 != b2 ||
			strings.Join(r1.TransferEncoding, ",") != strings.Join(r2.TransferEncoding, ",") {
			t.Errorf("%s:\nfast     %d %v %q\n%s\nnet/http %d %v %q\n%s", path,
				r1.StatusCode, r1.TransferEncoding, clip(b1), h1, r2.StatusCode, r2.TransferEncoding, clip(b2), h2)
		}
		if path == "/echo?a=b" {
			if s := decode(t, b1); s.Header.Get("Cache-Control") != "no-cache" || s.Header.Get("Host") != "" || s.Host != "up" {
				t.Errorf("upstream saw %v host %q", s.Header, s.Host)
			}
		}
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// exchange writes raw on one connection and reads n responses.
func exchange(t *testing.T, addr netip.AddrPort, raw string, n int) ([]*http.Response, []string, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies []string
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resps = append(resps, resp)
		bodies = append(bodies, string(b))
	}
	return resps, bodies, c
}

// Pipelined requests are answered in order, across a hand-over to
// net/http in the middle (the POST) and after it.
func TestFastPipelineAndHandoff(t *testing.T) {
	_, addr := fastLab(t)
	raw := "GET /echo?n=1 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /echo?n=2 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /echo?n=3 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody" +
		"GET /echo?n=4 HTTP/1.1\r\nHost: a\r\n\r\n"
	_, bodies, _ := exchange(t, addr, raw, 4)
	for i, b := range bodies {
		s := decode(t, b)
		want := []string{"/echo?n=1", "/echo?n=2", "/echo?n=3", "/echo?n=4"}[i]
		if s.URI != want {
			t.Errorf("response %d answers %s, want %s", i+1, s.URI, want)
		}
		if i == 2 && (s.Method != "POST" || s.Body != "body") {
			t.Errorf("POST reached the upstream as %s %q", s.Method, s.Body)
		}
	}
}

// What the fast subset does not take goes to net/http and the hardening
// vetter, which answer it as before.
func TestFastHandsOffTheUnusual(t *testing.T) {
	_, addr := fastLab(t)
	cases := []struct {
		name, raw string
		status    int
	}{
		{"obs-fold", "GET /echo HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
		{"bare LF", "GET /echo HTTP/1.1\nHost: a\n\n", 400},
		{"two Hosts", "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"no Host", "GET /echo HTTP/1.1\r\n\r\n", 400},
		{"CL and TE", "GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"HTTP/1.0", "GET /echo HTTP/1.0\r\nHost: a\r\n\r\n", 200},
		{"HEAD", "HEAD /1k HTTP/1.1\r\nHost: a\r\n\r\n", 200},
		{"absolute-form, foreign", "GET http://elsewhere.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 421},
		{"control in value", "GET /echo HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", 400},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405},
		{"head over 4 KiB", "GET /echo HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("z", 5000) + "\r\n\r\n", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(c, tc.raw)
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: strings.Fields(tc.raw)[0]})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// "Connection: close" from the client is answered with it and the
// connection closed; keep-alive connections stay open.
func TestFastConnectionClose(t *testing.T) {
	_, addr := fastLab(t)
	resps, _, c := exchange(t, addr, "GET /1k HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 1)
	if !resps[0].Close {
		t.Errorf("response lacks Connection: close: %v", resps[0].Header)
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection not closed after the response: %v", err)
	}
}

// A connection idle past keepalive_timeout is closed.
func TestFastIdleTimeout(t *testing.T) {
	be := newBackend(t, "b")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}})
	cfg.Limits.KeepaliveTimeout = 200 * time.Millisecond
	startProxy(t, cfg)
	_, _, c := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	if err != io.EOF || time.Since(start) > 3*time.Second {
		t.Errorf("idle connection: %v after %v, want EOF after about 200ms", err, time.Since(start))
	}
}

// The client leaving while the upstream works cancels the request (499
// in the counters), as net/http's background read does.
func TestFastClientGone(t *testing.T) {
	be := newBackend(t, "b")
	release := make(chan struct{})
	be.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	defer close(release)
	addr := freeAddr(t, "127.0.0.1")
	p := startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}}))
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	eventually(t, 3*time.Second, "request at the backend", func() bool { return be.count() == 1 })
	_ = c.Close()
	eventually(t, 3*time.Second, "the request ended as 499", func() bool {
		for _, s := range p.Status().Servers {
			if s.Counters.Responses4xx == 1 && s.Counters.Active == 0 { // nginx's 499
				return true
			}
		}
		return false
	})
}

// FuzzFastParse: whatever the fast subset accepts, net/http reads the same
// way (method, target, Host, fields, Close); anything else is handed over.
func FuzzFastParse(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x?y=%41 HTTP/1.1\r\nHost: a:80\r\nAccept: */*\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: a\r\nX-A:  b  \r\nx-a: c\r\nPragma: no-cache\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: \tv\t\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	lim := withDefaultsForTest()
	f.Fuzz(func(t *testing.T, head []byte) {
		fc := &fastConn{lim: lim, ctx: t.Context(), remote: "127.0.0.1:1"}
		i := bytes.Index(head, crlfcrlf)
		if i < 0 || !fastPrefix(head[:i+4]) {
			return
		}
		h := head[:i+4]
		r, cancel, ok := fc.parse(h)
		if !ok {
			return
		}
		defer cancel()
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(h)))
		if err != nil {
			t.Fatalf("fast subset took %q, net/http refuses it: %v", h, err)
		}
		if r.Method != want.Method || r.RequestURI != want.RequestURI || r.Host != want.Host || r.Close != want.Close ||
			headerString(r.Header) != headerString(want.Header) || r.URL.String() != want.URL.String() {
			t.Fatalf("%q:\nfast     %s %s host %q close %v\n%s\nnet/http %s %s host %q close %v\n%s", h,
				r.Method, r.RequestURI, r.Host, r.Close, headerString(r.Header),
				want.Method, want.RequestURI, want.Host, want.Close, headerString(want.Header))
		}
	})
}

func withDefaultsForTest() config.HTTPLimits { return harden.WithDefaults(config.HTTPLimits{}) }

// cannedUpstream answers every request head it reads with resp, parsing
// nothing, so that a benchmark counts the proxy's work only.
func cannedUpstream(tb testing.TB, resp string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 16<<10)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					for {
						i := bytes.Index(buf[:n], crlfcrlf)
						if i < 0 {
							break
						}
						if _, err := io.WriteString(c, resp); err != nil {
							return
						}
						n = copy(buf, buf[i+4:n])
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkFastPath is one proxied keep-alive GET through the whole L7
// path as a client sees it: the fast front, the handler chain, the direct
// forwarder and the h1 transport, over loopback sockets, 1 KiB answers.
// allocs/op are the proxy's (the client and the upstream allocate
// nothing per request).
func BenchmarkFastPath(b *testing.B) {
	up := cannedUpstream(b, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n"+strings.Repeat("x", 1024))
	addr := freeAddr(b, "127.0.0.1")
	startProxyOpts(b, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: servers(up)}), Options{Logger: testLogger(b)})
	var c net.Conn
	dial := func() {
		var err error
		if c, err = net.Dial("tcp", addr.String()); err != nil {
			b.Fatal(err)
		}
	}
	dial()
	defer func() { c.Close() }()
	req := []byte("GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 8<<10)
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += m
			if i := bytes.Index(buf[:n], crlfcrlf); i >= 0 && n >= i+4+1024 {
				// keepalive_requests: the proxy closes after that many.
				if bytes.Contains(buf[:i], []byte("Connection: close")) {
					c.Close()
					dial()
				}
				return
			}
		}
	}
	roundTrip()
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
}

// dialProxyTo starts a proxy to be and returns a connection to it, closed
// with the test.
func dialProxyTo(t *testing.T, be *backend) net.Conn {
	t.Helper()
	addr := freeAddr(t, "127.0.0.1")
	startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}}))
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A request that arrives while a long one runs (the watcher reads it into
// the connection's buffer) is served after it, in order.
func TestFastNextRequestDuringLongOne(t *testing.T) {
	be := newBackend(t, "b")
	release := make(chan struct{})
	be.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/slow" {
			<-release
		}
		return false
	})
	c := dialProxyTo(t, be)
	_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	eventually(t, 3*time.Second, "request at the backend", func() bool { return be.count() == 1 })
	time.Sleep(3 * fastWatchAfter) // the watcher runs
	_, _ = io.WriteString(c, "GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	close(release)
	br := bufio.NewReader(c)
	for _, want := range []string{"/slow", "/second"} {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response for %s: %v", want, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("response for %s: %d %q", want, resp.StatusCode, body)
		}
	}
}

// Requests that end right when the watcher starts (fastWatchAfter) race its
// start with its stop: every one must still be answered (a watcher that
// cleared the read deadline after the stop request would block the
// connection for good).
func TestFastWatcherStartStopRace(t *testing.T) {
	be := newBackend(t, "b")
	be.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		time.Sleep(fastWatchAfter - 2*time.Millisecond + time.Duration(rand.IntN(4000))*time.Microsecond)
		return false
	})
	c := dialProxyTo(t, be)
	br := bufio.NewReader(c)
	for i := range 60 {
		_, _ = fmt.Fprintf(c, "GET /r%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}
