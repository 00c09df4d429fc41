package nginx

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// refererIf is an "if ($invalid_referer) { ... }" block read into the
// model's Referers action.
type refererIf struct {
	at       pos
	status   int
	redirect string
}

// serverCtx is what locations of one server share.
type serverCtx struct {
	key     string
	referer *refererIf // a server-level if ($invalid_referer)
	conf    *conf
	names   []string
}

// server reads a server block (ngx_http_core_server).
func (b *builder) server(s *stmt, hc *conf, i int) {
	sp := fmt.Sprintf("http.servers[%d]", i)
	b.key(sp, s.at())
	var srv config.HTTPServer
	sc := &conf{}
	seen := dupSet{}
	var locs []*stmt
	var ret *stmt
	ctx := &serverCtx{key: sp, conf: sc}
	for _, d := range s.block {
		if !b.check(d, cServer, seen) {
			continue
		}
		if ret != nil && rewritePhase(d.name) {
			b.warnf(d, "never used: the return on line %d answers every request first", ret.line)
			continue
		}
		switch d.name {
		case "listen":
			if l, ok := b.listen(d); ok {
				b.key(fmt.Sprintf("%s.listen[%d]", sp, len(srv.Listen)), d.at())
				srv.Listen = append(srv.Listen, l)
			}
		case "server_name":
			b.serverName(d, &srv, sp)
		case "location":
			locs = append(locs, d)
		case "return":
			ret = d
		case "rewrite":
			b.errorf(d, "not supported by fulcrum: rewrite outside a location (fulcrum runs rewrites in locations; move it into them)")
		case "if":
			if r, ok := b.ifBlock(d, cSIf); ok {
				ctx.referer = r
			}
		default:
			if !b.confDirective(d, sc, cServer) {
				b.other(d)
			}
		}
	}
	sc.merge(hc)
	if len(srv.Listen) == 0 {
		// ngx_http_core_merge_srv_conf: a server without listen takes
		// *:80 (nginx run as root).
		srv.Listen = []config.HTTPListen{{Address: netip.AddrPortFrom(netip.IPv4Unspecified(), 80)}}
		b.key(sp+".listen[0]", s.at())
	}
	for j := range srv.Listen {
		if sc.sslOn.set && sc.sslOn.v {
			srv.Listen[j].TLS = true
		}
		if sc.http2On.set && sc.http2On.v {
			srv.Listen[j].HTTP2 = true
		}
	}
	b.certificates(s, sc, &srv, sp)
	b.observeServer(sc)
	ctx.names = srv.ServerNames
	if ret != nil {
		// A server-level return answers every request before a location
		// is chosen: fulcrum's form of that is one location "/".
		for _, l := range locs {
			b.warnf(l, "never used: the return on line %d answers every request first", ret.line)
		}
		lp := sp + ".locations[0]"
		b.key(lp, ret.at())
		l := config.Location{Match: "/"}
		l.Return = b.returnDirective(ret, lp)
		b.applyConf(&l, sc, lp, nil, ctx)
		b.observeLeaf(sc)
		srv.Locations = []config.Location{l}
	} else {
		for j, d := range locs {
			l := b.location(d, sc, fmt.Sprintf("%s.locations[%d]", sp, j), 0, nil, ctx)
			srv.Locations = append(srv.Locations, l)
		}
		if len(locs) == 0 {
			b.observeLeaf(sc)
		}
	}
	b.h.Servers = append(b.h.Servers, srv)
}

// rewritePhase names the rewrite module's directives, which a return
// before them leaves unused.
func rewritePhase(name string) bool {
	switch name {
	case "return", "rewrite", "if", "set", "break":
		return true
	}
	return false
}

