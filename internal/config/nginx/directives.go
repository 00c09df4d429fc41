package nginx

import "strings"

// ctxMask is a set of the contexts a directive is allowed in, after
// nginx's NGX_MAIN_CONF, NGX_EVENT_CONF, NGX_HTTP_MAIN_CONF,
// NGX_HTTP_SRV_CONF, NGX_HTTP_LOC_CONF, NGX_HTTP_SIF_CONF,
// NGX_HTTP_LIF_CONF, NGX_HTTP_UPS_CONF and NGX_HTTP_LMT_CONF.
type ctxMask uint16

const (
	cMain ctxMask = 1 << iota
	cEvents
	cHTTP
	cServer
	cLocation
	cSIf // "if" in a server
	cLIf // "if" in a location
	cUpstream
	cLimitExcept
)

// argMask is the set of argument counts a directive takes: bit n for n
// arguments (NGX_CONF_NOARGS, NGX_CONF_TAKE1..7); argsMoreBit for eight
// or more (NGX_CONF_1MORE, NGX_CONF_2MORE, NGX_CONF_ANY).
type argMask uint16

const argsMoreBit argMask = 1 << 8

func args(counts ...int) argMask {
	var m argMask
	for _, c := range counts {
		m |= 1 << c
	}
	return m
}

// argsMore is "lo or more arguments".
func argsMore(lo int) argMask {
	m := argsMoreBit
	for c := lo; c < 8; c++ {
		m |= 1 << c
	}
	return m
}

func (m argMask) allows(n int) bool {
	if n >= 8 {
		return m&argsMoreBit != 0
	}
	return m&(1<<n) != 0
}

// valueCheck is how nginx checks a one-argument directive's value, by the
// ngx_conf_set_*_slot its ngx_command_t names.
type valueCheck uint8

const (
	checkNone   valueCheck = iota
	checkFlag              // ngx_conf_set_flag_slot: on or off
	checkNum               // ngx_conf_set_num_slot: ngx_atoi
	checkSize              // ngx_conf_set_size_slot: ngx_parse_size (k, m)
	checkOffset            // ngx_conf_set_off_slot: ngx_parse_offset (k, m, g)
	checkMsec              // ngx_conf_set_msec_slot: ngx_parse_time(, 0)
	checkSec               // ngx_conf_set_sec_slot: ngx_parse_time(, 1)
)

// spec is one ngx_command_t entry: where the directive may stand, how many
// arguments it takes, whether it opens a block, how its value is checked,
// and dup: giving it twice on one level is an error ("is duplicate").
type spec struct {
	ctx   ctxMask
	args  argMask
	block bool
	check valueCheck
	dup   bool
}

// lookup returns the directive's spec for a context: ok false when nginx
// does not know the name, nil when it is not allowed there.
func lookup(name string, c ctxMask) (*spec, bool) {
	specs, ok := directiveTable[name]
	if !ok {
		return nil, false
	}
	for i := range specs {
		if specs[i].ctx&c != 0 {
			return &specs[i], true
		}
	}
	return nil, true
}

// kind says what fulcrum does with a directive nginx knows.
type kind uint8

const (
	// mapped directives are read into the model.
	mapped kind = iota
	// notUsed directives are warned about: leaving them out changes
	// nothing a client or backend sees, or fulcrum does the same on its
	// own.
	notUsed
	// refused directives would change behaviour if ignored: an error.
	refused
	// refusedUnlessOff are refused unless their argument turns the
	// feature off (then they are not used).
	refusedUnlessOff
)

