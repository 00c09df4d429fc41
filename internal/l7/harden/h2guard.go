package harden

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP/2 premature-reset guard (CVE-2023-44487, "rapid reset").
//
// Go's HTTP/2 server sends GOAWAY on a rapid-reset flood only when the
// reset streams' handlers queue up (h2_bundle.go "too_many_early_resets",
// more than 4× MaxConcurrentStreams waiting), and Options.MaxRequestsPerConn
// counts only handlers that start and then needs a response to carry its
// "Connection: close". A client whose resets arrive before the handlers
// start or before they answer, on a server that keeps up, trips neither:
// the flood goes on for as long as the client likes (reliability.md §2.2,
// T8). Envoy's answer since 1.27.1 (overload.premature_reset_*) is a rule
// on the connection: once it has opened enough streams, close it when
// more than half of them were reset by the client prematurely, i.e. young.
//
// The guard applies that rule to the client's byte stream, below net/http:
// it follows frame headers only (9 bytes: length, type, flags, stream id;
// payloads are skipped by length, never parsed or copied), counts HEADERS
// that open a client stream and RST_STREAMs of opened streams that are
// younger than PrematureResetLifetime. It trips when
//
//	2 × premature > max(opened, PrematureResetMinStreams)
//
// which is Envoy's rule as its documentation gives it ("more than 50%",
// checked early once half of the minimum is reached; Envoy's code closes
// at exactly half too, and counts closed rather than opened streams).
// Envoy also calls a reset premature only before the response headers;
// the guard reads no responses, so a reset right after a fast response
// counts as well. With the defaults (Envoy's: 500 streams, 1 s) a pure
// flood is stopped after 251 streams, about 20 times inside T8's 5,000,
// while a client must have more than 250 streams, and more than half of
// all it opened, cancelled within a second of opening them to be cut off. Browsers cancelling some requests,
// load generators and gRPC-like clients with many streams and few resets
// stay far below half; long-lived streams (gRPC streaming calls, long
// polls) cancelled after the lifetime do not count at all. A ratio rather
// than an absolute count per time window keeps a busy legitimate
// connection from tripping on a burst of cancellations, and one that
// alternates complete requests with resets to stay at half is still
// bounded by MaxRequestsPerConn.
//
// Stream age needs no per-stream state: client stream ids only grow
// (RFC 9113 §5.1.1), so the guard notes the highest id opened before each
// lifetime-long slot of time began and calls a reset premature when its
// stream is newer than the boundary before last (tick). Streams younger
// than the lifetime are always premature, streams older than twice it
// never are.
//
// On a trip the connection ends with GOAWAY(ENHANCE_YOUR_CALM) naming the
// last stream net/http was given: the guard also follows the frame
// boundaries of what net/http writes, and sends its GOAWAY only between
// two of net/http's frames, waiting up to a second for net/http to finish
// a frame it is writing; after that net/http's writes fail, so nothing
// follows the GOAWAY. If net/http already sent a GOAWAY of its own, or
// no frame boundary comes, the connection is closed without one. The
// frame that tripped the guard and everything after it never reach
// net/http; its reads fail, it tears the connection down (cancelling the
// handlers), and the guard then half-closes and drains briefly before
// closing, like the HTTP/1 refusals (nginx lingering close), so the
// GOAWAY is not lost to a TCP reset.

// Premature-reset guard defaults: Envoy's overload.premature_reset_total_stream_count
// and overload.premature_reset_min_stream_lifetime_seconds.
const (
	DefaultPrematureResetMinStreams = 500
	DefaultPrematureResetLifetime   = time.Second
)

// HTTP/2 wire constants (RFC 9113 §4.1, §6, §7).
const (
	frameHeaderLen         = 9
	frameHeaders           = 0x1
	frameRSTStream         = 0x3
	frameGoAway            = 0x7
	errCodeEnhanceYourCalm = 0xb
)

