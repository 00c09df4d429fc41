package config

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// Validation of the issue-6 features. Messages are nginx's where nginx has
// one (ngx_http_limit_req_module.c, ngx_http_limit_conn_module.c,
// ngx_http_map_module.c, ngx_http_referer_module.c), so that the nginx.conf
// adapter reports what "nginx -t" reports.

// extrasValidator holds what the checks of the zones, maps and limits
// share: zone names and the variables maps define.
type extrasValidator struct {
	reqZones  map[string]int
	connZones map[string]int
	mapVars   map[string]int
}

// knownVariable reports a variable nginx knows or a map defines.
func (hv *httpValidator) knownVariable(name string) bool {
	if _, ok := hv.ex.mapVars[name]; ok {
		return true
	}
	return nginxVariable(name)
}

// variables checks the variables of an nginx value: syntax, and that each
// is known; it returns how many there are.
func (hv *httpValidator) variables(key, value string) (int, bool) {
	refs, err := variableRefs(value)
	if err != nil {
		hv.errorf(key, "%v", err)
		return 0, false
	}
	for _, r := range refs {
		if !hv.knownVariable(r) {
			// ngx_http_variables_init_vars.
			hv.errorf(key, "unknown %q variable", r)
			return len(refs), false
		}
	}
	return len(refs), true
}

// httpExtras checks the http-level zones, maps and flood defence. Maps
// come first: zone keys may use their variables.
func (hv *httpValidator) httpExtras() {
	h := hv.h
	hv.ex = extrasValidator{reqZones: map[string]int{}, connZones: map[string]int{}, mapVars: map[string]int{}}
	for i := range h.Maps {
		hv.mapVariable(fmt.Sprintf("http.maps[%d]", i), &h.Maps[i], i)
	}
	for i := range h.Maps {
		hv.mapEntries(fmt.Sprintf("http.maps[%d]", i), &h.Maps[i])
	}
	for i, z := range h.LimitReqZones {
		zp := fmt.Sprintf("http.limit_req_zones[%d]", i)
		hv.zone(zp, "limit_req_zone", z.Name, z.Key, z.Size, hv.ex.reqZones, i)
		switch {
		case math.IsNaN(z.Rate) || math.IsInf(z.Rate, 0) || z.Rate < 0:
			hv.errorf(zp+".rate", "invalid rate %g: want requests per second, more than 0", z.Rate)
		case z.Rate == 0:
			hv.errorf(zp+".rate", "missing: the rate in requests per second, like 5 or \"30r/m\"")
		case z.Rate < 0.001:
			// ngx_http_limit_req_zone keeps the rate in requests per
			// 1000 s; less is no rate at all.
			hv.errorf(zp+".rate", "invalid rate %g: the least is 0.001 requests per second (1r/m is 0.0167)", z.Rate)
		}
	}
	for i, z := range h.LimitConnZones {
		hv.zone(fmt.Sprintf("http.limit_conn_zones[%d]", i), "limit_conn_zone", z.Name, z.Key, z.Size, hv.ex.connZones, i)
	}
	hv.flood(&h.Flood)
}

// zone checks a limit_req or limit_conn zone: a name used once, a key of
// known variables, and nginx's minimum size.
func (hv *httpValidator) zone(zp, what, name, key string, size int64, names map[string]int, i int) {
	switch {
	case name == "":
		hv.errorf(zp+".name", "missing: the name limits refer to the zone by")
	case strings.ContainsAny(name, ": \t\r\n=") || strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		hv.errorf(zp+".name", "%q is not a zone name: a name has no blanks, \":\" or \"=\"", name)
	default:
		if j, dup := names[name]; dup {
			// ngx_http_limit_req_zone: the zone is already bound.
			hv.errorf(zp+".name", "%s %q is already bound (also %s[%d])", what, name, lastSegment(zp[:strings.LastIndexByte(zp, '[')]), j)
		} else {
			names[name] = i
		}
	}
	switch {
	case key == "":
		hv.errorf(zp+".key", "missing: the variable requests are counted by, like $binary_remote_addr")
	default:
		if n, ok := hv.variables(zp+".key", key); ok && n == 0 {
			hv.warnf(zp+".key", "%q has no variable: every request shares one limit", key)
		}
	}
	switch {
	case size == 0:
		hv.errorf(zp+".size", "missing: the zone's memory, like 10m")
	case size < MinZoneSize:
		// ngx_http_limit_req_zone / ngx_http_limit_conn_zone.
		hv.errorf(zp+".size", "zone %q is too small: %d bytes, the least is %d (32k)", name, size, MinZoneSize)
	}
}

