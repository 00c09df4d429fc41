package nginx

import (
	"fmt"
	"math"
	"net"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// upstreamDef is an upstream block read into b.h.Upstreams[idx].
type upstreamDef struct {
	name  string
	idx   int
	tlsAt pos
	tls   bool
}

// upstream reads an upstream block (ngx_http_upstream,
// ngx_http_upstream_server and the balancing modules).
func (b *builder) upstream(s *stmt) {
	name := s.args[0]
	for _, u := range b.upstreams {
		if strings.EqualFold(u.name, name) {
			// ngx_http_upstream_add.
			b.errorf(s, "duplicate upstream %s", rawq(name))
			return
		}
	}
	up := config.Upstream{Name: name}
	idx := len(b.h.Upstreams)
	up_ := fmt.Sprintf("http.upstreams[%d]", idx)
	b.key(up_, s.at())
	b.key(up_+".name", s.at())
	seen := dupSet{}
	var balanceAt *stmt
	portless := false
	for _, d := range s.block {
		if !b.check(d, cUpstream, seen) {
			continue
		}
		switch d.name {
		case "server":
			srv, ok := b.upstreamServer(d)
			if !ok {
				continue
			}
			if _, _, err := net.SplitHostPort(srv.Address); err != nil {
				// ngx_parse_url's default port; ketama hashes the name as
				// written, which the model cannot keep without a port.
				portless = true
				srv.Address = net.JoinHostPort(strings.Trim(srv.Address, "[]"), "80")
			}
			b.key(fmt.Sprintf("%s.servers[%d]", up_, len(up.Servers)), d.at())
			up.Servers = append(up.Servers, srv)
		case "least_conn", "ip_hash", "hash", "random":
			bal, ok := b.balance(d)
			if !ok {
				continue
			}
			if balanceAt != nil {
				b.warnf(d, "load balancing method redefined")
			}
			balanceAt = d
			up.Balance = bal
			b.key(up_+".balance", d.at())
		case "keepalive":
			n, _ := atoi(d.args[0])
			if n == 0 {
				b.errorf(d, "invalid value %s in %s directive", rawq(d.args[0]), rawq(d.name))
				continue
			}
			up.Keepalive = int(min(n, math.MaxInt32))
			b.key(up_+".keepalive", d.at())
		case "keepalive_timeout":
			up.KeepaliveTimeout = msec(d.args[0])
			b.key(up_+".keepalive_timeout", d.at())
		default:
			b.other(d)
		}
	}
	if len(up.Servers) == 0 {
		// ngx_http_upstream: reported once the block is read.
		b.sink.errorf(pos{file: s.file, line: s.end, seq: s.seq}, "no servers are inside upstream")
	}
	if portless && strings.Contains(up.Balance, "consistent") {
		b.warnf(s, "a server without a port gets :80, so its points on the hash ring differ from nginx's, which hashes the name as written")
	}
	b.upstreams = append(b.upstreams, upstreamDef{name: name, idx: idx})
	b.h.Upstreams = append(b.h.Upstreams, up)
}

// upstreamServer reads server ADDRESS [parameters] of an upstream.
func (b *builder) upstreamServer(s *stmt) (config.UpstreamServer, bool) {
	srv := config.UpstreamServer{Address: s.args[0]}
	if strings.HasPrefix(strings.ToLower(srv.Address), "unix:") {
		b.errorf(s, "not supported by fulcrum: a unix socket in an upstream")
		return srv, false
	}
	if h, p, err := net.SplitHostPort(srv.Address); err == nil {
		if n, ok := atoi(p); !ok || n < 1 || n > 65535 || h == "" {
			b.errorf(s, "invalid port in upstream %s", rawq(srv.Address))
			return srv, false
		}
	}
	for _, p := range s.args[1:] {
		k, v, hasV := strings.Cut(p, "=")
		bad := func() (config.UpstreamServer, bool) {
			b.errorf(s, "invalid parameter %s", rawq(p))
			return srv, false
		}
		switch {
		case p == "backup":
			srv.Backup = true
		case p == "down":
			srv.Down = true
		case !hasV:
			return bad()
		case k == "weight":
			n, ok := atoi(v)
			if !ok || n == 0 || n > math.MaxInt32 {
				return bad()
			}
			srv.Weight = int(n)
		case k == "max_fails":
			n, ok := atoi(v)
			if !ok || n > math.MaxInt32 {
				return bad()
			}
			srv.MaxFails = int(n)
			if n == 0 {
				srv.MaxFails = -1 // 0 turns failure accounting off
			}
		case k == "max_conns":
			n, ok := atoi(v)
			if !ok || n > math.MaxInt32 {
				return bad()
			}
			srv.MaxConns = int(n)
		case k == "fail_timeout":
			d, ok := parseTime(v, true)
			if !ok {
				return bad()
			}
			if d == 0 {
				// fail_timeout=0 stops marking the server down, as
				// max_fails=0 does.
				srv.MaxFails = -1
				continue
			}
			srv.FailTimeout = d
		case k == "slow_start":
			// NGINX Plus only: 1.22 refuses it; fulcrum's HAProxy-style
			// balancers honour it.
			d, ok := parseTime(v, true)
			if !ok {
				return bad()
			}
			srv.SlowStart = d
		default:
			return bad()
		}
	}
	return srv, true
}

// balance reads a balancing directive into the model's nginx syntax.
func (b *builder) balance(s *stmt) (string, bool) {
	switch s.name {
	case "hash":
		if len(s.args) == 2 && s.args[1] != "consistent" {
			b.errorf(s, "invalid parameter %s", rawq(s.args[1]))
			return "", false
		}
	case "random":
		// ngx_http_upstream_random: [two [least_conn]].
		if len(s.args) >= 1 && s.args[0] != "two" {
			b.errorf(s, "invalid parameter %s", rawq(s.args[0]))
			return "", false
		}
		if len(s.args) == 2 && s.args[1] != "least_conn" {
			b.errorf(s, "invalid parameter %s", rawq(s.args[1]))
			return "", false
		}
	}
	return strings.Join(append([]string{s.name}, s.args...), " "), true
}

// upstreamTLS sets the TLS of the upstream an https proxy_pass names
// from the location's proxy_ssl_* settings. nginx verifies nothing
// unless proxy_ssl_verify is on; Validate warns about that.
func (b *builder) upstreamTLS(proxyPass string, c *conf) {
	rest, ok := strings.CutPrefix(strings.ToLower(proxyPass), "https://")
	if !ok {
		return
	}
	host := rest
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		host = rest[:j]
	}
	for i := range b.upstreams {
		u := &b.upstreams[i]
		if !strings.EqualFold(u.name, host) {
			continue
		}
		t := &config.UpstreamTLS{CAFile: c.sslTrusted.v, InsecureSkipVerify: !c.sslVerify.v}
		if c.sslServerName.v {
			t.ServerName = c.sslName.v
		}
		up := &b.h.Upstreams[u.idx]
		if up.TLS != nil && *up.TLS != *t {
			at := c.sslVerify.at
			if !c.sslVerify.set {
				at = c.sslTrusted.at
			}
			b.sink.errorf(at, "not supported by fulcrum: different proxy_ssl_* settings for upstream %s in different locations (TLS is set per upstream)", rawq(u.name))
			return
		}
		up.TLS = t
	}
}