// nextProtoUnencryptedHTTP2 is net/http's TLSNextProto key for HTTP/2
// without TLS (server.go maybeServeUnencryptedHTTP2).
const nextProtoUnencryptedHTTP2 = "unencrypted_http2"

// goAwayWait is how long a tripped guard waits for net/http to finish
// the frame it is writing before it closes without a GOAWAY.
const goAwayWait = time.Second

// goAwayDebug is the GOAWAY's debug data (RFC 9113 §6.8).
const goAwayDebug = "premature stream resets"

var errPrematureResets = errors.New("too many premature HTTP/2 stream resets")

// resetPolicy is the guard's configuration.
type resetPolicy struct {
	minStreams uint64
	lifetime   time.Duration
	now        func() time.Time // nil: the real clock (tests set a fake one)
	goAwayWait time.Duration    // 0: goAwayWait (tests shorten it)
}

// newResetPolicy reads opt; false means the guard is off.
func newResetPolicy(opt Options) (resetPolicy, bool) {
	if opt.PrematureResetMinStreams < 0 {
		return resetPolicy{}, false
	}
	p := resetPolicy{minStreams: uint64(opt.PrematureResetMinStreams), lifetime: opt.PrematureResetLifetime}
	if p.minStreams == 0 {
		p.minStreams = DefaultPrematureResetMinStreams
	}
	if p.lifetime <= 0 {
		p.lifetime = DefaultPrematureResetLifetime
	}
	return p, true
}

// unencryptedConner is how net/http passes a plaintext connection through
// a *tls.Conn to TLSNextProto (server.go unencryptedNetConnInTLSConn,
// h2_bundle.go unencryptedNetConnFromTLSConn).
type unencryptedConner interface {
	UnencryptedNetConn() net.Conn
}

// handoffConn carries a guarded connection through that same door.
type handoffConn struct{ net.Conn }

func (c handoffConn) UnencryptedNetConn() net.Conn { return c.Conn }

// install wraps net/http's HTTP/2 handoffs in srv.TLSNextProto
// (h2_bundle.go http2ConfigureServer: "h2" for TLS, "unencrypted_http2"
// for h2c prior knowledge) so that every HTTP/2 connection reaches the
// HTTP/2 server through a guard. The "h2" entry takes only a *tls.Conn,
// which cannot be wrapped, so TLS connections go through the unencrypted
// entry as well, as a net.Conn that has ConnectionState: the HTTP/2
// server takes the TLS state from it as from a *tls.Conn (serveConn,
// connectionStater), Request.TLS included. That entry expects the client
// preface to be read already (net/http peeks it for h2c), so for TLS the
// guard reads it first, within prefaceTimeout, as the HTTP/2 server would
// (readPreface). Without an unencrypted entry (HTTP/2 off, or an old
// implementation) nothing is wrapped.
func (p resetPolicy) install(srv *http.Server, prefaceTimeout time.Duration) {
	serve := srv.TLSNextProto[nextProtoUnencryptedHTTP2]
	if serve == nil {
		return
	}
	srv.TLSNextProto[nextProtoUnencryptedHTTP2] = func(hs *http.Server, tc *tls.Conn, h http.Handler) {
		uc, ok := tc.NetConn().(unencryptedConner)
		if !ok || isGuarded(uc.UnencryptedNetConn()) {
			serve(hs, tc, h) // net/http reports the former; the latter is guarded once
			return
		}
		g := p.guard(uc.UnencryptedNetConn())
		serve(hs, g.handoff(), h)
		g.finish()
	}
	if _, ok := srv.TLSNextProto["h2"]; ok {
		srv.TLSNextProto["h2"] = func(hs *http.Server, tc *tls.Conn, h http.Handler) {
			if !readPreface(tc, prefaceTimeout) {
				// The HTTP/2 server closes on a bad or missing preface too.
				_ = tc.Close()
				return
			}
			g := p.guard(tc)
			serve(hs, g.handoff(), h)
			g.finish()
		}
	}
}

