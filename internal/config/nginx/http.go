package nginx

import (
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// http reads the http block: its settings, upstreams, maps and zones
// first (nginx allows using them before they are defined), then servers.
func (b *builder) http(s *stmt) {
	b.h = &config.HTTP{}
	b.c.HTTP = b.h
	b.httpEnd = pos{file: s.file, line: s.end, seq: s.seq}
	hc := &conf{}
	seen := dupSet{}
	var servers []*stmt
	for _, d := range s.block {
		if !b.check(d, cHTTP, seen) {
			continue
		}
		switch d.name {
		case "server":
			servers = append(servers, d)
		case "upstream":
			b.upstream(d)
		case "map":
			b.httpMap(d)
		case "limit_req_zone":
			b.limitReqZone(d)
		case "limit_conn_zone":
			b.limitConnZone(d)
		case "types":
			b.other(d) // its lines are MIME types, not directives
		default:
			if !b.confDirective(d, hc, cHTTP) {
				b.other(d)
			}
		}
	}
	b.key("http", s.at())
	for i, sv := range servers {
		b.server(sv, hc, i)
	}
	if len(servers) == 0 {
		b.observeLeaf(hc)
		b.observeServer(hc)
	}
}

// confDirective reads a directive that sets a value of conf, at any
// level; it reports false for a directive it does not handle.
func (b *builder) confDirective(s *stmt, c *conf, ctx ctxMask) bool {
	at := s.at()
	a := s.args
	switch s.name {
	case "proxy_set_header":
		c.setHeaders.add(config.Header{Name: a[0], Value: a[1]}, at)
	case "proxy_next_upstream":
		var vals []string
		for _, v := range a {
			lv := strings.ToLower(v)
			if !slices.Contains(nextUpstreamMasks, lv) {
				// ngx_conf_set_bitmask_slot.
				b.errorf(s, "invalid value %s", rawq(v))
				return true
			}
			if lv == "updating" {
				b.warnf(s, "not used by fulcrum: proxy_next_upstream updating (fulcrum does not cache responses)")
				continue
			}
			vals = append(vals, lv)
		}
		c.nextUpstream.put(vals, at)
	case "proxy_next_upstream_tries":
		n, _ := atoi(a[0])
		c.nextTries.put(int(min(n, math.MaxInt32)), at)
	case "proxy_next_upstream_timeout":
		c.nextTimeout.put(msec(a[0]), at)
	case "proxy_connect_timeout":
		c.connectTimeout.put(msec(a[0]), at)
	case "proxy_read_timeout":
		c.readTimeout.put(msec(a[0]), at)
	case "proxy_send_timeout":
		c.sendTimeout.put(msec(a[0]), at)
	case "limit_req":
		b.limitReq(s, c)
	case "limit_req_status", "limit_conn_status":
		n, _ := atoi(a[0])
		if n < 400 || n > 599 {
			// ngx_conf_check_num_bounds.
			b.errorf(s, "value must be between 400 and 599")
			return true
		}
		if s.name == "limit_req_status" {
			c.limitReqStatus.put(int(n), at)
		} else {
			c.limitConnStatus.put(int(n), at)
		}
	case "limit_conn":
		b.limitConn(s, c)
	case "valid_referers":
		for _, v := range a {
			c.referers.add(v, at)
		}
	case "gzip":
		on, _ := onOff(a[0])
		c.gzip.put(on, at)
	case "gzip_types":
		for _, t := range a {
			c.gzipTypes.add(strings.ToLower(t), at)
		}
	case "gzip_min_length":
		n, _ := parseSize(a[0], true)
		c.gzipMinLength.put(int(min(n, math.MaxInt32)), at)
	case "gzip_comp_level":
		n, _ := atoi(a[0])
		if n < 1 || n > 9 {
			b.errorf(s, "value must be between 1 and 9")
			return true
		}
		c.gzipLevel.put(int(n), at)
	case "gzip_proxied":
		b.gzipProxied(s, c)
	case "client_max_body_size":
		n, _ := parseSize(a[0], true)
		c.clientMaxBody.put(n, at)
	case "client_body_timeout":
		c.clientBodyTimeout.put(msec(a[0]), at)
	case "keepalive_timeout":
		// ngx_http_core_keepalive.
		d, ok := parseTime(a[0], false)
		if len(a) == 2 {
			_, ok2 := parseTime(a[1], true)
			ok = ok && ok2
		}
		if !ok {
			b.errorf(s, "%s directive invalid value", rawq(s.name))
			return true
		}
		if len(a) == 2 {
			b.warnf(s, "not used by fulcrum: keepalive_timeout's second argument (the Keep-Alive: timeout= header)")
		}
		c.keepaliveTimeout.put(d, at)
	case "access_log":
		b.accessLogDirective(s, c)
	case "set_real_ip_from":
		b.setRealIPFrom(s, c)
	case "real_ip_header":
		c.realIPHeader.put(a[0], at)
	case "proxy_ssl_verify":
		on, _ := onOff(a[0])
		c.sslVerify.put(on, at)
	case "proxy_ssl_server_name":
		on, _ := onOff(a[0])
		c.sslServerName.put(on, at)
	case "proxy_ssl_name":
		c.sslName.put(a[0], at)
	case "proxy_ssl_trusted_certificate":
		c.sslTrusted.put(b.confPath(a[0]), at)
	case "proxy_redirect":
		b.proxyRedirect(s, c)
	case "client_header_timeout":
		c.clientHeaderTimeout.put(msec(a[0]), at)
	case "large_client_header_buffers":
		n, ok1 := atoi(a[0])
		size, ok2 := parseSize(a[1], false)
		if !ok1 || !ok2 || n == 0 || size == 0 {
			// ngx_conf_set_bufs_slot.
			b.errorf(s, "%s directive invalid value", rawq(s.name))
			return true
		}
		c.headerBuffers.put(int(min(n*size, math.MaxInt32)), at)
	case "underscores_in_headers":
		on, _ := onOff(a[0])
		c.underscores.put(on, at)
	case "max_headers":
		n, _ := atoi(a[0])
		c.maxHeaders.put(int(min(n, math.MaxInt32)), at)
	case "http2_max_concurrent_streams":
		n, _ := atoi(a[0])
		c.h2Streams.put(uint32(min(n, math.MaxUint32)), at)
	case "ssl_certificate":
		c.certs.add(b.confPath(a[0]), at)
	case "ssl_certificate_key":
		c.certKeys.add(b.confPath(a[0]), at)
	case "http2":
		on, _ := onOff(a[0])
		c.http2On.put(on, at)
	case "ssl":
		on, _ := onOff(a[0])
		if on {
			// ngx_http_ssl_enable.
			b.sink.warnf(at, "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead")
		}
		c.sslOn.put(on, at)
	default:
		return false
	}
	return true
}

// nextUpstreamMasks are ngx_http_proxy_next_upstream_masks.
var nextUpstreamMasks = []string{"error", "timeout", "invalid_header", "non_idempotent", "http_500", "http_502", "http_503", "http_504", "http_403", "http_404", "http_429", "updating", "off"}

func msec(s string) time.Duration {
	d, _ := parseTime(s, false)
	return d
}

func rawq(s string) string { return "\"" + s + "\"" }

// confPath resolves a file name as ngx_conf_full_name with conf_prefix.
func (b *builder) confPath(p string) string {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "data:") || strings.Contains(p, "$") {
		return p
	}
	return filepath.Join(b.opts.prefix(), p)
}

