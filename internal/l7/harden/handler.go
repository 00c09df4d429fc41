package harden

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// UnderscorePolicy says what Handler does with a header whose name has an
// underscore. CGI-style backends map "-" and "_" to the same variable, so
// "X_Forwarded_For" can impersonate a header the proxy sets or strips.
type UnderscorePolicy uint8

const (
	// UnderscoreDrop removes such headers silently: nginx's default
	// (underscores_in_headers off with ignore_invalid_headers on).
	UnderscoreDrop UnderscorePolicy = iota
	// UnderscoreAllow forwards them (nginx underscores_in_headers on);
	// spellings of the forwarding headers are still stripped from
	// untrusted peers.
	UnderscoreAllow
	// UnderscoreReject answers 400 (Envoy headers_with_underscores_action
	// REJECT_REQUEST).
	UnderscoreReject
)

// DefaultMaxRequestsPerConn is nginx's keepalive_requests default, which
// also bounds HTTP/2 streams per connection since nginx 1.19.7.
const DefaultMaxRequestsPerConn = 1000

// Options configure Handler. The zero value is the hardened default.
type Options struct {
	// TrustedProxies are the peers whose X-Forwarded-*, Forwarded and
	// X-Real-IP headers are kept (config.HTTP.TrustedProxies). From every
	// other peer they are removed before the request goes further.
	TrustedProxies []netip.Prefix
	// Hosts are the names the proxy serves, without port: exact names,
	// or "*.example.com" for any subdomain. A request in absolute form
	// ("GET http://host/ HTTP/1.1") naming another host is refused with
	// 421, so the proxy never acts as an open forward proxy. Empty: every
	// absolute-form request is refused.
	Hosts []string
	// Underscores: see UnderscorePolicy. Default drop.
	Underscores UnderscorePolicy
	// RejectEncodedSlash answers 400 to a path containing %2F or %5C:
	// nginx decodes them before matching locations while a backend may
	// not (Envoy path_with_escaped_slashes_action REJECT_REQUEST).
	RejectEncodedSlash bool
	// MaxHeaders caps the number of header field values per request
	// (431), for HTTP/2 and HTTP/3 where no wire vetter counts them.
	// 0: DefaultMaxHeaders.
	MaxHeaders int
	// MaxRequestsPerConn closes a connection (HTTP/1: Connection: close;
	// HTTP/2: GOAWAY) after this many requests, bounding how much a
	// single connection can make the proxy do. The close rides on a
	// response, which reset HTTP/2 streams never get: rapid reset is the
	// premature-reset guard's (ConfigureServer). 0:
	// DefaultMaxRequestsPerConn; < 0: unlimited. Needs the ConnContext
	// that ServerTimeouts installs.
	MaxRequestsPerConn int
	// PrematureResetMinStreams and PrematureResetLifetime tune the
	// HTTP/2 premature-reset guard (Envoy overload.premature_reset_*,
	// see ConfigureServer): a connection is closed once more than half
	// of the streams it opened, counting at least
	// PrematureResetMinStreams, were reset by the client younger than
	// PrematureResetLifetime. 0: DefaultPrematureResetMinStreams and
	// DefaultPrematureResetLifetime; MinStreams < 0 turns the guard off.
	// They take effect through ConfigureServer (Handler ignores them).
	PrematureResetMinStreams int
	PrematureResetLifetime   time.Duration
}

// forwardingHeaders are removed from untrusted peers. Go's
// ReverseProxy.Rewrite already drops X-Forwarded-* and Forwarded, but not
// X-Real-IP; doing it here keeps routing and ACLs from seeing them too.
var forwardingHeaders = [...]string{
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
	"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server", "X-Real-Ip",
	"X-Client-Ip", "True-Client-Ip",
}

// Handler refuses what a reverse proxy must not pass on, before routing and
// ACLs see the request:
//
//   - CONNECT and TRACE → 405 (nginx refuses both:
//     ngx_http_process_request_header for TRACE, no CONNECT support);
//     PRI (the HTTP/2 preface reaching an HTTP/1-only server) → 400;
//   - absolute-form targets for a host not in opt.Hosts → 421 (RFC 9110
//     §15.5.20), so the proxy is no open proxy;
//   - a path that nginx's normalisation refuses (route.ParseURI: bare or
//     bad %, %00, ".." above the root) → 400; with RejectEncodedSlash also
//     %2F / %5C;
//   - more than MaxHeaders header values → 431;
//   - headers with "_" → dropped (or 400, per opt.Underscores);
//   - X-Forwarded-*, Forwarded, X-Real-IP from peers outside
//     opt.TrustedProxies → removed;
//   - "Upgrade: h2c" → removed (h2c smuggling past the proxy's rules);
//   - past MaxRequestsPerConn requests on a connection → the response
//     closes it.
//
// 400s close an HTTP/1 connection (nginx drops keep-alive after a 400,
// ngx_http_special_response_handler).
func Handler(next http.Handler, opt Options) http.Handler {
	h := &handler{next: next, opt: opt}
	if h.opt.MaxHeaders <= 0 {
		h.opt.MaxHeaders = DefaultMaxHeaders
	}
	if h.opt.MaxRequestsPerConn == 0 {
		h.opt.MaxRequestsPerConn = DefaultMaxRequestsPerConn
	}
	for _, s := range opt.Hosts {
		s = strings.ToLower(strings.TrimSuffix(s, "."))
		if rest, ok := strings.CutPrefix(s, "*."); ok {
			h.wild = append(h.wild, "."+rest)
		} else {
			h.exact = append(h.exact, s)
		}
	}
	return h
}

