package l7

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/harden"
	"github.com/fulcrumlb/fulcrum/internal/l7/imgopt"
	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// Defaults of the nginx proxy timeouts (proxy_connect_timeout,
// proxy_read_timeout, proxy_send_timeout) and of proxy_next_upstream.
const (
	defaultProxyTimeout     = 60 * time.Second
	defaultNextUpstreamMask = ftError | ftTimeout
)

// withLimitDefaults fills config.HTTPLimits as model_http.go documents,
// with the hardening package's values so both read the same limits.
func withLimitDefaults(l config.HTTPLimits) config.HTTPLimits { return harden.WithDefaults(l) }

// snapshot is one applied configuration, immutable once published.
type snapshot struct {
	listeners map[netip.AddrPort]*listenConf
	servers   []*serverConf
	upstreams map[string]*upstream // by key
	order     []string             // upstream keys in configuration order
	trusted   []netip.Prefix
	limits    config.HTTPLimits
	stats     map[string]*counters // by server/location key, carried over reloads

	// The L7 extras (extras.go): maps, limit zones, accept-time flood
	// defence, image caches by location key.
	maps      *mapSet
	reqZones  map[string]*reqZoneConf
	connZones map[string]*connZoneConf
	flood     *floodConf
	imgCaches map[string]*imgopt.Cache
	// commit runs once the snapshot is published (changes to state
	// shared with the running snapshot).
	commit []func()
}

// listenOpts are the per-socket options; servers sharing an address must
// agree on them (nginx: "duplicate listen options").
type listenOpts struct {
	tls, http2, pp bool
}

type listenConf struct {
	addr    netip.AddrPort
	opts    listenOpts
	hosts   *route.Hosts
	servers []*serverConf
	def     *serverConf
	snap    *snapshot
}

type serverConf struct {
	names  []string
	listen []string
	router *route.Router
	certs  []tls.Certificate
	stats  *counters
	locs   []*locConf // flattened, for Status
}

// locConf is what a location does beyond matching: the proxy target, the
// routes, and the proxy settings (inherited from the enclosing location
// when unset, as nginx merges location configurations).
type locConf struct {
	match  string
	loc    *route.Location
	srv    *serverConf
	target *target
	routes []*routeConf

	setHeaders     []headerSet
	nextMask       ftMask
	nextTries      int
	nextTimeout    time.Duration
	connectTimeout time.Duration
	readTimeout    time.Duration
	sendTimeout    time.Duration
	stats          *counters
	key            string // counters key

	extras
}

type headerSet struct {
	name  string // canonical
	value *tmpl
}

// target is a compiled proxy_pass.
type target struct {
	pp        route.ProxyPass
	up        *upstream
	scheme    string
	proxyHost string // $proxy_host
	proxyPort string // $proxy_port
}

type routeConf struct {
	matchers []matcher
	target   *target
}

// builder compiles a config.HTTP against the running state, so that
// unchanged upstream groups and counters are carried over.
type builder struct {
	p      *Proxy
	ctx    context.Context
	cfg    *config.HTTP
	old    *snapshot
	snap   *snapshot
	byName map[string]*config.Upstream
	stats  map[string]*counters
	built  []*upstream // new groups, to discard if the build fails

	firstErr error
}

