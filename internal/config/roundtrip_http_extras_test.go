package config

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// The generator's part for the issue-6 features: zones, maps and flood
// defence at the http level, limits, referers, secure links and
// compression in locations, all normalised (defaults and what nested
// locations inherit written out).

func randomHTTPExtras(r *rand.Rand, h *HTTP) {
	keys := []string{"$binary_remote_addr", "$http_x_api_key", "$cookie_session", "$server_name$uri", "${remote_addr}:$arg_k"}
	for i := range r.IntN(3) {
		h.LimitReqZones = append(h.LimitReqZones, LimitReqZone{
			Name: fmt.Sprintf("req%d", i),
			Key:  keys[r.IntN(len(keys))],
			Rate: []float64{1, 5, 0.5, 100, 1.0 / 60, 12.25}[r.IntN(6)],
			Size: int64(MinZoneSize) << r.IntN(10),
		})
	}
	for i := range r.IntN(3) {
		h.LimitConnZones = append(h.LimitConnZones, LimitConnZone{
			Name: fmt.Sprintf("conn-%d", i),
			Key:  keys[r.IntN(len(keys))],
			Size: 1 << (15 + r.IntN(10)),
		})
	}
	for i := range r.IntN(3) {
		m := Map{Source: []string{"$http_user_agent", "$host", "$arg_v$uri"}[r.IntN(3)], Variable: fmt.Sprintf("$m%d", i), Hostnames: r.IntN(3) == 0}
		if r.IntN(2) == 0 {
			m.Default = []string{"0", "off", "$host"}[r.IntN(3)]
		}
		for _, e := range []MapEntry{{"~*bot", "1"}, {"example.com", "2"}, {"*.example.org", "3"}, {`~^/a/(\\d+)$`, "a$1"}, {"www.example.*", ""}, {"~*(MSIE|Trident)", "old"}} {
			if r.IntN(2) == 0 && (m.Hostnames || !slices.Contains([]string{"*.example.org", "www.example.*"}, e.Match)) {
				m.Entries = append(m.Entries, e)
			}
		}
		h.Maps = append(h.Maps, m)
	}
	f := &h.Flood
	f.FirstByteTimeout = []time.Duration{DefaultFirstByteTimeout, 3 * time.Second, 1500 * time.Millisecond}[r.IntN(3)]
	if r.IntN(2) == 0 {
		f.ConnRate = []float64{10, 0.5, 200}[r.IntN(3)]
		f.ConnBurst = 1 + r.IntN(50)
		f.MaxConnsPerSource = r.IntN(200)
	}
	if r.IntN(3) == 0 {
		f.Exempt = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}[:1+r.IntN(2)]
	}
}

func randomLocationExtras(r *rand.Rand, h *HTTP, l, parent *Location) {
	if len(h.LimitReqZones) > 0 && r.IntN(2) == 0 {
		for _, i := range r.Perm(len(h.LimitReqZones))[:1+r.IntN(len(h.LimitReqZones))] {
			lr := LimitReq{Zone: h.LimitReqZones[i].Name, Burst: r.IntN(20)}
			switch r.IntN(3) {
			case 1:
				lr.NoDelay = true
			case 2:
				lr.Delay = r.IntN(lr.Burst + 1)
			}
			l.LimitReq = append(l.LimitReq, lr)
		}
		l.LimitReqStatus = []int{DefaultLimitStatus, 429, 444}[r.IntN(3)]
	}
	if len(h.LimitConnZones) > 0 && r.IntN(2) == 0 {
		l.LimitConn = []LimitConn{{Zone: h.LimitConnZones[r.IntN(len(h.LimitConnZones))].Name, Conn: 1 + r.IntN(65535)}}
		l.LimitConnStatus = []int{DefaultLimitStatus, 429}[r.IntN(2)]
	}
	switch r.IntN(5) {
	case 1:
		l.Referers = &Referers{Valid: []string{"example.org/pics/", "none", "blocked", "server_names", "*.example.com", `~\.google\.`}[:1+r.IntN(6)], Status: []int{DefaultRefererStatus, 404, 444}[r.IntN(3)]}
	case 2:
		l.Referers = &Referers{Valid: []string{"none", ".example.net"}, RedirectURL: "https://example.com/hotlink", Status: []int{DefaultRedirectStatus, 301}[r.IntN(2)]}
	case 3:
		l.Referers = &Referers{Valid: []string{"blocked", "www.example.*"}, ImageFile: "testdata/no-such-image.png"}
	}
	if r.IntN(4) == 0 {
		l.SecureLink = &SecureLink{SecretFile: "testdata/no-such-secret", SigParam: []string{DefaultSigParam, "s"}[r.IntN(2)], ExpiresParam: DefaultExpiresParam, Required: r.IntN(2) == 0}
	}
	if r.IntN(3) == 0 {
		c := &Compression{Gzip: r.IntN(2) == 0, MinLength: []int{DefaultCompressionMinLength, 1, 1024}[r.IntN(3)], Proxied: []string{"off", "any"}[r.IntN(2)]}
		c.Zstd = !c.Gzip || r.IntN(2) == 0
		c.Brotli = r.IntN(2) == 0
		if r.IntN(2) == 0 {
			c.Level = 1 + r.IntN(9)
		}
		c.Types = []string{compressionAlwaysType}
		for _, t := range []string{"text/css", "application/json", "image/svg+xml", "*"} {
			if r.IntN(2) == 0 {
				c.Types = append(c.Types, t)
			}
		}
		l.Compression = c
	}
	if r.IntN(4) == 0 {
		ic := &ImageCompression{MinSize: DefaultImageMinSize, MaxSize: DefaultImageMaxSize, JPEGQuality: 1 + r.IntN(100), CacheSize: DefaultImageCacheSize}
		if r.IntN(2) == 0 {
			ic.Resize, ic.MaxWidth, ic.MaxHeight = true, 1+r.IntN(4096), r.IntN(4096)
		}
		l.ImageCompression = ic
	}
	if parent != nil {
		if l.LimitReq == nil {
			l.LimitReq = slices.Clone(parent.LimitReq)
		}
		if l.LimitReqStatus == 0 {
			l.LimitReqStatus = parent.LimitReqStatus
		}
		if l.LimitConn == nil {
			l.LimitConn = slices.Clone(parent.LimitConn)
		}
		if l.LimitConnStatus == 0 {
			l.LimitConnStatus = parent.LimitConnStatus
		}
		if l.Referers == nil {
			l.Referers = cloneReferers(parent.Referers)
		}
		if l.SecureLink == nil && parent.SecureLink != nil {
			s := *parent.SecureLink
			l.SecureLink = &s
		}
		if l.Compression == nil {
			l.Compression = cloneCompression(parent.Compression)
		}
		if l.ImageCompression == nil && parent.ImageCompression != nil {
			ic := *parent.ImageCompression
			l.ImageCompression = &ic
		}
	}
}
