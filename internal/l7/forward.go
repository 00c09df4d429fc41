package l7

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/l7/balance"
)

// ftMask holds proxy_next_upstream conditions, after the
// NGX_HTTP_UPSTREAM_FT_* flags of ngx_http_upstream.h.
type ftMask uint16

const (
	ftError ftMask = 1 << iota
	ftTimeout
	ftInvalidHeader
	ftHTTP500
	ftHTTP502
	ftHTTP503
	ftHTTP504
	ftHTTP403
	ftHTTP404
	ftHTTP429
	ftNonIdempotent
	ftOff
)

var ftNames = map[string]ftMask{
	"error": ftError, "timeout": ftTimeout, "invalid_header": ftInvalidHeader,
	"http_500": ftHTTP500, "http_502": ftHTTP502, "http_503": ftHTTP503, "http_504": ftHTTP504,
	"http_403": ftHTTP403, "http_404": ftHTTP404, "http_429": ftHTTP429,
	"non_idempotent": ftNonIdempotent, "off": ftOff,
}

// parseNextUpstream reads proxy_next_upstream values; "off" cannot be
// combined with others (ngx_conf_set_bitmask_slot plus the check in
// ngx_http_proxy_merge_loc_conf).
func parseNextUpstream(vals []string) (ftMask, error) {
	var m ftMask
	for _, v := range vals {
		f, ok := ftNames[strings.ToLower(v)]
		if !ok {
			return 0, fmt.Errorf("next_upstream: invalid value %q", v)
		}
		m |= f
	}
	if m&ftOff != 0 && m != ftOff {
		return 0, errors.New(`next_upstream: "off" cannot be combined with other values`)
	}
	return m, nil
}

// statusFT maps a response status to its condition
// (ngx_http_upstream_next_errors).
func statusFT(code int) ftMask {
	switch code {
	case 500:
		return ftHTTP500
	case 502:
		return ftHTTP502
	case 503:
		return ftHTTP503
	case 504:
		return ftHTTP504
	case 403:
		return ftHTTP403
	case 404:
		return ftHTTP404
	case 429:
		return ftHTTP429
	}
	return 0
}

// nonIdempotent is nginx's set: POST, LOCK and PATCH are not passed to the
// next server once sent (ngx_http_upstream_next, 1.9.13).
func nonIdempotent(method string) bool {
	return method == http.MethodPost || method == http.MethodPatch || method == "LOCK"
}

// upstreamError is what RoundTrip returns when no server gave a response:
// the status nginx answers with (502, or 504 after a timeout).
type upstreamError struct {
	status int
	err    error
}

func (e *upstreamError) Error() string { return e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

var (
	errUpstreamTimeout = errors.New("upstream timed out")
	errAttemptOver     = errors.New("upstream attempt abandoned")
)

// classify turns a transport error into a proxy_next_upstream condition,
// the status nginx would send, and whether the request may have reached
// the server.
func classify(err error) (ft ftMask, status int, sent bool) {
	var de *dialError
	if errors.As(err, &de) {
		var ne net.Error
		if errors.As(de.err, &ne) && ne.Timeout() {
			return ftTimeout, http.StatusGatewayTimeout, false
		}
		return ftError, http.StatusBadGateway, false
	}
	if errors.Is(err, errUpstreamTimeout) {
		return ftTimeout, http.StatusGatewayTimeout, true
	}
	msg := err.Error()
	if strings.Contains(msg, "malformed HTTP") || strings.Contains(msg, "server response headers exceeded") ||
		strings.Contains(msg, "invalid ") && strings.Contains(msg, "header") {
		return ftInvalidHeader, http.StatusBadGateway, true
	}
	return ftError, http.StatusBadGateway, true
}

// attempt is one try of a request against one peer. The first attempt
// of a request lives inside it, so a request that needs no retry
// allocates no attempt.
type attempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	read   time.Duration // proxy_read_timeout
	url    url.URL
	body   timeoutBody
}

func (a *attempt) end() {
	if a.timer == nil {
		return // a light attempt
	}
	a.timer.Stop()
	a.cancel(errAttemptOver)
}

// roundTripper is the ReverseProxy's Transport: it runs the attempts of
// one request (proxy_next_upstream), all before the first byte of the
// response is written to the client, so a retry can never corrupt a
// response already under way.
type roundTripper struct{}

