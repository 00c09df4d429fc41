package l7

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Transport is the upstream client for body-less HTTP/1.1 requests to
// plain-text servers, the bulk of proxied traffic (GET, HEAD). It runs the
// whole exchange in the handler's goroutine: write the request, read the
// response head, hand over the body, put the connection back when the
// body ends. net/http's Transport runs a reader and a writer goroutine per
// connection and hands every request and response across channels; on one
// core that costs more than half of a proxied request (bench: keep-alive
// rps through the proxy roughly doubles, docs/performance.md).
//
// Requests with a body keep net/http's Transport, which writes the body
// while it already reads the response (a server may answer before it has
// read everything); so do upgrades and TLS upstreams.
type h1Transport struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	keep        int           // idle connections kept per server (nginx "keepalive N")
	idleTimeout time.Duration // nginx upstream keepalive_timeout
	reuse       bool          // false: one connection per request (PROXY protocol)
	now         func() time.Time

	mu   sync.Mutex
	idle map[string][]*h1Conn // by "host:port"; newest last
}

func newH1Transport(dial func(context.Context, string, string) (net.Conn, error), keep int, idle time.Duration, reuse bool) *h1Transport {
	return &h1Transport{dial: dial, keep: keep, idleTimeout: idle, reuse: reuse, now: time.Now, idle: map[string][]*h1Conn{}}
}

// handles reports whether the request is one for this transport: no
// body, no upgrade, no trailers.
func (t *h1Transport) handles(req *http.Request) bool {
	return (req.Body == nil || req.Body == http.NoBody) && len(req.Trailer) == 0 &&
		req.Header.Get("Upgrade") == ""
}

// h1Conn is one connection to a server.
type h1Conn struct {
	t      *h1Transport
	key    string
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	limit  int64 // bytes of response head still allowed; < 0 while in a body
	nread  int64 // bytes read in the current exchange
	reused bool
	idleAt time.Time
	abort  func() // ends blocked I/O: the client left
}

var errResponseHeaderTooLarge = fmt.Errorf("net/http: server response headers exceeded %d bytes; aborted", maxResponseHeaderBytes)

// Read is the bufio.Reader's source: it enforces the response head limit
// (net/http's Transport.MaxResponseHeaderBytes).
func (pc *h1Conn) Read(p []byte) (int, error) {
	if pc.limit >= 0 {
		if pc.limit == 0 {
			return 0, errResponseHeaderTooLarge
		}
		if int64(len(p)) > pc.limit {
			p = p[:pc.limit]
		}
	}
	n, err := pc.c.Read(p)
	if pc.limit >= 0 {
		pc.limit -= int64(n)
	}
	pc.nread += int64(n)
	return n, err
}

func (t *h1Transport) get(ctx context.Context, key string) (*h1Conn, error) {
	if t.reuse {
		t.mu.Lock()
		l := t.idle[key]
		if n := len(l); n > 0 {
			pc := l[n-1]
			l[n-1] = nil
			t.idle[key] = l[:n-1]
			if t.now().Sub(pc.idleAt) < t.idleTimeout {
				t.mu.Unlock()
				pc.reused = true
				return pc, nil
			}
			// The newest is expired: so are all below it.
			stale := append(l[:n-1:n-1], pc)
			delete(t.idle, key)
			t.mu.Unlock()
			for _, s := range stale {
				_ = s.c.Close()
			}
		} else {
			t.mu.Unlock()
		}
	}
	c, err := t.dial(ctx, "tcp", key)
	if err != nil {
		return nil, err
	}
	pc := &h1Conn{t: t, key: key, c: c}
	pc.abort = func() { _ = c.SetDeadline(longAgo) }
	pc.br = bufio.NewReaderSize(pc, 4<<10)
	pc.bw = bufio.NewWriterSize(c, 4<<10)
	return pc, nil
}