func (hv *httpValidator) mapVariable(mp string, m *Map, i int) {
	v := m.Variable
	switch {
	case v == "":
		hv.errorf(mp+".variable", "missing: the variable the map defines, like $is_bot")
		return
	case len(v) < 2 || v[0] != '$':
		// ngx_http_map_block.
		hv.errorf(mp+".variable", "invalid variable name %s", quoteRaw(v))
		return
	}
	name := strings.ToLower(v[1:])
	if changeable, builtin := nginxVariables[name]; builtin && !changeable {
		// ngx_http_add_variable.
		hv.errorf(mp+".variable", "the duplicate %q variable: nginx defines $%s itself", name, name)
		return
	}
	if j, dup := hv.ex.mapVars[name]; dup {
		hv.warnf(mp+".variable", "$%s is also defined by maps[%d]; the last map wins", name, j)
	}
	hv.ex.mapVars[name] = i
}

func (hv *httpValidator) mapEntries(mp string, m *Map) {
	switch {
	case m.Source == "":
		hv.errorf(mp+".source", "missing: the value the map looks up, like $http_user_agent")
	default:
		if n, ok := hv.variables(mp+".source", m.Source); ok && n == 0 {
			hv.warnf(mp+".source", "%q has no variable: the map always gives the same value", m.Source)
		}
	}
	if _, ok := hv.variables(mp+".default", m.Default); !ok {
		return
	}
	seen := map[string]int{}
	for j, e := range m.Entries {
		ep := fmt.Sprintf("%s.entries[%d]", mp, j)
		if _, ok := hv.variables(ep+".value", e.Value); !ok {
			continue
		}
		if strings.HasPrefix(e.Match, "~") {
			caseless := strings.HasPrefix(e.Match, "~*")
			pat := strings.TrimPrefix(strings.TrimPrefix(e.Match, "~"), "*")
			if _, err := route.CompileRegex(pat, caseless); err != nil {
				hv.errorf(ep+".match", "%s", regexProblem(pat, err))
			}
			continue
		}
		match := e.Match
		if m.Hostnames {
			if k, ok := mapHostKey(match); ok {
				match = k
			} else {
				// ngx_hash_add_key through ngx_http_map.
				hv.errorf(ep+".match", "invalid hostname or wildcard %s", quoteRaw(e.Match))
				continue
			}
		}
		if k, dup := seen[match]; dup {
			// ngx_http_map: the same key twice.
			hv.errorf(ep+".match", "conflicting parameter %s (also entries[%d])", quoteRaw(e.Match), k)
			continue
		}
		seen[match] = j
	}
}

// mapHostKey is the hash key a hostnames map line takes
// (ngx_hash_add_key with NGX_HASH_WILDCARD_KEY): ".a.com" and "*.a.com"
// claim the same wildcard, "a.*" a tail one; a "*" anywhere else is
// invalid.
func mapHostKey(s string) (string, bool) {
	s = strings.ToLower(s)
	switch {
	case strings.HasPrefix(s, "*.") && len(s) > 2 && !strings.Contains(s[2:], "*"):
		return "*" + s[2:], true
	case strings.HasPrefix(s, ".") && len(s) > 1 && !strings.Contains(s, "*"):
		return "*" + s[1:], true
	case strings.HasSuffix(s, ".*") && len(s) > 2 && !strings.Contains(s[:len(s)-2], "*"):
		return "." + s[:len(s)-2], true
	case strings.Contains(s, "*"):
		return "", false
	}
	return "=" + s, true
}

func (hv *httpValidator) flood(f *FloodDefence) {
	const fp = "http.flood"
	switch {
	case math.IsNaN(f.ConnRate) || math.IsInf(f.ConnRate, 0) || f.ConnRate < 0:
		hv.errorf(fp+".conn_rate", "invalid rate %g: want new connections per second (0 is off)", f.ConnRate)
	case f.ConnRate == 0 && f.ConnBurst != 0:
		hv.warnf(fp+".conn_burst", "unused: conn_rate is off")
	}
	if f.ConnBurst < 0 {
		hv.errorf(fp+".conn_burst", "%d is negative", f.ConnBurst)
	}
	if f.MaxConnsPerSource < 0 {
		hv.errorf(fp+".max_conns_per_source", "%d is negative (0 is off)", f.MaxConnsPerSource)
	}
	if f.FirstByteTimeout < 0 {
		hv.errorf(fp+".first_byte_timeout", "%s is negative", formatDuration(f.FirstByteTimeout))
	}
	for i, p := range f.Exempt {
		if !p.IsValid() {
			hv.errorf(fmt.Sprintf("%s.exempt[%d]", fp, i), "invalid CIDR")
		}
	}
}

