package config

import (
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that it returns a config exactly
// when there is no error, and that every config it accepts marshals and
// parses back to the same model.
func FuzzParse(f *testing.F) {
	f.Add(defaultYAML)
	for _, g := range goldenFiles(f) {
		f.Add(g.input)
	}
	f.Add([]byte("a: &a [*a, *a]\nservices: *a\n"))
	f.Add([]byte("services: [{protocol: tcp, address: '[::ffff:10.0.0.1]:80', reals: [{address: '[::ffff:10.0.0.2]:80'}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ds := Parse("fuzz.yaml", data)
		if (ds.Err() == nil) != (c != nil) {
			t.Fatalf("config %v returned with diagnostics:\n%s", c != nil, ds)
		}
		for _, d := range ds {
			if d.Message == "" || d.File != "fuzz.yaml" {
				t.Fatalf("malformed diagnostic %+v", d)
			}
		}
		if c == nil {
			return
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of an accepted config: %v", err)
		}
		back, ds := Parse("fuzz.yaml", out)
		if err := ds.Err(); err != nil {
			t.Fatalf("re-parse failed:\n%v\n--- input\n%q\n--- marshaled\n%s", err, data, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("re-parse differs\n--- input\n%q\n--- marshaled\n%s--- first\n%#v\n--- second\n%#v", data, out, c, back)
		}
	})
}
