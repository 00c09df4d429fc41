package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fulcrumlb/fulcrum/internal/l7/balance"
	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// Validation of the L7 model. Location matches, rewrites, returns,
// proxy_pass URI parts and server names are compiled with internal/l7/route
// and balancing methods parsed with internal/l7/balance, so that what this
// accepts is what the proxy can run; the messages are nginx's where nginx
// has one.

// httpValidator carries what the checks of one http section share.
type httpValidator struct {
	*validator
	h *HTTP
	// upstreams maps each name to its first index.
	upstreams map[string]int
	// used marks upstreams some proxy_pass names.
	used map[string]bool
	// regexes caches compile results: a document of aliases repeats the
	// same pattern many times.
	regexes map[string]error
	// ex is what the checks of zones, maps and limits share.
	ex extrasValidator
	// srv is the server whose locations are being checked.
	srv *HTTPServer
}

// compileRegex compiles a location, rewrite or header regex with route's
// PCRE translation, once per distinct pattern.
func (hv *httpValidator) compileRegex(modifier, pattern string) error {
	k := modifier + " " + pattern
	if err, ok := hv.regexes[k]; ok {
		return err
	}
	_, err := route.Compile([]*route.Location{{Modifier: modifier, Pattern: pattern}})
	hv.regexes[k] = err
	return err
}

func (v *validator) http(c *Config) {
	h := c.HTTP
	if h == nil {
		return
	}
	hv := &httpValidator{validator: v, h: h, upstreams: map[string]int{}, used: map[string]bool{}, regexes: map[string]error{}}
	lower := map[string]int{}
	for i := range h.Upstreams {
		u := &h.Upstreams[i]
		key := fmt.Sprintf("http.upstreams[%d].name", i)
		switch {
		case u.Name == "":
			v.errorf(key, "missing: proxy_pass names an upstream by this name")
			continue
		case nameProblem(u.Name) != "":
			v.errorf(key, "%q %s", u.Name, nameProblem(u.Name))
			continue
		}
		// ngx_http_upstream_add compares names case-insensitively.
		if j, dup := lower[strings.ToLower(u.Name)]; dup {
			v.errorf(key, "duplicate upstream %q (also upstreams[%d])", u.Name, j)
			continue
		}
		lower[strings.ToLower(u.Name)] = i
		hv.upstreams[u.Name] = i
	}
	hv.httpExtras()
	for i := range h.Servers {
		hv.server(fmt.Sprintf("http.servers[%d]", i), &h.Servers[i])
	}
	hv.sockets(c)
	for i := range h.Upstreams {
		hv.upstream(fmt.Sprintf("http.upstreams[%d]", i), &h.Upstreams[i])
	}
	for i, p := range h.TrustedProxies {
		if !p.IsValid() {
			v.errorf(fmt.Sprintf("http.trusted_proxies[%d]", i), "invalid CIDR")
		}
	}
	hv.accessLog(&h.AccessLog)
	hv.limits(&h.Limits)
}

func (hv *httpValidator) accessLog(a *AccessLog) {
	switch {
	case a.Path == "" && a.Format != "":
		hv.warnf("http.access_log.format", "unused: the access log is off without a path")
	case a.Path != "" && a.Path != "-" && !filepath.IsAbs(a.Path):
		hv.errorf("http.access_log.path", "%q is not an absolute path (\"-\" is stdout)", a.Path)
	}
	switch a.Format {
	case "", "combined", "json":
	default:
		hv.errorf("http.access_log.format", "unknown format %q: want combined (nginx's) or json", a.Format)
	}
}

func (hv *httpValidator) limits(l *HTTPLimits) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"header_timeout", l.HeaderTimeout}, {"body_timeout", l.BodyTimeout}, {"keepalive_timeout", l.KeepaliveTimeout}} {
		if d.v < 0 {
			hv.errorf("http.limits."+d.key, "%s is negative", formatDuration(d.v))
		}
	}
	if l.MaxHeaderBytes < 0 {
		hv.errorf("http.limits.max_header_bytes", "%d is negative", l.MaxHeaderBytes)
	}
	if l.MaxHeaders < 0 {
		hv.errorf("http.limits.max_headers", "%d is negative", l.MaxHeaders)
	}
	if l.MaxBodyBytes < -1 {
		hv.errorf("http.limits.max_body_bytes", "%d is out of range: -1 is unlimited", l.MaxBodyBytes)
	}
}