// locationExtras checks a location's limits, referer check, secure link,
// compression and image recompression.
func (hv *httpValidator) locationExtras(lp string, l *Location) {
	hv.limitReqs(lp, l)
	hv.limitConns(lp, l)
	if r := l.Referers; r != nil {
		hv.referers(lp+".referers", r)
	}
	if s := l.SecureLink; s != nil {
		hv.secureLink(lp+".secure_link", s)
	}
	if c := l.Compression; c != nil {
		hv.compression(lp+".compression", c)
	}
	if ic := l.ImageCompression; ic != nil {
		hv.imageCompression(lp+".image_compression", ic)
	}
}

func zoneNames(m map[string]int) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "there are none"
	}
	return "zones: " + strings.Join(names, ", ")
}

func (hv *httpValidator) limitReqs(lp string, l *Location) {
	seen := map[string]int{}
	for j, r := range l.LimitReq {
		rp := fmt.Sprintf("%s.limit_req[%d]", lp, j)
		if r.Zone == "" {
			// ngx_http_limit_req.
			hv.errorf(rp+".zone", "\"limit_req\" must have \"zone\" parameter")
		} else if _, ok := hv.ex.reqZones[r.Zone]; !ok {
			// nginx finds out at start-up (ngx_init_cycle).
			hv.errorf(rp+".zone", "zero size shared memory zone %q: no limit_req_zone defines it (%s)", r.Zone, zoneNames(hv.ex.reqZones))
		} else if k, dup := seen[r.Zone]; dup {
			hv.errorf(rp+".zone", "\"limit_req\" directive is duplicate: zone %q is also limit_req[%d]", r.Zone, k)
		} else {
			seen[r.Zone] = j
		}
		if r.Burst < 0 {
			hv.errorf(rp+".burst", "invalid burst value %d", r.Burst)
		}
		switch {
		case r.Delay < 0:
			hv.errorf(rp+".delay", "invalid delay value %d", r.Delay)
		case r.NoDelay && r.Delay > 0:
			hv.errorf(rp+".delay", "nodelay and delay exclude each other: nodelay is delay=burst")
		case r.Delay > r.Burst:
			hv.warnf(rp+".delay", "%d is more than burst %d: no request is delayed, as with nodelay", r.Delay, r.Burst)
		}
	}
	hv.limitStatus(lp+".limit_req_status", l.LimitReqStatus, len(l.LimitReq) > 0, "limit_req")
}

func (hv *httpValidator) limitConns(lp string, l *Location) {
	seen := map[string]int{}
	for j, c := range l.LimitConn {
		cp := fmt.Sprintf("%s.limit_conn[%d]", lp, j)
		if c.Zone == "" {
			hv.errorf(cp+".zone", "missing: the limit_conn_zone to count in")
		} else if _, ok := hv.ex.connZones[c.Zone]; !ok {
			hv.errorf(cp+".zone", "zero size shared memory zone %q: no limit_conn_zone defines it (%s)", c.Zone, zoneNames(hv.ex.connZones))
		} else if k, dup := seen[c.Zone]; dup {
			hv.errorf(cp+".zone", "\"limit_conn\" directive is duplicate: zone %q is also limit_conn[%d]", c.Zone, k)
		} else {
			seen[c.Zone] = j
		}
		switch {
		case c.Conn <= 0:
			// ngx_http_limit_conn.
			hv.errorf(cp+".conn", "invalid number of connections \"%d\"", c.Conn)
		case c.Conn > 65535:
			hv.errorf(cp+".conn", "connection limit must be less 65536")
		}
	}
	hv.limitStatus(lp+".limit_conn_status", l.LimitConnStatus, len(l.LimitConn) > 0, "limit_conn")
}

func (hv *httpValidator) limitStatus(key string, status int, used bool, what string) {
	switch {
	case status == 0:
	case status < 400 || status > 599:
		// ngx_conf_check_num_bounds of limit_req_status.
		hv.errorf(key, "value must be between 400 and 599")
	case !used:
		hv.warnf(key, "unused: the location has no %s", what)
	}
}

