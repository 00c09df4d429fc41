package config

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// The generator below extends randomConfig with an http section: a valid,
// normalised model (every default explicit, nested locations carrying
// what they inherit), so that Parse(Marshal(c)) must give it back exactly.

// balanceChoices are valid balance/hash_type pairs of every flavour.
var balanceChoices = []struct {
	balance, hashType string
	backupOK, haproxy bool
}{
	{"round_robin", "", true, false},
	{"least_conn", "", true, false},
	{"ip_hash", "", false, false},
	{"hash $request_uri", "", false, false},
	{"hash $remote_addr consistent", "", false, false},
	{"random", "", false, false},
	{"random two least_conn", "", false, false},
	{"roundrobin", "", true, true},
	{"static-rr", "", true, true},
	{"leastconn", "", true, true},
	{"first", "", true, true},
	{"source", "consistent djb2", true, true},
	{"uri len 10 depth 2 whole", "map-based", true, true},
	{"url_param uid", "", true, true},
	{"hdr(host) use_domain_only", "consistent", true, true},
	{"hash path", "map-based sdbm avalanche", true, true},
	{"ewma", "", false, false},
}

func randomHTTP(r *rand.Rand, c *Config) {
	if r.IntN(3) == 0 {
		return
	}
	h := &HTTP{}
	c.HTTP = h
	h.Limits = HTTPLimits{
		HeaderTimeout:    randDuration(r, 60),
		BodyTimeout:      randDuration(r, 120),
		KeepaliveTimeout: randDuration(r, 300),
		MaxHeaderBytes:   1 + r.IntN(1<<20),
		MaxHeaders:       1 + r.IntN(1000),
		MaxBodyBytes:     []int64{-1, 1 + r.Int64N(1<<40)}[r.IntN(2)],
		MaxConcurrentH2:  1 + r.Uint32N(1000),
	}
	switch r.IntN(3) {
	case 1:
		h.AccessLog = AccessLog{Path: "-", Format: "json"}
	case 2:
		h.AccessLog = AccessLog{Path: "/var/log/fulcrum/access log.txt", Format: DefaultAccessLogFormat}
	}
	for range r.IntN(3) {
		v6 := r.IntN(2) == 0
		a := randomAddr(r, v6, byte(r.IntN(256)))
		h.TrustedProxies = append(h.TrustedProxies, netip.PrefixFrom(a, r.IntN(a.BitLen()+1)).Masked())
	}
	for i := range r.IntN(4) {
		h.Upstreams = append(h.Upstreams, randomUpstream(r, i))
	}
	randomHTTPExtras(r, h)
	for i := range r.IntN(3) {
		h.Servers = append(h.Servers, randomHTTPServer(r, i, h))
	}
}

func randomUpstream(r *rand.Rand, i int) Upstream {
	b := balanceChoices[r.IntN(len(balanceChoices))]
	u := Upstream{
		Name:             fmt.Sprintf("up_%d.example", i),
		Balance:          b.balance,
		HashType:         b.hashType,
		Keepalive:        []int{-1, 1 + r.IntN(100)}[r.IntN(2)],
		KeepaliveTimeout: randDuration(r, 120),
		RetryBudget:      float64(1+r.IntN(100)) / 100,
	}
	v6 := r.IntN(3) == 0
	ids := r.Perm(20)
	for j := range 1 + r.IntN(4) {
		var addr string
		switch r.IntN(3) {
		case 0:
			addr = fmt.Sprintf("app-%d.example.internal:%d", j, 1+r.IntN(65535))
		default:
			addr = netip.AddrPortFrom(randomAddr(r, v6, byte(j+1)), uint16(1+r.IntN(65535))).String()
		}
		maxW := 1000
		if b.haproxy {
			maxW = maxHAProxyWeight
		}
		s := UpstreamServer{
			Address:     addr,
			Weight:      1 + r.IntN(maxW),
			MaxFails:    []int{-1, 1 + r.IntN(5)}[r.IntN(2)],
			FailTimeout: time.Duration(1+r.IntN(60)) * time.Second,
			Backup:      j > 0 && b.backupOK && r.IntN(3) == 0,
			Down:        r.IntN(5) == 0,
			MaxConns:    r.IntN(3) * r.IntN(100),
		}
		if !strings.HasPrefix(b.balance, "hash $") && r.IntN(3) == 0 {
			s.SlowStart = randDuration(r, 60)
		}
		if r.IntN(3) == 0 {
			s.Cookie = fmt.Sprintf("srv-%d", j)
		}
		if r.IntN(3) == 0 {
			s.ID = 1 + ids[j]
		}
		u.Servers = append(u.Servers, s)
	}
	if r.IntN(3) == 0 {
		u.TLS = &UpstreamTLS{}
		if r.IntN(2) == 0 {
			u.TLS.ServerName = "backend.example.com"
		}
		if r.IntN(2) == 0 {
			u.TLS.InsecureSkipVerify = true
		}
	}
	u.ProxyProtocol = []string{"", "v1", "v2"}[r.IntN(3)]
	switch r.IntN(3) {
	case 1:
		u.Sticky = &Sticky{Cookie: "SRV", Path: []string{"/", "/app"}[r.IntN(2)], HTTPOnly: r.IntN(2) == 0, Secure: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			u.Sticky.Timeout = randDuration(r, 3600)
		}
	case 2:
		u.Sticky = &Sticky{Source: true, Timeout: randDuration(r, 3600)}
	}
	dst := randomAddr(r, v6, 1)
	for range r.IntN(3) {
		u.Health.Checks = append(u.Health.Checks, randomCheck(r, dst, true))
	}
	if r.IntN(2) == 0 {
		u.Health.Consecutive5xx = 1 + r.IntN(10)
		u.Health.EjectionTime = randDuration(r, 120)
	}
	return u
}