// put keeps pc for the next request, or closes it.
func (t *h1Transport) put(pc *h1Conn) {
	if !t.reuse || t.keep <= 0 || pc.br.Buffered() > 0 {
		// Bytes after the response: the server is out of step.
		_ = pc.c.Close()
		return
	}
	now := t.now()
	pc.idleAt = now
	var evict []*h1Conn
	t.mu.Lock()
	l := t.idle[pc.key]
	// The oldest goes when it has outlived the timeout or the pool is full.
	for len(l) > 0 && (len(l) >= t.keep || now.Sub(l[0].idleAt) >= t.idleTimeout) {
		evict = append(evict, l[0])
		l[0] = nil
		l = l[1:]
	}
	t.idle[pc.key] = append(l, pc)
	t.mu.Unlock()
	for _, e := range evict {
		_ = e.c.Close()
	}
}

// CloseIdleConnections closes the connections kept idle.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1Conn{}
	t.mu.Unlock()
	for _, l := range idle {
		for _, pc := range l {
			_ = pc.c.Close()
		}
	}
}

// longAgo is a deadline that has passed: it ends blocked reads and writes.
var longAgo = time.Unix(1, 0)

// do sends req to host and returns the response with its body streaming
// from the connection. read is proxy_read_timeout: it bounds the wait
// for the response head and every read of the body, as a deadline on the
// connection (a timeout is errUpstreamTimeout). Cancelling req's context
// ends the exchange at any point and the error is the context's cause,
// as net/http's. A kept-alive connection the server closed in the
// meantime is replaced by a new one, when nothing of the response arrived
// (net/http's shouldRetryRequest; nginx does not count such a failure
// either).
//
// x, when not nil, is where the response is built: the caller owns it
// and must be done with one response (its body closed) before it passes
// x again.
func (t *h1Transport) do(req *http.Request, host string, read time.Duration, x *h1Exchange) (*http.Response, error) {
	ctx := req.Context()
	for {
		pc, err := t.get(ctx, host)
		if err != nil {
			return nil, err
		}
		resp, err := pc.roundTrip(ctx, req, read, x)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, errUpstreamTimeout
		}
		if pc.reused && pc.nread == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isConnReset(err)) {
			continue
		}
		return nil, err
	}
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout() && (ne.Op == "write" || ne.Op == "read")
}

func (pc *h1Conn) roundTrip(ctx context.Context, req *http.Request, read time.Duration, x *h1Exchange) (*http.Response, error) {
	pc.nread = 0
	_ = pc.c.SetDeadline(time.Now().Add(read))
	stop := onCancel(ctx, pc.abort)
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = pc.c.Close()
		return nil, err
	}
	if err := writeHead(pc.bw, req); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	// The answer takes the server a while: let the other runnable
	// goroutines go first, so that the read below usually finds it instead
	// of failing with EAGAIN and parking until the netpoller wakes this
	// goroutine (nginx and HAProxy save that read by asking epoll first).
	// Alone, Gosched returns at once. Measured (docs/performance.md): 0 to
	// +11 % requests per second, about 6 % less CPU per request, at the
	// same p99; the same yield before reading the client's next request as
	// well put p99 up by half.
	runtime.Gosched()
	var resp *http.Response
	for n := 0; ; n++ {
		pc.limit = maxResponseHeaderBytes
		var err error
		resp, err = readResponse(pc.br, req, x)
		if err != nil {
			return fail(err)
		}
		// 1xx responses other than 101 precede the real one (RFC 9110
		// §15.2); like nginx, Fulcrum does not pass them on.
		if resp.StatusCode >= 200 {
			break
		}
		putHeader(resp.Header) // a 1xx response is dropped here
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errors.New("malformed HTTP response: 101 to a request without Upgrade"))
		}
		if n == 5 {
			return fail(errors.New("net/http: too many 1xx informational responses"))
		}
	}
	pc.limit = -1
	var b *h1Body
	if x != nil {
		b = &x.body
	} else {
		b = new(h1Body)
	}
	*b = h1Body{pc: pc, stop: stop, keep: !resp.Close && !req.Close, read: read}
	if resp.Body == http.NoBody || resp.Body == nil {
		b.done(true)
		resp.Body = http.NoBody
		return resp, nil
	}
	b.rc = resp.Body
	resp.Body = b
	return resp, nil
}

// h1Exchange holds what a response of the transport is made of, for a
// caller that owns it from one response to the next (the direct path's
// directOut), so that a response allocates none of them.
type h1Exchange struct {
	resp   http.Response
	body   h1Body
	length lengthBody
}

