package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v4"
)

// This file decodes what an L7 balancer adds over plain proxying (issue 6):
// limit_req/limit_conn zones and limits, maps, hotlink protection, signed
// links, compression, image recompression and flood defence. As in
// parse_http.go, a one-line nginx directive is also accepted as a string:
// a zone ("$binary_remote_addr zone=one:10m rate=5r/s"), a limit
// ("zone=one burst=5 nodelay", "addr 10").

// httpExtras are the http section's keys for these features.
func (d *decoder) httpExtras(h *HTTP) []field {
	return []field{
		{"limit_req_zones", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				h.LimitReqZones = append(h.LimitReqZones, d.limitReqZone(item, ip))
			})
		}},
		{"limit_conn_zones", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				h.LimitConnZones = append(h.LimitConnZones, d.limitConnZone(item, ip))
			})
		}},
		{"maps", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				h.Maps = append(h.Maps, d.httpMap(item, ip))
			})
		}},
		{"flood", func(v *yaml.Node, p string) { d.flood(v, p, &h.Flood) }},
	}
}

// locationExtras are a location's keys for these features.
func (d *decoder) locationExtras(l *Location) []field {
	status := func(out *int) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				*out = int(i)
			}
		}
	}
	return []field{
		{"limit_req", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				l.LimitReq = append(l.LimitReq, d.limitReq(item, ip))
			})
		}},
		{"limit_req_status", status(&l.LimitReqStatus)},
		{"limit_conn", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				l.LimitConn = append(l.LimitConn, d.limitConn(item, ip))
			})
		}},
		{"limit_conn_status", status(&l.LimitConnStatus)},
		{"referers", func(v *yaml.Node, p string) { l.Referers = d.referers(v, p) }},
		{"secure_link", func(v *yaml.Node, p string) { l.SecureLink = d.secureLink(v, p) }},
		{"compression", func(v *yaml.Node, p string) { l.Compression = d.compression(v, p) }},
		{"image_compression", func(v *yaml.Node, p string) { l.ImageCompression = d.imageCompression(v, p) }},
	}
}

// lineOrMapping resolves n and tells whether it is a string to read as an
// nginx line (ok false: nothing to decode).
func (d *decoder) lineOrMapping(n *yaml.Node, path, want string) (r *yaml.Node, line bool, ok bool) {
	r = d.resolve(n)
	if r == nil {
		return nil, false, false
	}
	switch {
	case r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str":
		return r, true, true
	case r.Kind == yaml.MappingNode:
		return r, false, true
	}
	d.errorf(r, path, "expected %s, got %s", want, describe(r))
	return r, false, false
}

func (d *decoder) limitReqZone(n *yaml.Node, path string) LimitReqZone {
	var z LimitReqZone
	r, line, ok := d.lineOrMapping(n, path, `a zone like "$binary_remote_addr zone=one:10m rate=5r/s" or a mapping of name, key, rate and size`)
	if !ok {
		return z
	}
	if line {
		var err error
		if z, err = parseLimitReqZoneLine(r.Value); err != nil {
			d.errorf(r, path, "%v", err)
		}
		return z
	}
	d.mapping(r, path, []field{
		{"name", func(v *yaml.Node, p string) { d.str(v, p, &z.Name) }},
		{"key", func(v *yaml.Node, p string) { d.str(v, p, &z.Key) }},
		{"rate", func(v *yaml.Node, p string) { z.Rate = d.rate(v, p) }},
		{"size", func(v *yaml.Node, p string) {
			if s, ok := d.size(v, p, 0, math.MaxInt64); ok {
				z.Size = s
			}
		}},
	})
	return z
}