func (b *builder) gzipProxied(s *stmt, c *conf) {
	// ngx_conf_set_bitmask_slot over ngx_http_gzip_proxied_mask.
	known := []string{"off", "expired", "no-cache", "no-store", "private", "no_last_modified", "no_etag", "auth", "any"}
	v := "off"
	for _, a := range s.args {
		la := strings.ToLower(a)
		if !slices.Contains(known, la) {
			b.errorf(s, "invalid value %s", rawq(a))
			return
		}
		switch la {
		case "off", "any":
			v = la
		default:
			if v != "any" {
				b.warnf(s, "not supported by fulcrum: gzip_proxied %s (fulcrum compresses proxied requests with any or not at all; off is used)", a)
			}
		}
	}
	c.gzipProxied.put(v, s.at())
}

func (b *builder) proxyRedirect(s *stmt, c *conf) {
	switch {
	case len(s.args) == 1 && s.args[0] == "off":
		c.proxyRedirect.put("off", s.at())
	case len(s.args) == 1 && s.args[0] == "default":
		c.proxyRedirect.put("default", s.at())
	default:
		b.errorf(s, "not supported by fulcrum: proxy_redirect %s (Location headers are passed as the backend sends them)", strings.Join(s.args, " "))
	}
}

// accessLogDirective reads access_log: off, or a path with an optional
// format and parameters (ngx_http_log_set_log).
func (b *builder) accessLogDirective(s *stmt, c *conf) {
	a := s.args
	if a[0] == "off" {
		if len(a) != 1 {
			b.errorf(s, "invalid parameter %s", rawq(a[1]))
			return
		}
		c.accessLogs = list[accessLog]{}
		c.accessLogs.add(accessLog{off: true}, s.at())
		return
	}
	l := accessLog{path: a[0], format: config.DefaultAccessLogFormat}
	switch {
	case strings.HasPrefix(l.path, "syslog:"):
		b.errorf(s, "not supported by fulcrum: access_log to syslog (the access log is a file or \"-\" for standard output)")
		return
	case strings.Contains(l.path, "$"):
		b.errorf(s, "not supported by fulcrum: variables in the access_log path")
		return
	case l.path == "/dev/stdout":
		l.path = "-"
	case !filepath.IsAbs(l.path):
		l.path = filepath.Join(b.opts.logPrefix(), l.path)
	}
	for i, p := range a[1:] {
		switch {
		case i == 0 && !strings.Contains(p, "="):
			if p != "combined" {
				b.warnf(s, "not supported by fulcrum: log_format %s (the access log is written in nginx's combined format)", rawq(p))
			}
		case strings.HasPrefix(p, "buffer="), strings.HasPrefix(p, "flush="), p == "gzip", strings.HasPrefix(p, "gzip="):
			b.warnf(s, "not used by fulcrum: access_log %s", p)
		case strings.HasPrefix(p, "if="):
			b.warnf(s, "not supported by fulcrum: access_log %s (every request is logged)", p)
		default:
			b.errorf(s, "invalid parameter %s", rawq(p))
			return
		}
	}
	c.accessLogs.add(l, s.at())
}