func (hv *httpValidator) server(sp string, s *HTTPServer) {
	if len(s.Listen) == 0 {
		hv.errorf(sp+".listen", "missing: a server needs at least one listen address")
	}
	tls := -1
	seen := map[netip.AddrPort]int{}
	for j, l := range s.Listen {
		lp := fmt.Sprintf("%s.listen[%d]", sp, j)
		switch {
		case !l.Address.IsValid():
			hv.errorf(lp+".address", "missing: want ip:port")
			continue
		case l.Address.Port() == 0:
			hv.errorf(lp+".address", "port 0: a listener needs a fixed port")
			continue
		}
		if k, dup := seen[l.Address]; dup {
			// ngx_http_add_addresses: "a duplicate listen".
			hv.errorf(lp, "a duplicate listen %s (also listen[%d])", l.Address, k)
			continue
		}
		seen[l.Address] = j
		if l.TLS && tls < 0 {
			tls = j
		}
		if l.ProxyProtocol && len(hv.h.TrustedProxies) == 0 {
			hv.errorf(lp, "proxy_protocol is accepted only from http.trusted_proxies, and there are none: every connection would be refused")
		}
	}
	for j, n := range s.ServerNames {
		np := fmt.Sprintf("%s.server_names[%d]", sp, j)
		if _, err := route.NewHosts([]*route.Server{{Names: []string{n}}}); err != nil {
			// ngx_http_core_server_name and ngx_hash_add_key.
			hv.errorf(np, "%s", hostsProblem(n, err))
			continue
		}
		switch {
		case !strings.HasPrefix(n, "~") && hasSpace(n):
			hv.errorf(np, "%q contains white space or control characters: no Host header matches it", n)
		case strings.Contains(n, "/"):
			hv.warnf(np, "server name %q has suspicious symbols: a Host header has no \"/\"", n)
		}
	}
	switch {
	case tls >= 0 && len(s.Certificates) == 0:
		// ngx_http_ssl_merge_srv_conf: no "ssl_certificate" is defined for
		// the "listen ... ssl" directive.
		hv.errorf(sp+".certificates", "missing: listen[%d] has tls, so the server needs a certificate", tls)
	case tls < 0 && len(s.Certificates) > 0:
		hv.warnf(sp+".certificates", "unused: no listener of this server has tls")
	}
	for j, c := range s.Certificates {
		cp := fmt.Sprintf("%s.certificates[%d]", sp, j)
		hv.pemFile(cp+".cert_file", c.CertFile, "the certificate chain")
		hv.pemFile(cp+".key_file", c.KeyFile, "the private key")
	}
	if len(s.Locations) == 0 {
		hv.warnf(sp+".locations", "no locations: every request gets 404")
		return
	}
	before := hv.errorCount()
	hv.srv = s
	hv.locations(sp+".locations", s.Locations, nil, 0)
	hv.srv = nil
	if hv.errorCount() == before {
		// What route.Compile still refuses, the checks above missed; say
		// so rather than fail when the config is applied.
		if _, err := route.Compile(routeTree(s.Locations, 0)); err != nil {
			hv.errorf(sp+".locations", "%v", err)
		}
	}
}

func (v *validator) errorCount() int {
	n := 0
	for _, d := range v.ds {
		if d.Severity == Error {
			n++
		}
	}
	return n
}

// pemFile checks a certificate or key path. The file is loaded when the
// config is applied; one that cannot be read now is only a warning, so
// that a config can be checked on another machine.
func (hv *httpValidator) pemFile(key, path, what string) {
	if path == "" {
		hv.errorf(key, "missing: the PEM file of %s", what)
		return
	}
	if f, err := os.Open(path); err != nil {
		hv.warnf(key, "cannot be read now (%v); it is loaded when the config is applied", unwrapPath(err))
	} else {
		f.Close()
	}
}

// hostsProblem turns a route.NewHosts error into nginx's message.
func hostsProblem(name string, err error) string {
	if strings.HasPrefix(name, "~") && len(name) > 1 {
		return regexProblem(name[1:], err)
	}
	return err.Error()
}

// sockets checks the listeners of all servers together: one socket is TLS
// or plain, with or without PROXY protocol, for every server on it; at
// most one default_server per socket; names claimed twice on a socket; a
// wildcard listener that would take the port of a specific one; and
// clashes with the L4 services, demo backends and admin listener.
func (hv *httpValidator) sockets(c *Config) {
	type use struct {
		server, listen int
		l              HTTPListen
	}
	var order []netip.AddrPort
	socks := map[netip.AddrPort][]use{}
	for i, s := range hv.h.Servers {
		seen := map[netip.AddrPort]bool{}
		for j, l := range s.Listen {
			if !l.Address.IsValid() || l.Address.Port() == 0 || seen[l.Address] {
				continue
			}
			seen[l.Address] = true
			if socks[l.Address] == nil {
				order = append(order, l.Address)
			}
			socks[l.Address] = append(socks[l.Address], use{i, j, l})
		}
	}
	key := func(u use) string { return fmt.Sprintf("http.servers[%d].listen[%d]", u.server, u.listen) }
	warned := map[[2]int]bool{}
	for _, a := range order {
		uses := socks[a]
		first, def := uses[0], -1
		for _, u := range uses {
			if u.l.Default {
				if def >= 0 {
					// ngx_http_add_addresses.
					hv.errorf(key(u), "a duplicate default server for %s (also servers[%d])", a, def)
				} else {
					def = u.server
				}
			}
			if u.server == first.server {
				continue
			}
			for _, f := range []struct {
				name     string
				got, was bool
			}{{"tls", u.l.TLS, first.l.TLS}, {"http2", u.l.HTTP2, first.l.HTTP2}, {"proxy_protocol", u.l.ProxyProtocol, first.l.ProxyProtocol}} {
				if f.got != f.was {
					hv.errorf(key(u), "%s is also a listener of servers[%d] with %s %s: the servers on one socket share its %s setting", a, first.server, f.name, onOff(f.was), f.name)
				}
			}
		}
		servers := make([]int, len(uses))
		for k, u := range uses {
			servers[k] = u.server
		}
		hv.nameConflicts(a, servers, warned)
	}
	// A wildcard address takes its port on every address of its family
	// (IPv6 sockets are IPV6_V6ONLY): the kernel refuses to bind a
	// specific address on that port as well (EADDRINUSE).
	for i, a := range order {
		for _, b := range order[:i] {
			if a.Port() == b.Port() && (overlaps(a.Addr(), b.Addr()) || overlaps(b.Addr(), a.Addr())) {
				hv.errorf(key(socks[a][0]), "%s overlaps %s of servers[%d]: both cannot be bound; listen on the same address in both servers", a, b, socks[b][0].server)
				break
			}
		}
	}
	for _, a := range order {
		u := socks[a][0]
		for i, s := range c.Services {
			if s.FWMark == 0 && s.Protocol == TCP && s.Address.IsValid() && s.Address.Port() == a.Port() &&
				(s.Address.Addr() == a.Addr() || overlaps(a.Addr(), s.Address.Addr()) || overlaps(s.Address.Addr(), a.Addr())) {
				hv.errorf(key(u), "%s clashes with the address %s of services[%d]", a, s.Address, i)
			}
		}
		if c.Demo != nil {
			for i, b := range c.Demo.Backends {
				if b.Protocol == TCP && b.Address.IsValid() && b.Address.Port() == a.Port() &&
					(b.Address.Addr() == a.Addr() || overlaps(a.Addr(), b.Address.Addr()) || overlaps(b.Address.Addr(), a.Addr())) {
					hv.errorf(key(u), "%s clashes with the address %s of demo.backends[%d]", a, b.Address, i)
				}
			}
		}
		if ap, err := netip.ParseAddrPort(c.Admin.Listen); err == nil && ap.Port() == a.Port() &&
			(ap.Addr() == a.Addr() || overlaps(a.Addr(), ap.Addr()) || overlaps(ap.Addr(), a.Addr())) {
			hv.errorf(key(u), "%s clashes with admin.listen %s", a, ap)
		}
	}
}

