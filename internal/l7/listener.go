package l7

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/harden"
	"github.com/fulcrumlb/fulcrum/internal/proxyproto"
)

// listener is one listening socket. It is opened once and kept across
// reloads for as long as some server listens on its address; what serves
// its connections (a serverInst) is replaced when the socket's options or
// the limits change, and the old one drains.
type listener struct {
	p    *Proxy
	addr netip.AddrPort
	ln   net.Listener
	conf atomic.Pointer[listenConf]
	cur  atomic.Pointer[serverInst]

	acceptDone chan struct{}
	conns      atomic.Int64
	accepted   atomic.Uint64
	refused    atomic.Uint64
	flooded    atomic.Uint64 // refused by the flood defence
}

// listenTCP opens a listening socket with SO_REUSEADDR (so a restart does
// not wait for TIME_WAIT) and IP_FREEBIND (so a VIP that VRRP has not yet
// brought up can be bound), as the L4 plane does. Accepted connections get
// no TCP keep-alive probes, as in nginx (listen so_keepalive is off by
// default): idle clients are timed out by keepalive_timeout and the header
// and body timeouts, and Go's default would cost four setsockopt calls per
// accepted connection.
func listenTCP(ctx context.Context, addr netip.AddrPort) (net.Listener, error) {
	v6 := addr.Addr().Is6()
	lc := net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			if serr == nil {
				level, opt := unix.SOL_IP, unix.IP_FREEBIND
				if v6 {
					level, opt = unix.SOL_IPV6, unix.IPV6_FREEBIND
				}
				if unix.SetsockoptInt(int(fd), level, opt, 1) != nil && v6 {
					_ = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
				}
			}
		})
		return errors.Join(err, serr)
	}}
	network := "tcp4"
	if v6 {
		network = "tcp6"
	}
	return lc.Listen(ctx, network, addr.String())
}

// instKey is what a serverInst is built from; a change replaces it.
type instKey struct {
	opts   listenOpts
	limits config.HTTPLimits
	guard  string // guardKey
}

// serverInst is one http.Server serving the connections a listener hands
// it.
type serverInst struct {
	l        *listener
	key      instKey
	opts     listenOpts
	srv      *http.Server
	ch       *chanListener
	ln       net.Listener // ch behind the hardening wrappers
	tlsCfg   *tls.Config
	h2s      *http2.Server // h2c upgrades
	handler  http.Handler  // the request path: harden.Handler, then the core
	draining atomic.Bool
	done     chan struct{} // Serve returned

	// The fast front's connections (fast.go).
	fastLim  config.HTTPLimits // key.limits with the defaults
	fastMu   sync.Mutex
	fast     map[*fastConn]struct{}
	fastIdle chan struct{} // closed when the last one ends (shutdown)
}

func (l *listener) newInst(key instKey, lc *listenConf) *serverInst {
	inst := &serverInst{l: l, key: key, opts: key.opts, done: make(chan struct{}), fastLim: harden.WithDefaults(key.limits)}
	lim := key.limits
	inst.ch = newChanListener(l.ln.Addr())
	inst.handler = inst.guard(handler{inst: inst}, lc)
	var front http.Handler = inst.handler
	if key.opts.http2 && !key.opts.tls {
		// The h2c upgrade is taken before the guard, which strips
		// "Upgrade: h2c"; the upgraded request then goes through it.
		front = h2cFront{inst: inst, next: inst.handler}
	}
	srv := &http.Server{
		Handler:  front,
		ErrorLog: slog.NewLogLogger(l.p.log.Handler(), slog.LevelDebug),
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	if key.opts.http2 {
		if key.opts.tls {
			srv.Protocols.SetHTTP2(true)
		} else {
			srv.Protocols.SetUnencryptedHTTP2(true)
			inst.h2s = &http2.Server{MaxConcurrentStreams: lim.MaxConcurrentH2, IdleTimeout: lim.KeepaliveTimeout}
		}
	}
	hardenServer(srv, lim)
	if key.opts.tls {
		protos := []string{"http/1.1"}
		if key.opts.http2 {
			protos = []string{"h2", "http/1.1"}
		}
		inst.tlsCfg = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     protos,
			GetCertificate: l.certificate,
		}
		// Serve (not ServeTLS) configures HTTP/2 only while TLSConfig is
		// nil or offers h2; harden.TLSListener does the handshakes.
	}
	inst.srv = srv
	inst.ln = inst.hardenListener(inst.ch)
	return inst
}

