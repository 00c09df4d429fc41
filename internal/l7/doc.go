// Package l7 is Fulcrum's HTTP reverse proxy: nginx's server/location
// model and proxy module in front of nginx/HAProxy upstream balancing, on
// net/http and httputil.ReverseProxy.
//
// # Use
//
//	p := l7.New(l7.Options{Logger: log})
//	err := p.Apply(ctx, cfg.HTTP) // all or nothing; call again to reload
//	st := p.Status()
//	err = p.Close(ctx)            // graceful
//
// # Request path
//
// A listener (one socket per address, kept across reloads) hands its
// connections to the current server instance: PROXY protocol first (only
// from config.HTTP.TrustedProxies, anyone else is refused), then TLS with
// the certificate of the server SNI selects, then internal/l7/harden
// (connection vetting, server limits, the request guard). The core then
// does what nginx does (see internal/l7/route for the exact semantics):
//
//   - server_name lookup (route.Hosts), URI normalisation (route.ParseURI),
//     location match, rewrite / return and the auto-redirect 301
//     (route.Router), made absolute with the request's host and the listen
//     port as ngx_http_header_filter does;
//   - routes (config.HTTPRoute) in order: header, cookie, query, method,
//     source CIDR, User-Agent class and Accept-Language with q-values over
//     the languages of all the location's routes; the location's proxy_pass
//     is the fallback;
//   - the upstream request-target of ngx_http_proxy_create_request
//     (route.ProxyPass.UpstreamURI), sent byte for byte; Host is
//     $proxy_host unless proxy_set_header sets it; proxy_set_header values
//     take nginx variables (vars.go); Expect is dropped; X-Forwarded-For
//     ($proxy_add_x_forwarded_for), X-Forwarded-Proto, X-Forwarded-Host,
//     Forwarded (RFC 7239) and Via are added, a client's own forwarding
//     headers being believed only from a trusted proxy (realip with
//     recursion: $remote_addr is then the address they name);
//   - balancing with internal/l7/balance (Upstream.Balance in nginx or
//     HAProxy syntax, hash keys from nginx variables or HAProxy fetches),
//     cookie insertion (HAProxy "cookie NAME insert": "SRV=s1; path=/"
//     only when the client was not bound to the server that answered) or
//     source persistence;
//   - attempts (forward.go) as ngx_http_upstream_next: error, timeout and
//     invalid_header always count against the server (max_fails /
//     fail_timeout in the balancer); next_upstream decides whether the next
//     server is tried; POST, LOCK and PATCH are not retried once sent
//     unless non_idempotent is listed; next_upstream_tries and _timeout
//     bound the attempts, and a retry budget (Envoy's, 20% of requests in
//     flight, at least 3) bounds retries per group. Every attempt runs
//     before the response head is written, so no retry follows bytes sent
//     to the client. Failures end with nginx's 502 or 504 page;
//   - passive outlier ejection (Upstream.Health.Consecutive5xx) and active
//     checks (health.NewProber on the proxy's own schedule, keepalived's
//     retry rule or HAProxy's rise/fall) take servers out through
//     balance.Marker;
//   - one http.Transport per upstream group (keepalive idle connections
//     per server, default 32, never Go's 2), HTTP/1.1, TLS to the servers,
//     PROXY v1/v2 written by the dialer (such connections are not reused);
//   - access log lines in nginx's "combined" format (checked against nginx
//     1.22 in oracle_test.go) or JSON, to a file or stdout.
//
// # Extras (extras.go, maps.go)
//
// In nginx's phase order: after the rewrite module (a "return" is never
// limited), preaccess runs limit_req then limit_conn (internal/l7/limit:
// zones shared by locations, kept across reloads, keys from variables),
// access runs the secure link check and valid_referers
// (internal/l7/referer), then the proxy; its response passes the image
// filter (internal/l7/imgopt) and then compression (internal/l7/compress:
// gzip, zstd, brotli). Maps (config.HTTP.Maps) are variables computed on
// first use, usable wherever variables are: proxy_set_header, hash keys,
// limit keys, other maps. Before any of this, the flood defence
// (internal/l7/flood) admits or resets each accepted connection by its
// source; the kernel's SYN cookie setting is read and logged at start.
//
// HTTP/2 is offered with ALPN on TLS listeners and as h2c (prior knowledge
// through net/http, the Upgrade form through x/net/http2) on plain ones
// when HTTPListen.HTTP2 is set. Upgrades (WebSocket) are tunnelled by
// httputil.ReverseProxy.
//
// # Reload
//
// Apply builds everything first (locations, certificates, upstream
// groups, new sockets with SO_REUSEADDR) and only then switches; on error
// nothing changes. A listener whose address stays is never closed; when
// its options or limits change, a new http.Server takes the new
// connections and the old one drains ("Connection: close" for
// Options.DrainDelay, then idle connections are closed and active ones
// awaited). Upgraded connections belong to no http.Server and survive
// every reload; Close ends them last. Upstream groups whose configuration
// is unchanged keep their balancer state, failure counts, persistence
// table, health state and idle connections; counters of servers and
// locations carry over by name.
package l7
