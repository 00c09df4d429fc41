package config

import (
	"math"
	"slices"
	"strings"
)

// Normalisation of the issue-6 features (model_http_extras.go): defaults,
// canonical spelling, and what a nested location inherits.

// normalizeHTTPExtras fills the http-level defaults: flood defence's
// first-byte timeout, a connection burst of one second's worth of
// ConnRate, canonical exempt prefixes.
func normalizeHTTPExtras(h *HTTP) {
	nilIfEmpty(&h.LimitReqZones)
	nilIfEmpty(&h.LimitConnZones)
	nilIfEmpty(&h.Maps)
	for i := range h.Maps {
		nilIfEmpty(&h.Maps[i].Entries)
	}
	f := &h.Flood
	setDefault(&f.FirstByteTimeout, DefaultFirstByteTimeout)
	if f.ConnRate > 0 && f.ConnBurst == 0 && f.ConnRate <= math.MaxInt32 {
		// A token bucket needs room for at least one connection.
		f.ConnBurst = max(1, int(math.Ceil(f.ConnRate)))
	}
	nilIfEmpty(&f.Exempt)
	for i, p := range f.Exempt {
		f.Exempt[i] = canonicalPrefix(p)
	}
}

// inheritLocationExtras gives a nested location what it leaves unset, as
// nginx merges each module's location configuration into inner levels
// (ngx_http_limit_req_merge_conf takes the parent's limits when a level
// has none; referer, gzip and the rest merge likewise).
func inheritLocationExtras(l, parent *Location) {
	if l.LimitReq == nil {
		l.LimitReq = slices.Clone(parent.LimitReq)
	}
	setDefault(&l.LimitReqStatus, parent.LimitReqStatus)
	if l.LimitConn == nil {
		l.LimitConn = slices.Clone(parent.LimitConn)
	}
	setDefault(&l.LimitConnStatus, parent.LimitConnStatus)
	if l.Referers == nil && parent.Referers != nil {
		l.Referers = cloneReferers(parent.Referers)
	}
	if l.SecureLink == nil && parent.SecureLink != nil {
		s := *parent.SecureLink
		l.SecureLink = &s
	}
	if l.Compression == nil && parent.Compression != nil {
		l.Compression = cloneCompression(parent.Compression)
	}
	if l.ImageCompression == nil && parent.ImageCompression != nil {
		ic := *parent.ImageCompression
		l.ImageCompression = &ic
	}
}

// normalizeLocationExtras fills a location's defaults for the features it
// uses: the 503 of limit_req_status and limit_conn_status when it has
// limits, the referer action, secure link parameters, compression's
// minimum length, types and proxied, and image recompression's sizes.
func normalizeLocationExtras(l *Location) {
	if len(l.LimitReq) > 0 {
		setDefault(&l.LimitReqStatus, DefaultLimitStatus)
	}
	if len(l.LimitConn) > 0 {
		setDefault(&l.LimitConnStatus, DefaultLimitStatus)
	}
	if r := l.Referers; r != nil {
		nilIfEmpty(&r.Valid)
		for i, v := range r.Valid {
			r.Valid[i] = canonicalReferer(v)
		}
		switch {
		case r.RedirectURL != "":
			setDefault(&r.Status, DefaultRedirectStatus)
		case r.ImageFile == "":
			setDefault(&r.Status, DefaultRefererStatus)
		}
	}
	if s := l.SecureLink; s != nil {
		setDefault(&s.SigParam, DefaultSigParam)
		setDefault(&s.ExpiresParam, DefaultExpiresParam)
	}
	if c := l.Compression; c != nil {
		setDefault(&c.MinLength, DefaultCompressionMinLength)
		setDefault(&c.Proxied, DefaultCompressionProxied)
		c.Proxied = strings.ToLower(c.Proxied)
		for i, t := range c.Types {
			c.Types[i] = strings.ToLower(t)
		}
		if !slices.Contains(c.Types, compressionAlwaysType) {
			c.Types = append([]string{compressionAlwaysType}, c.Types...)
		}
	}
	if ic := l.ImageCompression; ic != nil {
		setDefault(&ic.MinSize, DefaultImageMinSize)
		setDefault(&ic.MaxSize, DefaultImageMaxSize)
		setDefault(&ic.JPEGQuality, DefaultJPEGQuality)
		setDefault(&ic.CacheSize, DefaultImageCacheSize)
	}
}

// canonicalReferer lowercases the host part of a valid_referers name, as
// ngx_hash_add_key does; keywords, regexes and the path (compared
// case-sensitively by ngx_http_referer_variable) stay as written.
func canonicalReferer(v string) string {
	switch {
	case v == "none", v == "blocked", v == "server_names", strings.HasPrefix(v, "~"):
		return v
	}
	host, path, found := strings.Cut(v, "/")
	if !found {
		return strings.ToLower(v)
	}
	return strings.ToLower(host) + "/" + path
}

func cloneReferers(r *Referers) *Referers {
	if r == nil {
		return nil
	}
	c := *r
	c.Valid = slices.Clone(r.Valid)
	return &c
}

func cloneCompression(c *Compression) *Compression {
	if c == nil {
		return nil
	}
	n := *c
	n.Types = slices.Clone(c.Types)
	return &n
}
