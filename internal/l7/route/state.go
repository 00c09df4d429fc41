package route

import "strings"

// State is the part of ngx_http_request_t that routing reads and changes:
// the current URI and args, the original request-target and the flags
// that decide how the upstream request line is built.
type State struct {
	URI           string // r->uri: normalized, changed by rewrite
	Args          string // r->args
	Unparsed      string // r->unparsed_uri: the request-target as received
	UnparsedValid bool   // r->valid_unparsed_uri: cleared once the URI changes
	Quoted        bool   // r->quoted_uri: the original path had a "%"
	Plus          bool   // r->plus_in_uri
	Internal      bool   // r->internal: set by rewrite and internal redirects
	// ValidLocation is r->valid_location; "rewrite … break" clears it so
	// proxy_pass ignores its URI part.
	ValidLocation bool
	// URIChanged is r->uri_changed: a rewrite without "break" asks for a
	// new location lookup.
	URIChanged bool
	// Captures are $0..$n of the last regex that matched (location or
	// rewrite); a rewrite regex that fails clears them.
	Captures []string
	// Vars resolves variables this package does not know ($host,
	// $http_*, ...); nil resolves nothing.
	Vars Vars
}

// Vars looks up an nginx variable by name (without "$").
type Vars interface {
	Var(name string) (value string, ok bool)
}

// VarsFunc adapts a function to Vars.
type VarsFunc func(name string) (string, bool)

// Var implements Vars.
func (f VarsFunc) Var(name string) (string, bool) { return f(name) }

// NewState starts the routing state of a request from its parsed target.
func NewState(u URI) *State {
	return &State{
		URI:           u.Path,
		Args:          u.Args,
		Unparsed:      u.Raw,
		UnparsedValid: u.RawValid,
		Quoted:        u.Quoted,
		Plus:          u.Plus,
		ValidLocation: true,
	}
}

// variable resolves $name: the built-ins that depend on the routing state
// (ngx_http_variables.c), then Vars.
func (st *State) variable(name string) string {
	switch name {
	case "uri", "document_uri":
		return st.URI
	case "args", "query_string":
		return st.Args
	case "is_args":
		if st.Args != "" {
			return "?"
		}
		return ""
	case "request_uri":
		return st.Unparsed
	}
	if arg, ok := strings.CutPrefix(name, "arg_"); ok {
		v, _ := Arg(st.Args, arg)
		return v
	}
	if st.Vars != nil {
		if v, ok := st.Vars.Var(name); ok {
			return v
		}
	}
	return ""
}

// Arg returns the raw value of the first "name=value" query parameter whose
// name matches case-insensitively, as ngx_http_arg does for $arg_NAME (a
// bare "name" without "=" does not count).
func Arg(args, name string) (string, bool) {
	for args != "" {
		var part string
		part, args, _ = strings.Cut(args, "&")
		k, v, eq := strings.Cut(part, "=")
		if eq && strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}