// mappedDirectives are read into the model by the builder.
var mappedDirectives = []string{
	"http", "server", "listen", "server_name", "location", "upstream", "map", "include", "if", "return",
	"rewrite", "proxy_pass", "proxy_set_header", "proxy_next_upstream", "proxy_next_upstream_tries",
	"proxy_next_upstream_timeout", "proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout",
	"valid_referers", "limit_req_zone", "limit_req", "limit_req_status", "limit_conn_zone", "limit_conn",
	"limit_conn_status", "gzip", "gzip_types", "gzip_min_length", "gzip_comp_level", "gzip_proxied",
	"ssl_certificate", "ssl_certificate_key", "ssl", "access_log", "client_max_body_size", "client_header_timeout",
	"client_body_timeout", "keepalive_timeout", "large_client_header_buffers", "set_real_ip_from", "real_ip_header",
	"underscores_in_headers", "max_headers", "http2_max_concurrent_streams", "least_conn", "ip_hash", "hash", "random",
	"keepalive", "proxy_redirect", "proxy_ssl_verify", "proxy_ssl_trusted_certificate", "proxy_ssl_name",
	"proxy_ssl_server_name",
}

// refusedDirectives change what clients or backends see; the reason says
// what fulcrum offers instead, if anything.
var refusedDirectives = map[string]string{
	"try_files":                 "fulcrum serves no files; proxy_pass or return answer a location",
	"alias":                     "fulcrum serves no files",
	"error_page":                "custom error pages",
	"add_header":                "response headers are passed as the backend sends them",
	"add_trailer":               "response trailers are passed as the backend sends them",
	"allow":                     "access control by client address",
	"deny":                      "access control by client address",
	"auth_basic_user_file":      "HTTP basic authentication",
	"auth_request_set":          "subrequest authentication",
	"internal":                  "internal-only locations",
	"limit_except":              "method restrictions",
	"set":                       "variables set in the rewrite phase; a map defines a variable",
	"break":                     "the rewrite module's break",
	"sub_filter":                "rewriting response bodies",
	"add_before_body":           "adding to response bodies",
	"add_after_body":            "adding to response bodies",
	"empty_gif":                 "fulcrum serves no content of its own",
	"stub_status":               "fulcrum's metrics are on the admin API",
	"flv":                       "fulcrum serves no files",
	"mp4":                       "fulcrum serves no files",
	"slice":                     "byte-range subrequests",
	"mirror":                    "request mirroring",
	"post_action":               "post actions",
	"geo":                       "geo variables; define the variable with map",
	"split_clients":             "split_clients variables; define the variable with map",
	"secure_link":               "nginx's MD5 secure links; fulcrum's secure_link is HMAC-SHA256 (docs/configuration.md)",
	"secure_link_md5":           "nginx's MD5 secure links; fulcrum's secure_link is HMAC-SHA256 (docs/configuration.md)",
	"secure_link_secret":        "nginx's MD5 secure links; fulcrum's secure_link is HMAC-SHA256 (docs/configuration.md)",
	"proxy_bind":                "choosing the source address towards backends",
	"proxy_cookie_domain":       "rewriting Set-Cookie",
	"proxy_cookie_path":         "rewriting Set-Cookie",
	"proxy_cookie_flags":        "rewriting Set-Cookie",
	"proxy_hide_header":         "response headers are passed as the backend sends them",
	"proxy_pass_header":         "response headers are passed as the backend sends them",
	"proxy_method":              "changing the request method",
	"proxy_set_body":            "replacing the request body",
	"proxy_ssl_certificate":     "client certificates towards backends",
	"proxy_ssl_certificate_key": "client certificates towards backends",
	"ssl_client_certificate":    "client certificate verification",
	"ssl_trusted_certificate":   "client certificate verification",
	"fastcgi_pass":              "fulcrum proxies HTTP only",
	"uwsgi_pass":                "fulcrum proxies HTTP only",
	"scgi_pass":                 "fulcrum proxies HTTP only",
	"grpc_pass":                 "fulcrum proxies HTTP only; gRPC is proxied with proxy_pass over HTTP/2",
	"memcached_pass":            "fulcrum proxies HTTP only",
	"stream":                    "TCP/UDP proxying is the services section of fulcrum.yaml",
	"mail":                      "mail proxying",
}

