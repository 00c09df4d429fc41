package harden

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// readResponsesFor reads one response per method (HEAD responses have no
// body) and then whether the server closed the connection.
func readResponsesFor(t *testing.T, c net.Conn, methods ...string) exchange {
	t.Helper()
	var ex exchange
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for _, m := range methods {
		req, _ := http.NewRequest(m, "http://"+testHost+"/", nil)
		res, err := http.ReadResponse(br, req)
		if err != nil {
			ex.closed = true
			return ex
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		ex.statuses = append(ex.statuses, res.StatusCode)
		ex.bodies = append(ex.bodies, string(body))
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := br.Peek(1)
	ex.closed = err != nil && !isTimeout(err)
	return ex
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

// TestPipelining: many requests of every framing in one write are all
// answered, in order, on one connection; HEAD responses (no body) keep the
// response tracker in step.
func TestPipelining(t *testing.T) {
	be := newBackend(t)
	addr := startHardened(t, proxyFor(be), config.HTTPLimits{}, Options{})
	raw := crlf("GET /p/1 HTTP/1.1\nHost: fulcrum.test\n\n" +
		"POST /p/2 HTTP/1.1\nHost: fulcrum.test\nContent-Length: 5\n\nhello" +
		"HEAD /p/3 HTTP/1.1\nHost: fulcrum.test\n\n" +
		"POST /p/4 HTTP/1.1\nHost: fulcrum.test\nTransfer-Encoding: chunked\n\n3\nabc\n2;x=y\nde\n0\nX-T: 1\n\n" +
		"\n" + // one CRLF after a POST, as net/http tolerates
		"GET /p/5 HTTP/1.1\nHost: fulcrum.test\n\n")
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	ex := readResponsesFor(t, c, "GET", "POST", "HEAD", "POST", "GET")
	if !slices.Equal(ex.statuses, []int{200, 200, 200, 200, 200}) {
		t.Fatalf("statuses %v", ex.statuses)
	}
	if ex.closed {
		t.Fatal("keep-alive connection closed")
	}
	got := be.requests("/p/")
	var uris, bodies []string
	for _, s := range got {
		uris = append(uris, s.uri)
		bodies = append(bodies, s.body)
	}
	if want := []string{"/p/1", "/p/2", "/p/3", "/p/4", "/p/5"}; !slices.Equal(uris, want) {
		t.Fatalf("backend saw %v; want %v", uris, want)
	}
	if want := []string{"", "hello", "", "abcde", ""}; !slices.Equal(bodies, want) {
		t.Fatalf("backend bodies %q; want %q", bodies, want)
	}
	// The same connection still vets: a smuggling attempt now is refused.
	_, _ = io.WriteString(c, "POST /p/6 HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if ex := readResponsesFor(t, c, "POST"); !slices.Equal(ex.statuses, []int{400}) || !ex.closed {
		t.Fatalf("after pipelining: %v closed=%v; want [400] closed", ex.statuses, ex.closed)
	}
}

// TestKeepAlive: a normal client reuses one connection for many requests.
func TestKeepAlive(t *testing.T) {
	be := newBackend(t)
	addr := startHardened(t, proxyFor(be), config.HTTPLimits{}, Options{})
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	reused := 0
	for i := range 20 {
		trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
			if ci.Reused {
				reused++
			}
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", fmt.Sprintf("http://%s/ka/%d", addr, i), strings.NewReader("body"))
		req.Host = testHost
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, res.StatusCode)
		}
	}
	if reused != 19 {
		t.Fatalf("connection reused %d times; want 19", reused)
	}
}

// upgradeBackend answers "Upgrade: websocket" with 101 and then echoes
// bytes; any other request gets 200.
func upgradeBackend(t *testing.T) *backend {
	t.Helper()
	be := newBackend(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ErrorLog: quietLog(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || strings.Contains(r.URL.Path, "decline") {
			_, _ = io.WriteString(w, "no upgrade")
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		buf := make([]byte, 4096)
		for {
			n, err := brw.Read(buf)
			if n > 0 {
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	be.url.Host = ln.Addr().String()
	return be
}

// TestUpgradeStopsVetting: after a 101 the stream is another protocol; bytes
// that would be refused as HTTP/1 pass both ways untouched.
func TestUpgradeStopsVetting(t *testing.T) {
	be := upgradeBackend(t)
	addr := startHardened(t, proxyFor(be), config.HTTPLimits{}, Options{})
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: fulcrum.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	for _, frame := range []string{"\x81\x05hello", "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\x00\r\n\r\n", strings.Repeat("\n", 5000)} {
		if _, err := io.WriteString(c, frame); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(frame))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("echo of %q: %v", frame[:min(len(frame), 20)], err)
		}
		if string(got) != frame {
			t.Fatalf("echo %q; want %q", got[:min(len(got), 20)], frame[:min(len(frame), 20)])
		}
	}
}

// TestUpgradeDeclinedKeepsVetting: an Upgrade the backend declines (200)
// leaves the connection HTTP/1 and vetted.
func TestUpgradeDeclinedKeepsVetting(t *testing.T) {
	be := upgradeBackend(t)
	addr := startHardened(t, proxyFor(be), config.HTTPLimits{}, Options{})
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /decline HTTP/1.1\r\nHost: fulcrum.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"+
		"POST /x HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	ex := readResponsesFor(t, c, "GET", "POST")
	if !slices.Equal(ex.statuses, []int{200, 400}) || !ex.closed {
		t.Fatalf("statuses %v closed=%v; want [200 400] closed", ex.statuses, ex.closed)
	}
}

// TestRefusalWaitsForEarlierResponse: a bad request pipelined behind a slow
// one is refused only after the slow response is complete, so the canned
// 400 never cuts into it.
func TestRefusalWaitsForEarlierResponse(t *testing.T) {
	be := newBackend(t)
	addr := startHardened(t, proxyFor(be), config.HTTPLimits{}, Options{})
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /slow/1 HTTP/1.1\r\nHost: fulcrum.test\r\n\r\nGET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	ex := readResponsesFor(t, c, "GET", "GET")
	if !slices.Equal(ex.statuses, []int{200, 400}) || ex.bodies[0] != "ok" || !ex.closed {
		t.Fatalf("statuses %v bodies %q closed=%v; want [200 400], ok, closed", ex.statuses, ex.bodies, ex.closed)
	}
}

// TestInterimResponses: 100 Continue and 103 Early Hints are interim; the
// tracker waits for the final response before the next request's turn.
func TestInterimResponses(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hints" {
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		}
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	})
	addr := startHardened(t, h, config.HTTPLimits{}, Options{})
	c := dial(t, addr)
	_, _ = io.WriteString(c, "POST /hints HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 2\r\n\r\nab"+
		"GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	br := bufio.NewReader(c)
	var statuses []int
	for range 3 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %v: %v", statuses, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		statuses = append(statuses, res.StatusCode)
	}
	if !slices.Equal(statuses, []int{103, 200, 400}) {
		t.Fatalf("statuses %v; want [103 200 400]", statuses)
	}

	// Expect: 100-continue through the vetter.
	c = dial(t, addr)
	_, _ = io.WriteString(c, "POST /c HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	br = bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 100 {
		t.Fatalf("want 100 Continue: %v %v", res, err)
	}
	_, _ = io.WriteString(c, "xyzGET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	ex := readResponsesFor(t, &bufConn{Conn: c, r: br}, "POST", "GET")
	if !slices.Equal(ex.statuses, []int{200, 400}) || ex.bodies[0] != "xyz" {
		t.Fatalf("after 100: %v %q", ex.statuses, ex.bodies)
	}
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestBodyErrorAfterResponseStarted: when the response is already on its
// way, a framing error in the rest of the body closes the connection
// without a canned response after it.
func TestBodyErrorAfterResponseStarted(t *testing.T) {
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Without full duplex net/http reads the body before it writes
		// the response header (server.go chunkWriter.writeHeader).
		rc := http.NewResponseController(w)
		_ = rc.EnableFullDuplex()
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "partial")
		_ = rc.Flush()
		close(started)
		_, _ = io.Copy(io.Discard, r.Body)
	})
	addr := startHardened(t, h, config.HTTPLimits{}, Options{})
	c := dial(t, addr)
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
	<-started
	_, _ = io.WriteString(c, "zz\r\n")
	all, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(all), "HTTP/1.1 200 OK\r\n") || strings.Contains(string(all), "400 Bad Request") {
		t.Fatalf("got %q; want the 200 cut short and no canned 400", all)
	}
}