func (d *decoder) limitConnZone(n *yaml.Node, path string) LimitConnZone {
	var z LimitConnZone
	r, line, ok := d.lineOrMapping(n, path, `a zone like "$binary_remote_addr zone=addr:10m" or a mapping of name, key and size`)
	if !ok {
		return z
	}
	if line {
		rz, err := parseZoneLine(r.Value, false)
		if err != nil {
			d.errorf(r, path, "%v", err)
		}
		return LimitConnZone{Name: rz.Name, Key: rz.Key, Size: rz.Size}
	}
	d.mapping(r, path, []field{
		{"name", func(v *yaml.Node, p string) { d.str(v, p, &z.Name) }},
		{"key", func(v *yaml.Node, p string) { d.str(v, p, &z.Key) }},
		{"size", func(v *yaml.Node, p string) {
			if s, ok := d.size(v, p, 0, math.MaxInt64); ok {
				z.Size = s
			}
		}},
	})
	return z
}

// parseLimitReqZoneLine reads limit_req_zone's arguments
// (ngx_http_limit_req_zone): the key, then zone=NAME:SIZE and rate=R.
func parseLimitReqZoneLine(s string) (LimitReqZone, error) {
	return parseZoneLine(s, true)
}

func parseZoneLine(s string, withRate bool) (LimitReqZone, error) {
	var z LimitReqZone
	words := strings.Fields(s)
	want := `"KEY zone=NAME:SIZE"`
	if withRate {
		want = `"KEY zone=NAME:SIZE rate=Nr/s"`
	}
	if len(words) == 0 {
		return z, fmt.Errorf("empty zone: want %s", want)
	}
	z.Key = words[0]
	for _, w := range words[1:] {
		switch k, val, _ := strings.Cut(w, "="); k {
		case "zone":
			name, size, ok := strings.Cut(val, ":")
			n, err := parseSize(size, false)
			if !ok || err != nil {
				return z, fmt.Errorf("invalid zone size %q: want zone=NAME:SIZE like zone=one:10m", w)
			}
			z.Name, z.Size = name, n
		case "rate":
			if !withRate {
				return z, fmt.Errorf("invalid parameter %q: want %s", w, want)
			}
			r, err := parseRate(val)
			if err != nil {
				return z, fmt.Errorf("invalid rate %q: want a number of requests per second or minute like rate=5r/s or rate=30r/m", w)
			}
			z.Rate = r
		default:
			return z, fmt.Errorf("invalid parameter %q: want %s", w, want)
		}
	}
	return z, nil
}

// parseRate reads a request rate: "Nr/s", "Nr/m" or a bare number of
// requests per second. nginx takes whole numbers only; the YAML also takes
// fractions ("0.5r/s" is "30r/m").
func parseRate(s string) (float64, error) {
	scale := 1.0
	switch {
	case strings.HasSuffix(s, "r/s"):
		s = strings.TrimSuffix(s, "r/s")
	case strings.HasSuffix(s, "r/m"):
		s, scale = strings.TrimSuffix(s, "r/m"), 60
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, errors.New("not a rate")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, errors.New("not a rate")
	}
	return f / scale, nil
}

// rate decodes a zone's rate: a number of requests per second, or nginx's
// "5r/s" / "30r/m".
func (d *decoder) rate(n *yaml.Node, path string) float64 {
	if n = d.scalar(n, path, `a rate like 5, "5r/s" or "30r/m"`, "!!int", "!!float", "!!str"); n == nil {
		return 0
	}
	f, err := parseRate(strings.ReplaceAll(n.Value, "_", ""))
	if err != nil {
		d.errorf(n, path, "invalid rate %q: want a number of requests per second, or nginx's \"5r/s\" or \"30r/m\"", n.Value)
		return 0
	}
	return f
}

func (d *decoder) limitReq(n *yaml.Node, path string) LimitReq {
	var l LimitReq
	r, line, ok := d.lineOrMapping(n, path, `a limit like "zone=one burst=5 nodelay" or a mapping of zone, burst, nodelay and delay`)
	if !ok {
		return l
	}
	if line {
		var err error
		if l, err = parseLimitReqLine(r.Value); err != nil {
			d.errorf(r, path, "%v", err)
		}
		return l
	}
	count := func(out *int) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				*out = int(i)
			}
		}
	}
	d.mapping(r, path, []field{
		{"zone", func(v *yaml.Node, p string) { d.str(v, p, &l.Zone) }},
		{"burst", count(&l.Burst)},
		{"nodelay", func(v *yaml.Node, p string) { d.boolean(v, p, &l.NoDelay) }},
		{"delay", count(&l.Delay)},
	})
	return l
}