func readPreface(c net.Conn, timeout time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	var buf [len(h2Preface)]byte
	_, err := io.ReadFull(c, buf[:])
	_ = c.SetReadDeadline(time.Time{})
	return err == nil && string(buf[:]) == h2Preface
}

// GuardH2 wraps c, a connection that carries HTTP/2 from the client
// preface on, in the premature-reset guard configured by opt, for an
// HTTP/2 server that is handed connections directly (x/net/http2's
// Server.ServeConn after an h2c Upgrade, whose stream 1 is not counted).
// The connections net/http hands to its own HTTP/2 server are guarded by
// ConfigureServer. When opt turns the guard off, c is returned as is.
// After a trip, Close leaves the connection to a short lingering close
// of its own.
func GuardH2(c net.Conn, opt Options) net.Conn {
	p, on := newResetPolicy(opt)
	if !on {
		return c
	}
	g := p.guard(c)
	g.rd.skip = uint32(len(h2Preface))
	return g.netConn()
}

// frameCursor follows the frame boundaries of one direction of an HTTP/2
// connection over reads or writes of any size.
type frameCursor struct {
	hdr  [frameHeaderLen]byte // a header split across calls
	hn   uint8                // bytes of hdr held
	skip uint32               // payload bytes before the next header
}

// advance consumes b from i up to the end of the next frame header. It
// returns the header (nil if b ends first), where its frame began in b
// (negative when in an earlier call) and the offset after the header;
// the header is valid until the next call.
func (f *frameCursor) advance(b []byte, i int) (h []byte, start, next int) {
	for i < len(b) {
		if f.skip > 0 {
			n := uint32(min(len(b)-i, 1<<24))
			n = min(n, f.skip)
			f.skip -= n
			i += int(n)
			continue
		}
		start = i - int(f.hn)
		if f.hn == 0 && len(b)-i >= frameHeaderLen {
			h = b[i : i+frameHeaderLen]
			i += frameHeaderLen
		} else {
			k := copy(f.hdr[f.hn:], b[i:])
			f.hn += uint8(k)
			i += k
			if f.hn < frameHeaderLen {
				return nil, 0, i
			}
			f.hn = 0
			h = f.hdr[:]
		}
		f.skip = uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
		return h, start, i
	}
	return nil, 0, i
}

func (f *frameCursor) atBoundary() bool { return f.hn == 0 && f.skip == 0 }

// h2Guard is the guarded connection. Reads come from net/http's single
// frame-reading goroutine; the read side is that goroutine's alone.
// Writes and the GOAWAY are serialised by wmu.
type h2Guard struct {
	net.Conn
	pol resetPolicy

	// Read side.
	rd        frameCursor
	maxID     uint32    // highest client stream opened (and given to net/http)
	opened    uint32    // client streams opened
	premature uint32    // RST_STREAMs of opened streams younger than the lifetime
	base      time.Time // when the guard began: the slots count from here
	slot      int64     // lifetime-long slot of the last HEADERS or RST_STREAM
	prevID    uint32    // highest stream opened before slot-1 began
	curID     uint32    // highest stream opened before slot began

	tripped    atomic.Bool
	lingerDone chan struct{} // set before tripped; closed after the final close
	lingerOnce sync.Once

	wmu          sync.Mutex
	wr           frameCursor
	wframes      bool          // net/http has begun writing frames (its SETTINGS comes first)
	serverGoAway bool          // net/http began a GOAWAY of its own
	wbroken      bool          // a write failed: the stream may be cut mid-frame
	wclosed      bool          // tripped: no more writes
	lastID       uint32        // the GOAWAY's last stream id
	goAwayDone   chan struct{} // a trip waiting for a frame boundary
}

// h2GuardTLS keeps ConnectionState, so that the HTTP/2 server sets
// Request.TLS and applies its TLS checks (RFC 9113 §9.2).
type h2GuardTLS struct{ *h2Guard }

