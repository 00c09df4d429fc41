package route

import (
	"fmt"
	"strings"
)

// The oracle scenario: one nginx http{} block, described once and turned
// both into an nginx.conf (renderNginx) and into this package's objects
// (buildScenario). Every request of oracleRequests is answered by real
// nginx 1.22 (oracle_test.go) and by simulate; the answers must agree and
// are kept in testdata/oracle.golden.

type oLoc struct {
	mod, pat string
	id       string
	proxy    string // proxy_pass URL ("up" is the echo backend), "" for return
	auto     bool   // proxy_pass handler: auto redirect applies
	rewrites []Directive
	nested   []oLoc
}

type oServer struct {
	id       string
	names    []string
	def      bool
	rewrites []Directive
	locs     []oLoc
}

// returnBody is what a non-proxy location answers: its id and what it saw.
func returnBody(id string) string { return id + "|$uri|$args|$1" }

var scenario = []oServer{
	{
		id: "main", names: []string{"example.com"}, def: true,
		locs: []oLoc{
			// l7.md §7 location set.
			{mod: "=", pat: "/x", id: "exact-x"},
			{pat: "/x", id: "prefix-x"},
			{mod: "^~", pat: "/img/", id: "noregex-img"},
			{mod: "~*", pat: `\.(gif|jpg)$`, id: "regex-img"},
			{pat: "/doc/", id: "prefix-doc"},
			// l7.md §1.6 proxy_pass table.
			{pat: "/p1/", proxy: "http://up/", auto: true},
			{pat: "/p2/", proxy: "http://up", auto: true},
			{pat: "/p3/", proxy: "http://up/api/", auto: true},
			{pat: "/p4/", proxy: "http://up/api", auto: true},
			{pat: "/p5", proxy: "http://up/", auto: true},
			{pat: "/p6", proxy: "http://up/api", auto: true},
			{mod: "~", pat: "^/re/", proxy: "http://up", auto: true},
			{pat: "/rw/", proxy: "http://up/ignored/", auto: true, rewrites: []Directive{
				&Rewrite{Regex: `^/rw/(.*)$`, Replacement: "/new/$1", Flag: "break"}}},
			// Variables in proxy_pass (rule 4).
			{pat: "/var/", proxy: "http://up/x$uri", auto: true},
			{pat: "/varn/", proxy: "http://up$request_uri", auto: true},
			// Exact location with a proxy and a trailing slash.
			{mod: "=", pat: "/ex/", proxy: "http://up/e/", auto: true},
			// Escaped name in the auto-redirect Location.
			{pat: "/a b/", proxy: "http://up/", auto: true},
			// Nested locations.
			{pat: "/n/", id: "n", nested: []oLoc{
				{mod: "~", pat: `\.php$`, id: "n-php"},
				{pat: "/n/deep/", id: "n-deep"},
				{mod: "^~", pat: "/n/stop/", id: "n-stop"},
			}},
			{mod: "^~", pat: "/nr/", id: "nr", nested: []oLoc{
				{mod: "~", pat: `\.png$`, id: "nr-png"},
			}},
			{mod: "~", pat: `\.png$`, id: "png"},
			{mod: "~", pat: `\.php$`, id: "php"},
			{mod: "~", pat: `^/cap/(\w+)/(\d+)$`, id: "cap"},
			{mod: "~", pat: `^/rx/`, id: "rx", nested: []oLoc{
				{mod: "~", pat: `^/rx/in/(.*)`, id: "rx-in"},
			}},
			// Rewrites.
			{pat: "/rwl/", id: "rwl", rewrites: []Directive{
				&Rewrite{Regex: `^/rwl/(.*)$`, Replacement: "/doc/$1", Flag: "last"}}},
			{pat: "/rwn/", id: "rwn", rewrites: []Directive{
				&Rewrite{Regex: `^/rwn/(.*)$`, Replacement: "/doc/n-$1"},
				&Rewrite{Regex: `^/doc/n-(.*)$`, Replacement: "/doc/nn-$1"}}},
			{pat: "/rwb/", id: "rwb", rewrites: []Directive{
				&Rewrite{Regex: `^/rwb/(.*)$`, Replacement: "/doc/b-$1"}, Break{}}},
			{pat: "/rwa/", id: "rwa", rewrites: []Directive{
				&Rewrite{Regex: `^/rwa/(.*)$`, Replacement: "/doc/a?x=$1", Flag: "last"}}},
			{pat: "/rwq/", id: "rwq", rewrites: []Directive{
				&Rewrite{Regex: `^/rwq/(.*)$`, Replacement: "/doc/q-$1?", Flag: "last"}}},
			{pat: "/rwr/", id: "rwr", rewrites: []Directive{
				&Rewrite{Regex: `^/rwr/(.*)$`, Replacement: "/new/$1", Flag: "redirect"}}},
			{pat: "/rwp/", id: "rwp", rewrites: []Directive{
				&Rewrite{Regex: `^/rwp/(.*)$`, Replacement: "http://other.test/$1?y=2", Flag: "permanent"}}},
			{pat: "/rwd/", id: "rwd", rewrites: []Directive{
				&Rewrite{Regex: `^/rwd/(.*)$`, Replacement: "http://other.test/$1?"}}},
			{pat: "/rwc/", id: "rwc", rewrites: []Directive{
				&Rewrite{Regex: `^/rwc/(.*)$`, Replacement: "/rwc/again", Flag: "last"}}},
			{pat: "/rwpx/", proxy: "http://up/px/", auto: true, rewrites: []Directive{
				&Rewrite{Regex: `^/rwpx/(a.*)$`, Replacement: "/rwpx/z/$1"}}},
			{pat: "/rwl2/", id: "rwl2", rewrites: []Directive{
				&Rewrite{Regex: `^/rwl2/(.*)$`, Replacement: "/p2/$1", Flag: "last"}}},
			{pat: "/cyc10", id: "cyc10", rewrites: []Directive{
				&Rewrite{Regex: `^/cyc10(x{0,9})$`, Replacement: "/cyc10$1x", Flag: "last"}}},
			{pat: "/cyc11", id: "cyc11", rewrites: []Directive{
				&Rewrite{Regex: `^/cyc11(x{0,10})$`, Replacement: "/cyc11$1x", Flag: "last"}}},
			{pat: "/ret/", id: "ret", rewrites: []Directive{
				&Return{Code: 301, Text: "/doc/$uri"}}},
			{pat: "/r404/", id: "r404", rewrites: []Directive{&Return{Code: 404}}},
		},
	},
	// server_name precedence, all on the same socket.
	{id: "s-exact", names: []string{"www.example.org"}, locs: []oLoc{{pat: "/", id: "s-exact"}}},
	{id: "s-head", names: []string{"*.example.org"}, locs: []oLoc{{pat: "/", id: "s-head"}}},
	{id: "s-head-long", names: []string{"*.b.example.org"}, locs: []oLoc{{pat: "/", id: "s-head-long"}}},
	{id: "s-tail", names: []string{"www.*"}, locs: []oLoc{{pat: "/", id: "s-tail"}}},
	{id: "s-tail-long", names: []string{"www.example.*"}, locs: []oLoc{{pat: "/", id: "s-tail-long"}}},
	{id: "s-dot", names: []string{".example.net"}, locs: []oLoc{{pat: "/", id: "s-dot"}}},
	{id: "s-re1", names: []string{`~^api\d+\.example\.com$`}, locs: []oLoc{{pat: "/", id: "s-re1"}}},
	{id: "s-re2", names: []string{`~^(\w+)\.Rx\.test$`}, locs: []oLoc{{pat: "/", id: "s-re2"}}},
	{id: "s-re3", names: []string{`~^www\.`}, locs: []oLoc{{pat: "/", id: "s-re3"}}},
	// Normalization: echo what nginx matched on.
	{id: "norm", names: []string{"norm.test"}, locs: []oLoc{{pat: "/", id: "norm"}}},
	// Server-level rewrites run before the location lookup.
	{id: "srw", names: []string{"srw.test"},
		rewrites: []Directive{
			&Rewrite{Regex: `^/old/(.*)$`, Replacement: "/new/$1", Flag: "last"},
			&Rewrite{Regex: `^/new/(.*)$`, Replacement: "/newer/$1"},
		},
		locs: []oLoc{{pat: "/new/", id: "srw-new"}, {pat: "/newer/", id: "srw-newer"}}},
}

