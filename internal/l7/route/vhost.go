package route

import (
	"fmt"
	"strings"
)

// Server is one server block listening on the socket a Hosts serves.
type Server struct {
	// Names are the server_name values: "a.com", "*.a.com", "mail.*",
	// ".a.com" (a.com and *.a.com), "~regex", or "" (requests without
	// Host). No names means "" (nginx's default since 0.8.48).
	Names []string
	// Default is the "default_server" listen flag.
	Default bool
	// Handler is opaque to this package.
	Handler any
}

// Hosts selects the server block for a Host, as
// ngx_http_find_virtual_server does for one listen socket.
type Hosts struct {
	servers  []*Server
	def      *Server
	exact    map[string]*Server
	head     map[string]*Server // "*.a.com" and ".a.com" keyed "a.com"
	headDot  map[string]bool    // key came from ".a.com" (matches a.com too)
	tail     map[string]*Server // "mail.*" keyed "mail"
	regexes  []hostRegex
	warnings []string
}

type hostRegex struct {
	re  *Regex
	srv *Server
}

// NewHosts validates the server names as ngx_http_core_server_name and
// ngx_hash_add_key do and indexes them. A name claimed twice keeps its
// first server and adds a warning ("conflicting server name"), as nginx
// does. nginx validates names only when several servers share a socket;
// NewHosts always does.
func NewHosts(servers []*Server) (*Hosts, error) {
	h := &Hosts{
		servers: servers,
		exact:   map[string]*Server{},
		head:    map[string]*Server{},
		headDot: map[string]bool{},
		tail:    map[string]*Server{},
	}
	for _, s := range servers {
		if s.Default {
			if h.def != nil {
				return nil, fmt.Errorf("a duplicate default server")
			}
			h.def = s
		}
	}
	if h.def == nil && len(servers) > 0 {
		// Without default_server the first server of the socket is the
		// default.
		h.def = servers[0]
	}
	for _, s := range servers {
		names := s.Names
		if len(names) == 0 {
			names = []string{""}
		}
		for _, n := range names {
			if err := h.add(n, s); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// Warnings lists the names nginx would warn about and ignore.
func (h *Hosts) Warnings() []string { return h.warnings }

func (h *Hosts) conflict(name string) {
	h.warnings = append(h.warnings, fmt.Sprintf("conflicting server name %q, ignored", name))
}

func (h *Hosts) add(name string, s *Server) error {
	if name != "" {
		c := name[0]
		if (c == '*' && (len(name) < 3 || name[1] != '.')) || (c == '.' && len(name) < 2) {
			return fmt.Errorf("server name %q is invalid", name)
		}
	}
	if strings.HasPrefix(name, "~") {
		if len(name) == 1 {
			return fmt.Errorf("empty regex in server name %q", name)
		}
		pat := name[1:]
		// A pattern with capitals is compiled caseless: the host it is
		// matched against is lowercased.
		caseless := strings.ContainsFunc(pat, func(r rune) bool { return r >= 'A' && r <= 'Z' })
		re, err := compileRegex(pat, caseless)
		if err != nil {
			return fmt.Errorf("server name %q: %w", name, err)
		}
		h.regexes = append(h.regexes, hostRegex{re: re, srv: s})
		return nil
	}
	name = asciiLower(name)
	// ngx_hash_add_key with NGX_HASH_WILDCARD_KEY.
	stars := strings.Count(name, "*")
	if stars > 1 || strings.Contains(name, "..") {
		return fmt.Errorf("invalid server name or wildcard %q", name)
	}
	switch {
	case len(name) > 1 && name[0] == '.':
		key := name[1:]
		if _, dup := h.exact[key]; dup {
			h.conflict(name)
			return nil
		}
		if _, dup := h.head[key]; dup {
			h.conflict(name)
			return nil
		}
		h.exact[key] = s
		h.head[key] = s
		h.headDot[key] = true
	case len(name) > 2 && name[0] == '*' && name[1] == '.':
		key := name[2:]
		if _, dup := h.head[key]; dup {
			h.conflict(name)
			return nil
		}
		h.head[key] = s
	case len(name) > 2 && strings.HasSuffix(name, ".*"):
		key := name[:len(name)-2]
		if _, dup := h.tail[key]; dup {
			h.conflict(name)
			return nil
		}
		h.tail[key] = s
	case stars > 0:
		return fmt.Errorf("invalid server name or wildcard %q", name)
	default:
		if _, dup := h.exact[name]; dup {
			h.conflict(name)
			return nil
		}
		h.exact[name] = s
	}
	return nil
}

// Select returns the server for a Host header value (or the host of an
// absolute request-target) and the captures of a matching regex name.
// The host is checked and reduced as ngx_http_validate_host does (port
// and one trailing dot removed, lowercased); err wraps ErrBadRequest for
// a host nginx rejects. Lookup order (ngx_hash_find_combined, then the
// regexes): exact name, longest "*.suffix" / ".suffix", longest
// "prefix.*", the first matching regex in order, else the default server.
func (h *Hosts) Select(host string) (srv *Server, captures []string, err error) {
	host, err = NormalizeHost(host)
	if err != nil {
		return nil, nil, err
	}
	if s, ok := h.exact[host]; ok {
		return s, nil, nil
	}
	if host != "" {
		if s := h.findHead(host); s != nil {
			return s, nil, nil
		}
		if s := h.findTail(host); s != nil {
			return s, nil, nil
		}
		for _, r := range h.regexes {
			if caps := r.re.FindSubmatch(host); caps != nil {
				return r.srv, caps, nil
			}
		}
	}
	return h.def, nil, nil
}

// findHead is ngx_hash_find_wc_head: the longest suffix S with a "*.S" or
// ".S" entry where the host is "<label(s)>.S" (or S itself for ".S").
func (h *Hosts) findHead(host string) *Server {
	if len(h.head) == 0 {
		return nil
	}
	for i := 0; i < len(host); i++ {
		if host[i] != '.' {
			continue
		}
		if s, ok := h.head[host[i+1:]]; ok {
			return s
		}
	}
	return nil
}

// findTail is ngx_hash_find_wc_tail: the longest prefix P with a "P.*"
// entry where the host is "P.<label(s)>".
func (h *Hosts) findTail(host string) *Server {
	if len(h.tail) == 0 {
		return nil
	}
	for i := len(host) - 1; i > 0; i-- {
		if host[i] != '.' {
			continue
		}
		if s, ok := h.tail[host[:i]]; ok {
			return s
		}
	}
	return nil
}

// NormalizeHost applies ngx_http_validate_host: it removes the port (and
// keeps a bracketed IPv6 literal whole), removes one trailing dot and
// lowercases. ".." anywhere, "/", NUL, control characters, spaces and an
// empty result are errors (400). "" stands for a request without Host and
// is returned as is (nginx then looks up the empty server name).
func NormalizeHost(host string) (string, error) {
	const (
		usual = iota
		literal
		rest
	)
	state := usual
	hostLen := len(host)
	dotPos := len(host)
	upper := false
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch c {
		case '.':
			if dotPos == i-1 {
				return "", badRequest("invalid host %q", host)
			}
			dotPos = i
		case ':':
			if state == usual {
				hostLen = i
				state = rest
			}
		case '[':
			if i == 0 {
				state = literal
			}
		case ']':
			if state == literal {
				hostLen = i + 1
				state = rest
			}
		default:
			// ngx_path_separator is only "/" on Unix.
			if c == '/' || c <= 0x20 || c == 0x7f {
				return "", badRequest("invalid host %q", host)
			}
			if c >= 'A' && c <= 'Z' {
				upper = true
			}
		}
	}
	if dotPos == hostLen-1 {
		hostLen--
	}
	if host == "" {
		// No Host at all (HTTP/1.0): nginx looks up the empty name.
		return "", nil
	}
	if hostLen <= 0 {
		return "", badRequest("invalid host %q", host)
	}
	host = host[:hostLen]
	if upper {
		host = asciiLower(host)
	}
	return host, nil
}

// asciiLower is ngx_strlow: only A-Z change, other bytes are kept.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
