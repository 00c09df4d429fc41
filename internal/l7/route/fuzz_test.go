package route

import (
	"errors"
	"strings"
	"testing"
)

var normalizeSeeds = []string{
	"/", "/a/./b", "/a/b/..", "/../a", "/%2e%2e/a", "/a%2Fb", "//a///b", "/%", "/a%00",
	"/a?b#c", "/a#b?c", "/%3F?%3F", "/a/%2e%2e%2f", "http://h/x?y", "http://h?q", "/a+%2B", "/\xff",
}

// Normalize is idempotent: a normalized path, escaped into a valid
// request-target, normalizes to itself (and, when it needs no escaping,
// it is its own normal form); no "." or ".." segment and no "//" survive.
func FuzzNormalize(f *testing.F) {
	for _, s := range normalizeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		path, args, err := Normalize(raw)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("Normalize(%q): error %v does not wrap ErrBadRequest", raw, err)
			}
			return
		}
		if !strings.HasPrefix(path, "/") {
			t.Fatalf("Normalize(%q) = %q: no leading /", raw, path)
		}
		if strings.Contains(path, "//") {
			t.Fatalf("Normalize(%q) = %q: // survived", raw, path)
		}
		for _, seg := range strings.Split(path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("Normalize(%q) = %q: dot segment survived", raw, path)
			}
		}
		if strings.Contains(args, "#") {
			t.Fatalf("Normalize(%q): args %q keep the fragment", raw, args)
		}
		again, args2, err := Normalize(EscapeURI(path))
		if err != nil || again != path || args2 != "" {
			t.Fatalf("Normalize(EscapeURI(%q)) = %q, %q, %v", path, again, args2, err)
		}
		if EscapeURI(path) == path {
			if again, _, err := Normalize(path); err != nil || again != path {
				t.Fatalf("Normalize(%q) = %q, %v: not a fixed point", path, again, err)
			}
		}
	})
}

// fuzzLocations is a location set exercising every modifier and nesting.
func fuzzLocations() []*Location {
	return []*Location{
		{Modifier: ModExact, Pattern: "/x"},
		{Pattern: "/x"},
		{Modifier: ModPrefixNoRegex, Pattern: "/img/"},
		{Modifier: ModRegexCaseless, Pattern: `\.(gif|jpg)$`},
		{Pattern: "/doc/", AutoRedirect: true},
		{Pattern: "/", Nested: []*Location{
			{Modifier: ModRegex, Pattern: `^/a(b+)`},
			{Pattern: "/a/", AutoRedirect: true, Nested: []*Location{{Modifier: ModExact, Pattern: "/a/b"}}},
		}},
		{Modifier: ModExact, Pattern: "/e/", AutoRedirect: true},
		{Modifier: ModRegex, Pattern: `^/r/(.*)/(\d+)$`, Nested: []*Location{{Modifier: ModRegex, Pattern: `/9$`}}},
		{Modifier: ModNamed, Pattern: "fallback"},
	}
}

// Match never panics, agrees with the plain rule set (naiveFind) and
// returns locations that fit the path.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/x", "/xy", "/img/a.gif", "/doc", "/abb", "/a", "/a/b", "/e", "/r/q/9", "", "@fallback", "/\xff.GIF"} {
		f.Add(s)
	}
	locs := fuzzLocations()
	m, err := Compile(locs)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path string) {
		loc, caps, redirect := m.Match(path)
		want, wantRedirect, _ := naiveFind(locs, path)
		if loc != want || redirect != wantRedirect {
			t.Fatalf("Match(%q) = %v %v, rules say %v %v", path, name(loc), redirect, name(want), wantRedirect)
		}
		if loc == nil {
			return
		}
		switch {
		case redirect:
			if loc.Pattern != path+"/" {
				t.Fatalf("Match(%q): redirect to %q", path, loc.Pattern)
			}
		case loc.Modifier == ModExact:
			if loc.Pattern != path {
				t.Fatalf("Match(%q): exact %q", path, loc.Pattern)
			}
		case loc.isRegex():
			if caps == nil || !strings.Contains(path, caps[0]) {
				t.Fatalf("Match(%q): regex %q captures %q", path, loc.Pattern, caps)
			}
		case loc.Modifier == ModNamed:
			t.Fatalf("Match(%q) returned a named location", path)
		default:
			if !strings.HasPrefix(path, loc.Pattern) {
				t.Fatalf("Match(%q): prefix %q", path, loc.Pattern)
			}
		}
	})
}