// listen reads listen ADDRESS [parameters] (ngx_http_core_listen).
func (b *builder) listen(s *stmt) (config.HTTPListen, bool) {
	var l config.HTTPListen
	addr := s.args[0]
	if strings.HasPrefix(strings.ToLower(addr), "unix:") {
		b.errorf(s, "not supported by fulcrum: listen on a unix socket")
		return l, false
	}
	ap, err := listenAddr(addr)
	if err != nil {
		b.errorf(s, "%v", err)
		return l, false
	}
	l.Address = ap
	for _, p := range s.args[1:] {
		switch k, v, _ := strings.Cut(p, "="); {
		case p == "default_server" || p == "default":
			l.Default = true
		case p == "ssl":
			l.TLS = true
		case p == "http2":
			l.HTTP2 = true
		case p == "proxy_protocol":
			l.ProxyProtocol = true
		case k == "ipv6only":
			if v == "off" {
				b.errorf(s, "not supported by fulcrum: ipv6only=off (fulcrum binds IPv6 addresses for IPv6 only; add a listen for 0.0.0.0)")
				return l, false
			}
			if v != "on" {
				b.errorf(s, "invalid ipv6only flags %s", rawq(v))
				return l, false
			}
		case p == "bind", p == "reuseport", p == "deferred", p == "spdy",
			k == "backlog", k == "rcvbuf", k == "sndbuf", k == "setfib", k == "fastopen", k == "accept_filter", k == "so_keepalive":
			b.warnf(s, "not used by fulcrum: listen parameter %s", p)
		default:
			b.errorf(s, "invalid parameter %s", rawq(p))
			return l, false
		}
	}
	return l, true
}

// listenAddr reads a listen address as ngx_parse_url does for listen:
// "80", "*:80", "1.2.3.4[:80]", "[::1][:80]", "localhost[:80]"; no port
// is 80.
func listenAddr(s string) (netip.AddrPort, error) {
	if n, ok := atoi(s); ok {
		if n < 1 || n > 65535 {
			return netip.AddrPort{}, fmt.Errorf("invalid port in %s of the \"listen\" directive", rawq(s))
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)), nil
	}
	host, port := s, "80"
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.AddrPort{}, fmt.Errorf("invalid host in %s of the \"listen\" directive", rawq(s))
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return netip.AddrPort{}, fmt.Errorf("invalid host in %s of the \"listen\" directive", rawq(s))
			}
			port = rest[1:]
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	n, ok := atoi(port)
	if !ok || n < 1 || n > 65535 {
		return netip.AddrPort{}, fmt.Errorf("invalid port in %s of the \"listen\" directive", rawq(s))
	}
	switch host {
	case "*", "":
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)), nil
	case "localhost":
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(n)), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		// nginx resolves a name here; fulcrum takes addresses only.
		return netip.AddrPort{}, fmt.Errorf("host not found in %s of the \"listen\" directive", rawq(s))
	}
	return netip.AddrPortFrom(a, uint16(n)), nil
}

// serverName reads server_name (ngx_http_core_server_name).
func (b *builder) serverName(s *stmt, srv *config.HTTPServer, sp string) {
	for _, n := range s.args {
		if n == "$hostname" {
			h, err := b.hostname()
			if err != nil {
				b.errorf(s, "not supported by fulcrum: $hostname (%v)", err)
				continue
			}
			n = h
		}
		if n == "" {
			// "" matches requests without Host; fulcrum's default server
			// takes them.
			b.warnf(s, "not used by fulcrum: the empty server name (a request without Host goes to the default server)")
			continue
		}
		b.key(fmt.Sprintf("%s.server_names[%d]", sp, len(srv.ServerNames)), s.at())
		srv.ServerNames = append(srv.ServerNames, n)
	}
}

func (b *builder) hostname() (string, error) {
	if b.opts.Hostname != nil {
		return b.opts.Hostname()
	}
	return os.Hostname()
}

