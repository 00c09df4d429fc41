package route

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// server_name precedence (ngx_http_find_virtual_server,
// ngx_hash_find_combined): exact, longest leading wildcard, longest
// trailing wildcard, first regex in order, default server. The same set
// runs on real nginx in TestNginxOracle.
func TestHostsSelect_ngx_hash_find_combined(t *testing.T) {
	def := &Server{Names: []string{"default.test"}, Default: true, Handler: "default"}
	first := &Server{Names: []string{"first.test"}, Handler: "first"}
	servers := []*Server{
		first,
		{Names: []string{"www.example.org"}, Handler: "exact"},
		{Names: []string{"*.example.org"}, Handler: "head"},
		{Names: []string{"*.b.example.org"}, Handler: "head-long"},
		{Names: []string{"www.*"}, Handler: "tail"},
		{Names: []string{"www.example.*"}, Handler: "tail-long"},
		{Names: []string{".example.net"}, Handler: "dot"},
		{Names: []string{`~^api\d+\.example\.com$`}, Handler: "re1"},
		{Names: []string{`~^(\w+)\.Rx\.test$`}, Handler: "re2"},
		{Names: []string{`~^www\.`, "later.test"}, Handler: "re3"},
		{Names: []string{""}, Handler: "nohost"},
		def,
	}
	h, err := NewHosts(servers)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want string
		caps []string
	}{
		{"www.example.org", "exact", nil},
		{"WWW.Example.ORG.", "exact", nil},
		{"www.example.org:8080", "exact", nil},
		{"a.example.org", "head", nil},
		{"a.b.example.org", "head-long", nil},
		{"b.example.org", "head", nil},  // "*.b.example.org" needs a label
		{"example.org", "default", nil}, // "*.x" does not match "x"
		{"www.example.net", "dot", nil}, // ".x" is "*.x" ...
		{"example.net", "dot", nil},     // ... and "x"
		{"x.y.example.net", "dot", nil}, //
		{"www.example.co.uk", "tail-long", nil},
		{"www.other.com", "tail", nil}, // trailing beats the regex "^www\."
		{"api42.example.com", "re1", []string{"api42.example.com"}},
		{"apix.example.com", "default", nil},
		{"foo.rx.test", "re2", []string{"foo.rx.test", "foo"}}, // capitals: caseless
		{"later.test", "re3", nil},
		{"unknown.test", "default", nil},
		{"", "nohost", nil}, // no Host: the "" name
		{"[::1]:80", "default", nil},
	}
	for _, tt := range tests {
		srv, caps, err := h.Select(tt.host)
		if err != nil || srv.Handler != tt.want || !reflect.DeepEqual(caps, tt.caps) {
			got := "<nil>"
			if srv != nil {
				got = srv.Handler.(string)
			}
			t.Errorf("Select(%q) = %s %q %v; want %s %q", tt.host, got, caps, err, tt.want, tt.caps)
		}
	}
	// Without default_server the first server is the default.
	h2, err := NewHosts([]*Server{first, {Names: []string{"b.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	if srv, _, _ := h2.Select("nothing.test"); srv != first {
		t.Errorf("default without default_server = %v", srv.Names)
	}
}

// ngx_http_validate_host: port, trailing dot, case; 400 for the rest.
func TestNormalizeHost_ngx_http_validate_host(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "Example.COM", want: "example.com"},
		{in: "example.com.", want: "example.com"},
		{in: "example.com.:8080", want: "example.com"},
		{in: "example.com:abc", want: "example.com"},
		{in: "[::1]:443", want: "[::1]"},
		{in: "[::1]", want: "[::1]"},
		{in: `a\b`, want: `a\b`},
		{in: "", want: ""},
		{in: "a..b", bad: true},
		{in: "a/b", bad: true},
		{in: "a b", bad: true},
		{in: "a\x00b", bad: true},
		{in: "a\x7f", bad: true},
		{in: ".", bad: true},
		{in: ":80", bad: true},
	}
	for _, tt := range tests {
		got, err := NormalizeHost(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("NormalizeHost(%q) = %q, %v; want 400", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// Configuration errors and conflicts (ngx_http_core_server_name,
// ngx_hash_add_key; messages as nginx -t prints them).
func TestNewHostsErrors(t *testing.T) {
	bad := []struct {
		name, want string
	}{
		{"*a.com", `server name "*a.com" is invalid`},
		{"**.a.com", `server name "**.a.com" is invalid`},
		{".", `server name "." is invalid`},
		{"*.", `server name "*." is invalid`},
		{"*", `server name "*" is invalid`},
		{"~", `empty regex in server name "~"`},
		{"a.*.com", "invalid server name or wildcard"},
		{"a..com", "invalid server name or wildcard"},
		{"~(?<=a)b", "a lookbehind assertion"},
	}
	for _, tt := range bad {
		_, err := NewHosts([]*Server{{Names: []string{tt.name}}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewHosts([]*Server{{Default: true}, {Default: true}}); err == nil {
		t.Error("two default servers accepted")
	}
	a := &Server{Names: []string{"a.com", ".b.com"}}
	b := &Server{Names: []string{"A.com", "*.b.com", "b.com"}}
	h, err := NewHosts([]*Server{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Warnings()) != 3 {
		t.Errorf("warnings %q, want 3 conflicts", h.Warnings())
	}
	for _, host := range []string{"a.com", "x.b.com", "b.com"} {
		if srv, _, _ := h.Select(host); srv != a {
			t.Errorf("%s: the first server must keep a conflicting name", host)
		}
	}
}