func (b *builder) setRealIPFrom(s *stmt, c *conf) {
	v := s.args[0]
	if v == "unix:" {
		b.warnf(s, "not used by fulcrum: set_real_ip_from unix: (fulcrum listens on TCP only)")
		return
	}
	var p netip.Prefix
	var err error
	if strings.Contains(v, "/") {
		p, err = netip.ParsePrefix(v)
		if err == nil && p.Masked() != p {
			// ngx_ptocidr.
			b.warnf(s, "low address bits of %s are meaningless", v)
		}
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(v); err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		// ngx_http_realip_from resolves a name; fulcrum takes addresses.
		b.errorf(s, "host not found in set_real_ip_from %s", rawq(v))
		return
	}
	c.realIPFrom.add(p.Masked(), s.at())
}

// limitReqZone reads limit_req_zone KEY zone=NAME:SIZE rate=R
// (ngx_http_limit_req_zone).
func (b *builder) limitReqZone(s *stmt) {
	z := config.LimitReqZone{Key: s.args[0], Rate: 1}
	var name string
	var size int64
	for _, p := range s.args[1:] {
		switch {
		case strings.HasPrefix(p, "zone="):
			var ok bool
			if name, size, ok = b.zoneParam(s, p); !ok {
				return
			}
		case strings.HasPrefix(p, "rate="):
			v, scale := p[5:], 1.0
			switch {
			case strings.HasSuffix(v, "r/s"):
				v = v[:len(v)-3]
			case strings.HasSuffix(v, "r/m"):
				v, scale = v[:len(v)-3], 60
			}
			n, ok := atoi(v)
			if !ok || n <= 0 {
				b.errorf(s, "invalid rate %s", rawq(p))
				return
			}
			z.Rate = float64(n) / scale
		default:
			b.errorf(s, "invalid parameter %s", rawq(p))
			return
		}
	}
	if name == "" {
		b.errorf(s, "%s must have \"zone\" parameter", rawq(s.name))
		return
	}
	if !b.claimZone(s, name, "limit_req") {
		return
	}
	z.Name, z.Size = name, size
	b.key(fmt.Sprintf("http.limit_req_zones[%d]", len(b.h.LimitReqZones)), s.at())
	b.h.LimitReqZones = append(b.h.LimitReqZones, z)
}

