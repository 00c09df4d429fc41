package route

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// RequestMatcher is a routing predicate beyond nginx's location matching.
type RequestMatcher interface {
	Match(r *http.Request) bool
}

// HeaderEquals matches when any value of the header equals Value exactly
// (case-sensitive; the name is case-insensitive).
type HeaderEquals struct {
	Name, Value string
}

// Match implements RequestMatcher.
func (m HeaderEquals) Match(r *http.Request) bool {
	for _, v := range r.Header.Values(m.Name) {
		if v == m.Value {
			return true
		}
	}
	return false
}

// HeaderRegex matches when any value of the header matches the regex.
type HeaderRegex struct {
	Name string
	re   *Regex
}

// NewHeaderRegex compiles pattern in the PCRE dialect nginx configs use.
func NewHeaderRegex(name, pattern string, caseless bool) (*HeaderRegex, error) {
	re, err := compileRegex(pattern, caseless)
	if err != nil {
		return nil, fmt.Errorf("header %s: %w", name, err)
	}
	return &HeaderRegex{Name: name, re: re}, nil
}

// Match implements RequestMatcher.
func (m *HeaderRegex) Match(r *http.Request) bool {
	for _, v := range r.Header.Values(m.Name) {
		if m.re.MatchString(v) {
			return true
		}
	}
	return false
}

// HeaderPresent matches when the header is present, even empty.
type HeaderPresent struct {
	Name string
}

// Match implements RequestMatcher.
func (m HeaderPresent) Match(r *http.Request) bool {
	_, ok := r.Header[http.CanonicalHeaderKey(m.Name)]
	return ok
}

// Cookie matches a cookie by name; with Value set, the value must be
// equal too (the name and the value are case-sensitive, RFC 6265 §5.4).
type Cookie struct {
	Name  string
	Value string
	Any   bool // match any value (presence)
}

// Match implements RequestMatcher.
func (m Cookie) Match(r *http.Request) bool {
	for _, c := range r.CookiesNamed(m.Name) {
		if m.Any || c.Value == m.Value {
			return true
		}
	}
	return false
}

// QueryParam matches a decoded query parameter (url.ParseQuery rules);
// Any matches presence.
type QueryParam struct {
	Name  string
	Value string
	Any   bool
}

// Match implements RequestMatcher.
func (m QueryParam) Match(r *http.Request) bool {
	vs, ok := r.URL.Query()[m.Name]
	if !ok {
		return false
	}
	if m.Any {
		return true
	}
	for _, v := range vs {
		if v == m.Value {
			return true
		}
	}
	return false
}

// Method matches one of the methods (case-sensitive, as RFC 9110 §9.1
// says; "GET" also matches HEAD when HeadWithGet is set, like nginx's
// limit_except).
type Method struct {
	Methods     []string
	HeadWithGet bool
}

// Match implements RequestMatcher.
func (m Method) Match(r *http.Request) bool {
	for _, x := range m.Methods {
		if r.Method == x || (m.HeadWithGet && x == http.MethodGet && r.Method == http.MethodHead) {
			return true
		}
	}
	return false
}

// SourceCIDR matches the client address (r.RemoteAddr) against prefixes.
// IPv4-mapped IPv6 addresses are compared as IPv4.
type SourceCIDR struct {
	Prefixes []netip.Prefix
}

// NewSourceCIDR parses CIDRs or bare addresses.
func NewSourceCIDR(cidrs ...string) (*SourceCIDR, error) {
	m := &SourceCIDR{}
	for _, c := range cidrs {
		if !strings.Contains(c, "/") {
			a, err := netip.ParseAddr(c)
			if err != nil {
				return nil, fmt.Errorf("source %q: %w", c, err)
			}
			m.Prefixes = append(m.Prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", c, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		m.Prefixes = append(m.Prefixes, p.Masked())
	}
	return m, nil
}

// Match implements RequestMatcher.
func (m *SourceCIDR) Match(r *http.Request) bool {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range m.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// UserAgent matches the class ClassifyUserAgent gives the User-Agent
// header. Zero fields do not constrain: Family "" is any family.
type UserAgent struct {
	Family Family
	Mobile bool // require a mobile UA
	Bot    bool // require a bot
}

// Match implements RequestMatcher.
func (m UserAgent) Match(r *http.Request) bool {
	c := ClassifyUserAgent(r.UserAgent())
	if m.Family != "" && c.Family != m.Family {
		return false
	}
	if m.Mobile && !c.Mobile {
		return false
	}
	if m.Bot && !c.Bot {
		return false
	}
	return true
}

// Language matches when the best of Available for the request's
// Accept-Language (see BestLanguage) is Want.
type Language struct {
	Available []string
	Want      string
}

// Match implements RequestMatcher.
func (m Language) Match(r *http.Request) bool {
	best, ok := BestLanguage(r.Header.Get("Accept-Language"), m.Available)
	return ok && strings.EqualFold(best, m.Want)
}
