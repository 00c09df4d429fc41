package config

import (
	"fmt"
	"strings"
)

// nginxVariables are the named variables of nginx 1.22.1 as Debian builds
// it (ngx_http_variables.c ngx_http_core_variables and the modules'
// variables, probed with "nginx -t"). true marks the changeable ones, which
// a map may define again (NGX_HTTP_VAR_CHANGEABLE); defining another gives
// nginx's "the duplicate ... variable".
var nginxVariables = map[string]bool{
	"ancient_browser": true, "args": true, "invalid_referer": true, "limit_rate": true, "modern_browser": true,
	"msie": true, "proxy_host": true, "proxy_port": true, "uid_reset": true,
	"ssl_alpn_protocol": true, "ssl_cipher": true, "ssl_ciphers": true, "ssl_client_cert": true,
	"ssl_client_escaped_cert": true, "ssl_client_fingerprint": true, "ssl_client_i_dn": true,
	"ssl_client_i_dn_legacy": true, "ssl_client_raw_cert": true, "ssl_client_s_dn": true,
	"ssl_client_s_dn_legacy": true, "ssl_client_serial": true, "ssl_client_v_end": true,
	"ssl_client_v_remain": true, "ssl_client_v_start": true, "ssl_client_verify": true, "ssl_curve": true,
	"ssl_curves": true, "ssl_early_data": true, "ssl_protocol": true, "ssl_server_name": true,
	"ssl_session_id": true, "ssl_session_reused": true,

	"binary_remote_addr": false, "body_bytes_sent": false, "bytes_sent": false, "connection": false,
	"connection_requests": false, "connection_time": false, "connections_active": false,
	"connections_reading": false, "connections_waiting": false, "connections_writing": false,
	"content_length": false, "content_type": false, "date_gmt": false, "date_local": false,
	"document_root": false, "document_uri": false, "fastcgi_path_info": false, "fastcgi_script_name": false,
	"gzip_ratio": false, "host": false, "hostname": false, "http2": false, "https": false, "is_args": false,
	"limit_conn_status": false, "limit_req_status": false, "msec": false, "nginx_version": false, "pid": false,
	"pipe": false, "proxy_add_x_forwarded_for": false, "proxy_protocol_addr": false,
	"proxy_protocol_port": false, "proxy_protocol_server_addr": false, "proxy_protocol_server_port": false,
	"query_string": false, "realip_remote_addr": false, "realip_remote_port": false, "realpath_root": false,
	"remote_addr": false, "remote_port": false, "remote_user": false, "request": false, "request_body": false,
	"request_body_file": false, "request_completion": false, "request_filename": false, "request_id": false,
	"request_length": false, "request_method": false, "request_time": false, "request_uri": false,
	"scheme": false, "secure_link": false, "secure_link_expires": false, "server_addr": false,
	"server_name": false, "server_port": false, "server_protocol": false, "slice_range": false,
	"status": false, "tcpinfo_rcv_space": false, "tcpinfo_rtt": false, "tcpinfo_rttvar": false,
	"tcpinfo_snd_cwnd": false, "time_iso8601": false, "time_local": false, "uid_got": false, "uid_set": false,
	"upstream_addr": false, "upstream_bytes_received": false, "upstream_bytes_sent": false,
	"upstream_cache_status": false, "upstream_connect_time": false, "upstream_header_time": false,
	"upstream_response_length": false, "upstream_response_time": false, "upstream_status": false, "uri": false,
	"http_cookie": false, "http_host": false, "http_referer": false, "http_user_agent": false, "http_via": false,
	"http_x_forwarded_for": false, "sent_http_cache_control": false, "sent_http_connection": false,
	"sent_http_content_length": false, "sent_http_content_type": false, "sent_http_keep_alive": false,
	"sent_http_last_modified": false, "sent_http_link": false, "sent_http_location": false,
	"sent_http_transfer_encoding": false,
}

// nginxVariablePrefixes name the variable families nginx resolves by
// prefix (ngx_http_get_variable): request headers, cookies, arguments,
// response headers and trailers, upstream headers, trailers and cookies.
var nginxVariablePrefixes = []string{"http_", "sent_http_", "sent_trailer_", "cookie_", "arg_", "upstream_http_", "upstream_trailer_", "upstream_cookie_"}

// nginxVariable reports whether nginx knows a variable (lower case,
// without "$").
func nginxVariable(name string) bool {
	if _, ok := nginxVariables[name]; ok {
		return true
	}
	for _, p := range nginxVariablePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// variableRefs lists the variables a value refers to, lower case, in
// order, reading "$name", "${name}" and the captures "$1".."$9" as
// ngx_http_script_compile does; captures are left out. Its errors are
// nginx's.
func variableRefs(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		i++
		if i < len(s) && s[i] >= '1' && s[i] <= '9' {
			continue
		}
		bracket := i < len(s) && s[i] == '{'
		if bracket {
			i++
		}
		start := i
		for i < len(s) && isVarChar(s[i]) {
			i++
		}
		name := s[start:i]
		if bracket {
			if i >= len(s) || s[i] != '}' {
				return out, fmt.Errorf("the closing bracket in %q variable is missing", name)
			}
		} else {
			i--
		}
		if name == "" {
			return out, fmt.Errorf("invalid variable name in %s", quoteRaw(s))
		}
		out = append(out, strings.ToLower(name))
	}
	return out, nil
}

func isVarChar(c byte) bool {
	return isAlnum(c) || c == '_'
}
