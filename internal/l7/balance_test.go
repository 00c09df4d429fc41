package l7

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/balance"
)

// TestSmoothWRRSequence: nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer) with weights 5,1,1 gives a a b a c a a, as
// real nginx 1.22 does (l7.md §1.1 [V]).
func TestSmoothWRRSequence(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://w511"}},
		config.Upstream{Name: "w511", Servers: []config.UpstreamServer{
			{Address: a.addr, Weight: 5}, {Address: b.addr}, {Address: c.addr},
		}})
	startProxy(t, cfg)
	hc := client(addr)
	var got strings.Builder
	for range 14 {
		_, body := get(t, hc, "GET", "http://x/", nil, "")
		got.WriteString(decode(t, body).Name)
	}
	if want := "aabacaaaabacaa"; got.String() != want {
		t.Errorf("sequence %s, want %s", got.String(), want)
	}
}

// TestHAProxyRoundRobinSequence: the same weights under HAProxy's
// roundrobin give a a a b a a c (l7.md §2 [V]).
func TestHAProxyRoundRobinSequence(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://rr"}},
		config.Upstream{Name: "rr", Balance: "roundrobin", Servers: []config.UpstreamServer{
			{Address: a.addr, Weight: 5}, {Address: b.addr}, {Address: c.addr},
		}})
	startProxy(t, cfg)
	hc := client(addr)
	var got strings.Builder
	for range 7 {
		_, body := get(t, hc, "GET", "http://x/", nil, "")
		got.WriteString(decode(t, body).Name)
	}
	if want := "aaabaac"; got.String() != want {
		t.Errorf("sequence %s, want %s", got.String(), want)
	}
}

