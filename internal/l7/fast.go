package l7

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/harden"
)

// The fast front serves the commonest request of a plain-text HTTP/1.1
// connection, a GET without a body, itself, in the connection's goroutine:
// it reads the head into one buffer, checks it against a strict subset
// of HTTP/1.1 that net/http and the hardening vetter accept and parse alike,
// runs the same handler chain (harden.Handler, then the core) and writes
// the response straight to the socket. A request outside the subset (any
// other method, a body, framing or upgrade headers, anything unusual on
// the wire) hands the whole connection to net/http, through the hardening
// listener, with the unread bytes replayed: from then on the connection
// is net/http's, so the fast front never has to be right about the hard
// cases. On one core this takes a proxied keep-alive request from ~20k
// to ~30k per second (docs/performance.md).

// fastHeadMax bounds the head the fast front reads; larger heads go to
// net/http.
const fastHeadMax = 4 << 10

var errHandoff = errors.New("l7: connection handed to net/http")

// fastConn is one connection served by the fast front, on one goroutine:
// it reads a request head, runs the handler, writes the response, and
// reads the next head. A request that runs longer than fastWatchAfter gets
// a watcher (fastWatch) that reads the connection meanwhile, so that a
// client leaving cancels the request (499) and its upstream exchange, as
// net/http's background read and nginx's check of the client connection
// do; quicker requests never need one.
type fastConn struct {
	inst   *serverInst
	c      net.Conn
	lim    config.HTTPLimits
	buf    []byte               // head bytes read and not yet parsed are buf[start:end]
	small  *[fastHeadFirst]byte // buf's first array, from fastBufPool
	start  int
	end    int
	bw     *bufio.Writer
	ctx    context.Context // the connection's values; never cancelled
	remote string
	served int // heads read (the first waits HeaderTimeout)

	busy    atomic.Bool // a handler runs
	abort   abortSlot   // the running request's upstream abort (h1Transport)
	watch   fastWatch
	resp    fastResponse
	waiting atomic.Bool // waiting for a request to begin
}

// fastEligible reports whether the instance's connections start on the
// fast front: plain HTTP (TLS and h2 negotiation stay with net/http).
func (inst *serverInst) fastEligible() bool {
	return !inst.opts.tls && !inst.l.p.noFast.Load()
}

// serveFast runs the fast front on c until the connection ends or is
// handed to net/http.
func (inst *serverInst) serveFast(c net.Conn) {
	fc := &fastConn{inst: inst, c: c, lim: inst.fastLim}
	fc.watch.fc = fc
	if !inst.trackFast(fc, true) {
		inst.handoffConn(c, nil)
		return
	}
	defer inst.trackFast(fc, false)
	fc.ctx = harden.ConnContext(context.WithValue(context.Background(), http.LocalAddrContextKey, c.LocalAddr()))
	fc.ctx = context.WithValue(fc.ctx, abortKey{}, &fc.abort)
	fc.remote = c.RemoteAddr().String()
	// Buffers come from pools: the read buffer for the connection's
	// life (it starts small: most heads fit in 1 KiB; it grows to
	// fastHeadMax if not), the write buffer for each response.
	fc.small = fastBufPool.Get().(*[fastHeadFirst]byte)
	fc.buf = fc.small[:]
	err := fc.serveLoop()
	fc.watch.close()
	if errors.Is(err, errHijacked) {
		return // the handler has the connection and fc.bw
	}
	if !errors.Is(err, errHandoff) {
		_ = c.Close()
	}
	// No watcher runs any more (handoff clones what it replays): nothing
	// refers to the buffers.
	fc.putWriter()
	fastBufPool.Put(fc.small)
	fc.buf, fc.small = nil, nil
}

// fastHeadFirst is the read buffer a connection starts with.
const fastHeadFirst = 1 << 10

