package route

import (
	"errors"
	"strings"
	"testing"
)

// upstreamFor routes one request through a single location and returns
// the upstream request-target.
func upstreamFor(t *testing.T, loc *Location, target string) string {
	t.Helper()
	m := mustCompile(t, []*Location{loc})
	u, err := ParseURI(target, true)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	st := NewState(u)
	d, err := (&Router{Locations: m}).Route(st)
	if err != nil || d.Status != 0 || d.Location != loc {
		t.Fatalf("%s: routed to %v status %d err %v", target, name(d.Location), d.Status, err)
	}
	return loc.Handler.(ProxyPass).UpstreamURI(loc, st)
}

// l7.md §1.6: every row was verified against nginx 1.22; the rules are
// those of ngx_http_proxy_create_request.
func TestUpstreamURI_ngx_http_proxy_create_request_l7md16(t *testing.T) {
	tests := []struct {
		mod, pat, proxy string
		rewrites        []Directive
		target, want    string
	}{
		{"", "/p1/", "http://up/", nil, "/p1/abc.html", "/abc.html"},
		{"", "/p2/", "http://up", nil, "/p2/abc.html", "/p2/abc.html"},
		{"", "/p3/", "http://up/api/", nil, "/p3/abc.html", "/api/abc.html"},
		{"", "/p4/", "http://up/api", nil, "/p4/abc.html", "/apiabc.html"},
		{"", "/p5", "http://up/", nil, "/p5/abc.html", "//abc.html"},
		{"", "/p6", "http://up/api", nil, "/p6/abc.html", "/api/abc.html"},
		{"~", "^/re/", "http://up", nil, "/re/abc.html", "/re/abc.html"},
		{"", "/rw/", "http://up/ignored/", []Directive{&Rewrite{Regex: `^/rw/(.*)$`, Replacement: "/new/$1", Flag: "break"}}, "/rw/abc.html", "/new/abc.html"},
		{"", "/p1/", "http://up/", nil, "/p1/a%2Fb?q=1", "/a/b?q=1"},
		{"", "/p2/", "http://up", nil, "/p2/a%2Fb?q=1", "/p2/a%2Fb?q=1"},
		{"", "/p1/", "http://up/", nil, "/p1/x//y/../z", "/x/z"},
		{"", "/p2/", "http://up", nil, "/p2/x//y/../z", "/p2/x//y/../z"},
		{"", "/p1/", "http://up/", nil, "/p1/%7Euser", "/~user"},
	}
	for _, tt := range tests {
		loc := &Location{Modifier: tt.mod, Pattern: tt.pat, AutoRedirect: true, Rewrites: tt.rewrites, Handler: ProxyPass{URL: tt.proxy}}
		if got := upstreamFor(t, loc, tt.target); got != tt.want {
			t.Errorf("location %s %s, proxy_pass %s, %s: upstream %q, want %q", tt.mod, tt.pat, tt.proxy, tt.target, got, tt.want)
		}
	}
}

// Escaping and the fragment (confirmed by TestNginxOracle): with a URI
// part the path is re-escaped with NGX_ESCAPE_URI only when the request
// had a "%" in its path; without one the original target, fragment
// included, goes out untouched.
func TestUpstreamURI_escaping(t *testing.T) {
	p1 := func() *Location {
		return &Location{Pattern: "/p1/", AutoRedirect: true, Handler: ProxyPass{URL: "http://up/"}}
	}
	p2 := func() *Location {
		return &Location{Pattern: "/p2/", AutoRedirect: true, Handler: ProxyPass{URL: "http://up"}}
	}
	tests := []struct {
		loc          *Location
		target, want string
	}{
		{p1(), "/p1/a%22b%3C%3E%5E%60%7B%7C%7D%20c", "/a%22b%3C%3E%5E%60%7B%7C%7D%20c"},
		{p1(), `/p1/a"b`, `/a"b`},
		{p1(), `/p1/a"b%41`, "/a%22bA"},
		{p1(), "/p1/%3F%23%25?a=%3F", "/%3F%23%25?a=%3F"},
		{p1(), "/p1/a+b%2B?x", "/a+b+?x"},
		{p1(), "/p1/%C3%A9", "/%C3%A9"},
		{p1(), "/p1/\xc3\xa9", "/\xc3\xa9"},
		{p1(), "/p1/a#frag", "/a"},
		{p1(), "/p1/a?b#c", "/a?b"},
		{p2(), "/p2/a#frag", "/p2/a#frag"},
		{p2(), "/p2//x/./y?z", "/p2//x/./y?z"},
		{p2(), "http://h/p2/x?y", "/p2/x?y"},
		{p1(), "http://h/p1/x?y", "/x?y"},
	}
	for _, tt := range tests {
		if got := upstreamFor(t, tt.loc, tt.target); got != tt.want {
			t.Errorf("%s: upstream %q, want %q", tt.target, got, tt.want)
		}
	}
}