func (hv *httpValidator) referers(rp string, r *Referers) {
	names, keywords := 0, 0
	for _, v := range r.Valid {
		switch {
		case v == "none", v == "blocked":
			keywords++
		case v != "" && !strings.HasPrefix(v, "~"):
			names++ // server_names too
		}
	}
	switch {
	case len(r.Valid) == 0:
		hv.errorf(rp+".valid", "missing: the referers to accept (none, blocked, server_names, host names, ~regex)")
	case keywords > 0 && names == 0:
		// ngx_http_referer_merge_conf counts names only, not regexes.
		hv.errorf(rp+".valid", "the \"none\" or \"blocked\" referers are specified in the \"valid_referers\" directive without any valid referer: give a host name or server_names")
	}
	// ngx_http_referer_merge_conf adds the server's names for
	// server_names; a name given again is a conflict, whatever its path.
	seen := map[string]int{}
	if slices.Contains(r.Valid, "server_names") && hv.srv != nil {
		for _, n := range hv.srv.ServerNames {
			if k, ok := mapHostKey(n); ok && !strings.HasPrefix(n, "~") {
				seen[k] = -1
			}
		}
	}
	for j, v := range r.Valid {
		vp := fmt.Sprintf("%s.valid[%d]", rp, j)
		switch {
		case v == "none", v == "blocked", v == "server_names":
		case v == "":
			hv.errorf(vp, "empty referer")
		case strings.HasPrefix(v, "~"):
			// ngx_http_add_regex_referer compiles with NGX_REGEX_CASELESS.
			if _, err := route.CompileRegex(v[1:], true); err != nil {
				hv.errorf(vp, "%s", regexProblem(v[1:], err))
			}
		default:
			host, _, _ := strings.Cut(v, "/")
			k, ok := mapHostKey(host)
			if !ok || host == "" || hasSpace(host) {
				// ngx_http_add_referer.
				hv.errorf(vp, "invalid hostname or wildcard %s", quoteRaw(v))
				continue
			}
			switch i, dup := seen[k]; {
			case dup && i < 0:
				hv.errorf(vp, "conflicting parameter %s: server_names has it", quoteRaw(strings.ToLower(host)))
			case dup:
				hv.errorf(vp, "conflicting parameter %s (also valid[%d]; a name is accepted once, whatever its path)", quoteRaw(strings.ToLower(host)), i)
			default:
				seen[k] = j
			}
		}
	}
	switch {
	case r.RedirectURL != "" && r.ImageFile != "":
		hv.errorf(rp+".image_file", "redirect_url and image_file exclude each other: an invalid referer gets one answer")
	case r.RedirectURL != "":
		if !isRedirectURL(r.RedirectURL) && !strings.HasPrefix(r.RedirectURL, "/") {
			hv.errorf(rp+".redirect_url", "%q is not a URL: want http://, https://, $scheme... or a path starting with \"/\"", r.RedirectURL)
		} else if strings.ContainsAny(r.RedirectURL, " \t\r\n") {
			hv.errorf(rp+".redirect_url", "%q has blanks, which a Location header cannot hold", r.RedirectURL)
		} else {
			hv.variables(rp+".redirect_url", r.RedirectURL)
		}
		if !slices.Contains([]int{0, 301, 302, 303, 307, 308}, r.Status) {
			hv.errorf(rp+".status", "%d is not a redirect: with redirect_url the status is 301, 302, 303, 307 or 308", r.Status)
		}
	case r.ImageFile != "":
		if r.Status != 0 && r.Status != 200 {
			hv.errorf(rp+".status", "image_file is served with 200: status and image_file exclude each other")
		}
		if f, err := os.Open(r.ImageFile); err != nil {
			hv.warnf(rp+".image_file", "cannot be read now (%v); it is loaded when the config is applied", unwrapPath(err))
		} else {
			f.Close()
		}
	default:
		switch {
		case r.Status == 0:
		case r.Status >= 300 && r.Status < 400:
			hv.errorf(rp+".status", "%d is a redirect: give redirect_url", r.Status)
		case r.Status < 200 || r.Status > 999:
			hv.errorf(rp+".status", "invalid status %d: want a final status, 200..999", r.Status)
		}
	}
}

