package nginx

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// nginx's defaults for the settings the model holds once
// (ngx_http_core_module.c, ngx_http_v2_module.c).
const (
	nginxMaxBody        = 1 << 20
	nginxBodyTimeout    = 60 * time.Second
	nginxKeepalive      = 75 * time.Second
	nginxHeaderTimeout  = 60 * time.Second
	nginxHeaderBuffers  = 4 * 8 << 10
	nginxMaxHeaders     = 1000
	nginxH2Streams      = 128
	nginxRealIPHeader   = "X-Real-IP"
	debianAccessLogPath = "/var/log/nginx/access.log"
)

// observeLeaf records a location's (or a server's without locations)
// effective value of each setting the model holds once.
func (b *builder) observeLeaf(c *conf) {
	b.maxBody.observe(c.clientMaxBody, nginxMaxBody)
	b.bodyTimeout.observe(c.bodyTimeoutSetting(), nginxBodyTimeout)
	b.keepalive.observe(c.keepaliveTimeout, nginxKeepalive)
	var al setting[accessLog]
	if len(c.accessLogs.v) > 0 {
		al = setting[accessLog]{v: c.accessLogs.v[0], at: c.accessLogs.ats[0], set: true}
		if len(c.accessLogs.v) > 1 {
			b.sink.warnf(c.accessLogs.ats[1], "not supported by fulcrum: a second access_log (fulcrum writes one access log; the first is used)")
		}
	}
	b.accessLog.observe(al, accessLog{path: debianAccessLogPath, format: config.DefaultAccessLogFormat})
	var from setting[string]
	if len(c.realIPFrom.v) > 0 {
		ps := make([]string, len(c.realIPFrom.v))
		for i, p := range c.realIPFrom.v {
			ps[i] = p.String()
		}
		from = setting[string]{v: strings.Join(ps, " "), at: c.realIPFrom.ats[0], set: true}
	}
	b.realIPFrom.observe(from, "")
	b.realIPHeader.observe(c.realIPHeader, nginxRealIPHeader)
}

func (c *conf) bodyTimeoutSetting() setting[time.Duration] { return c.clientBodyTimeout }

// observeServer records a server's effective server-level settings.
func (b *builder) observeServer(c *conf) {
	b.headerTimeout.observe(c.clientHeaderTimeout, nginxHeaderTimeout)
	b.headerBuffers.observe(c.headerBuffers, nginxHeaderBuffers)
	b.underscores.observe(c.underscores, false)
	b.maxHeaders.observe(c.maxHeaders, nginxMaxHeaders)
	b.h2Streams.observe(c.h2Streams, nginxH2Streams)
}

// clash reports a setting whose value differs between servers or
// locations; logging only warns.
func clash[T comparable](b *builder, g *global[T], name string, sev config.Severity) bool {
	if !g.clash {
		return false
	}
	other := "from nginx's default, which other servers or locations keep"
	if g.set && g.at != g.clashAt {
		other = fmt.Sprintf("from line %d", g.at.line)
	}
	b.sink.add(g.clashAt, sev, "", fmt.Sprintf("not supported by fulcrum: %s differs %s (fulcrum has one value for the whole http section)", name, other))
	return true
}

// finishHTTP writes the settings held once, and the per-upstream TLS.
func (b *builder) finishHTTP() {
	h := b.h
	l := &h.Limits
	if !clash(b, &b.maxBody, "client_max_body_size", config.Error) && b.maxBody.set {
		l.MaxBodyBytes = b.maxBody.v
		if l.MaxBodyBytes == 0 {
			l.MaxBodyBytes = -1 // 0 turns the check off
		}
		b.key("http.limits.max_body_bytes", b.maxBody.at)
	}
	if !clash(b, &b.bodyTimeout, "client_body_timeout", config.Error) && b.bodyTimeout.set {
		l.BodyTimeout = b.bodyTimeout.v
		b.key("http.limits.body_timeout", b.bodyTimeout.at)
	}
	if !clash(b, &b.keepalive, "keepalive_timeout", config.Error) && b.keepalive.set {
		if b.keepalive.v == 0 {
			b.sink.errorf(b.keepalive.at, "not supported by fulcrum: keepalive_timeout 0 (fulcrum keeps client connections alive)")
		}
		l.KeepaliveTimeout = b.keepalive.v
		b.key("http.limits.keepalive_timeout", b.keepalive.at)
	}
	if !clash(b, &b.headerTimeout, "client_header_timeout", config.Error) && b.headerTimeout.set {
		l.HeaderTimeout = b.headerTimeout.v
		b.key("http.limits.header_timeout", b.headerTimeout.at)
	}
	if !clash(b, &b.headerBuffers, "large_client_header_buffers", config.Error) && b.headerBuffers.set {
		l.MaxHeaderBytes = b.headerBuffers.v
		b.key("http.limits.max_header_bytes", b.headerBuffers.at)
	}
	if !clash(b, &b.maxHeaders, "max_headers", config.Error) && b.maxHeaders.set {
		l.MaxHeaders = b.maxHeaders.v
		b.key("http.limits.max_headers", b.maxHeaders.at)
	}
	if !clash(b, &b.h2Streams, "http2_max_concurrent_streams", config.Error) && b.h2Streams.set {
		if b.h2Streams.v == 0 {
			b.sink.errorf(b.h2Streams.at, "not supported by fulcrum: http2_max_concurrent_streams 0")
		}
		l.MaxConcurrentH2 = b.h2Streams.v
	}
	if !clash(b, &b.underscores, "underscores_in_headers", config.Error) && b.underscores.set && b.underscores.v {
		b.sink.errorf(b.underscores.at, "not supported by fulcrum: underscores_in_headers on (fulcrum drops header names with \"_\", nginx's default)")
	}
	if !clash(b, &b.accessLog, "access_log", config.Warning) && b.accessLog.seen {
		if a := b.accessLog.v; !a.off {
			h.AccessLog = config.AccessLog{Path: a.path, Format: a.format}
			b.key("http.access_log", b.accessLog.at)
		}
	}
	if !clash(b, &b.realIPFrom, "set_real_ip_from", config.Error) && b.realIPFrom.v != "" {
		for i, f := range strings.Fields(b.realIPFrom.v) {
			h.TrustedProxies = append(h.TrustedProxies, netip.MustParsePrefix(f))
			b.key(fmt.Sprintf("http.trusted_proxies[%d]", i), b.realIPFrom.at)
		}
		if !clash(b, &b.realIPHeader, "real_ip_header", config.Error) {
			switch hd := b.realIPHeader.v; {
			case strings.EqualFold(hd, "X-Forwarded-For"), hd == "proxy_protocol":
			default:
				at := b.realIPHeader.at
				if !b.realIPHeader.set {
					at = b.realIPFrom.at
				}
				b.sink.warnf(at, "not supported by fulcrum: real_ip_header %s (fulcrum takes a trusted proxy's client address from X-Forwarded-For, Forwarded or the PROXY protocol)", hd)
			}
		}
	}
}
