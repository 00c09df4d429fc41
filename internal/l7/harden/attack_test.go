package harden

import (
	"fmt"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// outcome is what one stack must do with an attack.
type outcome struct {
	statuses []int    // every response the client reads, in order
	closed   bool     // the server must have closed the connection
	reached  []string // URI parts that must reach the backend
	blocked  []string // URI parts that must not reach the backend as a complete request
	check    func(t *testing.T, got []seen)
}

// attack is one row of the hardening table: raw bytes sent over one
// connection to a plain ReverseProxy on http.Server (which must show the
// weakness, or record that Go already handles it) and to the hardened stack
// (which must refuse with the right status and close).
type attack struct {
	name        string
	raw         string // "{P}" is replaced by the case's path prefix
	noCanary    bool
	plain, hard outcome
}

// canary is a benign request sent after the attack on the same connection:
// answered only if the server kept the connection.
const canary = "GET {P}canary HTTP/1.1\r\nHost: fulcrum.test\r\nConnection: close\r\n\r\n"

// tableLimits are the hardened stack's limits in the table: defaults, but a
// small body limit so that 413 is cheap to provoke.
var tableLimits = config.HTTPLimits{MaxBodyBytes: 1024}

func manyHeaders(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-H%d: v\r\n", i)
	}
	return b.String()
}

func header(name, want string) func(t *testing.T, got []seen) {
	return func(t *testing.T, got []seen) {
		t.Helper()
		if len(got) == 0 {
			t.Fatal("nothing reached the backend")
		}
		if v := got[0].header.Get(name); v != want {
			t.Errorf("backend got %s %q; want %q", name, v, want)
		}
	}
}

func method(m string) func(t *testing.T, got []seen) {
	return func(t *testing.T, got []seen) {
		t.Helper()
		for _, s := range got {
			if s.method == m {
				return
			}
		}
		t.Errorf("no %s reached the backend", m)
	}
}

func noMethod(m string) func(t *testing.T, got []seen) {
	return func(t *testing.T, got []seen) {
		t.Helper()
		for _, s := range got {
			if s.method == m {
				t.Errorf("%s %s reached the backend", m, s.uri)
			}
		}
	}
}