// overlaps reports whether a listener on wildcard w takes address a's port.
// The proxy binds IPv6 addresses as "tcp6", which Go opens with
// IPV6_V6ONLY, so [::] takes the port on IPv6 addresses only, as nginx's
// default ipv6only=on: "listen 80; listen [::]:80;" binds both.
func overlaps(w, a netip.Addr) bool {
	if w == a || !w.IsUnspecified() {
		return false
	}
	return w.Is4() == a.Is4()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// nameConflicts warns about server names claimed twice on one socket, as
// nginx's ngx_http_server_names does ("conflicting server name"): the
// first claim wins. A server without names claims "" (requests without
// Host).
func (hv *httpValidator) nameConflicts(a netip.AddrPort, servers []int, warned map[[2]int]bool) {
	claimed := map[string]int{}
	done := map[int]bool{}
	for _, i := range servers {
		if done[i] {
			continue
		}
		done[i] = true
		s := &hv.h.Servers[i]
		names := s.ServerNames
		if len(names) == 0 {
			names = []string{""}
		}
		for j, n := range names {
			for _, k := range nameKeys(n) {
				owner, dup := claimed[k]
				if !dup {
					claimed[k] = i
					continue
				}
				if warned[[2]int{i, j}] {
					break
				}
				warned[[2]int{i, j}] = true
				key := fmt.Sprintf("http.servers[%d].server_names[%d]", i, j)
				if len(s.ServerNames) == 0 {
					key = fmt.Sprintf("http.servers[%d]", i)
				}
				if owner == i {
					hv.warnf(key, "conflicting server name %q on %s, ignored: the server lists it twice", n, a)
				} else {
					hv.warnf(key, "conflicting server name %q on %s, ignored: servers[%d] has it", n, a, owner)
				}
				break
			}
		}
	}
}

// nameKeys are the hash keys a server name takes (ngx_hash_add_key):
// exact names, "*.suffix" and ".suffix" heads, "prefix.*" tails; a regex
// takes none.
func nameKeys(n string) []string {
	n = strings.ToLower(n)
	switch {
	case strings.HasPrefix(n, "~"):
		return nil
	case len(n) > 1 && n[0] == '.':
		return []string{"=" + n[1:], "*" + n[1:]}
	case len(n) > 2 && strings.HasPrefix(n, "*."):
		return []string{"*" + n[2:]}
	case len(n) > 2 && strings.HasSuffix(n, ".*"):
		return []string{"." + n[:len(n)-2]}
	}
	return []string{"=" + n}
}

// staticKey identifies a static location in a level: nginx keeps one
// exact and one inclusive (prefix or ^~) location per name
// (ngx_http_join_exact_locations).
type staticKey struct {
	exact bool
	name  string
}

// locations checks one level of locations. parent is nil at the server
// level, or when the enclosing location's match did not parse.
func (hv *httpValidator) locations(p string, locs []Location, parent *route.Location, depth int) {
	static := map[staticKey]int{}
	regexes := map[string]int{}
	for i := range locs {
		lp := fmt.Sprintf("%s[%d]", p, i)
		rl := hv.location(lp, &locs[i], parent, depth)
		if rl == nil {
			continue
		}
		switch rl.Modifier {
		case route.ModExact, route.ModPrefix, route.ModPrefixNoRegex:
			k := staticKey{rl.Modifier == route.ModExact, rl.Pattern}
			if j, dup := static[k]; dup {
				hv.errorf(lp+".match", "duplicate location %s (also %s[%d])", quoteRaw(rl.Pattern), lastSegment(p), j)
			} else {
				static[k] = i
			}
		default:
			k := rl.Modifier + " " + rl.Pattern
			if j, dup := regexes[k]; dup {
				hv.warnf(lp+".match", "never used: %s[%d] has the same match and comes first", lastSegment(p), j)
			} else {
				regexes[k] = i
			}
		}
	}
}

// location checks one location and returns its route form, or nil when
// its match does not parse.
func (hv *httpValidator) location(lp string, l *Location, parent *route.Location, depth int) *route.Location {
	if depth > maxLocationDepth {
		hv.errorf(lp, "locations nested deeper than %d", maxLocationDepth)
		return nil
	}
	var rl *route.Location
	mod, pat, err := ParseLocationMatch(l.Match)
	if err != nil {
		hv.errorf(lp+".match", "%v", err)
	} else {
		rl = &route.Location{Modifier: mod, Pattern: pat}
		hv.locationMatch(lp+".match", rl, parent)
	}
	hv.locationHandler(lp, l)
	for j, rw := range l.Rewrites {
		hv.rewrite(fmt.Sprintf("%s.rewrites[%d]", lp, j), &rw)
	}
	if r := l.Return; r != nil {
		switch {
		case r.Code == 0:
			hv.errorf(lp+".return.code", "missing: the status to answer with")
		case r.Code < 200 || r.Code > 999:
			// ngx_http_rewrite_return takes up to 999; an informational
			// status cannot end a request.
			hv.errorf(lp+".return.code", "invalid return code %d: want a final status, 200..999", r.Code)
		default:
			if _, err := route.NewScript([]route.Directive{&route.Return{Code: r.Code, Text: r.Text}}); err != nil {
				hv.errorf(lp+".return.text", "%v", err)
			}
		}
	}
	if l.ProxyPass != "" {
		hv.proxyPass(lp+".proxy_pass", l.ProxyPass, rl)
	}
	hv.routes(lp, l.Routes, rl)
	hv.proxySettings(lp, l)
	hv.locationExtras(lp, l)
	if len(l.Locations) > 0 {
		if depth+1 > maxLocationDepth {
			hv.errorf(lp+".locations", "locations nested deeper than %d", maxLocationDepth)
		} else {
			hv.locations(lp+".locations", l.Locations, rl, depth+1)
		}
	}
	return rl
}

// locationMatch checks a parsed match: the regex compiles with route's
// PCRE translation, and the nesting rules of ngx_http_core_location hold.
func (hv *httpValidator) locationMatch(key string, rl *route.Location, parent *route.Location) {
	regex := rl.Modifier == route.ModRegex || rl.Modifier == route.ModRegexCaseless
	if regex {
		if err := hv.compileRegex(rl.Modifier, rl.Pattern); err != nil {
			hv.errorf(key, "%s", regexProblem(rl.Pattern, err))
		}
	}
	if parent != nil {
		// ngx_http_core_location prints the names as written.
		name, pname := quoteRaw(rl.Name()), quoteRaw(parent.Name())
		switch {
		case parent.Modifier == route.ModExact:
			hv.errorf(key, "location %s cannot be inside the exact location %s", name, pname)
			return
		case parent.Modifier == route.ModNamed:
			hv.errorf(key, "location %s cannot be inside the named location %s", name, pname)
			return
		case rl.Modifier == route.ModNamed:
			hv.errorf(key, "named location %s can be on the server level only", name)
			return
		case !regex && !strings.HasPrefix(rl.Pattern, parent.Pattern):
			hv.errorf(key, "location %s is outside location %s", name, pname)
			return
		case parent.Modifier == route.ModRegex || parent.Modifier == route.ModRegexCaseless:
			return // a static name inside a regex starts with the regex source
		}
	}
	switch {
	case rl.Modifier == route.ModNamed:
		hv.warnf(key, "unreachable: nothing in this configuration sends a request to a named location")
	case !regex && !strings.HasPrefix(rl.Pattern, "/"):
		hv.warnf(key, "never matches: a request's URI starts with \"/\"")
	}
}

// locationHandler checks that one thing answers the requests of a
// location: return, proxy_pass, or routes (with proxy_pass as their
// fallback); a rewrite that ends the rewrite phase (last, redirect,
// permanent, or a replacement that is a URL) counts too.
func (hv *httpValidator) locationHandler(lp string, l *Location) {
	proxies := l.ProxyPass != "" || len(l.Routes) > 0
	if l.Return != nil && proxies {
		what := "proxy_pass"
		if len(l.Routes) > 0 {
			what = "routes"
		}
		hv.errorf(lp+".return", "return and %s exclude each other: a location either answers or proxies", what)
	}
	if l.Return != nil || proxies {
		if len(l.Routes) > 0 && l.ProxyPass == "" && !matchesAll(l.Routes[len(l.Routes)-1].Match) {
			hv.warnf(lp+".routes", "a request no route matches has nowhere to go (404): add proxy_pass as the fallback, or a last route without conditions")
		}
		return
	}
	for _, rw := range l.Rewrites {
		if rw.Flag == "last" || rw.Flag == "redirect" || rw.Flag == "permanent" || isRedirectURL(rw.Replacement) {
			return
		}
	}
	if len(l.Locations) == 0 {
		hv.errorf(lp, "nothing answers the requests of this location: give it proxy_pass, return or routes")
	} else {
		hv.warnf(lp, "a request that matches no nested location gets 404: give this location proxy_pass, return or routes")
	}
}

func matchesAll(m RouteMatch) bool {
	return len(m.Headers) == 0 && len(m.Cookies) == 0 && len(m.Query) == 0 && len(m.Methods) == 0 &&
		len(m.Sources) == 0 && len(m.UserAgents) == 0 && len(m.Languages) == 0
}

var rewriteFlags = []string{"last", "break", "redirect", "permanent"}

func (hv *httpValidator) rewrite(rp string, rw *Rewrite) {
	regexOK := true
	switch {
	case rw.Regex == "":
		hv.errorf(rp+".regex", "missing: the regex the URI must match")
		regexOK = false
	default:
		if err := hv.compileRegex(route.ModRegex, rw.Regex); err != nil {
			hv.errorf(rp+".regex", "%s", regexProblem(rw.Regex, err))
			regexOK = false
		}
	}
	flagOK := rw.Flag == "" || slices.Contains(rewriteFlags, rw.Flag)
	if !flagOK {
		// ngx_http_rewrite: invalid parameter.
		hv.errorf(rp+".flag", "invalid parameter %q: want last, break, redirect or permanent", rw.Flag)
	}
	if rw.Replacement == "" {
		hv.errorf(rp+".replacement", "missing: the new URI")
		return
	}
	if regexOK && flagOK {
		if _, err := route.NewScript([]route.Directive{&route.Rewrite{Regex: rw.Regex, Replacement: rw.Replacement, Flag: rw.Flag}}); err != nil {
			hv.errorf(rp+".replacement", "%v", err)
		}
	}
}

// regexProblem explains why route refused a regex: a PCRE construct RE2
// lacks, or a syntax error.
func regexProblem(pattern string, err error) string {
	var ue *route.UnsupportedRegexError
	if errors.As(err, &ue) {
		return fmt.Sprintf("regex %s uses %s at offset %d: nginx's PCRE has it, Go's RE2 engine does not; write the pattern without it", quoteRaw(ue.Pattern), ue.Construct, ue.Offset)
	}
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid regex %s: %s", quoteRaw(pattern), se.Code)
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), "regex ") {
			return "invalid " + e.Error()
		}
	}
	return err.Error()
}

