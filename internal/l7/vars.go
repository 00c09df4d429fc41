package l7

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// tmpl is a value with nginx variables ("$name", "${name}") and regex
// captures ("$1".."$9"), as proxy_set_header values and "hash <key>" take
// them (ngx_http_script_compile splits a value the same way).
type tmpl struct {
	parts []tmplPart
	lit   string // the whole value when it has no variables
	plain bool
}

type tmplPart struct {
	lit  string
	name string // variable name; "" for a literal
	capN int    // capture number; 0 for none
}

func isVarChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}

// parseTmpl splits s as ngx_http_script_compile does: "$" followed by a
// digit is a capture, by "{" a bracketed name, else the longest run of
// [A-Za-z0-9_]. A "$" with no name after it is an error, as nginx reports
// "invalid variable name".
func parseTmpl(s string) (*tmpl, error) {
	t := &tmpl{}
	if strings.IndexByte(s, '$') < 0 {
		t.lit, t.plain = s, true
		return t, nil
	}
	for i := 0; i < len(s); {
		if s[i] != '$' {
			j := strings.IndexByte(s[i:], '$')
			if j < 0 {
				j = len(s) - i
			}
			t.parts = append(t.parts, tmplPart{lit: s[i : i+j]})
			i += j
			continue
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("invalid variable name in %q", s)
		}
		if c := s[i]; c >= '1' && c <= '9' {
			t.parts = append(t.parts, tmplPart{capN: int(c - '0')})
			i++
			continue
		}
		bracket := s[i] == '{'
		if bracket {
			i++
		}
		start := i
		for i < len(s) && isVarChar(s[i]) {
			i++
		}
		name := s[start:i]
		if bracket {
			if i == len(s) || s[i] != '}' {
				return nil, fmt.Errorf("the closing bracket in %q variable is missing", name)
			}
			i++
		}
		if name == "" {
			return nil, fmt.Errorf("invalid variable name in %q", s)
		}
		t.parts = append(t.parts, tmplPart{name: strings.ToLower(name)})
	}
	return t, nil
}

// varSource resolves variables for one request.
type varSource interface {
	variable(name string) (string, bool)
	captures() []string
}