// TestHashMappingsMatchBalance: the keys the proxy evaluates from nginx
// variables ("hash $arg_k", ketama "consistent", ip_hash) and HAProxy
// fetches (hdr) reach the same servers as the balance package computes
// for the same key directly.
func TestHashMappingsMatchBalance(t *testing.T) {
	bes := []*backend{newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")}
	var peers []balance.Peer
	for _, b := range bes {
		peers = append(peers, balance.Peer{Name: b.addr, Addr: b.addr})
	}
	cases := []struct {
		balance string
		key     func(i int) (url string, hdr http.Header, req balance.Request)
	}{
		{"hash $arg_k", func(i int) (string, http.Header, balance.Request) {
			k := "key" + strconv.Itoa(i)
			return "http://x/?k=" + k, nil, balance.Request{Key: k}
		}},
		{"hash $arg_k consistent", func(i int) (string, http.Header, balance.Request) {
			k := "user-" + strconv.Itoa(i*7)
			return "http://x/p?k=" + k, nil, balance.Request{Key: k}
		}},
		{"hash $request_uri", func(i int) (string, http.Header, balance.Request) {
			u := "/page/" + strconv.Itoa(i) + "?x=" + strconv.Itoa(i%3)
			return "http://x" + u, nil, balance.Request{Key: u}
		}},
		{"hdr(X-User)", func(i int) (string, http.Header, balance.Request) {
			v := "u" + strconv.Itoa(i)
			h := http.Header{"X-User": {v}}
			return "http://x/", h, balance.Request{Header: h}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.balance, func(t *testing.T) {
			addr := freeAddr(t, "127.0.0.1")
			up := config.Upstream{Name: "h", Balance: tc.balance}
			for _, b := range bes {
				up.Servers = append(up.Servers, config.UpstreamServer{Address: b.addr})
			}
			startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://h"}}, up))
			bcfg, err := parseBalance(up)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := balance.New(bcfg, peers, balance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			hc := client(addr)
			spread := map[string]int{}
			for i := range 40 {
				url, hdr, breq := tc.key(i)
				sel, err := ref.Pick(&breq)
				if err != nil {
					t.Fatal(err)
				}
				want := bes[sel.Index()].name
				sel.Done(true)
				_, body := get(t, hc, "GET", url, hdr, "")
				if got := decode(t, body).Name; got != want {
					t.Fatalf("request %d (%s): went to %s, balance says %s", i, url, got, want)
				}
				spread[want]++
			}
			if len(spread) < 2 {
				t.Errorf("keys all mapped to one server: %v", spread)
			}
		})
	}
}

// TestIPHash: ip_hash hashes the first three octets, so every 127.0.0.x
// client lands on the same server, the third of three (l7.md §1.2 [V]).
func TestIPHash(t *testing.T) {
	bes := []*backend{newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")}
	addr := freeAddr(t, "127.0.0.1")
	up := config.Upstream{Name: "iph", Balance: "ip_hash"}
	for _, b := range bes {
		up.Servers = append(up.Servers, config.UpstreamServer{Address: b.addr})
	}
	startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://iph"}}, up))
	for _, src := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.77"} {
		hc := clientFrom(addr, src)
		for range 3 {
			_, body := get(t, hc, "GET", "http://x/", nil, "")
			if got := decode(t, body).Name; got != "c" {
				t.Errorf("client %s went to %s, want c", src, got)
			}
		}
	}
}

// clientFrom is client() with a chosen source address.
func clientFrom(addr netip.AddrPort, src string) *http.Client {
	c := client(addr)
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr.String())
	}
	return c
}

// TestRouteMatchers: routes are tried in order, all conditions of a route
// must hold, the location's proxy_pass is the fallback.
func TestRouteMatchers(t *testing.T) {
	names := []string{"zh", "en", "mobile", "hdr", "cookie", "query", "method", "src", "default"}
	bes := map[string]*backend{}
	for _, n := range names {
		bes[n] = newBackend(t, n)
	}
	pp := func(n string) string { return "http://" + bes[n].addr }
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{
		{Match: "/lang/", ProxyPass: pp("default"), Routes: []config.HTTPRoute{
			{Match: config.RouteMatch{Languages: []string{"zh"}}, ProxyPass: pp("zh")},
			{Match: config.RouteMatch{Languages: []string{"en"}}, ProxyPass: pp("en")},
		}},
		{Match: "/", ProxyPass: pp("default"), Routes: []config.HTTPRoute{
			{Match: config.RouteMatch{UserAgents: []string{"mobile"}}, ProxyPass: pp("mobile")},
			{Match: config.RouteMatch{Headers: []config.HeaderMatch{{Name: "X-Tenant", Regex: "^blue-[0-9]+$"}}}, ProxyPass: pp("hdr")},
			{Match: config.RouteMatch{Cookies: []config.HeaderMatch{{Name: "beta", Value: "1"}}}, ProxyPass: pp("cookie")},
			{Match: config.RouteMatch{Query: []config.HeaderMatch{{Name: "v", Value: "2"}}}, ProxyPass: pp("query")},
			{Match: config.RouteMatch{Methods: []string{"DELETE"}}, ProxyPass: pp("method")},
			{Match: config.RouteMatch{Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}}, ProxyPass: pp("src")},
		}},
	})
	startProxy(t, cfg)
	hc := client(addr)
	const (
		iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
		chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
	)
	tests := []struct {
		name   string
		method string
		url    string
		hdr    http.Header
		src    string
		want   string
	}{
		// Accept-Language with q-values across the location's languages.
		{"zh preferred", "GET", "http://x/lang/", http.Header{"Accept-Language": {"zh-CN;q=0.9, en;q=0.8"}}, "", "zh"},
		{"en preferred", "GET", "http://x/lang/", http.Header{"Accept-Language": {"en, zh;q=0.5"}}, "", "en"},
		{"en-US matches en", "GET", "http://x/lang/", http.Header{"Accept-Language": {"fr;q=1, en-US;q=0.7"}}, "", "en"},
		{"no language", "GET", "http://x/lang/", http.Header{"Accept-Language": {"fr"}}, "", "default"},
		{"mobile UA", "GET", "http://x/", http.Header{"User-Agent": {iphone}}, "", "mobile"},
		{"desktop UA", "GET", "http://x/", http.Header{"User-Agent": {chrome}}, "", "default"},
		{"header regex", "GET", "http://x/", http.Header{"X-Tenant": {"blue-17"}}, "", "hdr"},
		{"header regex miss", "GET", "http://x/", http.Header{"X-Tenant": {"blue-x"}}, "", "default"},
		{"cookie", "GET", "http://x/", http.Header{"Cookie": {"a=b; beta=1"}}, "", "cookie"},
		{"query", "GET", "http://x/?v=2", nil, "", "query"},
		{"method", "DELETE", "http://x/", nil, "", "method"},
		{"source", "GET", "http://x/", nil, "127.0.0.3", "src"},
		{"first match wins", "GET", "http://x/?v=2", http.Header{"User-Agent": {iphone}}, "", "mobile"},
	}
	for _, tc := range tests {
		c := hc
		if tc.src != "" {
			c = clientFrom(addr, tc.src)
		}
		_, body := get(t, c, tc.method, tc.url, tc.hdr, "")
		if got := decode(t, body).Name; got != tc.want {
			t.Errorf("%s: went to %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestStickyCookieFailover: HAProxy "cookie SRV insert" behaviour
// (l7.md §2 [V]): the first response sets "SRV=s1; path=/", a request with
// a valid cookie sticks without Set-Cookie; when the bound server dies the
// request is re-balanced with a new cookie, which then sticks.
func TestStickyCookieFailover(t *testing.T) {
	s1, s2 := newBackend(t, "s1"), newBackend(t, "s2")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://ck"}},
		config.Upstream{Name: "ck", Balance: "roundrobin", Sticky: &config.Sticky{Cookie: "SRV"},
			Servers: []config.UpstreamServer{{Address: s1.addr, Cookie: "s1"}, {Address: s2.addr, Cookie: "s2"}}})
	startProxy(t, cfg)
	hc := client(addr)

	resp, body := get(t, hc, "GET", "http://x/", nil, "")
	if got := decode(t, body).Name; got != "s1" {
		t.Fatalf("first request went to %s", got)
	}
	if sc := resp.Header.Values("Set-Cookie"); len(sc) != 1 || sc[0] != "SRV=s1; path=/" {
		t.Fatalf("Set-Cookie %q, want [SRV=s1; path=/]", sc)
	}
	for range 4 {
		resp, body = get(t, hc, "GET", "http://x/", http.Header{"Cookie": {"SRV=s1"}}, "")
		if got := decode(t, body).Name; got != "s1" {
			t.Fatalf("bound request went to %s", got)
		}
		if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Fatalf("bound request got Set-Cookie %q", sc)
		}
	}
	// An unknown value is re-balanced with a new cookie.
	resp, body = get(t, hc, "GET", "http://x/", http.Header{"Cookie": {"SRV=nope"}}, "")
	name := decode(t, body).Name
	if sc := resp.Header.Get("Set-Cookie"); sc != "SRV="+name+"; path=/" {
		t.Fatalf("unknown cookie: Set-Cookie %q for %s", sc, name)
	}

	s1.close()
	for i := range 3 {
		resp, body = get(t, hc, "GET", "http://x/", http.Header{"Cookie": {"SRV=s1"}}, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after kill #%d: status %d", i, resp.StatusCode)
		}
		if got := decode(t, body).Name; got != "s2" {
			t.Fatalf("after kill #%d: went to %s", i, got)
		}
		if sc := resp.Header.Get("Set-Cookie"); sc != "SRV=s2; path=/" {
			t.Fatalf("after kill #%d: Set-Cookie %q, want SRV=s2; path=/", i, sc)
		}
	}
	for range 3 {
		resp, body = get(t, hc, "GET", "http://x/", http.Header{"Cookie": {"SRV=s2"}}, "")
		if got := decode(t, body).Name; got != "s2" {
			t.Fatalf("re-bound request went to %s", got)
		}
		if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Fatalf("re-bound request got Set-Cookie %q", sc)
		}
	}
}