func (inst *serverInst) serve() {
	defer close(inst.done)
	_ = inst.srv.Serve(inst.ln)
}

// shutdown drains the instance: responses say "Connection: close" for
// delay, then idle connections are closed and active ones awaited until
// ctx ends, when the rest is closed.
func (inst *serverInst) shutdown(ctx context.Context, delay time.Duration) error {
	inst.draining.Store(true)
	inst.ch.Close()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	_ = inst.ln.Close()
	inst.shutdownFast(ctx)
	err := inst.srv.Shutdown(ctx)
	if err != nil {
		_ = inst.srv.Close()
	}
	<-inst.done
	return err
}

// certificate picks the certificate for a TLS handshake: the server that
// SNI selects by server_name (the default server without SNI or without
// a match), then the first of its certificates that covers the name, else
// its first; a server without certificates borrows the listener's first.
func (l *listener) certificate(chi *tls.ClientHelloInfo) (*tls.Certificate, error) {
	lc := l.conf.Load()
	if lc == nil {
		return nil, errors.New("no configuration")
	}
	sc := lc.def
	if s, _, err := lc.hosts.Select(chi.ServerName); err == nil && s != nil {
		if c, ok := s.Handler.(*serverConf); ok {
			sc = c
		}
	}
	if sc != nil && len(sc.certs) > 0 {
		for i := range sc.certs {
			if chi.ServerName != "" && chi.SupportsCertificate(&sc.certs[i]) == nil {
				return &sc.certs[i], nil
			}
		}
		return &sc.certs[0], nil
	}
	for _, s := range lc.servers {
		if len(s.certs) > 0 {
			return &s.certs[0], nil
		}
	}
	return nil, errors.New("no certificate")
}

// acceptLoop hands accepted connections to the current server instance.
func (l *listener) acceptLoop() {
	defer close(l.acceptDone)
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off as net/http does rather than
			// spin (reliability.md §2.4).
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else {
				delay = min(2*delay, time.Second)
			}
			l.p.log.Warn("l7: accept failed", "listen", l.addr.String(), "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		l.accepted.Add(1)
		l.handoff(c)
	}
}

func (l *listener) handoff(c net.Conn) {
	lc := l.conf.Load()
	c, ok := l.admit(c, lc)
	if !ok {
		l.flooded.Add(1)
		return
	}
	tc := l.p.track(c, l)
	var conn net.Conn = tc
	if lc.opts.pp {
		// Only configured proxies may send a PROXY header; anyone else is
		// refused outright (haproxy doc/proxy-protocol.txt §2.2: never
		// guess, never accept it from untrusted sources).
		src := addrPortOf(c.RemoteAddr())
		if !inPrefixes(lc.snap.trusted, src.Addr()) {
			l.refused.Add(1)
			_ = tc.Close()
			return
		}
		conn = &ppConn{trackedConn: tc, timeout: lc.snap.limits.HeaderTimeout, l: l}
	}
	for {
		inst := l.cur.Load()
		if inst.fastEligible() && !inst.draining.Load() {
			go inst.serveFast(conn)
			return
		}
		if inst.ch.deliver(conn) {
			return
		}
		if l.cur.Load() == inst {
			_ = conn.Close()
			return
		}
	}
}