// certificates pairs ssl_certificate with ssl_certificate_key by order
// (ngx_http_ssl_merge_srv_conf).
func (b *builder) certificates(s *stmt, sc *conf, srv *config.HTTPServer, sp string) {
	tls := -1
	for j, l := range srv.Listen {
		if l.TLS {
			tls = j
			break
		}
	}
	// ngx_http_ssl_merge_srv_conf names the "ssl" directive's line, or
	// the server's for listen ... ssl.
	what, at := "\"listen ... ssl\"", s.at()
	if sc.sslOn.set && sc.sslOn.v {
		what, at = "\"ssl\"", sc.sslOn.at
	}
	if tls >= 0 && len(sc.certs.v) == 0 {
		b.sink.errorf(at, "no \"ssl_certificate\" is defined for the %s directive", what)
		b.quiet[sp+".certificates"] = true
		return
	}
	for j, cert := range sc.certs.v {
		if j >= len(sc.certKeys.v) {
			if sc.sslOn.set && sc.sslOn.v {
				b.sink.errorf(at, "no \"ssl_certificate_key\" is defined for the \"ssl\" directive")
			} else {
				b.sink.errorf(sc.certs.ats[j], "no \"ssl_certificate_key\" is defined for certificate %s", rawq(cert))
			}
			continue
		}
		at := sc.certs.ats[j]
		if strings.HasPrefix(cert, "data:") || strings.Contains(cert, "$") {
			b.sink.errorf(at, "not supported by fulcrum: ssl_certificate %s (a file name is needed)", cert)
			continue
		}
		cp := fmt.Sprintf("%s.certificates[%d]", sp, len(srv.Certificates))
		b.key(cp, at)
		b.key(cp+".key_file", sc.certKeys.ats[j])
		srv.Certificates = append(srv.Certificates, config.Certificate{CertFile: cert, KeyFile: sc.certKeys.v[j]})
	}
	if tls < 0 && len(sc.certs.v) > 0 {
		b.key(sp+".certificates", sc.certs.ats[0])
	}
}

// location reads a location block (ngx_http_core_location) with what it
// inherits from parent.
func (b *builder) location(s *stmt, parent *conf, lp string, depth int, outer *config.Location, ctx *serverCtx) config.Location {
	b.key(lp, s.at())
	var l config.Location
	if m, ok := b.locationMatch(s); ok {
		l.Match = m
	}
	lc := &conf{}
	seen := dupSet{}
	var nested []*stmt
	var done *stmt
	var rif *refererIf
	for _, d := range s.block {
		if !b.check(d, cLocation, seen) {
			continue
		}
		if done != nil && rewritePhase(d.name) {
			b.warnf(d, "never used: the return on line %d answers first", done.line)
			continue
		}
		switch d.name {
		case "location":
			nested = append(nested, d)
		case "proxy_pass":
			b.key(lp+".proxy_pass", d.at())
			l.ProxyPass = b.proxyPassURL(d.args[0])
		case "return":
			done = d
			l.Return = b.returnDirective(d, lp)
		case "rewrite":
			if rw, ok := b.rewrite(d); ok {
				b.key(fmt.Sprintf("%s.rewrites[%d]", lp, len(l.Rewrites)), d.at())
				l.Rewrites = append(l.Rewrites, rw)
			}
		case "if":
			if r, ok := b.ifBlock(d, cLIf); ok {
				rif = r
			}
		default:
			if !b.confDirective(d, lc, cLocation) {
				b.other(d)
			}
		}
	}
	lc.merge(parent)
	if rif == nil && outer == nil {
		rif = ctx.referer
	}
	b.applyConf(&l, lc, lp, rif, ctx)
	if outer != nil {
		b.nestedInheritance(s, &l, outer, lc)
	}
	b.observeLeaf(lc)
	for k, n := range nested {
		l.Locations = append(l.Locations, b.location(n, lc, fmt.Sprintf("%s.locations[%d]", lp, k), depth+1, &l, ctx))
	}
	return l
}

// locationMatch reads location's arguments: "[=|~|~*|^~] uri" or "@name",
// the modifier glued to the uri or apart.
func (b *builder) locationMatch(s *stmt) (string, bool) {
	a := s.args
	if len(a) == 2 {
		switch a[0] {
		case "=", "~", "~*", "^~":
			return config.FormatLocationMatch(a[0], a[1]), true
		}
		b.errorf(s, "invalid location modifier %s", rawq(a[0]))
		return "", false
	}
	mod, pat, err := config.ParseLocationMatch(a[0])
	if err != nil {
		b.errorf(s, "%v", err)
		return "", false
	}
	return config.FormatLocationMatch(mod, pat), true
}

