package config

import (
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v4"
)

// The file* types below mirror the YAML schema of the http section, for
// writing only. Every default is written out; nginx's one-line forms are
// used where they say everything (a listen line, an upstream server line,
// a rewrite, a return), header lists are mappings unless a name repeats.

type fileHTTP struct {
	Servers        []fileHTTPServer `yaml:"servers,omitempty"`
	Upstreams      []fileUpstream   `yaml:"upstreams,omitempty"`
	TrustedProxies []string         `yaml:"trusted_proxies,omitempty,flow"`
	AccessLog      *fileAccessLog   `yaml:"access_log,omitempty"`
	Limits         fileHTTPLimits   `yaml:"limits"`
	LimitReqZones  []fileZone       `yaml:"limit_req_zones,omitempty"`
	LimitConnZones []fileZone       `yaml:"limit_conn_zones,omitempty"`
	Maps           []fileMap        `yaml:"maps,omitempty"`
	Flood          *fileFlood       `yaml:"flood,omitempty"`
}

type fileAccessLog struct {
	Path   string `yaml:"path,omitempty"`
	Format string `yaml:"format,omitempty"`
}

type fileHTTPLimits struct {
	HeaderTimeout    string `yaml:"header_timeout"`
	BodyTimeout      string `yaml:"body_timeout"`
	KeepaliveTimeout string `yaml:"keepalive_timeout"`
	MaxHeaderBytes   int    `yaml:"max_header_bytes"`
	MaxHeaders       int    `yaml:"max_headers"`
	MaxBodyBytes     int64  `yaml:"max_body_bytes"` // 0 = unlimited, as nginx
	MaxConcurrentH2  uint32 `yaml:"max_concurrent_streams"`
}

type fileHTTPServer struct {
	Listen       []string       `yaml:"listen"`
	ServerNames  []string       `yaml:"server_names,omitempty,flow"`
	Certificates []fileCert     `yaml:"certificates,omitempty"`
	Locations    []fileLocation `yaml:"locations,omitempty"`
}

type fileCert struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

type fileLocation struct {
	Match               string      `yaml:"match"`
	Rewrites            []any       `yaml:"rewrites,omitempty"`
	Return              any         `yaml:"return,omitempty"`
	Routes              []fileRoute `yaml:"routes,omitempty"`
	ProxyPass           string      `yaml:"proxy_pass,omitempty"`
	SetHeaders          any         `yaml:"set_headers,omitempty"`
	NextUpstream        []string    `yaml:"next_upstream,flow"`
	NextUpstreamTries   int         `yaml:"next_upstream_tries,omitempty"`
	NextUpstreamTimeout string      `yaml:"next_upstream_timeout,omitempty"`
	ConnectTimeout      string      `yaml:"connect_timeout"`
	ReadTimeout         string      `yaml:"read_timeout"`
	SendTimeout         string      `yaml:"send_timeout"`

	LimitReq         []fileLimitReq        `yaml:"limit_req,omitempty"`
	LimitReqStatus   int                   `yaml:"limit_req_status,omitempty"`
	LimitConn        []fileLimitConn       `yaml:"limit_conn,omitempty"`
	LimitConnStatus  int                   `yaml:"limit_conn_status,omitempty"`
	Referers         *fileReferers         `yaml:"referers,omitempty"`
	SecureLink       *fileSecureLink       `yaml:"secure_link,omitempty"`
	Compression      *fileCompression      `yaml:"compression,omitempty"`
	ImageCompression *fileImageCompression `yaml:"image_compression,omitempty"`

	Locations []fileLocation `yaml:"locations,omitempty"`
}

type fileRewrite struct {
	Regex       string `yaml:"regex"`
	Replacement string `yaml:"replacement"`
	Flag        string `yaml:"flag,omitempty"`
}

type fileReturn struct {
	Code int    `yaml:"code"`
	Text string `yaml:"text"`
}

type fileRoute struct {
	Match     *fileRouteMatch `yaml:"match,omitempty"`
	ProxyPass string          `yaml:"proxy_pass"`
}

