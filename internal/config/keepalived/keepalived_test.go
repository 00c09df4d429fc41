package keepalived

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/config/goldentest"
)

// hasDiag reports whether ds has a diagnostic on line that contains text.
func hasDiag(ds config.Diagnostics, line int, text string) bool {
	return slices.ContainsFunc(ds, func(d config.Diagnostic) bool { return d.Line == line && strings.Contains(d.Message, text) })
}

// TestSeedConfigs loads the two keepalived.conf files of the project's
// notes: they load, with at least the problems Debian's keepalived 2.2.7
// reports for them (see /work/shared/README.md), and the timing keepalived
// would run with.
func TestSeedConfigs(t *testing.T) {
	tests := []struct {
		file  string
		diags []struct {
			line int
			text string
		}
		sched string
	}{
		{"testdata/seed_lvs_dr_rr.conf", []struct {
			line int
			text string
		}{
			{19, "Unknown keyword 'nat_mask'"},
			{20, "number '0' outside range [1, 2678400]"},
			{20, "persistence_timeout invalid"},
			{31, "nb_get_retry is deprecated - please use 'retry'"},
			{43, "nb_get_retry is deprecated - please use 'retry'"},
			{2, "'//' is not a comment"},
		}, "rr"},
		{"testdata/seed_lvs_dr_sh.conf", []struct {
			line int
			text string
		}{
			{57, "persistence_timeout invalid"},
			{74, "nb_get_retry is deprecated - please use 'retry'"},
			{89, "nb_get_retry is deprecated - please use 'retry'"},
		}, "sh"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			g := goldenFile(t, tt.file)
			opts := goldenOpts()
			opts.InterfaceExists = nil // the sh file names eno16777984
			c, ds := Parse(tt.file, g.Input, opts)
			if c == nil {
				t.Fatalf("not loaded: %v", ds)
			}
			for _, d := range tt.diags {
				if !hasDiag(ds, d.line, d.text) {
					t.Errorf("no diagnostic %q on line %d:\n%v", d.text, d.line, ds)
				}
			}
			if len(c.Services) != 1 {
				t.Fatalf("%d services", len(c.Services))
			}
			s := c.Services[0]
			if s.Scheduler != tt.sched || s.Persistence != nil || s.Protocol != config.TCP {
				t.Errorf("service %s %s persistence %v", s.Protocol, s.Scheduler, s.Persistence)
			}
			for _, r := range s.Reals {
				if r.Forward != config.Route || r.Weight != 1 || len(r.Health.Checks) != 1 {
					t.Fatalf("real %+v", r)
				}
				// HTTP_GET: nb_get_retry 3 still counts (deprecated
				// alias), delay_loop from the virtual server,
				// warmup = delay_loop.
				ch := r.Health.Checks[0]
				want := config.Check{Type: config.CheckHTTP, DelayLoop: 6 * time.Second, ConnectTimeout: 3 * time.Second,
					Retry: 3, DelayBeforeRetry: 3 * time.Second, Warmup: 6 * time.Second, HTTPProtocol: "1.0"}
				ch.URLs = nil
				if !equalCheck(ch, want) {
					t.Errorf("check %+v, want %+v", ch, want)
				}
			}
			if len(c.VRRPInstances) != 1 || c.VRRPInstances[0].State != "MASTER" || c.VRRPInstances[0].Priority != 100 || c.VRRPInstances[0].AuthPass != "1111" {
				t.Errorf("vrrp %+v", c.VRRPInstances)
			}
		})
	}
}

func equalCheck(a, b config.Check) bool {
	return a.Type == b.Type && a.DelayLoop == b.DelayLoop && a.ConnectTimeout == b.ConnectTimeout &&
		a.Retry == b.Retry && a.DelayBeforeRetry == b.DelayBeforeRetry && a.Warmup == b.Warmup &&
		a.HTTPProtocol == b.HTTPProtocol
}

