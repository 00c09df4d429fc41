package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.yaml")

// goldenSeparator splits a golden file into its input and expected output,
// as Caddy's caddyfile_adapt tests do.
const goldenSeparator = "----------\n"

type golden struct {
	path, name string
	input      []byte
	want       string
}

// goldenFiles reads testdata/*.yaml. Each file is a YAML input, a line of
// ten dashes, and the expected output: the diagnostics, one per line, then
// (when there was no error) the canonical YAML of the parsed config.
func goldenFiles(t testing.TB) []golden {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
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
		g := golden{path: p, name: filepath.Base(p)}
		if i := bytes.Index(raw, []byte("\n"+goldenSeparator)); i >= 0 {
			g.input, g.want = raw[:i+1], string(raw[i+1+len(goldenSeparator):])
		} else if bytes.HasPrefix(raw, []byte(goldenSeparator)) {
			g.input, g.want = nil, string(raw[len(goldenSeparator):])
		} else {
			g.input = raw // no expected output yet: -update writes it
		}
		gs = append(gs, g)
	}
	return gs
}

// render is what a golden file expects after its separator. The file name
// in the diagnostics is the golden file's own, and the input starts on its
// first line, so the line numbers point into the golden file.
func render(name string, input []byte) string {
	c, ds := Parse(name, input)
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	if c != nil {
		out, err := Marshal(c)
		if err != nil {
			b.WriteString("marshal error: " + err.Error() + "\n")
		}
		b.Write(out)
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, g := range goldenFiles(t) {
		t.Run(strings.TrimSuffix(g.name, ".yaml"), func(t *testing.T) {
			got := render(g.name, g.input)
			if *update {
				out := append(append(append([]byte(nil), g.input...), goldenSeparator...), got...)
				if err := os.WriteFile(g.path, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != g.want {
				t.Errorf("%s: output differs (run go test -update to accept)\n--- got\n%s--- want\n%s", g.path, got, g.want)
			}
		})
	}
}
