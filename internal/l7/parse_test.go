package l7

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/balance"
	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

func TestParseMatch(t *testing.T) {
	tests := []struct {
		in, mod, pat string
		err          bool
	}{
		{"/", route.ModPrefix, "/", false},
		{"/img/", route.ModPrefix, "/img/", false},
		{"= /x", route.ModExact, "/x", false},
		{"=/x", route.ModExact, "/x", false},
		{"^~ /img/", route.ModPrefixNoRegex, "/img/", false},
		{"^~/img/", route.ModPrefixNoRegex, "/img/", false},
		{`~ \.php$`, route.ModRegex, `\.php$`, false},
		{`~\.php$`, route.ModRegex, `\.php$`, false},
		{`~* \.(gif|jpg)$`, route.ModRegexCaseless, `\.(gif|jpg)$`, false},
		{`~*\.jpg$`, route.ModRegexCaseless, `\.jpg$`, false},
		{"@fallback", route.ModNamed, "fallback", false},
		{"  = /x  ", route.ModExact, "/x", false},
		{"~ ^/a b$", route.ModRegex, "^/a b$", false},
		{"", "", "", true},
		{"=", "", "", true},
		{"~* ", "", "", true},
		{"=~ /x", "", "", true},
	}
	for _, tc := range tests {
		mod, pat, err := parseMatch(tc.in)
		if (err != nil) != tc.err || mod != tc.mod || pat != tc.pat {
			t.Errorf("parseMatch(%q) = %q %q %v, want %q %q err=%v", tc.in, mod, pat, err, tc.mod, tc.pat, tc.err)
		}
	}
}

func FuzzParseMatch(f *testing.F) {
	for _, s := range []string{"/", "= /x", "^~/a", "~* x", "@n", "~ (", " ", "=", "~ ~ ~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mod, pat, err := parseMatch(s)
		if err != nil {
			return
		}
		switch mod {
		case route.ModPrefix, route.ModExact, route.ModPrefixNoRegex, route.ModRegex, route.ModRegexCaseless, route.ModNamed:
		default:
			t.Fatalf("parseMatch(%q): modifier %q", s, mod)
		}
		if pat == "" {
			t.Fatalf("parseMatch(%q): empty pattern", s)
		}
		// The canonical two-word form reads back the same.
		canon := pat
		switch mod {
		case route.ModNamed:
			canon = "@" + pat
		case route.ModPrefix:
		default:
			canon = mod + " " + pat
		}
		m2, p2, err := parseMatch(canon)
		if mod != route.ModPrefix && (err != nil || m2 != mod || p2 != pat) {
			t.Fatalf("parseMatch(%q) = %q %q, but %q reads %q %q %v", s, mod, pat, canon, m2, p2, err)
		}
	})
}

// fakeVars resolves every variable to "<name>" and captures to "#n".
type fakeVars struct{ empty bool }

func (f fakeVars) variable(name string) (string, bool) {
	if f.empty {
		return "", false
	}
	return "<" + name + ">", true
}

func (f fakeVars) captures() []string {
	if f.empty {
		return nil
	}
	return []string{"#0", "#1", "#2", "#3", "#4", "#5", "#6", "#7", "#8", "#9"}
}

