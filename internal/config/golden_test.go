package config

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config/goldentest"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.yaml")

// goldenFormat: testdata/*.yaml, each a YAML input, a line of ten dashes,
// and the expected output: the diagnostics, one per line, then (when there
// was no error) the canonical YAML of the parsed config.
var goldenFormat = goldentest.Format{Glob: filepath.Join("testdata", "*.yaml"), Separator: "----------\n"}

func goldenFiles(t testing.TB) []goldentest.File { return goldenFormat.Files(t) }

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
	goldenFormat.Check(t, func(g goldentest.File) string { return render(g.Name, g.Input) }, *update)
}
