package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// This file decodes the http section of the native YAML: virtual servers
// with nginx locations, upstream groups, trusted proxies, the access log
// and client limits. Where nginx has a one-line directive the YAML takes
// that line as a short form: a listen item ("0.0.0.0:443 ssl http2"), an
// upstream server ("10.0.0.1:80 weight=5 backup"), a location match
// ("^~ /img/"), a rewrite ("^/a/(.*)$ /b/$1 break") and a return
// ("301 https://$host$request_uri").

func (d *decoder) http(n *yaml.Node, path string) *HTTP {
	h := &HTTP{}
	d.mapping(n, path, append([]field{
		{"servers", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				h.Servers = append(h.Servers, d.httpServer(item, ip))
			})
		}},
		{"upstreams", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				h.Upstreams = append(h.Upstreams, d.upstream(item, ip))
			})
		}},
		{"trusted_proxies", func(v *yaml.Node, p string) { h.TrustedProxies = d.prefixes(v, p) }},
		{"access_log", func(v *yaml.Node, p string) { d.accessLog(v, p, &h.AccessLog) }},
		{"limits", func(v *yaml.Node, p string) { d.httpLimits(v, p, &h.Limits) }},
	}, d.httpExtras(h)...))
	return h
}

// prefixes decodes a list of CIDRs or bare addresses (a host prefix). A
// failed item keeps its place so that later indices stay right.
func (d *decoder) prefixes(n *yaml.Node, path string) []netip.Prefix {
	var out []netip.Prefix
	d.sequence(n, path, func(item *yaml.Node, ip string) {
		var p netip.Prefix
		if v := d.scalar(item, ip, `a CIDR like "10.0.0.0/8" or an IP address`, "!!str"); v != nil {
			var err error
			if p, err = parsePrefixOrAddr(v.Value); err != nil {
				d.errorf(v, ip, "invalid CIDR %q: want an address with a prefix length like 10.0.0.0/8, or an IP address", v.Value)
			}
		}
		out = append(out, p)
	})
	return out
}

func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("invalid address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// accessLog decodes the access log: a path, "-" for stdout, "off", or a
// mapping of path and format.
func (d *decoder) accessLog(n *yaml.Node, path string, a *AccessLog) {
	r := d.resolve(n)
	if r == nil {
		return
	}
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		if r.Value != "off" {
			a.Path = r.Value
		}
		return
	}
	d.mapping(r, path, []field{
		{"path", func(v *yaml.Node, p string) { d.str(v, p, &a.Path) }},
		{"format", func(v *yaml.Node, p string) { d.str(v, p, &a.Format) }},
	})
}