func (p *Proxy) build(ctx context.Context, h *config.HTTP, old *snapshot) (_ *snapshot, newUps []*upstream, err error) {
	b := &builder{
		p: p, ctx: ctx, cfg: h, old: old,
		snap: &snapshot{
			listeners: map[netip.AddrPort]*listenConf{},
			upstreams: map[string]*upstream{},
			trusted:   canonPrefixes(h.TrustedProxies),
			limits:    withLimitDefaults(h.Limits),
		},
		byName: map[string]*config.Upstream{},
		stats:  map[string]*counters{},
	}
	defer func() {
		if err != nil {
			for _, u := range b.built {
				u.closeIdle()
			}
		}
	}()
	if err := b.extrasGlobal(); err != nil {
		return nil, nil, err
	}
	for i := range h.Upstreams {
		uc := &h.Upstreams[i]
		if uc.Name == "" {
			return nil, nil, fmt.Errorf("upstream %d: no name", i+1)
		}
		if _, dup := b.byName[uc.Name]; dup {
			return nil, nil, fmt.Errorf("duplicate upstream %q", uc.Name)
		}
		b.byName[uc.Name] = uc
	}
	// Every named group is built, referenced or not, so that its health
	// checks run and it shows in Status.
	for _, uc := range h.Upstreams {
		if _, err := b.upstream(uc.Name, cloneUpstream(uc), "http"); err != nil {
			return nil, nil, err
		}
	}
	for i := range h.Servers {
		if err := b.server(i, &h.Servers[i]); err != nil {
			return nil, nil, fmt.Errorf("server %d (%s): %w", i+1, strings.Join(h.Servers[i].ServerNames, " "), err)
		}
	}
	if b.firstErr != nil {
		return nil, nil, b.firstErr
	}
	for _, lc := range b.snap.listeners {
		srvs := make([]*route.Server, len(lc.servers))
		for i, s := range lc.servers {
			srvs[i] = &route.Server{Names: s.names, Handler: s}
		}
		for i, hs := range h.Servers {
			for _, l := range hs.Listen {
				if canonAddr(l.Address) == lc.addr && l.Default {
					for j, s := range lc.servers {
						if s == b.snap.servers[i] {
							srvs[j].Default = true
						}
					}
				}
			}
		}
		hosts, err := route.NewHosts(srvs)
		if err != nil {
			return nil, nil, fmt.Errorf("listen %s: %w", lc.addr, err)
		}
		for _, w := range hosts.Warnings() {
			p.log.Warn("l7: "+w, "listen", lc.addr.String())
		}
		lc.hosts = hosts
		def, _, _ := hosts.Select("")
		if def != nil {
			lc.def, _ = def.Handler.(*serverConf)
		}
		if lc.opts.tls {
			n := 0
			for _, s := range lc.servers {
				n += len(s.certs)
			}
			if n == 0 {
				return nil, nil, fmt.Errorf("listen %s: tls without certificates", lc.addr)
			}
		}
	}
	b.snap.stats = b.stats
	return b.snap, b.built, nil
}

func canonAddr(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

func canonPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// counter returns the counters for a key, carried over from the previous
// snapshot when the key still exists.
func (b *builder) counter(key string) *counters {
	if c, ok := b.stats[key]; ok {
		return c
	}
	var c *counters
	if b.old != nil {
		c = b.old.stats[key]
	}
	if c == nil {
		c = new(counters)
	}
	b.stats[key] = c
	return c
}

func (b *builder) server(idx int, hs *config.HTTPServer) error {
	if len(hs.Listen) == 0 {
		return errors.New("no listen address")
	}
	sc := &serverConf{names: hs.ServerNames}
	key := fmt.Sprintf("server|%d|%s", idx, strings.Join(hs.ServerNames, ","))
	sc.stats = b.counter(key)
	b.snap.servers = append(b.snap.servers, sc)
	for _, c := range hs.Certificates {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return fmt.Errorf("certificate %s: %w", c.CertFile, err)
		}
		sc.certs = append(sc.certs, cert)
	}
	for _, l := range hs.Listen {
		if !l.Address.IsValid() {
			return errors.New("invalid listen address")
		}
		addr := canonAddr(l.Address)
		sc.listen = append(sc.listen, addr.String())
		opts := listenOpts{tls: l.TLS, http2: l.HTTP2, pp: l.ProxyProtocol}
		lc, ok := b.snap.listeners[addr]
		if !ok {
			lc = &listenConf{addr: addr, opts: opts}
			b.snap.listeners[addr] = lc
		} else if lc.opts != opts {
			return fmt.Errorf("listen %s: options differ from another server on the same address", addr)
		}
		if slices.Contains(lc.servers, sc) {
			return fmt.Errorf("listen %s: duplicate listen", addr)
		}
		lc.servers = append(lc.servers, sc)
	}
	var locs []*route.Location
	for i := range hs.Locations {
		rl, err := b.location(&hs.Locations[i], nil, sc, key)
		if err != nil {
			return err
		}
		locs = append(locs, rl)
	}
	m, err := route.Compile(locs)
	if err != nil {
		return err
	}
	sc.router = &route.Router{Locations: m}
	return nil
}