func (roundTripper) RoundTrip(out *http.Request) (*http.Response, error) {
	rq, _ := out.Context().Value(requestKey{}).(*request)
	if rq == nil {
		return nil, errors.New("l7: request state missing")
	}
	return rq.roundTrip(out)
}

func (rq *request) roundTrip(out *http.Request) (*http.Response, error) {
	up := rq.tgt.up
	tr := up.transport(rq.tgt.scheme)
	lc := rq.lc
	var body *replayBody
	if out.Body != nil && out.Body != http.NoBody {
		body = &replayBody{src: out.Body}
	}
	first := rq.p.now()
	for n := 1; ; n++ {
		rq.peerIdx = rq.sel.Index()
		pe := up.peers[rq.peerIdx]
		pe.stats.requests.Add(1)
		pe.stats.active.Add(1)
		var resp *http.Response
		var err error
		var a *attempt
		if h1 := up.h1; h1 != nil && rq.tgt.scheme == "http" && h1.handles(out) {
			// h1Transport keeps the timeouts as deadlines on the
			// connection: the attempt needs no context or timer.
			a = rq.lightAttempt()
			resp, err = h1.do(out, pe.host, rq.lc.readTimeout, rq.exchange(out))
		} else {
			a = rq.newAttempt(out.Context())
			ar := out.WithContext(a.ctx)
			a.url = *out.URL
			a.url.Host = pe.host
			ar.URL = &a.url
			if body != nil {
				ar.Body = body.attempt(rq, a)
			}
			resp, err = tr.RoundTrip(ar)
		}
		pe.stats.active.Add(-1)

		var ft ftMask
		status := 0
		sent := true
		if err == nil {
			rq.upStatus = resp.StatusCode
			pe.stats.response(resp.StatusCode)
			up.recordResult(pe, resp.StatusCode >= 500)
			ft = statusFT(resp.StatusCode)
			if ft == 0 || lc.nextMask&ft == 0 {
				// A response to pass on. 5xx not listed in next_upstream
				// are not failures (nginx frees the peer with state 0).
				rq.ok = true
				return rq.deliver(resp, a), nil
			}
		} else {
			if rq.r.Context().Err() != nil {
				// The client went away: nginx's 499, no failure counted.
				a.end()
				rq.ok = true
				return nil, &upstreamError{status: 499, err: err}
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				a.end()
				rq.ok = true
				return nil, &upstreamError{status: http.StatusRequestEntityTooLarge, err: err}
			}
			ft, status, sent = classify(err)
			up.recordResult(pe, true)
			rq.p.log.Debug("l7: upstream attempt failed", "upstream", up.name, "peer", pe.host, "err", err)
		}
		// ngx_http_upstream_test_next / ngx_http_upstream_next: error,
		// timeout and invalid_header always count as failures; a listed
		// status does; http_403 and http_404 are "next" only.
		fail := ft != ftHTTP403 && ft != ftHTTP404
		if rq.mayRetry(ft, sent, n, first, body) {
			rerr := rq.sel.Retry(fail)
			if fail {
				pe.fails.Add(1)
			}
			if rerr == nil {
				if resp != nil {
					drainClose(resp.Body)
				}
				a.end()
				if !rq.retrying {
					rq.retrying = true
					up.retrying.Add(1)
				}
				continue
			}
			// No server left; Retry already released the selection.
			// (nginx would not count a listed status on the last try,
			// since ngx_http_upstream_test_next needs tries > 1; the
			// balancer does not expose the tries left.)
			rq.sel = nil
		} else if err != nil && fail {
			// Counted by Done(false) when the request ends.
			pe.fails.Add(1)
		}
		if err == nil {
			// A listed status on the last try goes to the client.
			rq.ok = true
			return rq.deliver(resp, a), nil
		}
		a.end()
		rq.ok = false
		return nil, &upstreamError{status: status, err: err}
	}
}

// mayRetry is the test of ngx_http_upstream_next /
// ngx_http_upstream_test_next, plus Fulcrum's retry budget.
func (rq *request) mayRetry(ft ftMask, sent bool, tries int, first time.Time, body *replayBody) bool {
	lc := rq.lc
	if lc.nextMask&ftOff != 0 {
		return false
	}
	mask := ft
	if sent && nonIdempotent(rq.r.Method) {
		mask |= ftNonIdempotent
	}
	if lc.nextMask&mask != mask {
		return false
	}
	if lc.nextTries > 0 && tries >= lc.nextTries {
		return false
	}
	if lc.nextTimeout > 0 && rq.p.now().Sub(first) >= lc.nextTimeout {
		return false
	}
	if body != nil && !body.replayable() {
		return false
	}
	if rq.r.Context().Err() != nil {
		return false
	}
	// Retry budget (Envoy): retries in flight stay below a fraction of the
	// requests in flight, so retries cannot multiply an outage.
	up := rq.tgt.up
	if !rq.retrying {
		limit := max(int64(minRetryConcurrency), int64(up.budget*float64(up.inflight.Load())))
		if up.retrying.Load() >= limit {
			return false
		}
	}
	return true
}