func (d *decoder) httpLimits(n *yaml.Node, path string, l *HTTPLimits) {
	d.mapping(n, path, []field{
		{"header_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &l.HeaderTimeout) }},
		{"body_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &l.BodyTimeout) }},
		{"keepalive_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &l.KeepaliveTimeout) }},
		{"max_header_bytes", func(v *yaml.Node, p string) {
			if i, ok := d.size(v, p, 1, math.MaxInt32); ok {
				l.MaxHeaderBytes = int(i)
			}
		}},
		{"max_headers", func(v *yaml.Node, p string) { d.positiveInt(v, p, &l.MaxHeaders) }},
		{"max_body_bytes", func(v *yaml.Node, p string) {
			// nginx client_max_body_size 0 turns the check off; the model
			// keeps 0 for "the default" and -1 for "unlimited".
			if i, ok := d.size(v, p, 0, math.MaxInt64); ok {
				l.MaxBodyBytes = i
				if i == 0 {
					l.MaxBodyBytes = -1
				}
			}
		}},
		{"max_concurrent_streams", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 1, math.MaxUint32); ok {
				l.MaxConcurrentH2 = uint32(i)
			}
		}},
	})
}

// size decodes a byte count: an integer, or nginx's size syntax with a k,
// m or g suffix ("32k", "1m").
func (d *decoder) size(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	if n = d.scalar(n, path, `a size in bytes like 1048576 or "1m"`, "!!int", "!!str"); n == nil {
		return 0, false
	}
	v, err := parseSize(n.Value, n.ShortTag() == "!!int")
	if err != nil {
		d.errorf(n, path, "invalid size %q: want a number of bytes, optionally followed by k, m or g (like nginx's 32k or 1m)", n.Value)
		return 0, false
	}
	if v < lo || v > hi {
		d.errorf(n, path, "%s is out of range %d..%d bytes", n.Value, lo, hi)
		return 0, false
	}
	return v, true
}

// parseSize reads ngx_parse_offset's syntax (k, m, g, either case); a
// YAML integer may also be written with a base prefix or _ separators.
func parseSize(s string, yamlInt bool) (int64, error) {
	if yamlInt {
		return strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	}
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, errors.New("not a size")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > math.MaxInt64/mult {
		return 0, errors.New("not a size")
	}
	return v * mult, nil
}

func (d *decoder) httpServer(n *yaml.Node, path string) HTTPServer {
	var s HTTPServer
	d.mapping(n, path, []field{
		{"listen", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				s.Listen = append(s.Listen, d.httpListen(item, ip))
			})
		}},
		{"server_names", func(v *yaml.Node, p string) { s.ServerNames = d.stringList(v, p) }},
		{"certificates", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				var c Certificate
				d.mapping(item, ip, []field{
					{"cert_file", func(v *yaml.Node, p string) { d.str(v, p, &c.CertFile) }},
					{"key_file", func(v *yaml.Node, p string) { d.str(v, p, &c.KeyFile) }},
				})
				s.Certificates = append(s.Certificates, c)
			})
		}},
		{"locations", func(v *yaml.Node, p string) { s.Locations = d.locations(v, p, 0) }},
	})
	return s
}

// stringList decodes a list of strings; a failed item keeps its place.
func (d *decoder) stringList(n *yaml.Node, path string) []string {
	var out []string
	d.sequence(n, path, func(item *yaml.Node, ip string) {
		var s string
		d.str(item, ip, &s)
		out = append(out, s)
	})
	return out
}

// httpListen decodes a listen item: nginx's listen line ("ADDRESS [ssl]
// [http2] [proxy_protocol] [default_server]", ADDRESS being ip:port,
// *:port or a port), a bare port number, or a mapping.
func (d *decoder) httpListen(n *yaml.Node, path string) HTTPListen {
	var l HTTPListen
	r := d.resolve(n)
	if r == nil {
		return l
	}
	if r.Kind == yaml.ScalarNode && (r.ShortTag() == "!!str" || r.ShortTag() == "!!int") {
		var err error
		if l, err = parseListenLine(r.Value); err != nil {
			d.errorf(r, path, "%v", err)
		}
		return l
	}
	if r.Kind != yaml.MappingNode {
		d.errorf(r, path, `expected an address like "0.0.0.0:443 ssl http2" or a mapping of address, tls, http2, proxy_protocol and default_server, got %s`, describe(r))
		return l
	}
	flag := func(out *bool) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) { d.boolean(v, p, out) }
	}
	d.mapping(r, path, []field{
		{"address", func(v *yaml.Node, p string) {
			if v = d.scalar(v, p, "an ip:port address", "!!str", "!!int"); v != nil {
				a, err := parseListenAddr(v.Value)
				if err != nil {
					d.errorf(v, p, "%v", err)
					return
				}
				l.Address = a
			}
		}},
		{"tls", flag(&l.TLS)},
		{"http2", flag(&l.HTTP2)},
		{"proxy_protocol", flag(&l.ProxyProtocol)},
		{"default_server", flag(&l.Default)},
	})
	return l
}