// proxyPass checks a proxy_pass URL in location rl (nil when the match did
// not parse): scheme, host (an upstream, or host:port), and nginx's rule
// on a URI part in a regex or named location (ngx_http_proxy_pass).
func (hv *httpValidator) proxyPass(key, url string, rl *route.Location) {
	scheme, host, _, err := SplitProxyPass(url)
	if err != nil {
		hv.errorf(key, "%v: want http://UPSTREAM[/URI], https://UPSTREAM[/URI], or a host:port instead of UPSTREAM", err)
		return
	}
	switch {
	case strings.HasPrefix(strings.ToLower(host), "unix:"):
		hv.errorf(key, "unix sockets are not supported: name an upstream or a host:port")
		return
	case strings.Contains(host, "$"):
		hv.errorf(key, "variables in the host are not supported: name an upstream or a host:port")
		return
	}
	if i, ok := hv.upstreams[host]; ok {
		hv.used[host] = true
		if scheme == "http" && hv.h.Upstreams[i].TLS != nil {
			hv.errorf(key, "upstream %q has tls, but the URL says http://; use https://", host)
		}
	} else if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil || strings.ContainsAny(host, ":[") {
		if msg := hostPortProblem(host); msg != "" {
			hv.errorf(key, "%q %s", host, msg)
			return
		}
	} else {
		hint := ""
		for name := range hv.upstreams {
			if strings.EqualFold(name, host) {
				hint = fmt.Sprintf(" (did you mean %s?)", name)
			}
		}
		if hint == "" {
			names := make([]string, 0, len(hv.upstreams))
			for name := range hv.upstreams {
				names = append(names, name)
			}
			slices.Sort(names)
			if len(names) > 0 {
				hint = " (upstreams: " + strings.Join(names, ", ") + ")"
			}
		}
		hv.errorf(key, "no upstream named %q%s; a server outside http.upstreams is written host:port", host, hint)
		return
	}
	if rl != nil {
		if err := (route.ProxyPass{URL: url}).Check(rl, route.InLocation); err != nil {
			hv.errorf(key, "%v", err)
		}
	}
}

