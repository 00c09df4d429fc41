package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/l7/balance"
	"github.com/fulcrumlb/fulcrum/internal/l7/wstest"
)

// httpBackend is an HTTP real server that names itself in X-Backend and
// echoes the request target it received; it also echoes WebSockets.
type httpBackend struct {
	name, addr string
	srv        *http.Server
}

func startHTTPBackend(t *testing.T, name, addr string) *httpBackend {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ws := wstest.Echo(name)
	b := &httpBackend{name: name, addr: addr, srv: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ws(w, r) {
			return
		}
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s %s", name, r.RequestURI)
	})}}
	go b.srv.Serve(l)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *httpBackend) stop() { b.srv.Close() }

// get sends one request (a fresh connection each time unless client keeps
// them) and returns the status, the backend's name and the body.
func get(t *testing.T, c *http.Client, url string, hdr ...string) (int, string, string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Backend"), string(b), resp
}

func noRedirects() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// The seed's nginx tier through the real binary: nginx location and
// proxy_pass rules, nginx's smooth weighted round robin, language routing
// with q-values, cookie persistence across a backend failure, and a
// WebSocket that survives `fulcrum reload`.
func TestL7ThroughTheBinary(t *testing.T) {
	ip := "127.0.19.1"
	port := freePort(t, ip)
	front := fmt.Sprintf("http://%s:%d", ip, port)
	bk := map[string]*httpBackend{}
	for i, name := range []string{"a", "b", "c", "zh", "en", "s1", "s2", "ws"} {
		addr := fmt.Sprintf("127.0.19.%d:%d", 11+i, freePort(t, fmt.Sprintf("127.0.19.%d", 11+i)))
		bk[name] = startHTTPBackend(t, name, addr)
	}
	conf := func(extra string) string {
		return fmt.Sprintf(`services: []
http:
  servers:
    - listen: ["%s:%d"]
      locations:
        - {match: /p1/, proxy_pass: "http://swrr/"}
        - {match: /p2/, proxy_pass: "http://swrr"}
        - {match: /p3/, proxy_pass: "http://swrr/api/"}
        - {match: /p4/, proxy_pass: "http://swrr/api"}
        - {match: "= /exact", proxy_pass: "http://swrr"}
        - {match: "~* \\.(gif|jpg)$", proxy_pass: "http://swrr"}
        - match: /lang/
          routes:
            - {match: {languages: [zh]}, proxy_pass: "http://zh"}
            - {match: {languages: [en]}, proxy_pass: "http://en"}
        - {match: /sticky/, proxy_pass: "http://sticky"}
        - {match: /ws/, proxy_pass: "http://ws"}
        - {match: /seq/, proxy_pass: "http://seq"}
        - {match: /hash/, proxy_pass: "http://hashed"}
%s  upstreams:
    - name: hashed
      balance: hash $request_uri consistent
      servers: ["%s", "%s", "%s"]
    - name: seq
      servers: ["%s weight=5", "%s", "%s"]
    - name: swrr
      servers: ["%s weight=5", "%s", "%s"]
    - {name: zh, servers: ["%s"]}
    - {name: en, servers: ["%s"]}
    - name: sticky
      sticky: {cookie: SRV}
      servers:
        - {address: "%s", cookie: s1}
        - {address: "%s", cookie: s2}
    - {name: ws, servers: ["%s"]}
`, ip, port, extra, bk["a"].addr, bk["b"].addr, bk["c"].addr, bk["a"].addr, bk["b"].addr, bk["c"].addr, bk["a"].addr, bk["b"].addr, bk["c"].addr, bk["zh"].addr, bk["en"].addr,
			bk["s1"].addr, bk["s2"].addr, bk["ws"].addr)
	}
	n := start(t, conf(""))
	c := noRedirects()

	// nginx proxy_pass URI rules (ngx_http_proxy_create_request), through the real binary.
	for _, tc := range []struct{ path, want string }{
		{"/p1/abc.html", "/abc.html"},
		{"/p2/abc.html", "/p2/abc.html"},
		{"/p3/abc.html", "/api/abc.html"},
		{"/p4/abc.html", "/apiabc.html"},
		{"/p1/x//y/../z", "/x/z"},
		{"/p2/x//y/../z", "/p2/x//y/../z"},
	} {
		_, _, body, _ := get(t, c, front+tc.path)
		if got := body[strings.IndexByte(body, ' ')+1:]; got != tc.want {
			t.Errorf("GET %s: upstream saw %q, want %q", tc.path, got, tc.want)
		}
	}
	// The 301 for a missing trailing slash keeps the arguments (ngx_http_core_find_location).
	if st, _, _, resp := get(t, c, front+"/p1?a=1"); st != 301 || !strings.HasSuffix(resp.Header.Get("Location"), "/p1/?a=1") {
		t.Errorf("GET /p1?a=1: %d Location %q, want 301 to /p1/?a=1", st, resp.Header.Get("Location"))
	}

	// nginx smooth weighted round robin, 5,1,1 -> a a b a c a a (a fresh upstream).
	var seq []string
	for range 7 {
		_, who, _, _ := get(t, c, front+"/seq/")
		seq = append(seq, who)
	}
	if got := strings.Join(seq, " "); got != "a a b a c a a" {
		t.Errorf("smooth WRR 5,1,1 = %q, want a a b a c a a", got)
	}

	// hash $request_uri consistent: the binary maps every key as nginx's ketama does (the balance package is
	// checked against nginx 1.22 itself), and a key always reaches the same server.
	cfg, err := balance.ParseNginx("hash $request_uri consistent")
	if err != nil {
		t.Fatal(err)
	}
	var peers []balance.Peer
	for _, name := range []string{"a", "b", "c"} {
		peers = append(peers, balance.Peer{Name: bk[name].addr, Addr: bk[name].addr, Weight: 1})
	}
	model, err := balance.New(cfg, peers, balance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		uri := fmt.Sprintf("/hash/key%d", i)
		sel, err := model.Pick(&balance.Request{Key: uri, URI: uri})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{bk["a"].addr: "a", bk["b"].addr: "b", bk["c"].addr: "c"}[sel.Peer().Addr]
		sel.Done(true)
		for range 2 {
			if _, who, _, _ := get(t, c, front+uri); who != want {
				t.Fatalf("%s reached %s, ketama says %s", uri, who, want)
			}
		}
	}

	// Accept-Language with q-values.
	for _, tc := range []struct{ lang, want string }{
		{"zh-CN,zh;q=0.9,en;q=0.8", "zh"},
		{"en-US,en;q=0.9,zh;q=0.5", "en"},
		{"fr, zh;q=0.1, en;q=0.2", "en"},
	} {
		if _, who, _, _ := get(t, c, front+"/lang/", "Accept-Language", tc.lang); who != tc.want {
			t.Errorf("Accept-Language %q reached %q, want %q", tc.lang, who, tc.want)
		}
	}

	// Cookie persistence (HAProxy cookie SRV insert): bound, then re-balanced when the server dies.
	_, first, _, resp := get(t, c, front+"/sticky/")
	cookie := resp.Header.Get("Set-Cookie")
	if !strings.HasPrefix(cookie, "SRV=") {
		t.Fatalf("first sticky response sets %q, want SRV=...", cookie)
	}
	val := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "SRV=")
	for range 3 {
		_, who, _, resp := get(t, c, front+"/sticky/", "Cookie", "SRV="+val)
		if who != first || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("with SRV=%s the request reached %s (bound to %s), Set-Cookie %q", val, who, first, resp.Header.Get("Set-Cookie"))
		}
	}
	bk[first].stop()
	_, who, _, resp := get(t, c, front+"/sticky/", "Cookie", "SRV="+val)
	other := map[string]string{"s1": "s2", "s2": "s1"}[first]
	if who != other || !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "SRV="+other) {
		t.Fatalf("bound server %s is down: reached %q with Set-Cookie %q, want %s and a new cookie", first, who, resp.Header.Get("Set-Cookie"), other)
	}

	// A WebSocket keeps working through `fulcrum reload`.
	ws, err := wstest.Dial(fmt.Sprintf("%s:%d", ip, port), "/ws/")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if got, err := ws.Echo("hello"); err != nil || got != "ws:hello" {
		t.Fatalf("WebSocket echo: %q %v", got, err)
	}
	n.writeConfig(conf("        - {match: /new/, return: \"200 reloaded\"}\n"))
	if out, errOut, code := n.fulcrum("", "reload"); code != 0 {
		t.Fatalf("reload: %d %s%s", code, out, errOut)
	}
	if st, _, body, _ := get(t, c, front+"/new/"); st != 200 || body != "reloaded" {
		t.Fatalf("the reloaded config is not serving: %d %q", st, body)
	}
	if got, err := ws.Echo("still there"); err != nil || got != "ws:still there" {
		t.Fatalf("the WebSocket did not survive the reload: %q %v", got, err)
	}
}
