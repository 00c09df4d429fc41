// Package goldentest reads and checks the golden files of the config
// readers (YAML, keepalived.conf, nginx.conf): each file is an input, a
// separator line and the expected output, as Caddy's adapter tests keep
// them. It is imported by tests only.
package goldentest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Format is how a package's golden files are written.
type Format struct {
	// Glob finds the files, e.g. "testdata/*.conf".
	Glob string
	// Separator is the line between input and expected output.
	Separator string
	// Commented outputs have "# " before every line, so that the whole
	// file stays valid input (nginx -t reads it as the oracle).
	Commented bool
}

// File is one golden file.
type File struct {
	Path, Name string // Name is the base name
	Input      []byte
	Want       string // "" until -update writes it
}

// Files reads every golden file; a file that starts with the separator
// has an empty input.
func (f Format) Files(t testing.TB) []File {
	t.Helper()
	paths, err := filepath.Glob(f.Glob)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no golden files match %s", f.Glob)
	}
	sep := []byte(f.Separator)
	var gs []File
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		g := File{Path: p, Name: filepath.Base(p), Input: raw}
		if i := bytes.Index(raw, append([]byte("\n"), sep...)); i >= 0 {
			g.Input, g.Want = raw[:i+1], string(raw[i+1+len(sep):])
		} else if bytes.HasPrefix(raw, sep) {
			g.Input, g.Want = nil, string(raw[len(sep):])
		}
		if f.Commented {
			g.Want = uncomment(g.Want)
		}
		gs = append(gs, g)
	}
	return gs
}

// Check runs one subtest per file comparing render's output with the
// expected one, or, when update is set, rewrites the files with it.
func (f Format) Check(t *testing.T, render func(File) string, update bool) {
	for _, g := range f.Files(t) {
		t.Run(strings.TrimSuffix(g.Name, filepath.Ext(g.Name)), func(t *testing.T) {
			got := render(g)
			if update {
				out := got
				if f.Commented {
					out = comment(got)
				}
				data := append(append(append([]byte(nil), g.Input...), f.Separator...), out...)
				if err := os.WriteFile(g.Path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != g.Want {
				t.Errorf("output differs from %s (run go test -update to accept):\n--- got\n%s--- want\n%s", g.Path, got, g.Want)
			}
		})
	}
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
		if l != "" {
			b.WriteString("# " + l)
		}
	}
	return b.String()
}

// Report is the expected output of a reader's golden file: the
// diagnostics one per line, "(rejected)" when they hold an error, then the
// model as readable JSON (nil: none).
func Report(diags []string, rejected bool, model any) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString(d)
		b.WriteByte('\n')
	}
	if rejected {
		b.WriteString("(rejected)\n")
	}
	if model == nil {
		return b.String()
	}
	out, err := json.MarshalIndent(Readable(reflect.ValueOf(model)), "", "  ")
	if err != nil {
		return b.String() + "marshal error: " + err.Error() + "\n"
	}
	b.Write(out)
	b.WriteByte('\n')
	return b.String()
}

// Readable turns a model into JSON-ready values with durations and
// addresses as text, byte slices in hex, embedded structs merged, and zero
// values and unexported fields left out, so golden files read well.
func Readable(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return Readable(v.Elem())
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
			if !f.IsExported() {
				continue
			}
			if f.Anonymous {
				if sub, ok := Readable(fv).(map[string]any); ok {
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
			m[name] = Readable(fv)
		}
		return m
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = Readable(v.Index(i))
		}
		return out
	}
	return v.Interface()
}
