package route

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func mustCompile(t testing.TB, locs []*Location) *Matcher {
	t.Helper()
	m, err := Compile(locs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// l7.md §1.5 / §7: the location set and requests verified against nginx
// 1.22, run through ngx_http_core_find_location's algorithm.
func TestMatch_ngx_http_core_find_location_l7md15(t *testing.T) {
	exactX := &Location{Modifier: ModExact, Pattern: "/x"}
	prefixX := &Location{Pattern: "/x"}
	img := &Location{Modifier: ModPrefixNoRegex, Pattern: "/img/"}
	re := &Location{Modifier: ModRegexCaseless, Pattern: `\.(gif|jpg)$`}
	doc := &Location{Pattern: "/doc/"}
	m := mustCompile(t, []*Location{exactX, prefixX, img, re, doc})
	tests := []struct {
		path string
		want *Location
		caps []string
	}{
		{"/x", exactX, nil},                         // "=" stops at once
		{"/xy", prefixX, nil},                       // longest prefix
		{"/img/1.gif", img, nil},                    // "^~" skips regexes
		{"/doc/1.gif", re, []string{".gif", "gif"}}, // regex beats prefix
		{"/doc/1.txt", doc, nil},                    // no regex: the prefix
		{"/IMG/2.JPG", re, []string{".JPG", "JPG"}}, // "~*" is caseless
		{"/doc/", doc, nil},                         // equal to a prefix name
		{"/nomatch", nil, nil},                      // server level
		{"/ximg.gif", re, []string{".gif", "gif"}},  // prefix /x, then regex
		{"/img/a/b/c.jpg", img, nil},
	}
	for _, tt := range tests {
		got, caps, redirect := m.Match(tt.path)
		if got != tt.want || !reflect.DeepEqual(caps, tt.caps) || redirect {
			t.Errorf("Match(%q) = %v %q %v; want %v %q", tt.path, name(got), caps, redirect, name(tt.want), tt.caps)
		}
	}
}

func name(l *Location) string {
	if l == nil {
		return "<nil>"
	}
	return l.Modifier + " " + l.Name()
}

// Auto-redirect (ngx_http_core_find_static_location returning NGX_DONE,
// answered by ngx_http_core_find_config_phase with 301 and the escaped
// name plus "?args").
func TestMatch_autoRedirect_ngx_http_core_find_config_phase(t *testing.T) {
	p1 := &Location{Pattern: "/p1/", AutoRedirect: true}
	p := &Location{Pattern: "/p"}
	ex := &Location{Modifier: ModExact, Pattern: "/ex/", AutoRedirect: true}
	exact := &Location{Modifier: ModExact, Pattern: "/q"}
	q := &Location{Pattern: "/q/", AutoRedirect: true}
	space := &Location{Pattern: "/a b/", AutoRedirect: true}
	noSlash := &Location{Pattern: "/ns", AutoRedirect: true}
	notProxy := &Location{Pattern: "/np/"}
	re := &Location{Modifier: ModRegex, Pattern: "^/p1"}
	m := mustCompile(t, []*Location{p1, p, ex, exact, q, space, noSlash, notProxy, re})
	tests := []struct {
		path, args string
		want       *Location
		redirect   bool
		target     string
	}{
		{"/p1", "", p1, true, "/p1/"},
		{"/p1", "a=1", p1, true, "/p1/?a=1"},
		{"/p1/", "", re, false, ""},             // the prefix is not "^~": the regex wins
		{"/ex", "", ex, true, "/ex/"},           // exact locations redirect too
		{"/q", "", exact, false, ""},            // an exact match wins
		{"/a b", "x", space, true, "/a%20b/?x"}, // NGX_ESCAPE_URI name
		{"/n", "", nil, false, ""},
		{"/np", "", nil, false, ""}, // no proxy handler: no redirect
		{"/px", "", p, false, ""},
	}
	for _, tt := range tests {
		got, _, redirect := m.Match(tt.path)
		if got != tt.want || redirect != tt.redirect {
			t.Errorf("Match(%q) = %v, %v; want %v, %v", tt.path, name(got), redirect, name(tt.want), tt.redirect)
			continue
		}
		if redirect {
			if target := got.RedirectTarget(tt.args); target != tt.target {
				t.Errorf("RedirectTarget(%q) = %q, want %q", tt.args, target, tt.target)
			}
		}
	}
	// A name without "/" never redirects ("/ns" + "/" is not a request
	// that can differ by one byte from "/ns").
	if _, _, r := m.Match("/n"); r {
		t.Error("/n redirected")
	}
}

func TestMatch_nested(t *testing.T) {
	nPHP := &Location{Modifier: ModRegex, Pattern: `\.php$`}
	nDeep := &Location{Pattern: "/n/deep/"}
	nStop := &Location{Modifier: ModPrefixNoRegex, Pattern: "/n/stop/"}
	n := &Location{Pattern: "/n/", Nested: []*Location{nPHP, nDeep, nStop}}
	nrPNG := &Location{Modifier: ModRegex, Pattern: `\.png$`}
	nr := &Location{Modifier: ModPrefixNoRegex, Pattern: "/nr/", Nested: []*Location{nrPNG}}
	png := &Location{Modifier: ModRegex, Pattern: `\.png$`}
	php := &Location{Modifier: ModRegex, Pattern: `\.php$`}
	rxIn := &Location{Modifier: ModRegex, Pattern: `^/rx/in/(.*)`}
	rx := &Location{Modifier: ModRegex, Pattern: `^/rx/`, Nested: []*Location{rxIn}}
	m := mustCompile(t, []*Location{n, nr, png, php, rx})
	tests := []struct {
		path string
		want *Location
		caps []string
	}{
		// Nested regexes of the chosen prefix come first.
		{"/n/a.php", nPHP, []string{".php"}},
		{"/n/deep/a.php", nPHP, []string{".php"}},
		{"/n/deep/a.png", png, []string{".png"}},
		// A nested "^~" stops only the nested regexes: the outer ones
		// still run because the outer prefix "/n/" is not "^~".
		{"/n/stop/a.png", png, []string{".png"}},
		{"/n/stop/x", nStop, nil},
		// An outer "^~" stops the outer regexes, not its nested ones.
		{"/nr/a.png", nrPNG, []string{".png"}},
		{"/nr/a.php", nr, nil},
		// Nested regex inside a regex location replaces the captures.
		{"/rx/in/deep", rxIn, []string{"/rx/in/deep", "deep"}},
		{"/rx/out", rx, []string{"/rx/"}},
	}
	for _, tt := range tests {
		got, caps, _ := m.Match(tt.path)
		if got != tt.want || !reflect.DeepEqual(caps, tt.caps) {
			t.Errorf("Match(%q) = %v %q; want %v %q", tt.path, name(got), caps, name(tt.want), tt.caps)
		}
	}
	if nDeep.Parent() != n || n.Parent() != nil {
		t.Error("Parent links wrong")
	}
}

func TestMatch_named(t *testing.T) {
	a := &Location{Modifier: ModNamed, Pattern: "fallback"}
	b := &Location{Modifier: ModNamed, Pattern: "fallback"}
	m := mustCompile(t, []*Location{a, b, {Pattern: "/"}})
	// Named locations are never matched by URI; the first of a name wins.
	if got := m.Named("@fallback"); got != a {
		t.Errorf("Named(@fallback) = %v", name(got))
	}
	if got := m.Named("fallback"); got != a {
		t.Errorf("Named(fallback) = %v", name(got))
	}
	if got, _, _ := m.Match("@fallback"); got != nil {
		t.Errorf("Match(@fallback) = %v", name(got))
	}
}

// Configuration errors, with the messages nginx 1.22 "nginx -t" prints
// (ngx_http_core_location, ngx_http_join_exact_locations); a PCRE feature
// RE2 lacks is rejected with the construct named.
func TestCompileErrors_ngx_http_core_location(t *testing.T) {
	tests := []struct {
		name string
		locs []*Location
		want string
	}{
		{"duplicate prefix", []*Location{{Pattern: "/a"}, {Modifier: ModPrefixNoRegex, Pattern: "/a"}}, `duplicate location "/a"`},
		{"duplicate exact", []*Location{{Modifier: ModExact, Pattern: "/a"}, {Modifier: ModExact, Pattern: "/a"}}, `duplicate location "/a"`},
		{"duplicate nested", []*Location{{Pattern: "/a", Nested: []*Location{{Pattern: "/a/b"}, {Pattern: "/a/b"}}}}, `duplicate location "/a/b"`},
		{"inside exact", []*Location{{Modifier: ModExact, Pattern: "/a", Nested: []*Location{{Pattern: "/a/b"}}}}, `location "/a/b" cannot be inside the exact location "/a"`},
		{"inside named", []*Location{{Modifier: ModNamed, Pattern: "n", Nested: []*Location{{Pattern: "/a"}}}}, `location "/a" cannot be inside the named location "@n"`},
		{"nested named", []*Location{{Pattern: "/a", Nested: []*Location{{Modifier: ModNamed, Pattern: "x"}}}}, `named location "@x" can be on the server level only`},
		{"outside", []*Location{{Pattern: "/a", Nested: []*Location{{Pattern: "/b"}}}}, `location "/b" is outside location "/a"`},
		{"outside regex parent", []*Location{{Modifier: ModRegex, Pattern: "^/re/", Nested: []*Location{{Pattern: "/re/x"}}}}, `location "/re/x" is outside location "^/re/"`},
		{"bad modifier", []*Location{{Modifier: "~~", Pattern: "/a"}}, `invalid location modifier "~~"`},
		{"bad regex", []*Location{{Modifier: ModRegex, Pattern: "(a"}}, "missing closing )"},
		{"backreference", []*Location{{Modifier: ModRegex, Pattern: `(a)\1`}}, `a backreference (\1)`},
		{"lookbehind", []*Location{{Modifier: ModRegex, Pattern: `(?<=a)b`}}, "a lookbehind assertion"},
		{"lookahead", []*Location{{Modifier: ModRegexCaseless, Pattern: `^/(?!admin)`}}, "a lookahead assertion"},
		{"atomic", []*Location{{Modifier: ModRegex, Pattern: `(?>a+)b`}}, "an atomic group"},
		{"possessive", []*Location{{Modifier: ModRegex, Pattern: `a++b`}}, "a possessive quantifier"},
		{"recursion", []*Location{{Modifier: ModRegex, Pattern: `\((?R)?\)`}}, "a recursion or subroutine call"},
		{"conditional", []*Location{{Modifier: ModRegex, Pattern: `(a)?(?(1)b|c)`}}, "a conditional group"},
		{"verb", []*Location{{Modifier: ModRegex, Pattern: `(*UTF8)/a`}}, "a backtracking control verb"},
		{"named backreference", []*Location{{Modifier: ModRegex, Pattern: `(?<x>a)\k<x>`}}, `a named backreference (\k)`},
	}
	for _, tt := range tests {
		_, err := Compile(tt.locs)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	// What nginx accepts must compile: regex duplicates, named
	// duplicates, an empty prefix, a nested regex in a regex.
	ok := [][]*Location{
		{{Modifier: ModRegex, Pattern: "^/a"}, {Modifier: ModRegex, Pattern: "^/a"}},
		{{Modifier: ModNamed, Pattern: "a"}, {Modifier: ModNamed, Pattern: "a"}},
		{{Pattern: ""}, {Modifier: ModExact, Pattern: ""}, {Modifier: ModRegex, Pattern: ""}},
		{{Modifier: ModRegex, Pattern: "^/re/", Nested: []*Location{{Modifier: ModRegex, Pattern: "^/re/x"}}}},
		{{Pattern: "/a"}, {Modifier: ModExact, Pattern: "/a"}},
	}
	for i, locs := range ok {
		if _, err := Compile(locs); err != nil {
			t.Errorf("config %d: %v", i, err)
		}
	}
}

// naiveFind is the documented rule set of the nginx "location" directive,
// written without the tree: it is the reference the tree must agree with.
func naiveFind(locs []*Location, uri string) (*Location, bool, int) {
	for _, l := range locs {
		if l.Modifier == ModExact && l.Pattern == uri {
			return l, false, findOK
		}
	}
	var best *Location
	for _, l := range locs {
		if (l.Modifier == ModPrefix || l.Modifier == ModPrefixNoRegex) && strings.HasPrefix(uri, l.Pattern) &&
			(best == nil || len(l.Pattern) > len(best.Pattern)) {
			best = l
		}
	}
	for _, l := range locs {
		if l.isStatic() && l.autoRedirects() && l.Pattern == uri+"/" && (best == nil || len(best.Pattern) < len(uri)) {
			// A prefix location named exactly like the URI ends the
			// tree walk before the longer name is seen.
			// An exact and a prefix location of one name share a tree
			// node; nginx then reports the exact one.
			for _, e := range locs {
				if e.Modifier == ModExact && e.Pattern == l.Pattern {
					return e, true, findDone
				}
			}
			return l, true, findDone
		}
	}
	rc := findDeclined
	cur := best
	if best != nil {
		rc = findAgain
		n, redirect, nrc := naiveFind(best.Nested, uri)
		if nrc == findOK || nrc == findDone {
			return n, redirect, nrc
		}
		if n != nil {
			cur = n
		}
		if best.Modifier == ModPrefixNoRegex {
			return cur, false, rc
		}
	}
	for _, l := range locs {
		if l.isRegex() && l.regex.MatchString(uri) {
			n, _, _ := naiveFind(l.Nested, uri)
			if n != nil {
				return n, false, findOK
			}
			return l, false, findOK
		}
	}
	return cur, false, rc
}

// randomLocations builds a random location set over a small alphabet so
// that names share prefixes often.
func randomLocations(r *rand.Rand, depth int, parent string) []*Location {
	n := r.IntN(7)
	var out []*Location
	seen := map[string]bool{}
	for range n {
		name := parent
		for range 1 + r.IntN(3) {
			name += string("ab/"[r.IntN(3)])
		}
		l := &Location{Pattern: name, AutoRedirect: r.IntN(2) == 0}
		switch r.IntN(6) {
		case 0:
			l.Modifier = ModExact
		case 1:
			l.Modifier = ModPrefixNoRegex
		case 2:
			l.Modifier = ModRegex
			l.Pattern = "^" + name + "[ab]$"
		}
		key := l.Pattern
		if l.Modifier == ModExact {
			key = "=" + key
		} else if !l.isRegex() {
			key = "p" + key
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		if l.Modifier != ModExact && depth < 2 {
			base := l.Pattern
			if l.isRegex() {
				base = l.Pattern
			}
			l.Nested = randomLocations(r, depth+1, base)
			if l.isRegex() {
				// Only regexes may nest under a regex name.
				var keep []*Location
				for _, c := range l.Nested {
					if c.isRegex() {
						keep = append(keep, c)
					}
				}
				l.Nested = keep
			}
		}
		out = append(out, l)
	}
	return out
}

// The nginx tree search agrees with the plain-language rules on random
// location sets (ngx_http_create_locations_tree vs the documentation).
func TestMatchTreeAgreesWithRules(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		locs := randomLocations(r, 0, "/")
		m, err := Compile(locs)
		if err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
		for range 40 {
			uri := "/"
			for range r.IntN(8) {
				uri += string("ab/"[r.IntN(3)])
			}
			got, _, gr := m.Match(uri)
			want, wr, _ := naiveFind(locs, uri)
			if got != want || gr != wr {
				t.Fatalf("set %d, %q: tree %v %v, rules %v %v\n%s", i, uri, name(got), gr, name(want), wr, dump(locs, ""))
			}
		}
	}
}

func dump(locs []*Location, indent string) string {
	var b strings.Builder
	for _, l := range locs {
		b.WriteString(indent + "location " + l.Modifier + " " + l.Pattern)
		if l.AutoRedirect {
			b.WriteString(" (proxy)")
		}
		b.WriteString("\n")
		b.WriteString(dump(l.Nested, indent+"  "))
	}
	return b.String()
}
