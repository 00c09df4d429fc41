// Package referer is hotlink protection: nginx's valid_referers with its
// exact semantics (src/http/modules/ngx_http_referer_module.c,
// ngx_http_referer_variable), and signed expiring URLs in the spirit of
// ngx_http_secure_link_module with HMAC-SHA256 instead of MD5.
package referer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// Matcher decides whether a Referer is valid, as $invalid_referer does.
type Matcher struct {
	none, blocked bool
	exact         map[string]uriPart
	head          map[string]uriPart // "*.a.com" and ".a.com" as "a.com"
	tail          map[string]uriPart // "a.*" as "a"
	regex         []*route.Regex
}

// uriPart is what follows the host in a valid_referers entry
// ("a.org/pics/" requires the path to start with "/pics/"); any is
// NGX_HTTP_REFERER_NO_URI_PART.
type uriPart struct {
	prefix string
	any    bool
}

// maxHost: a Referer host of 256 bytes or more is invalid (the 256-byte
// buffer of ngx_http_referer_variable).
const maxHost = 256

// minReferer is len("http://i.ru"): anything shorter is "blocked".
const minReferer = len("http://i.ru")

// New compiles valid_referers arguments: "none", "blocked",
// "server_names" (the names of serverNames: exact, wildcard, or "~regex"
// server names, which are matched as regexes), host names with an
// optional wildcard and path, or "~regex" (case-insensitive, matched
// against the Referer after its scheme).
func New(valid []string, serverNames []string) (*Matcher, error) {
	m := &Matcher{exact: map[string]uriPart{}, head: map[string]uriPart{}, tail: map[string]uriPart{}}
	for _, v := range valid {
		switch {
		case v == "":
			return nil, errors.New(`invalid referer ""`)
		case v == "none":
			m.none = true
		case v == "blocked":
			m.blocked = true
		case v == "server_names":
			for _, n := range serverNames {
				if n == "" {
					continue
				}
				if n[0] == '~' {
					// A regex server_name is compiled caseless
					// (ngx_http_core_server_name) and used as is.
					if err := m.addRegex(n[1:]); err != nil {
						return nil, fmt.Errorf("server name %q: %w", n, err)
					}
					continue
				}
				if err := m.add(n, uriPart{any: true}); err != nil {
					return nil, err
				}
			}
		case v[0] == '~':
			if err := m.addRegex(v[1:]); err != nil {
				return nil, fmt.Errorf("referer %q: %w", v, err)
			}
		default:
			host, u := v, uriPart{any: true}
			if i := strings.IndexByte(v, '/'); i >= 0 {
				host, u = v[:i], uriPart{prefix: v[i:]}
			}
			if err := m.add(host, u); err != nil {
				return nil, err
			}
		}
	}
	// ngx_http_referer_merge_conf: "none" or "blocked" alone would make
	// every real Referer invalid; nginx refuses it (regexes do not count).
	if (m.none || m.blocked) && len(m.exact)+len(m.head)+len(m.tail) == 0 {
		return nil, errors.New(`the "none" or "blocked" referers are specified without any valid referer`)
	}
	return m, nil
}

func (m *Matcher) addRegex(p string) error {
	if p == "" {
		return errors.New("empty regex")
	}
	re, err := route.CompileRegex(p, true)
	if err != nil {
		return err
	}
	m.regex = append(m.regex, re)
	return nil
}

// add is ngx_hash_add_key with NGX_HASH_WILDCARD_KEY: at most one "*",
// no "..", and the only wildcard forms "*.a.com", ".a.com" (a.com and
// its subdomains) and "a.*"; keys are lower-cased; a key given twice is
// "conflicting".
func (m *Matcher) add(name string, u uriPart) error {
	if name == "" || strings.Count(name, "*") > 1 || strings.Contains(name, "..") || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("invalid hostname or wildcard %q", name)
	}
	key := strings.ToLower(name)
	put := func(t map[string]uriPart, k string) error {
		if _, dup := t[k]; dup {
			return fmt.Errorf("conflicting parameter %q", name)
		}
		t[k] = u
		return nil
	}
	switch {
	case len(key) > 1 && key[0] == '.':
		if strings.IndexByte(key, '*') >= 0 {
			return fmt.Errorf("invalid hostname or wildcard %q", name)
		}
		if err := put(m.head, key[1:]); err != nil {
			return err
		}
		return put(m.exact, key[1:])
	case len(key) > 2 && strings.HasPrefix(key, "*."):
		if strings.IndexByte(key[2:], '*') >= 0 {
			return fmt.Errorf("invalid hostname or wildcard %q", name)
		}
		return put(m.head, key[2:])
	case len(key) > 2 && strings.HasSuffix(key, ".*"):
		return put(m.tail, key[:len(key)-2])
	case strings.IndexByte(key, '*') >= 0:
		return fmt.Errorf("invalid hostname or wildcard %q", name)
	}
	return put(m.exact, key)
}

// Valid reports whether a request with this Referer (present false: no
// Referer header at all) passes, i.e. $invalid_referer is empty.
func (m *Matcher) Valid(referer string, present bool) bool {
	if m == nil || len(m.exact)+len(m.head)+len(m.tail)+len(m.regex) == 0 {
		return true
	}
	if !present {
		return m.none
	}
	var rest string
	switch {
	case len(referer) < minReferer:
		return m.blocked
	case strings.EqualFold(referer[:7], "http://"):
		rest = referer[7:]
	case strings.EqualFold(referer[:8], "https://"):
		rest = referer[8:]
	default:
		return m.blocked
	}
	// The host runs to the first "/" or ":" (the port is ignored) and is
	// looked up lower-cased.
	end := strings.IndexAny(rest, "/:")
	if end < 0 {
		end = len(rest)
	}
	if end >= maxHost {
		return false
	}
	var buf [maxHost]byte
	host := buf[:end]
	for i := range end {
		c := rest[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		host[i] = c
	}
	if u, ok := m.lookup(host); ok {
		if u.any {
			return true
		}
		// The path starts at the first "/" after the host, past any port,
		// and must begin with the entry's path, case-sensitively; a host
		// match never falls through to the regexes.
		path := rest[end:]
		if i := strings.IndexByte(path, '/'); i >= 0 {
			path = path[i:]
		} else {
			path = ""
		}
		return strings.HasPrefix(path, u.prefix)
	}
	// Regexes see everything after the scheme. (nginx passes len-7 bytes
	// from there, one byte past the header for "https://"; the header's
	// own bytes are matched here.)
	for _, re := range m.regex {
		if re.MatchString(rest) {
			return true
		}
	}
	return false
}

// lookup is ngx_hash_find_combined: the exact host, else the most
// specific "*.suffix", else the most specific "prefix.*".
func (m *Matcher) lookup(host []byte) (uriPart, bool) {
	if u, ok := m.exact[string(host)]; ok {
		return u, true
	}
	if len(m.head) > 0 {
		for i := 0; i < len(host); i++ {
			if host[i] == '.' && i+1 < len(host) {
				if u, ok := m.head[string(host[i+1:])]; ok {
					return u, true
				}
			}
		}
	}
	if len(m.tail) > 0 {
		for i := len(host) - 1; i > 0; i-- {
			if host[i] == '.' {
				if u, ok := m.tail[string(host[:i])]; ok {
					return u, true
				}
			}
		}
	}
	return uriPart{}, false
}