// parseListenAddr reads an address as nginx's listen directive takes one
// (ngx_http_core_listen): ip:port, [ipv6]:port, *:port or a port alone,
// the last two meaning every IPv4 address.
func parseListenAddr(s string) (netip.AddrPort, error) {
	if p, err := strconv.ParseUint(s, 10, 16); err == nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(p)), nil
	}
	if port, ok := strings.CutPrefix(s, "*:"); ok {
		s = "0.0.0.0:" + port
	}
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("invalid listen address %q: want ip:port (IPv6 in brackets, like [::]:443), *:port or a port", s)
	}
	return a, nil
}

// parseListenLine reads nginx's listen arguments; "tls" is accepted as
// well as nginx's "ssl", and "default" (nginx before 0.8.21) as
// "default_server".
func parseListenLine(s string) (HTTPListen, error) {
	var l HTTPListen
	words := strings.Fields(s)
	if len(words) == 0 {
		return l, errors.New("empty listen address")
	}
	a, err := parseListenAddr(words[0])
	if err != nil {
		return l, err
	}
	l.Address = a
	for _, w := range words[1:] {
		switch w {
		case "ssl", "tls":
			l.TLS = true
		case "http2":
			l.HTTP2 = true
		case "proxy_protocol":
			l.ProxyProtocol = true
		case "default_server", "default":
			l.Default = true
		default:
			return HTTPListen{}, fmt.Errorf("invalid parameter %q: a listen line takes ssl, http2, proxy_protocol and default_server after the address", w)
		}
	}
	return l, nil
}

// locations decodes a list of locations. Nesting is bounded as route
// bounds it, so that a deep document fails here rather than later.
func (d *decoder) locations(n *yaml.Node, path string, depth int) []Location {
	var out []Location
	d.sequence(n, path, func(item *yaml.Node, ip string) {
		out = append(out, d.location(item, ip, depth))
	})
	return out
}

func (d *decoder) location(n *yaml.Node, path string, depth int) Location {
	var l Location
	if depth > maxLocationDepth {
		d.errorf(n, path, "locations nested deeper than %d", maxLocationDepth)
		return l
	}
	d.mapping(n, path, append([]field{
		{"match", func(v *yaml.Node, p string) { d.str(v, p, &l.Match) }},
		{"locations", func(v *yaml.Node, p string) { l.Locations = d.locations(v, p, depth+1) }},
		{"rewrites", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				l.Rewrites = append(l.Rewrites, d.rewrite(item, ip))
			})
		}},
		{"return", func(v *yaml.Node, p string) { l.Return = d.ret(v, p) }},
		{"routes", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				l.Routes = append(l.Routes, d.route(item, ip))
			})
		}},
		{"proxy_pass", func(v *yaml.Node, p string) { d.str(v, p, &l.ProxyPass) }},
		{"set_headers", func(v *yaml.Node, p string) { l.SetHeaders = d.headers(v, p) }},
		{"next_upstream", func(v *yaml.Node, p string) { l.NextUpstream = d.words(v, p) }},
		{"next_upstream_tries", func(v *yaml.Node, p string) {
			// proxy_next_upstream_tries: 0 is unlimited, nginx's default.
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				l.NextUpstreamTries = int(i)
			}
		}},
		{"next_upstream_timeout", func(v *yaml.Node, p string) { d.nonNegativeDuration(v, p, &l.NextUpstreamTimeout) }},
		{"connect_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &l.ConnectTimeout) }},
		{"read_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &l.ReadTimeout) }},
		{"send_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &l.SendTimeout) }},
	}, d.locationExtras(&l)...))
	return l
}

func (d *decoder) nonNegativeDuration(n *yaml.Node, path string, out *time.Duration) {
	var v time.Duration
	d.duration(n, path, &v)
	if d.bad[path] {
		return
	}
	if v < 0 {
		d.errorf(n, path, "%s is negative", formatDuration(v))
		return
	}
	*out = v
}

// words decodes a list of words, or one string of words separated by
// blanks as nginx writes proxy_next_upstream's arguments.
func (d *decoder) words(n *yaml.Node, path string) []string {
	if r := d.resolve(n); r != nil && r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		return strings.Fields(r.Value)
	}
	return d.stringList(n, path)
}

