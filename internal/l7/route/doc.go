// Package route decides, for one HTTP request, which virtual host and which
// location handle it and what URI the upstream receives, with the semantics
// of nginx 1.22 (the Debian 12 package the oracle tests run against):
//
//   - ParseURI / Normalize: ngx_http_parse_request_line and
//     ngx_http_parse_complex_uri (src/http/ngx_http_parse.c): %XX decoding,
//     "." and ".." segments, merge_slashes, and every input nginx answers
//     with 400.
//   - Compile / Matcher.Match: the location tree of src/http/ngx_http.c
//     (ngx_http_init_locations, ngx_http_create_locations_tree) searched as
//     ngx_http_core_find_location / ngx_http_core_find_static_location do,
//     including the auto-redirect 301 of ngx_http_core_find_config_phase.
//   - ProxyPass.UpstreamURI: the request line built by
//     ngx_http_proxy_create_request (src/http/modules/ngx_http_proxy_module.c).
//   - Script: rewrite / return / break as ngx_http_rewrite_module and the
//     ngx_http_script_regex_* codes run them; Router chains the server
//     rewrite phase, find-config, the location rewrite phase and the
//     post-rewrite loop of ngx_http_core_module.c.
//   - Hosts: server_name lookup as ngx_http_find_virtual_server and
//     ngx_hash_find_combined (src/core/ngx_hash.c) do.
//
// Beyond nginx it offers small request matchers (header, cookie, query,
// method, source CIDR, User-Agent class, Accept-Language with q-values) for
// the proxy's routing rules.
//
// Regular expressions: nginx uses PCRE in byte mode; this package uses Go's
// RE2. translatePCRE maps the PCRE dialect onto RE2 (byte semantics, "$"
// before a final newline, \s with VT, \h, \v, \R, \Z ...) and rejects what
// RE2 cannot do (backreferences, lookaround, atomic groups, possessive
// quantifiers, recursion, conditionals, verbs) with an error naming the
// construct.
package route