// location compiles one config.Location and its nested ones.
func (b *builder) location(cl *config.Location, parent *locConf, sc *serverConf, key string) (*route.Location, error) {
	mod, pat, err := parseMatch(cl.Match)
	if err != nil {
		return nil, err
	}
	key += "|" + cl.Match
	rl := &route.Location{Modifier: mod, Pattern: pat}
	lc := &locConf{match: cl.Match, loc: rl, srv: sc, stats: b.counter(key), key: key}
	b.inherit(lc, cl, parent)
	b.inheritExtras(lc, cl, parent)
	rl.Handler = lc
	sc.locs = append(sc.locs, lc)
	for _, rw := range cl.Rewrites {
		rl.Rewrites = append(rl.Rewrites, &route.Rewrite{Regex: rw.Regex, Replacement: rw.Replacement, Flag: rw.Flag})
	}
	if cl.Return != nil {
		rl.Rewrites = append(rl.Rewrites, &route.Return{Code: cl.Return.Code, Text: cl.Return.Text})
	}
	if cl.ProxyPass != "" {
		if err := (route.ProxyPass{URL: cl.ProxyPass}).Check(rl, route.InLocation); err != nil {
			return nil, fmt.Errorf("location %q: %w", cl.Match, err)
		}
		lc.target, err = b.target(cl.ProxyPass)
		if err != nil {
			return nil, fmt.Errorf("location %q: %w", cl.Match, err)
		}
	}
	// Accept-Language is matched against the languages of all the
	// location's routes together.
	var langs []string
	for _, r := range cl.Routes {
		for _, l := range r.Match.Languages {
			if !slices.ContainsFunc(langs, func(x string) bool { return strings.EqualFold(x, l) }) {
				langs = append(langs, l)
			}
		}
	}
	for i, r := range cl.Routes {
		rc, err := b.route(r, langs)
		if err != nil {
			return nil, fmt.Errorf("location %q: route %d: %w", cl.Match, i+1, err)
		}
		if err := (route.ProxyPass{URL: r.ProxyPass}).Check(rl, route.InLocation); err != nil {
			return nil, fmt.Errorf("location %q: route %d: %w", cl.Match, i+1, err)
		}
		lc.routes = append(lc.routes, rc)
	}
	rl.AutoRedirect = lc.target != nil || len(lc.routes) > 0
	for i := range cl.Locations {
		n, err := b.location(&cl.Locations[i], lc, sc, key)
		if err != nil {
			return nil, err
		}
		rl.Nested = append(rl.Nested, n)
	}
	return rl, nil
}

// inherit fills the proxy settings, taking unset ones from the enclosing
// location as ngx_http_proxy_merge_loc_conf does (proxy_set_header is
// inherited only when the level defines none).
func (b *builder) inherit(lc *locConf, cl *config.Location, parent *locConf) {
	if parent != nil {
		lc.setHeaders = parent.setHeaders
		lc.nextMask, lc.nextTries, lc.nextTimeout = parent.nextMask, parent.nextTries, parent.nextTimeout
		lc.connectTimeout, lc.readTimeout, lc.sendTimeout = parent.connectTimeout, parent.readTimeout, parent.sendTimeout
	} else {
		lc.nextMask = defaultNextUpstreamMask
		lc.connectTimeout, lc.readTimeout, lc.sendTimeout = defaultProxyTimeout, defaultProxyTimeout, defaultProxyTimeout
	}
	if len(cl.SetHeaders) > 0 {
		lc.setHeaders = nil
		for _, h := range cl.SetHeaders {
			t, err := parseTmpl(h.Value)
			if err == nil {
				err = t.checkWith(b.snap.maps)
			}
			if err != nil {
				b.deferErr(fmt.Errorf("location %q: set header %s: %w", cl.Match, h.Name, err))
				continue
			}
			lc.setHeaders = append(lc.setHeaders, headerSet{name: http.CanonicalHeaderKey(h.Name), value: t})
		}
	}
	if len(cl.NextUpstream) > 0 {
		m, err := parseNextUpstream(cl.NextUpstream)
		if err != nil {
			b.deferErr(fmt.Errorf("location %q: %w", cl.Match, err))
		}
		lc.nextMask = m
	}
	if cl.NextUpstreamTries > 0 {
		lc.nextTries = cl.NextUpstreamTries
	}
	if cl.NextUpstreamTimeout > 0 {
		lc.nextTimeout = cl.NextUpstreamTimeout
	}
	if cl.ConnectTimeout > 0 {
		lc.connectTimeout = cl.ConnectTimeout
	}
	if cl.ReadTimeout > 0 {
		lc.readTimeout = cl.ReadTimeout
	}
	if cl.SendTimeout > 0 {
		lc.sendTimeout = cl.SendTimeout
	}
}