var (
	fastBufPool    = sync.Pool{New: func() any { return new([fastHeadFirst]byte) }}
	fastWriterPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

var errHijacked = errors.New("l7: connection hijacked")

func (fc *fastConn) serveLoop() error {
	for {
		hdr, err := fc.readHead()
		if errors.Is(err, errHeadTooLarge) || errors.Is(err, errNotFast) {
			fc.inst.handoffConn(fc.c, fc.buf[fc.start:fc.end])
			return errHandoff
		}
		if err != nil {
			return err
		}
		r, cancel, ok := fc.parse(hdr)
		if !ok {
			fc.inst.handoffConn(fc.c, fc.buf[fc.start-len(hdr):fc.end])
			return errHandoff
		}
		parsed := r.Header // as parsed, from headerPool
		fc.busy.Store(true)
		fc.watch.arm(cancel)
		keep, err := fc.serve(r)
		gone := fc.watch.disarm()
		cancel()
		fc.busy.Store(false)
		if err == nil {
			fc.putWriter() // flushed: an idle connection holds no write buffer
		}
		if err == nil && !fc.resp.keepReq {
			// The handler returned normally, has written its response
			// and kept nothing of the request (it says so otherwise,
			// keepRequest): the request and its header map are reused.
			// The direct path copies the header's value slices, never
			// the map. After a panic or a hijack both are left to the
			// collector.
			fc.resp.req = nil
			putHeader(parsed)
			*r = http.Request{}
			fastRequestPool.Put(r)
		}
		switch {
		case err != nil:
			return err
		case gone != nil:
			return gone // the client left, or its next head timed out
		case !keep:
			return nil
		}
	}
}

// putWriter gives the write buffer back; serve takes one per response.
func (fc *fastConn) putWriter() {
	if fc.bw != nil {
		fc.bw.Reset(nil)
		fastWriterPool.Put(fc.bw)
		fc.bw = nil
	}
}

// idle: no request runs or has begun to arrive.
func (fc *fastConn) idle() bool { return fc.waiting.Load() && !fc.busy.Load() }

// fastWatchAfter is how long a request runs before the connection is
// watched for the client leaving. Shorter requests finish before a client
// that leaves could be noticed to any effect; watching every request would
// cost a goroutine hand-off and a read that finds nothing per request.
const fastWatchAfter = 20 * time.Millisecond

// fastWatch reads a connection while its request runs long, on a timer's
// goroutine: bytes that arrive (a pipelined request) are kept in the
// connection's buffer, which the serving goroutine does not touch until
// disarm has stopped the watcher; an error or EOF cancels the request and
// fires its upstream abort.
type fastWatch struct {
	fc     *fastConn
	timer  *time.Timer
	mu     sync.Mutex
	armed  bool // the timer may start a watcher for the running request
	active bool // a watcher runs
	stop   bool // disarm asked the watcher to stop
	cancel context.CancelFunc
	done   chan struct{} // closed when the watcher returns
	gone   error         // what the watcher's read ended with
}

func (w *fastWatch) arm(cancel context.CancelFunc) {
	w.mu.Lock()
	w.armed, w.cancel, w.gone = true, cancel, nil
	w.mu.Unlock()
	if w.timer == nil {
		w.timer = time.AfterFunc(fastWatchAfter, w.run)
	} else {
		w.timer.Reset(fastWatchAfter)
	}
}

// disarm stops the watcher, if one runs, and returns the error it saw.
func (w *fastWatch) disarm() error {
	w.mu.Lock()
	w.armed = false
	if !w.active {
		w.mu.Unlock()
		w.timer.Stop() // a late run finds armed false and returns
		return nil
	}
	// Under mu, like the watcher's own deadline changes: a watcher
	// that has not yet cleared the deadline sees stop and returns.
	w.stop = true
	_ = w.fc.c.SetReadDeadline(longAgo)
	done := w.done
	w.mu.Unlock()
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	w.active, w.stop = false, false
	return w.gone
}

// close ends the timer when the connection ends.
func (w *fastWatch) close() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (w *fastWatch) run() {
	w.mu.Lock()
	if !w.armed || w.active {
		w.mu.Unlock()
		return
	}
	w.active, w.done = true, make(chan struct{})
	cancel := w.cancel
	fc := w.fc
	// A long handler is not an idle connection: no idle or header
	// timeout until bytes of a next request arrive.
	_ = fc.c.SetReadDeadline(time.Time{})
	w.mu.Unlock()
	defer close(w.done)
	started := false
	for fc.end < len(fc.buf) {
		n, err := fc.c.Read(fc.buf[fc.end:])
		fc.end += n
		if n > 0 && !started {
			started = true
			w.mu.Lock()
			if !w.stop { // else disarm's deadline must stay
				_ = fc.c.SetReadDeadline(time.Now().Add(fc.lim.HeaderTimeout))
			}
			w.mu.Unlock()
		}
		if err == nil {
			continue
		}
		w.mu.Lock()
		stopped := w.stop
		if !stopped {
			w.gone = err
		}
		w.mu.Unlock()
		if !stopped {
			cancel() // the client left while its request ran (499)
			fc.abort.fire()
		}
		return
	}
}

// handoffConn gives c to net/http with pending replayed first.
func (inst *serverInst) handoffConn(c net.Conn, pending []byte) {
	var conn net.Conn = c
	if len(pending) > 0 {
		conn = &replayConn{Conn: c, pending: slices.Clone(pending)}
	}
	if !inst.ch.deliver(conn) {
		_ = c.Close()
	}
}

// replayConn returns bytes the fast front read before the connection's.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// trackFast registers (add) or removes fc from the instance's fast
// connections; false means the instance is draining.
func (inst *serverInst) trackFast(fc *fastConn, add bool) bool {
	inst.fastMu.Lock()
	defer inst.fastMu.Unlock()
	if !add {
		delete(inst.fast, fc)
		if len(inst.fast) == 0 && inst.fastIdle != nil {
			close(inst.fastIdle)
			inst.fastIdle = nil
		}
		return true
	}
	if inst.draining.Load() {
		return false
	}
	if inst.fast == nil {
		inst.fast = map[*fastConn]struct{}{}
	}
	inst.fast[fc] = struct{}{}
	return true
}

// shutdownFast closes the fast connections waiting for a request and
// waits for the others to finish theirs (they close after it, the
// instance draining) until ctx ends, when they are closed.
func (inst *serverInst) shutdownFast(ctx context.Context) {
	inst.fastMu.Lock()
	var done chan struct{}
	if len(inst.fast) > 0 {
		done = make(chan struct{})
		inst.fastIdle = done
	}
	for fc := range inst.fast {
		if fc.idle() {
			_ = fc.c.SetReadDeadline(longAgo)
		}
	}
	inst.fastMu.Unlock()
	if done == nil {
		return
	}
	// A connection may go idle after the scan: poll until all are gone.
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			inst.fastMu.Lock()
			for fc := range inst.fast {
				_ = fc.c.Close()
			}
			inst.fastMu.Unlock()
			<-done
			return
		case <-t.C:
			inst.fastMu.Lock()
			for fc := range inst.fast {
				if fc.idle() {
					_ = fc.c.SetReadDeadline(longAgo)
				}
			}
			inst.fastMu.Unlock()
		}
	}
}

