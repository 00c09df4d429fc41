package harden

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// HTTP/2 flow-control windows: Envoy's edge best practice
// (configuration/best_practices/edge: stream 64 KiB, connection 1 MiB).
const (
	h2StreamWindow = 64 << 10
	h2ConnWindow   = 1 << 20
)

// HTTP2Config bounds what one HTTP/2 connection may cost (RFC 9113 §10.5):
//
//   - MaxConcurrentStreams: lim.MaxConcurrentH2 (SETTINGS_MAX_CONCURRENT_STREAMS).
//     Go's server also answers a rapid-reset flood (CVE-2023-44487) with
//     GOAWAY ENHANCE_YOUR_CALM once more than 4× this many handlers are
//     queued (h2_bundle.go "too_many_early_resets"), which misses floods
//     whose handlers keep up: ConfigureServer adds the premature-reset
//     guard for those;
//   - MaxReadFrameSize 16 KiB, the protocol minimum (§4.2): a proxy gains
//     nothing from larger frames and each costs a read buffer;
//   - HPACK dynamic tables 4 KiB (RFC 7541 default), which bounds what one
//     indexed reference can expand to (HPACK bomb);
//   - receive windows 64 KiB per stream, 1 MiB per connection;
//   - WriteByteTimeout lim.BodyTimeout: a client that stops reading
//     (slow read) is dropped like nginx's send_timeout would.
//
// The header list size (SETTINGS_MAX_HEADER_LIST_SIZE) comes from
// Server.MaxHeaderBytes, set by ServerTimeouts; the idle timeout from
// Server.IdleTimeout.
func HTTP2Config(lim config.HTTPLimits) *http.HTTP2Config {
	l := WithDefaults(lim)
	return &http.HTTP2Config{
		MaxConcurrentStreams:          int(l.MaxConcurrentH2),
		MaxReadFrameSize:              16 << 10,
		MaxDecoderHeaderTableSize:     4096,
		MaxEncoderHeaderTableSize:     4096,
		MaxReceiveBufferPerStream:     h2StreamWindow,
		MaxReceiveBufferPerConnection: h2ConnWindow,
		WriteByteTimeout:              l.BodyTimeout,
	}
}

// ServerTimeouts is ConfigureServer with the zero Options (every default).
func ServerTimeouts(srv *http.Server, lim config.HTTPLimits) {
	ConfigureServer(srv, lim, Options{})
}

// ConfigureServer applies lim and opt to srv:
//
//   - ReadHeaderTimeout = HeaderTimeout (Go's default is none: slowloris);
//   - IdleTimeout = KeepaliveTimeout;
//   - MaxHeaderBytes = MaxHeaderBytes (also HTTP/2's header list size);
//   - HTTP2 = HTTP2Config(lim) unless already set;
//   - ConnContext gains the per-connection state Handler uses for
//     Options.MaxRequestsPerConn (an existing ConnContext still runs first);
//   - every HTTP/2 connection, over TLS (ALPN "h2") and h2c with prior
//     knowledge, gets the premature-reset guard (h2guard.go; tuned by
//     opt.PrematureResetMinStreams and opt.PrematureResetLifetime):
//     net/http's own HTTP/2 handoffs in srv.TLSNextProto are wrapped
//     when srv starts serving (its first connection), so set Protocols,
//     TLSNextProto and TLSConfig before Serve, as net/http requires.
//
// ReadTimeout and WriteTimeout stay 0 on purpose: they cap a whole request
// or response and would cut long uploads, downloads and WebSockets; the
// body is bounded instead by Conn's BodyTimeout between reads (nginx
// client_body_timeout) and slow readers by HTTP2Config's WriteByteTimeout.
func ConfigureServer(srv *http.Server, lim config.HTTPLimits, opt Options) {
	l := WithDefaults(lim)
	srv.ReadHeaderTimeout = l.HeaderTimeout
	srv.IdleTimeout = l.KeepaliveTimeout
	srv.MaxHeaderBytes = l.MaxHeaderBytes
	if srv.HTTP2 == nil {
		srv.HTTP2 = HTTP2Config(l)
	}
	pol, guard := newResetPolicy(opt)
	var once sync.Once
	prev := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if guard {
			// Serve has set up TLSNextProto by now (setupHTTP2_Serve runs
			// before its first Accept) and no connection is being served
			// yet, so the map can still be changed without a race.
			once.Do(func() { pol.install(srv, l.HeaderTimeout) })
		}
		if prev != nil {
			ctx = prev(ctx, c)
		}
		return withConnInfo(ctx)
	}
}
