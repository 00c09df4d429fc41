package route

import (
	"errors"
	"testing"
)

// Expected values follow ngx_http_parse_complex_uri
// (src/http/ngx_http_parse.c) and are confirmed against nginx 1.22 by
// TestNginxOracle ("norm.test" requests).
func TestNormalize_ngx_http_parse_complex_uri(t *testing.T) {
	tests := []struct {
		raw, path, args string
		bad             bool
	}{
		{raw: "/", path: "/"},
		{raw: "/a/b", path: "/a/b"},
		{raw: "/a/./b", path: "/a/b"},
		{raw: "/a/b/.", path: "/a/b/"},
		{raw: "/a/b/..", path: "/a/"},
		{raw: "/a/b/../../c", path: "/c"},
		{raw: "/a/..b/c", path: "/a/..b/c"},
		{raw: "/a/.b", path: "/a/.b"},
		{raw: "/a/b/...", path: "/a/b/..."},
		// merge_slashes on: "//" collapses, also when decoded.
		{raw: "//a///b", path: "/a/b"},
		{raw: "/%2F%2F", path: "/"},
		{raw: "/a%2Fb", path: "/a/b"},
		{raw: "/a//../b", path: "/b"},
		// %XX decoding happens once; decoded dots are dot segments.
		{raw: "/a/%2e%2e/b", path: "/b"},
		{raw: "/a/%2E/b", path: "/a/b"},
		{raw: "/a%2F..%2Fb", path: "/b"},
		{raw: "/a/b%2f%2e%2e", path: "/a/"},
		{raw: "/a%252e", path: "/a%2e"},
		{raw: "/%7Euser", path: "/~user"},
		{raw: "/a%20b", path: "/a b"},
		{raw: "/a%01b", path: "/a\x01b"},
		// Decoded "%", "#", "?" stay literal path bytes.
		{raw: "/%25%23%3f", path: "/%#?"},
		{raw: "/%3F?%3F", path: "/?", args: "%3F"},
		// The query is not decoded and ends at "#".
		{raw: "/a?x/../y", path: "/a", args: "x/../y"},
		{raw: "/a?%", path: "/a", args: "%"},
		{raw: "/a?b#c", path: "/a", args: "b"},
		{raw: "/a#b?c", path: "/a"},
		{raw: "/a/.?q", path: "/a/", args: "q"},
		{raw: "/a/..?q", path: "/", args: "q"},
		{raw: "/a/..#f", path: "/"},
		{raw: "/a\\b", path: "/a\\b"},
		{raw: "/a\xff", path: "/a\xff"},
		{raw: "/a+b%2b", path: "/a+b+"},
		// Absolute form.
		{raw: "http://h.test/abs?z", path: "/abs", args: "z"},
		{raw: "http://h.test?z", path: "/", args: "z"},
		{raw: "http://h.test", path: "/"},
		{raw: "https://[::1]:8443/x", path: "/x"},
		// 400: ".." above the root, bad escapes, %00, controls, spaces.
		{raw: "/../a", bad: true},
		{raw: "/a/../../b", bad: true},
		{raw: "/%2e%2e/a", bad: true},
		{raw: "/.%2e/", bad: true},
		{raw: "/a/%2e%2e%2f%2e%2e/b", bad: true},
		{raw: "/..", bad: true},
		{raw: "/%", bad: true},
		{raw: "/a%2", bad: true},
		{raw: "/a%zz", bad: true},
		{raw: "/a%00b", bad: true},
		{raw: "/a\x01b", bad: true},
		{raw: "/a\x7fb", bad: true},
		{raw: "/a b", bad: true},
		{raw: "/a?b c", bad: true},
		{raw: "", bad: true},
		{raw: "*", bad: true},
		{raw: "a/b", bad: true},
		{raw: "http:/x", bad: true},
		{raw: "http://h!x/", bad: true},
	}
	for _, tt := range tests {
		path, args, err := Normalize(tt.raw)
		if tt.bad {
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("Normalize(%q) = %q, %q, %v; want a 400 error", tt.raw, path, args, err)
			}
			continue
		}
		if err != nil || path != tt.path || args != tt.args {
			t.Errorf("Normalize(%q) = %q, %q, %v; want %q, %q", tt.raw, path, args, err, tt.path, tt.args)
		}
	}
}