// rewrite decodes nginx's "rewrite REGEX REPLACEMENT [FLAG]" line, or a
// mapping of regex, replacement and flag (for a regex with blanks).
func (d *decoder) rewrite(n *yaml.Node, path string) Rewrite {
	var rw Rewrite
	r := d.resolve(n)
	if r == nil {
		return rw
	}
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		f := strings.Fields(r.Value)
		if len(f) < 2 || len(f) > 3 {
			d.errorf(r, path, `invalid rewrite %q: want "REGEX REPLACEMENT [last|break|redirect|permanent]", or a mapping of regex, replacement and flag when they contain blanks`, r.Value)
			return rw
		}
		rw.Regex, rw.Replacement = f[0], f[1]
		if len(f) == 3 {
			rw.Flag = f[2]
		}
		return rw
	}
	if r.Kind != yaml.MappingNode {
		d.errorf(r, path, `expected a rewrite like "^/old/(.*)$ /new/$1 permanent" or a mapping of regex, replacement and flag, got %s`, describe(r))
		return rw
	}
	d.mapping(r, path, []field{
		{"regex", func(v *yaml.Node, p string) { d.str(v, p, &rw.Regex) }},
		{"replacement", func(v *yaml.Node, p string) { d.str(v, p, &rw.Replacement) }},
		{"flag", func(v *yaml.Node, p string) { d.str(v, p, &rw.Flag) }},
	})
	return rw
}

// ret decodes nginx's return: a code, "CODE TEXT", "CODE URL", a URL alone
// (302, as ngx_http_rewrite_return), or a mapping of code and text.
func (d *decoder) ret(n *yaml.Node, path string) *Return {
	r := d.resolve(n)
	if r == nil {
		return nil
	}
	switch {
	case r.Kind == yaml.ScalarNode && r.ShortTag() == "!!int":
		if i, ok := d.integer(r, path, 0, math.MaxInt32); ok {
			return &Return{Code: int(i)}
		}
		return &Return{}
	case r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str":
		rt, err := parseReturn(r.Value)
		if err != nil {
			d.errorf(r, path, "%v", err)
		}
		return rt
	case r.Kind != yaml.MappingNode:
		d.errorf(r, path, `expected a return like 404, "301 https://example.com/" or a mapping of code and text, got %s`, describe(r))
		return &Return{}
	}
	rt := &Return{}
	d.mapping(r, path, []field{
		{"code", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				rt.Code = int(i)
			}
		}},
		{"text", func(v *yaml.Node, p string) { d.str(v, p, &rt.Text) }},
	})
	return rt
}

func parseReturn(s string) (*Return, error) {
	if isRedirectURL(s) {
		return &Return{Code: 302, Text: s}, nil
	}
	code, text := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		code, text = s[:i], strings.TrimLeft(s[i:], " \t")
	}
	n, err := strconv.ParseUint(code, 10, 31)
	if err != nil {
		return &Return{}, fmt.Errorf(`invalid return code %q: want "CODE [TEXT]", "CODE URL", or a URL starting with http://, https:// or $scheme`, code)
	}
	return &Return{Code: int(n), Text: text}, nil
}

func (d *decoder) route(n *yaml.Node, path string) HTTPRoute {
	var rt HTTPRoute
	d.mapping(n, path, []field{
		{"match", func(v *yaml.Node, p string) { d.routeMatch(v, p, &rt.Match) }},
		{"proxy_pass", func(v *yaml.Node, p string) { d.str(v, p, &rt.ProxyPass) }},
	})
	return rt
}

