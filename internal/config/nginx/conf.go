package nginx

import (
	"net/netip"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// setting is one value of a level (http, server, location) and where it
// was set; nginx's merge functions give a level the parent's value of
// what it leaves unset.
type setting[T any] struct {
	v   T
	at  pos
	set bool
}

func (s *setting[T]) put(v T, at pos) { *s = setting[T]{v: v, at: at, set: true} }

// list is an array directive's values at one level with where each came
// from; nginx takes the parent's list when a level has none of its own
// (proxy_set_header, limit_req, limit_conn, valid_referers,
// set_real_ip_from, ssl_certificate).
type list[T any] struct {
	v   []T
	ats []pos
}

func (l *list[T]) add(v T, at pos) {
	l.v = append(l.v, v)
	l.ats = append(l.ats, at)
}

func inherit[T any](c *setting[T], p setting[T]) {
	if !c.set {
		*c = p
	}
}

func inheritList[T any](c *list[T], p list[T]) {
	if len(c.v) == 0 {
		c.v, c.ats = slices.Clone(p.v), slices.Clone(p.ats)
	}
}

// accessLog is what access_log says at a level.
type accessLog struct {
	off    bool
	path   string
	format string
}

// conf is what one level of the http section sets, for the directives
// fulcrum maps.
type conf struct {
	setHeaders      list[config.Header]
	nextUpstream    setting[[]string]
	nextTries       setting[int]
	nextTimeout     setting[time.Duration]
	connectTimeout  setting[time.Duration]
	readTimeout     setting[time.Duration]
	sendTimeout     setting[time.Duration]
	limitReq        list[config.LimitReq]
	limitReqStatus  setting[int]
	limitConn       list[config.LimitConn]
	limitConnStatus setting[int]
	referers        list[string]

	gzip          setting[bool]
	gzipTypes     list[string]
	gzipMinLength setting[int]
	gzipLevel     setting[int]
	gzipProxied   setting[string]

	clientMaxBody     setting[int64]
	clientBodyTimeout setting[time.Duration]
	keepaliveTimeout  setting[time.Duration]
	accessLogs        list[accessLog]
	realIPFrom        list[netip.Prefix]
	realIPHeader      setting[string]

	sslVerify     setting[bool]
	sslTrusted    setting[string]
	sslName       setting[string]
	sslServerName setting[bool]
	proxyRedirect setting[string]

	// Server-level settings (NGX_HTTP_SRV_CONF only).
	clientHeaderTimeout setting[time.Duration]
	headerBuffers       setting[int]
	underscores         setting[bool]
	maxHeaders          setting[int]
	h2Streams           setting[uint32]
	certs               list[string]
	certKeys            list[string]
	sslOn               setting[bool]
	http2On             setting[bool]
}

// merge gives c what it leaves unset from its parent, as the modules'
// merge_loc_conf and merge_srv_conf do.
func (c *conf) merge(p *conf) {
	inheritList(&c.setHeaders, p.setHeaders)
	inherit(&c.nextUpstream, p.nextUpstream)
	inherit(&c.nextTries, p.nextTries)
	inherit(&c.nextTimeout, p.nextTimeout)
	inherit(&c.connectTimeout, p.connectTimeout)
	inherit(&c.readTimeout, p.readTimeout)
	inherit(&c.sendTimeout, p.sendTimeout)
	inheritList(&c.limitReq, p.limitReq)
	inherit(&c.limitReqStatus, p.limitReqStatus)
	inheritList(&c.limitConn, p.limitConn)
	inherit(&c.limitConnStatus, p.limitConnStatus)
	inheritList(&c.referers, p.referers)
	inherit(&c.gzip, p.gzip)
	inheritList(&c.gzipTypes, p.gzipTypes)
	inherit(&c.gzipMinLength, p.gzipMinLength)
	inherit(&c.gzipLevel, p.gzipLevel)
	inherit(&c.gzipProxied, p.gzipProxied)
	inherit(&c.clientMaxBody, p.clientMaxBody)
	inherit(&c.clientBodyTimeout, p.clientBodyTimeout)
	inherit(&c.keepaliveTimeout, p.keepaliveTimeout)
	inheritList(&c.accessLogs, p.accessLogs)
	inheritList(&c.realIPFrom, p.realIPFrom)
	inherit(&c.realIPHeader, p.realIPHeader)
	inherit(&c.sslVerify, p.sslVerify)
	inherit(&c.sslTrusted, p.sslTrusted)
	inherit(&c.sslName, p.sslName)
	inherit(&c.sslServerName, p.sslServerName)
	inherit(&c.proxyRedirect, p.proxyRedirect)
	inherit(&c.clientHeaderTimeout, p.clientHeaderTimeout)
	inherit(&c.headerBuffers, p.headerBuffers)
	inherit(&c.underscores, p.underscores)
	inherit(&c.maxHeaders, p.maxHeaders)
	inherit(&c.h2Streams, p.h2Streams)
	inheritList(&c.certs, p.certs)
	inheritList(&c.certKeys, p.certKeys)
	inherit(&c.sslOn, p.sslOn)
	inherit(&c.http2On, p.http2On)
}

// global tracks a setting the model holds once for the whole http
// section: every server or location must end up with the same value.
type global[T comparable] struct {
	name    string
	v       T
	at      pos
	set     bool // some level set it
	seen    bool
	clashAt pos
	clashV  T
	clash   bool
}

// observe records the effective value of one server or location: def is
// nginx's default, used when the level leaves the setting unset.
func (g *global[T]) observe(s setting[T], def T) {
	v := def
	if s.set {
		v = s.v
	}
	switch {
	case !g.seen:
		g.seen, g.v = true, v
		if s.set {
			g.set, g.at = true, s.at
		}
	case g.v != v && !g.clash:
		g.clash, g.clashV = true, v
		g.clashAt = s.at
		if !s.set {
			g.clashAt = g.at
		}
	case s.set && !g.set:
		g.set, g.at = true, s.at
	}
}
