package route

import (
	"fmt"
	"testing"
)

// benchMatcher has 200 prefix locations, 50 exact ones, the l7.md §7 set
// and 5 regexes, a size real configs reach.
func benchMatcher(tb testing.TB) *Matcher {
	var locs []*Location
	for i := range 200 {
		locs = append(locs, &Location{Pattern: fmt.Sprintf("/app%d/v%d/", i%20, i), AutoRedirect: i%2 == 0})
	}
	for i := range 50 {
		locs = append(locs, &Location{Modifier: ModExact, Pattern: fmt.Sprintf("/health%d", i)})
	}
	locs = append(locs,
		&Location{Modifier: ModPrefixNoRegex, Pattern: "/static/"},
		&Location{Pattern: "/"},
		&Location{Modifier: ModRegexCaseless, Pattern: `\.(gif|jpg|png)$`},
		&Location{Modifier: ModRegex, Pattern: `^/api/v(\d+)/`},
		&Location{Modifier: ModRegex, Pattern: `\.php$`},
		&Location{Modifier: ModRegex, Pattern: `^/old/`},
		&Location{Modifier: ModRegex, Pattern: `/download/`},
	)
	return mustCompile(tb, locs)
}

var benchPaths = []struct{ name, path string }{
	{"exact", "/health42"},
	{"prefix-noregex", "/static/css/site.css"},
	{"prefix-then-regexes", "/app7/v147/users/42"},
	{"redirect", "/app8/v148"},
	{"regex", "/images/logo.PNG"},
	{"regex-captures", "/api/v2/users"},
}

func BenchmarkMatch(b *testing.B) {
	m := benchMatcher(b)
	for _, bp := range benchPaths {
		b.Run(bp.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Match(bp.path)
			}
		})
	}
}

func BenchmarkNormalize(b *testing.B) {
	for _, raw := range []string{"/app7/v147/users/42?x=1", "/a/./b/../c%2Fd//e"} {
		b.Run(raw, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, _ = Normalize(raw)
			}
		})
	}
}

func BenchmarkHostsSelect(b *testing.B) {
	h, err := NewHosts([]*Server{
		{Names: []string{"example.com", "www.example.com"}, Default: true},
		{Names: []string{"*.example.org"}},
		{Names: []string{"mail.*"}},
		{Names: []string{`~^api\d+\.example\.net$`}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = h.Select("a.b.example.org:8080")
	}
}

// Exact and prefix lookups (also those that test regexes without a
// match) allocate nothing.
func TestMatchZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	m := benchMatcher(t)
	for _, bp := range benchPaths[:4] {
		if n := testing.AllocsPerRun(100, func() { m.Match(bp.path) }); n != 0 {
			t.Errorf("Match(%q): %v allocs", bp.path, n)
		}
	}
}

func TestBenchMatcherRedirect(t *testing.T) {
	m := benchMatcher(t)
	if loc, _, redirect := m.Match("/app8/v148"); !redirect || loc.Pattern != "/app8/v148/" {
		t.Errorf("redirect case: %v %v", name(loc), redirect)
	}
}