// readHead returns the next request head (through its blank line) and
// advances start past it. Waiting for a request is bounded by the idle
// timeout (the header timeout for the first); reading a head that has
// begun is bounded by the header timeout; either ending closes the
// connection, as net/http does.
func (fc *fastConn) readHead() ([]byte, error) {
	lim := fc.lim
	if fc.start == fc.end {
		fc.start, fc.end = 0, 0
	}
	started := fc.end > fc.start
	arm := func() {
		d := lim.KeepaliveTimeout
		if started || fc.served == 0 {
			d = lim.HeaderTimeout
		}
		_ = fc.c.SetReadDeadline(time.Now().Add(d))
	}
	arm()
	for {
		if pending := fc.buf[fc.start:fc.end]; !fastPrefix(pending) {
			return nil, errNotFast
		}
		if i := bytes.Index(fc.buf[fc.start:fc.end], crlfcrlf); i >= 0 {
			h := fc.buf[fc.start : fc.start+i+4]
			fc.start += i + 4
			fc.served++
			return h, nil
		}
		if fc.end == len(fc.buf) {
			if fc.start == 0 && len(fc.buf) < fastHeadMax {
				fc.buf = append(make([]byte, 0, fastHeadMax), fc.buf[:fc.end]...)[:fastHeadMax]
			} else if fc.start == 0 {
				// Larger than the fast front takes: net/http's.
				return nil, errHeadTooLarge
			}
			fc.end = copy(fc.buf, fc.buf[fc.start:fc.end])
			fc.start = 0
		}
		fc.waiting.Store(!started)
		n, err := fc.c.Read(fc.buf[fc.end:])
		fc.waiting.Store(false)
		fc.end += n
		if n > 0 && !started {
			started = true
			arm()
		}
		if err == nil {
			continue
		}
		return nil, err
	}
}

var (
	errHeadTooLarge = errors.New("l7: request head larger than the fast front takes")
	errNotFast      = errors.New("l7: request outside the fast subset")
)

// fastPrefix reports whether the bytes of a head so far may still be in
// the fast subset: a GET, and no LF without its CR (net/http and the
// vetter treat those differently; the vetter refuses them).
func fastPrefix(b []byte) bool {
	n := min(len(b), 4)
	if string(b[:n]) != "GET "[:n] {
		return false
	}
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		if i == 0 || b[i-1] != '\r' {
			return false
		}
		j := bytes.IndexByte(b[i+1:], '\n')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return true
}