func (d *decoder) routeMatch(n *yaml.Node, path string, m *RouteMatch) {
	d.mapping(n, path, []field{
		{"headers", func(v *yaml.Node, p string) { m.Headers = d.headerMatches(v, p) }},
		{"cookies", func(v *yaml.Node, p string) { m.Cookies = d.headerMatches(v, p) }},
		{"query", func(v *yaml.Node, p string) { m.Query = d.headerMatches(v, p) }},
		{"methods", func(v *yaml.Node, p string) { m.Methods = d.stringList(v, p) }},
		{"sources", func(v *yaml.Node, p string) { m.Sources = d.prefixes(v, p) }},
		{"user_agents", func(v *yaml.Node, p string) { m.UserAgents = d.stringList(v, p) }},
		{"languages", func(v *yaml.Node, p string) { m.Languages = d.stringList(v, p) }},
	})
}

// pairs calls each for every key of a mapping whose keys are data (header
// names), refusing what mapping refuses: non-scalar and merge keys, and a
// key given twice.
func (d *decoder) pairs(n *yaml.Node, path string, each func(k, v *yaml.Node, kp string)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			if k.ShortTag() == "!!merge" {
				d.report(k, path, "merge keys (<<) are not supported; repeat the settings or use an alias for the whole value")
			} else {
				d.report(k, path, "a key must be a plain string, got %s", describe(k))
			}
			continue
		}
		kp := join(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.report(k, kp, "duplicate key (first set on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		each(k, v, kp)
	}
}

// text reads a scalar as its text whatever its YAML type (a header value
// of 2 is "2"); null is "".
func (d *decoder) text(n *yaml.Node, path string) (string, bool) {
	r := d.resolve(n)
	if r == nil {
		return "", false
	}
	if r.Kind != yaml.ScalarNode {
		d.errorf(r, path, "expected a value, got %s", describe(r))
		return "", false
	}
	if isNull(r) {
		return "", true
	}
	return r.Value, true
}

// headers decodes a header list: a mapping of name to value (null is the
// empty value, which removes the header as in nginx), or a list of
// mappings of name and value (for a name given twice).
func (d *decoder) headers(n *yaml.Node, path string) []Header {
	var out []Header
	r := d.resolve(n)
	if r == nil || isNull(r) {
		return nil
	}
	if r.Kind == yaml.MappingNode {
		d.pairs(r, path, func(k, v *yaml.Node, kp string) {
			if val, ok := d.text(v, kp); ok {
				out = append(out, Header{Name: k.Value, Value: val})
			}
		})
		return out
	}
	d.sequence(r, path, func(item *yaml.Node, ip string) {
		var h Header
		d.mapping(item, ip, []field{
			{"name", func(v *yaml.Node, p string) { d.str(v, p, &h.Name) }},
			{"value", func(v *yaml.Node, p string) { h.Value, _ = d.text(v, p) }},
		})
		out = append(out, h)
	})
	return out
}

// headerMatches decodes header, cookie or query conditions: a mapping of
// name to the exact value (null: present with any value), or a list of
// mappings of name, value and regex.
func (d *decoder) headerMatches(n *yaml.Node, path string) []HeaderMatch {
	var out []HeaderMatch
	r := d.resolve(n)
	if r == nil || isNull(r) {
		return nil
	}
	if r.Kind == yaml.MappingNode {
		d.pairs(r, path, func(k, v *yaml.Node, kp string) {
			if val, ok := d.text(v, kp); ok {
				out = append(out, HeaderMatch{Name: k.Value, Value: val})
			}
		})
		return out
	}
	d.sequence(r, path, func(item *yaml.Node, ip string) {
		var m HeaderMatch
		d.mapping(item, ip, []field{
			{"name", func(v *yaml.Node, p string) { d.str(v, p, &m.Name) }},
			{"value", func(v *yaml.Node, p string) { m.Value, _ = d.text(v, p) }},
			{"regex", func(v *yaml.Node, p string) { d.str(v, p, &m.Regex) }},
		})
		out = append(out, m)
	})
	return out
}

