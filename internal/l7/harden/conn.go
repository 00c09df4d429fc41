package harden

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// ErrRejected is wrapped by the read error a hardened connection returns
// after it refused a request (test with errors.Is).
var ErrRejected = errors.New("request rejected")

// Linger after a canned response: half-close, then read and discard what
// the client still sends for up to this long, so the response is not lost
// to a TCP reset (nginx ngx_http_set_lingering_close, lingering_time).
const (
	lingerTime  = time.Second
	lingerBytes = 64 << 10
	cannedWrite = time.Second // write deadline for the canned response
)

// minBodyRate is the slowest average a request body may keep up once it
// has had BodyTimeout: each minBodyRate bytes received buy one more second
// (Apache mod_reqtimeout's default "body=20,MinRate=500"). nginx's
// client_body_timeout alone bounds only the gap between two reads, so a
// client trickling a byte just inside it could hold the connection for
// days. Only time spent waiting for the client counts, so a backend that
// reads the body slowly does not use up the client's budget.
const minBodyRate = 500

// Connection modes.
const (
	modeVet    uint32 = iota // vetting requests
	modePass                 // passthrough: h2c preface, or tunnel after 101 / CONNECT 2xx
	modeClosed               // refused and closed
)

// Listener wraps a plaintext listener: every accepted connection is vetted
// by Conn. It must not be put under tls.NewListener (it would vet
// ciphertext): for TLS use TLSListener, which vets the decrypted stream.
func Listener(ln net.Listener, lim config.HTTPLimits) net.Listener {
	return &listener{Listener: ln, lim: lim}
}

type listener struct {
	net.Listener
	lim config.HTTPLimits
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Conn(c, l.lim), nil
}

// Conn wraps c, a connection carrying plaintext HTTP/1.x (a TCP conn, or a
// *tls.Conn after its handshake), so that every request head is vetted on
// the wire before net/http parses it (see the package documentation).
// A connection that starts with the HTTP/2 preface is passed through
// untouched, as is everything after a 101 or a 2xx answer to CONNECT.
//
// If c has a ConnectionState method (a *tls.Conn), so does the result, so
// net/http still fills Request.TLS. Give http.Server the result of Conn
// only for HTTP/1 connections: a *tls.Conn that negotiated "h2" must reach
// http.Server as itself (TLSListener does that).
func Conn(c net.Conn, lim config.HTTPLimits) net.Conn {
	l := WithDefaults(lim)
	hc := &conn{
		Conn:          c,
		headerTimeout: l.HeaderTimeout,
		bodyTimeout:   l.BodyTimeout,
	}
	hc.v.init(limits{
		maxHeaderBytes: l.MaxHeaderBytes,
		maxHeaders:     l.MaxHeaders,
		maxBody:        l.MaxBodyBytes,
	}, true)
	if _, ok := c.(connectionStater); ok {
		return &tlsConn{hc}
	}
	return hc
}

type connectionStater interface {
	ConnectionState() tls.ConnectionState
}

type closeWriter interface {
	CloseWrite() error
}

// conn is the vetting wrapper. Locks: wmu serialises writes (and the
// canned response); mu guards the state machines and deadlines. wmu is
// taken before mu. Network I/O never happens under mu.
type conn struct {
	net.Conn
	headerTimeout time.Duration
	bodyTimeout   time.Duration

	mode atomic.Uint32
	wmu  sync.Mutex

	mu        sync.Mutex
	v         vetter
	t         tracker
	q         reqQueue
	rej       rejection
	rejReq    uint64 // index of the refused request
	rejected  bool   // rej is pending
	headStart time.Time
	bodyWait  time.Duration // time spent waiting for the current body
	ourRD     time.Time     // the vetter's own read deadline (zero: none)
	userRD    time.Time     // deadline set by the user (net/http)
	appliedRD time.Time     // what the underlying conn has
	closeOnce sync.Once
	closeErr  error
}

// tlsConn adds ConnectionState so net/http fills Request.TLS
// (server.go: "Set Request.TLS if the conn is not a *tls.Conn, but
// implements ConnectionState").
type tlsConn struct{ *conn }