// refusedUnlessOffDirectives are harmless only when their value turns
// them off; offValue is that value when it is not "off".
var refusedUnlessOffDirectives = map[string]struct{ reason, offValue string }{
	"auth_basic":                 {"HTTP basic authentication", ""},
	"auth_request":               {"subrequest authentication", ""},
	"ssi":                        {"server-side includes", ""},
	"charset":                    {"charset conversion", ""},
	"expires":                    {"response headers are passed as the backend sends them", ""},
	"userid":                     {"identifying cookies", ""},
	"dav_methods":                {"WebDAV", ""},
	"limit_rate":                 {"bandwidth limits", "0"},
	"proxy_limit_rate":           {"bandwidth limits", "0"},
	"limit_req_dry_run":          {"limits that only log (fulcrum enforces limit_req)", ""},
	"limit_conn_dry_run":         {"limits that only log (fulcrum enforces limit_conn)", ""},
	"proxy_intercept_errors":     {"custom error pages", ""},
	"ssl_verify_client":          {"client certificate verification", ""},
	"ssl_reject_handshake":       {"refusing TLS handshakes by name", ""},
	"absolute_redirect":          {"relative redirects", "on"},
	"merge_slashes":              {"locations matched without merging slashes", "on"},
	"ignore_invalid_headers":     {"passing invalid header names", "on"},
	"proxy_pass_request_body":    {"dropping the request body", "on"},
	"proxy_pass_request_headers": {"dropping the request headers", "on"},
	"client_body_in_file_only":   {"keeping request bodies in files", ""},
	"gunzip":                     {"decompressing responses for clients without gzip", ""},
}

// notUsedReasons says why a directive changes nothing under fulcrum; a
// directive with no entry here or in the families below gets no reason.
var notUsedReasons = map[string]string{
	"events":                    "fulcrum's connection handling is Go's",
	"worker_processes":          "fulcrum uses every CPU (GOMAXPROCS)",
	"worker_connections":        "fulcrum's connections are bounded by its limits",
	"user":                      "fulcrum runs as the user that starts it",
	"pid":                       "fulcrum is managed by its service manager",
	"error_log":                 "fulcrum logs to standard error",
	"load_module":               "nginx modules are not loaded; fulcrum knows the directives of the modules Debian builds in",
	"root":                      "fulcrum serves no files",
	"index":                     "fulcrum serves no files",
	"autoindex":                 "fulcrum serves no files",
	"random_index":              "fulcrum serves no files",
	"types":                     "fulcrum serves no files; responses keep the backend's Content-Type",
	"default_type":              "fulcrum serves no files; return answers text/plain",
	"sendfile":                  "fulcrum serves no files",
	"tcp_nopush":                "fulcrum serves no files",
	"tcp_nodelay":               "Go sets TCP_NODELAY on every connection",
	"log_format":                "the access log is written in combined or json format",
	"resolver":                  "names are resolved with the system resolver",
	"resolver_timeout":          "names are resolved with the system resolver",
	"server_tokens":             "fulcrum does not announce a version",
	"proxy_http_version":        "fulcrum speaks HTTP/1.1 (or HTTP/2) to backends",
	"proxy_buffering":           "responses are streamed to the client",
	"proxy_request_buffering":   "request bodies are streamed to the backend",
	"keepalive_requests":        "fulcrum closes a client connection after 1000 requests, nginx's default",
	"send_timeout":              "writes to clients are bounded by the client limits",
	"zone":                      "fulcrum's workers share one process",
	"satisfy":                   "fulcrum has no access modules",
	"proxy_ignore_headers":      "fulcrum does not interpret X-Accel-* or caching headers",
	"gzip_vary":                 "compressed responses always carry Vary: Accept-Encoding",
	"gzip_disable":              "compression follows Accept-Encoding only",
	"gzip_http_version":         "compression follows Accept-Encoding only",
	"gzip_static":               "fulcrum serves no files",
	"ssl_protocols":             "TLS versions are Go's crypto/tls defaults (TLS 1.2 and 1.3)",
	"ssl_ciphers":               "cipher suites are Go's crypto/tls defaults",
	"ssl_prefer_server_ciphers": "cipher suites are Go's crypto/tls defaults",
	"ssl_early_data":            "fulcrum does not accept TLS 1.3 early data",
	"port_in_redirect":          "redirects are built from the request",
	"server_name_in_redirect":   "redirects are built from the request",
	"max_ranges":                "ranges are passed to the backend",
	"etag":                      "fulcrum serves no files",
	"if_modified_since":         "fulcrum serves no files",
}