// newAttempt starts one attempt with its deadline. proxy_read_timeout
// runs from the start (a kept-alive connection is written at once); a new
// connection extends it by the connect time, bounded by
// proxy_connect_timeout in the dialer (upstream.dial); every request body
// read extends it by proxy_send_timeout; after the response head it runs
// between two reads of the body.
func (rq *request) newAttempt(parent context.Context) *attempt {
	a := &rq.att0
	if rq.att != nil || a.timer != nil {
		a = new(attempt)
	}
	rq.shared = true
	ctx, cancel := context.WithCancelCause(parent)
	*a = attempt{ctx: ctx, cancel: cancel, read: rq.lc.readTimeout}
	a.timer = time.AfterFunc(a.read, func() { cancel(errUpstreamTimeout) })
	rq.cur.Store(a)
	return a
}

// exchange is where h1Transport builds the response to out: the direct
// path's own storage, reused by each attempt (a response not delivered
// is drained and closed before the next attempt); none for ReverseProxy's
// requests, as ReverseProxy keeps the response.
func (rq *request) exchange(out *http.Request) *h1Exchange {
	if d := rq.dout; d != nil && out == &d.req {
		return &d.x
	}
	return nil
}

// lightAttempt is an attempt through h1Transport, whose deadlines do
// what the context and timer of newAttempt do.
func (rq *request) lightAttempt() *attempt {
	a := &rq.att0
	if rq.att != nil || a.timer != nil {
		a = new(attempt)
	}
	*a = attempt{read: rq.lc.readTimeout}
	rq.cur.Store(a)
	return a
}

// deliver hands the response to ReverseProxy with the read timeout
// applied to its body; the attempt ends with the body.
func (rq *request) deliver(resp *http.Response, a *attempt) *http.Response {
	rq.att = a
	if a.timer == nil {
		return resp // h1Transport applies the read timeout to the body
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// A tunnel (WebSocket) lives as long as both sides want it.
		a.timer.Stop()
		return resp
	}
	if resp.Body != nil && resp.Body != http.NoBody {
		a.timer.Reset(rq.lc.readTimeout)
		a.body = timeoutBody{rc: resp.Body, a: a, d: rq.lc.readTimeout}
		resp.Body = &a.body
	} else {
		a.timer.Stop()
	}
	return resp
}

// timeoutBody is the upstream response body with proxy_read_timeout
// between two reads.
type timeoutBody struct {
	rc io.ReadCloser
	a  *attempt
	d  time.Duration
}

func (b *timeoutBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.a.timer.Stop()
		if cause := context.Cause(b.a.ctx); errors.Is(cause, errUpstreamTimeout) {
			err = errUpstreamTimeout
		}
		return n, err
	}
	b.a.timer.Reset(b.d)
	return n, nil
}

func (b *timeoutBody) Close() error {
	b.a.timer.Stop()
	return b.rc.Close()
}

// drainClose discards a little of an abandoned response so its connection
// can be reused, as net/http's own retry does.
func drainClose(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, 4<<10)
	_ = rc.Close()
}

// maxReplay is how much of a request body is kept so that the request
// can be retried on another server (nginx keeps the whole body in
// client_body_buffer_size or a temporary file; Fulcrum streams and keeps
// only this much).
const maxReplay = 128 << 10

// replayBody shares one client request body between attempts: what was
// read is kept (up to maxReplay) and served again to the next attempt.
type replayBody struct {
	src      io.ReadCloser
	readMu   sync.Mutex // serialises reads of src
	mu       sync.Mutex
	buf      []byte
	total    int64
	overflow bool
	err      error // terminal error of src, io.EOF included
	cur      *attemptBody
}

type attemptBody struct {
	rb   *replayBody
	rq   *request
	a    *attempt
	off  int
	dead bool
}