// deferErr records an error found while filling settings; build reports
// the first one.
func (b *builder) deferErr(err error) {
	if b.firstErr == nil {
		b.firstErr = err
	}
}

// cloneUpstream deep-copies a group's configuration (through its JSON
// form, which the model defines completely), so that the running copy
// cannot change under the proxy and compares equal to an identical one.
func cloneUpstream(uc config.Upstream) config.Upstream {
	b, err := json.Marshal(uc)
	if err != nil {
		return uc
	}
	var out config.Upstream
	if err := json.Unmarshal(b, &out); err != nil {
		return uc
	}
	return out
}

// parseMatch splits a location "match" in nginx syntax
// (ngx_http_core_location): "= /x", "^~ /p", "~ re", "~* re", "@name",
// "/prefix", and the one-word forms "=/x", "^~/p", "~re", "~*re".
func parseMatch(s string) (mod, pattern string, err error) {
	const blanks = " \t\r\n"
	s = strings.Trim(s, blanks)
	if s == "" {
		return "", "", errors.New("empty location match")
	}
	// nginx's tokenizer splits on blanks, tabs and line ends.
	if i := strings.IndexAny(s, blanks); i >= 0 {
		f, rest := s[:i], strings.Trim(s[i+1:], blanks)
		switch f {
		case route.ModExact, route.ModPrefixNoRegex, route.ModRegex, route.ModRegexCaseless:
			if rest == "" {
				return "", "", fmt.Errorf("location %q: missing pattern", s)
			}
			return f, rest, nil
		}
		if f[0] == '=' || f[0] == '~' || strings.HasPrefix(f, "^~") || f[0] == '@' {
			return "", "", fmt.Errorf("invalid location modifier in %q", s)
		}
		// A prefix with a space in it.
		return route.ModPrefix, s, nil
	}
	switch {
	case strings.HasPrefix(s, "^~"):
		mod, pattern = route.ModPrefixNoRegex, s[2:]
	case strings.HasPrefix(s, "~*"):
		mod, pattern = route.ModRegexCaseless, s[2:]
	case s[0] == '~':
		mod, pattern = route.ModRegex, s[1:]
	case s[0] == '=':
		mod, pattern = route.ModExact, s[1:]
	case s[0] == '@':
		mod, pattern = route.ModNamed, s[1:]
	default:
		mod, pattern = route.ModPrefix, s
	}
	if pattern == "" {
		return "", "", fmt.Errorf("location %q: missing pattern", s)
	}
	return mod, pattern, nil
}

// splitProxyURL splits "scheme://host[:port][/uri]".
func splitProxyURL(u string) (scheme, hostport string, err error) {
	switch {
	case len(u) >= 7 && strings.EqualFold(u[:7], "http://"):
		scheme, hostport = "http", u[7:]
	case len(u) >= 8 && strings.EqualFold(u[:8], "https://"):
		scheme, hostport = "https", u[8:]
	default:
		return "", "", fmt.Errorf("invalid URL prefix in %q", u)
	}
	if i := strings.IndexAny(hostport, "/?"); i >= 0 {
		hostport = hostport[:i]
	}
	if hostport == "" {
		return "", "", fmt.Errorf("no host in %q", u)
	}
	if strings.ContainsAny(hostport, "$ \t") {
		return "", "", fmt.Errorf("proxy_pass %q: variables in the host part are not supported", u)
	}
	return scheme, hostport, nil
}

// target compiles a proxy_pass URL: the host part names an upstream group,
// or is host[:port] for an implicit one-server group, as nginx's
// ngx_http_upstream_add does.
func (b *builder) target(url string) (*target, error) {
	scheme, hostport, err := splitProxyURL(url)
	if err != nil {
		return nil, err
	}
	t := &target{pp: route.ProxyPass{URL: url}, scheme: scheme}
	defPort := "80"
	if scheme == "https" {
		defPort = "443"
	}
	if uc, ok := b.byName[hostport]; ok {
		t.proxyHost, t.proxyPort = hostport, defPort
		t.up, err = b.upstream(uc.Name, cloneUpstream(*uc), scheme)
		return t, err
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, defPort
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("invalid port in %q", url)
	}
	// ngx_http_proxy_set_vars: $proxy_host carries the port only when it
	// is not the scheme's default.
	addr := net.JoinHostPort(host, port)
	t.proxyHost, t.proxyPort = addr, port
	if port == defPort {
		t.proxyHost = hostport
		if _, _, err := net.SplitHostPort(hostport); err == nil {
			t.proxyHost = strings.TrimSuffix(hostport, ":"+port)
		}
	}
	key := scheme + "://" + addr
	t.up, err = b.upstream(key, config.Upstream{Name: hostport, Servers: []config.UpstreamServer{{Address: addr}}}, scheme)
	return t, err
}