func (c *tlsConn) ConnectionState() tls.ConnectionState {
	return c.Conn.(connectionStater).ConnectionState()
}

// ourDeadlineLocked is the deadline the vetter imposes on the next read:
// HeaderTimeout from the first byte of a head; in a body, BodyTimeout
// since the last read and the minimum rate. It applies only to the request
// net/http is working on (all earlier responses complete), never to a
// pipelined one read ahead while a handler runs: a slow handler must not
// count against the client. body reports that the read is charged to the
// body's budget.
func (c *conn) ourDeadlineLocked() (dl time.Time, body bool) {
	cur := c.v.current()
	if c.t.done != cur || c.t.st == tsOpaque {
		return time.Time{}, false
	}
	switch {
	case c.v.inHead() && !c.headStart.IsZero():
		return c.headStart.Add(c.headerTimeout), false
	case c.v.inBody():
		budget := c.bodyTimeout + time.Duration(c.v.bodyBytes)*time.Second/minBodyRate - c.bodyWait
		return time.Now().Add(min(c.bodyTimeout, budget)), true
	}
	return time.Time{}, false
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

func (c *conn) applyRDLocked() {
	eff := earliest(c.userRD, c.ourRD)
	if !eff.Equal(c.appliedRD) {
		c.appliedRD = eff
		_ = c.Conn.SetReadDeadline(eff)
	}
}

// SetReadDeadline records the caller's deadline; the underlying conn gets
// the earlier of it and the vetter's own.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.userRD = t
	eff := earliest(t, c.ourRD)
	c.appliedRD = eff
	return c.Conn.SetReadDeadline(eff)
}

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		switch c.mode.Load() {
		case modePass:
			return c.Conn.Read(p)
		case modeClosed:
			return 0, c.opError("read", net.ErrClosed)
		}
		c.mu.Lock()
		if c.rejected {
			c.mu.Unlock()
			return c.refuse(p)
		}
		var body bool
		c.ourRD, body = c.ourDeadlineLocked()
		c.applyRDLocked()
		ours := c.ourRD
		c.mu.Unlock()

		var start time.Time
		if body {
			start = time.Now()
		}
		n, err := c.Conn.Read(p)

		c.mu.Lock()
		if body {
			c.bodyWait += time.Since(start)
		}
		if c.mode.Load() != modeVet {
			// Became a tunnel while this read was blocked.
			c.mu.Unlock()
			return n, err
		}
		if n > 0 {
			m, vd := c.v.feed(p[:n], &c.q)
			if c.v.headStarted || c.v.bodyStarted {
				if c.v.headStarted && c.v.inHead() {
					c.headStart = time.Now()
				}
				if c.v.bodyStarted {
					c.bodyWait = 0
				}
				c.v.headStarted, c.v.bodyStarted = false, false
			}
			switch vd {
			case vPassthrough:
				c.mode.Store(modePass)
			case vReject:
				c.setRejectLocked(c.v.rej, c.v.current())
				c.mu.Unlock()
				if m > 0 {
					return m, nil
				}
				continue
			}
			c.mu.Unlock()
			return n, err
		}
		if err != nil && !ours.IsZero() && isTimeout(err) && (c.userRD.IsZero() || ours.Before(c.userRD)) && !time.Now().Before(ours) {
			// Our deadline fired, not the caller's: slowloris or slow body
			// (nginx client_header_timeout / client_body_timeout → 408).
			reason := "client sent the request head too slowly"
			if c.v.inBody() {
				reason = "client sent the request body too slowly"
			}
			c.setRejectLocked(rejection{status: http.StatusRequestTimeout, reason: reason}, c.v.current())
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		return n, err
	}
}