// hostPortProblem checks "host:port" for an upstream server or proxy_pass:
// a port 1..65535 and an IP address or a DNS name.
func hostPortProblem(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "is not host:port (IPv6 in brackets, like [2001:db8::1]:80)"
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Sprintf("has port %q, not a number in 1..65535", port)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.IsUnspecified() {
			return "is the unspecified address"
		}
		return ""
	}
	if strings.HasPrefix(s, "[") {
		return "is not host:port: an IPv6 address in brackets"
	}
	return nameProblem(host)
}

// nameProblem checks a DNS name, or an upstream name (which stands where
// the URL has its host): dot-separated labels of letters, digits, "-" and
// "_", each 1..63 bytes, 253 in all.
func nameProblem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > 253:
		return "is longer than 253 bytes"
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		switch {
		case l == "":
			return "has an empty label"
		case len(l) > 63:
			return "has a label longer than 63 bytes"
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !isAlnum(c) && c != '-' && c != '_' {
				return fmt.Sprintf("has %q: a name takes letters, digits, \"-\", \"_\" and dots", c)
			}
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isToken reports an RFC 9110 section 5.6.2 token (header field names,
// methods, cookie names per RFC 6265).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// cookieValueProblem checks RFC 6265 section 4.1.1 cookie-octets.
func cookieValueProblem(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
			return fmt.Sprintf("has %q, which a cookie value cannot hold (RFC 6265)", c)
		}
	}
	return ""
}

// validLanguageTag accepts BCP 47-like tags as RFC 4647 section 2.1
// ranges are spelt, without "*": a primary subtag of 1-8 letters, then
// subtags of 1-8 letters or digits ("zh", "zh-CN", "zh-Hant-TW").
func validLanguageTag(t string) bool {
	for i, sub := range strings.Split(t, "-") {
		if len(sub) == 0 || len(sub) > 8 {
			return false
		}
		for j := 0; j < len(sub); j++ {
			c := sub[j]
			letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !letter && (i == 0 || c < '0' || c > '9') {
				return false
			}
		}
	}
	return true
}