// TestStickyCookieAttributes: path, Max-Age, HttpOnly and Secure on the
// inserted cookie.
func TestStickyCookieAttributes(t *testing.T) {
	s1 := newBackend(t, "s1")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://ck"}},
		config.Upstream{Name: "ck", Sticky: &config.Sticky{Cookie: "route", Path: "/app", Timeout: time.Hour, HTTPOnly: true, Secure: true},
			Servers: []config.UpstreamServer{{Address: s1.addr}}})
	startProxy(t, cfg)
	resp, _ := get(t, client(addr), "GET", "http://x/", nil, "")
	want := "route=" + s1.addr + "; path=/app; Max-Age=3600; HttpOnly; Secure"
	if got := resp.Header.Get("Set-Cookie"); got != want {
		t.Errorf("Set-Cookie %q, want %q", got, want)
	}
}

// TestSourcePersistence: with sticky source a client keeps its server
// while round robin would move it.
func TestSourcePersistence(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://src"}},
		config.Upstream{Name: "src", Sticky: &config.Sticky{Source: true}, Servers: servers(a.addr, b.addr)})
	p := startProxy(t, cfg)
	first := map[string]string{}
	for round := range 3 {
		for _, src := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
			_, body := get(t, clientFrom(addr, src), "GET", "http://x/", nil, "")
			name := decode(t, body).Name
			if round == 0 {
				first[src] = name
			} else if name != first[src] {
				t.Errorf("client %s moved from %s to %s", src, first[src], name)
			}
		}
	}
	if n := p.Status().Upstreams[0].Sticky; n != 3 {
		t.Errorf("persistence table has %d entries, want 3", n)
	}
}

// TestBackupAndDown: a "down" server never gets traffic; backup servers
// serve only when every primary has failed (ngx_http_upstream_get_peer
// falls back to the backup list).
func TestBackupAndDown(t *testing.T) {
	prim, off, bk := newBackend(t, "primary"), newBackend(t, "off"), newBackend(t, "backup")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: []config.UpstreamServer{
			{Address: prim.addr}, {Address: off.addr, Down: true}, {Address: bk.addr, Backup: true},
		}})
	p := startProxy(t, cfg)
	hc := client(addr)
	for range 4 {
		_, body := get(t, hc, "GET", "http://x/", nil, "")
		if n := decode(t, body).Name; n != "primary" {
			t.Fatalf("went to %s while the primary is up", n)
		}
	}
	prim.close()
	for range 3 {
		resp, body := get(t, hc, "GET", "http://x/", nil, "")
		if resp.StatusCode != 200 || decode(t, body).Name != "backup" {
			t.Fatalf("primary dead: %d %q", resp.StatusCode, body)
		}
	}
	if off.count() != 0 {
		t.Errorf("the down server saw %d requests", off.count())
	}
	peers := p.Status().Upstreams[0].Peers
	if peers[1].State != PeerDown || !peers[2].Backup || peers[0].Fails == 0 {
		t.Errorf("peer status %+v", peers)
	}
}