var crlfcrlf = []byte("\r\n\r\n")

// parse builds the request from a head in the fast subset; false hands
// the connection to net/http. The subset: "GET origin-form HTTP/1.1",
// field names of tchar, values of visible characters, SP and HTAB, every
// line ending CRLF, exactly one valid Host, no Content-Length or
// Transfer-Encoding, no Expect, Upgrade or HTTP2-Settings, Connection only
// keep-alive or close, within the header count and size limits.
func (fc *fastConn) parse(h []byte) (*http.Request, context.CancelFunc, bool) {
	lim := fc.lim
	if len(h) > lim.MaxHeaderBytes {
		return nil, nil, false
	}
	// One string for the whole head: names are interned, values, Host and
	// the target are substrings of it; the value slices share one array.
	line, hs, ok := cutCRLF(string(h))
	if !ok || len(line) < len("GET / HTTP/1.1") || line[:4] != "GET " || line[len(line)-9:] != " HTTP/1.1" {
		return nil, nil, false
	}
	uri := line[4 : len(line)-9]
	if len(uri) == 0 || uri[0] != '/' || !fastTarget(uri) {
		return nil, nil, false
	}
	hdr := getHeader()
	vals := make([]string, 0, strings.Count(hs, "\n"))
	var host string
	hosts, count := 0, 0
	closeConn := false
	for {
		var line string
		var ok bool
		line, hs, ok = cutCRLF(hs)
		if !ok {
			return nil, nil, false
		}
		if len(line) == 0 {
			break
		}
		count++
		if count > lim.MaxHeaders {
			return nil, nil, false
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !fastName(line[:colon]) {
			return nil, nil, false
		}
		v := line[colon+1:]
		if !fastValue(v) {
			return nil, nil, false
		}
		v = strings.Trim(v, " \t")
		key := canonicalKey(line[:colon])
		switch key {
		case "Host":
			// net/http moves Host out of the header, into Request.Host.
			hosts++
			host = v
			continue
		case "Content-Length", "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings", "Te", "Trailer":
			return nil, nil, false
		case "Connection":
			switch {
			case asciiEqualFold(v, "keep-alive"):
			case asciiEqualFold(v, "close"):
				closeConn = true
			default:
				return nil, nil, false
			}
		}
		if cur, ok := hdr[key]; ok {
			hdr[key] = append(cur, v)
			continue
		}
		vals = append(vals, v)
		n := len(vals)
		hdr[key] = vals[n-1 : n : n]
	}
	if hosts != 1 || !httpguts.ValidHostHeader(host) {
		return nil, nil, false
	}
	// RFC 9111 §5.4, as net/http's readRequest (fixPragmaCacheControl).
	if p := hdr["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := hdr["Cache-Control"]; !ok {
			hdr["Cache-Control"] = noCache
		}
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, nil, false
	}
	tmp := http.Request{
		Method: http.MethodGet, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Body: http.NoBody, Host: host, RequestURI: uri, RemoteAddr: fc.remote, Close: closeConn,
	}
	ctx, cancel := context.WithCancel(fc.ctx)
	// The request comes from fastRequestPool; WithContext's copy stays
	// on the stack.
	r := fastRequestPool.Get().(*http.Request)
	*r = *tmp.WithContext(ctx)
	return r, cancel, true
}

// fastRequestPool recycles the fast front's requests (serveLoop says
// when).
var fastRequestPool = sync.Pool{New: func() any { return new(http.Request) }}

var noCache = []string{"no-cache"}

// cutCRLF cuts the first line, which must end in CRLF and hold no other
// CR, off s.
func cutCRLF(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", false
	}
	line = s[:i-1]
	if strings.IndexByte(line, '\r') >= 0 {
		return "", "", false
	}
	return line, s[i+1:], true
}