func (hv *httpValidator) routes(lp string, routes []HTTPRoute, rl *route.Location) {
	languages := map[string]int{}
	for j := range routes {
		rt := &routes[j]
		rp := fmt.Sprintf("%s.routes[%d]", lp, j)
		if rt.ProxyPass == "" {
			hv.errorf(rp+".proxy_pass", "missing: a route sends the requests it matches to this URL")
		} else {
			hv.proxyPass(rp+".proxy_pass", rt.ProxyPass, rl)
		}
		m := &rt.Match
		mp := rp + ".match"
		hv.headerMatches(mp+".headers", m.Headers, "header", isToken)
		hv.headerMatches(mp+".cookies", m.Cookies, "cookie", isToken)
		hv.headerMatches(mp+".query", m.Query, "query parameter", func(s string) bool { return s != "" })
		for k, meth := range m.Methods {
			key := fmt.Sprintf("%s.methods[%d]", mp, k)
			switch {
			case !isToken(meth):
				hv.errorf(key, "%q is not a method name", meth)
			case meth != strings.ToUpper(meth):
				// RFC 9110 section 9.1: methods are case-sensitive.
				hv.warnf(key, "%q is not upper case; methods are case-sensitive, so it matches no standard method", meth)
			}
		}
		for k, p := range m.Sources {
			if !p.IsValid() {
				hv.errorf(fmt.Sprintf("%s.sources[%d]", mp, k), "invalid CIDR")
			}
		}
		for k, ua := range m.UserAgents {
			if !slices.Contains(userAgentClasses, ua) {
				hv.errorf(fmt.Sprintf("%s.user_agents[%d]", mp, k), "unknown user agent class %q: want one of %s", ua, strings.Join(userAgentClasses, ", "))
			}
		}
		for k, lang := range m.Languages {
			key := fmt.Sprintf("%s.languages[%d]", mp, k)
			if !validLanguageTag(lang) {
				hv.errorf(key, "%q is not a language tag like en, zh or zh-CN", lang)
				continue
			}
			if i, dup := languages[strings.ToLower(lang)]; dup {
				hv.warnf(key, "language %q is also in routes[%d], which comes first and takes its requests", lang, i)
			} else {
				languages[strings.ToLower(lang)] = j
			}
		}
		if matchesAll(*m) && j < len(routes)-1 {
			hv.warnf(rp, "has no conditions and matches every request: the routes after it are never used")
		}
	}
}

func (hv *httpValidator) headerMatches(p string, ms []HeaderMatch, what string, validName func(string) bool) {
	for k, m := range ms {
		key := fmt.Sprintf("%s[%d]", p, k)
		if m.Name == "" {
			hv.errorf(key+".name", "missing: the %s name", what)
		} else if !validName(m.Name) {
			hv.errorf(key+".name", "%q is not a valid %s name", m.Name, what)
		}
		switch {
		case m.Value != "" && m.Regex != "":
			hv.errorf(key+".regex", "value and regex exclude each other: match the exact value or the regex")
		case m.Regex != "":
			// route.NewHeaderRegex compiles as a case-sensitive location
			// regex does.
			if err := hv.compileRegex(route.ModRegex, m.Regex); err != nil {
				hv.errorf(key+".regex", "%s", regexProblem(m.Regex, err))
			}
		}
	}
}

// proxySettings checks the proxy_* settings of a location.
func (hv *httpValidator) proxySettings(lp string, l *Location) {
	names := map[string]int{}
	for j, h := range l.SetHeaders {
		key := fmt.Sprintf("%s.set_headers[%d]", lp, j)
		switch {
		case h.Name == "":
			hv.errorf(key+".name", "missing: the header name")
			continue
		case !isToken(h.Name):
			hv.errorf(key+".name", "%q is not a valid header name", h.Name)
			continue
		case strings.ContainsAny(h.Value, "\r\n\x00"):
			hv.errorf(key+".value", "a header value cannot hold CR, LF or NUL")
		}
		if k, dup := names[strings.ToLower(h.Name)]; dup {
			hv.warnf(key+".name", "%s is also set by set_headers[%d]: both are sent", h.Name, k)
		} else {
			names[strings.ToLower(h.Name)] = j
		}
	}
	seen := map[string]int{}
	for j, c := range l.NextUpstream {
		key := fmt.Sprintf("%s.next_upstream[%d]", lp, j)
		lc := strings.ToLower(c)
		switch k, dup := seen[lc]; {
		case !slices.Contains(nextUpstreamValues, lc):
			// ngx_conf_set_bitmask_slot: invalid value.
			hv.errorf(key, "invalid value %q: want %s", c, strings.Join(nextUpstreamValues, ", "))
		case dup:
			hv.warnf(key, "duplicate value %q (also next_upstream[%d])", c, k)
		default:
			seen[lc] = j
		}
	}
	if _, off := seen["off"]; off && len(seen) > 1 {
		// ngx_http_proxy_merge_loc_conf: with "off" nothing is retried.
		hv.warnf(lp+".next_upstream", "off turns retries off; the other conditions are ignored")
	}
	if l.NextUpstreamTries < 0 {
		hv.errorf(lp+".next_upstream_tries", "%d is negative (0 is unlimited)", l.NextUpstreamTries)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"next_upstream_timeout", l.NextUpstreamTimeout}, {"connect_timeout", l.ConnectTimeout}, {"read_timeout", l.ReadTimeout}, {"send_timeout", l.SendTimeout}} {
		if d.v < 0 {
			hv.errorf(lp+"."+d.key, "%s is negative", formatDuration(d.v))
		}
	}
}

// maxKetamaPoints bounds the ring of "hash ... consistent": nginx puts 160
// points per unit of weight (ngx_http_upstream_init_chash), so huge
// weights would take gigabytes.
const maxKetamaPoints = 1 << 24

// maxHAProxyWeight is HAProxy's SRV_UWGHT_MAX.
const maxHAProxyWeight = 256