// parseLimitReqLine reads limit_req's arguments (ngx_http_limit_req):
// zone=NAME, burst=N, nodelay, delay=N.
func parseLimitReqLine(s string) (LimitReq, error) {
	var l LimitReq
	const want = `want "zone=NAME [burst=N] [nodelay | delay=N]"`
	for _, w := range strings.Fields(s) {
		k, val, _ := strings.Cut(w, "=")
		switch {
		case w == "nodelay":
			l.NoDelay = true
		case k == "zone":
			l.Zone = val
		case k == "burst", k == "delay":
			n, err := strconv.ParseUint(val, 10, 31)
			if err != nil {
				return l, fmt.Errorf("invalid %s value %q: %s", k, w, want)
			}
			if k == "burst" {
				l.Burst = int(n)
			} else {
				l.Delay = int(n)
			}
		default:
			return l, fmt.Errorf("invalid parameter %q: %s", w, want)
		}
	}
	return l, nil
}

func (d *decoder) limitConn(n *yaml.Node, path string) LimitConn {
	var l LimitConn
	r, line, ok := d.lineOrMapping(n, path, `a limit like "addr 10" or a mapping of zone and conn`)
	if !ok {
		return l
	}
	if line {
		f := strings.Fields(r.Value)
		var c uint64
		var err error
		if len(f) == 2 {
			c, err = strconv.ParseUint(f[1], 10, 31)
		}
		if len(f) != 2 || err != nil {
			d.errorf(r, path, `invalid limit_conn %q: want "ZONE N", N being the connections allowed per key`, r.Value)
			return l
		}
		return LimitConn{Zone: f[0], Conn: int(c)}
	}
	d.mapping(r, path, []field{
		{"zone", func(v *yaml.Node, p string) { d.str(v, p, &l.Zone) }},
		{"conn", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				l.Conn = int(i)
			}
		}},
	})
	return l
}

// httpMap decodes a map: source, variable, default, hostnames and entries.
func (d *decoder) httpMap(n *yaml.Node, path string) Map {
	var m Map
	d.mapping(n, path, []field{
		{"source", func(v *yaml.Node, p string) { d.str(v, p, &m.Source) }},
		{"variable", func(v *yaml.Node, p string) { d.str(v, p, &m.Variable) }},
		{"default", func(v *yaml.Node, p string) { m.Default, _ = d.text(v, p) }},
		{"hostnames", func(v *yaml.Node, p string) { d.boolean(v, p, &m.Hostnames) }},
		{"entries", func(v *yaml.Node, p string) { m.Entries = d.mapEntries(v, p) }},
	})
	return m
}

// mapEntries decodes a map's lines: a mapping of match to value, in order
// (regexes are tried in the order given), or a list of mappings of match
// and value.
func (d *decoder) mapEntries(n *yaml.Node, path string) []MapEntry {
	var out []MapEntry
	r := d.resolve(n)
	if r == nil || isNull(r) {
		return nil
	}
	if r.Kind == yaml.MappingNode {
		d.pairs(r, path, func(k, v *yaml.Node, kp string) {
			if val, ok := d.text(v, kp); ok {
				out = append(out, MapEntry{Match: k.Value, Value: val})
			}
		})
		return out
	}
	d.sequence(r, path, func(item *yaml.Node, ip string) {
		var e MapEntry
		d.mapping(item, ip, []field{
			{"match", func(v *yaml.Node, p string) { e.Match, _ = d.text(v, p) }},
			{"value", func(v *yaml.Node, p string) { e.Value, _ = d.text(v, p) }},
		})
		out = append(out, e)
	})
	return out
}

