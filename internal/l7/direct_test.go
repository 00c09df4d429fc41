package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// rawUpstream is a loopback server that reads HTTP/1.1 requests and
// answers each with what reply writes, byte for byte; reply returns false
// to close the connection.
type rawUpstream struct {
	addr  string
	conns atomic.Int32
	mu    sync.Mutex
	reqs  []*http.Request
}

func newRawUpstream(t *testing.T, reply func(w io.Writer, r *http.Request, n int) bool) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r.Body)
					u.mu.Lock()
					u.reqs = append(u.reqs, r)
					n := len(u.reqs)
					u.mu.Unlock()
					if !reply(c, r, n) {
						return
					}
				}
			}()
		}
	}()
	return u
}

func (u *rawUpstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reqs[len(u.reqs)-1]
}

func proxyTo(t *testing.T, upstream string) netip.AddrPort {
	t.Helper()
	addr := freeAddr(t, "127.0.0.1")
	startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: servers(upstream)}))
	return addr
}

const okReply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"

// The direct path and ReverseProxy send the same request upstream and the
// same response to the client, header for header.
func TestDirectMatchesReverseProxy(t *testing.T) {
	be := newBackend(t, "b")
	be.setHandler(func(w http.ResponseWriter, _ *http.Request) bool {
		h := w.Header()
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "gone")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("X-Kept", "1")
		h.Add("Set-Cookie", "a=1")
		h.Add("Set-Cookie", "b=2")
		_, _ = io.WriteString(w, "hello")
		return true
	})
	addr := freeAddr(t, "127.0.0.1")
	p := startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: servers(be.addr)}))
	c := client(addr)
	hdr := http.Header{
		"Connection":        {"keep-alive, X-Private"},
		"X-Private":         {"secret"},
		"Te":                {"trailers, deflate"},
		"Proxy-Connection":  {"keep-alive"},
		"X-Forwarded-For":   {"6.6.6.6"},
		"X-Forwarded-Proto": {"gopher"},
		"Forwarded":         {"for=6.6.6.6"},
		"Accept":            {"text/plain", "text/html"},
		"User-Agent":        {"curl/8"},
		"Host":              {"example.com"},
	}
	run := func(direct bool) (seen, *http.Response, string) {
		p.noDirect.Store(!direct)
		resp, body := get(t, c, http.MethodGet, "http://example.com/a/b?x=1", hdr, "")
		return be.last(), resp, body
	}
	s1, r1, b1 := run(true)
	s2, r2, b2 := run(false)
	if s1.URI != s2.URI || s1.Host != s2.Host || s1.Method != s2.Method || s1.Proto != s2.Proto {
		t.Errorf("request line: direct %s %s %s host %s; reverseproxy %s %s %s host %s",
			s1.Method, s1.URI, s1.Proto, s1.Host, s2.Method, s2.URI, s2.Proto, s2.Host)
	}
	if got, want := headerString(s1.Header), headerString(s2.Header); got != want {
		t.Errorf("upstream request headers differ:\ndirect:\n%s\nreverseproxy:\n%s", got, want)
	}
	for _, k := range []string{"X-Private", "Proxy-Connection", "Connection"} {
		if v := s1.Header.Get(k); v != "" {
			t.Errorf("hop-by-hop %s reached the upstream: %q", k, v)
		}
	}
	if v := s1.Header.Get("Te"); v != "trailers" {
		t.Errorf("Te upstream = %q, want trailers", v)
	}
	if v := s1.Header.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For upstream = %q, want the peer only", v)
	}
	r1.Header.Del("Date")
	r2.Header.Del("Date")
	if got, want := headerString(r1.Header), headerString(r2.Header); got != want || b1 != b2 || r1.StatusCode != r2.StatusCode {
		t.Errorf("responses differ:\ndirect %d %q\n%s\nreverseproxy %d %q\n%s", r1.StatusCode, b1, got, r2.StatusCode, b2, want)
	}
	if r1.Header.Get("X-Hop") != "" || r1.Header.Get("Keep-Alive") != "" || r1.Header.Get("X-Kept") != "1" {
		t.Errorf("response hop-by-hop handling: %v", r1.Header)
	}
}

func headerString(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// Sequential requests share one kept-alive upstream connection.
func TestDirectReusesConnections(t *testing.T) {
	up := newRawUpstream(t, func(w io.Writer, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(w, okReply)
		return true
	})
	addr := proxyTo(t, up.addr)
	c := client(addr)
	for i := 0; i < 20; i++ {
		if resp, body := get(t, c, http.MethodGet, "http://x/", nil, ""); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("upstream connections = %d, want 1", n)
	}
}

// A kept-alive connection the server closed while idle is replaced
// without an error reaching the client (net/http's retry of a request
// that got nothing back on a reused connection).
func TestDirectStaleConnectionRetried(t *testing.T) {
	up := newRawUpstream(t, func(w io.Writer, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(w, okReply)
		return false // answer, then close: the pooled connection goes stale
	})
	addr := proxyTo(t, up.addr)
	c := client(addr)
	for i := 0; i < 5; i++ {
		resp, body := get(t, c, http.MethodGet, "http://x/", nil, "")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond) // let the close arrive
	}
	if n := up.conns.Load(); n != 5 {
		t.Errorf("upstream connections = %d, want one per request", n)
	}
}