func (hv *httpValidator) upstream(up string, u *Upstream) {
	if u.Name != "" && !hv.used[u.Name] {
		if _, known := hv.upstreams[u.Name]; known {
			hv.warnf(up+".name", "unused: no proxy_pass names upstream %q", u.Name)
		}
	}
	bc, err := u.BalanceConfig()
	if err != nil {
		key := up + ".balance"
		if strings.HasPrefix(err.Error(), "hash_type") || strings.Contains(err.Error(), "with hash_type") {
			key = up + ".hash_type"
		}
		hv.errorf(key, "%v", err)
	}
	known := err == nil
	nginxMethod := known && bc.Method >= balance.NginxRoundRobin && bc.Method <= balance.NginxRandomTwo
	haproxyMethod := known && bc.Method >= balance.HAProxyRoundRobin && bc.Method <= balance.HAProxyHash
	// ngx_http_upstream_server: only round robin and least_conn take
	// backup servers; HAProxy takes them with every algorithm; the EWMA
	// balancer has no backup group.
	backupOK := !known || haproxyMethod || bc.Method == balance.NginxRoundRobin || bc.Method == balance.NginxLeastConn
	if len(u.Servers) == 0 {
		// ngx_http_upstream: "no servers are inside upstream".
		hv.errorf(up+".servers", "no servers are inside upstream %q", u.Name)
	}
	primaries, points := 0, 0
	addrs := map[string]int{}
	ids := map[int]int{}
	for j := range u.Servers {
		s := &u.Servers[j]
		sp := fmt.Sprintf("%s.servers[%d]", up, j)
		switch {
		case s.Address == "":
			hv.errorf(sp+".address", "missing: host:port")
		case strings.HasPrefix(strings.ToLower(s.Address), "unix:"):
			hv.errorf(sp+".address", "unix sockets are not supported: want host:port")
		case hostPortProblem(s.Address) != "":
			hv.errorf(sp+".address", "%q %s", s.Address, hostPortProblem(s.Address))
		default:
			if k, dup := addrs[s.Address]; dup {
				hv.warnf(sp+".address", "%s is also servers[%d]: it gets the share of both", s.Address, k)
			} else {
				addrs[s.Address] = j
			}
		}
		w := max(s.Weight, DefaultWeight)
		switch {
		case s.Weight < 0:
			hv.errorf(sp+".weight", "%d is out of range: a weight is 1 or more", s.Weight)
		case haproxyMethod && s.Weight > maxHAProxyWeight:
			hv.errorf(sp+".weight", "%d is out of range 1..%d for an HAProxy balancing method", s.Weight, maxHAProxyWeight)
		}
		if s.MaxFails < -1 {
			hv.errorf(sp+".max_fails", "%d is out of range: -1 turns failure accounting off", s.MaxFails)
		}
		switch {
		case s.FailTimeout < 0:
			hv.errorf(sp+".fail_timeout", "%s is negative", formatDuration(s.FailTimeout))
		case s.FailTimeout%time.Second != 0:
			// ngx_http_upstream_server: ngx_parse_time(value, 1), seconds.
			hv.errorf(sp+".fail_timeout", "%s is not a whole number of seconds; nginx counts fail_timeout in seconds", s.FailTimeout)
		}
		if s.MaxConns < 0 {
			hv.errorf(sp+".max_conns", "%d is negative (0 is unlimited)", s.MaxConns)
		}
		switch {
		case s.SlowStart < 0:
			hv.errorf(sp+".slow_start", "%s is negative", formatDuration(s.SlowStart))
		case s.SlowStart > 0 && nginxMethod:
			hv.warnf(sp+".slow_start", "has no effect with an nginx balancing method (slow_start is NGINX Plus only); use an HAProxy method or ewma")
		}
		switch k, dup := ids[s.ID]; {
		case s.ID < 0:
			hv.errorf(sp+".id", "%d is negative (0 assigns one)", s.ID)
		case s.ID > 0 && dup:
			// HAProxy check_config_validity.
			hv.errorf(sp+".id", "id %d is already used by servers[%d]", s.ID, k)
		case s.ID > 0:
			ids[s.ID] = j
		}
		if s.Cookie != "" {
			if msg := cookieValueProblem(s.Cookie); msg != "" {
				hv.errorf(sp+".cookie", "%q %s", s.Cookie, msg)
			} else if u.Sticky == nil || u.Sticky.Cookie == "" {
				hv.warnf(sp+".cookie", "unused: the upstream has no sticky cookie")
			}
		}
		if s.Backup && !backupOK {
			hv.errorf(sp+".backup", "balancing method does not support parameter \"backup\" (%s)", strings.TrimSpace(u.Balance))
		}
		if !s.Backup {
			primaries++
			if points <= maxKetamaPoints && w <= maxKetamaPoints {
				points += 160 * w
			}
		}
	}
	if len(u.Servers) > 0 && primaries == 0 && known && !haproxyMethod {
		// ngx_http_upstream_init_round_robin: "no servers in upstream".
		hv.errorf(up+".servers", "no servers in upstream %q: every server is a backup", u.Name)
	}
	if known && bc.Method == balance.NginxHashConsistent && points > maxKetamaPoints {
		hv.errorf(up+".servers", "the weights make a consistent-hash ring of more than %d points (160 per unit of weight); use smaller weights", maxKetamaPoints)
	}
	if u.Keepalive < -1 {
		hv.errorf(up+".keepalive", "%d is out of range: -1 keeps no idle connection", u.Keepalive)
	}
	if u.KeepaliveTimeout < 0 {
		hv.errorf(up+".keepalive_timeout", "%s is negative", formatDuration(u.KeepaliveTimeout))
	}
	if t := u.TLS; t != nil {
		if hasSpace(t.ServerName) {
			hv.errorf(up+".tls.server_name", "%q contains white space or control characters", t.ServerName)
		}
		if t.CAFile != "" {
			if t.InsecureSkipVerify {
				hv.warnf(up+".tls.ca_file", "unused: insecure_skip_verify does not verify the servers' certificates")
			}
			hv.pemFile(up+".tls.ca_file", t.CAFile, "the CA certificates")
		} else if t.InsecureSkipVerify {
			hv.warnf(up+".tls.insecure_skip_verify", "the servers' certificates are not verified: anyone on the path can read and change the traffic")
		}
	}
	switch u.ProxyProtocol {
	case "", "v1", "v2":
	default:
		hv.errorf(up+".proxy_protocol", "unknown PROXY protocol version %q: want v1 or v2 (or leave it out)", u.ProxyProtocol)
	}
	if u.Sticky != nil {
		hv.sticky(up+".sticky", u.Sticky)
	}
	hv.upstreamHealth(up+".health", u)
	if u.RetryBudget < 0 || u.RetryBudget > 1 || math.IsNaN(u.RetryBudget) {
		hv.errorf(up+".retry_budget", "%g is out of range: a fraction of the requests in flight, more than 0 and at most 1", u.RetryBudget)
	}
}

