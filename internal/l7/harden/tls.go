package harden

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// TLSListener terminates TLS on ln and vets the decrypted HTTP/1.x stream.
// Give it to http.Server.Serve (not ServeTLS): the handshake is done here,
// concurrently and bounded by HeaderTimeout, so that the negotiated ALPN
// protocol is known before the connection is handed over:
//
//   - "h2": the *tls.Conn itself is returned, so net/http's TLSNextProto
//     serves HTTP/2 (bounded by HTTP2Config and Server.MaxHeaderBytes);
//   - anything else: Conn(tlsConn, lim), which keeps ConnectionState, so
//     Request.TLS is set.
//
// cfg must offer the protocols wanted in NextProtos (e.g. "h2",
// "http/1.1"); it is used as given.
func TLSListener(ln net.Listener, cfg *tls.Config, lim config.HTTPLimits) net.Listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &tlsListener{
		Listener: ln,
		cfg:      cfg,
		lim:      WithDefaults(lim),
		ctx:      ctx,
		cancel:   cancel,
		ready:    make(chan net.Conn),
		errs:     make(chan error),
	}
	go l.acceptLoop()
	return l
}

type tlsListener struct {
	net.Listener
	cfg    *tls.Config
	lim    config.HTTPLimits
	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	ready  chan net.Conn // handshaken connections
	errs   chan error    // Accept errors of ln

	mu        sync.Mutex
	permanent error // a non-temporary Accept error: the loop has ended
}

func (l *tlsListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			temporary := errors.As(err, &ne) && ne.Timeout()
			if !temporary {
				l.mu.Lock()
				l.permanent = err
				l.mu.Unlock()
			}
			select {
			case l.errs <- err:
			case <-l.ctx.Done():
				return
			}
			if !temporary {
				return
			}
			continue
		}
		go l.handshake(c)
	}
}

// handshake runs one TLS handshake within HeaderTimeout and queues the
// result for Accept.
func (l *tlsListener) handshake(raw net.Conn) {
	tc := tls.Server(raw, l.cfg)
	ctx, cancel := context.WithTimeout(l.ctx, l.lim.HeaderTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		// Plain HTTP sent to a TLS port: answer it as net/http would
		// (server.go conn.serve, tlsRecordHeaderLooksLikeHTTP).
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		_ = raw.Close()
		return
	}
	var c net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		c = Conn(tc, l.lim)
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

func (l *tlsListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	perm := l.permanent
	l.mu.Unlock()
	if perm != nil {
		select {
		case c := <-l.ready:
			return c, nil
		default:
			return nil, perm
		}
	}
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	l.cancel()
	return l.Listener.Close()
}