func (d *decoder) upstream(n *yaml.Node, path string) Upstream {
	var u Upstream
	d.mapping(n, path, []field{
		{"name", func(v *yaml.Node, p string) { d.str(v, p, &u.Name) }},
		{"balance", func(v *yaml.Node, p string) { d.str(v, p, &u.Balance) }},
		{"hash_type", func(v *yaml.Node, p string) { d.str(v, p, &u.HashType) }},
		{"servers", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				u.Servers = append(u.Servers, d.upstreamServer(item, ip))
			})
		}},
		{"keepalive", func(v *yaml.Node, p string) {
			// 0 keeps no idle connection; the model keeps 0 for "the
			// default" and -1 for "none".
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				u.Keepalive = int(i)
				if i == 0 {
					u.Keepalive = -1
				}
			}
		}},
		{"keepalive_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &u.KeepaliveTimeout) }},
		{"tls", func(v *yaml.Node, p string) {
			t := &UpstreamTLS{}
			u.TLS = t
			d.mapping(v, p, []field{
				{"server_name", func(v *yaml.Node, p string) { d.str(v, p, &t.ServerName) }},
				{"ca_file", func(v *yaml.Node, p string) { d.str(v, p, &t.CAFile) }},
				{"insecure_skip_verify", func(v *yaml.Node, p string) { d.boolean(v, p, &t.InsecureSkipVerify) }},
			})
			if d.bad[p] {
				u.TLS = nil // not a mapping: no TLS to hold the URLs to
			}
		}},
		{"proxy_protocol", func(v *yaml.Node, p string) { d.str(v, p, &u.ProxyProtocol) }},
		{"sticky", func(v *yaml.Node, p string) {
			s := &Sticky{}
			u.Sticky = s
			d.mapping(v, p, []field{
				{"cookie", func(v *yaml.Node, p string) { d.str(v, p, &s.Cookie) }},
				{"source", func(v *yaml.Node, p string) { d.boolean(v, p, &s.Source) }},
				{"timeout", func(v *yaml.Node, p string) { d.nonNegativeDuration(v, p, &s.Timeout) }},
				{"path", func(v *yaml.Node, p string) { d.str(v, p, &s.Path) }},
				{"httponly", func(v *yaml.Node, p string) { d.boolean(v, p, &s.HTTPOnly) }},
				{"secure", func(v *yaml.Node, p string) { d.boolean(v, p, &s.Secure) }},
			})
			if d.bad[p] {
				u.Sticky = nil
			}
		}},
		{"health", func(v *yaml.Node, p string) { d.upstreamHealth(v, p, &u.Health) }},
		{"retry_budget", func(v *yaml.Node, p string) {
			if v = d.scalar(v, p, "a fraction like 0.2", "!!float", "!!int"); v == nil {
				return
			}
			f, err := strconv.ParseFloat(strings.ReplaceAll(v.Value, "_", ""), 64)
			if err != nil || !(f > 0 && f <= 1) {
				d.errorf(v, p, "%s is out of range: a fraction of the requests in flight, more than 0 and at most 1 (leave it out for %g; next_upstream: [off] turns retries off)", v.Value, DefaultRetryBudget)
				return
			}
			u.RetryBudget = f
		}},
	})
	return u
}

// upstreamServer decodes a server: nginx's server line ("ADDRESS
// [weight=N] [max_fails=N] [fail_timeout=T] [max_conns=N] [slow_start=T]
// [backup] [down]") or a mapping, which also takes HAProxy's cookie and id.
func (d *decoder) upstreamServer(n *yaml.Node, path string) UpstreamServer {
	var s UpstreamServer
	r := d.resolve(n)
	if r == nil {
		return s
	}
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		var err error
		if s, err = parseServerLine(r.Value); err != nil {
			d.errorf(r, path, "%v", err)
		}
		return s
	}
	if r.Kind != yaml.MappingNode {
		d.errorf(r, path, `expected a server like "10.0.0.1:80 weight=2" or a mapping, got %s`, describe(r))
		return s
	}
	count := func(out *int, lo int64) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, lo, math.MaxInt32); ok {
				*out = int(i)
			}
		}
	}
	flag := func(out *bool) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) { d.boolean(v, p, out) }
	}
	d.mapping(r, path, []field{
		{"address", func(v *yaml.Node, p string) { d.str(v, p, &s.Address) }},
		// ngx_http_upstream_server: weight=0 is an invalid parameter.
		{"weight", count(&s.Weight, 1)},
		{"max_fails", func(v *yaml.Node, p string) {
			// max_fails=0 disables failure accounting; -1 in the model.
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				s.MaxFails = int(i)
				if i == 0 {
					s.MaxFails = -1
				}
			}
		}},
		{"fail_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &s.FailTimeout) }},
		{"backup", flag(&s.Backup)},
		{"down", flag(&s.Down)},
		{"max_conns", count(&s.MaxConns, 0)},
		{"slow_start", func(v *yaml.Node, p string) { d.nonNegativeDuration(v, p, &s.SlowStart) }},
		{"cookie", func(v *yaml.Node, p string) { d.str(v, p, &s.Cookie) }},
		// HAProxy server ids start at 1; 0 means "assigned".
		{"id", count(&s.ID, 1)},
	})
	return s
}

