package l7

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// TestProxyPassURITable sends the requests of l7.md §1.6 (checked there
// against nginx 1.22: ngx_http_proxy_create_request) through the proxy and
// asserts what the upstream receives, byte for byte.
func TestProxyPassURITable(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{
		{Match: "/p1/", ProxyPass: "http://one/"},
		{Match: "/p2/", ProxyPass: "http://one"},
		{Match: "/p3/", ProxyPass: "http://one/api/"},
		{Match: "/p4/", ProxyPass: "http://one/api"},
		{Match: "/p5", ProxyPass: "http://one/"},
		{Match: "/p6", ProxyPass: "http://one/api"},
		{Match: "~ ^/re/", ProxyPass: "http://one"},
		{Match: "/rw/", ProxyPass: "http://one/ignored/", Rewrites: []config.Rewrite{
			{Regex: "^/rw/(.*)$", Replacement: "/new/$1", Flag: "break"}}},
	}, config.Upstream{Name: "one", Servers: servers(be.addr)})
	startProxy(t, cfg)

	tests := []struct{ target, want string }{
		{"/p1/abc.html", "/abc.html"},
		{"/p2/abc.html", "/p2/abc.html"},
		{"/p3/abc.html", "/api/abc.html"},
		{"/p4/abc.html", "/apiabc.html"},
		{"/p5/abc.html", "//abc.html"},
		{"/p6/abc.html", "/api/abc.html"},
		{"/re/abc.html", "/re/abc.html"},
		{"/rw/abc.html", "/new/abc.html"},
		{"/p1/a%2Fb?q=1", "/a/b?q=1"},
		{"/p2/a%2Fb?q=1", "/p2/a%2Fb?q=1"},
		{"/p1/x//y/../z", "/x/z"},
		{"/p2/x//y/../z", "/p2/x//y/../z"},
		{"/p1/%7Euser", "/~user"},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			resp, body := rawGet(t, addr, tc.target, "example.com")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, body %q", resp.StatusCode, body)
			}
			s := decode(t, body)
			if s.URI != tc.want {
				t.Errorf("upstream saw %q, want %q", s.URI, tc.want)
			}
			// nginx's default: Host is $proxy_host, the upstream's name.
			if s.Host != "one" {
				t.Errorf("upstream Host %q, want %q", s.Host, "one")
			}
		})
	}
}

// TestAutoRedirect301: a proxied prefix location ending in "/" answers a
// request for its name without the slash with 301 to the slash form, the
// query kept, made absolute with the host and the listening port
// (ngx_http_core_find_config_phase, ngx_http_header_filter).
func TestAutoRedirect301(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{
		{Match: "/p1/", ProxyPass: "http://one/"},
		{Match: "/a b/", ProxyPass: "http://one/"},
	}, config.Upstream{Name: "one", Servers: servers(be.addr)})
	startProxy(t, cfg)
	port := addr.Port()
	tests := []struct{ target, loc string }{
		{"/p1", "http://example.com:" + itoa(int(port)) + "/p1/"},
		{"/p1?a=1", "http://example.com:" + itoa(int(port)) + "/p1/?a=1"},
		{"/a%20b", "http://example.com:" + itoa(int(port)) + "/a%20b/"},
	}
	for _, tc := range tests {
		resp, body := rawGet(t, addr, tc.target, "Example.COM:9999")
		if resp.StatusCode != http.StatusMovedPermanently {
			t.Fatalf("%s: status %d", tc.target, resp.StatusCode)
		}
		if got := resp.Header.Get("Location"); got != tc.loc {
			t.Errorf("%s: Location %q, want %q", tc.target, got, tc.loc)
		}
		if !strings.Contains(body, "<center><h1>301 Moved Permanently</h1></center>") {
			t.Errorf("%s: body %q is not nginx's 301 page", tc.target, body)
		}
	}
	if be.count() != 0 {
		t.Errorf("backend saw %d requests, want 0", be.count())
	}
}