func (hv *httpValidator) secureLink(sp string, s *SecureLink) {
	if s.SecretFile == "" {
		hv.errorf(sp+".secret_file", "missing: the file holding the HMAC secret")
	} else if f, err := os.Open(s.SecretFile); err != nil {
		hv.warnf(sp+".secret_file", "cannot be read now (%v); it is loaded when the config is applied", unwrapPath(err))
	} else {
		f.Close()
	}
	for _, p := range []struct{ key, v string }{{"sig_param", s.SigParam}, {"expires_param", s.ExpiresParam}} {
		if p.v != "" && (strings.ContainsAny(p.v, "&=#?+% \t\r\n") || !utf8Printable(p.v)) {
			hv.errorf(sp+"."+p.key, "%q is not a query parameter name", p.v)
		}
	}
	if s.SigParam != "" && s.SigParam == s.ExpiresParam {
		hv.errorf(sp+".expires_param", "sig_param and expires_param are both %q", s.SigParam)
	}
}

func utf8Printable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) < 0
}

// compressionLevels are each codec's levels: gzip_comp_level 1..9,
// brotli 0..11, zstd 1..22.
var compressionLevels = []struct {
	name   string
	lo, hi int
	on     func(*Compression) bool
}{
	{"gzip", 1, 9, func(c *Compression) bool { return c.Gzip }},
	{"brotli", 0, 11, func(c *Compression) bool { return c.Brotli }},
	{"zstd", 1, 22, func(c *Compression) bool { return c.Zstd }},
}

func (hv *httpValidator) compression(cp string, c *Compression) {
	if !c.Gzip && !c.Zstd && !c.Brotli {
		hv.errorf(cp, "no codec: give gzip, zstd or brotli (or leave compression out)")
	}
	if c.Level != 0 {
		for _, l := range compressionLevels {
			if l.on(c) && (c.Level < l.lo || c.Level > l.hi) {
				hv.errorf(cp+".level", "%d is out of range %d..%d of %s (level applies to every codec; leave it out for each codec's default)", c.Level, l.lo, l.hi, l.name)
				break
			}
		}
	}
	if c.MinLength < 0 {
		hv.errorf(cp+".min_length", "%d is negative", c.MinLength)
	}
	seen := map[string]int{}
	for j, t := range c.Types {
		tp := fmt.Sprintf("%s.types[%d]", cp, j)
		if t != "*" && !isMIMEType(t) {
			hv.errorf(tp, "%q is not a MIME type like text/css (or \"*\" for any)", t)
			continue
		}
		if k, dup := seen[strings.ToLower(t)]; dup && t != compressionAlwaysType {
			hv.warnf(tp, "%s is also types[%d]", t, k)
		}
		seen[strings.ToLower(t)] = j
	}
	switch strings.ToLower(c.Proxied) {
	case "", "off", "any":
	default:
		hv.errorf(cp+".proxied", "unknown value %q: want off (requests with Via are not compressed) or any", c.Proxied)
	}
}

// isMIMEType accepts "type/subtype" of RFC 9110 tokens.
func isMIMEType(s string) bool {
	t, sub, ok := strings.Cut(s, "/")
	return ok && isToken(t) && isToken(sub)
}

// maxImageSide bounds image dimensions: a decoded image of more pixels
// would take gigabytes.
const maxImageSide = 1 << 16

func (hv *httpValidator) imageCompression(ip string, ic *ImageCompression) {
	for _, s := range []struct {
		key string
		v   int64
	}{{"min_size", ic.MinSize}, {"max_size", ic.MaxSize}, {"cache_size", ic.CacheSize}} {
		if s.v < 0 {
			hv.errorf(ip+"."+s.key, "%d is negative", s.v)
		}
	}
	if ic.MaxSize > 0 && ic.MinSize > ic.MaxSize {
		hv.errorf(ip+".max_size", "%d is less than min_size %d: no image would be recompressed", ic.MaxSize, ic.MinSize)
	}
	if ic.JPEGQuality != 0 && (ic.JPEGQuality < 1 || ic.JPEGQuality > 100) {
		// image_filter_jpeg_quality takes 1..100.
		hv.errorf(ip+".jpeg_quality", "%d is out of range 1..100", ic.JPEGQuality)
	}
	for _, s := range []struct {
		key string
		v   int
	}{{"max_width", ic.MaxWidth}, {"max_height", ic.MaxHeight}} {
		switch {
		case s.v < 0 || s.v > maxImageSide:
			hv.errorf(ip+"."+s.key, "%d is out of range 0..%d pixels", s.v, maxImageSide)
		case s.v > 0 && !ic.Resize:
			hv.warnf(ip+"."+s.key, "unused: resize is off")
		}
	}
}
