package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/l7/balance"
	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// Defaults of the L7 model. Normalize fills them in, so that a model from
// any source carries the values that apply; docs/configuration.md gives the
// reasoning for each.
const (
	// DefaultHeaderTimeout bounds the time to read a request's header.
	// nginx's client_header_timeout is 60 s; HAProxy has no default, and
	// its packaged configurations set "timeout http-request 10s" against
	// slowloris. A proxy in front of everything takes the stricter value.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout is nginx's client_body_timeout: 60 s between two
	// reads of the body.
	DefaultBodyTimeout = 60 * time.Second
	// DefaultClientKeepaliveTimeout is nginx's keepalive_timeout (75 s).
	DefaultClientKeepaliveTimeout = 75 * time.Second
	// DefaultMaxHeaderBytes is nginx's large_client_header_buffers 4 8k:
	// 32 KiB for the request line and header.
	DefaultMaxHeaderBytes = 32 << 10
	// DefaultMaxHeaders is about HAProxy's tune.http.maxhdr (101).
	DefaultMaxHeaders = 100
	// DefaultMaxBodyBytes is nginx's client_max_body_size (1m).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxConcurrentStreams is HAProxy's tune.h2.max-concurrent-streams
	// and the floor RFC 9113 section 6.5.2 recommends (100).
	DefaultMaxConcurrentStreams = 100

	// DefaultProxyTimeout is nginx's proxy_connect_timeout,
	// proxy_read_timeout and proxy_send_timeout (60 s).
	DefaultProxyTimeout = 60 * time.Second

	// DefaultUpstreamKeepalive is the number of idle connections kept per
	// upstream server (Go's own default of 2 exhausts ports under load).
	DefaultUpstreamKeepalive = 32
	// DefaultUpstreamKeepaliveTimeout is ngx_http_upstream_keepalive_module's
	// keepalive_timeout (60 s).
	DefaultUpstreamKeepaliveTimeout = 60 * time.Second
	// DefaultBalance names nginx's default method, smooth weighted round
	// robin.
	DefaultBalance = "round_robin"
	// DefaultRetryBudget lets retries add at most 20 % to the requests in
	// flight (Envoy's retry_budget budget_percent).
	DefaultRetryBudget = 0.2
	// DefaultWeight, DefaultMaxFails and DefaultFailTimeout are
	// ngx_http_upstream_server's defaults: weight=1 max_fails=1
	// fail_timeout=10.
	DefaultWeight      = 1
	DefaultMaxFails    = 1
	DefaultFailTimeout = 10 * time.Second
	// DefaultEjectionTime is Envoy's outlier_detection base_ejection_time
	// (30 s), used when consecutive_5xx is set.
	DefaultEjectionTime = 30 * time.Second
	// DefaultStickyPath is the cookie path HAProxy's "cookie insert" sets.
	DefaultStickyPath = "/"
	// DefaultAccessLogFormat is nginx's predefined "combined" log_format.
	DefaultAccessLogFormat = "combined"

	// DefaultLimitStatus is limit_req_status and limit_conn_status's
	// default, 503 (ngx_http_limit_req_merge_conf).
	DefaultLimitStatus = 503
	// MinZoneSize is the smallest limit_req/limit_conn zone nginx takes:
	// eight pages of 4 KiB (ngx_http_limit_req_zone: "zone is too small").
	MinZoneSize = 8 << 12
	// DefaultRefererStatus answers an invalid Referer, as the usual
	// "if ($invalid_referer) { return 403; }" does; a redirect defaults
	// to 302, as nginx's "return URL".
	DefaultRefererStatus  = 403
	DefaultRedirectStatus = 302
	// DefaultSigParam and DefaultExpiresParam name secure_link's query
	// parameters.
	DefaultSigParam     = "sig"
	DefaultExpiresParam = "expires"
	// DefaultCompressionMinLength is nginx's gzip_min_length (20 bytes).
	DefaultCompressionMinLength = 20
	// DefaultCompressionProxied is nginx's gzip_proxied off: a request
	// that came through another proxy (Via) is not compressed.
	DefaultCompressionProxied = "off"
	// Compression level 0 means each codec's default: nginx's
	// gzip_comp_level 1, ngx_brotli's brotli_comp_level 6 and
	// zstd-nginx-module's zstd_comp_level 1.
	DefaultGzipLevel   = 1
	DefaultBrotliLevel = 6
	DefaultZstdLevel   = 1
	// Image recompression defaults: bodies of 10 KiB to 8 MiB are
	// re-encoded, JPEG at image_filter_jpeg_quality's 75, with a 64 MiB
	// cache of results.
	DefaultImageMinSize     = 10 << 10
	DefaultImageMaxSize     = 8 << 20
	DefaultJPEGQuality      = 75
	DefaultImageCacheSize   = 64 << 20
	DefaultFirstByteTimeout = 10 * time.Second
)