// A rewrite never panics and never leaves an empty URI behind.
func FuzzRewrite(f *testing.F) {
	f.Add(`^/a/(.*)$`, "/b/$1?x=$1", uint8(1), "/a/q%20r?o=1")
	f.Add(`^/(\w+)/(\d+)$`, "http://h/$2/$1?", uint8(4), "/ab/12")
	f.Add(`(a+)+$`, "/$9$1${x}", uint8(0), "/aaaa+")
	f.Add(`^`, "$1?", uint8(2), "/")
	flags := []string{"", "last", "break", "redirect", "permanent"}
	f.Fuzz(func(t *testing.T, re, repl string, flag uint8, target string) {
		s, err := NewScript([]Directive{&Rewrite{Regex: re, Replacement: repl, Flag: flags[int(flag)%len(flags)]}})
		if err != nil {
			return
		}
		u, err := ParseURI(target, true)
		if err != nil {
			return
		}
		st := NewState(u)
		out, err := s.Run(st)
		if err != nil {
			if !errors.Is(err, ErrRewriteZeroLength) || out.Status != 500 {
				t.Fatalf("unexpected error %v / %d", err, out.Status)
			}
			return
		}
		if out.Status == 0 && st.URI == "" {
			t.Fatal("empty URI")
		}
		if out.Status != 0 && out.Status != 301 && out.Status != 302 {
			t.Fatalf("status %d", out.Status)
		}
	})
}

// The Accept-Language parser never panics, keeps q in 0..1000 and only
// valid ranges; BestLanguage picks from the offered list.
func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"zh-CN;q=0.9, en;q=0.8", "*;q=0", "en;q=1.000", "de;q=0.5;x=y, fr", ",,;q=,"} {
		f.Add(s)
	}
	avail := []string{"en", "en-US", "zh", "de"}
	f.Fuzz(func(t *testing.T, h string) {
		for _, r := range ParseAcceptLanguage(h) {
			if r.Q < 0 || r.Q > 1000 || !validRange(r.Range) {
				t.Fatalf("%q: bad element %+v", h, r)
			}
		}
		best, ok := BestLanguage(h, avail)
		if ok {
			found := false
			for _, a := range avail {
				found = found || a == best
			}
			if !found {
				t.Fatalf("%q: picked %q", h, best)
			}
		} else if best != "" {
			t.Fatalf("%q: %q without ok", h, best)
		}
	})
}

// Translating any PCRE pattern never panics and what it accepts compiles
// or fails with an error.
func FuzzTranslatePCRE(f *testing.F) {
	for _, s := range []string{`\.php$`, `(?<n>a)\k<n>`, `[]a\s]+\Z`, `(?'x'a)(?#c)\Q$\E`, `a{2,3}+`, `(?i-m:x)`, "\xc3\xa9."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		re, err := compileRegex(p, false)
		if err != nil {
			return
		}
		caps := re.FindSubmatch("/some/path.php\n")
		if caps != nil && len(caps) != re.NumSubexp()+1 {
			t.Fatalf("%q: %d captures for %d groups", p, len(caps), re.NumSubexp())
		}
	})
}

// NormalizeHost never panics; what it accepts is lowercase and has no
// port and (without a port) no trailing dot.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"Example.COM.:8080", "[::1]:80", "a..b", "", ".", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got, err := NormalizeHost(h)
		if err != nil {
			return
		}
		// A dot in the port part hides the host's trailing dot from
		// ngx_http_validate_host (".:." stays "."), so only check
		// hosts without a port.
		if got != asciiLower(got) || (!strings.Contains(h, ":") && strings.HasSuffix(got, ".")) {
			t.Fatalf("NormalizeHost(%q) = %q", h, got)
		}
		if !strings.HasPrefix(got, "[") && strings.Contains(got, ":") {
			t.Fatalf("NormalizeHost(%q) = %q kept a port", h, got)
		}
	})
}
