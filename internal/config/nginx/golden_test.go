package nginx

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config/goldentest"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.conf")

// goldenFormat: an nginx.conf, then the expected output commented out, so
// that the whole file stays an nginx.conf the oracle can run.
var goldenFormat = goldentest.Format{Glob: filepath.Join("testdata", "*.conf"), Separator: "# ----------\n", Commented: true}

func goldenFiles(t testing.TB) []goldentest.File { return goldenFormat.Files(t) }

// goldenOpts are the options every golden file is read with: a fixed
// host name, so the output does not depend on the host.
func goldenOpts() Options {
	return Options{Hostname: func() (string, error) { return "lb1.example.com", nil }}
}

// render is what a golden file expects after its separator: the
// diagnostics, then the model as JSON (even when there are errors, to
// show what was read).
func render(path string, input []byte) string {
	c, ds := parse(path, input, goldenOpts())
	var diags []string
	for _, d := range ds {
		diags = append(diags, d.String())
	}
	var model any
	if c != nil && c.HTTP != nil {
		model = c.HTTP
	}
	return goldentest.Report(diags, ds.Err() != nil, model)
}

func TestGolden(t *testing.T) {
	goldenFormat.Check(t, func(g goldentest.File) string { return render(g.Path, g.Input) }, *update)
}

// TestGoldenParseAgrees checks that Parse withholds the model exactly
// when there is an error and reports what parse reports.
func TestGoldenParseAgrees(t *testing.T) {
	for _, g := range goldenFiles(t) {
		c, ds := Parse(g.Path, g.Input, goldenOpts())
		_, ds2 := parse(g.Path, g.Input, goldenOpts())
		if ds.String() != ds2.String() {
			t.Errorf("%s: Parse and parse report differently", g.Path)
		}
		if (c == nil) != (ds.Err() != nil) {
			t.Errorf("%s: model %v with error %v", g.Path, c != nil, ds.Err())
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
	if i := bytes.Index(data, []byte("\n"+goldenFormat.Separator)); i >= 0 {
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
