package nginx

import (
	"bytes"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// mapFS serves includes from memory, for the fuzzer.
type mapFS struct{ fstest.MapFS }

func (m mapFS) Glob(pattern string) ([]string, error) { return fs.Glob(m.MapFS, pattern) }
func (m mapFS) ReadFile(name string) ([]byte, error)  { return m.MapFS.ReadFile(name) }

// FuzzParse feeds arbitrary text to Parse: it must not panic or loop, a
// model must come exactly when there is no error, every diagnostic must
// point into the input (or an included file), and an accepted model must
// pass config.Validate without errors.
func FuzzParse(f *testing.F) {
	for _, g := range goldenFiles(f) {
		f.Add(g.Input)
	}
	for _, s := range []string{
		"", "{", "}", ";", "\"", "'", "\\", "#", "$", "${", "a${b}c;", "http {", "http { server { location / {",
		"events {} http { server { if ($invalid_referer) { return 403; } } }",
		"events {} http { map $a $b { default 1; ~x 2; } limit_req_zone $b zone=z:1m rate=1r/s; }",
		"events {} http { upstream u { hash $uri consistent; server a:1 weight=2; } server { listen 80; location = / { proxy_pass http://u/x; } } }",
		"include x.conf;", "include *.conf;", "http { include inc/*; }",
	} {
		f.Add([]byte(s))
	}
	inc := mapFS{fstest.MapFS{
		"x.conf":     {Data: []byte("events {}\n")},
		"inc/a.conf": {Data: []byte("server { listen 80; location / { return 200; } }\n")},
	}}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := goldenOpts()
		opts.FS = inc
		opts.ConfPrefix = "."
		c, ds := Parse("fuzz.conf", data, opts)
		if (c == nil) != (ds.Err() != nil) {
			t.Fatalf("model %v with diagnostics:\n%s", c != nil, ds)
		}
		n := bytes.Count(data, []byte("\n")) + 1
		for _, d := range ds {
			if d.Message == "" || (d.File == "fuzz.conf" && (d.Line < 0 || d.Line > n)) {
				t.Fatalf("malformed diagnostic %+v (input has %d lines)", d, n)
			}
		}
		if c != nil {
			if err := config.Validate(c).Err(); err != nil {
				t.Fatalf("accepted a model Validate refuses: %v", err)
			}
		}
	})
}