func (c *conn) setRejectLocked(r rejection, req uint64) {
	c.rej, c.rejReq, c.rejected = r, req, true
	c.ourRD = time.Time{}
	c.applyRDLocked()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// refuse carries out a pending rejection. The canned response goes out
// only if it is the next thing the client will read: every earlier
// response complete and none begun for the refused request. While an
// earlier response is still being written (a pipelined request was refused
// ahead of time), the read waits, discarding input, until net/http gets
// to the refused request or aborts the read.
func (c *conn) refuse(p []byte) (int, error) {
	for {
		c.mu.Lock()
		earlier := c.t.done < c.rejReq && c.t.st != tsOpaque && c.t.st != tsTunnel
		c.mu.Unlock()
		if !earlier {
			break
		}
		if _, err := c.Conn.Read(p); err != nil {
			return 0, err
		}
	}
	// Write scans its bytes before it sends them, so the tracker already
	// covers a write still in progress: it alone tells whether the refused
	// request's response has begun (then just close). A write in progress
	// is not that sign: it may be the tail of the earlier response, whose
	// last bytes moved done up to rejReq (net/http flushes it in
	// finishRequest while its background read may already be here). Wait
	// for it, then look again under wmu, since a write that got wmu first
	// may have begun the refused request's own response.
	canned := false
	c.mu.Lock()
	next := c.t.done == c.rejReq && c.t.st == tsIdle
	c.mu.Unlock()
	if next {
		// Safe to wait: a writer holds wmu only for one Write, which never
		// waits on a reader (lock order wmu, then mu; mu is not held here).
		c.wmu.Lock()
		defer c.wmu.Unlock()
		c.mu.Lock()
		canned = c.t.done == c.rejReq && c.t.st == tsIdle
		c.mu.Unlock()
	}
	// Under wmu when canned, so no response can follow the canned one.
	c.mode.Store(modeClosed)
	c.mu.Lock()
	rej := c.rej
	c.mu.Unlock()
	if canned {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(cannedWrite))
		_, _ = c.Conn.Write(cannedResponse(rej))
		c.linger(p)
	}
	_ = c.closeUnderlying()
	return 0, c.opError("read", fmt.Errorf("%w: %d %s", ErrRejected, rej.status, rej.reason))
}

// linger half-closes and drains the client's remaining input briefly.
func (c *conn) linger(p []byte) {
	cw, ok := c.Conn.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	for total := 0; total < lingerBytes; {
		n, err := c.Conn.Read(p)
		total += n
		if err != nil {
			return
		}
	}
}

// cannedResponse is the fixed response to a refused request. The body
// names the rule, never the client's bytes.
func cannedResponse(r rejection) []byte {
	body := strconv.Itoa(r.status) + " " + http.StatusText(r.status) + ": " + r.reason + "\n"
	return []byte("HTTP/1.1 " + strconv.Itoa(r.status) + " " + http.StatusText(r.status) +
		"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nConnection: close\r\n\r\n" + body)
}

func (c *conn) Write(b []byte) (int, error) {
	if c.mode.Load() == modePass {
		return c.Conn.Write(b)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	switch c.mode.Load() {
	case modeClosed:
		c.mu.Unlock()
		return 0, c.opError("write", net.ErrClosed)
	case modeVet:
		done := c.t.done
		c.t.scan(b, &c.q)
		if c.t.done != done && c.v.current() == c.t.done {
			// net/http only now gets to a request that was read ahead:
			// start its clocks here, as nginx arms client_header_timeout
			// when it starts on a pipelined request.
			if c.v.inHead() {
				c.headStart = time.Now()
			}
		}
		if c.t.st == tsTunnel && !c.rejected {
			// The client may speak the new protocol as soon as it reads
			// this 101, so stop vetting before the bytes leave; tunnels
			// get only the caller's deadlines.
			c.mode.Store(modePass)
			c.ourRD = time.Time{}
			c.applyRDLocked()
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// CloseWrite half-closes when the underlying conn can; net/http uses it to
// let a final response reach the client before the close
// (server.go closeWriteAndWait).
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return c.opError("close", errors.ErrUnsupported)
}

func (c *conn) Close() error {
	if c.mode.Load() != modePass {
		c.mode.Store(modeClosed)
	}
	return c.closeUnderlying()
}

func (c *conn) closeUnderlying() error {
	c.closeOnce.Do(func() { c.closeErr = c.Conn.Close() })
	return c.closeErr
}

func (c *conn) opError(op string, err error) error {
	// A *net.OpError with Op "read" is what net/http treats as a client
	// gone away: it closes without writing a response of its own
	// (server.go isCommonNetReadError).
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