func (g h2GuardTLS) ConnectionState() tls.ConnectionState {
	return g.Conn.(connectionStater).ConnectionState()
}

func (p resetPolicy) guard(c net.Conn) *h2Guard {
	return &h2Guard{Conn: c, pol: p, base: p.clock()}
}

func (p resetPolicy) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func isGuarded(c net.Conn) bool {
	switch c.(type) {
	case *h2Guard, h2GuardTLS:
		return true
	}
	return false
}

func (g *h2Guard) netConn() net.Conn {
	if _, ok := g.Conn.(connectionStater); ok {
		return h2GuardTLS{g}
	}
	return g
}

// handoff is g packed for net/http's unencrypted HTTP/2 entry.
func (g *h2Guard) handoff() *tls.Conn {
	return tls.Client(handoffConn{g.netConn()}, nil)
}

func (g *h2Guard) Read(p []byte) (int, error) {
	if g.tripped.Load() {
		return 0, g.opError("read", errPrematureResets)
	}
	n, err := g.Conn.Read(p)
	if n > 0 {
		if k := g.scan(p[:n]); k >= 0 {
			g.trip()
			if k > 0 {
				return k, nil
			}
			return 0, g.opError("read", errPrematureResets)
		}
	}
	return n, err
}

// scan follows the client's frames in b. When one trips the guard it
// returns how many bytes of b precede that frame (0 if it began in an
// earlier read), else -1.
func (g *h2Guard) scan(b []byte) int {
	for i := 0; ; {
		h, start, next := g.rd.advance(b, i)
		if h == nil {
			return -1
		}
		i = next
		switch h[3] {
		case frameHeaders:
			// A new client stream (odd id above all before it, RFC 9113
			// §5.1.1); HEADERS on an open stream are trailers.
			if id := streamID(h); id&1 == 1 && id > g.maxID {
				g.tick()
				g.maxID = id
				g.opened++
			}
		case frameRSTStream:
			// Resets of idle streams are net/http's to refuse
			// (PROTOCOL_ERROR, §6.4); only opened streams count.
			if id := streamID(h); id&1 == 1 && id <= g.maxID {
				g.tick()
				if id > g.prevID {
					g.premature++
					if 2*uint64(g.premature) > max(uint64(g.opened), g.pol.minStreams) {
						return max(start, 0)
					}
				}
			}
		}
	}
}

func streamID(h []byte) uint32 { return binary.BigEndian.Uint32(h[5:9]) & (1<<31 - 1) }

// tick keeps the slot boundaries: time since the guard began, cut into
// slots a lifetime long, and the highest stream opened before the current
// slot and before the one before it. A reset in slot k is premature when
// its stream was opened after slot k-1 began: less than two lifetimes
// ago, and certainly when less than one. Since tick runs on every HEADERS
// that opens a stream, before it counts, the first tick in a slot sees
// exactly the streams opened before the slot. It costs a monotonic clock
// read per opened stream and per reset, nothing for other frames.
func (g *h2Guard) tick() {
	k := int64(g.elapsed() / g.pol.lifetime)
	switch {
	case k == g.slot:
		return
	case k == g.slot+1:
		g.prevID, g.curID = g.curID, g.maxID
	default: // no stream opened in slot k-1
		g.prevID, g.curID = g.maxID, g.maxID
	}
	g.slot = k
}

func (g *h2Guard) elapsed() time.Duration {
	if g.pol.now != nil {
		return g.pol.now().Sub(g.base)
	}
	return time.Since(g.base) // monotonic: cheaper than time.Now
}