type handler struct {
	next  http.Handler
	opt   Options
	exact []string
	wild  []string // ".example.com"
}

func refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if code == http.StatusBadRequest && r.ProtoMajor < 2 {
		// Not on HTTP/2: there Go turns it into a GOAWAY for every
		// stream of the connection.
		w.Header().Set("Connection", "close")
	}
	http.Error(w, msg, code)
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodConnect, http.MethodTrace:
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		refuse(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	case "PRI":
		// Only the HTTP/2 preface says PRI. Conn passes a preface through;
		// on a server without h2c net/http then hands "PRI *" to the
		// handler as a request (http1ServerSupportsRequest): not one to
		// route or forward.
		refuse(w, r, http.StatusBadRequest, "bad request")
		return
	}
	n := 0
	for _, vv := range r.Header {
		n += len(vv)
	}
	if n > h.opt.MaxHeaders {
		refuse(w, r, http.StatusRequestHeaderFieldsTooLarge, "too many header fields")
		return
	}
	if r.URL.IsAbs() && !h.ours(r.URL.Hostname()) {
		refuse(w, r, http.StatusMisdirectedRequest, "misdirected request")
		return
	}
	if r.RequestURI != "*" {
		if _, err := route.ParseURI(r.RequestURI, true); err != nil {
			refuse(w, r, http.StatusBadRequest, "bad request")
			return
		}
		if h.opt.RejectEncodedSlash && hasEncodedSlash(r.RequestURI) {
			refuse(w, r, http.StatusBadRequest, "bad request")
			return
		}
	}
	trusted := h.trusted(r.RemoteAddr)
	for name := range r.Header {
		if strings.IndexByte(name, '_') >= 0 {
			switch h.opt.Underscores {
			case UnderscoreReject:
				refuse(w, r, http.StatusBadRequest, "bad request")
				return
			case UnderscoreDrop:
				delete(r.Header, name)
				continue
			}
			if !trusted && isForwardingName(strings.ReplaceAll(name, "_", "-")) {
				delete(r.Header, name)
			}
		}
	}
	if !trusted {
		for _, name := range forwardingHeaders {
			delete(r.Header, name)
		}
	}
	stripH2CUpgrade(r.Header)
	if h.opt.MaxRequestsPerConn > 0 {
		if ci, ok := r.Context().Value(connInfoKey{}).(*connInfo); ok {
			if ci.requests.Add(1) >= int64(h.opt.MaxRequestsPerConn) {
				// Go's HTTP/2 server turns this into GOAWAY (h2_bundle.go
				// writeHeaders: "respect Connection: close").
				w.Header().Set("Connection", "close")
			}
		}
	}
	h.next.ServeHTTP(w, r)
}

// ours reports whether host (from an absolute-form target) is one of the
// names the proxy serves.
func (h *handler) ours(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, s := range h.exact {
		if host == s {
			return true
		}
	}
	for _, s := range h.wild {
		if len(host) > len(s) && strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

func (h *handler) trusted(remote string) bool {
	if len(h.opt.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range h.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func isForwardingName(name string) bool {
	for _, f := range forwardingHeaders {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// hasEncodedSlash reports %2F or %5C in the path part of a target.
func hasEncodedSlash(uri string) bool {
	if i := strings.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	for i := 0; i+2 < len(uri); i++ {
		if uri[i] != '%' {
			continue
		}
		switch uri[i+1 : i+3] {
		case "2F", "2f", "5C", "5c":
			return true
		}
	}
	return false
}

// stripH2CUpgrade removes the h2c token from Upgrade (and HTTP2-Settings):
// a backend that accepts h2c would otherwise get a connection on which the
// proxy sees no more requests (the "h2c smuggling" class).
func stripH2CUpgrade(hdr http.Header) {
	vv, ok := hdr["Upgrade"]
	if !ok {
		return
	}
	found := false
	var keep []string
	for _, v := range vv {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if strings.EqualFold(tok, "h2c") {
				found = true
				continue
			}
			if tok != "" {
				keep = append(keep, tok)
			}
		}
	}
	if !found {
		return
	}
	delete(hdr, "Http2-Settings")
	if len(keep) == 0 {
		delete(hdr, "Upgrade")
		return
	}
	hdr["Upgrade"] = []string{strings.Join(keep, ", ")}
}

// connInfo is per-connection state shared by the requests of one
// connection (installed by ServerTimeouts through Server.ConnContext).
type connInfo struct {
	requests atomic.Int64
}

type connInfoKey struct{}

// ConnContext adds to ctx the per-connection state Handler keeps
// (Options.MaxRequestsPerConn), for a server that does not go through
// ConfigureServer's ConnContext.
func ConnContext(ctx context.Context) context.Context { return withConnInfo(ctx) }

func withConnInfo(ctx context.Context) context.Context {
	return context.WithValue(ctx, connInfoKey{}, &connInfo{})
}