// compressionAlwaysType is compressed whatever gzip_types says
// (ngx_http_gzip_filter_module: "text/html" is always in the list).
const compressionAlwaysType = "text/html"

// defaultNextUpstream is nginx's proxy_next_upstream default.
var defaultNextUpstream = []string{"error", "timeout"}

// nextUpstreamValues are the proxy_next_upstream conditions
// (ngx_http_proxy_next_upstream_masks in ngx_http_proxy_module.c, without
// "updating", which belongs to the cache).
var nextUpstreamValues = []string{"error", "timeout", "invalid_header", "non_idempotent", "http_500", "http_502", "http_503", "http_504", "http_403", "http_404", "http_429", "off"}

// userAgentClasses are the route match user_agents classes: the browser
// families of route.ClassifyUserAgent, mobile and bot.
var userAgentClasses = []string{"chrome", "firefox", "safari", "edge", "ie", "opera", "mobile", "bot"}

// ParseLocationMatch splits a location's match, written as nginx's location
// arguments, into a route.Location modifier and pattern:
// "/p" (prefix), "= /p", "^~ /p", "~ re", "~* re" and "@name" (pattern
// "name"). As ngx_http_core_location does, the modifier may also be glued
// to its argument ("=/p", "~*\.jpg$").
func ParseLocationMatch(s string) (modifier, pattern string, err error) {
	rest := func(p string) string { return strings.TrimLeft(p, " \t") }
	switch {
	case s == "":
		return "", "", errors.New("missing: want a URI prefix like /, or =, ^~, ~, ~* or @ followed by its argument")
	case strings.HasPrefix(s, "^~"):
		modifier, pattern = route.ModPrefixNoRegex, rest(s[2:])
	case strings.HasPrefix(s, "~*"):
		modifier, pattern = route.ModRegexCaseless, rest(s[2:])
	case s[0] == '~':
		modifier, pattern = route.ModRegex, rest(s[1:])
	case s[0] == '=':
		modifier, pattern = route.ModExact, rest(s[1:])
	case s[0] == '@':
		modifier, pattern = route.ModNamed, s[1:]
		if strings.ContainsAny(pattern, " \t") {
			return "", "", fmt.Errorf("invalid named location %q: a name is one word", s)
		}
	default:
		return route.ModPrefix, s, nil
	}
	if pattern == "" {
		what := "a URI"
		switch modifier {
		case route.ModRegex, route.ModRegexCaseless:
			what = "a regular expression"
		case route.ModNamed:
			what = "a name"
		}
		return "", "", fmt.Errorf("invalid location %q: %s must follow %q", s, what, modifier)
	}
	return modifier, pattern, nil
}

// FormatLocationMatch writes a modifier and pattern back in the canonical
// form ParseLocationMatch reads: "= /p", "^~ /p", "~ re", "~* re", "@name",
// "/p".
func FormatLocationMatch(modifier, pattern string) string {
	switch modifier {
	case route.ModPrefix:
		return pattern
	case route.ModNamed:
		return "@" + pattern
	}
	return modifier + " " + pattern
}

// SplitProxyPass splits a proxy_pass URL "http://HOST[URI]" into its scheme
// (http or https, lower case), host (an upstream name or host:port) and URI
// part (from the first "/" or "?" after the host, as ngx_parse_url with
// uri_part splits it; "" when there is none).
func SplitProxyPass(url string) (scheme, host, uri string, err error) {
	i := strings.Index(url, "://")
	if i < 0 {
		return "", "", "", fmt.Errorf("invalid URL prefix in %q", url)
	}
	scheme = strings.ToLower(url[:i])
	if scheme != "http" && scheme != "https" {
		// ngx_http_proxy_pass: only http:// and https:// are proxied.
		return "", "", "", fmt.Errorf("invalid URL prefix in %q", url)
	}
	rest := url[i+3:]
	if j := strings.IndexAny(rest, "/?"); j >= 0 {
		host, uri = rest[:j], rest[j:]
	} else {
		host = rest
	}
	if host == "" {
		return "", "", "", fmt.Errorf("no host in %q", url)
	}
	return scheme, host, uri, nil
}

// nginxBalanceWords are the first words of nginx's upstream balancing
// directives, to tell an nginx typo from an HAProxy one.
var nginxBalanceWords = []string{"least_conn", "ip_hash", "hash", "random"}