type fileRouteMatch struct {
	Headers    any      `yaml:"headers,omitempty"`
	Cookies    any      `yaml:"cookies,omitempty"`
	Query      any      `yaml:"query,omitempty"`
	Methods    []string `yaml:"methods,omitempty,flow"`
	Sources    []string `yaml:"sources,omitempty,flow"`
	UserAgents []string `yaml:"user_agents,omitempty,flow"`
	Languages  []string `yaml:"languages,omitempty,flow"`
}

type fileHeaderMatch struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value,omitempty"`
	Regex string `yaml:"regex,omitempty"`
}

type fileUpstream struct {
	Name             string              `yaml:"name"`
	Balance          string              `yaml:"balance"`
	HashType         string              `yaml:"hash_type,omitempty"`
	Servers          []any               `yaml:"servers"`
	Keepalive        int                 `yaml:"keepalive"` // 0 = none
	KeepaliveTimeout string              `yaml:"keepalive_timeout"`
	TLS              *fileUpstreamTLS    `yaml:"tls,omitempty"`
	ProxyProtocol    string              `yaml:"proxy_protocol,omitempty"`
	Sticky           *fileSticky         `yaml:"sticky,omitempty"`
	Health           *fileUpstreamHealth `yaml:"health,omitempty"`
	RetryBudget      float64             `yaml:"retry_budget"`
}

type fileUpstreamServer struct {
	Address     string `yaml:"address"`
	Weight      int    `yaml:"weight"`
	MaxFails    int    `yaml:"max_fails"` // 0 = off, as nginx
	FailTimeout string `yaml:"fail_timeout"`
	Backup      bool   `yaml:"backup,omitempty"`
	Down        bool   `yaml:"down,omitempty"`
	MaxConns    int    `yaml:"max_conns,omitempty"`
	SlowStart   string `yaml:"slow_start,omitempty"`
	Cookie      string `yaml:"cookie,omitempty"`
	ID          int    `yaml:"id,omitempty"`
}