// parseServerLine reads the arguments of nginx's server directive
// (ngx_http_upstream_server), plus NGINX Plus's slow_start. Durations are
// Go syntax or whole seconds, as everywhere in the YAML.
func parseServerLine(line string) (UpstreamServer, error) {
	var s UpstreamServer
	words := strings.Fields(line)
	if len(words) == 0 {
		return s, errors.New("empty server")
	}
	s.Address = words[0]
	for _, w := range words[1:] {
		k, val, hasVal := strings.Cut(w, "=")
		bad := func(why string) (UpstreamServer, error) {
			return UpstreamServer{Address: s.Address}, fmt.Errorf("invalid parameter %q: %s", w, why)
		}
		switch {
		case w == "backup":
			s.Backup = true
		case w == "down":
			s.Down = true
		case !hasVal:
			return bad("a server line takes weight=N, max_fails=N, fail_timeout=T, max_conns=N, slow_start=T, backup and down after the address")
		case k == "weight", k == "max_fails", k == "max_conns":
			n, err := strconv.ParseInt(val, 10, 32)
			switch {
			case err != nil || n < 0:
				return bad("want a number")
			case k == "weight" && n == 0:
				return bad("weight is 1 or more")
			case k == "weight":
				s.Weight = int(n)
			case k == "max_fails" && n == 0:
				s.MaxFails = -1 // max_fails=0 disables failure accounting
			case k == "max_fails":
				s.MaxFails = int(n)
			default:
				s.MaxConns = int(n)
			}
		case k == "fail_timeout", k == "slow_start":
			t, err := parseDurationWord(val)
			switch {
			case err != nil || t < 0:
				return bad(`want a duration like "10s" or a number of seconds`)
			case k == "fail_timeout" && t == 0:
				return bad("fail_timeout must be more than 0 (max_fails=0 turns failure accounting off)")
			case k == "fail_timeout":
				s.FailTimeout = t
			default:
				s.SlowStart = t
			}
		default:
			return bad("a server line takes weight=N, max_fails=N, fail_timeout=T, max_conns=N, slow_start=T, backup and down after the address")
		}
	}
	return s, nil
}

// parseDurationWord reads a duration the way the YAML does: Go syntax or
// a whole number of seconds.
func parseDurationWord(s string) (time.Duration, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		if i > math.MaxInt64/int64(time.Second) || i < math.MinInt64/int64(time.Second) {
			return 0, errors.New("out of range")
		}
		return time.Duration(i) * time.Second, nil
	}
	return time.ParseDuration(s)
}

func (d *decoder) upstreamHealth(n *yaml.Node, path string, h *UpstreamHealth) {
	d.mapping(n, path, []field{
		{"checks", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				c, set := d.check(item, ip)
				ResolveCheckDefaults(&c, set)
				h.Checks = append(h.Checks, c)
			})
		}},
		{"consecutive_5xx", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				h.Consecutive5xx = int(i)
			}
		}},
		{"ejection_time", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &h.EjectionTime) }},
	})
}
