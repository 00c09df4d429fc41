package route

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func runScript(t *testing.T, ds []Directive, target string) (*State, Outcome, error) {
	t.Helper()
	s, err := NewScript(ds)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseURI(target, true)
	if err != nil {
		t.Fatal(err)
	}
	st := NewState(u)
	out, err := s.Run(st)
	return st, out, err
}

// ngx_http_rewrite / ngx_http_script_regex_end_code: how the URI and the
// args change, and which flag stops what. Confirmed by TestNginxOracle.
func TestRewrite_ngx_http_script_regex_end_code(t *testing.T) {
	tests := []struct {
		name             string
		ds               []Directive
		target           string
		uri, args        string
		status           int
		redirect         string
		changed, validLo bool
	}{
		{name: "last keeps args", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b/$1", "last"}}, target: "/a/x?o=1",
			uri: "/b/x", args: "o=1", changed: true, validLo: true},
		{name: "break clears valid_location", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b/$1", "break"}}, target: "/a/x",
			uri: "/b/x", changed: false, validLo: false},
		{name: "new args then old args", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b?x=$1", "last"}}, target: "/a/v?o=1",
			uri: "/b", args: "x=v&o=1", changed: true, validLo: true},
		{name: "trailing ? drops args", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b/$1?", "last"}}, target: "/a/v?o=1",
			uri: "/b/v", args: "", changed: true, validLo: true},
		{name: "new args and ? drops old", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b?x=1?", "last"}}, target: "/a/v?o=1",
			uri: "/b", args: "x=1", changed: true, validLo: true},
		{name: "captures in args escaped when the URI had %", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b?x=$1", "last"}}, target: "/a/a%26b",
			uri: "/b", args: "x=a%26b", changed: true, validLo: true},
		{name: "captures in args escaped when the URI had +", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b?x=$1", "last"}}, target: "/a/a+b",
			uri: "/b", args: "x=a%2Bb", changed: true, validLo: true},
		{name: "captures in args raw otherwise", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b?x=$1", "last"}}, target: "/a/a&b",
			uri: "/b", args: "x=a&b", changed: true, validLo: true},
		{name: "no flag goes on", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b/$1", ""}, &Rewrite{`^/b/(.*)$`, "/c/$1", ""}}, target: "/a/x",
			uri: "/c/x", changed: true, validLo: true},
		{name: "last stops", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b/$1", "last"}, &Rewrite{`^/b/(.*)$`, "/c/$1", ""}}, target: "/a/x",
			uri: "/b/x", changed: true, validLo: true},
		{name: "break directive after a flagless rewrite", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/b/$1", ""}, Break{}, &Return{Code: 403}}, target: "/a/x",
			uri: "/b/x", changed: false, validLo: false},
		{name: "no match", ds: []Directive{&Rewrite{`^/z/`, "/y", "last"}}, target: "/a/x?q",
			uri: "/a/x", args: "q", validLo: true},
		{name: "redirect keeps args with ?", ds: []Directive{&Rewrite{`^/a/(.*)$`, "/new/$1", "redirect"}}, target: "/a/v?o=1",
			uri: "/a/v", args: "o=1", status: 302, redirect: "/new/v?o=1", validLo: true},
		{name: "permanent with its own args", ds: []Directive{&Rewrite{`^/a/(.*)$`, "http://o.test/$1?y=2", "permanent"}}, target: "/a/v?o=1",
			uri: "/a/v", args: "o=1", status: 301, redirect: "http://o.test/v?y=2&o=1", validLo: true},
		{name: "http:// implies 302", ds: []Directive{&Rewrite{`^/a/(.*)$`, "http://o.test/$1?", ""}}, target: "/a/v?o=1",
			uri: "/a/v", args: "o=1", status: 302, redirect: "http://o.test/v", validLo: true},
		{name: "redirect capture escaped then partly unescaped", ds: []Directive{&Rewrite{`^/a/(.*)$`, "http://o.test/$1", "permanent"}}, target: "/a/a%20b&c%41",
			uri: "/a/a b&cA", status: 301, redirect: "http://o.test/a%20b&cA", validLo: true},
		{name: "return", ds: []Directive{&Return{Code: 301, Text: "/doc$uri"}}, target: "/a?q",
			uri: "/a", args: "q", status: 301, redirect: "/doc/a", validLo: true},
	}
	for _, tt := range tests {
		st, out, err := runScript(t, tt.ds, tt.target)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if st.URI != tt.uri || st.Args != tt.args || out.Status != tt.status || out.Redirect != tt.redirect ||
			st.URIChanged != tt.changed || st.ValidLocation != tt.validLo {
			t.Errorf("%s: uri %q args %q status %d redirect %q changed %v valid %v; want %q %q %d %q %v %v",
				tt.name, st.URI, st.Args, out.Status, out.Redirect, st.URIChanged, st.ValidLocation,
				tt.uri, tt.args, tt.status, tt.redirect, tt.changed, tt.validLo)
		}
		if (tt.changed || !tt.validLo) && st.UnparsedValid {
			t.Errorf("%s: a rewritten URI left the original target valid", tt.name)
		}
	}
}

