package config

import (
	"errors"
	"math"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/l7/balance"
	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// TestParseLocationMatch_ngxHTTPCoreLocation holds ParseLocationMatch to
// ngx_http_core_location's reading of "location [modifier] name": the
// modifier as its own argument or glued to the name.
func TestParseLocationMatch_ngxHTTPCoreLocation(t *testing.T) {
	tests := []struct {
		in, mod, pat, canon string
		err                 string
	}{
		{in: "/", mod: route.ModPrefix, pat: "/", canon: "/"},
		{in: "/a b", mod: route.ModPrefix, pat: "/a b", canon: "/a b"},
		{in: "= /x", mod: route.ModExact, pat: "/x", canon: "= /x"},
		{in: "=/x", mod: route.ModExact, pat: "/x", canon: "= /x"},
		{in: "^~ /img/", mod: route.ModPrefixNoRegex, pat: "/img/", canon: "^~ /img/"},
		{in: "^~/img/", mod: route.ModPrefixNoRegex, pat: "/img/", canon: "^~ /img/"},
		{in: `~ \.php$`, mod: route.ModRegex, pat: `\.php$`, canon: `~ \.php$`},
		{in: `~\.php$`, mod: route.ModRegex, pat: `\.php$`, canon: `~ \.php$`},
		{in: `~* \.JPG$`, mod: route.ModRegexCaseless, pat: `\.JPG$`, canon: `~* \.JPG$`},
		{in: `~*\.jpg$`, mod: route.ModRegexCaseless, pat: `\.jpg$`, canon: `~* \.jpg$`},
		{in: "~ *x", mod: route.ModRegex, pat: "*x", canon: "~ *x"},
		{in: "~\t ^/a b$", mod: route.ModRegex, pat: "^/a b$", canon: "~ ^/a b$"},
		{in: "@fallback", mod: route.ModNamed, pat: "fallback", canon: "@fallback"},
		{in: "", err: "missing"},
		{in: "=", err: `a URI must follow "="`},
		{in: "^~ ", err: `a URI must follow "^~"`},
		{in: "~*", err: "a regular expression must follow"},
		{in: "@", err: "a name must follow"},
		{in: "@a b", err: "one word"},
	}
	for _, tt := range tests {
		mod, pat, err := ParseLocationMatch(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseLocationMatch(%q) error %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || mod != tt.mod || pat != tt.pat {
			t.Errorf("ParseLocationMatch(%q) = %q, %q, %v; want %q, %q", tt.in, mod, pat, err, tt.mod, tt.pat)
			continue
		}
		canon := FormatLocationMatch(mod, pat)
		if canon != tt.canon {
			t.Errorf("FormatLocationMatch(%q, %q) = %q, want %q", mod, pat, canon, tt.canon)
		}
		// The canonical form reads back the same.
		if m2, p2, err := ParseLocationMatch(canon); err != nil || m2 != mod || p2 != pat {
			t.Errorf("ParseLocationMatch(%q) = %q, %q, %v; not the same as %q", canon, m2, p2, err, tt.in)
		}
	}
}

// TestSplitProxyPass_ngxParseURL checks the split of ngx_parse_url with
// uri_part: the URI part starts at the first "/" or "?" after the host.
func TestSplitProxyPass_ngxParseURL(t *testing.T) {
	tests := []struct {
		in, scheme, host, uri, err string
	}{
		{in: "http://up", scheme: "http", host: "up"},
		{in: "http://up/", scheme: "http", host: "up", uri: "/"},
		{in: "HTTPS://up:8443/api?x=1", scheme: "https", host: "up:8443", uri: "/api?x=1"},
		{in: "http://up?x", scheme: "http", host: "up", uri: "?x"},
		{in: "http://[::1]:80/p", scheme: "http", host: "[::1]:80", uri: "/p"},
		{in: "ftp://up", err: `invalid URL prefix in "ftp://up"`},
		{in: "up", err: `invalid URL prefix in "up"`},
		{in: "http:///x", err: `no host in "http:///x"`},
	}
	for _, tt := range tests {
		scheme, host, uri, err := SplitProxyPass(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("SplitProxyPass(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || scheme != tt.scheme || host != tt.host || uri != tt.uri {
			t.Errorf("SplitProxyPass(%q) = %q %q %q %v, want %q %q %q", tt.in, scheme, host, uri, err, tt.scheme, tt.host, tt.uri)
		}
		// route agrees on the URI part.
		if got, _ := (route.ProxyPass{URL: tt.in}).URIPart(); got != tt.uri {
			t.Errorf("route.ProxyPass{%q}.URIPart() = %q, SplitProxyPass says %q", tt.in, got, tt.uri)
		}
	}
}

// TestBalanceConfig checks the dispatch between nginx's and HAProxy's
// syntax against what balance.ParseNginx and balance.ParseHAProxy return
// for the same words.
func TestBalanceConfig(t *testing.T) {
	nginx := func(s string) balance.Config {
		c, err := balance.ParseNginx(s)
		if err != nil {
			t.Fatalf("balance.ParseNginx(%q): %v", s, err)
		}
		return c
	}
	haproxy := func(s, ht string) balance.Config {
		c, err := balance.ParseHAProxy(s, ht)
		if err != nil {
			t.Fatalf("balance.ParseHAProxy(%q, %q): %v", s, ht, err)
		}
		return c
	}
	tests := []struct {
		balance, hashType string
		want              balance.Config
	}{
		{"", "", nginx("")},
		{"round_robin", "", nginx("")},
		{"least_conn", "", nginx("least_conn")},
		{"ip_hash", "", nginx("ip_hash")},
		{"hash $request_uri", "", nginx("hash $request_uri")},
		{"hash $request_uri consistent", "", nginx("hash $request_uri consistent")},
		{"random two least_conn", "", nginx("random two least_conn")},
		{"roundrobin", "", haproxy("roundrobin", "")},
		{"leastconn", "", haproxy("leastconn", "")},
		{"uri len 10 whole", "", haproxy("uri len 10 whole", "")},
		{"hdr(host)", "consistent", haproxy("hdr(host)", "consistent")},
		// With hash_type, "hash EXPR" is HAProxy's "balance hash".
		{"hash path", "consistent", haproxy("hash path", "consistent")},
		{"ewma", "", balance.Config{Method: balance.PeakEWMA}},
	}
	for _, tt := range tests {
		u := Upstream{Balance: tt.balance, HashType: tt.hashType}
		got, err := u.BalanceConfig()
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("balance %q hash_type %q: got %+v, %v; want %+v", tt.balance, tt.hashType, got, err, tt.want)
		}
		if _, err := balance.New(got, []balance.Peer{{Name: "a:80", Addr: "127.0.0.1:80"}}, balance.Options{}); err != nil {
			t.Errorf("balance %q: balance.New refuses the config: %v", tt.balance, err)
		}
	}
	errs := []struct {
		balance, hashType, msg string
	}{
		{"fastest", "", "unknown balancing method"},
		{"hash", "", `invalid nginx balancing method "hash"`},
		{"random three", "", `invalid parameter "three"`},
		{"least_conn", "consistent", "hash_type applies only to HAProxy"},
		{"round_robin", "map-based", "hash_type applies only to HAProxy"},
		{"ewma", "consistent", "hash_type applies only to HAProxy"},
		{"uri depth 0", "", "'depth' expects a positive integer"},
		{"roundrobin", "consistent md5", "unknown hash function"},
	}
	for _, tt := range errs {
		u := Upstream{Balance: tt.balance, HashType: tt.hashType}
		if _, err := u.BalanceConfig(); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("balance %q hash_type %q: error %v, want one containing %q", tt.balance, tt.hashType, err, tt.msg)
		}
	}
}

// TestParseServerLine_ngxHTTPUpstreamServer checks nginx's server
// parameters and their defaults-as-zero in the model.
func TestParseServerLine_ngxHTTPUpstreamServer(t *testing.T) {
	tests := []struct {
		in   string
		want UpstreamServer
		err  string
	}{
		{in: "10.0.0.1:80", want: UpstreamServer{Address: "10.0.0.1:80"}},
		{in: "a.example:81 weight=5 max_fails=3 fail_timeout=30 max_conns=7 slow_start=1m backup down",
			want: UpstreamServer{Address: "a.example:81", Weight: 5, MaxFails: 3, FailTimeout: 30 * time.Second, MaxConns: 7, SlowStart: time.Minute, Backup: true, Down: true}},
		// max_fails=0 turns failure accounting off: -1 in the model.
		{in: "10.0.0.1:80 max_fails=0 fail_timeout=1500ms", want: UpstreamServer{Address: "10.0.0.1:80", MaxFails: -1, FailTimeout: 1500 * time.Millisecond}},
		{in: "10.0.0.1:80 weight=0", err: `invalid parameter "weight=0"`},
		{in: "10.0.0.1:80 weight=x", err: `invalid parameter "weight=x"`},
		{in: "10.0.0.1:80 fail_timeout=0", err: "fail_timeout must be more than 0"},
		{in: "10.0.0.1:80 resolve", err: `invalid parameter "resolve"`},
		{in: "10.0.0.1:80 route=a", err: `invalid parameter "route=a"`},
		{in: "  ", err: "empty server"},
	}
	for _, tt := range tests {
		got, err := parseServerLine(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseServerLine(%q) error %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseServerLine(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// TestParseListenLine_ngxHTTPCoreListen checks nginx's listen forms:
// ip:port, *:port and a port alone (every IPv4 address), and the flags.
func TestParseListenLine_ngxHTTPCoreListen(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		in   string
		want HTTPListen
		err  string
	}{
		{in: "80", want: HTTPListen{Address: ap("0.0.0.0:80")}},
		{in: "*:8080", want: HTTPListen{Address: ap("0.0.0.0:8080")}},
		{in: "[::]:443 ssl http2 default_server", want: HTTPListen{Address: ap("[::]:443"), TLS: true, HTTP2: true, Default: true}},
		{in: "127.0.0.1:80 tls proxy_protocol default", want: HTTPListen{Address: ap("127.0.0.1:80"), TLS: true, ProxyProtocol: true, Default: true}},
		{in: "localhost:80", err: "invalid listen address"},
		{in: "70000", err: "invalid listen address"},
		{in: "127.0.0.1:80 reuseport", err: `invalid parameter "reuseport"`},
		{in: "", err: "empty"},
	}
	for _, tt := range tests {
		got, err := parseListenLine(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseListenLine(%q) error %v, want one containing %q", tt.in, err, tt.err)
			}
			if got != (HTTPListen{}) {
				t.Errorf("parseListenLine(%q) returned %+v with its error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseListenLine(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		// The canonical line reads back the same.
		if back, err := parseListenLine(listenLine(got)); err != nil || back != got {
			t.Errorf("parseListenLine(listenLine(%+v)) = %+v, %v", got, back, err)
		}
	}
}

// TestParseSize_ngxParseOffset checks nginx's size suffixes (k, m, g in
// either case) and refuses what ngx_parse_offset refuses.
func TestParseSize_ngxParseOffset(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"512", 512, true}, {"32k", 32 << 10, true}, {"32K", 32 << 10, true},
		{"1m", 1 << 20, true}, {"2G", 2 << 30, true},
		{"", 0, false}, {"k", 0, false}, {"-1", 0, false}, {"1.5m", 0, false}, {"1t", 0, false}, {" 1", 0, false},
		{"9223372036854775807", math.MaxInt64, true}, {"8589934592g", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in, false)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestNormalizeHTTP checks the defaults Normalize fills, nginx's
// inheritance of proxy settings by nested locations, and idempotence.
func TestNormalizeHTTP(t *testing.T) {
	h := &HTTP{
		AccessLog:      AccessLog{Path: "-"},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8"), netip.MustParsePrefix("::ffff:192.0.2.1/120")},
		Servers: []HTTPServer{{
			Listen:      []HTTPListen{{Address: netip.MustParseAddrPort("127.0.0.1:80")}},
			ServerNames: []string{"WWW.Example.COM", "~^Api\\."},
			Locations: []Location{{
				Match:        "=/x",
				Return:       &Return{Text: "https://example.com/"},
				SetHeaders:   []Header{{Name: "Host", Value: "$host"}},
				NextUpstream: []string{"Error", "HTTP_502"},
				ReadTimeout:  5 * time.Second,
			}, {
				Match:             "/p/",
				ProxyPass:         "http://up",
				SetHeaders:        []Header{{Name: "Host", Value: "$host"}},
				NextUpstream:      []string{"timeout"},
				NextUpstreamTries: 3,
				ConnectTimeout:    2 * time.Second,
				Locations: []Location{
					{Match: "/p/a/", ProxyPass: "http://up"},
					{Match: "/p/b/", ProxyPass: "http://up", SetHeaders: []Header{{Name: "X", Value: "y"}}, NextUpstream: []string{"error"}, NextUpstreamTries: 1, ConnectTimeout: time.Second},
				},
			}},
		}},
		Upstreams: []Upstream{{
			Name:    "up",
			Servers: []UpstreamServer{{Address: "10.0.0.1:80"}, {Address: "10.0.0.2:80", MaxFails: -1, Weight: 3}},
			Sticky:  &Sticky{Cookie: "SRV"},
			Health:  UpstreamHealth{Consecutive5xx: 5, Checks: []Check{{Type: "tcp_check", DNSType: "a"}}},
		}},
	}
	c := &Config{HTTP: h}
	Normalize(c)
	if want := (HTTPLimits{HeaderTimeout: DefaultHeaderTimeout, BodyTimeout: DefaultBodyTimeout, KeepaliveTimeout: DefaultClientKeepaliveTimeout,
		MaxHeaderBytes: 32 << 10, MaxHeaders: 100, MaxBodyBytes: 1 << 20, MaxConcurrentH2: 100}); h.Limits != want {
		t.Errorf("limits %+v, want %+v", h.Limits, want)
	}
	if h.AccessLog.Format != "combined" {
		t.Errorf("access log format %q, want combined", h.AccessLog.Format)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")}; !reflect.DeepEqual(h.TrustedProxies, want) {
		t.Errorf("trusted proxies %v, want %v", h.TrustedProxies, want)
	}
	s := &h.Servers[0]
	if want := []string{"www.example.com", "~^Api\\."}; !reflect.DeepEqual(s.ServerNames, want) {
		t.Errorf("server names %q, want %q (a regex keeps its case)", s.ServerNames, want)
	}
	x := &s.Locations[0]
	if x.Match != "= /x" || *x.Return != (Return{Code: 302, Text: "https://example.com/"}) {
		t.Errorf("location %q return %+v, want \"= /x\" and return 302 URL", x.Match, *x.Return)
	}
	if !reflect.DeepEqual(x.NextUpstream, []string{"error", "http_502"}) {
		t.Errorf("next_upstream %q, want lower case", x.NextUpstream)
	}
	if x.ConnectTimeout != DefaultProxyTimeout || x.ReadTimeout != 5*time.Second || x.SendTimeout != DefaultProxyTimeout {
		t.Errorf("timeouts %v %v %v, want the default 60s where unset", x.ConnectTimeout, x.ReadTimeout, x.SendTimeout)
	}
	p := &s.Locations[1]
	a, b := &p.Locations[0], &p.Locations[1]
	// ngx_http_proxy_merge_loc_conf: unset values come from the parent.
	if !reflect.DeepEqual(a.SetHeaders, p.SetHeaders) || !reflect.DeepEqual(a.NextUpstream, []string{"timeout"}) ||
		a.NextUpstreamTries != 3 || a.ConnectTimeout != 2*time.Second || a.ReadTimeout != DefaultProxyTimeout {
		t.Errorf("nested location did not inherit: %+v", *a)
	}
	if &a.SetHeaders[0] == &p.SetHeaders[0] {
		t.Error("inherited set_headers share the parent's array")
	}
	if !reflect.DeepEqual(b.SetHeaders, []Header{{Name: "X", Value: "y"}}) || !reflect.DeepEqual(b.NextUpstream, []string{"error"}) ||
		b.NextUpstreamTries != 1 || b.ConnectTimeout != time.Second {
		t.Errorf("nested location lost its own settings: %+v", *b)
	}
	u := &h.Upstreams[0]
	if u.Balance != "round_robin" || u.Keepalive != 32 || u.KeepaliveTimeout != 60*time.Second || u.RetryBudget != 0.2 {
		t.Errorf("upstream defaults %q %d %v %v", u.Balance, u.Keepalive, u.KeepaliveTimeout, u.RetryBudget)
	}
	if want := (UpstreamServer{Address: "10.0.0.1:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}); u.Servers[0] != want {
		t.Errorf("server defaults %+v, want %+v", u.Servers[0], want)
	}
	if want := (UpstreamServer{Address: "10.0.0.2:80", Weight: 3, MaxFails: -1, FailTimeout: 10 * time.Second}); u.Servers[1] != want {
		t.Errorf("server %+v, want %+v (max_fails -1 kept)", u.Servers[1], want)
	}
	if u.Sticky.Path != "/" || u.Health.EjectionTime != 30*time.Second || u.Health.Checks[0].DNSType != "A" {
		t.Errorf("sticky path %q, ejection time %v, check dns_type %q", u.Sticky.Path, u.Health.EjectionTime, u.Health.Checks[0].DNSType)
	}
	again := c.Clone()
	Normalize(again)
	if !reflect.DeepEqual(again, c) {
		t.Error("Normalize is not idempotent")
	}
}

// validHTTPModel is a small valid http section built in Go, as the proxy's
// own tests or the admin API would build one.
func validHTTPModel() *Config {
	c := validModel()
	c.HTTP = &HTTP{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")},
		Servers: []HTTPServer{{
			Listen:      []HTTPListen{{Address: netip.MustParseAddrPort("127.0.0.1:8080")}},
			ServerNames: []string{"www.example.com"},
			Locations: []Location{
				{Match: "/", ProxyPass: "http://web/", Locations: []Location{{Match: "/img/", ProxyPass: "http://web"}}},
				{Match: "~ ^/r/", Routes: []HTTPRoute{{Match: RouteMatch{Languages: []string{"zh"}}, ProxyPass: "http://web"}}, ProxyPass: "http://web"},
				{Match: "= /health", Return: &Return{Code: 200, Text: "ok"}},
			},
		}},
		Upstreams: []Upstream{{Name: "web", Servers: []UpstreamServer{{Address: "127.0.0.1:9001"}, {Address: "127.0.0.1:9002", Backup: true}}}},
	}
	return c
}

// TestValidateHTTPModel checks Validate on http models from a non-file
// source: unnormalised zero values mean "the default", keys are schema
// paths, and every rule reports at its key.
func TestValidateHTTPModel(t *testing.T) {
	loc := func(c *Config, i int) *Location { return &c.HTTP.Servers[0].Locations[i] }
	up := func(c *Config) *Upstream { return &c.HTTP.Upstreams[0] }
	deep := func(n int) []Location {
		l := []Location{{Match: "/", ProxyPass: "http://web"}}
		for range n {
			l = []Location{{Match: "/", ProxyPass: "http://web", Locations: l}}
		}
		return l
	}
	tests := []validateCase{
		{"valid", func(*Config) {}, "", Error, ""},
		{"empty http section", func(c *Config) { c.HTTP = &HTTP{} }, "", Error, ""},
		{"listener without port", func(c *Config) {
			c.HTTP.Servers[0].Listen[0].Address = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
		}, "http.servers[0].listen[0].address", Error, "port 0"},
		{"listener on an L4 service's address", func(c *Config) { c.HTTP.Servers[0].Listen[0].Address = netip.MustParseAddrPort("10.0.0.1:80") }, "http.servers[0].listen[0]", Error, "services[0]"},
		{"listener on admin.listen", func(c *Config) {
			c.Admin.Listen, c.Admin.TokenFile = "127.0.0.1:8080", "/t"
		}, "http.servers[0].listen[0]", Error, "admin.listen"},
		{"wildcard listener over admin.listen", func(c *Config) {
			c.Admin.Listen, c.Admin.TokenFile = "[::1]:8080", "/t"
			c.HTTP.Servers[0].Listen[0].Address = netip.MustParseAddrPort("[::]:8080")
		}, "http.servers[0].listen[0]", Error, "admin.listen"},
		// The proxy binds IPv6 with IPV6_V6ONLY, as nginx's ipv6only=on.
		{"[::] leaves IPv4 admin.listen alone", func(c *Config) {
			c.Admin.Listen, c.Admin.TokenFile = "127.0.0.1:8080", "/t"
			c.HTTP.Servers[0].Listen[0].Address = netip.MustParseAddrPort("[::]:8080")
		}, "", Error, ""},
		{"listen 80 and [::]:80 together", func(c *Config) {
			s := &c.HTTP.Servers[0]
			s.Listen = []HTTPListen{{Address: netip.MustParseAddrPort("0.0.0.0:8080")}, {Address: netip.MustParseAddrPort("[::]:8080")}}
		}, "", Error, ""},
		{"proxy_protocol with trusted proxies", func(c *Config) { c.HTTP.Servers[0].Listen[0].ProxyProtocol = true }, "", Error, ""},
		{"invalid trusted proxy", func(c *Config) { c.HTTP.TrustedProxies = []netip.Prefix{{}} }, "http.trusted_proxies[0]", Error, "invalid"},
		{"negative limit", func(c *Config) { c.HTTP.Limits.MaxHeaders = -1 }, "http.limits.max_headers", Error, "negative"},
		{"unlimited body", func(c *Config) { c.HTTP.Limits.MaxBodyBytes = -1 }, "", Error, ""},
		{"body below -1", func(c *Config) { c.HTTP.Limits.MaxBodyBytes = -2 }, "http.limits.max_body_bytes", Error, "out of range"},
		{"access log relative", func(c *Config) { c.HTTP.AccessLog.Path = "access.log" }, "http.access_log.path", Error, "absolute"},
		{"unnormalised match", func(c *Config) { loc(c, 2).Match = "=/health" }, "", Error, ""},
		{"return code 0", func(c *Config) { loc(c, 2).Return.Code = 0 }, "http.servers[0].locations[2].return.code", Error, "missing"},
		{"return URL without code (302)", func(c *Config) { *loc(c, 2).Return = Return{Code: 0, Text: "https://a/"} }, "http.servers[0].locations[2].return.code", Error, "missing"},
		{"URI part in a regex location", func(c *Config) { loc(c, 1).ProxyPass = "http://web/x" }, "http.servers[0].locations[1].proxy_pass", Error, route.ErrURIPartNotAllowed.Error()},
		{"URI part in a route of a regex location", func(c *Config) { loc(c, 1).Routes[0].ProxyPass = "http://web/" }, "http.servers[0].locations[1].routes[0].proxy_pass", Error, "cannot have URI part"},
		{"nested too deep", func(c *Config) { c.HTTP.Servers[0].Locations = deep(maxLocationDepth + 1) }, "http.servers[0]" + strings.Repeat(".locations[0]", maxLocationDepth+1) + ".locations", Error, "nested deeper"},
		{"nested at the limit", func(c *Config) { c.HTTP.Servers[0].Locations = deep(maxLocationDepth) }, "", Error, ""},
		{"negative timeout", func(c *Config) { loc(c, 0).ReadTimeout = -time.Second }, "http.servers[0].locations[0].read_timeout", Error, "negative"},
		{"negative tries", func(c *Config) { loc(c, 0).NextUpstreamTries = -1 }, "http.servers[0].locations[0].next_upstream_tries", Error, "negative"},
		{"unknown next_upstream", func(c *Config) { loc(c, 0).NextUpstream = []string{"updating"} }, "http.servers[0].locations[0].next_upstream[0]", Error, `invalid value "updating"`},
		{"negative weight", func(c *Config) { up(c).Servers[0].Weight = -1 }, "http.upstreams[0].servers[0].weight", Error, "out of range"},
		{"max_fails below -1", func(c *Config) { up(c).Servers[0].MaxFails = -2 }, "http.upstreams[0].servers[0].max_fails", Error, "out of range"},
		{"max_fails off", func(c *Config) { up(c).Servers[0].MaxFails = -1 }, "", Error, ""},
		{"negative fail_timeout", func(c *Config) { up(c).Servers[0].FailTimeout = -time.Second }, "http.upstreams[0].servers[0].fail_timeout", Error, "negative"},
		{"keepalive below -1", func(c *Config) { up(c).Keepalive = -2 }, "http.upstreams[0].keepalive", Error, "out of range"},
		{"keepalive none", func(c *Config) { up(c).Keepalive = -1 }, "", Error, ""},
		{"retry budget NaN", func(c *Config) { up(c).RetryBudget = math.NaN() }, "http.upstreams[0].retry_budget", Error, "out of range"},
		{"backup with hash", func(c *Config) { up(c).Balance = "hash $uri" }, "http.upstreams[0].servers[1].backup", Error, `does not support parameter "backup"`},
		{"backup with an HAProxy method", func(c *Config) { up(c).Balance = "source" }, "", Error, ""},
		{"weight 257 with HAProxy", func(c *Config) { up(c).Balance, up(c).Servers[0].Weight = "static-rr", 257 }, "http.upstreams[0].servers[0].weight", Error, "1..256"},
		{"ketama ring too big", func(c *Config) {
			up(c).Balance, up(c).Servers[1].Backup = "hash $uri consistent", false
			up(c).Servers[0].Weight = maxKetamaPoints / 160
		}, "http.upstreams[0].servers", Error, "consistent-hash ring"},
		{"sticky source with path", func(c *Config) { up(c).Sticky = &Sticky{Source: true, Path: "/"} }, "http.upstreams[0].sticky.path", Error, "only to a sticky cookie"},
		{"sticky cookie unnormalised path", func(c *Config) { up(c).Sticky = &Sticky{Cookie: "SRV"} }, "", Error, ""},
		{"negative consecutive_5xx", func(c *Config) { up(c).Health.Consecutive5xx = -1 }, "http.upstreams[0].health.consecutive_5xx", Error, "negative"},
		{"tls upstream with http://", func(c *Config) {
			c.HTTP.Upstreams = append(c.HTTP.Upstreams, Upstream{Name: "secure", TLS: &UpstreamTLS{}, Servers: []UpstreamServer{{Address: "127.0.0.1:9443"}}})
			loc(c, 2).Return, loc(c, 2).ProxyPass = nil, "http://secure"
		}, "http.servers[0].locations[2].proxy_pass", Error, `upstream "secure" has tls`},
		{"tls upstream with https://", func(c *Config) {
			c.HTTP.Upstreams = append(c.HTTP.Upstreams, Upstream{Name: "secure", TLS: &UpstreamTLS{}, Servers: []UpstreamServer{{Address: "127.0.0.1:9443"}}})
			loc(c, 2).Return, loc(c, 2).ProxyPass = nil, "https://secure"
		}, "", Error, ""},
		{"unused upstream", func(c *Config) {
			c.HTTP.Upstreams = append(c.HTTP.Upstreams, Upstream{Name: "spare", Servers: []UpstreamServer{{Address: "127.0.0.1:9"}}})
		}, "http.upstreams[1].name", Warning, "unused"},
		{"server name with a capture group", func(c *Config) { c.HTTP.Servers[0].ServerNames = []string{`~^(?P<sub>\w+)\.example\.com$`} }, "", Error, ""},
	}
	runValidateCases(t, validHTTPModel, tests)
}

// TestValidateHTTPNginxMessages pins the messages nginx itself prints for
// the same mistakes, so that users can search for them.
func TestValidateHTTPNginxMessages(t *testing.T) {
	c := validHTTPModel()
	l := c.HTTP.Servers[0].Locations
	l[0].Locations[0].Locations = []Location{{Match: "/other/", ProxyPass: "http://web"}}
	l[2].Locations = []Location{{Match: "/health/x", Return: &Return{Code: 204}}}
	c.HTTP.Servers[0].Locations = append(l, Location{Match: "^~ /", Return: &Return{Code: 204}}, Location{Match: "@n", Locations: []Location{{Match: "@m", Return: &Return{Code: 204}}}})
	c.HTTP.Servers[0].ServerNames = []string{"*.a.*", "**"}
	c.HTTP.Upstreams[0].Servers = nil
	want := []string{
		`location "/other/" is outside location "/img/"`,                     // ngx_http_core_location
		`location "/health/x" cannot be inside the exact location "/health"`, // ngx_http_core_location
		`duplicate location "/"`,                                             // ngx_http_join_exact_locations
		`location "@m" cannot be inside the named location "@n"`,             // ngx_http_core_location
		`invalid server name or wildcard "*.a.*"`,                            // ngx_hash_add_key
		`server name "**" is invalid`,                                        // ngx_http_core_server_name
		`no servers are inside upstream`,                                     // ngx_http_upstream
	}
	got := Validate(c).String()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
}

func TestValidateHTTPDoesNotModify(t *testing.T) {
	c := validHTTPModel()
	c.HTTP.Servers[0].Locations[0].Match = "=/x"
	before := c.Clone()
	Validate(c)
	if !reflect.DeepEqual(c, before) {
		t.Error("Validate modified its argument")
	}
}

// TestCloneHTTP checks that a clone shares nothing with its original.
func TestCloneHTTP(t *testing.T) {
	c := validHTTPModel()
	Normalize(c)
	u := &c.HTTP.Upstreams[0]
	u.TLS, u.Sticky = &UpstreamTLS{ServerName: "a"}, &Sticky{Cookie: "SRV"}
	u.Health.Checks = []Check{{Type: CheckHTTP, URLs: []CheckURL{{Path: "/", StatusCodes: []StatusRange{{200, 299}}}}}}
	c.HTTP.Servers[0].Locations[1].Routes[0].Match.Headers = []HeaderMatch{{Name: "X"}}
	orig := c.Clone()
	n := c.Clone()
	h := n.HTTP
	h.TrustedProxies[0] = netip.Prefix{}
	h.Servers[0].Listen[0].TLS = true
	h.Servers[0].ServerNames[0] = "changed"
	h.Servers[0].Locations[0].Locations[0].Match = "changed"
	h.Servers[0].Locations[0].SetHeaders = append(h.Servers[0].Locations[0].SetHeaders, Header{})
	h.Servers[0].Locations[0].NextUpstream[0] = "changed"
	h.Servers[0].Locations[1].Routes[0].Match.Languages[0] = "changed"
	h.Servers[0].Locations[1].Routes[0].Match.Headers[0].Name = "changed"
	h.Servers[0].Locations[2].Return.Code = 500
	h.Upstreams[0].Servers[0].Weight = 9
	h.Upstreams[0].TLS.ServerName = "changed"
	h.Upstreams[0].Sticky.Cookie = "changed"
	h.Upstreams[0].Health.Checks[0].URLs[0].StatusCodes[0].From = 100
	if !reflect.DeepEqual(c, orig) {
		t.Error("changing a clone changed the original")
	}
}

// TestMarshalHTTPShortForms checks that Marshal falls back to a mapping
// where a one-line form would not read back the same value.
func TestMarshalHTTPShortForms(t *testing.T) {
	c := validHTTPModel()
	l := &c.HTTP.Servers[0].Locations[2]
	l.Return = &Return{Code: 200, Text: " leading blank"}
	l.Rewrites = []Rewrite{{Regex: "^/a b$", Replacement: "/c"}, {Regex: "^/x$", Replacement: "/y", Flag: "break"}}
	l.SetHeaders = []Header{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}}
	c.HTTP.Upstreams[0].Servers[0].ID = 3
	Normalize(c)
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"text: ' leading blank'", "regex: ^/a b$", "- ^/x$ /y break", "- name: A", "id: 3", "- 127.0.0.1:9002 weight=1 max_fails=1 fail_timeout=10s backup"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Marshal output lacks %q:\n%s", want, out)
		}
	}
	checkRoundTrip(t, "", c)
}

// TestDocsHTTPExamples parses every yaml block of docs/configuration.md
// that starts with "http:": the documented examples must stay valid.
func TestDocsHTTPExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Skipf("docs not found: %v", err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(http:\n.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no http examples in docs/configuration.md")
	}
	for i, b := range blocks {
		if _, ds := Parse("configuration.md", b[1]); ds.Err() != nil {
			t.Errorf("example %d does not parse:\n%v\n%s", i, ds.Err(), b[1])
		}
	}
	// The seed's nginx tier in the docs is testdata/valid_http.yaml, up to
	// comments.
	doc1, _ := Parse("", blocks[0][1])
	for _, g := range goldenFiles(t) {
		if g.Name == "valid_http.yaml" {
			want, _ := Parse("", g.Input)
			if !reflect.DeepEqual(doc1, want) {
				t.Error("the first http example of docs/configuration.md is not testdata/valid_http.yaml")
			}
			return
		}
	}
	t.Error("testdata/valid_http.yaml is missing")
}

// TestRegexProblem checks the wording for PCRE-only constructs and for
// syntax errors.
func TestRegexProblem(t *testing.T) {
	_, err := route.Compile([]*route.Location{{Modifier: route.ModRegex, Pattern: `(\w)\1`}})
	var ue *route.UnsupportedRegexError
	if !errors.As(err, &ue) {
		t.Fatalf("route.Compile(backreference) = %v, want an UnsupportedRegexError", err)
	}
	if got := regexProblem(`(\w)\1`, err); !strings.Contains(got, `regex "(\w)\1" uses a backreference`) || !strings.Contains(got, "RE2") {
		t.Errorf("regexProblem = %q", got)
	}
	_, err = route.Compile([]*route.Location{{Modifier: route.ModRegex, Pattern: `a{2,1}`}})
	if got := regexProblem(`a{2,1}`, err); got != `invalid regex "a{2,1}": invalid repeat count` {
		t.Errorf("regexProblem = %q", got)
	}
}
