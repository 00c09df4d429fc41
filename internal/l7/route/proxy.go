package route

import (
	"errors"
	"fmt"
	"strings"
)

// ProxyPass is the "proxy_pass URL" directive.
type ProxyPass struct {
	URL string
}

// Block says where a proxy_pass appears.
type Block int

// Blocks a proxy_pass can sit in.
const (
	InLocation     Block = iota // directly in a location
	InIf                        // inside "if" in a location
	InLimitExcept               // inside "limit_except"
	numberOfBlocks              // keep last
)

// ErrURIPartNotAllowed is nginx's configuration error for a URI part where
// there is no location prefix to replace.
var ErrURIPartNotAllowed = errors.New(`"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block`)

// hasVars reports variables in the URL (ngx_http_script_variables_count).
func (p ProxyPass) hasVars() bool { return strings.IndexByte(p.URL, '$') >= 0 }

// splitURL splits "http://host[:port][/uri]" into its address and URI
// part as ngx_parse_url with uri_part does: the URI part starts at the
// first "/" or "?" after the host; for "unix:/path:" sockets, after the
// ":" that ends the path.
func splitURL(u string) (prefix, uri string, err error) {
	var rest string
	switch {
	case len(u) >= 7 && strings.EqualFold(u[:7], "http://"):
		rest = u[7:]
	case len(u) >= 8 && strings.EqualFold(u[:8], "https://"):
		rest = u[8:]
	default:
		return "", "", fmt.Errorf("invalid URL prefix in %q", u)
	}
	head := len(u) - len(rest)
	if len(rest) >= 5 && strings.EqualFold(rest[:5], "unix:") {
		if i := strings.IndexByte(rest[5:], ':'); i >= 0 {
			return u[:head+5+i], rest[5+i+1:], nil
		}
		return u, "", nil
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		return u[:head+i], rest[i:], nil
	}
	return u, "", nil
}

// URIPart returns the URI part of a URL without variables ("" if none).
func (p ProxyPass) URIPart() (string, error) {
	_, uri, err := splitURL(p.URL)
	return uri, err
}

// Check reports the configuration errors of ngx_http_proxy_pass for a
// proxy_pass in loc (inside block): an invalid URL prefix, and a URI part
// in a regex or named location or inside "if" / "limit_except" (rule 3 of
// l7.md §1.6). With variables nginx checks nothing at configuration time.
func (p ProxyPass) Check(loc *Location, block Block) error {
	if block < InLocation || block >= numberOfBlocks {
		return fmt.Errorf("unknown block %d", block)
	}
	if p.hasVars() {
		return nil
	}
	uri, err := p.URIPart()
	if err != nil {
		return err
	}
	if uri == "" {
		return nil
	}
	if block != InLocation || (loc != nil && (loc.isRegex() || loc.Modifier == ModNamed)) {
		return ErrURIPartNotAllowed
	}
	return nil
}

// UpstreamURI is the request-target nginx sends upstream for a request in
// loc (the location holding proxy_pass; nil means the server level), as
// ngx_http_proxy_create_request builds it (l7.md §1.6):
//
//  1. URL with a URI part: that part + the normalized URI minus the
//     location name, escaped with NGX_ESCAPE_URI when the request had a
//     "%" or the URI was changed, + "?args".
//  2. No URI part: the original request-target byte for byte, unless the
//     URI was changed (then the normalized URI, escaped, + "?args").
//  3. After "rewrite … break" the URI part is ignored: the rewritten URI
//     is sent.
//  4. With variables and a URI part: the expanded URI as is, no args;
//     with variables and no URI part: as rule 2.
//
// Call it after Check has accepted the configuration.
func (p ProxyPass) UpstreamURI(loc *Location, st *State) string {
	var uri string
	if p.hasVars() {
		t, err := compileTemplate(p.URL, false)
		if err == nil {
			v, _ := t.expand(st, st.Captures, false)
			if _, u, err := splitURL(v); err == nil && u != "" {
				// ngx_http_proxy_eval: a URI part starting with "?"
				// gets a "/" in front.
				if u[0] == '?' {
					u = "/" + u
				}
				return u
			}
		}
	} else {
		uri, _ = p.URIPart()
	}
	if uri == "" && st.UnparsedValid {
		return st.Unparsed
	}
	var locLen int
	if st.ValidLocation && uri != "" && loc != nil && loc.isStatic() {
		locLen = len(loc.Pattern)
	}
	if locLen > len(st.URI) {
		locLen = len(st.URI)
	}
	rest := st.URI[locLen:]
	if st.Quoted || st.Internal {
		rest = EscapeURI(rest)
	}
	var b strings.Builder
	b.Grow(len(uri) + len(rest) + 1 + len(st.Args))
	if st.ValidLocation {
		b.WriteString(uri)
	}
	b.WriteString(rest)
	if st.Args != "" {
		b.WriteByte('?')
		b.WriteString(st.Args)
	}
	return b.String()
}
