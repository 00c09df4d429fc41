// Package limit implements nginx's limit_req and limit_conn: request rate
// limiting with a leaky bucket kept in milli-requests per key, and
// concurrent request limiting per key, both in bounded zones shared by
// every location that names them.
//
// The arithmetic, the multi-limit rules and the eviction follow
// src/http/modules/ngx_http_limit_req_module.c and
// ngx_http_limit_conn_module.c:
//
//   - a zone's rate is stored ×1000 (1 = 0.001 r/s), truncated as
//     ngx_http_limit_req_zone does ("1r/m" is 16);
//   - per key, excess = max(0, excess − rate·Δms/1000 + 1000); the first
//     request of a key has excess 0 (ngx_http_limit_req_lookup);
//   - a request is rejected when excess > burst·1000, else delayed by
//     (excess − delay·1000)/rate seconds when excess > delay·1000;
//     nodelay is an infinite delay threshold (ngx_http_limit_req);
//   - with several limit_req in a location every limit is looked up in
//     order; the first one that rejects ends the lookup and nothing is
//     accounted; otherwise all are accounted and the longest delay wins
//     (ngx_http_limit_req_handler, ngx_http_limit_req_account);
//   - a zone of Size bytes holds as many keys as nginx's slab allocator
//     would give it nodes of 80+len(key) bytes rounded up to a power of
//     two (so 128 bytes for $binary_remote_addr); a new key first drops up
//     to two idle keys from the least recently used end
//     (ngx_http_limit_req_expire with n=1: unused for a minute and fully
//     leaked), and when the zone is still full the least recently used key
//     by force (n=0). A key pinned by a lookup in progress is never
//     dropped; when nothing can be dropped the request is rejected, as
//     nginx's failed slab allocation is;
//   - limit_conn counts requests in progress per key (each HTTP/2 stream
//     is a request), rejects at the limit, and frees a key when its count
//     drops to zero (ngx_http_limit_conn_handler, _cleanup).
//
// Times come from the caller, so tests drive a zone with a fake clock.
package limit