// oracleRequest is one request: the target and the Host header.
type oracleRequest struct {
	host, target string
}

var oracleRequests = []oracleRequest{
	// §1.5 location table.
	{"example.com", "/x"},
	{"example.com", "/xy"},
	{"example.com", "/img/1.gif"},
	{"example.com", "/doc/1.gif"},
	{"example.com", "/doc/1.txt"},
	{"example.com", "/IMG/2.JPG"},
	{"example.com", "/doc/"},
	{"example.com", "/nomatch"},
	{"example.com", "/x/"},
	{"example.com", "/ximg.gif"},
	{"example.com", "/img/a/b/c.jpg"},
	{"example.com", "/doc/x.JPG"},
	// §1.6 proxy_pass table.
	{"example.com", "/p1/abc.html"},
	{"example.com", "/p2/abc.html"},
	{"example.com", "/p3/abc.html"},
	{"example.com", "/p4/abc.html"},
	{"example.com", "/p5/abc.html"},
	{"example.com", "/p6/abc.html"},
	{"example.com", "/re/abc.html"},
	{"example.com", "/rw/abc.html"},
	{"example.com", "/p1/a%2Fb?q=1"},
	{"example.com", "/p2/a%2Fb?q=1"},
	{"example.com", "/p1/x//y/../z"},
	{"example.com", "/p2/x//y/../z"},
	{"example.com", "/p1/%7Euser"},
	// Escaping of what goes upstream.
	{"example.com", "/p1/a%22b%3C%3E%5E%60%7B%7C%7D%20c"},
	{"example.com", `/p1/a"b`},
	{"example.com", `/p1/a"b%41`},
	{"example.com", "/p1/%3F%23%25?a=%3F"},
	{"example.com", "/p1/a+b%2B?x"},
	{"example.com", "/p1/%C3%A9"},
	{"example.com", "/p2/a#frag"},
	{"example.com", "/p1/a#frag"},
	{"example.com", "/p1/a?b#c"},
	{"example.com", "/var/abc?q=1"},
	{"example.com", "/varn/abc?q=1"},
	{"example.com", "/rw/a%20b?k=v"},
	{"example.com", "/rwpx/a?k=v"},
	{"example.com", "/rwpx/a%20b"},
	{"example.com", "/rwl2/a%20b?x"},
	{"example.com", "/rwl2/a%2Fb"},
	{"example.com", "/p1/%5C%5c"},
	{"example.com", "/p1/a;b,c=d@e:f!$&'()*"},
	{"example.com", "/p2//x/./y?z"},
	{"example.com", "/p1/\xc3\xa9"},
	{"example.com", "http://example.com/p2/x?y"},
	{"example.com", "http://example.com/p1/x?y"},
	// Auto-redirect 301 with and without args.
	{"example.com", "/p1"},
	{"example.com", "/p1?a=1"},
	{"example.com", "/p2?a=1&b=2"},
	{"example.com", "/rw"},
	{"example.com", "/ex"},
	{"example.com", "/ex/"},
	{"example.com", "/a%20b"},
	{"example.com", "/re"},
	// Nested locations.
	{"example.com", "/n/a.php"},
	{"example.com", "/n/deep/a.php"},
	{"example.com", "/n/deep/a.png"},
	{"example.com", "/n/stop/a.png"},
	{"example.com", "/n/stop/a.php"},
	{"example.com", "/nr/a.png"},
	{"example.com", "/nr/a.php"},
	{"example.com", "/cap/abc/123"},
	{"example.com", "/cap/abc/12x"},
	{"example.com", "/rx/in/deep"},
	{"example.com", "/rx/out"},
	// PCRE "$" matches before a final newline.
	{"example.com", "/a.php%0A"},
	{"example.com", "/a.php%0Ab"},
	// Rewrites.
	{"example.com", "/rwl/1.txt"},
	{"example.com", "/rwl/1.gif"},
	{"example.com", "/rwn/z"},
	{"example.com", "/rwb/z?o=1"},
	{"example.com", "/rwa/v?o=1"},
	{"example.com", "/rwa/v"},
	{"example.com", "/rwq/v?o=1"},
	{"example.com", "/rwr/v?o=1"},
	{"example.com", "/rwp/v?o=1"},
	{"example.com", "/rwp/a%20b"},
	{"example.com", "/rwp/a&b%41"},
	{"example.com", "/rwp/a%3Fb?c"},
	{"example.com", "/rwr/a%2Fb+c"},
	{"example.com", "/rwa/a%26b?o=1"},
	{"example.com", "/rwa/a+b"},
	{"example.com", "/rwd/v?o=1"},
	{"example.com", "/rwc/x"},
	{"example.com", "/ret/x?y"},
	{"example.com", "/cyc10"},
	{"example.com", "/cyc11"},
	{"example.com", "/r404/x"},
	// server_name precedence.
	{"www.example.org", "/"},
	{"WWW.Example.ORG.", "/"},
	{"www.example.org:8080", "/"},
	{"a.example.org", "/"},
	{"a.b.example.org", "/"},
	{"b.example.org", "/"},
	{"example.org", "/"},
	{"www.example.net", "/"},
	{"www.example.co.uk", "/"},
	{"www.other.com", "/"},
	{"example.net", "/"},
	{"x.y.example.net", "/"},
	{"api42.example.com", "/"},
	{"apix.example.com", "/"},
	{"foo.rx.test", "/"},
	{"unknown.test", "/"},
	{"", "/"},
	{"a..b", "/"},
	{"a/b", "/"},
	{"a b", "/"},
	{".", "/"},
	{":80", "/"},
	{"[::1]:80", "/"},
	{"example.com:abc", "/x"},
	{"EXAMPLE.COM.", "/x"},
	// Normalization (the "norm" server echoes $uri and $args).
	{"norm.test", "/a/./b"},
	{"norm.test", "/a/b/."},
	{"norm.test", "/a/b/.."},
	{"norm.test", "/a/b/../../c"},
	{"norm.test", "/../a"},
	{"norm.test", "/a/../../b"},
	{"norm.test", "/%2e%2e/a"},
	{"norm.test", "/a/%2e%2e/b"},
	{"norm.test", "/a/%2E/b"},
	{"norm.test", "/a%2Fb"},
	{"norm.test", "/a%2F..%2Fb"},
	{"norm.test", "//a///b"},
	{"norm.test", "/a/..b/c"},
	{"norm.test", "/a/.b"},
	{"norm.test", "/a?x/../y"},
	{"norm.test", "/a/.?q"},
	{"norm.test", "/a/..?q"},
	{"norm.test", "/a/..#f"},
	{"norm.test", "/%"},
	{"norm.test", "/a%2"},
	{"norm.test", "/a%zz"},
	{"norm.test", "/a%00b"},
	{"norm.test", "/a%01b"},
	{"norm.test", "/a%20b"},
	{"norm.test", "/%3F?%3F"},
	{"norm.test", "/%25%23%3f"},
	{"norm.test", "/a?%"},
	{"norm.test", "/a%252e"},
	{"norm.test", "/a/b/%2e"},
	{"norm.test", "/a/%2e%2e"},
	{"norm.test", "/a/b%2f%2e%2e"},
	{"norm.test", "/.%2e/"},
	{"norm.test", "/a//../b"},
	{"norm.test", "/a/b/..."},
	{"norm.test", "/a\\b"},
	{"norm.test", "/a\xff\xfe"},
	{"norm.test", "/a+b%2b"},
	{"norm.test", "/%2F%2F"},
	{"norm.test", "/a/%2e%2e%2f%2e%2e/b"},
	{"norm.test", "http://norm.test/abs?z"},
	{"norm.test", "http://norm.test?z"},
	{"norm.test", "*"},
	{"norm.test", "a/b"},
	// Server-level rewrite, then location lookup.
	{"srw.test", "/old/1?k"},
	{"srw.test", "/new/1"},
}