// "Connection: close" from the server ends the connection's reuse.
func TestDirectConnectionClose(t *testing.T) {
	up := newRawUpstream(t, func(w io.Writer, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
		return true // the server would keep reading: the proxy must not
	})
	addr := proxyTo(t, up.addr)
	c := client(addr)
	for i := 0; i < 3; i++ {
		if resp, body := get(t, c, http.MethodGet, "http://x/", nil, ""); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := up.conns.Load(); n != 3 {
		t.Errorf("upstream connections = %d, want 3", n)
	}
}

// Response framing and status handling through the direct path.
func TestDirectResponses(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		reply    string
		status   int
		body     string
		trailer  string // "K: V" expected in the client's trailers
		noHeader string // a header that must not reach the client
	}{
		{name: "chunked with trailer", reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
			"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n", status: 200, body: "abcde", trailer: "X-Sum: 5"},
		{name: "close-delimited", reply: "HTTP/1.1 200 OK\r\n\r\nuntil close", status: 200, body: "until close"},
		{name: "early hints first", reply: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" + okReply, status: 200, body: "ok"},
		{name: "HEAD", method: http.MethodHead, reply: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", status: 200, body: ""},
		{name: "204", reply: "HTTP/1.1 204 No Content\r\n\r\n", status: 204, body: ""},
		{name: "connection-listed", reply: "HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok",
			status: 200, body: "ok", noHeader: "X-Secret"},
		{name: "malformed status line", reply: "HTTP/1.1 two hundred\r\n\r\n", status: 502},
		{name: "header too large", reply: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", maxResponseHeaderBytes+10) + "\r\n\r\n", status: 502},
		{name: "no response", reply: "", status: 502},
		{name: "unsolicited 101", reply: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", status: 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t, func(w io.Writer, _ *http.Request, _ int) bool {
				_, _ = io.WriteString(w, tc.reply)
				return false
			})
			addr := proxyTo(t, up.addr)
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequest(method, "http://x/", nil)
			resp, err := client(addr).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 200 && string(b) != tc.body {
				t.Errorf("body %q, want %q", b, tc.body)
			}
			if tc.trailer != "" {
				k, v, _ := strings.Cut(tc.trailer, ": ")
				if got := resp.Trailer.Get(k); got != v {
					t.Errorf("trailer %s = %q, want %q (trailers %v)", k, got, v, resp.Trailer)
				}
			}
			if tc.noHeader != "" && (resp.Header.Get(tc.noHeader) != "" || resp.Header.Get("Keep-Alive") != "") {
				t.Errorf("hop-by-hop header reached the client: %v", resp.Header)
			}
		})
	}
}

// A request with a body still goes through net/http's Transport, which
// writes it while reading the response.
func TestDirectLeavesBodiesToTransport(t *testing.T) {
	up := newRawUpstream(t, func(w io.Writer, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(w, okReply)
		return true
	})
	addr := proxyTo(t, up.addr)
	c := client(addr)
	resp, body := get(t, c, http.MethodPost, "http://x/p", nil, "payload")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	if r := up.last(); r.ContentLength != int64(len("payload")) || r.Method != http.MethodPost {
		t.Errorf("upstream got %s with length %d", r.Method, r.ContentLength)
	}
}

// writeHead writes what net/http's Request.Write writes for a body-less
// request.
func TestWriteHeadMatchesRequestWrite(t *testing.T) {
	for _, method := range []string{"GET", "HEAD", "DELETE", "OPTIONS", "POST", "PUT"} {
		req, _ := http.NewRequest(method, "http://up.example:8080/a%20b/c?q=1&r", nil)
		req.Host = "front.example"
		req.Header = http.Header{
			"Accept":     {"a", "b"},
			"User-Agent": {""},
			"X-Multi":    {"line1\r\nline2"},
			"X-Trim":     {"  padded  "},
		}
		var want strings.Builder
		if err := req.Write(&want); err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		bw := bufio.NewWriter(&got)
		if err := writeHead(bw, req); err != nil {
			t.Fatal(err)
		}
		_ = bw.Flush()
		if got.String() != want.String() {
			t.Errorf("%s:\ngot  %q\nwant %q", method, got.String(), want.String())
		}
	}
	bad, _ := http.NewRequest("GET", "http://x/", nil)
	bad.Host = "a b"
	if err := writeHead(bufio.NewWriter(io.Discard), bad); err == nil {
		t.Error("invalid Host accepted")
	}
}