func (hv *httpValidator) sticky(sp string, s *Sticky) {
	switch {
	case s.Cookie == "" && !s.Source:
		hv.errorf(sp, "give cookie (a cookie the proxy inserts, like SRV) or source: true (persistence by client address)")
	case s.Cookie != "" && s.Source:
		hv.errorf(sp+".source", "cookie and source exclude each other: persist by a cookie or by the client address")
	case s.Cookie != "" && !isToken(s.Cookie):
		hv.errorf(sp+".cookie", "%q is not a valid cookie name (RFC 6265: a token)", s.Cookie)
	}
	if s.Timeout < 0 {
		hv.errorf(sp+".timeout", "%s is negative", formatDuration(s.Timeout))
	}
	if s.Source && s.Cookie == "" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"path", s.Path != ""}, {"httponly", s.HTTPOnly}, {"secure", s.Secure}} {
			if f.set {
				hv.errorf(sp+"."+f.name, "applies only to a sticky cookie")
			}
		}
		return
	}
	if s.Path != "" && (!strings.HasPrefix(s.Path, "/") || strings.ContainsAny(s.Path, ";") || hasSpace(s.Path)) {
		hv.errorf(sp+".path", "%q is not a cookie path: it starts with \"/\" and has no \";\" or white space", s.Path)
	}
}

func (hv *httpValidator) upstreamHealth(hp string, u *Upstream) {
	h := &u.Health
	for k := range h.Checks {
		cp := fmt.Sprintf("%s.checks[%d]", hp, k)
		c := &h.Checks[k]
		// A check probes every server of the upstream; their addresses
		// are checked against it below, not one at a time.
		hv.check(cp, &Real{}, c)
		if !checkConnects(c.Type) || c.ConnectIP.IsValid() {
			continue
		}
		for j, s := range u.Servers {
			ap, err := netip.ParseAddrPort(s.Address)
			if err != nil {
				continue
			}
			dst := ap.Addr()
			if c.BindTo.IsValid() && c.BindTo.Zone() == "" && c.BindTo.Is4() != dst.Is4() {
				hv.errorf(cp+".bindto", "%s does not match the address family of servers[%d] (%s)", c.BindTo, j, dst)
				break
			}
			if c.BindIf == "" && dst.Is6() && dst.IsLinkLocalUnicast() {
				hv.errorf(cp+".bind_if", "missing: the link-local address of servers[%d] (%s) needs an interface", j, dst)
				break
			}
		}
	}
	if h.Consecutive5xx < 0 {
		hv.errorf(hp+".consecutive_5xx", "%d is negative (0 is off)", h.Consecutive5xx)
	}
	switch {
	case h.EjectionTime < 0:
		hv.errorf(hp+".ejection_time", "%s is negative", formatDuration(h.EjectionTime))
	case h.EjectionTime > 0 && h.Consecutive5xx == 0:
		hv.warnf(hp+".ejection_time", "unused: consecutive_5xx is off")
	}
}

// routeTree converts locations to route's form, for the final check with
// route.Compile; the proxy builds the same tree. Rewrites run before the
// return, as they are listed.
func routeTree(locs []Location, depth int) []*route.Location {
	out := make([]*route.Location, 0, len(locs))
	for i := range locs {
		l := &locs[i]
		mod, pat, err := ParseLocationMatch(l.Match)
		if err != nil {
			continue
		}
		rl := &route.Location{Modifier: mod, Pattern: pat, AutoRedirect: l.ProxyPass != "" || len(l.Routes) > 0}
		for _, rw := range l.Rewrites {
			rl.Rewrites = append(rl.Rewrites, &route.Rewrite{Regex: rw.Regex, Replacement: rw.Replacement, Flag: rw.Flag})
		}
		if r := l.Return; r != nil {
			rl.Rewrites = append(rl.Rewrites, &route.Return{Code: r.Code, Text: r.Text})
		}
		if depth < maxLocationDepth {
			rl.Nested = routeTree(l.Locations, depth+1)
		}
		out = append(out, rl)
	}
	return out
}

// quoteRaw quotes a name or regex as nginx prints one, "%V": backslashes
// stay single, so a regex reads as written. Control characters still get
// Go's escapes.
func quoteRaw(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }) >= 0 {
		return strconv.Quote(s)
	}
	return `"` + s + `"`
}