// TestPipelinedHeadClock: HeaderTimeout for a head read ahead starts when
// net/http gets to it (as nginx arms client_header_timeout), so a slow
// handler does not time out the client's next request.
func TestPipelinedHeadClock(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(700 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "ok")
	})
	// The second head starts at 0 and ends at 800 ms: past HeaderTimeout
	// from its first byte, but 100 ms after net/http got to it.
	addr := startHardened(t, h, config.HTTPLimits{HeaderTimeout: 500 * time.Millisecond}, Options{})
	c := dial(t, addr)
	_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: fulcrum.test\r\n\r\nGET /next HTTP/1.1\r\n")
	time.Sleep(800 * time.Millisecond)
	_, _ = io.WriteString(c, "Host: fulcrum.test\r\n\r\n")
	if ex := readResponsesFor(t, c, "GET", "GET"); !slices.Equal(ex.statuses, []int{200, 200}) {
		t.Fatalf("statuses %v; want [200 200]", ex.statuses)
	}
}

// TestH2CPriorKnowledge: a connection that opens with the HTTP/2 preface is
// passed through to net/http's h2c server untouched.
func TestH2CPriorKnowledge(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	lim := config.HTTPLimits{}
	srv := &http.Server{Protocols: &protos, ErrorLog: quietLog(), Handler: Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s", r.Proto)
	}), Options{})}
	ServerTimeouts(srv, lim)
	go func() { _ = srv.Serve(Listener(ln, lim)) }()
	t.Cleanup(func() { _ = srv.Close() })

	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &cp}
	defer tr.CloseIdleConnections()
	for range 3 {
		res, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(body) != "HTTP/2.0" {
			t.Fatalf("served over %q; want HTTP/2.0", body)
		}
	}
	// Without h2c the preface reaches net/http's HTTP/1 server, which
	// hands "PRI *" to the handler: refused there, never routed.
	be := newBackend(t)
	addr := startHardened(t, proxyFor(be), lim, Options{})
	ex := rawExchange(t, addr, h2Preface, 2*time.Second)
	if !slices.Equal(ex.statuses, []int{400}) || len(be.requests("")) != 0 {
		t.Fatalf("preface to an HTTP/1-only server: %v, backend got %d requests", ex.statuses, len(be.requests("")))
	}
	// HTTP/1 on the same listener is still vetted.
	ex = rawExchange(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 2*time.Second)
	if !slices.Equal(ex.statuses, []int{400}) || !ex.closed {
		t.Fatalf("h1 on h2c listener: %v closed=%v", ex.statuses, ex.closed)
	}
}