// proxyPassURL gives a host without a port, that no upstream is named,
// the scheme's port (ngx_http_proxy_pass resolves it then), and an
// upstream named in another case the upstream's own spelling
// (ngx_http_upstream_add compares names case-insensitively).
func (b *builder) proxyPassURL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	scheme := strings.ToLower(u[:i])
	rest := u[i+3:]
	host, uri := rest, ""
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		host, uri = rest[:j], rest[j:]
	}
	if host == "" || strings.Contains(host, "$") || strings.HasPrefix(strings.ToLower(host), "unix:") {
		return u
	}
	for _, up := range b.upstreams {
		if strings.EqualFold(up.name, host) {
			return u[:i+3] + up.name + uri
		}
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return u
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return u[:i+3] + net.JoinHostPort(strings.Trim(host, "[]"), port) + uri
}

// returnDirective reads return code [text|URL] or return URL
// (ngx_http_rewrite_return).
func (b *builder) returnDirective(s *stmt, lp string) *config.Return {
	b.key(lp+".return", s.at())
	a := s.args
	n, ok := atoi(a[0])
	if !ok {
		if len(a) == 1 && isRedirectURL(a[0]) {
			return &config.Return{Code: 302, Text: a[0]}
		}
		b.errorf(s, "invalid return code %s", rawq(a[0]))
		return nil
	}
	if n > 999 {
		b.errorf(s, "invalid return code %s", rawq(a[0]))
		return nil
	}
	r := &config.Return{Code: int(n)}
	if len(a) == 2 {
		r.Text = a[1]
	}
	return r
}

func isRedirectURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "$scheme")
}

// rewrite reads rewrite REGEX REPLACEMENT [FLAG] (ngx_http_rewrite).
func (b *builder) rewrite(s *stmt) (config.Rewrite, bool) {
	rw := config.Rewrite{Regex: s.args[0], Replacement: s.args[1]}
	if len(s.args) == 3 {
		switch s.args[2] {
		case "last", "break", "redirect", "permanent":
			rw.Flag = s.args[2]
		default:
			b.errorf(s, "invalid parameter %s", rawq(s.args[2]))
			return rw, false
		}
	}
	return rw, true
}

// ifBlock reads an if block. Only "if ($invalid_referer) { return ...; }"
// (or a redirecting rewrite) has a form in the model: Referers.
func (b *builder) ifBlock(s *stmt, inner ctxMask) (*refererIf, bool) {
	cond, ok := b.ifCondition(s)
	if !ok {
		return nil, false
	}
	if len(cond) != 1 || cond[0] != "$invalid_referer" {
		b.errorf(s, "not supported by fulcrum: if (%s) (the only if fulcrum maps is if ($invalid_referer), to referers)", strings.Join(cond, " "))
		return nil, false
	}
	r := &refererIf{at: s.at()}
	seen := dupSet{}
	for _, d := range s.block {
		if !b.check(d, inner, seen) {
			continue
		}
		if r.status != 0 {
			b.warnf(d, "never used: the if answers first")
			continue
		}
		switch d.name {
		case "return":
			rt := b.returnDirective(d, "")
			switch {
			case rt == nil:
				return nil, false
			case rt.Code >= 301 && rt.Code <= 308 && rt.Code != 304 && rt.Code != 305 && rt.Code != 306 && rt.Text != "":
				r.status, r.redirect = rt.Code, rt.Text
			case rt.Code >= 300 && rt.Code < 400:
				b.errorf(d, "not supported by fulcrum: return %d without a URL for an invalid referer", rt.Code)
				return nil, false
			default:
				if rt.Text != "" {
					b.warnf(d, "not used by fulcrum: the text of a return for an invalid referer (only the status %d is sent)", rt.Code)
				}
				r.status = rt.Code
			}
		case "rewrite":
			rw, ok := b.rewrite(d)
			if !ok {
				return nil, false
			}
			if rw.Regex != "^" && rw.Regex != ".*" && rw.Regex != "^.*$" && rw.Regex != "^(.*)$" {
				b.errorf(d, "not supported by fulcrum: rewrite %s inside if ($invalid_referer) (only a rewrite of every URI, like rewrite ^ URL, maps to a redirect)", rw.Regex)
				return nil, false
			}
			switch {
			case rw.Flag == "permanent" && strings.HasPrefix(rw.Replacement, "/") || isRedirectURL(rw.Replacement) && rw.Flag == "permanent":
				r.status = 301
			case rw.Flag == "redirect" || isRedirectURL(rw.Replacement):
				r.status = 302
			default:
				b.errorf(d, "not supported by fulcrum: an internal rewrite for an invalid referer (fulcrum serves no files; redirect with a URL, or return a status)")
				return nil, false
			}
			r.redirect = rw.Replacement
		default:
			b.errorf(d, "not supported by fulcrum: %s inside if ($invalid_referer) (return or a redirecting rewrite map to referers)", d.name)
			return nil, false
		}
	}
	if r.status == 0 {
		b.warnf(s, "not used by fulcrum: an if ($invalid_referer) that does nothing")
		return nil, false
	}
	return r, true
}

