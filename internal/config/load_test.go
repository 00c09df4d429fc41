package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "fulcrum.yaml")
	if err := os.WriteFile(good, []byte("services:\n  - protocol: tcp\n    address: 10.0.0.1:80\n    weigth: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, ds := Load(good)
	if c != nil || len(ds) != 1 {
		t.Fatalf("Load = %v, %v; want no config and one diagnostic", c, ds)
	}
	if want := good + ":4: services[0].weigth: unknown key"; !strings.HasPrefix(ds[0].String(), want) {
		t.Errorf("diagnostic %q does not start with %q", ds[0], want)
	}

	if err := os.WriteFile(good, []byte("services:\n  - {protocol: tcp, address: 10.0.0.1:80}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, ds = Load(good)
	if c == nil || len(ds) != 0 {
		t.Fatalf("Load of a valid file = %v, %v", c, ds)
	}
	if c.Source != good {
		t.Errorf("Source = %q, want %q", c.Source, good)
	}

	missing := filepath.Join(dir, "missing.yaml")
	c, ds = Load(missing)
	if c != nil || len(ds) != 1 || ds.Err() == nil {
		t.Fatalf("Load(missing) = %v, %v; want one error", c, ds)
	}
	if got, want := ds[0].String(), missing+": reading config: no such file or directory"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if ds[0].File != missing || ds[0].Line != 0 {
		t.Errorf("diagnostic %+v must name the file and no line", ds[0])
	}

	c, ds = Load(dir) // a directory
	if c != nil || ds.Err() == nil || ds[0].File != dir {
		t.Errorf("Load(dir) = %v, %v; want an error naming %s", c, ds, dir)
	}
}

// TestReadFileLimit: ReadFile, which Load and the adapters share, reads up
// to MaxFileSize bytes and refuses more.
func TestReadFileLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.yaml")
	for _, tc := range []struct {
		size int64
		err  string
	}{
		{MaxFileSize, ""},
		{MaxFileSize + 1, "reading config: larger than 16 MiB"},
	} {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		err = f.Truncate(tc.size) // sparse: no 16 MiB write
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		data, err := ReadFile(p)
		switch {
		case tc.err == "" && (err != nil || int64(len(data)) != tc.size):
			t.Errorf("size %d: read %d bytes, %v; want all of it", tc.size, len(data), err)
		case tc.err != "" && (err == nil || err.Error() != tc.err || data != nil):
			t.Errorf("size %d: %d bytes, %v; want %q", tc.size, len(data), err, tc.err)
		}
	}
}

// TestAliasBomb checks that aliases cannot make the decoder visit far more
// nodes than the input holds ("billion laughs"): 5000 services that alias
// one service whose reals alias a list of 1000 real servers are 20 million
// nodes after expansion, from 25 kB of YAML.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x: &r {address: 10.0.0.2:80, weight: 1, forward: masq}\n")
	b.WriteString("y: &rs [" + strings.Repeat("*r, ", 999) + "*r]\n")
	b.WriteString("z: &s {protocol: tcp, address: 10.0.0.1:80, reals: *rs}\n")
	b.WriteString("services: [" + strings.Repeat("*s, ", 4999) + "*s]\n")
	c, ds := Parse("bomb.yaml", []byte(b.String()))
	if c != nil || ds.Err() == nil {
		t.Fatal("an alias bomb was accepted")
	}
	if !strings.Contains(ds.Err().Error(), "nodes after alias expansion") {
		t.Errorf("want the node budget error, got:\n%v", ds.Err())
	}
}

func BenchmarkParse(b *testing.B) {
	var full, ha, l7 []byte
	for _, g := range goldenFiles(b) {
		switch g.Name {
		case "valid_full.yaml":
			full = g.Input
		case "example-full.yaml":
			ha = g.Input
		case "valid_http.yaml":
			l7 = g.Input
		}
	}
	for _, bm := range []struct {
		name string
		data []byte
	}{{"default", defaultYAML}, {"full", full}, {"health+vrrp+http", ha}, {"http", l7}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ds := Parse("bench.yaml", bm.data); ds.Err() != nil {
					b.Fatal(ds.Err())
				}
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	c := Default()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(c); err != nil {
			b.Fatal(err)
		}
	}
}