type fileUpstreamTLS struct {
	ServerName         string `yaml:"server_name,omitempty"`
	CAFile             string `yaml:"ca_file,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
}

type fileSticky struct {
	Cookie   string `yaml:"cookie,omitempty"`
	Source   bool   `yaml:"source,omitempty"`
	Timeout  string `yaml:"timeout,omitempty"`
	Path     string `yaml:"path,omitempty"`
	HTTPOnly bool   `yaml:"httponly,omitempty"`
	Secure   bool   `yaml:"secure,omitempty"`
}

type fileUpstreamHealth struct {
	Checks         []fileCheck `yaml:"checks,omitempty"`
	Consecutive5xx int         `yaml:"consecutive_5xx,omitempty"`
	EjectionTime   string      `yaml:"ejection_time,omitempty"`
}

// marshalHTTP writes a normalised http section.
func marshalHTTP(h *HTTP) *fileHTTP {
	if h == nil {
		return nil
	}
	f := &fileHTTP{
		Limits: fileHTTPLimits{
			HeaderTimeout:    formatDuration(h.Limits.HeaderTimeout),
			BodyTimeout:      formatDuration(h.Limits.BodyTimeout),
			KeepaliveTimeout: formatDuration(h.Limits.KeepaliveTimeout),
			MaxHeaderBytes:   h.Limits.MaxHeaderBytes,
			MaxHeaders:       h.Limits.MaxHeaders,
			MaxBodyBytes:     max(h.Limits.MaxBodyBytes, 0),
			MaxConcurrentH2:  h.Limits.MaxConcurrentH2,
		},
	}
	if a := h.AccessLog; a != (AccessLog{}) {
		f.AccessLog = &fileAccessLog{Path: a.Path, Format: a.Format}
	}
	for _, p := range h.TrustedProxies {
		f.TrustedProxies = append(f.TrustedProxies, addrString(p))
	}
	for i := range h.Servers {
		s := &h.Servers[i]
		fs := fileHTTPServer{ServerNames: s.ServerNames, Locations: marshalLocations(s.Locations)}
		for _, l := range s.Listen {
			fs.Listen = append(fs.Listen, listenLine(l))
		}
		for _, c := range s.Certificates {
			fs.Certificates = append(fs.Certificates, fileCert(c))
		}
		f.Servers = append(f.Servers, fs)
	}
	for i := range h.Upstreams {
		f.Upstreams = append(f.Upstreams, marshalUpstream(&h.Upstreams[i]))
	}
	marshalHTTPExtras(h, f)
	return f
}

// listenLine writes a listener as nginx's listen arguments.
func listenLine(l HTTPListen) string {
	s := addrString(l.Address)
	for _, f := range []struct {
		word string
		on   bool
	}{{"ssl", l.TLS}, {"http2", l.HTTP2}, {"proxy_protocol", l.ProxyProtocol}, {"default_server", l.Default}} {
		if f.on {
			s += " " + f.word
		}
	}
	return s
}

func marshalLocations(locs []Location) []fileLocation {
	var out []fileLocation
	for i := range locs {
		l := &locs[i]
		fl := fileLocation{
			Match:               l.Match,
			ProxyPass:           l.ProxyPass,
			NextUpstream:        l.NextUpstream,
			NextUpstreamTries:   l.NextUpstreamTries,
			NextUpstreamTimeout: nonZeroDuration(l.NextUpstreamTimeout),
			ConnectTimeout:      formatDuration(l.ConnectTimeout),
			ReadTimeout:         formatDuration(l.ReadTimeout),
			SendTimeout:         formatDuration(l.SendTimeout),
			Locations:           marshalLocations(l.Locations),
		}
		if fl.NextUpstream == nil {
			fl.NextUpstream = []string{} // never absent: absence means the default
		}
		for _, rw := range l.Rewrites {
			fl.Rewrites = append(fl.Rewrites, marshalRewrite(rw))
		}
		if r := l.Return; r != nil {
			fl.Return = marshalReturn(r)
		}
		for _, rt := range l.Routes {
			fr := fileRoute{ProxyPass: rt.ProxyPass}
			if !matchesAll(rt.Match) {
				m := rt.Match
				fr.Match = &fileRouteMatch{
					Headers:    marshalHeaderMatches(m.Headers),
					Cookies:    marshalHeaderMatches(m.Cookies),
					Query:      marshalHeaderMatches(m.Query),
					Methods:    m.Methods,
					UserAgents: m.UserAgents,
					Languages:  m.Languages,
				}
				for _, p := range m.Sources {
					fr.Match.Sources = append(fr.Match.Sources, addrString(p))
				}
			}
			fl.Routes = append(fl.Routes, fr)
		}
		if len(l.SetHeaders) > 0 {
			fl.SetHeaders = marshalHeaders(l.SetHeaders)
		}
		marshalLocationExtras(l, &fl)
		out = append(out, fl)
	}
	return out
}

// marshalRewrite writes nginx's rewrite line unless a part would not
// survive splitting on blanks.
func marshalRewrite(rw Rewrite) any {
	words := []string{rw.Regex, rw.Replacement}
	if rw.Flag != "" {
		words = append(words, rw.Flag)
	}
	line := strings.Join(words, " ")
	if slices.Equal(strings.Fields(line), words) {
		return line
	}
	return fileRewrite(rw)
}

// marshalReturn writes a code alone, "CODE TEXT", or a mapping when the
// text would not survive the line form (leading blanks).
func marshalReturn(r *Return) any {
	switch {
	case r.Text == "":
		return r.Code
	case strings.TrimLeft(r.Text, " \t") == r.Text:
		return strconv.Itoa(r.Code) + " " + r.Text
	}
	return fileReturn(*r)
}

// marshalHeaders writes a header list as a mapping (in order), or as a
// list when a name repeats.
func marshalHeaders(hs []Header) any {
	seen := map[string]bool{}
	for _, h := range hs {
		if seen[h.Name] {
			return hs
		}
		seen[h.Name] = true
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, h := range hs {
		n.Content = append(n.Content, strNode(h.Name), strNode(h.Value))
	}
	return n
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// marshalHeaderMatches writes conditions as a mapping of exact values
// (null for presence), or as a list when one has a regex or a name
// repeats.
func marshalHeaderMatches(ms []HeaderMatch) any {
	if len(ms) == 0 {
		return nil
	}
	seen := map[string]bool{}
	list := false
	for _, m := range ms {
		list = list || m.Regex != "" || seen[m.Name]
		seen[m.Name] = true
	}
	if list {
		out := make([]fileHeaderMatch, len(ms))
		for i, m := range ms {
			out[i] = fileHeaderMatch(m)
		}
		return out
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, m := range ms {
		v := strNode(m.Value)
		if m.Value == "" {
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
		n.Content = append(n.Content, strNode(m.Name), v)
	}
	return n
}

func marshalUpstream(u *Upstream) fileUpstream {
	f := fileUpstream{
		Name:             u.Name,
		Balance:          u.Balance,
		HashType:         u.HashType,
		Servers:          []any{},
		Keepalive:        max(u.Keepalive, 0),
		KeepaliveTimeout: formatDuration(u.KeepaliveTimeout),
		ProxyProtocol:    u.ProxyProtocol,
		RetryBudget:      u.RetryBudget,
	}
	for _, s := range u.Servers {
		f.Servers = append(f.Servers, marshalUpstreamServer(s))
	}
	if t := u.TLS; t != nil {
		f.TLS = &fileUpstreamTLS{ServerName: t.ServerName, CAFile: t.CAFile, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	if s := u.Sticky; s != nil {
		f.Sticky = &fileSticky{Cookie: s.Cookie, Source: s.Source, Timeout: nonZeroDuration(s.Timeout), Path: s.Path, HTTPOnly: s.HTTPOnly, Secure: s.Secure}
	}
	if h := u.Health; len(h.Checks) > 0 || h.Consecutive5xx != 0 || h.EjectionTime != 0 {
		fh := &fileUpstreamHealth{Consecutive5xx: h.Consecutive5xx, EjectionTime: nonZeroDuration(h.EjectionTime)}
		for i := range h.Checks {
			fh.Checks = append(fh.Checks, marshalCheck(&h.Checks[i]))
		}
		f.Health = fh
	}
	return f
}

// marshalUpstreamServer writes nginx's server line, with weight, max_fails
// and fail_timeout always given; HAProxy's cookie and id need the
// mapping.
func marshalUpstreamServer(s UpstreamServer) any {
	fs := fileUpstreamServer{
		Address:     s.Address,
		Weight:      s.Weight,
		MaxFails:    max(s.MaxFails, 0),
		FailTimeout: formatDuration(s.FailTimeout),
		Backup:      s.Backup,
		Down:        s.Down,
		MaxConns:    s.MaxConns,
		SlowStart:   nonZeroDuration(s.SlowStart),
		Cookie:      s.Cookie,
		ID:          s.ID,
	}
	if s.Cookie != "" || s.ID != 0 || len(strings.Fields(s.Address)) != 1 || s.Address != strings.TrimSpace(s.Address) || s.FailTimeout <= 0 || s.Weight <= 0 || s.SlowStart < 0 || s.MaxConns < 0 {
		return fs
	}
	line := s.Address + " weight=" + strconv.Itoa(fs.Weight) + " max_fails=" + strconv.Itoa(fs.MaxFails) + " fail_timeout=" + fs.FailTimeout
	if s.MaxConns > 0 {
		line += " max_conns=" + strconv.Itoa(s.MaxConns)
	}
	if s.SlowStart > 0 {
		line += " slow_start=" + fs.SlowStart
	}
	if s.Backup {
		line += " backup"
	}
	if s.Down {
		line += " down"
	}
	return line
}