// notUsedFamilies give reasons by prefix.
var notUsedFamilies = []struct{ prefix, reason string }{
	{"fastcgi_", "it belongs to fastcgi_pass, which fulcrum does not support"},
	{"uwsgi_", "it belongs to uwsgi_pass, which fulcrum does not support"},
	{"scgi_", "it belongs to scgi_pass, which fulcrum does not support"},
	{"grpc_", "it belongs to grpc_pass, which fulcrum does not support"},
	{"memcached_", "it belongs to memcached_pass, which fulcrum does not support"},
	{"proxy_cache", "fulcrum does not cache responses"},
	{"proxy_store", "fulcrum does not store responses"},
	{"proxy_ssl_", "TLS towards backends uses Go's crypto/tls defaults"},
	{"ssl_session", "TLS session resumption is Go's crypto/tls"},
	{"ssl_stapling", "fulcrum does not staple OCSP responses"},
	{"ssl_ocsp", "fulcrum does not check client certificates"},
	{"ssl_", "TLS is Go's crypto/tls"},
	{"http2_", "HTTP/2 is Go's, with its own defaults"},
	{"worker_", "fulcrum is one Go process"},
	{"open_file_cache", "fulcrum serves no files"},
	{"open_log_file_cache", "the access log stays open"},
	{"autoindex_", "fulcrum serves no files"},
	{"ssi_", "fulcrum does not process server-side includes"},
	{"sub_filter_", "fulcrum does not rewrite response bodies"},
	{"userid_", "fulcrum sets no identifying cookies"},
	{"limit_req_log", "limits are logged at fulcrum's level"},
	{"limit_conn_log", "limits are logged at fulcrum's level"},
	{"lingering_", "Go closes connections its own way"},
	{"client_body_", "request bodies are streamed to the backend"},
	{"client_header_buffer", "the header limit is large_client_header_buffers (max_header_bytes)"},
}

// kindOf classifies a directive nginx knows.
func kindOf(name string) (kind, string) {
	if isMapped(name) {
		return mapped, ""
	}
	if r, ok := refusedDirectives[name]; ok {
		return refused, r
	}
	if r, ok := refusedUnlessOffDirectives[name]; ok {
		return refusedUnlessOff, r.reason
	}
	if strings.HasSuffix(name, "_pass") {
		return refused, "fulcrum proxies HTTP only"
	}
	if r, ok := notUsedReasons[name]; ok {
		return notUsed, r
	}
	for _, f := range notUsedFamilies {
		if strings.HasPrefix(name, f.prefix) {
			return notUsed, f.reason
		}
	}
	switch {
	case strings.Contains(name, "_temp_"), strings.HasSuffix(name, "_temp_path"):
		return notUsed, "fulcrum keeps no temporary files"
	case strings.Contains(name, "_hash_"):
		return notUsed, "fulcrum sizes its own tables"
	case strings.Contains(name, "buffer"):
		return notUsed, "fulcrum sizes its own buffers"
	}
	return notUsed, ""
}

func isMapped(name string) bool {
	for _, m := range mappedDirectives {
		if m == name {
			return true
		}
	}
	return false
}