// expand evaluates the template. A value without variables costs nothing.
func (t *tmpl) expand(src varSource) string {
	if t.plain {
		return t.lit
	}
	if len(t.parts) == 1 && t.parts[0].name != "" {
		v, _ := src.variable(t.parts[0].name)
		return v
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch {
		case p.name != "":
			v, _ := src.variable(p.name)
			b.WriteString(v)
		case p.capN > 0:
			if caps := src.captures(); p.capN < len(caps) {
				b.WriteString(caps[p.capN])
			}
		default:
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

// knownVar reports whether this proxy can evaluate an nginx variable name
// (lowercase, without "$"), so that Apply rejects typos instead of
// silently sending empty values.
func knownVar(name string) bool {
	switch name {
	case "host", "http_host", "remote_addr", "remote_port", "realip_remote_addr",
		"server_addr", "server_port", "server_name", "server_protocol",
		"scheme", "https", "request_method", "request_uri", "request",
		"uri", "document_uri", "args", "query_string", "is_args",
		"proxy_add_x_forwarded_for", "proxy_host", "proxy_port",
		"content_type", "content_length", "proxy_protocol_addr",
		"proxy_protocol_port", "binary_remote_addr":
		return true
	}
	for _, p := range []string{"http_", "arg_", "cookie_"} {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return false
}

func (t *tmpl) check() error { return t.checkWith(nil) }

// checkWith is check that also knows the configuration's map variables.
func (t *tmpl) checkWith(ms *mapSet) error {
	for _, p := range t.parts {
		if p.name != "" && !knownVar(p.name) && ms.lookup(p.name) == nil {
			return fmt.Errorf("unknown variable \"$%s\"", p.name)
		}
	}
	return nil
}

// variable implements varSource for a request, after
// ngx_http_variables.c (ngx_http_core_variables) and the proxy module's
// $proxy_host / $proxy_port / $proxy_add_x_forwarded_for.
func (rq *request) variable(name string) (string, bool) {
	r := rq.r
	switch name {
	case "host":
		return rq.host, true
	case "http_host":
		return r.Host, r.Host != ""
	case "remote_addr":
		return rq.clientIP(), true
	case "remote_port":
		return strconv.Itoa(int(rq.client.Port())), true
	case "binary_remote_addr":
		a := rq.client.Addr().Unmap()
		b := a.AsSlice()
		return string(b), true
	case "realip_remote_addr":
		// The address of the connection's peer before the PROXY header
		// or X-Forwarded-For replaced it.
		if rq.conn != nil && rq.conn.tcp.IsValid() {
			return rq.conn.tcp.Addr().Unmap().String(), true
		}
		return rq.peer.Addr().Unmap().String(), true
	case "proxy_protocol_addr":
		if rq.conn == nil || !rq.conn.pp {
			return "", false
		}
		return rq.conn.ppSrc.Addr().Unmap().String(), true
	case "proxy_protocol_port":
		if rq.conn == nil || !rq.conn.pp {
			return "", false
		}
		return strconv.Itoa(int(rq.conn.ppSrc.Port())), true
	case "server_addr":
		return rq.local.Addr().Unmap().String(), true
	case "server_port":
		return strconv.Itoa(int(rq.local.Port())), true
	case "server_name":
		if rq.srv != nil && len(rq.srv.names) > 0 {
			return rq.srv.names[0], true
		}
		return "", true
	case "server_protocol":
		return r.Proto, true
	case "scheme":
		return rq.scheme, true
	case "https":
		if rq.scheme == "https" {
			return "on", true
		}
		return "", true
	case "request_method":
		return r.Method, true
	case "request_uri":
		return r.RequestURI, true
	case "request":
		return r.Method + " " + r.RequestURI + " " + r.Proto, true
	case "uri", "document_uri":
		return rq.st.URI, true
	case "args", "query_string":
		return rq.st.Args, true
	case "is_args":
		if rq.st.Args != "" {
			return "?", true
		}
		return "", true
	case "proxy_add_x_forwarded_for":
		return rq.proxyAddXFF(), true
	case "proxy_host":
		if rq.tgt != nil {
			return rq.tgt.proxyHost, true
		}
		return "", false
	case "proxy_port":
		if rq.tgt != nil {
			return rq.tgt.proxyPort, true
		}
		return "", false
	case "content_type":
		v := r.Header.Get("Content-Type")
		return v, v != ""
	case "content_length":
		v := r.Header.Get("Content-Length")
		return v, v != ""
	}
	switch {
	case strings.HasPrefix(name, "http_"):
		return httpVar(r.Header, name[len("http_"):])
	case strings.HasPrefix(name, "arg_"):
		return route.Arg(rq.st.Args, name[len("arg_"):])
	case strings.HasPrefix(name, "cookie_"):
		// ngx_http_variable_cookie: the first cookie of that name.
		c, err := r.Cookie(name[len("cookie_"):])
		if err != nil {
			return "", false
		}
		return c.Value, true
	}
	if m := rq.maps().lookup(name); m != nil {
		return rq.mapValue(m), true
	}
	return "", false
}

// Var implements route.Vars, so rewrite and return values see the same
// variables as proxy_set_header.
func (rq *request) Var(name string) (string, bool) { return rq.variable(strings.ToLower(name)) }

func (rq *request) captures() []string { return rq.st.Captures }

// httpVar is $http_NAME: the header whose lowercased name, with "-"
// read as "_", is NAME (ngx_http_variable_unknown_header). Several
// Cookie lines are joined with "; " and other repeated headers with ", "
// (ngx_http_variable_headers_internal).
func httpVar(h http.Header, name string) (string, bool) {
	key := http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
	vs := h[key]
	switch len(vs) {
	case 0:
		return "", false
	case 1:
		return vs[0], true
	}
	sep := ", "
	if key == "Cookie" {
		sep = "; "
	}
	return strings.Join(vs, sep), true
}