func randomHTTPServer(r *rand.Rand, i int, h *HTTP) HTTPServer {
	var s HTTPServer
	for j := range 1 + r.IntN(2) {
		l := HTTPListen{
			Address:       netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(10*i + j + 1)}), uint16(8000+r.IntN(1000))),
			TLS:           r.IntN(3) == 0,
			HTTP2:         r.IntN(2) == 0,
			ProxyProtocol: len(h.TrustedProxies) > 0 && r.IntN(3) == 0,
			Default:       r.IntN(2) == 0,
		}
		if j == 1 && r.IntN(2) == 0 {
			l.Address = netip.MustParseAddrPort(fmt.Sprintf("[2001:db8:80::%d]:443", i+1))
		}
		s.Listen = append(s.Listen, l)
	}
	// A later server sometimes shares the first server's socket
	// (name-based virtual hosting) with its settings.
	if i > 0 && r.IntN(2) == 0 {
		shared := h.Servers[0].Listen[0]
		shared.Default = false
		s.Listen = append(s.Listen, shared)
	}
	names := []string{fmt.Sprintf("www%d.example.com", i), fmt.Sprintf("*.s%d.example.org", i), fmt.Sprintf(".s%d.example.net", i), fmt.Sprintf("mail%d.*", i), fmt.Sprintf(`~^(?<sub>.+)\.r%d\.example$`, i)}
	for _, n := range names {
		if r.IntN(2) == 0 {
			s.ServerNames = append(s.ServerNames, n)
		}
	}
	if slices.ContainsFunc(s.Listen, func(l HTTPListen) bool { return l.TLS }) || r.IntN(4) == 0 {
		s.Certificates = []Certificate{{CertFile: "testdata/no-such-cert.pem", KeyFile: "testdata/no-such-key.pem"}}
	}
	s.Locations = randomLocations(r, h, nil, 0, fmt.Sprintf("s%d", i))
	return s
}

// randomLocations makes a level of locations with distinct names; under
// a parent they extend its name, as nginx requires.
func randomLocations(r *rand.Rand, h *HTTP, parent *Location, depth int, tag string) []Location {
	var out []Location
	prefix := "/"
	if parent != nil {
		_, pat, _ := ParseLocationMatch(parent.Match)
		prefix = pat
	}
	for k := range 1 + r.IntN(4) {
		name := fmt.Sprintf("%s%s-%d/", prefix, tag, k)
		var match string
		switch r.IntN(6) {
		case 0:
			match = "= " + strings.TrimSuffix(name, "/")
		case 1:
			match = "^~ " + name
		case 2:
			match = "~ ^" + name + `(\d+)$`
		case 3:
			match = `~* \.(jpe?g|png)$`
			if k > 0 || depth > 0 {
				match = "~* " + name + `x\.gif$`
			}
		default:
			match = name
		}
		out = append(out, randomLocation(r, h, parent, depth, match))
	}
	return out
}