// TestLocationsReturnAndRewrite covers "return" (text and redirect),
// rewrite redirects, nested locations and the 404 of a location without a
// handler.
func TestLocationsReturnAndRewrite(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{
		{Match: "= /x", Return: &config.Return{Code: 200, Text: "exact $uri $arg_a\n"}},
		{Match: "/x", Return: &config.Return{Code: 200, Text: "prefix-x\n"}},
		{Match: "^~ /img/", Return: &config.Return{Code: 200, Text: "noregex-img\n"}},
		{Match: `~* \.(gif|jpg)$`, Return: &config.Return{Code: 200, Text: "regex-img\n"}},
		{Match: "/doc/", Return: &config.Return{Code: 200, Text: "prefix-doc\n"}},
		{Match: "/old/", Rewrites: []config.Rewrite{{Regex: "^/old/(.*)$", Replacement: "/new/$1", Flag: "permanent"}}},
		{Match: "/go", Return: &config.Return{Code: 302, Text: "http://elsewhere.example/"}},
		{Match: "/api/", ProxyPass: "http://one", Locations: []config.Location{
			{Match: "/api/static/"},
		}},
		{Match: "/gone", Return: &config.Return{Code: 410}},
	}, config.Upstream{Name: "one", Servers: servers(be.addr)})
	startProxy(t, cfg)
	tests := []struct {
		target string
		status int
		body   string
		loc    string
	}{
		{"/x?a=1", 200, "exact /x 1\n", ""},
		{"/xy", 200, "prefix-x\n", ""},
		{"/img/1.gif", 200, "noregex-img\n", ""},
		{"/doc/1.gif", 200, "regex-img\n", ""},
		{"/doc/1.txt", 200, "prefix-doc\n", ""},
		{"/IMG/2.JPG", 200, "regex-img\n", ""},
		{"/old/a?b=c", 301, "", "http://example.com:" + itoa(int(addr.Port())) + "/new/a?b=c"},
		{"/go", 302, "", "http://elsewhere.example/"},
		{"/api/static/x", 404, "", ""},
		{"/gone", 410, "", ""},
		{"/nothing", 404, "", ""},
	}
	for _, tc := range tests {
		resp, body := rawGet(t, addr, tc.target, "example.com")
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%q)", tc.target, resp.StatusCode, tc.status, body)
			continue
		}
		if tc.body != "" && body != tc.body {
			t.Errorf("%s: body %q, want %q", tc.target, body, tc.body)
		}
		if tc.loc != "" && resp.Header.Get("Location") != tc.loc {
			t.Errorf("%s: Location %q, want %q", tc.target, resp.Header.Get("Location"), tc.loc)
		}
	}
	if be.count() != 0 {
		t.Errorf("backend saw %d requests", be.count())
	}
}

// TestVirtualHosts routes by server_name (ngx_http_find_virtual_server):
// exact, wildcard, regex, then the default server.
func TestVirtualHosts(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	addr := freeAddr(t, "127.0.0.1")
	l := []config.HTTPListen{{Address: addr}}
	cfg := &config.HTTP{
		Servers: []config.HTTPServer{
			{Listen: l, ServerNames: []string{"a.example"}, Locations: []config.Location{{Match: "/", ProxyPass: "http://" + a.addr}}},
			{Listen: []config.HTTPListen{{Address: addr, Default: true}}, ServerNames: []string{"*.b.example"}, Locations: []config.Location{{Match: "/", ProxyPass: "http://" + b.addr}}},
			{Listen: l, ServerNames: []string{`~^c\d+\.example$`}, Locations: []config.Location{{Match: "/", ProxyPass: "http://" + c.addr}}},
		},
	}
	startProxy(t, cfg)
	hc := client(addr)
	for host, want := range map[string]string{
		"a.example": "a", "A.Example.:80": "a", "x.b.example": "b", "c42.example": "c", "unknown.example": "b",
	} {
		_, body := get(t, hc, "GET", "http://x/", http.Header{"Host": {host}}, "")
		if s := decode(t, body); s.Name != want {
			t.Errorf("Host %q went to %q, want %q", host, s.Name, want)
		}
	}
	// An implicit group (proxy_pass host:port) gets Host: host:port.
	_, body := get(t, hc, "GET", "http://x/", http.Header{"Host": {"a.example"}}, "")
	if s := decode(t, body); s.Host != a.addr {
		t.Errorf("Host %q, want %q ($proxy_host)", s.Host, a.addr)
	}
	resp, _ := rawGet(t, addr, "/", "bad..host")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("invalid Host: status %d, want 400", resp.StatusCode)
	}
}

// TestSetHeadersVariables: proxy_set_header with nginx variables, an
// empty value removing a header, and the Host override.
func TestSetHeadersVariables(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{
		{Match: "/", ProxyPass: "http://one", SetHeaders: []config.Header{
			{Name: "Host", Value: "$host"},
			{Name: "X-Real-IP", Value: "$remote_addr"},
			{Name: "X-URI", Value: "$request_uri|$uri|$args|$is_args"},
			{Name: "X-Scheme", Value: "$scheme"},
			{Name: "X-Foo-Copy", Value: "${http_x_foo}!"},
			{Name: "X-Arg", Value: "$arg_k"},
			{Name: "X-Cookie", Value: "$cookie_sid"},
			{Name: "X-Drop", Value: ""},
			{Name: "X-XFF", Value: "$proxy_add_x_forwarded_for"},
		}},
	}, config.Upstream{Name: "one", Servers: servers(be.addr)})
	startProxy(t, cfg)
	hc := client(addr)
	_, body := get(t, hc, "GET", "http://x/a/b?k=v", http.Header{
		"Host": {"Site.Example:8080"}, "X-Foo": {"bar"}, "X-Drop": {"secret"}, "Cookie": {"sid=42; o=1"},
	}, "")
	s := decode(t, body)
	want := map[string]string{
		"X-Real-Ip":  "127.0.0.1",
		"X-Uri":      "/a/b?k=v|/a/b|k=v|?",
		"X-Scheme":   "http",
		"X-Foo-Copy": "bar!",
		"X-Arg":      "v",
		"X-Cookie":   "42",
		"X-Xff":      "127.0.0.1",
		"Via":        "1.1 fulcrum",
	}
	for k, v := range want {
		if got := s.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if s.Host != "site.example" {
		t.Errorf("Host %q, want site.example ($host)", s.Host)
	}
	if _, ok := s.Header["X-Drop"]; ok {
		t.Errorf("X-Drop passed although set to \"\"")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
