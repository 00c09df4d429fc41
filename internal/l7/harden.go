package l7

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/harden"
)

// Hardening (internal/l7/harden) sits in front of the core on every
// listener:
//
//   - connections: plain ones are vetted on the wire by harden.Listener
//     (CL+TE, bad chunk sizes, header counts and sizes, slowloris, slow
//     bodies); TLS ones by harden.TLSListener, which does the handshake and
//     vets the decrypted HTTP/1 stream, passing h2 through;
//   - the server: harden.ServerTimeouts (header and idle timeouts, header
//     size, HTTP/2 limits);
//   - requests: harden.Handler (CONNECT/TRACE, foreign absolute-form
//     targets, paths nginx would refuse, header count, underscores,
//     forwarding headers from untrusted peers, h2c upgrade smuggling).

// guardKey is what the request guard of an instance is built from; a
// change rebuilds the instance.
func guardKey(lc *listenConf, trusted []string) string {
	return strings.Join(trusted, ",") + "|" + strings.Join(guardHosts(lc), ",")
}

// guardHosts are the names an absolute-form request may carry: the
// server_names of the listener's servers that harden.Handler can express
// (exact and "*.suffix"; ".suffix" is both). Regex and "prefix.*" names
// cannot be listed: absolute-form requests for them get 421.
func guardHosts(lc *listenConf) []string {
	var hs []string
	for _, s := range lc.servers {
		for _, n := range s.names {
			switch {
			case n == "" || strings.HasPrefix(n, "~") || strings.HasSuffix(n, ".*"):
			case strings.HasPrefix(n, "."):
				hs = append(hs, n[1:], "*"+n)
			default:
				hs = append(hs, n)
			}
		}
	}
	slices.Sort(hs)
	return slices.Compact(hs)
}

func (inst *serverInst) guard(next http.Handler, lc *listenConf) http.Handler {
	return harden.Handler(next, harden.Options{
		TrustedProxies: lc.snap.trusted,
		Hosts:          guardHosts(lc),
		MaxHeaders:     inst.key.limits.MaxHeaders,
	})
}

func hardenServer(srv *http.Server, lim config.HTTPLimits) {
	harden.ServerTimeouts(srv, lim)
}

// hardenListener is what the instance's http.Server accepts from.
func (inst *serverInst) hardenListener(ln net.Listener) net.Listener {
	if inst.opts.tls {
		return harden.TLSListener(ln, inst.tlsCfg, inst.key.limits)
	}
	return harden.Listener(ln, inst.key.limits)
}
