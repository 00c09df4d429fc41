package harden

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// h2Limits are the limits of the HTTP/2 abuse tests.
var h2Limits = config.HTTPLimits{MaxConcurrentH2: 100}

// h2Server serves h over HTTP/2 with the hardened setup (h2c with prior
// knowledge, or h2 over TLSListener) and counts handler concurrency.
type h2Server struct {
	addr     string
	tls      bool
	counted  *countingListener
	calls    atomic.Int64
	cur      atomic.Int64
	maxCur   atomic.Int64
	handlerD time.Duration
	// ignoreCancel makes the handler sleep through a stream reset.
	ignoreCancel bool
}

// countingListener counts the bytes the server reads on each connection.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*countingConn
}

type countingConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// CloseWrite keeps the half-close of the connection underneath, which
// the lingering closes use.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

// maxRead is the most any one connection had read.
func (l *countingListener) maxRead() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var m int64
	for _, c := range l.conns {
		m = max(m, c.n.Load())
	}
	return m
}

// h2Setup is what startH2With serves.
type h2Setup struct {
	handlerD     time.Duration
	ignoreCancel bool
	tls          bool    // h2 over TLSListener instead of h2c
	opt          Options // for Handler and ConfigureServer
}

func startH2(t *testing.T, handlerD time.Duration, ignoreCancel bool) *h2Server {
	t.Helper()
	return startH2With(t, h2Setup{handlerD: handlerD, ignoreCancel: ignoreCancel})
}

func startH2With(t *testing.T, cfg h2Setup) *h2Server {
	t.Helper()
	s := &h2Server{handlerD: cfg.handlerD, ignoreCancel: cfg.ignoreCancel, tls: cfg.tls}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	if cfg.tls {
		protos.SetHTTP2(true)
	} else {
		protos.SetUnencryptedHTTP2(true)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		n := s.cur.Add(1)
		defer s.cur.Add(-1)
		for {
			m := s.maxCur.Load()
			if n <= m || s.maxCur.CompareAndSwap(m, n) {
				break
			}
		}
		switch {
		case r.URL.Path == "/benign":
		case r.URL.Path == "/grpc":
			// A unary call: the request body, then the answer.
			_, _ = io.Copy(io.Discard, r.Body)
		case r.URL.Path == "/stream":
			// A streaming call or long poll: the response begins, and
			// it ends when the client cancels.
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
		case s.ignoreCancel:
			time.Sleep(s.handlerD)
		case s.handlerD > 0:
			// Like a proxy: a reset stream cancels the upstream request.
			select {
			case <-time.After(s.handlerD):
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "ok")
	})
	srv := &http.Server{Protocols: &protos, ErrorLog: quietLog(), Handler: Handler(h, cfg.opt)}
	ConfigureServer(srv, h2Limits, cfg.opt)
	s.counted = &countingListener{Listener: ln}
	var sl net.Listener
	if cfg.tls {
		tc := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, NextProtos: []string{"h2", "http/1.1"}}
		sl = TLSListener(s.counted, tc, h2Limits)
	} else {
		sl = Listener(s.counted, h2Limits)
	}
	go func() { _ = srv.Serve(sl) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.addr = ln.Addr().String()
	return s
}