// BalanceConfig interprets the upstream's balance and hash_type with the
// balance package: "" or "round_robin" is nginx's smooth weighted round
// robin, "ewma" the peak-EWMA balancer, an nginx directive is read by
// balance.ParseNginx (unless hash_type is set), anything else by
// balance.ParseHAProxy with the hash_type. "hash KEY" is nginx's hash
// unless hash_type makes it HAProxy's "balance hash".
func (u *Upstream) BalanceConfig() (balance.Config, error) {
	b := strings.TrimSpace(u.Balance)
	ht := strings.TrimSpace(u.HashType)
	switch b {
	case "", DefaultBalance, "ewma":
		if ht != "" {
			return balance.Config{}, fmt.Errorf("hash_type applies only to HAProxy balancing methods, not %s", nonEmpty(b, DefaultBalance))
		}
		if b == "ewma" {
			return balance.Config{Method: balance.PeakEWMA}, nil
		}
		return balance.Config{Method: balance.NginxRoundRobin}, nil
	}
	first, _, _ := strings.Cut(b, " ")
	var nginxErr error
	if ht == "" {
		c, err := balance.ParseNginx(b)
		if err == nil {
			return c, nil
		}
		nginxErr = err
	}
	c, err := balance.ParseHAProxy(b, ht)
	if err == nil {
		return c, nil
	}
	switch {
	case nginxErr != nil && slices.Contains(nginxBalanceWords, first):
		return balance.Config{}, fmt.Errorf("invalid nginx balancing method %q: %w", b, nginxErr)
	case ht != "" && slices.Contains(nginxBalanceWords, first) && !strings.HasPrefix(b, "hash "):
		return balance.Config{}, fmt.Errorf("hash_type applies only to HAProxy balancing methods, not nginx's %s", first)
	case strings.HasPrefix(err.Error(), "'balance' only supports"):
		return balance.Config{}, fmt.Errorf("unknown balancing method %q: want round_robin, least_conn, ip_hash, \"hash KEY [consistent]\", \"random [two [least_conn]]\" (nginx), roundrobin, static-rr, leastconn, first, source, \"uri ...\", \"url_param NAME\", \"hdr(NAME)\", \"hash EXPR\" (HAProxy) or ewma", b)
	}
	if ht != "" {
		return balance.Config{}, fmt.Errorf("invalid HAProxy balancing method %q with hash_type %q: %w", b, ht, err)
	}
	return balance.Config{}, fmt.Errorf("invalid HAProxy balancing method %q: %w", b, err)
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// normalizeHTTP fills the L7 defaults (see the constants above) and gives
// lists and names their canonical form: location matches as
// FormatLocationMatch writes them, non-regex server names and
// next_upstream values in lower case, "return URL" as 302, prefixes masked,
// empty lists nil. A nested location inherits its parent's proxy settings
// it leaves unset (timeouts, set_headers, next_upstream*), as
// ngx_http_proxy_merge_loc_conf merges them into inner levels.
func normalizeHTTP(h *HTTP) {
	if h == nil {
		return
	}
	l := &h.Limits
	setDefault(&l.HeaderTimeout, DefaultHeaderTimeout)
	setDefault(&l.BodyTimeout, DefaultBodyTimeout)
	setDefault(&l.KeepaliveTimeout, DefaultClientKeepaliveTimeout)
	setDefault(&l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&l.MaxHeaders, DefaultMaxHeaders)
	setDefault(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&l.MaxConcurrentH2, DefaultMaxConcurrentStreams)
	if h.AccessLog.Path != "" && h.AccessLog.Format == "" {
		h.AccessLog.Format = DefaultAccessLogFormat
	}
	nilIfEmpty(&h.Servers)
	nilIfEmpty(&h.Upstreams)
	nilIfEmpty(&h.TrustedProxies)
	normalizeHTTPExtras(h)
	for i, p := range h.TrustedProxies {
		h.TrustedProxies[i] = canonicalPrefix(p)
	}
	for i := range h.Servers {
		s := &h.Servers[i]
		nilIfEmpty(&s.Listen)
		nilIfEmpty(&s.ServerNames)
		nilIfEmpty(&s.Certificates)
		nilIfEmpty(&s.Locations)
		for j, n := range s.ServerNames {
			if !strings.HasPrefix(n, "~") {
				// ngx_http_core_server_name lowercases every name but a
				// regex.
				s.ServerNames[j] = strings.ToLower(n)
			}
		}
		for j := range s.Locations {
			normalizeLocation(&s.Locations[j], nil, 0)
		}
	}
	for i := range h.Upstreams {
		normalizeUpstream(&h.Upstreams[i])
	}
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// canonicalPrefix masks a prefix and writes an IPv4-mapped one as IPv4, as
// route.NewSourceCIDR compares them.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// maxLocationDepth is route's limit on nested locations; deeper trees are
// refused by Validate and left alone here.
const maxLocationDepth = 64

func normalizeLocation(l *Location, parent *Location, depth int) {
	if depth > maxLocationDepth {
		return
	}
	if mod, pat, err := ParseLocationMatch(l.Match); err == nil {
		l.Match = FormatLocationMatch(mod, pat)
	}
	nilIfEmpty(&l.Locations)
	nilIfEmpty(&l.Rewrites)
	nilIfEmpty(&l.Routes)
	nilIfEmpty(&l.SetHeaders)
	nilIfEmpty(&l.NextUpstream)
	nilIfEmpty(&l.LimitReq)
	nilIfEmpty(&l.LimitConn)
	if l.Return != nil && l.Return.Code == 0 && isRedirectURL(l.Return.Text) {
		// ngx_http_rewrite_return: "return URL" answers 302.
		l.Return.Code = 302
	}
	for i, v := range l.NextUpstream {
		// ngx_conf_set_bitmask_slot compares case-insensitively.
		l.NextUpstream[i] = strings.ToLower(v)
	}
	if parent != nil {
		setDefault(&l.ConnectTimeout, parent.ConnectTimeout)
		setDefault(&l.ReadTimeout, parent.ReadTimeout)
		setDefault(&l.SendTimeout, parent.SendTimeout)
		setDefault(&l.NextUpstreamTries, parent.NextUpstreamTries)
		setDefault(&l.NextUpstreamTimeout, parent.NextUpstreamTimeout)
		// proxy_set_header and proxy_next_upstream are inherited only by
		// a level that sets none of its own.
		if l.SetHeaders == nil {
			l.SetHeaders = slices.Clone(parent.SetHeaders)
		}
		if l.NextUpstream == nil {
			l.NextUpstream = slices.Clone(parent.NextUpstream)
		}
		inheritLocationExtras(l, parent)
	}
	normalizeLocationExtras(l)
	setDefault(&l.ConnectTimeout, DefaultProxyTimeout)
	setDefault(&l.ReadTimeout, DefaultProxyTimeout)
	setDefault(&l.SendTimeout, DefaultProxyTimeout)
	if l.NextUpstream == nil {
		l.NextUpstream = slices.Clone(defaultNextUpstream)
	}
	for i := range l.Routes {
		m := &l.Routes[i].Match
		nilIfEmpty(&m.Headers)
		nilIfEmpty(&m.Cookies)
		nilIfEmpty(&m.Query)
		nilIfEmpty(&m.Methods)
		nilIfEmpty(&m.Sources)
		nilIfEmpty(&m.UserAgents)
		nilIfEmpty(&m.Languages)
		for j, p := range m.Sources {
			m.Sources[j] = canonicalPrefix(p)
		}
		for j, ua := range m.UserAgents {
			m.UserAgents[j] = strings.ToLower(ua)
		}
	}
	for i := range l.Locations {
		normalizeLocation(&l.Locations[i], l, depth+1)
	}
}

// isRedirectURL is the test of ngx_http_rewrite_return for "return URL".
func isRedirectURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "$scheme")
}

func normalizeUpstream(u *Upstream) {
	if strings.TrimSpace(u.Balance) == "" {
		u.Balance = DefaultBalance
	}
	setDefault(&u.Keepalive, DefaultUpstreamKeepalive)
	setDefault(&u.KeepaliveTimeout, DefaultUpstreamKeepaliveTimeout)
	setDefault(&u.RetryBudget, DefaultRetryBudget)
	nilIfEmpty(&u.Servers)
	for i := range u.Servers {
		s := &u.Servers[i]
		setDefault(&s.Weight, DefaultWeight)
		setDefault(&s.MaxFails, DefaultMaxFails)
		setDefault(&s.FailTimeout, DefaultFailTimeout)
	}
	if u.Sticky != nil && u.Sticky.Cookie != "" && u.Sticky.Path == "" {
		u.Sticky.Path = DefaultStickyPath
	}
	nilIfEmpty(&u.Health.Checks)
	for i := range u.Health.Checks {
		normalizeCheck(&u.Health.Checks[i])
	}
	if u.Health.Consecutive5xx > 0 {
		setDefault(&u.Health.EjectionTime, DefaultEjectionTime)
	}
}