func TestParseURIFlags(t *testing.T) {
	tests := []struct {
		raw      string
		merge    bool
		want     URI
		wantPath string
	}{
		{raw: "/a//b", merge: false, want: URI{Raw: "/a//b", RawValid: true, Path: "/a//b"}},
		{raw: "/a%41?x%41", merge: true, want: URI{Raw: "/a%41?x%41", RawValid: true, Path: "/aA", Args: "x%41", Quoted: true}},
		// "%" only in the query does not set r->quoted_uri.
		{raw: "/a?%41", merge: true, want: URI{Raw: "/a?%41", RawValid: true, Path: "/a", Args: "%41"}},
		{raw: "/a+b", merge: true, want: URI{Raw: "/a+b", RawValid: true, Path: "/a+b", Plus: true}},
		{raw: "/a%2Bb", merge: true, want: URI{Raw: "/a%2Bb", RawValid: true, Path: "/a+b", Quoted: true, Plus: true}},
		{raw: "http://h.test:80/p?q", merge: true, want: URI{Raw: "/p?q", RawValid: true, Path: "/p", Args: "q", Host: "h.test"}},
		// No path: nginx never forwards the original target.
		{raw: "http://h.test?q", merge: true, want: URI{Raw: "?q", RawValid: false, Path: "/", Args: "q", Host: "h.test"}},
	}
	for _, tt := range tests {
		got, err := ParseURI(tt.raw, tt.merge)
		if err != nil || got != tt.want {
			t.Errorf("ParseURI(%q, %v) = %+v, %v; want %+v", tt.raw, tt.merge, got, err, tt.want)
		}
	}
}

func TestEscapeURI_ngx_escape_uri(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a/b", "/a/b"},
		{"/~user", "/~user"},
		{"/a;b,c=d@e:f!$&'()*+", "/a;b,c=d@e:f!$&'()*+"},
		{"/a b", "/a%20b"},
		{"/\"<>\\^`{|}", "/%22%3C%3E%5C%5E%60%7B%7C%7D"},
		{"/#?%", "/%23%3F%25"},
		{"/\x00\x1f\x7f\x80\xff", "/%00%1F%7F%80%FF"},
		{"/é", "/%C3%A9"},
	}
	for _, tt := range tests {
		if got := EscapeURI(tt.in); got != tt.want {
			t.Errorf("EscapeURI(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// NGX_ESCAPE_ARGS adds "&", "+" and ";".
	if got := escapeArgs("a&b+c;d e"); got != "a%26b%2Bc%3Bd%20e" {
		t.Errorf("escapeArgs = %q", got)
	}
}

func TestUnescapeRedirect_ngx_unescape_uri(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a%20b", "/a%20b"},               // 0x20 <= '%': kept
		{"/a%26b%41", "/a&bA"},             // 0x26..0x7e decoded
		{"/a%7e%7F", "/a~%7F"},             // 0x7f kept
		{"/a%C3%A9", "/a%C3%A9"},           // non-ASCII kept
		{"/a%3Fb%41?c%41", "/a?b%41?c%41"}, // decoded "?" ends decoding
		{"/a?%41", "/a?%41"},               // literal "?" ends decoding
		{"/a%zz", "/azz"},                  // bad first digit: "%" dropped
		{"/a%4zb", "/ab"},                  // bad second digit: "%4z" dropped
		{"/a%4", "/a"},
	}
	for _, tt := range tests {
		if got := unescapeRedirect(tt.in); got != tt.want {
			t.Errorf("unescapeRedirect(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