// transport is an HTTP/2-only client for s (one connection while fewer
// than MaxConcurrentStreams requests are in flight).
func (s *h2Server) transport() *http.Transport {
	var cp http.Protocols
	if s.tls {
		cp.SetHTTP2(true)
	} else {
		cp.SetUnencryptedHTTP2(true)
	}
	return &http.Transport{Protocols: &cp, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
}

func (s *h2Server) url(path string) string {
	if s.tls {
		return "https://" + s.addr + path
	}
	return "http://" + s.addr + path
}

// benign keeps making HTTP/2 requests on its own connection until stop,
// and reports failures.
func benign(t *testing.T, s *h2Server, stop <-chan struct{}) (ok, failed *atomic.Int64, done <-chan struct{}) {
	t.Helper()
	tr := s.transport()
	ok, failed = new(atomic.Int64), new(atomic.Int64)
	d := make(chan struct{})
	go func() {
		defer close(d)
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 3 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			res, err := client.Get(s.url("/benign"))
			if err != nil {
				failed.Add(1)
				continue
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && string(body) == "ok" {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return ok, failed, d
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// h2Peer is a raw HTTP/2 client connection driven frame by frame.
type h2Peer struct {
	c       net.Conn
	fr      *http2.Framer
	wmu     sync.Mutex
	written atomic.Int64

	scheme string
	// recordOverhead is what TLS adds to each frame the peer writes.
	recordOverhead int

	mu       sync.Mutex
	goaway   *http2.GoAwayFrame
	statuses map[uint32]string
	resets   int
	closed   chan struct{}
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// dialH2 opens a raw HTTP/2 connection to s: h2c with prior knowledge,
// or TLS with ALPN "h2".
func dialH2(t *testing.T, s *h2Server) *h2Peer {
	t.Helper()
	var c net.Conn
	var err error
	scheme := "http"
	if s.tls {
		scheme = "https"
		var tc *tls.Conn
		tc, err = tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err == nil && tc.ConnectionState().NegotiatedProtocol != "h2" {
			t.Fatalf("ALPN %q; want h2", tc.ConnectionState().NegotiatedProtocol)
		}
		if err == nil && tc.ConnectionState().Version != tls.VersionTLS13 {
			t.Fatalf("TLS version %x; want 1.3", tc.ConnectionState().Version)
		}
		c = tc
	} else {
		c, err = net.Dial("tcp", s.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &h2Peer{c: c, scheme: scheme, statuses: map[uint32]string{}, closed: make(chan struct{})}
	if s.tls {
		// The Framer writes each frame in one Write, which crypto/tls
		// sends as one TLS 1.3 record: a 5-byte header, the inner
		// content type and a 16-byte AEAD tag (RFC 8446 §5.2).
		p.recordOverhead = 5 + 1 + 16
	}
	p.fr = http2.NewFramer(countingWriter{c, &p.written}, c)
	p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	p.fr.MaxHeaderListSize = 1 << 20
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(countingWriter{c, &p.written}, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := p.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	go p.readLoop()
	return p
}

func (p *h2Peer) readLoop() {
	defer close(p.closed)
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			return
		}
		p.mu.Lock()
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			g := *f
			p.goaway = &g
		case *http2.MetaHeadersFrame:
			p.statuses[f.StreamID] = f.PseudoValue("status")
		case *http2.RSTStreamFrame:
			p.resets++
		case *http2.SettingsFrame:
			if !f.IsAck() {
				p.wmu.Lock()
				_ = p.fr.WriteSettingsAck()
				p.wmu.Unlock()
			}
		}
		p.mu.Unlock()
	}
}

func (p *h2Peer) goAway() *http2.GoAwayFrame {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.goaway
}

func (p *h2Peer) done() bool {
	if p.goAway() != nil {
		return true
	}
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

func requestBlock(path string) []byte { return requestBlockScheme("http", path) }

func (p *h2Peer) block(path string) []byte { return requestBlockScheme(p.scheme, path) }

func requestBlockScheme(scheme, path string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", scheme}, {":path", path}, {":authority", testHost}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return b.Bytes()
}

// rapidReset sends HEADERS+RST_STREAM pairs (CVE-2023-44487) until the
// server sends GOAWAY or closes, or max pairs went out; it returns how many.
func rapidReset(t *testing.T, p *h2Peer, max int) int {
	t.Helper()
	block := p.block("/rr")
	for i := range max {
		if p.done() {
			return i
		}
		id := uint32(2*i + 1)
		p.wmu.Lock()
		err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
		if err == nil {
			err = p.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		p.wmu.Unlock()
		if err != nil {
			return i
		}
	}
	return max
}

func waitDone(t *testing.T, p *h2Peer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !p.done() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// TestH2RapidReset pins the rapid-reset defences (CVE-2023-44487) with our
// config, over h2c with prior knowledge and over TLS: the flood ends the
// connection (GOAWAY or close) within 5,000 streams (reliability.md T8),
// handler concurrency never exceeds MaxConcurrentStreams, and a benign
// client on another connection keeps being served. Three defences may
// fire, whichever comes first, each with its own bound checked below: the
// premature-reset guard (h2guard.go: GOAWAY ENHANCE_YOUR_CALM, or a close
// when no frame boundary comes), Go's own refusal to queue more than 4×
// MaxConcurrentStreams unstarted handlers (h2_bundle.go
// "too_many_early_resets": ENHANCE_YOUR_CALM) and MaxRequestsPerConn
// (GOAWAY NO_ERROR). Without the guard the last two alone let the flood
// run past 7,000 streams when handlers keep up (a slow client, or the
// race detector).
func TestH2RapidReset(t *testing.T) {
	anyCode := []http2.ErrCode{http2.ErrCodeNo, http2.ErrCodeEnhanceYourCalm}
	for _, tc := range []struct {
		name         string
		handlerD     time.Duration
		ignoreCancel bool
		codes        []http2.ErrCode
		maxCalls     int64 // handlers the flood may start
	}{
		// Handlers that outlive the reset: Go's queue limit bounds them.
		{"handler ignoring resets", 100 * time.Millisecond, true, anyCode, 5 * int64(h2Limits.MaxConcurrentH2)},
		// Handlers that stop on reset (a proxy cancels the upstream) or
		// finish at once may never queue up, and Go alone then sends no
		// GOAWAY at all (reliability.md §2.2).
		{"handler honouring resets", 100 * time.Millisecond, false, anyCode, DefaultMaxRequestsPerConn + int64(h2Limits.MaxConcurrentH2)},
		{"instant handler", 0, false, anyCode, DefaultMaxRequestsPerConn + int64(h2Limits.MaxConcurrentH2)},
	} {
		for _, overTLS := range []bool{false, true} {
			name := tc.name + "/h2c"
			if overTLS {
				name = tc.name + "/tls"
			}
			t.Run(name, func(t *testing.T) {
				s := startH2With(t, h2Setup{handlerD: tc.handlerD, ignoreCancel: tc.ignoreCancel, tls: overTLS})
				stop := make(chan struct{})
				ok, failed, bdone := benign(t, s, stop)
				waitFor(t, "the benign client's first response", func() bool { return ok.Load() > 0 })
				p := dialH2(t, s)
				// What the server reads per HEADERS+RST_STREAM pair.
				pairLen := int64(2*frameHeaderLen + len(p.block("/rr")) + 4 + 2*p.recordOverhead)
				sent := rapidReset(t, p, 20000)
				waitDone(t, p)
				// The benign client goes on being served after the flood.
				after := ok.Load()
				waitFor(t, "the benign client after the flood", func() bool { return ok.Load() >= after+3 })
				close(stop)
				<-bdone
				if !p.done() {
					t.Fatalf("connection neither closed nor sent GOAWAY after %d HEADERS+RST_STREAM pairs", sent)
				}
				g := p.goAway()
				outcome := "closed without GOAWAY"
				if g != nil {
					outcome = fmt.Sprintf("GOAWAY %v last stream %d", g.ErrCode, g.LastStreamID)
					if !slices.Contains(tc.codes, g.ErrCode) {
						t.Errorf("GOAWAY %v; want one of %v", g.ErrCode, tc.codes)
					}
					// The client writes ahead of the GOAWAY, so count the
					// streams the server took (its last stream ID), not
					// the pairs written.
					if g.LastStreamID > 2*5000 {
						t.Errorf("server took streams up to %d; want an end within 5000 streams", g.LastStreamID)
					}
				}
				// Whatever the outcome, the server read at most 5,000
				// streams' worth: every pair is pairLen bytes, and the
				// count also has the preface, SETTINGS, the TLS handshake
				// and what the lingering close drained (up to 64 KiB), so
				// it is an upper bound.
				if took := s.counted.maxRead() / pairLen; took > 5000 {
					t.Errorf("server read %d bytes, %d pairs' worth; want at most 5000 streams", s.counted.maxRead(), took)
				}
				if m := s.maxCur.Load(); m > int64(h2Limits.MaxConcurrentH2)+1 {
					t.Errorf("%d handlers ran at once; MaxConcurrentStreams is %d (+1 benign)", m, h2Limits.MaxConcurrentH2)
				}
				maxCalls := tc.maxCalls
				if g != nil && g.ErrCode == http2.ErrCodeNo {
					// Stopped by MaxRequestsPerConn: at most that many
					// requests, plus the streams already open.
					maxCalls = max(maxCalls, DefaultMaxRequestsPerConn+int64(h2Limits.MaxConcurrentH2))
				}
				if c := s.calls.Load() - ok.Load() - failed.Load(); c > maxCalls {
					t.Errorf("flood started %d handlers; want <= %d (%s)", c, maxCalls, outcome)
				}
				if failed.Load() != 0 {
					t.Errorf("benign client: %d ok, %d failed", ok.Load(), failed.Load())
				}
				t.Logf("%d pairs sent, %s, server read %d bytes, %d handlers, max %d concurrent, benign %d ok",
					sent, outcome, s.counted.maxRead(), s.calls.Load(), s.maxCur.Load(), ok.Load())
			})
		}
	}
}

// TestH2ContinuationFlood (CVE-2023-45288): HEADERS without END_HEADERS
// followed by endless CONTINUATION frames must end in GOAWAY or close
// after a bounded read, while another client is served.
func TestH2ContinuationFlood(t *testing.T) {
	s := startH2(t, 0, false)
	stop := make(chan struct{})
	ok, failed, bdone := benign(t, s, stop)
	p := dialH2(t, s)
	var frag bytes.Buffer
	enc := hpack.NewEncoder(&frag)
	for frag.Len() < 16000 {
		_ = enc.WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("a", 100), Sensitive: true})
	}
	const limit = 10 << 20
	p.wmu.Lock()
	err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: requestBlock("/cont"), EndHeaders: false, EndStream: true})
	p.wmu.Unlock()
	for err == nil && p.written.Load() < limit && !p.done() {
		p.wmu.Lock()
		err = p.fr.WriteContinuation(1, false, frag.Bytes())
		p.wmu.Unlock()
	}
	waitDone(t, p)
	close(stop)
	<-bdone
	written := p.written.Load()
	if !p.done() {
		t.Fatalf("server still reading after %d bytes of CONTINUATION", written)
	}
	// Go stops once a fragment exceeds twice the header list budget left
	// (h2_bundle.go readMetaFrame), and the budget is MaxHeaderBytes
	// (32 KiB here) plus Go's 4 KiB slack: a few frames, far below
	// reliability.md T8's 4 MiB.
	read := s.counted.maxRead()
	if read > 256<<10 {
		t.Errorf("server read %d bytes before stopping; want <= 256 KiB", read)
	}
	if g := p.goAway(); g != nil && g.ErrCode != http2.ErrCodeProtocol {
		t.Errorf("GOAWAY %v; want PROTOCOL_ERROR", g.ErrCode)
	}
	if s.calls.Load() != ok.Load()+failed.Load() {
		t.Errorf("the flooded request reached the handler")
	}
	if ok.Load() == 0 || failed.Load() != 0 {
		t.Errorf("benign client: %d ok, %d failed", ok.Load(), failed.Load())
	}
	t.Logf("client wrote %d bytes, server read %d, GOAWAY %v, benign %d ok", written, read, p.goAway() != nil, ok.Load())
}

// TestH2HPACKBomb: a 4 KiB dynamic-table entry referenced thousands of
// times in one 16 KiB block (~50 MB decoded) is refused with 431 (or a
// reset) without the decoded size ever being allocated.
func TestH2HPACKBomb(t *testing.T) {
	s := startH2(t, 0, false)
	p := dialH2(t, s)
	var block bytes.Buffer
	block.Write(requestBlock("/bomb"))
	enc := hpack.NewEncoder(&block)
	_ = enc.WriteField(hpack.HeaderField{Name: "x-bomb", Value: strings.Repeat("a", 4000)}) // indexed as 62
	refs := 16000 - block.Len()
	for range refs {
		block.WriteByte(0x80 | 62)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p.wmu.Lock()
	err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
	p.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var status string
	for time.Now().Before(deadline) {
		p.mu.Lock()
		status = p.statuses[1]
		resets := p.resets
		p.mu.Unlock()
		if status != "" || resets > 0 || p.done() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.ReadMemStats(&after)
	if status != "431" && p.resets == 0 && !p.done() {
		t.Fatalf("bomb of %d references: status %q, no reset, no GOAWAY", refs, status)
	}
	if status != "" && status != "431" {
		t.Errorf("status %s; want 431", status)
	}
	if s.calls.Load() != 0 {
		t.Error("the bomb reached the handler")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("allocated %d MiB while refusing the bomb (%d MiB decoded)", grew>>20, refs*4000>>20)
	}
	// The connection is still usable for a normal request.
	p.wmu.Lock()
	_ = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: requestBlock("/after"), EndStream: true, EndHeaders: true})
	p.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		p.mu.Lock()
		st := p.statuses[3]
		p.mu.Unlock()
		if st != "" || p.done() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.mu.Lock()
	st := p.statuses[3]
	p.mu.Unlock()
	if !p.done() && st != "200" {
		t.Errorf("request after the bomb: status %q", st)
	}
	t.Logf("bomb: status %q, resets %d, GOAWAY %+v, after-request %q", status, p.resets, p.goAway(), st)
}

// TestMaxRequestsPerConn: after MaxRequestsPerConn requests the connection
// is closed by the response (HTTP/1: Connection: close; HTTP/2: GOAWAY, as
// nginx keepalive_requests does for both), and clients move on to a new
// connection without a failed request.
func TestMaxRequestsPerConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protos, ErrorLog: quietLog(), Handler: Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}), Options{MaxRequestsPerConn: 3})}
	ServerTimeouts(srv, config.HTTPLimits{})
	go func() { _ = srv.Serve(Listener(ln, config.HTTPLimits{})) }()
	t.Cleanup(func() { _ = srv.Close() })

	for _, h2 := range []bool{false, true} {
		var cp http.Protocols
		if h2 {
			cp.SetUnencryptedHTTP2(true)
		} else {
			cp.SetHTTP1(true)
		}
		tr := &http.Transport{Protocols: &cp}
		conns := 0
		for i := range 7 {
			trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
				if !ci.Reused {
					conns++
				}
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+ln.Addr().String()+"/", nil)
			res, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("h2=%v request %d: %v", h2, i, err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			// HTTP/1 says it on the third response; HTTP/2 uses GOAWAY.
			if !h2 && (i%3 == 2) != res.Close {
				t.Errorf("h1 request %d: Close=%v", i, res.Close)
			}
			if h2 {
				// Let the GOAWAY reach the client before the next request.
				time.Sleep(20 * time.Millisecond)
			}
		}
		tr.CloseIdleConnections()
		if conns != 3 {
			t.Errorf("h2=%v: 7 requests used %d connections; want 3", h2, conns)
		}
	}
}