// fastTarget: visible characters, no fragment, valid percent-encoding.
func fastTarget(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c <= ' ' || c >= 0x7f || c == '#':
			return false
		case c == '%':
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func fastName(n string) bool {
	for i := 0; i < len(n); i++ {
		if !httpguts.IsTokenRune(rune(n[i])) {
			return false
		}
	}
	return true
}

// fastValue: field-vchar, SP and HTAB (RFC 9110 §5.5); no obs-text, no
// controls.
func fastValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

func asciiEqualFold(b, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// commonKeys interns the canonical names of frequent request fields, so
// that they cost no allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Connection",
		"Cookie", "Referer", "Cache-Control", "Pragma", "If-Modified-Since", "If-None-Match", "Authorization",
		"Origin", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Ch-Ua",
		"Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Upgrade-Insecure-Requests", "Dnt", "X-Requested-With",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "Forwarded", "Via",
		"Content-Length", "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings", "Te", "Trailer", "Range", "If-Range"} {
		m[k] = k
		m[toLowerASCII(k)] = k
	}
	return m
}()

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func canonicalKey(name string) string {
	if k, ok := commonKeys[string(name)]; ok {
		return k
	}
	return http.CanonicalHeaderKey(name)
}

// serve runs the handler chain for r and reports whether the connection
// may carry another request.
func (fc *fastConn) serve(r *http.Request) (keep bool, err error) {
	// One response value per connection, its header map and buffers
	// reused: requests on a connection run one at a time.
	if fc.bw == nil {
		fc.bw = fastWriterPool.Get().(*bufio.Writer)
		fc.bw.Reset(fc.c)
	}
	w := &fc.resp
	h, pre, tr := w.header, w.pre[:0], w.trailers[:0]
	if h == nil {
		h = make(http.Header, 8)
	} else {
		clear(h)
	}
	*w = fastResponse{fc: fc, req: r, header: h, pre: pre, trailers: tr}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				fc.inst.l.p.log.Error("l7: handler panic", "uri", r.RequestURI, "panic", fmt.Sprint(v))
			}
			keep, err = false, errAborted
		}
	}()
	fc.inst.handler.ServeHTTP(w, r)
	if w.hijacked {
		return false, errHijacked
	}
	if err := w.finish(); err != nil {
		return false, err
	}
	return !w.closeAfter, nil
}

var errAborted = errors.New("l7: handler aborted the response")

// fastResponse is the http.ResponseWriter of the fast front. It frames
// the response as net/http's does (server.go chunkWriter.writeHeader): a
// body that ends within the first write buffer gets a Content-Length,
// a longer one without it is chunked; a missing Content-Type is sniffed;
// Date is added; "Connection: close" closes after the response.
type fastResponse struct {
	fc     *fastConn
	req    *http.Request
	header http.Header

	status     int
	wroteHead  bool // status line and header sent to bw
	chunked    bool
	declared   int64 // Content-Length the handler set; -1 none
	written    int64
	pre        []byte // body held back to learn its length
	closeAfter bool
	hijacked   bool
	trailers   []string
	keepReq    bool // the handler still refers to req (keepRequest)
}

const fastPreBuffer = 2048 // net/http's bufferBeforeChunkingSize

func (w *fastResponse) Header() http.Header { return w.header }

// keepRequest is the handler saying that something may still refer to
// the request after it returns (ReverseProxy's goroutines): it is then
// not reused.
func (w *fastResponse) keepRequest() { w.keepReq = true }

// requestKeeper is a ResponseWriter whose server reuses requests.
type requestKeeper interface{ keepRequest() }

