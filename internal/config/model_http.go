package config

import (
	"net/netip"
	"time"
)

// The L7 (HTTP) part of the model: virtual servers with nginx location
// semantics, content-based routes, and upstream groups with nginx/HAProxy
// balancing, persistence, health and retries.

// HTTP is the L7 proxy configuration.
type HTTP struct {
	Servers   []HTTPServer `json:"servers,omitempty"`
	Upstreams []Upstream   `json:"upstreams,omitempty"`

	// TrustedProxies are the client addresses whose X-Forwarded-For,
	// Forwarded and PROXY protocol headers are believed. Empty: trust none.
	TrustedProxies []netip.Prefix `json:"trusted_proxies,omitempty"`

	AccessLog AccessLog  `json:"access_log,omitzero"`
	Limits    HTTPLimits `json:"limits,omitzero"`

	// Zones for limit_req / limit_conn, variables from maps, and the
	// accept-time flood defence.
	LimitReqZones  []LimitReqZone  `json:"limit_req_zones,omitempty"`
	LimitConnZones []LimitConnZone `json:"limit_conn_zones,omitempty"`
	Maps           []Map           `json:"maps,omitempty"`
	Flood          FloodDefence    `json:"flood,omitzero"`
}

// AccessLog writes one line per request.
type AccessLog struct {
	Path   string `json:"path,omitempty"`   // "" = off, "-" = stdout
	Format string `json:"format,omitempty"` // "combined" (default) or "json"
}

// HTTPLimits bound what a client may send, with nginx/HAProxy-like defaults.
type HTTPLimits struct {
	HeaderTimeout    time.Duration `json:"header_timeout,omitempty"`         // client_header_timeout, default 10 s
	BodyTimeout      time.Duration `json:"body_timeout,omitempty"`           // client_body_timeout between reads, default 60 s
	KeepaliveTimeout time.Duration `json:"keepalive_timeout,omitempty"`      // idle client connection, default 75 s
	MaxHeaderBytes   int           `json:"max_header_bytes,omitempty"`       // request line + headers, default 32 KiB
	MaxHeaders       int           `json:"max_headers,omitempty"`            // header count, default 100
	MaxBodyBytes     int64         `json:"max_body_bytes,omitempty"`         // client_max_body_size, default 1 MiB; -1 = unlimited
	MaxConcurrentH2  uint32        `json:"max_concurrent_streams,omitempty"` // default 100
}

// HTTPServer is a virtual server: listeners, names, TLS and locations
// (nginx `server {}`).
type HTTPServer struct {
	Listen []HTTPListen `json:"listen"`
	// ServerNames as nginx's server_name: exact, "*.a.com", "mail.*",
	// ".a.com", "~regex". Empty matches any host.
	ServerNames  []string      `json:"server_names,omitempty"`
	Certificates []Certificate `json:"certificates,omitempty"`
	Locations    []Location    `json:"locations"`
}

// HTTPListen is one listening socket of a virtual server.
type HTTPListen struct {
	Address netip.AddrPort `json:"address"`
	TLS     bool           `json:"tls,omitempty"`
	// HTTP2 enables h2 over TLS (ALPN) or h2c (prior knowledge and Upgrade)
	// on plain listeners.
	HTTP2         bool `json:"http2,omitempty"`
	ProxyProtocol bool `json:"proxy_protocol,omitempty"` // expect a PROXY v1/v2 header from a trusted proxy
	Default       bool `json:"default_server,omitempty"`
}

// Certificate is a PEM certificate chain and key; the names it covers are
// offered by SNI.
type Certificate struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// Location is an nginx location block. Exactly one of ProxyPass, Return or
// Routes (with a ProxyPass fallback) decides what happens. After
// Normalize, nested locations carry the values they inherit (timeouts,
// set_headers, next_upstream*), as nginx merges them.
type Location struct {
	// Match in nginx syntax: "/prefix", "= /exact", "^~ /prefix",
	// "~ regex", "~* regex", "@name".
	Match     string     `json:"match"`
	Locations []Location `json:"locations,omitempty"`

	Rewrites []Rewrite   `json:"rewrites,omitempty"`
	Return   *Return     `json:"return,omitempty"`
	Routes   []HTTPRoute `json:"routes,omitempty"`
	// ProxyPass is nginx's proxy_pass: "http://UPSTREAM[/uri]" where
	// UPSTREAM names an upstream group or is a host:port.
	ProxyPass string `json:"proxy_pass,omitempty"`

	// SetHeaders is proxy_set_header (value may use $host, $remote_addr,
	// $scheme, $request_uri, $http_NAME, $proxy_add_x_forwarded_for).
	SetHeaders []Header `json:"set_headers,omitempty"`

	// Retries (proxy_next_upstream): conditions among error, timeout,
	// invalid_header, http_500, http_502, http_503, http_504, http_403,
	// http_404, http_429, non_idempotent, off. Default: error timeout.
	NextUpstream        []string      `json:"next_upstream,omitempty"`
	NextUpstreamTries   int           `json:"next_upstream_tries,omitempty"`
	NextUpstreamTimeout time.Duration `json:"next_upstream_timeout,omitempty"`

	// Phase features, run in nginx's phase order: rewrite, then
	// limit_conn/limit_req (preaccess; a `return` location never gets
	// there), then referers/secure link (access), then the proxy, with
	// compression and image recompression on the way back.
	LimitReq         []LimitReq        `json:"limit_req,omitempty"`
	LimitReqStatus   int               `json:"limit_req_status,omitempty"` // default 503
	LimitConn        []LimitConn       `json:"limit_conn,omitempty"`
	LimitConnStatus  int               `json:"limit_conn_status,omitempty"` // default 503
	Referers         *Referers         `json:"referers,omitempty"`
	SecureLink       *SecureLink       `json:"secure_link,omitempty"`
	Compression      *Compression      `json:"compression,omitempty"`
	ImageCompression *ImageCompression `json:"image_compression,omitempty"`

	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"` // proxy_connect_timeout, default 60 s
	ReadTimeout    time.Duration `json:"read_timeout,omitempty"`    // proxy_read_timeout, default 60 s
	SendTimeout    time.Duration `json:"send_timeout,omitempty"`    // proxy_send_timeout, default 60 s
}