// Rule 4: with variables and a URI part the expanded URI is sent as is,
// without args; variables without a URI part behave like rule 2.
func TestUpstreamURI_variables(t *testing.T) {
	v := &Location{Pattern: "/var/", Handler: ProxyPass{URL: "http://up/x$uri"}}
	if got := upstreamFor(t, v, "/var/abc?q=1"); got != "/x/var/abc" {
		t.Errorf("vars with URI part: %q", got)
	}
	n := &Location{Pattern: "/varn/", Handler: ProxyPass{URL: "http://up$request_uri"}}
	if got := upstreamFor(t, n, "/varn/abc?q=1"); got != "/varn/abc?q=1" {
		t.Errorf("vars expanding to a URI part: %q", got)
	}
	h := &Location{Pattern: "/h/", Handler: ProxyPass{URL: "http://$backend"}}
	if got := upstreamFor(t, h, "/h/a%20b?q"); got != "/h/a%20b?q" {
		t.Errorf("vars without URI part: %q", got)
	}
	qs := &Location{Pattern: "/qs/", Handler: ProxyPass{URL: "http://up?$args"}}
	if got := upstreamFor(t, qs, "/qs/a?k=v"); got != "/?k=v" {
		t.Errorf("URI part starting with ?: %q", got)
	}
}

// Rule 3: a URI part is a configuration error where there is no prefix
// to replace (ngx_http_proxy_pass; messages as nginx -t prints them).
func TestProxyPassCheck_ngx_http_proxy_pass(t *testing.T) {
	prefix := &Location{Pattern: "/a"}
	regex := &Location{Modifier: ModRegex, Pattern: "/b"}
	named := &Location{Modifier: ModNamed, Pattern: "n"}
	tests := []struct {
		url   string
		loc   *Location
		block Block
		want  error
	}{
		{"http://up/x", prefix, InLocation, nil},
		{"http://up", regex, InLocation, nil},
		{"http://up/x", regex, InLocation, ErrURIPartNotAllowed},
		{"http://up/", named, InLocation, ErrURIPartNotAllowed},
		{"http://up/y", prefix, InIf, ErrURIPartNotAllowed},
		{"http://up/y", prefix, InLimitExcept, ErrURIPartNotAllowed},
		{"http://up", prefix, InIf, nil},
		{"http://127.0.0.1:1$uri", regex, InLocation, nil},
		{"http://$h/x$uri", regex, InLocation, nil},
		{"https://up:8443/x", prefix, InLocation, nil},
		{"http://unix:/run/up.sock:/x", regex, InLocation, ErrURIPartNotAllowed},
		{"http://unix:/run/up.sock", regex, InLocation, nil},
	}
	for _, tt := range tests {
		err := ProxyPass{URL: tt.url}.Check(tt.loc, tt.block)
		if !errors.Is(err, tt.want) {
			t.Errorf("Check(%s in %s, %d) = %v, want %v", tt.url, name(tt.loc), tt.block, err, tt.want)
		}
	}
	if err := (ProxyPass{URL: "ftp://up/"}).Check(prefix, InLocation); err == nil || !strings.Contains(err.Error(), "invalid URL prefix") {
		t.Errorf("ftp:// accepted: %v", err)
	}
	if got, _ := (ProxyPass{URL: "http://unix:/run/up.sock:/x/"}).URIPart(); got != "/x/" {
		t.Errorf("unix socket URI part %q", got)
	}
}