func randomLocation(r *rand.Rand, h *HTTP, parent *Location, depth int, match string) Location {
	l := Location{
		Match:          match,
		ConnectTimeout: randDuration(r, 90),
		ReadTimeout:    randDuration(r, 90),
		SendTimeout:    randDuration(r, 90),
	}
	mod, _, _ := ParseLocationMatch(match)
	static := mod != "~" && mod != "~*"
	for _, v := range nextUpstreamValues[:len(nextUpstreamValues)-1] {
		if r.IntN(3) == 0 {
			l.NextUpstream = append(l.NextUpstream, v)
		}
	}
	if l.NextUpstream == nil {
		l.NextUpstream = []string{"off"}
	}
	if r.IntN(2) == 0 {
		l.NextUpstreamTries = 1 + r.IntN(5)
		l.NextUpstreamTimeout = randDuration(r, 30)
	}
	if r.IntN(2) == 0 {
		for _, hd := range []Header{{"Host", "$host"}, {"X-Real-IP", "$remote_addr"}, {"Connection", ""}, {"X-Flag", "true"}, {"X-Forwarded-For", "$proxy_add_x_forwarded_for"}} {
			if r.IntN(2) == 0 {
				l.SetHeaders = append(l.SetHeaders, hd)
			}
		}
		if len(l.SetHeaders) > 0 && r.IntN(3) == 0 {
			l.SetHeaders = append(l.SetHeaders, l.SetHeaders[0]) // a repeated name: the list form
		}
	}
	if parent != nil {
		// What the child leaves unset it inherits; the generator writes
		// it out, as Normalize would.
		if l.NextUpstreamTries == 0 {
			l.NextUpstreamTries = parent.NextUpstreamTries
		}
		if l.NextUpstreamTimeout == 0 {
			l.NextUpstreamTimeout = parent.NextUpstreamTimeout
		}
		if l.SetHeaders == nil {
			l.SetHeaders = slices.Clone(parent.SetHeaders)
		}
	}
	if r.IntN(3) == 0 {
		for _, rw := range []Rewrite{
			{Regex: `^/old/(.*)$`, Replacement: "/new/$1", Flag: "break"},
			{Regex: `^/a b/(.*)$`, Replacement: "/ab/$1"},
			{Regex: `^/x$`, Replacement: "/y?", Flag: "redirect"},
			{Regex: `(?i)^/CASE/`, Replacement: "/case/"},
		} {
			if r.IntN(2) == 0 {
				l.Rewrites = append(l.Rewrites, rw)
			}
		}
	}
	switch r.IntN(4) {
	case 0:
		l.Return = []*Return{{Code: 404}, {Code: 200, Text: "ok\n"}, {Code: 301, Text: "https://$host$request_uri"}, {Code: 302, Text: "$scheme://www.example.com/"}, {Code: 503, Text: "  busy"}, {Code: 444}}[r.IntN(6)]
	case 1:
		l.Routes = randomRoutes(r, h, static)
		if r.IntN(2) == 0 {
			l.ProxyPass = randomProxyPass(r, h, static)
		}
	default:
		l.ProxyPass = randomProxyPass(r, h, static)
	}
	randomLocationExtras(r, h, &l, parent)
	if depth < 2 && (mod == "" || mod == "^~") && r.IntN(3) == 0 {
		l.Locations = randomLocations(r, h, &l, depth+1, "n")
	}
	return l
}

func randomProxyPass(r *rand.Rand, h *HTTP, uriOK bool) string {
	scheme, host := "http", "192.0.2.200:8080"
	if len(h.Upstreams) > 0 && r.IntN(4) != 0 {
		u := &h.Upstreams[r.IntN(len(h.Upstreams))]
		host = u.Name
		if u.TLS != nil {
			scheme = "https"
		}
	} else if r.IntN(2) == 0 {
		scheme, host = "https", "backend.example.com:8443"
	}
	url := scheme + "://" + host
	if uriOK {
		url += []string{"", "/", "/api/", "/x?y=1"}[r.IntN(4)]
	}
	return url
}

func randomRoutes(r *rand.Rand, h *HTTP, uriOK bool) []HTTPRoute {
	var out []HTTPRoute
	langs := []string{"zh", "en", "zh-CN", "de", "fr-CA", "zh-Hant-TW"}
	r.Shuffle(len(langs), func(a, b int) { langs[a], langs[b] = langs[b], langs[a] })
	for k := range 1 + r.IntN(3) {
		var m RouteMatch
		if r.IntN(2) == 0 {
			m.Headers = []HeaderMatch{{Name: "X-Env", Value: "canary"}, {Name: "X-Debug"}}[:1+r.IntN(2)]
			if r.IntN(2) == 0 {
				m.Headers = append(m.Headers, HeaderMatch{Name: "User-Agent", Regex: `(?i)curl/\d+`})
			}
		}
		if r.IntN(3) == 0 {
			m.Cookies = []HeaderMatch{{Name: "beta", Value: "1"}}
		}
		if r.IntN(3) == 0 {
			m.Query = []HeaderMatch{{Name: "v", Value: "2"}, {Name: "debug"}}
		}
		if r.IntN(3) == 0 {
			m.Methods = []string{"GET", "POST", "PUT"}[:1+r.IntN(3)]
		}
		if r.IntN(3) == 0 {
			m.Sources = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}[:1+r.IntN(2)]
		}
		if r.IntN(3) == 0 {
			m.UserAgents = []string{userAgentClasses[r.IntN(len(userAgentClasses))]}
		}
		if r.IntN(2) == 0 && len(langs) > 0 {
			n := 1 + r.IntN(min(2, len(langs)))
			m.Languages, langs = langs[:n], langs[n:]
		}
		if k < 2 && matchesAll(m) {
			m.Methods = []string{"GET"}
		}
		out = append(out, HTTPRoute{Match: m, ProxyPass: randomProxyPass(r, h, uriOK)})
	}
	return out
}

func TestRoundTripHTTP(t *testing.T) {
	r := rand.New(rand.NewPCG(0x48545450, 0x4c37))
	n := 0
	for i := range 400 {
		c := &Config{Source: "random.yaml", Admin: Admin{Socket: DefaultAdminSocket}, Timeouts: DefaultTimeouts}
		randomHTTP(r, c)
		if c.HTTP == nil {
			continue
		}
		n++
		if err := Validate(c).Err(); err != nil {
			t.Fatalf("model %d: the generator made an invalid config:\n%v", i, err)
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkRoundTrip(t, c.Source, c) })
	}
	if n < 100 {
		t.Fatalf("only %d models with an http section", n)
	}
}
