package balance

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// hdrMap is a HeaderGetter keyed by lower-case names.
type hdrMap map[string]string

func (h hdrMap) Get(name string) string { return h[strings.ToLower(name)] }

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// letters returns peers named a, b, c... with the given weights.
func letters(ws ...int) []Peer {
	p := make([]Peer, len(ws))
	for i, w := range ws {
		p[i] = Peer{Name: string(rune('a' + i)), Weight: w}
	}
	return p
}

func mustNew(t testing.TB, cfg Config, peers []Peer, opt Options) Balancer {
	t.Helper()
	b, err := New(cfg, peers, opt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seq picks n times, ending each attempt successfully, and returns the
// names concatenated.
func seq(t testing.TB, b Balancer, n int, r *Request) string {
	t.Helper()
	if r == nil {
		r = &Request{}
	}
	var sb strings.Builder
	for i := 0; i < n; i++ {
		s, err := b.Pick(r)
		if err != nil {
			t.Fatalf("pick %d: %v", i, err)
		}
		sb.WriteString(s.Peer().Name)
		s.Done(true)
	}
	return sb.String()
}

// pickName picks once and returns the peer name, or the error text.
func pickName(t testing.TB, b Balancer, r *Request) string {
	t.Helper()
	s, err := b.Pick(r)
	if err != nil {
		return err.Error()
	}
	n := s.Peer().Name
	s.Done(true)
	return n
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file:\n got:\n%s\nwant:\n%s", name, got, want)
	}
}

// readGolden parses "key value" lines of a golden section ("# section"
// headers) into map[section][]pair.
func readGolden(t *testing.T, name string) map[string][][2]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (run the golden tests with -update)", err)
	}
	out := map[string][][2]string{}
	sec := ""
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "# "):
			sec = l[2:]
		case l != "":
			k, v, _ := strings.Cut(l, " ")
			out[sec] = append(out[sec], [2]string{k, v})
		}
	}
	return out
}