// Rewrite is nginx's `rewrite regex replacement [flag]`.
type Rewrite struct {
	Regex       string `json:"regex"`
	Replacement string `json:"replacement"`
	Flag        string `json:"flag,omitempty"` // last, break, redirect, permanent
}

// Return is nginx's `return code [text|URL]`.
type Return struct {
	Code int    `json:"code"`
	Text string `json:"text,omitempty"`
}

// Header is a name/value pair.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HTTPRoute sends matching requests to an upstream; routes are tried in order
// and the first match wins. A route with no conditions always matches.
type HTTPRoute struct {
	Match     RouteMatch `json:"match,omitzero"`
	ProxyPass string     `json:"proxy_pass"`
}

// RouteMatch conditions; all given conditions must hold.
type RouteMatch struct {
	Headers []HeaderMatch  `json:"headers,omitempty"`
	Cookies []HeaderMatch  `json:"cookies,omitempty"`
	Query   []HeaderMatch  `json:"query,omitempty"`
	Methods []string       `json:"methods,omitempty"`
	Sources []netip.Prefix `json:"sources,omitempty"`
	// UserAgents are classes: chrome firefox safari edge ie opera mobile bot.
	UserAgents []string `json:"user_agents,omitempty"`
	// Languages: the route matches when the client's preferred language
	// (Accept-Language with q-values) among all languages of the location's
	// routes is one of these.
	Languages []string `json:"languages,omitempty"`
}

// HeaderMatch matches a named value: exact Value, or Regex, or presence.
type HeaderMatch struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Regex string `json:"regex,omitempty"`
}

// Upstream is a group of servers (nginx `upstream {}`, HAProxy backend).
type Upstream struct {
	Name string `json:"name"`
	// Balance selects the algorithm, in nginx syntax (round_robin default,
	// least_conn, ip_hash, "hash KEY [consistent]", "random [two
	// [least_conn]]") or HAProxy's (roundrobin, static-rr, leastconn, first,
	// source, "uri ...", "url_param NAME", "hdr(NAME)"), or "ewma" (P2C
	// with peak-EWMA latency).
	Balance  string `json:"balance,omitempty"`
	HashType string `json:"hash_type,omitempty"` // HAProxy hash-type for HAProxy algorithms

	Servers []UpstreamServer `json:"servers"`

	// Keepalive is the number of idle connections kept per server
	// (default 32; -1: none, what `keepalive: 0` means in YAML).
	Keepalive        int           `json:"keepalive,omitempty"`
	KeepaliveTimeout time.Duration `json:"keepalive_timeout,omitempty"` // default 60 s

	TLS           *UpstreamTLS `json:"tls,omitempty"`
	ProxyProtocol string       `json:"proxy_protocol,omitempty"` // "v1" or "v2" towards servers

	Sticky *Sticky        `json:"sticky,omitempty"`
	Health UpstreamHealth `json:"health,omitzero"`
	// RetryBudget caps retries at this fraction of in-flight requests
	// (Envoy-style), so retries cannot amplify an outage. Default 0.2.
	RetryBudget float64 `json:"retry_budget,omitempty"`
}

// UpstreamServer is one server of an upstream group.
type UpstreamServer struct {
	Address     string        `json:"address"` // host:port as written (ketama hashes it)
	Weight      int           `json:"weight,omitempty"`
	MaxFails    int           `json:"max_fails,omitempty"`    // default 1; -1 disables
	FailTimeout time.Duration `json:"fail_timeout,omitempty"` // default 10 s
	Backup      bool          `json:"backup,omitempty"`
	Down        bool          `json:"down,omitempty"`
	MaxConns    int           `json:"max_conns,omitempty"`
	SlowStart   time.Duration `json:"slow_start,omitempty"`
	// Cookie is this server's persistence cookie value (default its name).
	Cookie string `json:"cookie,omitempty"`
	ID     int    `json:"id,omitempty"`
}

// UpstreamTLS enables TLS towards the servers.
type UpstreamTLS struct {
	ServerName         string `json:"server_name,omitempty"`
	CAFile             string `json:"ca_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// Sticky is session persistence: a cookie inserted by the proxy
// (HAProxy `cookie NAME insert`) or by client source address.
type Sticky struct {
	Cookie   string        `json:"cookie,omitempty"` // cookie name, e.g. SRV
	Source   bool          `json:"source,omitempty"` // persist by client address instead
	Timeout  time.Duration `json:"timeout,omitempty"`
	Path     string        `json:"path,omitempty"` // default "/"
	HTTPOnly bool          `json:"httponly,omitempty"`
	Secure   bool          `json:"secure,omitempty"`
}

// UpstreamHealth combines active checks (run by the health package) and
// passive outlier ejection.
type UpstreamHealth struct {
	Checks []Check `json:"checks,omitempty"`
	// Consecutive5xx ejects a server for EjectionTime after this many
	// consecutive 5xx responses or connection failures (0 = off).
	Consecutive5xx int           `json:"consecutive_5xx,omitempty"`
	EjectionTime   time.Duration `json:"ejection_time,omitempty"` // default 30 s
}