// selfSigned makes a throwaway certificate for 127.0.0.1 / fulcrum.test.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: testHost},
		DNSNames:     []string{testHost},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startTLS serves h through TLSListener, h2 and http/1.1 offered by ALPN.
func startTLS(t *testing.T, h http.Handler, lim config.HTTPLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{"h2", "http/1.1"}}
	srv := &http.Server{Handler: Handler(h, Options{Hosts: []string{testHost}}), ErrorLog: quietLog()}
	ServerTimeouts(srv, lim)
	tl := TLSListener(ln, cfg, lim)
	go func() { _ = srv.Serve(tl) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestTLS: HTTP/1.1 over TLS is vetted with Request.TLS set; h2 by ALPN is
// served by net/http's HTTP/2 server; plaintext to the TLS port gets 400.
func TestTLS(t *testing.T) {
	addr := startTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
	}), config.HTTPLimits{})
	for _, tc := range []struct {
		alpn []string
		want string
	}{
		{[]string{"http/1.1"}, "HTTP/1.1 tls=true"},
		{[]string{"h2"}, "HTTP/2.0 tls=true"},
	} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: tc.alpn}, ForceAttemptHTTP2: tc.alpn[0] == "h2"}
		res, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		tr.CloseIdleConnections()
		if string(body) != tc.want {
			t.Errorf("ALPN %v: %q; want %q", tc.alpn, body, tc.want)
		}
	}
	// Smuggling over TLS is refused like over TCP.
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n")
	if ex := readResponses(c); !slices.Equal(ex.statuses, []int{400}) || !ex.closed {
		t.Fatalf("CL+TE over TLS: %v closed=%v; want [400] closed", ex.statuses, ex.closed)
	}
	// Plain HTTP to the TLS port.
	ex := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n", 2*time.Second)
	if !slices.Equal(ex.statuses, []int{400}) {
		t.Fatalf("plaintext to TLS port: %v", ex.statuses)
	}
}

