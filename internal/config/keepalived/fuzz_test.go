package keepalived

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzParse feeds arbitrary text to Parse: it must not panic or loop, a
// model it returns must come without errors, every diagnostic must point
// into the input, and the lexer must be idempotent: its output, read
// again, gives the same lines.
func FuzzParse(f *testing.F) {
	for _, g := range goldenFiles(f) {
		f.Add(g.Input)
	}
	for _, s := range []string{
		"", "{", "}", "}}}{{{", "\"", "$", "${", "$A=\\", "@", "@^x y", "~SEQ(", "~LST({a,b},{1},{2,3}) x $a",
		"include", "vrrp_instance", "virtual_server 1.2.3.4 80 {\nreal_server 5.6.7.8 80 {\nHTTP_GET {\nurl {\n",
		"$A=${A}\n$A", "virtual_server_group g {\n10.0.0.1-255 80\n}\nvirtual_server group g {\nreal_server 10.1.1.1 80\n}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := goldenOpts()
		opts.FS = mapFS{fstest.MapFS{}}
		c, ds := Parse("fuzz.conf", data, opts)
		if c != nil && ds.Err() != nil {
			t.Fatalf("a model with errors: %v", ds)
		}
		n := bytes.Count(data, []byte("\n")) + 1
		for _, d := range ds {
			if d.Line < 0 || d.Line > n {
				t.Fatalf("diagnostic %q points at line %d of %d", d, d.Line, n)
			}
		}

		first := texts(lex("fuzz.conf", data, &opts, opts.FS, &diagSink{}))
		if slices.ContainsFunc(first, func(s string) bool { return strings.Contains(s, "$") || strings.HasSuffix(s, `\`) }) {
			// Splitting at a brace can change what the text before it
			// means, as in keepalived: "$_HASH}" keeps its "$_HASH"
			// (a reference ends at a blank), which alone on a line is
			// expanded; "a \}" leaves "a \", which continues a line.
			return
		}
		again := texts(lex("fuzz.conf", []byte(strings.Join(first, "\n")), &opts, opts.FS, &diagSink{}))
		if !slices.Equal(first, again) {
			t.Fatalf("lexing is not idempotent:\n%q\n%q", first, again)
		}
	})
}