// h1Body is a response body; its end gives the connection back.
type h1Body struct {
	pc   *h1Conn
	rc   io.ReadCloser
	stop func() bool
	keep bool
	read time.Duration
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.pc == nil {
		return 0, io.EOF
	}
	if b.pc.br.Buffered() == 0 {
		// The read may wait for the server: proxy_read_timeout.
		_ = b.pc.c.SetReadDeadline(time.Now().Add(b.read))
	}
	n, err := b.rc.Read(p)
	if err != nil {
		b.done(err == io.EOF)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = errUpstreamTimeout
		}
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.pc != nil {
		b.done(false)
	}
	return nil
}

// done ends the exchange: a complete response on a connection that may
// stay open, and no cancellation under way, returns it to the pool.
func (b *h1Body) done(complete bool) {
	pc := b.pc
	b.pc = nil
	if !b.stop() {
		// The context ended: its deadline poisoned the connection.
		complete = false
	}
	if complete && b.keep {
		pc.reused = false
		pc.t.put(pc)
		return
	}
	_ = pc.c.Close()
}

// writeHead writes the request line and header of a body-less request as
// net/http's Request.Write does (request.go write, transfer.go
// shouldSendContentLength): Host first, header fields sorted, values with
// line breaks made spaces, invalid fields dropped, Content-Length: 0 for
// POST, PUT and PATCH ("many servers expect" it), User-Agent only when set.
func writeHead(w *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return errors.New("http: invalid Host header")
	}
	ruri := req.URL.RequestURI()
	if !validMethod(req.Method) {
		return fmt.Errorf("net/http: invalid method %q", req.Method)
	}
	_, _ = w.WriteString(req.Method)
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(ruri)
	_, _ = w.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = w.WriteString(host)
	_, _ = w.WriteString("\r\n")
	if ua := req.Header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		writeField(w, "User-Agent", ua[0])
	}
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		_, _ = w.WriteString("Content-Length: 0\r\n")
	}
	writeFields(w, req.Header, reqWriteExcluded)
	_, err := w.WriteString("\r\n")
	return err
}

// reqWriteExcluded are the fields writeHead writes itself or never
// (net/http's reqWriteExcludeHeader).
func reqWriteExcluded(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// writeField writes "k: v" with net/http's value cleaning (header.go
// headerNewlineToSpace and textproto.TrimString).
func writeField(w *bufio.Writer, k, v string) {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	v = strings.Trim(v, " \t")
	_, _ = w.WriteString(k)
	_, _ = w.WriteString(": ")
	_, _ = w.WriteString(v)
	_, _ = w.WriteString("\r\n")
}

// validMethod: a token (RFC 9110 §9.1).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return true
}

// onCancel runs f when ctx is cancelled, until the returned stop is
// called; stop reports whether f has not run. A fast-front request
// carries a slot for this (abortSlot), which costs nothing per request;
// other contexts use context.AfterFunc.
func onCancel(ctx context.Context, f func()) (stop func() bool) {
	if s, ok := ctx.Value(abortKey{}).(*abortSlot); ok {
		return s.set(ctx, f)
	}
	return context.AfterFunc(ctx, f)
}

type abortKey struct{}

// abortSlot is the one abort hook of a fast-front connection (its
// requests run one at a time). The connection's watcher cancels the
// request's context and then fires the slot; set checks the context after installing f, so
// that a cancellation racing with it is never missed.
type abortSlot struct {
	mu     sync.Mutex
	f      func()
	fired  bool
	stopFn func() bool // s.stop, bound once
}

func (s *abortSlot) set(ctx context.Context, f func()) func() bool {
	s.mu.Lock()
	s.f, s.fired = f, false
	s.mu.Unlock()
	if ctx.Err() != nil {
		s.fire()
	}
	if s.stopFn == nil {
		s.stopFn = s.stop
	}
	return s.stopFn
}

func (s *abortSlot) stop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f = nil
	return !s.fired
}

func (s *abortSlot) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil && !s.fired {
		s.fired = true
		s.f()
	}
}