func TestParseTmpl(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"$host", "<host>"},
		{"${host}:$server_port", "<host>:<server_port>"},
		{"$Host", "<host>"},
		{"a$1b$2", "a#1b#2"},
		{"$http_x_foo!", "<http_x_foo>!"},
		{"$remote_addr, $proxy_add_x_forwarded_for", "<remote_addr>, <proxy_add_x_forwarded_for>"},
		{"${arg_k}s", "<arg_k>s"},
	}
	for _, tc := range tests {
		tm, err := parseTmpl(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := tm.expand(fakeVars{}); got != tc.want {
			t.Errorf("%q expands to %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"$", "x$", "${host", "${}", "$-"} {
		if _, err := parseTmpl(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	tm, _ := parseTmpl("$hots")
	if err := tm.check(); err == nil {
		t.Errorf("unknown variable accepted")
	}
}

var varRef = regexp.MustCompile(`\$([1-9]|\{[A-Za-z0-9_]*\}|[A-Za-z0-9_]+)`)

func FuzzParseTmpl(f *testing.F) {
	for _, s := range []string{"$host", "a${b}c", "$1$2", "$", "${", "x$y$z", "$$", "${a}b$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTmpl(s)
		if err != nil {
			return
		}
		// With every variable empty, the value is its literal text: the
		// input without its variable references.
		want := varRef.ReplaceAllString(s, "")
		if got := tm.expand(fakeVars{empty: true}); got != want {
			t.Fatalf("parseTmpl(%q) expands to %q, want %q", s, got, want)
		}
	})
}

func TestSplitProxyURL(t *testing.T) {
	tests := []struct{ in, scheme, host string }{
		{"http://up", "http", "up"},
		{"http://up/", "http", "up"},
		{"HTTPS://10.0.0.1:8443/api?x", "https", "10.0.0.1:8443"},
		{"http://[::1]:80/x", "http", "[::1]:80"},
		{"http://up?x=1", "http", "up"},
	}
	for _, tc := range tests {
		s, h, err := splitProxyURL(tc.in)
		if err != nil || s != tc.scheme || h != tc.host {
			t.Errorf("splitProxyURL(%q) = %q %q %v", tc.in, s, h, err)
		}
	}
	for _, bad := range []string{"ftp://x", "http://", "http:///x", "http://$host/", "up"} {
		if _, _, err := splitProxyURL(bad); err == nil {
			t.Errorf("splitProxyURL(%q): no error", bad)
		}
	}
}

func FuzzSplitProxyURL(f *testing.F) {
	for _, s := range []string{"http://a", "https://b:1/c", "http://?", "http:/", "https://[::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scheme, host, err := splitProxyURL(s)
		if err != nil {
			return
		}
		if (scheme != "http" && scheme != "https") || host == "" || !strings.Contains(s, host) || strings.ContainsAny(host, "/?$") {
			t.Fatalf("splitProxyURL(%q) = %q %q", s, scheme, host)
		}
	})
}

func TestRealClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.2/32")}
	peer := netip.MustParseAddrPort("127.0.0.2:5000")
	tests := []struct {
		peer netip.AddrPort
		xff  []string
		want string
	}{
		{netip.MustParseAddrPort("127.0.0.1:1"), []string{"1.2.3.4"}, "127.0.0.1"},
		{peer, nil, "127.0.0.2"},
		{peer, []string{"1.2.3.4"}, "1.2.3.4"},
		{peer, []string{"1.2.3.4, 10.0.0.9"}, "1.2.3.4"},
		{peer, []string{"6.6.6.6, 1.2.3.4", "10.1.1.1"}, "1.2.3.4"},
		{peer, []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{peer, []string{"garbage, 10.0.0.2"}, "10.0.0.2"},
		{peer, []string{"::ffff:1.2.3.4"}, "1.2.3.4"},
		{peer, []string{" , 2001:db8::1 ,"}, "2001:db8::1"},
	}
	for _, tc := range tests {
		h := http.Header{}
		for _, v := range tc.xff {
			h.Add("X-Forwarded-For", v)
		}
		if got := realClient(tc.peer, trusted, h).Addr().String(); got != tc.want {
			t.Errorf("%v from %s: %s, want %s", tc.xff, tc.peer, got, tc.want)
		}
	}
}

func FuzzRealClient(f *testing.F) {
	f.Add("1.2.3.4, 10.0.0.1", true)
	f.Add("::1,,x", false)
	f.Fuzz(func(t *testing.T, xff string, fromTrusted bool) {
		trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		peer := netip.MustParseAddrPort("192.0.2.1:1")
		if fromTrusted {
			peer = netip.MustParseAddrPort("10.9.9.9:1")
		}
		got := realClient(peer, trusted, http.Header{"X-Forwarded-For": {xff}})
		if !fromTrusted && got != peer {
			t.Fatalf("untrusted peer: client %s", got)
		}
		if got != peer && !strings.Contains(xff, strings.TrimPrefix(got.Addr().String(), "::ffff:")) {
			// The address must come from the header (possibly written
			// in another form of the same address).
			found := false
			for _, item := range strings.Split(xff, ",") {
				if a, err := netip.ParseAddr(strings.TrimSpace(item)); err == nil && a.Unmap().WithZone("") == got.Addr() {
					found = true
				}
			}
			if !found {
				t.Fatalf("client %s not named in %q", got, xff)
			}
		}
	})
}

func TestParseNextUpstream(t *testing.T) {
	m, err := parseNextUpstream([]string{"error", "timeout", "http_502", "non_idempotent"})
	if err != nil || m != ftError|ftTimeout|ftHTTP502|ftNonIdempotent {
		t.Errorf("mask %b %v", m, err)
	}
	for _, bad := range [][]string{{"http_501"}, {"off", "error"}} {
		if _, err := parseNextUpstream(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestParseBalance(t *testing.T) {
	tests := []struct {
		balance, hashType string
		want              balance.Method
	}{
		{"", "", balance.NginxRoundRobin},
		{"round_robin", "", balance.NginxRoundRobin},
		{"least_conn", "", balance.NginxLeastConn},
		{"ip_hash", "", balance.NginxIPHash},
		{"hash $request_uri", "", balance.NginxHash},
		{"hash $arg_k consistent", "", balance.NginxHashConsistent},
		{"random two least_conn", "", balance.NginxRandomTwo},
		{"roundrobin", "", balance.HAProxyRoundRobin},
		{"static-rr", "", balance.HAProxyStaticRR},
		{"leastconn", "", balance.HAProxyLeastConn},
		{"source", "consistent", balance.HAProxySource},
		{"uri whole", "", balance.HAProxyURI},
		{"hash path", "", balance.HAProxyHash},
		{"hdr(host)", "", balance.HAProxyHdr},
		{"ewma", "", balance.PeakEWMA},
	}
	for _, tc := range tests {
		c, err := parseBalance(config.Upstream{Balance: tc.balance, HashType: tc.hashType})
		if err != nil || c.Method != tc.want {
			t.Errorf("%q %q: %v %v, want %v", tc.balance, tc.hashType, c.Method, err, tc.want)
		}
	}
	for _, bad := range []string{"fastest", "round_robin x", "least_conn 2"} {
		if _, err := parseBalance(config.Upstream{Balance: bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := haproxySample("req.body"); err == nil {
		t.Errorf("unsupported sample accepted")
	}
}

func TestClassify(t *testing.T) {
	refused := &dialError{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}
	timeout := &dialError{&net.OpError{Op: "dial", Err: timeoutErr{}}}
	tests := []struct {
		err    error
		ft     ftMask
		status int
		sent   bool
	}{
		{refused, ftError, 502, false},
		{fmt.Errorf("wrapped: %w", timeout), ftTimeout, 504, false},
		{errUpstreamTimeout, ftTimeout, 504, true},
		{errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP response "x"`), ftInvalidHeader, 502, true},
		{errors.New("read: connection reset by peer"), ftError, 502, true},
	}
	for _, tc := range tests {
		ft, status, sent := classify(tc.err)
		if ft != tc.ft || status != tc.status || sent != tc.sent {
			t.Errorf("%v: %b %d %v, want %b %d %v", tc.err, ft, status, sent, tc.ft, tc.status, tc.sent)
		}
	}
	if statusFT(502) != ftHTTP502 || statusFT(200) != 0 || statusFT(429) != ftHTTP429 {
		t.Errorf("statusFT")
	}
	if !nonIdempotent("POST") || !nonIdempotent("LOCK") || nonIdempotent("PUT") {
		t.Errorf("nonIdempotent")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestForwardedElement(t *testing.T) {
	if got := forwardedElement(netip.MustParseAddr("2001:db8::1"), "2001:db8::1", "h:8080", "https"); got != `for="[2001:db8::1]";host="h:8080";proto=https` {
		t.Errorf("got %s", got)
	}
	if got := forwardedElement(netip.MustParseAddr("::ffff:192.0.2.1"), "192.0.2.1", "", "http"); got != "for=192.0.2.1;proto=http" {
		t.Errorf("got %s", got)
	}
}

func TestErrorPage(t *testing.T) {
	want := "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>fulcrum</center>\r\n</body>\r\n</html>\r\n"
	if got := errorPage(504); got != want {
		t.Errorf("got %q", got)
	}
}