func TestRewriteCaptures(t *testing.T) {
	st, _, err := runScript(t, []Directive{&Rewrite{`^/(\w+)/(\d+)(x)?$`, "/$2/$1/$3$9", "last"}}, "/abc/123")
	if err != nil || st.URI != "/123/abc/" {
		t.Errorf("uri %q err %v", st.URI, err)
	}
	if want := []string{"/abc/123", "abc", "123", ""}; !reflect.DeepEqual(st.Captures, want) {
		t.Errorf("captures %q, want %q", st.Captures, want)
	}
	// A failed rewrite clears the captures (regex_start_code sets
	// r->ncaptures = 0).
	st, _, _ = runScript(t, []Directive{&Rewrite{`^/(a)`, "/b", ""}, &Rewrite{`^/(z)`, "/y", ""}}, "/a")
	if st.Captures != nil {
		t.Errorf("captures kept after a failed match: %q", st.Captures)
	}
	// The rewritten URI may not be empty.
	_, out, err := runScript(t, []Directive{&Rewrite{`^/(.*)$`, "$1?x", "last"}}, "/")
	if !errors.Is(err, ErrRewriteZeroLength) || out.Status != 500 {
		t.Errorf("empty URI: %v %d", err, out.Status)
	}
}

func TestReturn_ngx_http_rewrite_return(t *testing.T) {
	tests := []struct {
		ret  *Return
		want Outcome
	}{
		{&Return{Code: 404}, Outcome{Status: 404}},
		{&Return{Code: 200, Text: "ok $uri"}, Outcome{Status: 200, Body: "ok /p", HasBody: true}},
		{&Return{Code: 200, Text: ""}, Outcome{Status: 200}},
		{&Return{Code: 302, Text: "/x?$args"}, Outcome{Status: 302, Redirect: "/x?a=1"}},
		{&Return{Code: 308, Text: "https://h$request_uri"}, Outcome{Status: 308, Redirect: "https://h/p?a=1"}},
		{&Return{Text: "http://h/"}, Outcome{Status: 302, Redirect: "http://h/"}},
		{&Return{Code: 444}, Outcome{Status: 444}},
	}
	for _, tt := range tests {
		_, out, err := runScript(t, []Directive{tt.ret}, "/p?a=1")
		if err != nil || out != tt.want {
			t.Errorf("%+v: %+v %v, want %+v", tt.ret, out, err, tt.want)
		}
	}
}

// Configuration errors of ngx_http_rewrite, ngx_http_rewrite_return and
// ngx_http_script_compile (messages as nginx -t prints them).
func TestScriptErrors(t *testing.T) {
	tests := []struct {
		d    Directive
		want string
	}{
		{&Rewrite{"^", "", ""}, "empty replacement"},
		{&Rewrite{"^", "/x", "bogus"}, `invalid parameter "bogus"`},
		{&Rewrite{"(", "/x", ""}, "missing closing )"},
		{&Rewrite{`(a)\1`, "/x", ""}, "backreference"},
		{&Rewrite{"^", "/x$", ""}, "invalid variable name"},
		{&Rewrite{"^", "/x${a", ""}, "closing bracket"},
		{&Rewrite{"^", "/x${1}", ""}, `unknown "1" variable`},
		{&Return{Code: 1000}, "invalid return code"},
		{&Return{Text: "/relative"}, "invalid return code"},
	}
	for _, tt := range tests {
		_, err := NewScript([]Directive{tt.d})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.d, err, tt.want)
		}
	}
}

// The Router loops find-config / rewrite while the URI changes, at most
// NGX_HTTP_MAX_URI_CHANGES (10) times.
func TestRouter_ngx_http_core_post_rewrite_phase(t *testing.T) {
	loop := &Location{Pattern: "/l/", Rewrites: []Directive{&Rewrite{`^/l/(.*)$`, "/l/$1", "last"}}}
	c10 := &Location{Pattern: "/c10", Rewrites: []Directive{&Rewrite{`^/c10(x{0,9})$`, "/c10$1x", "last"}}}
	c11 := &Location{Pattern: "/c11", Rewrites: []Directive{&Rewrite{`^/c11(x{0,10})$`, "/c11$1x", "last"}}}
	m := mustCompile(t, []*Location{loop, {Pattern: "/doc/"}, c10, c11})
	rt := &Router{Locations: m}
	st := NewState(URI{Path: "/l/a", Raw: "/l/a", RawValid: true})
	d, err := rt.Route(st)
	if !errors.Is(err, ErrRewriteCycle) || d.Status != 500 {
		t.Errorf("cycle: %v %d", err, d.Status)
	}
	// 10 URI changes are allowed, the 11th is a cycle.
	st = NewState(URI{Path: "/c10", Raw: "/c10", RawValid: true})
	if d, err = rt.Route(st); err != nil || d.Location != c10 || st.URI != "/c10"+strings.Repeat("x", 10) {
		t.Errorf("10 changes: %v %v %q", err, name(d.Location), st.URI)
	}
	st = NewState(URI{Path: "/c11", Raw: "/c11", RawValid: true})
	if _, err = rt.Route(st); !errors.Is(err, ErrRewriteCycle) {
		t.Errorf("11 changes: %v %q", err, st.URI)
	}
	srv, err := NewScript([]Directive{&Rewrite{`^/s/(.*)$`, "/doc/$1", "last"}, &Rewrite{`^/doc/(.*)$`, "/never/$1", ""}})
	if err != nil {
		t.Fatal(err)
	}
	rt.Server = srv
	st = NewState(URI{Path: "/s/x", Raw: "/s/x", RawValid: true})
	d, err = rt.Route(st)
	if err != nil || d.Location == nil || d.Location.Pattern != "/doc/" || st.URI != "/doc/x" {
		t.Errorf("server rewrite: %v %v %q", err, name(d.Location), st.URI)
	}
}