// ifCondition strips the parentheses of if's arguments as
// ngx_http_rewrite_if_condition does.
func (b *builder) ifCondition(s *stmt) ([]string, bool) {
	a := append([]string(nil), s.args...)
	if a[0] == "" || a[0][0] != '(' {
		b.errorf(s, "invalid condition %s", rawq(a[0]))
		return nil, false
	}
	if a[0] == "(" {
		a = a[1:]
	} else {
		a[0] = a[0][1:]
	}
	last := len(a) - 1
	if last < 0 || a[last] == "" || a[last][len(a[last])-1] != ')' {
		v := ""
		if last >= 0 {
			v = a[last]
		}
		b.errorf(s, "invalid condition %s", rawq(v))
		return nil, false
	}
	if a[last] == ")" {
		a = a[:last]
	} else {
		a[last] = a[last][:len(a[last])-1]
	}
	if len(a) == 0 {
		b.errorf(s, "invalid condition %s", rawq(")"))
		return nil, false
	}
	return a, true
}

// applyConf writes a location's effective settings into the model.
func (b *builder) applyConf(l *config.Location, c *conf, lp string, rif *refererIf, ctx *serverCtx) {
	for k, h := range c.setHeaders.v {
		b.key(fmt.Sprintf("%s.set_headers[%d]", lp, k), c.setHeaders.ats[k])
		l.SetHeaders = append(l.SetHeaders, h)
	}
	if c.nextUpstream.set {
		b.key(lp+".next_upstream", c.nextUpstream.at)
		l.NextUpstream = c.nextUpstream.v
		if len(l.NextUpstream) == 0 {
			l.NextUpstream = []string{"off"}
		}
	}
	set := func(key string, at pos, ok bool) bool {
		if ok {
			b.key(lp+"."+key, at)
		}
		return ok
	}
	if set("next_upstream_tries", c.nextTries.at, c.nextTries.set) {
		l.NextUpstreamTries = c.nextTries.v
	}
	if set("next_upstream_timeout", c.nextTimeout.at, c.nextTimeout.set) {
		l.NextUpstreamTimeout = c.nextTimeout.v
	}
	if set("connect_timeout", c.connectTimeout.at, c.connectTimeout.set) {
		l.ConnectTimeout = c.connectTimeout.v
	}
	if set("read_timeout", c.readTimeout.at, c.readTimeout.set) {
		l.ReadTimeout = c.readTimeout.v
	}
	if set("send_timeout", c.sendTimeout.at, c.sendTimeout.set) {
		l.SendTimeout = c.sendTimeout.v
	}
	for k, r := range c.limitReq.v {
		b.key(fmt.Sprintf("%s.limit_req[%d]", lp, k), c.limitReq.ats[k])
		l.LimitReq = append(l.LimitReq, r)
	}
	if set("limit_req_status", c.limitReqStatus.at, c.limitReqStatus.set) && len(l.LimitReq) > 0 {
		l.LimitReqStatus = c.limitReqStatus.v
	}
	for k, r := range c.limitConn.v {
		b.key(fmt.Sprintf("%s.limit_conn[%d]", lp, k), c.limitConn.ats[k])
		l.LimitConn = append(l.LimitConn, r)
	}
	if set("limit_conn_status", c.limitConnStatus.at, c.limitConnStatus.set) && len(l.LimitConn) > 0 {
		l.LimitConnStatus = c.limitConnStatus.v
	}
	if rif != nil {
		b.referers(l, c, lp, rif, ctx)
	}
	if c.gzip.set && c.gzip.v {
		b.key(lp+".compression", c.gzip.at)
		cp := &config.Compression{Gzip: true, Level: c.gzipLevel.v, Proxied: c.gzipProxied.v}
		if c.gzipMinLength.set {
			// gzip_min_length 0 compresses everything; the model's 0 is
			// its default, and no body is shorter than 1 byte anyway.
			cp.MinLength = max(c.gzipMinLength.v, 1)
		}
		for k, t := range c.gzipTypes.v {
			b.key(fmt.Sprintf("%s.compression.types[%d]", lp, k), c.gzipTypes.ats[k])
			cp.Types = append(cp.Types, t)
		}
		l.Compression = cp
	}
	b.upstreamTLS(l.ProxyPass, c)
}