// attempt returns the body for a new attempt; the previous one stops
// reading.
func (rb *replayBody) attempt(rq *request, a *attempt) io.ReadCloser {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.cur != nil {
		rb.cur.dead = true
	}
	rb.cur = &attemptBody{rb: rb, rq: rq, a: a}
	return rb.cur
}

func (rb *replayBody) replayable() bool {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return !rb.overflow
}

func (ab *attemptBody) Read(p []byte) (int, error) {
	rb := ab.rb
	if n, err, done := ab.fromBuffer(p); done {
		return n, err
	}
	rb.readMu.Lock()
	defer rb.readMu.Unlock()
	// Another attempt may have read while this one waited.
	if n, err, done := ab.fromBuffer(p); done {
		return n, err
	}
	n, err := rb.src.Read(p)
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if n > 0 {
		rb.total += int64(n)
		if !rb.overflow {
			if rb.total <= maxReplay {
				rb.buf = append(rb.buf, p[:n]...)
			} else {
				rb.overflow, rb.buf = true, nil
			}
		}
		ab.off += n
		ab.rq.bytesIn += int64(n)
		// proxy_send_timeout runs between two reads of the body, and
		// proxy_read_timeout after the last one.
		if !ab.dead {
			ab.a.timer.Reset(ab.rq.lc.sendTimeout + ab.a.read)
		}
	}
	if err != nil {
		rb.err = err
	}
	if ab.dead {
		return 0, errAttemptOver
	}
	return n, err
}

// fromBuffer serves bytes another attempt already read; done is false
// when the caller must read from the client.
func (ab *attemptBody) fromBuffer(p []byte) (int, error, bool) {
	rb := ab.rb
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if ab.dead {
		return 0, errAttemptOver, true
	}
	if !rb.overflow && ab.off < len(rb.buf) {
		n := copy(p, rb.buf[ab.off:])
		ab.off += n
		return n, nil, true
	}
	if rb.err != nil && (rb.overflow || ab.off >= len(rb.buf)) {
		return 0, rb.err, true
	}
	return 0, nil, false
}

// Close is called by the transport; the client body itself is closed by
// the server when the handler returns.
func (ab *attemptBody) Close() error { return nil }

// pick selects the first peer, honouring persistence.
func (rq *request) pick() error {
	up := rq.tgt.up
	r := rq.r
	rq.breq = balance.Request{ClientIP: rq.client.Addr().Unmap(), URI: r.RequestURI, Header: headerGetter{r}}
	switch {
	case up.hashKey != nil:
		rq.breq.Key = up.hashKey.expand(rq)
	case up.hapKey != nil:
		rq.breq.Key = up.hapKey(rq)
	}
	var err error
	switch {
	case up.sticky != nil:
		val := ""
		if c, cerr := r.Cookie(up.stickyCfg.Cookie); cerr == nil {
			val = c.Value
		}
		var bound bool
		rq.sel, bound, err = up.sticky.Pick(up.bal, &rq.breq, val)
		rq.setCookie = err == nil && !bound
	case up.sourceSticky != nil:
		ip := rq.breq.ClientIP
		now := rq.p.now()
		val := up.sourceSticky.lookup(ip, now)
		rq.sel, _, err = up.sourceSticky.sticky.Pick(up.bal, &rq.breq, val)
		// The entry is written when the request ends, for the server
		// that answered (finish).
	default:
		rq.sel, err = up.bal.Pick(&rq.breq)
	}
	if err != nil {
		rq.sel = nil
	}
	return err
}

// headerGetter gives balance.HAProxyHdr the request headers, Host
// included.
type headerGetter struct{ r *http.Request }

func (h headerGetter) Get(name string) string {
	if strings.EqualFold(name, "host") {
		return h.r.Host
	}
	return h.r.Header.Get(name)
}

// setUpstreamURL sets the request-target the upstream receives exactly as
// route.ProxyPass.UpstreamURI built it. The path goes in Opaque so that
// net/http writes it byte for byte; a target starting with "//" would be
// read as an authority there, so it goes through Path/RawPath.
func setUpstreamURL(u *url.URL, scheme, target string) {
	path, query, hasQuery := strings.Cut(target, "?")
	*u = url.URL{Scheme: scheme, RawQuery: query, ForceQuery: hasQuery && query == ""}
	if !strings.HasPrefix(path, "//") {
		u.Opaque = path
		return
	}
	if p, err := url.PathUnescape(path); err == nil {
		u.Path, u.RawPath = p, path
	} else {
		u.Path = path
	}
}