// upstream returns the group for key: already built in this pass, or
// carried over unchanged from the running snapshot, or built anew.
func (b *builder) upstream(key string, uc config.Upstream, scheme string) (*upstream, error) {
	if u, ok := b.snap.upstreams[key]; ok {
		if scheme == "https" && u.cfg.TLS == nil && u.trTLS == nil {
			return nil, fmt.Errorf("upstream %q: no TLS transport", key)
		}
		return u, nil
	}
	if b.old != nil {
		if u, ok := b.old.upstreams[key]; ok && u.sameAs(uc, scheme) {
			if u.hashKey != nil {
				// The group is kept, but its hash key must still name
				// known variables (a map may be gone).
				if err := u.hashKey.checkWith(b.snap.maps); err != nil {
					return nil, fmt.Errorf("upstream %q: hash key: %w", uc.Name, err)
				}
			}
			b.snap.upstreams[key] = u
			b.snap.order = append(b.snap.order, key)
			return u, nil
		}
	}
	u, err := b.p.buildUpstream(b.ctx, key, uc, scheme, b.snap.maps)
	if err != nil {
		return nil, err
	}
	u.stats = counters{}
	b.built = append(b.built, u)
	b.snap.upstreams[key] = u
	b.snap.order = append(b.snap.order, key)
	return u, nil
}

// route compiles one HTTPRoute's conditions.
func (b *builder) route(r config.HTTPRoute, langs []string) (*routeConf, error) {
	rc := &routeConf{}
	if r.ProxyPass == "" {
		return nil, errors.New("route without proxy_pass")
	}
	t, err := b.target(r.ProxyPass)
	if err != nil {
		return nil, err
	}
	rc.target = t
	m := r.Match
	for _, h := range m.Headers {
		switch {
		case h.Name == "":
			return nil, errors.New("header match without a name")
		case h.Regex != "":
			re, err := route.NewHeaderRegex(h.Name, h.Regex, false)
			if err != nil {
				return nil, err
			}
			rc.matchers = append(rc.matchers, reqMatcher{re})
		case h.Value != "":
			rc.matchers = append(rc.matchers, reqMatcher{route.HeaderEquals{Name: h.Name, Value: h.Value}})
		default:
			rc.matchers = append(rc.matchers, reqMatcher{route.HeaderPresent{Name: h.Name}})
		}
	}
	for _, c := range m.Cookies {
		switch {
		case c.Name == "":
			return nil, errors.New("cookie match without a name")
		case c.Regex != "":
			re, err := regexp.Compile(c.Regex)
			if err != nil {
				return nil, fmt.Errorf("cookie %s: %w", c.Name, err)
			}
			rc.matchers = append(rc.matchers, cookieRegex{c.Name, re})
		default:
			rc.matchers = append(rc.matchers, reqMatcher{route.Cookie{Name: c.Name, Value: c.Value, Any: c.Value == ""}})
		}
	}
	for _, q := range m.Query {
		switch {
		case q.Name == "":
			return nil, errors.New("query match without a name")
		case q.Regex != "":
			re, err := regexp.Compile(q.Regex)
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", q.Name, err)
			}
			rc.matchers = append(rc.matchers, queryRegex{q.Name, re})
		default:
			rc.matchers = append(rc.matchers, reqMatcher{route.QueryParam{Name: q.Name, Value: q.Value, Any: q.Value == ""}})
		}
	}
	if len(m.Methods) > 0 {
		rc.matchers = append(rc.matchers, reqMatcher{route.Method{Methods: m.Methods}})
	}
	if len(m.Sources) > 0 {
		rc.matchers = append(rc.matchers, sourceMatcher(canonPrefixes(m.Sources)))
	}
	if len(m.UserAgents) > 0 {
		um, err := newUAMatcher(m.UserAgents)
		if err != nil {
			return nil, err
		}
		rc.matchers = append(rc.matchers, um)
	}
	if len(m.Languages) > 0 {
		rc.matchers = append(rc.matchers, langMatcher{available: langs, want: m.Languages})
	}
	return rc, nil
}
