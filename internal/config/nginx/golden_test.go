package nginx

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.conf")

// goldenSeparator splits a golden file into its nginx.conf and the
// expected output, as Caddy's adapter tests do. nginx reads "#" lines,
// so the output is commented out and the whole file stays an nginx.conf
// the oracle can run.
const goldenSeparator = "# ----------\n"

// goldenOpts are the options every golden file is read with: a fixed
// host name, so the output does not depend on the host.
func goldenOpts() Options {
	return Options{Hostname: func() (string, error) { return "lb1.example.com", nil }}
}

type golden struct {
	path  string
	input []byte
	want  string
}

func goldenFiles(t testing.TB) []golden {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no golden files in testdata")
	}
	var gs []golden
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		g := golden{path: p, input: raw}
		if i := bytes.Index(raw, []byte("\n"+goldenSeparator)); i >= 0 {
			g.input = raw[:i+1]
			g.want = uncomment(string(raw[i+1+len(goldenSeparator):]))
		}
		gs = append(gs, g)
	}
	return gs
}

func uncomment(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		b.WriteString(strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
	}
	return b.String()
}

func comment(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l == "" {
			continue
		}
		b.WriteString("# " + l)
	}
	return b.String()
}

// render is what a golden file expects after its separator: the
// diagnostics, then the model as JSON (even when there are errors, to
// show what was read).
func render(path string, input []byte) string {
	c, ds := parse(path, input, goldenOpts())
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	if ds.Err() != nil {
		b.WriteString("(rejected)\n")
	}
	if c == nil || c.HTTP == nil {
		return b.String()
	}
	out, err := json.MarshalIndent(readable(reflect.ValueOf(c.HTTP)), "", "  ")
	if err != nil {
		return b.String() + "marshal error: " + err.Error() + "\n"
	}
	b.Write(out)
	b.WriteByte('\n')
	return b.String()
}

// readable turns the model into JSON-ready values with durations and
// addresses as text and zero values left out, so golden files read well.
func readable(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return readable(v.Elem())
	}
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	case netip.Addr, netip.AddrPort, netip.Prefix:
		return fmt.Sprint(x)
	}
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			fv := v.Field(i)
			if fv.IsZero() || !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			m[name] = readable(fv)
		}
		return m
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = readable(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

func TestGolden(t *testing.T) {
	for _, g := range goldenFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(g.path), ".conf"), func(t *testing.T) {
			got := render(g.path, g.input)
			if *update {
				out := append(append(append([]byte(nil), g.input...), goldenSeparator...), comment(got)...)
				if err := os.WriteFile(g.path, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != g.want {
				t.Errorf("output differs from %s (run go test -update to accept):\n--- got\n%s--- want\n%s", g.path, got, g.want)
			}
		})
	}
}

// TestGoldenParseAgrees checks that Parse withholds the model exactly
// when there is an error and reports what parse reports.
func TestGoldenParseAgrees(t *testing.T) {
	for _, g := range goldenFiles(t) {
		c, ds := Parse(g.path, g.input, goldenOpts())
		_, ds2 := parse(g.path, g.input, goldenOpts())
		if ds.String() != ds2.String() {
			t.Errorf("%s: Parse and parse report differently", g.path)
		}
		if (c == nil) != (ds.Err() != nil) {
			t.Errorf("%s: model %v with error %v", g.path, c != nil, ds.Err())
		}
	}
}

// TestReproductionConfig reads the nginx.conf of the L7 research note
// (docs: /work/shared/research/l7.md section 7), copied verbatim: it must
// read with nothing but "not used" warnings.
func TestReproductionConfig(t *testing.T) {
	const path = "testdata/l7_reproduction.conf"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.Index(data, []byte("\n"+goldenSeparator)); i >= 0 {
		data = data[:i+1]
	}
	c, ds := Parse(path, data, goldenOpts())
	if c == nil {
		t.Fatalf("rejected:\n%s", ds)
	}
	for _, d := range ds {
		if !strings.Contains(d.Message, "not used by fulcrum") {
			t.Errorf("unexpected diagnostic: %s", d)
		}
	}
	if got := len(c.HTTP.Servers); got != 4 {
		t.Errorf("%d servers, want 4", got)
	}
}