// quoteConf quotes a value for nginx.conf (ngx_conf_read_token turns \" and
// \\ back into " and \).
func quoteConf(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + s + `"`
}

func renderDirectives(b *strings.Builder, ds []Directive, indent string) {
	for _, d := range ds {
		switch d := d.(type) {
		case *Rewrite:
			fmt.Fprintf(b, "%srewrite %s %s %s;\n", indent, quoteConf(d.Regex), quoteConf(d.Replacement), d.Flag)
		case *Return:
			if d.Text == "" {
				fmt.Fprintf(b, "%sreturn %d;\n", indent, d.Code)
			} else {
				fmt.Fprintf(b, "%sreturn %d %s;\n", indent, d.Code, quoteConf(d.Text))
			}
		case Break:
			fmt.Fprintf(b, "%sbreak;\n", indent)
		}
	}
}

func renderLoc(b *strings.Builder, l oLoc, indent string) {
	if l.mod == "" {
		fmt.Fprintf(b, "%slocation %s {\n", indent, quoteConf(l.pat))
	} else {
		fmt.Fprintf(b, "%slocation %s %s {\n", indent, l.mod, quoteConf(l.pat))
	}
	renderDirectives(b, l.rewrites, indent+"  ")
	if l.proxy != "" {
		fmt.Fprintf(b, "%s  proxy_pass %s;\n", indent, l.proxy)
	} else {
		fmt.Fprintf(b, "%s  return 200 %s;\n", indent, quoteConf(returnBody(l.id)))
	}
	for _, n := range l.nested {
		renderLoc(b, n, indent+"  ")
	}
	fmt.Fprintf(b, "%s}\n", indent)
}