// chanListener is a net.Listener fed by a listener's accept loop, so that
// the socket outlives the http.Server using it.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(a net.Addr) *chanListener {
	return &chanListener{addr: a, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (c *chanListener) Accept() (net.Conn, error) {
	select {
	case conn := <-c.ch:
		return conn, nil
	case <-c.done:
		return nil, net.ErrClosed
	}
}

func (c *chanListener) deliver(conn net.Conn) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.ch <- conn:
		return true
	case <-c.done:
		return false
	}
}

func (c *chanListener) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *chanListener) Addr() net.Addr { return c.addr }

// trackedConn is every accepted connection; the set of open ones lets
// Close end upgraded (hijacked) connections, which http.Server forgets.
type trackedConn struct {
	net.Conn
	p    *Proxy
	l    *listener
	once sync.Once
}

func (p *Proxy) track(c net.Conn, l *listener) *trackedConn {
	tc := &trackedConn{Conn: c, p: p, l: l}
	l.conns.Add(1)
	p.connMu.Lock()
	p.conns[tc] = struct{}{}
	p.connMu.Unlock()
	return tc
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.conns.Add(-1)
		c.p.connMu.Lock()
		delete(c.p.conns, c)
		c.p.connMu.Unlock()
	})
	return err
}

// ppAddr is the local address of a connection that began with a PROXY
// header: net/http puts it in the request context
// (http.LocalAddrContextKey), which carries what the header said to the
// handler through any wrapping of the connection.
type ppAddr struct {
	*net.TCPAddr
	hdr proxyproto.Header
	tcp netip.AddrPort // the proxy that sent the header
}

// connMeta is what the PROXY header said about a connection.
type connMeta struct {
	pp    bool
	ppSrc netip.AddrPort
	tcp   netip.AddrPort
}

func connMetaFrom(la net.Addr) *connMeta {
	pa, ok := la.(*ppAddr)
	if !ok {
		return nil
	}
	return &connMeta{pp: pa.hdr.Command == proxyproto.Proxy, ppSrc: pa.hdr.Source, tcp: pa.tcp}
}

// ppConn reads the PROXY protocol header (v1 or v2) before anything else.
// net/http asks for RemoteAddr first thing in the connection's goroutine,
// so the header is read there, with the header timeout, and never in the
// accept loop. A connection whose header is missing or invalid is closed.
type ppConn struct {
	*trackedConn
	timeout time.Duration
	l       *listener
	once    sync.Once
	br      *bufio.Reader
	hdr     proxyproto.Header
	remote  net.Addr
	local   net.Addr
	err     error
}

func (c *ppConn) init() {
	c.once.Do(func() {
		_ = c.trackedConn.SetReadDeadline(time.Now().Add(c.timeout))
		c.br = bufio.NewReader(c.trackedConn)
		h, err := proxyproto.Read(c.br)
		_ = c.trackedConn.SetReadDeadline(time.Time{})
		if err != nil {
			c.err = err
			c.l.refused.Add(1)
			c.l.p.log.Debug("l7: bad PROXY header", "listen", c.l.addr.String(), "err", err)
			_ = c.trackedConn.Close()
			return
		}
		c.hdr = h
		if h.Command == proxyproto.Proxy && h.Source.IsValid() {
			c.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port()))
		}
		if la, ok := c.trackedConn.LocalAddr().(*net.TCPAddr); ok {
			c.local = &ppAddr{TCPAddr: la, hdr: h, tcp: addrPortOf(c.trackedConn.RemoteAddr())}
		}
	})
}

func (c *ppConn) LocalAddr() net.Addr {
	c.init()
	if c.local != nil {
		return c.local
	}
	return c.trackedConn.LocalAddr()
}

func (c *ppConn) RemoteAddr() net.Addr {
	c.init()
	if c.remote != nil {
		return c.remote
	}
	return c.trackedConn.RemoteAddr()
}

func (c *ppConn) Read(b []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	if c.br.Buffered() > 0 {
		return c.br.Read(b)
	}
	return c.trackedConn.Read(b)
}