var attacks = []attack{
	// RFC 9112 §6.1: CL+TE must close. Go keeps the connection and answers
	// the smuggled request (reliability.md §0 gap 1).
	{
		name:  "CL.TE smuggling",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET {P}smuggled HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{200, 200, 200}, reached: []string{"smuggled", "canary"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a", "smuggled", "canary"}},
	},
	{
		name:  "TE.CL smuggling",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\nGET {P}smuggled HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{200, 200, 200}, reached: []string{"smuggled"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a", "smuggled"}},
	},
	{
		name:  "duplicate Content-Length, same value",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "conflicting Content-Length",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "Content-Length list",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 3, 3\r\n\r\nabc",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "Content-Length with plus",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: +3\r\n\r\nabc",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "space before colon",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length : 3\r\n\r\nabc",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "TE gzip",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: gzip\r\n\r\n",
		plain: outcome{statuses: []int{501}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "TE chunked twice",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
		plain: outcome{statuses: []int{501}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "TE on two lines",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		plain: outcome{statuses: []int{501}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "TE gzip, chunked",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		plain: outcome{statuses: []int{501}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{501}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		// Go ignores TE in HTTP/1.0 (transfer.go, issue 12785) and reads
		// the chunked body as the next request.
		name:  "TE in HTTP/1.0",
		raw:   "POST {P}a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		plain: outcome{statuses: []int{200, 400}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	// Chunk framing errors: Go's proxy answers 502 (reliability.md §0 gap 5).
	{
		name:  "chunk size not hex",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		plain: outcome{statuses: []int{502}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "chunk size negative",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
		plain: outcome{statuses: []int{502}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "chunk size 0x",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\n\r\n0x1\r\nx\r\n0\r\n\r\n",
		plain: outcome{statuses: []int{502}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "chunk size overflow",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n",
		plain: outcome{statuses: []int{502}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		// CVE-2025-22871.
		name:  "chunk line bare LF",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n",
		plain: outcome{statuses: []int{502}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "chunk data without CRLF",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n",
		plain: outcome{statuses: []int{502}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	// Size and count limits (gap 2: no header count limit in Go).
	{
		name:  "10k headers",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\n" + manyHeaders(10000) + "\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{431}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "head over MaxHeaderBytes",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nX-Big: " + strings.Repeat("b", 40<<10) + "\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{431}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "request-target over MaxHeaderBytes",
		raw:   "GET {P}a" + strings.Repeat("b", 40<<10) + " HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{414}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "body over MaxBodyBytes",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 2000\r\n\r\n" + strings.Repeat("b", 2000),
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{413}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "chunked body over MaxBodyBytes",
		raw:   "POST {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + strings.Repeat("b", 2000) + "\r\n0\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{413}, closed: true, blocked: []string{"{P}a"}},
	},
	// Field syntax (RFC 9112 §2.2, §5).
	{
		name:  "obs-fold",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nX-Fold: a\r\n b\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "bare LF line ends",
		raw:   "GET {P}a HTTP/1.1\nHost: fulcrum.test\n\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "bare CR in value",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nX: a\rb\r\n\r\n",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "NUL in value",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nX: a\x00b\r\n\r\n",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "NUL in request line",
		raw:   "GET {P}a\x00b HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "missing Host",
		raw:   "GET {P}a HTTP/1.1\r\nX: y\r\n\r\n",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "duplicate Host",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nHost: evil.example\r\n\r\n",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "HTTP/2.0 on an HTTP/1 connection",
		raw:   "GET {P}a HTTP/2.0\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{505}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{505}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:     "HTTP/0.9",
		raw:      "GET {P}a\r\n\r\n",
		noCanary: true,
		plain:    outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:     outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	// Proxy use, methods, paths (reliability.md §2.3, gap 4).
	{
		name:  "absolute-form for a foreign host",
		raw:   "GET http://evil.example{P}a HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}, check: header("X-Forwarded-Host", "evil.example")},
		hard:  outcome{statuses: []int{421, 200}, blocked: []string{"{P}a"}},
	},
	{
		name:  "absolute-form for the proxy itself",
		raw:   "GET http://fulcrum.test{P}a HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
	},
	{
		name:     "CONNECT",
		raw:      "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n",
		noCanary: true,
		plain:    outcome{statuses: []int{200}, check: method("CONNECT")},
		hard:     outcome{statuses: []int{405}, check: noMethod("CONNECT")},
	},
	{
		name:  "TRACE",
		raw:   "TRACE {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nCookie: secret=1\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a"}},
		hard:  outcome{statuses: []int{405, 200}, blocked: []string{"{P}a"}},
	},
	{
		name:  "encoded dot-dot above the root",
		raw:   "GET /%2e%2e{P}a HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"%2e%2e{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "dot-dot above the root",
		raw:   "GET {P}../../../../../a HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}../../../../../a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}"}},
	},
	{
		name:  "%00 in path",
		raw:   "GET {P}a%00.html HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, reached: []string{"{P}a%00"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	{
		name:  "bad percent-escape",
		raw:   "GET {P}a%zz HTTP/1.1\r\nHost: fulcrum.test\r\n\r\n",
		plain: outcome{statuses: []int{400}, blocked: []string{"{P}a"}},
		hard:  outcome{statuses: []int{400}, closed: true, blocked: []string{"{P}a"}},
	},
	// Forwarding headers and upgrades.
	{
		name:  "X-Real-IP from an untrusted client",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nX-Real-IP: 6.6.6.6\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, check: header("X-Real-Ip", "6.6.6.6")},
		hard:  outcome{statuses: []int{200, 200}, check: header("X-Real-Ip", "")},
	},
	{
		name:  "X_Forwarded_For with underscores",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nX_Forwarded_For: 6.6.6.6\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, check: header("X_Forwarded_For", "6.6.6.6")},
		hard:  outcome{statuses: []int{200, 200}, check: header("X_Forwarded_For", "")},
	},
	{
		name:  "Forwarded from an untrusted client",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, check: header("X-Forwarded-For", "127.0.0.1")},
		hard:  outcome{statuses: []int{200, 200}, check: header("X-Forwarded-For", "127.0.0.1")},
	},
	{
		name:  "h2c upgrade smuggling",
		raw:   "GET {P}a HTTP/1.1\r\nHost: fulcrum.test\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n",
		plain: outcome{statuses: []int{200, 200}, check: header("Upgrade", "h2c")},
		hard:  outcome{statuses: []int{200, 200}, check: header("Upgrade", "")},
	},
}

// TestAttackTable runs every attack against both stacks.
func TestAttackTable(t *testing.T) {
	be := newBackend(t)
	stacks := []struct {
		name string
		addr string
		want func(a attack) outcome
	}{
		{"plain", startPlain(t, proxyFor(be)), func(a attack) outcome { return a.plain }},
		{"hardened", startHardened(t, proxyFor(be), tableLimits, Options{}), func(a attack) outcome { return a.hard }},
	}
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			for i, a := range attacks {
				t.Run(a.name, func(t *testing.T) {
					prefix := fmt.Sprintf("/t/%s/%d/", st.name, i)
					raw := a.raw
					if !a.noCanary {
						raw += canary
					}
					raw = strings.ReplaceAll(raw, "{P}", prefix)
					before := be.count()
					ex := rawExchange(t, st.addr, raw, 3*time.Second)
					w := st.want(a)
					if !slices.Equal(ex.statuses, w.statuses) {
						t.Errorf("statuses %v; want %v (bodies %q)", ex.statuses, w.statuses, ex.bodies)
					}
					if w.closed && !ex.closed {
						t.Error("connection left open")
					}
					expand := func(r string) string {
						if strings.Contains(r, "{P}") {
							return strings.ReplaceAll(r, "{P}", prefix)
						}
						return prefix + r
					}
					for _, r := range w.reached {
						if len(be.requests(expand(r))) == 0 {
							t.Errorf("%q did not reach the backend", expand(r))
						}
					}
					for _, r := range w.blocked {
						for _, s := range be.requests(expand(r)) {
							if s.bodyErr == nil {
								t.Errorf("%s %s reached the backend complete", s.method, s.uri)
							}
						}
					}
					got := be.since(before)
					if w.check != nil {
						w.check(t, got)
					}
				})
			}
		})
	}
}

// TestTrustedProxyKeepsForwarding: from a peer in TrustedProxies the
// forwarding headers survive the Handler.
func TestTrustedProxyKeepsForwarding(t *testing.T) {
	be := newBackend(t)
	rp := proxyFor(be)
	// Keep the inbound X-Forwarded-For as Rewrite's documentation shows,
	// so the test sees what Handler let through.
	rp.Rewrite = func(pr *httputil.ProxyRequest) {
		pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
		pr.SetURL(be.url)
		pr.SetXForwarded()
	}
	lo := netip.MustParsePrefix("127.0.0.0/8")
	for _, tc := range []struct {
		name    string
		trusted bool
		wantXFF string
		wantXRI string
	}{
		{"trusted", true, "6.6.6.6, 127.0.0.1", "6.6.6.6"},
		{"untrusted", false, "127.0.0.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{}
			if tc.trusted {
				opt.TrustedProxies = []netip.Prefix{lo}
			}
			addr := startHardened(t, rp, config.HTTPLimits{}, opt)
			prefix := "/trust/" + tc.name + "/"
			ex := rawExchange(t, addr, strings.ReplaceAll("GET {P} HTTP/1.1\r\nHost: fulcrum.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nConnection: close\r\n\r\n", "{P}", prefix), 3*time.Second)
			if !slices.Equal(ex.statuses, []int{200}) {
				t.Fatalf("statuses %v", ex.statuses)
			}
			got := be.requests(prefix)
			if len(got) != 1 {
				t.Fatalf("backend got %d requests", len(got))
			}
			if v := got[0].header.Get("X-Forwarded-For"); v != tc.wantXFF {
				t.Errorf("X-Forwarded-For %q; want %q", v, tc.wantXFF)
			}
			if v := got[0].header.Get("X-Real-Ip"); v != tc.wantXRI {
				t.Errorf("X-Real-IP %q; want %q", v, tc.wantXRI)
			}
		})
	}
}