func (d *decoder) referers(n *yaml.Node, path string) *Referers {
	rf := &Referers{}
	d.mapping(n, path, []field{
		{"valid", func(v *yaml.Node, p string) { rf.Valid = d.words(v, p) }},
		{"status", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				rf.Status = int(i)
			}
		}},
		{"redirect_url", func(v *yaml.Node, p string) { d.str(v, p, &rf.RedirectURL) }},
		{"image_file", func(v *yaml.Node, p string) { d.str(v, p, &rf.ImageFile) }},
	})
	if d.bad[path] {
		return nil
	}
	return rf
}

func (d *decoder) secureLink(n *yaml.Node, path string) *SecureLink {
	s := &SecureLink{}
	d.mapping(n, path, []field{
		{"secret_file", func(v *yaml.Node, p string) { d.str(v, p, &s.SecretFile) }},
		{"sig_param", func(v *yaml.Node, p string) { d.str(v, p, &s.SigParam) }},
		{"expires_param", func(v *yaml.Node, p string) { d.str(v, p, &s.ExpiresParam) }},
		{"required", func(v *yaml.Node, p string) { d.boolean(v, p, &s.Required) }},
	})
	if d.bad[path] {
		return nil
	}
	return s
}

func (d *decoder) compression(n *yaml.Node, path string) *Compression {
	c := &Compression{}
	flag := func(out *bool) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) { d.boolean(v, p, out) }
	}
	d.mapping(n, path, []field{
		{"gzip", flag(&c.Gzip)},
		{"zstd", flag(&c.Zstd)},
		{"brotli", flag(&c.Brotli)},
		{"level", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				c.Level = int(i)
			}
		}},
		{"min_length", func(v *yaml.Node, p string) {
			if i, ok := d.size(v, p, 0, math.MaxInt32); ok {
				c.MinLength = int(i)
			}
		}},
		{"types", func(v *yaml.Node, p string) { c.Types = d.words(v, p) }},
		{"proxied", func(v *yaml.Node, p string) { d.str(v, p, &c.Proxied) }},
	})
	if d.bad[path] {
		return nil
	}
	return c
}

func (d *decoder) imageCompression(n *yaml.Node, path string) *ImageCompression {
	ic := &ImageCompression{}
	size := func(out *int64) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			if s, ok := d.size(v, p, 0, math.MaxInt64); ok {
				*out = s
			}
		}
	}
	pixels := func(out *int) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				*out = int(i)
			}
		}
	}
	d.mapping(n, path, []field{
		{"min_size", size(&ic.MinSize)},
		{"max_size", size(&ic.MaxSize)},
		{"jpeg_quality", pixels(&ic.JPEGQuality)},
		{"resize", func(v *yaml.Node, p string) { d.boolean(v, p, &ic.Resize) }},
		{"max_width", pixels(&ic.MaxWidth)},
		{"max_height", pixels(&ic.MaxHeight)},
		{"cache_size", size(&ic.CacheSize)},
	})
	if d.bad[path] {
		return nil
	}
	return ic
}

func (d *decoder) flood(n *yaml.Node, path string, f *FloodDefence) {
	d.mapping(n, path, []field{
		{"conn_rate", func(v *yaml.Node, p string) {
			if v = d.scalar(v, p, "a number of connections per second", "!!int", "!!float"); v == nil {
				return
			}
			r, err := strconv.ParseFloat(strings.ReplaceAll(v.Value, "_", ""), 64)
			if err != nil || !(r >= 0) || math.IsInf(r, 0) {
				d.errorf(v, p, "invalid rate %q: want a number of new connections per second (0 is off)", v.Value)
				return
			}
			f.ConnRate = r
		}},
		{"conn_burst", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				f.ConnBurst = int(i)
			}
		}},
		{"max_conns_per_source", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				f.MaxConnsPerSource = int(i)
			}
		}},
		{"first_byte_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &f.FirstByteTimeout) }},
		{"exempt", func(v *yaml.Node, p string) { f.Exempt = d.prefixes(v, p) }},
	})
}