// trip ends the connection: GOAWAY at the next frame boundary of
// net/http's output if one comes within goAwayWait, then no more writes.
func (g *h2Guard) trip() {
	wait := g.pol.goAwayWait
	if wait <= 0 {
		wait = goAwayWait
	}
	g.lingerDone = make(chan struct{})
	// A write blocked on a client that does not read holds wmu: the
	// deadline ends it (the output is then broken: no GOAWAY).
	_ = g.Conn.SetWriteDeadline(time.Now().Add(wait))
	g.wmu.Lock()
	g.tripped.Store(true)
	g.lastID = g.maxID
	if g.settleLocked() {
		g.wmu.Unlock()
		return
	}
	done := make(chan struct{})
	g.goAwayDone = done
	g.wmu.Unlock()
	t := time.NewTimer(wait)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	g.wmu.Lock()
	g.goAwayDone = nil
	g.wclosed = true
	g.wmu.Unlock()
}

// settleLocked sends the GOAWAY if net/http's output is at a frame
// boundary (after its SETTINGS, RFC 9113 §3.4), or gives it up if the
// output broke or net/http sent a GOAWAY itself (a second one could not
// be ordered with it, §6.8); it reports whether writing is over.
func (g *h2Guard) settleLocked() bool {
	switch {
	case g.wbroken || g.wclosed:
	case !g.wframes || !g.wr.atBoundary():
		return false
	case !g.serverGoAway:
		var f [frameHeaderLen + 8 + len(goAwayDebug)]byte
		binary.BigEndian.PutUint32(f[0:4], uint32(8+len(goAwayDebug))<<8|frameGoAway) // length, type; flags and stream 0
		binary.BigEndian.PutUint32(f[9:13], g.lastID)
		binary.BigEndian.PutUint32(f[13:17], errCodeEnhanceYourCalm)
		copy(f[17:], goAwayDebug)
		_ = g.Conn.SetWriteDeadline(time.Now().Add(cannedWrite))
		_, _ = g.Conn.Write(f[:])
	}
	g.wclosed = true
	return true
}

func (g *h2Guard) Write(b []byte) (int, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	if g.wclosed {
		return 0, g.opError("write", net.ErrClosed)
	}
	n, err := g.Conn.Write(b)
	for i := 0; ; {
		h, _, next := g.wr.advance(b[:n], i)
		if h == nil {
			break
		}
		i = next
		g.wframes = true
		if h[3] == frameGoAway {
			g.serverGoAway = true
		}
	}
	if err != nil {
		g.wbroken = true
	}
	if g.goAwayDone != nil && g.settleLocked() {
		close(g.goAwayDone)
		g.goAwayDone = nil
	}
	return n, err
}

// Close after a trip leaves the close to a lingering close: half-close,
// then read and discard for up to lingerTime or lingerBytes (nginx
// ngx_http_set_lingering_close), so the client reads the GOAWAY before a
// TCP reset could discard it.
func (g *h2Guard) Close() error {
	if g.tripped.Load() {
		g.lingerOnce.Do(func() { go g.linger() })
		return nil
	}
	return g.Conn.Close()
}

func (g *h2Guard) linger() {
	defer close(g.lingerDone)
	defer g.Conn.Close()
	// The deadline also ends a write net/http may still have blocked,
	// so that wmu comes free.
	_ = g.Conn.SetWriteDeadline(time.Now().Add(cannedWrite))
	g.wmu.Lock()
	g.wclosed = true
	g.wmu.Unlock()
	cw, ok := g.Conn.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = g.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	buf := make([]byte, 4<<10)
	for total := 0; total < lingerBytes; {
		n, err := g.Conn.Read(buf)
		total += n
		if err != nil {
			return
		}
	}
}

// finish runs when net/http's HTTP/2 server is done with the connection:
// after a trip it waits for the lingering close, so that net/http does
// not close the connection under it.
func (g *h2Guard) finish() {
	if g.tripped.Load() {
		_ = g.Close()
		<-g.lingerDone
	}
}

func (g *h2Guard) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: g.LocalAddr().Network(), Source: g.LocalAddr(), Addr: g.RemoteAddr(), Err: err}
}