func goldenFile(t testing.TB, path string) goldentest.File {
	t.Helper()
	for _, g := range goldenFiles(t) {
		if g.Path == path {
			return g
		}
	}
	t.Fatalf("no golden file %s", path)
	return goldentest.File{}
}

func TestStrict(t *testing.T) {
	g := goldenFile(t, "testdata/seed_lvs_dr_rr.conf")
	opts := goldenOpts()
	opts.Strict = true
	c, ds := Parse(g.Path, g.Input, opts)
	if c != nil {
		t.Fatal("strict mode loaded a file with warnings")
	}
	for _, d := range ds {
		if d.Severity != config.Error {
			t.Errorf("strict mode left a warning: %v", d)
		}
	}
	if !hasDiag(ds, 19, "Unknown keyword 'nat_mask'") {
		t.Errorf("strict mode lost a diagnostic: %v", ds)
	}
}

func TestInterfaceExists(t *testing.T) {
	g := goldenFile(t, "testdata/seed_lvs_dr_sh.conf")
	opts := goldenOpts()
	opts.InterfaceExists = func(name string) bool { return name == "eth0" }
	c, ds := Parse(g.Path, g.Input, opts)
	// keepalived: "WARNING - interface eno16777984 for vrrp_instance
	// VI_1 doesn't exist" and it does not start.
	if c != nil || !hasDiag(ds, 19, "WARNING - interface eno16777984 for vrrp_instance VI_1 doesn't exist") {
		t.Errorf("a missing interface: model %v, %v", c != nil, ds)
	}
	opts.InterfaceExists = func(string) bool { return true }
	if c, ds := Parse(g.Path, g.Input, opts); c == nil {
		t.Errorf("with the interface present: %v", ds)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("conf.d/rs.conf", "real_server 10.0.0.1 80 {\n  weight 4\n}\n", 0o644)
	main := write("keepalived.conf", "virtual_server 192.0.2.1 80 {\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n  include conf.d/*.conf\n}\n", 0o644)
	c, ds := Load(main, goldenOpts())
	if c == nil || len(c.Services) != 1 || len(c.Services[0].Reals) != 1 || c.Services[0].Reals[0].Weight != 4 {
		t.Fatalf("Load = %+v, %v", c, ds)
	}
	if c.Source != main {
		t.Errorf("Source %q, want %q", c.Source, main)
	}

	if c, ds := Load(filepath.Join(dir, "none.conf"), goldenOpts()); c != nil || !strings.Contains(ds.String(), "no such file or directory") {
		t.Errorf("a missing file: %v, %v", c, ds)
	}
	exe := write("exec.conf", "global_defs {\n}\n", 0o755)
	if c, ds := Load(exe, goldenOpts()); c != nil || !strings.Contains(ds.String(), "is not a regular non-executable file") {
		t.Errorf("an executable file: %v, %v", c, ds)
	}
	if c, ds := Load(dir, goldenOpts()); c != nil || ds.Err() == nil {
		t.Errorf("a directory: %v, %v", c, ds)
	}
}

// TestDefaultConfigID checks that without Options.ConfigID the "@ID"
// lines follow the host name up to its first dot, as keepalived does.
func TestDefaultConfigID(t *testing.T) {
	h, err := os.Hostname()
	if err != nil || h == "" {
		t.Skip("no host name")
	}
	id, _, _ := strings.Cut(h, ".")
	src := "global_defs {\n@" + id + " router_id mine\n@^" + id + " router_id other\n}\n"
	c, ds := Parse("x.conf", []byte(src), Options{})
	if c == nil || c.Global.RouterID != "mine" {
		t.Errorf("router_id %q (%v), want mine", c.Global.RouterID, ds)
	}
}

func BenchmarkParse(b *testing.B) {
	g := goldenFile(b, "testdata/vrrp.conf")
	opts := goldenOpts()
	b.ReportAllocs()
	for b.Loop() {
		Parse(g.Path, g.Input, opts)
	}
}
