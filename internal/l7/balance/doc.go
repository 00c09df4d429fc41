// Package balance picks the upstream server of an L7 request with the exact
// semantics of nginx 1.22 (src/http/ngx_http_upstream_round_robin.c and the
// ngx_http_upstream_*_module.c balancers) and HAProxy 2.6 (src/backend.c,
// lb_map.c, lb_fwrr.c, lb_fwlc.c, lb_fas.c, lb_chash.c, hash.c), so that an
// upstream definition migrated from either gives the same sequence of
// servers, plus a latency-aware power-of-two-choices balancer. It does no
// I/O; the proxy reports outcomes through Selection.
//
// # Use
//
//	b, err := balance.New(cfg, peers, balance.Options{})  // cfg from ParseNginx / ParseHAProxy
//	sel, err := b.Pick(&balance.Request{ClientIP: ip, Key: key, URI: uri, Header: hdr})
//	for {
//		err := forward(sel.Peer())
//		if err == nil {
//			sel.Done(true)
//			break
//		}
//		if err = sel.Retry(true); err != nil { // nginx proxy_next_upstream
//			break // 502: the selection is already released
//		}
//	}
//
// Peers keep their configuration order; Selection.Index and Marker.SetDown
// use that index. Sticky wraps any balancer with cookie persistence.
//
// # nginx methods
//
//   - NginxRoundRobin: smooth weighted round robin (ngx_http_upstream_get_peer):
//     current += effective for every usable untried peer, the highest wins
//     (the earlier on ties) and pays the total back. 5,1,1 → a a b a c a a.
//   - Failures (Done(false), Retry(true)): fails++, accessed = checked = now,
//     effective -= weight/max_fails. A peer with fails >= max_fails is skipped
//     while now-checked <= fail_timeout (whole seconds, as ngx_time); the
//     first pick after that moves checked to now, so exactly one request
//     probes it; a success then resets fails (only when accessed < checked,
//     hence successes inside fail_timeout do not forgive failures). A lone
//     peer (no backup) is never marked failed and gets no retry.
//   - Backup peers serve once every primary is tried or unusable, for the
//     rest of the request. A request gets as many tries as peers not down in
//     both groups, capped by Options.NextUpstreamTries.
//   - NginxLeastConn: least conns/weight, smooth round robin among ties.
//   - NginxIPHash: first three IPv4 octets or the 16 IPv6 bytes, h=89,
//     h=(h*113+b)%6271, w=h%total_weight down the weights; 20 unusable draws
//     fall back to round robin.
//   - NginxHash: Cache::Memcached's ((crc32([rehash]key)>>16)&0x7fff)
//     accumulated; NginxHashConsistent: ketama, 160 points per weight unit
//     of crc32(host "\0" port prev) over the server name as written.
//   - NginxRandom, NginxRandomTwo: weighted draws; "two" keeps the second
//     draw unless its conns/weight is higher. Options.Rand makes them
//     reproducible.
//
// The hash, ip_hash and random methods reject backup peers, as nginx does.
// SlowStart is not applied (NGINX Plus only).
//
// # HAProxy methods
//
//   - HAProxyRoundRobin (lb_fwrr.c) and HAProxyStaticRR (lb_map.c): 5,1,1 →
//     a a a b a a c for both, but 4,2,1 → a a b a c a b vs a a b a b a c.
//   - HAProxyLeastConn: key (inflight+1)*4096/eweight, idle servers at 0,
//     ties in tree insertion order (so sequential requests rotate).
//   - HAProxyFirst: lowest id with a free maxconn slot.
//   - HAProxySource, HAProxyURI, HAProxyURLParam, HAProxyHdr, HAProxyHash:
//     the key of get_server_sh/_uh/_ph/_hh/_expr, hashed with sdbm (default),
//     djb2, wt6 or crc32, optionally avalanched, looked up in the weighted
//     map (hash % total weight) or, with Config.Consistent, on the
//     consistent-hash tree (16 points per weight unit keyed
//     full_hash(id*4096+n), closest point). A missing key falls back to
//     round robin. "hash-type consistent" alone means sdbm + avalanche.
//   - Only the first usable backup serves unless Config.AllBackups.
//   - Peer.SlowStart: a server coming back up (SetDown false) ramps its
//     weight as (16*elapsed+slowstart)/slowstart sixteenths (dynamic
//     algorithms only) and its maxconn from 1 to 100%. SetWeight is HAProxy's
//     "set server weight" (static algorithms accept 0 and the initial weight).
//   - Retry redispatches avoiding the previous server (map-based hashes
//     ignore it, as HAProxy does). MaxFails/FailTimeout are not used: HAProxy
//     takes servers down through health checks, i.e. SetDown. A hash method
//     returns its server even when it is full (HAProxy queues on it); the
//     round robin, leastconn and first lookups skip full servers and return
//     ErrFull when all are (HAProxy queues in the backend).
//
// # PeakEWMA
//
// Power of two choices on Finagle's/Linkerd's peak EWMA: the latency
// estimate jumps to any slower sample and otherwise decays towards the
// samples (and towards zero while idle) with Options.Decay; a peer's load
// is estimate × (in flight + 1) / weight, ramped by SlowStart. A failed
// attempt counts at least Options.FailurePenalty.
//
// # Sticky sessions
//
// HAProxyCookies gives each peer its Cookie (default its Name), as "cookie
// SRV insert": the first server holding the value that is not stopped gets
// the request directly. NginxCookies gives the hex MD5 of Addr (or Route),
// as nginx's sticky cookie: the bound peer is used while it is up, not
// failed and below max_conns, and still counted in the smooth weights.
// Anything else re-balances and the caller sets the cookie anew.
//
// # Concurrency and cost
//
// One mutex per balancer serialises picks, as nginx's peers lock and
// HAProxy's lbprm lock do. State is per balancer, like one nginx worker
// without a shared zone. Pick and Done do not allocate: selections are
// pooled (a request with more than 128 peers allocates its tried bitmap
// once per pooled selection).
package balance