// renderNginx writes the scenario as an nginx.conf listening on addr and
// proxying "up" to backend.
func renderNginx(addr, backend string) string {
	var b strings.Builder
	b.WriteString(`worker_processes 1;
daemon off;
master_process off;
pid nginx.pid;
error_log logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path tmp/cb; proxy_temp_path tmp/pt; fastcgi_temp_path tmp/ft; uwsgi_temp_path tmp/ut; scgi_temp_path tmp/st;
  root nonexistent;
`)
	fmt.Fprintf(&b, "  upstream up { server %s; }\n", backend)
	for _, s := range scenario {
		b.WriteString("  server {\n")
		def := ""
		if s.def {
			def = " default_server"
		}
		fmt.Fprintf(&b, "    listen %s%s;\n", addr, def)
		var names []string
		for _, n := range s.names {
			names = append(names, quoteConf(n))
		}
		fmt.Fprintf(&b, "    server_name %s;\n", strings.Join(names, " "))
		renderDirectives(&b, s.rewrites, "    ")
		for _, l := range s.locs {
			renderLoc(&b, l, "    ")
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// buildScenario turns the scenario into Hosts whose Handler is a *Router,
// and whose locations' Handler is a ProxyPass or nil (the location ends
// with a "return").
func buildScenario() (*Hosts, error) {
	var servers []*Server
	for _, s := range scenario {
		var locs []*Location
		for _, l := range s.locs {
			locs = append(locs, buildLoc(l))
		}
		m, err := Compile(locs)
		if err != nil {
			return nil, fmt.Errorf("server %s: %w", s.id, err)
		}
		script, err := NewScript(s.rewrites)
		if err != nil {
			return nil, err
		}
		servers = append(servers, &Server{
			Names:   s.names,
			Default: s.def,
			Handler: &Router{Server: script, Locations: m},
		})
	}
	return NewHosts(servers)
}

func buildLoc(l oLoc) *Location {
	loc := &Location{Modifier: l.mod, Pattern: l.pat, AutoRedirect: l.auto}
	loc.Rewrites = append(loc.Rewrites, l.rewrites...)
	if l.proxy != "" {
		loc.Handler = ProxyPass{URL: l.proxy}
	} else {
		loc.Rewrites = append(loc.Rewrites, &Return{Code: 200, Text: returnBody(l.id)})
	}
	for _, n := range l.nested {
		loc.Nested = append(loc.Nested, buildLoc(n))
	}
	return loc
}

// simulate answers a request with this package, in the notation the
// oracle uses for nginx's answers.
func simulate(h *Hosts, req oracleRequest) string {
	u, err := ParseURI(req.target, true)
	if err != nil {
		return "400"
	}
	host := req.host
	if u.Host != "" {
		host = u.Host
	}
	srv, caps, err := h.Select(host)
	if err != nil {
		return "400"
	}
	st := NewState(u)
	st.Captures = caps
	d, err := srv.Handler.(*Router).Route(st)
	if err != nil {
		return fmt.Sprint(d.Status)
	}
	if d.Status != 0 {
		switch {
		case d.Redirect != "":
			return fmt.Sprintf("%d loc=%s", d.Status, d.Redirect)
		case d.HasBody:
			return fmt.Sprintf("%d body=%s", d.Status, d.Body)
		}
		return fmt.Sprint(d.Status)
	}
	if d.Location == nil {
		return "404"
	}
	pp, ok := d.Location.Handler.(ProxyPass)
	if !ok {
		// The location's "return" was not reached ("break" stopped
		// the script): nginx's static handler finds no file.
		return "404"
	}
	return "200 up=" + pp.UpstreamURI(d.Location, st)
}
