package keepalived

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

	"github.com/fulcrumlb/fulcrum/internal/config"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.conf")

// goldenSeparator splits a golden file into its keepalived.conf and the
// expected output, as Caddy's adapter tests do.
const goldenSeparator = "----------\n"

// goldenOpts are the options every golden file is read with: a fixed
// config id, environment and set of interfaces (eth0 and eth1), so the
// output does not depend on the host.
func goldenOpts() Options {
	return Options{
		ConfigID:        "lb1",
		InterfaceExists: func(name string) bool { return name == "eth0" || name == "eth1" },
		LookupEnv: func(k string) (string, bool) {
			v, ok := map[string]string{"VIP": "192.0.2.80", "PORT": "8080"}[k]
			return v, ok
		},
		Random: func(lo, _ uint64) uint64 { return lo },
	}
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
		g := golden{path: p}
		if i := bytes.Index(raw, []byte("\n"+goldenSeparator)); i >= 0 {
			g.input, g.want = raw[:i+1], string(raw[i+1+len(goldenSeparator):])
		} else {
			g.input = raw
		}
		gs = append(gs, g)
	}
	return gs
}

// render is what a golden file expects after its separator: the
// diagnostics, then the model (even when there are errors, to show what
// keepalived would run with).
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
	out, err := json.MarshalIndent(readable(reflect.ValueOf(c)), "", "  ")
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
	case []byte:
		return fmt.Sprintf("%x", x)
	}
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			fv := v.Field(i)
			if f.Anonymous {
				if sub, ok := readable(fv).(map[string]any); ok {
					for k, x := range sub {
						m[k] = x
					}
				}
				continue
			}
			if fv.IsZero() {
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
				out := append(append(append([]byte(nil), g.input...), goldenSeparator...), got...)
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

// TestGoldenParseAgrees checks that Parse and the internal parse agree on
// the diagnostics and that Parse withholds the model exactly when there
// is an error.
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
		var _ config.Diagnostics = ds
	}
}
