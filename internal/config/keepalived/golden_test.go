package keepalived

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/config/goldentest"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.conf")

// goldenFormat: a keepalived.conf, a line of ten dashes, the expected output.
var goldenFormat = goldentest.Format{Glob: filepath.Join("testdata", "*.conf"), Separator: "----------\n"}

func goldenFiles(t testing.TB) []goldentest.File { return goldenFormat.Files(t) }

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

// render is what a golden file expects after its separator: the
// diagnostics, then the model (even when there are errors, to show what
// keepalived would run with).
func render(path string, input []byte) string {
	c, ds := parse(path, input, goldenOpts())
	var diags []string
	for _, d := range ds {
		diags = append(diags, d.String())
	}
	return goldentest.Report(diags, ds.Err() != nil, c)
}

func TestGolden(t *testing.T) {
	goldenFormat.Check(t, func(g goldentest.File) string { return render(g.Path, g.Input) }, *update)
}

// TestGoldenParseAgrees checks that Parse and the internal parse agree on
// the diagnostics and that Parse withholds the model exactly when there
// is an error.
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
		var _ config.Diagnostics = ds
	}
}