// referers turns valid_referers and the if ($invalid_referer) into the
// model's Referers.
func (b *builder) referers(l *config.Location, c *conf, lp string, rif *refererIf, ctx *serverCtx) {
	if len(c.referers.v) == 0 {
		// ngx_http_referer_variable: without valid_referers every
		// referer is valid.
		b.sink.warnf(rif.at, "not used by fulcrum: if ($invalid_referer) without valid_referers is never true")
		return
	}
	b.key(lp+".referers", rif.at)
	names := map[string]bool{}
	if slices.Contains(c.referers.v, "server_names") {
		for _, n := range ctx.names {
			if !strings.HasPrefix(n, "~") {
				names[refererKey(n)] = true
			}
		}
	}
	for k, v := range c.referers.v {
		key := fmt.Sprintf("%s.referers.valid[%d]", lp, k)
		b.key(key, c.referers.ats[k])
		host, _, _ := strings.Cut(v, "/")
		if v != "server_names" && !strings.HasPrefix(v, "~") && names[refererKey(host)] {
			// ngx_http_referer_merge_conf, when the http block ends.
			b.sink.errorf(b.httpEnd, "conflicting parameter %s", rawq(strings.ToLower(host)))
			b.quiet[key] = true
		}
	}
	l.Referers = &config.Referers{Valid: append([]string(nil), c.referers.v...), Status: rif.status, RedirectURL: rif.redirect}
}

// nestedInheritance reports what a nested location would inherit in the
// model but not in nginx: the if ($invalid_referer) (a rewrite module
// directive, per location) and gzip turned off below gzip on.
func (b *builder) nestedInheritance(s *stmt, l, outer *config.Location, lc *conf) {
	if outer.Referers != nil && l.Referers == nil {
		b.errorf(s, "not supported by fulcrum: a nested location without the if ($invalid_referer) of the location around it (in fulcrum a nested location inherits the referer check; repeat the if here)")
	}
	if outer.Compression != nil && l.Compression == nil {
		at := lc.gzip.at
		if !lc.gzip.set {
			at = s.at()
		}
		b.sink.errorf(at, "not supported by fulcrum: gzip off in a location nested in one with gzip on (in fulcrum a nested location inherits compression)")
	}
}

// refererKey is the hash key of a referer or server name: ".a.com" and
// "*.a.com" are one wildcard.
func refererKey(host string) string {
	host = strings.ToLower(host)
	if strings.HasPrefix(host, ".") {
		return "*" + host
	}
	return host
}
