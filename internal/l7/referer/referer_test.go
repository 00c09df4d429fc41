package referer

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestValidReferersNginx is the location of l7.md §7 ("valid_referers none
// blocked server_names *.good.com good.org/pics/", server_name
// example.com); each expectation follows a rule of
// ngx_http_referer_variable, named in the case.
func TestValidReferersNginx(t *testing.T) {
	m, err := New([]string{"none", "blocked", "server_names", "*.good.com", "good.org/pics/"}, []string{"example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		referer string
		present bool
		valid   bool
	}{
		{"no header: none", "", false, true},
		{"empty header: blocked", "", true, true},
		{"not a URL: blocked", "garbage", true, true},
		{"other scheme: blocked", "ftp://evil.example/x", true, true},
		{"10 bytes: blocked", "http://a.b", true, true},
		{"11 bytes is parsed", "http://i.ru", true, false},
		{"server_names", "http://example.com/", true, true},
		{"host lower-cased, port ignored", "http://EXAMPLE.COM:8080/x", true, true},
		{"scheme case-insensitive", "HTTPS://x.good.com/a", true, true},
		{"*.good.com: subdomain", "https://x.good.com/a", true, true},
		{"*.good.com: deeper", "http://x.y.good.com", true, true},
		{"*.good.com is not good.com", "http://good.com/", true, false},
		{"path prefix", "http://good.org/pics/a.jpg", true, true},
		{"path prefix past the port", "http://good.org:81/pics/a.jpg", true, true},
		{"path is case-sensitive", "http://good.org/PICS/a.jpg", true, false},
		{"path missing", "http://good.org", true, false},
		{"other path", "http://good.org/", true, false},
		{"unknown host", "http://evil.com/", true, false},
		{"suffix trick", "http://good.com.evil.com/", true, false},
		{"prefix trick", "http://example.com.evil/", true, false},
		{"query is part of the host", "http://example.com?x=1", true, false},
		{"host of 255 bytes", "http://" + strings.Repeat("a", 251) + ".com/", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.Valid(tc.referer, tc.present); got != tc.valid {
				t.Errorf("Valid(%q, %v) = %v, want %v", tc.referer, tc.present, got, tc.valid)
			}
		})
	}
}

func TestValidReferersForms(t *testing.T) {
	tests := []struct {
		valid, names []string
		referer      string
		want         bool
	}{
		// Without "none" a missing Referer is invalid.
		{[]string{"a.com"}, nil, "", false},
		// ".a.com" is a.com and its subdomains.
		{[]string{".a.com"}, nil, "http://a.com/", true},
		{[]string{".a.com"}, nil, "http://x.a.com/", true},
		// "a.*" is a tail wildcard.
		{[]string{"www.example.*"}, nil, "http://www.example.co.uk/", true},
		{[]string{"www.example.*"}, nil, "http://www.example/", false},
		// The most specific wildcard decides, with its own path.
		{[]string{"*.a.com/x/", "*.b.a.com"}, nil, "http://c.b.a.com/y", true},
		{[]string{"*.a.com/x/", "*.b.a.com"}, nil, "http://c.a.com/y", false},
		{[]string{"*.a.com/x/", "*.b.a.com"}, nil, "http://c.a.com/x/1", true},
		// Regexes are caseless and see everything after the scheme.
		{[]string{`~\.google\.`}, nil, "http://www.GOOGLE.de/search", true},
		{[]string{`~^a\.com/p`}, nil, "https://a.com/path", true},
		{[]string{`~^a\.com/p`}, nil, "https://a.com/other", false},
		// A host match with a wrong path never reaches the regexes.
		{[]string{"good.org/pics/", "~good"}, nil, "http://good.org/other", false},
		{[]string{"good.org/pics/", "~good"}, nil, "http://www.good.org/other", true},
		// Regex server names are regexes over host and path: "$" does
		// not match before the path.
		{[]string{"server_names"}, []string{`~^www\d+\.ex\.net$`}, "http://www12.ex.net", true},
		{[]string{"server_names"}, []string{`~^www\d+\.ex\.net$`}, "http://www12.ex.net/", false},
		// Wildcard server names are wildcards.
		{[]string{"server_names"}, []string{"*.ex.net", ""}, "http://a.ex.net/", true},
		// A host of 256 bytes or more is invalid whatever the regexes say.
		{[]string{"~a"}, nil, "http://" + strings.Repeat("a", 256) + "/", false},
		// Only regexes: any scheme-less Referer is invalid (no "blocked").
		{[]string{"~a"}, nil, "aaaaaaaaaaaaaaaa", false},
	}
	for _, tc := range tests {
		m, err := New(tc.valid, tc.names)
		if err != nil {
			t.Errorf("%v: %v", tc.valid, err)
			continue
		}
		if got := m.Valid(tc.referer, tc.referer != ""); got != tc.want {
			t.Errorf("%v / %v: Valid(%q) = %v, want %v", tc.valid, tc.names, tc.referer, got, tc.want)
		}
	}
	// No valid_referers: everything is valid.
	var nilM *Matcher
	if !nilM.Valid("http://evil/", true) {
		t.Error("nil matcher rejects")
	}
}

// TestValidReferersConfigErrors: what ngx_http_valid_referers,
// ngx_hash_add_key and ngx_http_referer_merge_conf refuse.
func TestValidReferersConfigErrors(t *testing.T) {
	for _, bad := range [][]string{
		{""}, {"*a.com"}, {"a.*.com"}, {"*.a.*"}, {"a..com"}, {"*"},
		{"a.com", "A.COM"}, {".a.com", "a.com"}, {".a.com", "*.a.com"},
		{"none"}, {"blocked", "none"}, {"none", "~x"}, {"~"}, {"~(?<=x)"},
	} {
		if _, err := New(bad, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzValidReferer(f *testing.F) {
	for _, s := range []string{"", "http://i.ru", "https://x.good.com:80/pics/", "HTTP://A.COM", "ftp://x", "http://:/", "http://good.org/pics"} {
		f.Add(s)
	}
	m, err := New([]string{"none", "blocked", "*.good.com", "good.org/pics/", "www.ex.*", ".a.com"}, []string{"example.com"})
	if err != nil {
		f.Fatal(err)
	}
	mr, err := New([]string{"good.org/pics/", `~^[a-z]+\.re/`}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		v := m.Valid(ref, true)
		_ = mr.Valid(ref, true)
		// Invariants of the host lookup: the host's case and a port do
		// not matter.
		lower := strings.ToLower(ref)
		if len(ref) < minReferer || !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
			return
		}
		i := strings.Index(ref, "://") + 3
		rest := ref[i:]
		end := strings.IndexAny(rest, "/:")
		if end < 0 {
			end = len(rest)
		}
		host := rest[:end]
		if up := ref[:i] + strings.ToUpper(host) + rest[end:]; len(up) == len(ref) && m.Valid(up, true) != v {
			t.Errorf("host case changes the result: %q vs %q", ref, up)
		}
		if end == len(rest) || rest[end] == '/' {
			withPort := ref[:i] + host + ":8080" + rest[end:]
			if m.Valid(withPort, true) != v && len(host) < maxHost {
				t.Errorf("a port changes the result: %q vs %q", ref, withPort)
			}
		}
	})
}

// TestSecureLink: sign, verify, expiry, tampering, constant-time compare
// through hmac.Equal.
func TestSecureLink(t *testing.T) {
	secret := []byte("s3cret")
	l, err := NewLink(secret, "", "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1767225000, 0)
	exp := time.Unix(1767225600, 0)
	sig := Sign(secret, "/img/a.jpg", exp)
	e := "1767225600"
	tests := []struct {
		name           string
		path, sig, exp string
		at             time.Time
		want           error
	}{
		{"good", "/img/a.jpg", sig, e, now, nil},
		{"good at the expiry second", "/img/a.jpg", sig, e, exp, nil},
		{"expired", "/img/a.jpg", sig, e, exp.Add(time.Second), ErrExpired},
		{"other path", "/img/b.jpg", sig, e, now, ErrBadSignature},
		{"other expiry", "/img/a.jpg", sig, "1767225601", now, ErrBadSignature},
		{"tampered", "/img/a.jpg", "A" + sig[1:], e, now, ErrBadSignature},
		{"truncated", "/img/a.jpg", sig[:10], e, now, ErrMalformed},
		{"not base64", "/img/a.jpg", "!!!", e, now, ErrMalformed},
		{"bad expiry", "/img/a.jpg", sig, "soon", now, ErrMalformed},
		{"no signature", "/img/a.jpg", "", e, now, ErrNoSignature},
		{"no expiry", "/img/a.jpg", sig, "", now, ErrNoSignature},
	}
	for _, tc := range tests {
		if err := l.Verify(tc.path, tc.sig, tc.exp, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	other, _ := NewLink([]byte("other"), "", "")
	if err := other.Verify("/img/a.jpg", sig, e, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other secret: %v", err)
	}
	// SignURL's query verifies.
	u, err := url.Parse(SignURL(secret, "/img/a b.jpg", exp))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if err := l.Verify("/img/a b.jpg", q.Get("sig"), q.Get("expires"), now); err != nil {
		t.Errorf("SignURL: %v (%s)", err, u)
	}
	if _, err := NewLink(nil, "", ""); err == nil {
		t.Error("empty secret accepted")
	}
}

func FuzzSecureLinkVerify(f *testing.F) {
	secret := []byte("k")
	exp := time.Unix(2_000_000_000, 0)
	f.Add("/a", Sign(secret, "/a", exp), "2000000000")
	f.Add("/a", "", "")
	f.Add("/a b", "AAAA", "-1")
	l, _ := NewLink(secret, "", "")
	now := time.Unix(1_900_000_000, 0)
	f.Fuzz(func(t *testing.T, path, sig, expires string) {
		err := l.Verify(path, sig, expires, now)
		if err == nil {
			// Whatever was accepted is exactly what Sign produces.
			e, perr := strconv.ParseInt(expires, 10, 64)
			if perr != nil || Sign(secret, path, time.Unix(e, 0)) != sig || e < now.Unix() {
				t.Errorf("accepted %q %q %q", path, sig, expires)
			}
		}
	})
}