func (b *builder) limitConnZone(s *stmt) {
	z := config.LimitConnZone{Key: s.args[0]}
	for _, p := range s.args[1:] {
		if !strings.HasPrefix(p, "zone=") {
			b.errorf(s, "invalid parameter %s", rawq(p))
			return
		}
		var ok bool
		if z.Name, z.Size, ok = b.zoneParam(s, p); !ok {
			return
		}
	}
	if z.Name == "" {
		b.errorf(s, "%s must have \"zone\" parameter", rawq(s.name))
		return
	}
	if !b.claimZone(s, z.Name, "limit_conn") {
		return
	}
	b.key(fmt.Sprintf("http.limit_conn_zones[%d]", len(b.h.LimitConnZones)), s.at())
	b.h.LimitConnZones = append(b.h.LimitConnZones, z)
}

// zoneParam reads zone=NAME:SIZE.
func (b *builder) zoneParam(s *stmt, p string) (string, int64, bool) {
	name, size, ok := strings.Cut(p[5:], ":")
	n, sizeOK := parseSize(size, false)
	if !ok || !sizeOK {
		b.errorf(s, "invalid zone size %s", rawq(p))
		return "", 0, false
	}
	if n < config.MinZoneSize {
		b.errorf(s, "zone %s is too small", rawq(p))
		return "", 0, false
	}
	return name, n, true
}

// claimZone declares a shared memory zone (ngx_shared_memory_add): one
// name, one use.
func (b *builder) claimZone(s *stmt, name, use string) bool {
	switch prev, ok := b.zones[name]; {
	case !ok:
		b.zones[name] = use
		b.zoneKeys[name] = s.args[0]
		return true
	case prev != use:
		b.errorf(s, "the shared memory zone %s is already declared for a different use", rawq(name))
	default:
		b.errorf(s, "%s %s is already bound to key %s", s.name, rawq(name), rawq(b.zoneKeys[name]))
	}
	return false
}