// TestTLSListenerClose: Accept returns once the listener is closed, and a
// stalled handshake does not block others.
func TestTLSListenerClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	tl := TLSListener(ln, cfg, config.HTTPLimits{HeaderTimeout: 200 * time.Millisecond})
	stalled, err := net.Dial("tcp", ln.Addr().String()) // never says ClientHello
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	go func() {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
		}
	}()
	c, err := tl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The stalled handshake is dropped after HeaderTimeout.
	_ = stalled.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("stalled handshake still open: %v", err)
	}
	done := make(chan error)
	go func() { _, err := tl.Accept(); done <- err }()
	tl.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}

// TestRefusalDuringWrite pins the refusal's choice while a response write is
// still in flight (net.Pipe: a write completes only as the client reads).
// The tail of the earlier response (net/http flushing it in finishRequest
// while its background read is already refusing) must be followed by the
// canned response; a write that is the refused request's own response means
// close at once, without waiting for the write and without a canned one.
func TestRefusalDuringWrite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		req      string
		resp     string // written by "net/http" while the refusal runs
		rejReq   uint64
		statuses []int // what the client reads, then EOF
	}{
		{
			name:     "earlier response tail",
			req:      "GET /a HTTP/1.1\r\nHost: fulcrum.test\r\n\r\nGET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
			resp:     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			rejReq:   1,
			statuses: []int{200, 400},
		},
		{
			name:   "own response started",
			req:    "POST / HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nzz\r\n",
			resp:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n",
			rejReq: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := net.Pipe()
			defer cli.Close()
			_ = cli.SetDeadline(time.Now().Add(5 * time.Second))
			hc := Conn(srv, config.HTTPLimits{}).(*conn)
			defer hc.Close()

			go func() { _, _ = io.WriteString(cli, tc.req) }()
			buf := make([]byte, 4096)
			if n, err := hc.Read(buf); n == 0 || err != nil {
				t.Fatalf("first read: %d %v", n, err)
			}
			hc.mu.Lock()
			rejected, rejReq := hc.rejected, hc.rejReq
			hc.mu.Unlock()
			if !rejected || rejReq != tc.rejReq {
				t.Fatalf("rejected=%v for request %d; want request %d refused", rejected, rejReq, tc.rejReq)
			}

			wrote := make(chan error, 1)
			go func() {
				_, err := io.WriteString(hc, tc.resp)
				wrote <- err
			}()
			// The write has been scanned (and holds wmu) once the tracker
			// moved; it stays in flight until the client reads.
			for {
				hc.mu.Lock()
				moved := hc.t.done > 0 || hc.t.st != tsIdle
				hc.mu.Unlock()
				if moved {
					break
				}
				time.Sleep(time.Millisecond)
			}
			refused := make(chan error, 1)
			go func() {
				_, err := hc.Read(buf)
				refused <- err
			}()

			if tc.statuses == nil {
				// Close without waiting for the write in flight.
				if err := <-refused; !errors.Is(err, ErrRejected) {
					t.Fatalf("refusing read: %v; want ErrRejected", err)
				}
				all, _ := io.ReadAll(cli)
				if strings.Contains(string(all), "400 Bad Request") {
					t.Fatalf("client read %q; want no canned response", all)
				}
				return
			}
			// Give a refusal that wrongly gives up on a busy writer the
			// chance to do so before the client reads; a correct one waits.
			select {
			case err := <-refused:
				t.Fatalf("refusal finished (%v) while the earlier response was in flight", err)
			case <-time.After(50 * time.Millisecond):
			}
			br := bufio.NewReader(cli)
			var statuses []int
			for range tc.statuses {
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("after %v: %v", statuses, err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				statuses = append(statuses, res.StatusCode)
			}
			if !slices.Equal(statuses, tc.statuses) {
				t.Fatalf("statuses %v; want %v", statuses, tc.statuses)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the canned response: %v; want EOF", err)
			}
			if err := <-wrote; err != nil {
				t.Fatalf("earlier response write: %v", err)
			}
			if err := <-refused; !errors.Is(err, ErrRejected) {
				t.Fatalf("refusing read: %v; want ErrRejected", err)
			}
		})
	}
}