func (w *fastResponse) WriteHeader(code int) {
	if w.status != 0 || w.hijacked {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 {
		return // informational responses are not passed on
	}
	w.status = code
	w.declared = -1
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func bodyAllowed(code int) bool {
	return code != http.StatusNoContent && code != http.StatusNotModified && code >= 200
}

func (w *fastResponse) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.wroteHead {
		if w.declared < 0 && len(w.pre)+len(p) <= fastPreBuffer {
			w.pre = append(w.pre, p...)
			return len(p), nil
		}
		if err := w.writeHead(false, p); err != nil {
			return 0, err
		}
	}
	return len(p), w.body(p)
}

func (w *fastResponse) body(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	bw := w.fc.bw
	if w.chunked {
		_, _ = bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
		_, _ = bw.Write(p)
		_, err := bw.WriteString("\r\n")
		return err
	}
	_, err := bw.Write(p)
	return err
}

// writeHead sends the status line and header; final says the handler
// is done, so a held-back body has its length; next is the body write
// that comes first when nothing was held back (sniffed for Content-Type).
func (w *fastResponse) writeHead(final bool, next []byte) error {
	w.wroteHead = true
	h := w.header
	code := w.status
	if _, ok := h["Content-Type"]; !ok && bodyAllowed(code) && h.Get("Transfer-Encoding") == "" {
		sniff := w.pre
		if len(sniff) == 0 {
			sniff = next
		}
		if len(sniff) > 0 {
			h.Set("Content-Type", http.DetectContentType(sniff))
		}
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = httpDateValue()
	}
	if tr := h["Trailer"]; len(tr) > 0 {
		for _, v := range tr {
			for _, k := range splitComma(v) {
				w.trailers = append(w.trailers, http.CanonicalHeaderKey(k))
			}
		}
	}
	h.Del("Transfer-Encoding")
	switch {
	case !bodyAllowed(code):
		h.Del("Content-Length")
	case w.declared >= 0 && len(w.trailers) == 0:
	case final && len(w.trailers) == 0:
		h["Content-Length"] = []string{strconv.Itoa(len(w.pre))}
	default:
		h.Del("Content-Length")
		w.chunked = true
		h["Transfer-Encoding"] = []string{"chunked"}
	}
	if w.req.Close || connectionClose(h) {
		w.closeAfter = true
		h["Connection"] = []string{"close"}
	}
	bw := w.fc.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(strconv.Itoa(code))
	_ = bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	_, _ = bw.WriteString(text)
	_, _ = bw.WriteString("\r\n")
	writeFields(bw, h, func(k string) bool {
		return strings.HasPrefix(k, http.TrailerPrefix) || slices.Contains(w.trailers, k)
	})
	_, err := bw.WriteString("\r\n")
	if err != nil {
		return err
	}
	pre := w.pre
	w.pre = w.pre[:0] // bw holds the bytes now; the array is reused
	return w.body(pre)
}

// writeFields writes h sorted, as net/http's Header.writeSubset does,
// leaving out invalid names and those skip names. The response uses it
// (skipping trailers, sent after the body) and so does the upstream
// request (writeHead).
func writeFields(bw *bufio.Writer, h http.Header, skip func(string) bool) {
	var buf [32]string
	keys := buf[:0]
	for k := range h {
		if !skip(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range h[k] {
			writeField(bw, k, v)
		}
	}
}

// connectionClose: a "close" token in Connection (RFC 9112 §9.6).
func connectionClose(h http.Header) bool {
	return httpguts.HeaderValuesContainsToken(h["Connection"], "close")
}

func splitComma(v string) []string {
	var out []string
	for _, f := range bytes.Split([]byte(v), []byte(",")) {
		if f = bytes.Trim(f, " \t"); len(f) > 0 {
			out = append(out, string(f))
		}
	}
	return out
}

func (w *fastResponse) Flush() {
	_ = w.FlushError()
}

// FlushError sends what is written; http.ResponseController uses it.
func (w *fastResponse) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteHead {
		if err := w.writeHead(false, nil); err != nil {
			return err
		}
	}
	return w.fc.bw.Flush()
}

// Hijack gives the connection to the handler (nginx's 444 closes it).
func (w *fastResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.wroteHead {
		return nil, nil, errors.New("l7: hijack after the response began")
	}
	w.hijacked = true
	fc := w.fc
	_ = fc.watch.disarm()
	_ = fc.c.SetReadDeadline(time.Time{})
	rd := bufio.NewReader(&replayConn{Conn: fc.c, pending: slices.Clone(fc.buf[fc.start:fc.end])})
	return fc.c, bufio.NewReadWriter(rd, fc.bw), nil
}

// finish completes the response when the handler returns.
func (w *fastResponse) finish() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.wroteHead {
		if err := w.writeHead(true, nil); err != nil {
			return err
		}
	}
	bw := w.fc.bw
	if w.chunked {
		_, _ = bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				writeField(bw, k, v)
			}
		}
		for k, vv := range w.header {
			if name, ok := cutPrefix(k, http.TrailerPrefix); ok {
				for _, v := range vv {
					writeField(bw, name, v)
				}
			}
		}
		_, _ = bw.WriteString("\r\n")
	}
	if w.declared >= 0 && w.written < w.declared && bodyAllowed(w.status) {
		// Short of its Content-Length: the client must not wait for the rest.
		_ = bw.Flush()
		return errAborted
	}
	return bw.Flush()
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

// httpDateValue is the Date field, formatted once a second and shared
// (read only) by the responses of that second.
func httpDateValue() []string {
	now := time.Now().Unix()
	if d := dateCache.Load(); d != nil && d.sec == now {
		return d.val
	}
	d := &cachedDate{sec: now, val: []string{time.Unix(now, 0).UTC().Format(http.TimeFormat)}}
	dateCache.Store(d)
	return d.val
}

type cachedDate struct {
	sec int64
	val []string
}

var dateCache atomic.Pointer[cachedDate]