// limitReq reads limit_req zone=NAME [burst=N] [nodelay | delay=N]
// (ngx_http_limit_req); the last of nodelay and delay wins.
func (b *builder) limitReq(s *stmt, c *conf) {
	var l config.LimitReq
	for _, p := range s.args {
		switch {
		case strings.HasPrefix(p, "zone="):
			l.Zone = p[5:]
		case strings.HasPrefix(p, "burst="):
			n, ok := atoi(p[6:])
			if !ok || n <= 0 {
				b.errorf(s, "invalid burst value %s", rawq(p))
				return
			}
			l.Burst = int(min(n, math.MaxInt32))
		case strings.HasPrefix(p, "delay="):
			n, ok := atoi(p[6:])
			if !ok || n <= 0 {
				b.errorf(s, "invalid delay value %s", rawq(p))
				return
			}
			l.Delay, l.NoDelay = int(min(n, math.MaxInt32)), false
		case p == "nodelay":
			l.Delay, l.NoDelay = 0, true
		default:
			b.errorf(s, "invalid parameter %s", rawq(p))
			return
		}
	}
	if l.Zone == "" {
		b.errorf(s, "%s must have \"zone\" parameter", rawq(s.name))
		return
	}
	if slices.ContainsFunc(c.limitReq.v, func(o config.LimitReq) bool { return o.Zone == l.Zone }) {
		b.errorf(s, "%s directive is duplicate", rawq(s.name))
		return
	}
	if l.Delay > l.Burst {
		// No request waits: as nodelay, which the model says without
		// the warning Validate gives for delay above burst.
		l.Delay, l.NoDelay = 0, true
	}
	c.limitReq.add(l, s.at())
}

// limitConn reads limit_conn ZONE N (ngx_http_limit_conn).
func (b *builder) limitConn(s *stmt, c *conf) {
	n, ok := atoi(s.args[1])
	if !ok || n <= 0 {
		b.errorf(s, "invalid number of connections %s", rawq(s.args[1]))
		return
	}
	if n > 65535 {
		b.errorf(s, "connection limit must be less 65536")
		return
	}
	if slices.ContainsFunc(c.limitConn.v, func(o config.LimitConn) bool { return o.Zone == s.args[0] }) {
		b.errorf(s, "%s directive is duplicate", rawq(s.name))
		return
	}
	c.limitConn.add(config.LimitConn{Zone: s.args[0], Conn: int(n)}, s.at())
}

// httpMap reads map SOURCE $VARIABLE { ... } (ngx_http_map_block).
func (b *builder) httpMap(s *stmt) {
	m := config.Map{Source: s.args[0], Variable: s.args[1]}
	if len(m.Variable) < 2 || m.Variable[0] != '$' {
		b.errorf(s, "invalid variable name %s", rawq(m.Variable))
		return
	}
	idx := len(b.h.Maps)
	mp := fmt.Sprintf("http.maps[%d]", idx)
	b.key(mp, s.at())
	hasDefault := false
	seen := map[string]bool{}
	for _, d := range s.block {
		args := append([]string{d.name}, d.args...)
		if d.hasBlock {
			b.errorf(d, "unexpected \"{\"")
			continue
		}
		switch {
		case len(args) == 1 && args[0] == "hostnames":
			m.Hostnames = true
			continue
		case len(args) == 1 && args[0] == "volatile":
			b.warnf(d, "not used by fulcrum: volatile (map values are not cached)")
			continue
		case len(args) != 2:
			b.errorf(d, "invalid number of the map parameters")
			continue
		case args[0] == "default":
			if hasDefault {
				b.errorf(d, "duplicate default map parameter")
				continue
			}
			hasDefault = true
			m.Default = args[1]
			b.key(mp+".default", d.at())
			continue
		}
		key := args[0]
		if strings.HasPrefix(key, "\\") {
			// "\~" stands for a literal "~": the model has no way to say
			// it, as "~" starts a regex.
			key = key[1:]
			if strings.HasPrefix(key, "~") {
				b.errorf(d, "not supported by fulcrum: a map key starting with \"~\" that is not a regex")
				continue
			}
		}
		if !strings.HasPrefix(key, "~") {
			k := strings.ToLower(key)
			if seen[k] {
				b.errorf(d, "conflicting parameter %s", rawq(args[0]))
				continue
			}
			seen[k] = true
		}
		b.key(fmt.Sprintf("%s.entries[%d]", mp, len(m.Entries)), d.at())
		m.Entries = append(m.Entries, config.MapEntry{Match: key, Value: args[1]})
	}
	b.h.Maps = append(b.h.Maps, m)
}
