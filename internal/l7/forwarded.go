package l7

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddrPort reads a net/http RemoteAddr ("ip:port", "[ip6]:port").
func parseAddrPort(s string) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap().WithZone(""), 0)
	}
	return netip.AddrPort{}
}

// realClient finds the client behind trusted proxies, as nginx's realip
// module with "real_ip_header X-Forwarded-For; real_ip_recursive on"
// does (ngx_http_get_forwarded_addr_internal): walking X-Forwarded-For
// from the right, trusted addresses are skipped and the first untrusted
// one is the client. A malformed entry stops the walk. The header is only
// read when the connection's peer is itself trusted.
func realClient(peer netip.AddrPort, trusted []netip.Prefix, h http.Header) netip.AddrPort {
	if len(trusted) == 0 || !inPrefixes(trusted, peer.Addr()) {
		return peer
	}
	vals := h["X-Forwarded-For"]
	client := peer
	for i := len(vals) - 1; i >= 0; i-- {
		v := vals[i]
		for v != "" {
			var item string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				item, v = v[j+1:], v[:j]
			} else {
				item, v = v, ""
			}
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			a, err := netip.ParseAddr(item)
			if err != nil {
				return client
			}
			client = netip.AddrPortFrom(a.Unmap().WithZone(""), 0)
			if !inPrefixes(trusted, client.Addr()) {
				return client
			}
		}
	}
	return client
}

// proxyAddXFF is $proxy_add_x_forwarded_for: the incoming
// X-Forwarded-For (only when the peer is a trusted proxy; a client's own
// header is not believed) followed by the peer's address.
func (rq *request) proxyAddXFF() string {
	peer := rq.peerIP()
	if !rq.trusted {
		return peer
	}
	in := rq.r.Header["X-Forwarded-For"]
	switch len(in) {
	case 0:
		return peer
	case 1:
		if in[0] == "" {
			return peer
		}
		return in[0] + ", " + peer
	}
	return strings.Join(in, ", ") + ", " + peer
}

func (rq *request) peerIP() string {
	if rq.peerStr == "" {
		a := rq.peer.Addr().Unmap()
		// The usual RemoteAddr, "ip:port" with the address as String
		// writes it, gives it without a new string.
		var buf [64]byte
		b := a.AppendTo(buf[:0])
		if ra := rq.r.RemoteAddr; a.IsValid() && len(ra) > len(b) && ra[len(b)] == ':' && ra[:len(b)] == string(b) {
			rq.peerStr = ra[:len(b)]
		} else {
			rq.peerStr = a.String()
		}
	}
	return rq.peerStr
}

// Header values that never change are shared: net/http only reads them,
// and Header.Add on a one-element slice copies it.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
	via10      = []string{"1.0 " + serverToken}
	via11      = []string{"1.1 " + serverToken}
	via2       = []string{"2 " + serverToken}
)

// setForwarded writes the forwarding headers of the upstream request.
// httputil's Rewrite has removed the client's X-Forwarded-* and
// Forwarded; they come back only from a trusted peer, with this hop
// appended: X-Forwarded-For ($proxy_add_x_forwarded_for),
// X-Forwarded-Proto, X-Forwarded-Host, Forwarded (RFC 7239 §4, §5) and
// Via (RFC 9110 §7.6.3).
func (rq *request) setForwarded(out *http.Request) {
	in := rq.r.Header
	h := out.Header
	// One backing array for the per-request values, in rq; each slice is
	// capped so that an append elsewhere copies instead of overwriting.
	vals := rq.fwdVals[:]
	vals[0] = rq.proxyAddXFF()
	h["X-Forwarded-For"] = vals[0:1:1]
	proto, host := rq.scheme, rq.r.Host
	if rq.trusted {
		if v := in.Get("X-Forwarded-Proto"); v != "" {
			proto = v
		}
		if v := in.Get("X-Forwarded-Host"); v != "" {
			host = v
		}
	}
	switch proto {
	case "http":
		h["X-Forwarded-Proto"] = protoHTTP
	case "https":
		h["X-Forwarded-Proto"] = protoHTTPS
	default:
		h.Set("X-Forwarded-Proto", proto)
	}
	if host != "" {
		vals[1] = host
		h["X-Forwarded-Host"] = vals[1:2:2]
	}
	fwd := forwardedElement(rq.peer.Addr(), rq.peerIP(), rq.r.Host, rq.scheme)
	if rq.trusted {
		if prev := in.Values("Forwarded"); len(prev) > 0 {
			fwd = strings.Join(prev, ", ") + ", " + fwd
		}
	}
	vals[2] = fwd
	h["Forwarded"] = vals[2:3:3]
	h["Via"] = appendVia(in["Via"], rq.r)
}

// appendVia adds this hop to a Via header (RFC 9110 §7.6.3).
func appendVia(prev []string, r *http.Request) []string {
	mine := viaValue(r)
	if len(prev) == 0 {
		return mine
	}
	return []string{strings.Join(prev, ", ") + ", " + mine[0]}
}

// viaValue is this hop's Via entry: the received protocol version alone
// for HTTP (RFC 9110 §7.6.3), "2" for HTTP/2, and the pseudonym.
func viaValue(r *http.Request) []string {
	if r.ProtoMajor == 2 {
		return via2
	}
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		return via10
	}
	return via11
}

// forwardedElement is one forwarded-element of RFC 7239: "for" is the
// node (IPv6 in brackets and quoted, §6), host and proto quoted when they
// are not tokens (§4).
func forwardedElement(peer netip.Addr, peerStr, host, proto string) string {
	var b strings.Builder
	b.Grow(len("for=\"[]\";host=;proto=https") + len(peerStr) + len(host) + 2)
	b.WriteString("for=")
	if peer.Unmap().Is6() {
		b.WriteString(`"[`)
		b.WriteString(peerStr)
		b.WriteString(`]"`)
	} else {
		b.WriteString(peerStr)
	}
	if host != "" {
		b.WriteString(";host=")
		b.WriteString(quoteToken(host))
	}
	b.WriteString(";proto=")
	b.WriteString(proto)
	return b.String()
}

// quoteToken returns s as an RFC 9110 token, or as a quoted-string when it
// has other characters (":" of a port, say).
func quoteToken(s string) string {
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			if strings.ContainsAny(s, `\"`) {
				return `"` + quotedPairs.Replace(s) + `"`
			}
			return `"` + s + `"`
		}
	}
	return s
}

var quotedPairs = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
