package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// fixedLayout is a layout with fixed paths and ports, for the golden files.
func fixedLayout(name string) layout {
	dir := "/tmp/fulcrum-bench-X/" + name
	return layout{
		Dir:      dir,
		TLS:      tlsFiles{Cert: "/tmp/fulcrum-bench-X/cert.pem", Key: "/tmp/fulcrum-bench-X/key.pem", Combined: "/tmp/fulcrum-bench-X/combined.pem"},
		Backends: []string{"127.0.0.1:9001", "127.0.0.1:9002"},
		Bulk:     "127.0.0.1:9003",
		H1:       "127.0.0.1:9101", H2: "127.0.0.1:9102", L4: "127.0.0.1:9103", L4Bulk: "127.0.0.1:9104",
		Admin: dir + "/admin.sock",
	}
}

func findTarget(t *testing.T, name string) target {
	t.Helper()
	for _, tg := range targets() {
		if tg.name == name {
			return tg
		}
	}
	t.Fatalf("no target %s", name)
	return target{}
}

func TestConfigsGolden(t *testing.T) {
	for _, tg := range targets() {
		files, err := tg.files(fixedLayout(tg.name))
		if err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			golden(t, name+".golden", []byte(content))
			// Nothing but loopback, in every config.
			for _, wild := range []string{"0.0.0.0", "[::]", "*:"} {
				if strings.Contains(content, wild) {
					t.Errorf("%s: %q in the config", name, wild)
				}
			}
		}
	}
}

// The Fulcrum config the harness writes is valid for Fulcrum's own loader,
// without a warning.
func TestFulcrumConfigLoads(t *testing.T) {
	l := fixedLayout("fulcrum")
	files, err := findTarget(t, "fulcrum").files(l)
	if err != nil {
		t.Fatal(err)
	}
	cfg, ds := config.Parse("fulcrum.yaml", []byte(files["fulcrum.yaml"]))
	if ds.Err() != nil {
		t.Fatalf("config errors:\n%s", ds)
	}
	for _, d := range ds {
		// The certificate files do not exist here: that warning is
		// expected ("a file that cannot be read at check time").
		if !strings.Contains(d.String(), "cert") && !strings.Contains(d.String(), "key") {
			t.Errorf("unexpected diagnostic: %s", d)
		}
	}
	if len(cfg.Services) != 2 || len(cfg.HTTP.Servers) != 2 || len(cfg.HTTP.Upstreams) != 1 {
		t.Fatalf("services %d, servers %d, upstreams %d", len(cfg.Services), len(cfg.HTTP.Servers), len(cfg.HTTP.Upstreams))
	}
	if up := cfg.HTTP.Upstreams[0]; len(up.Servers) != 2 || up.Keepalive != 32 {
		t.Fatalf("upstream %+v", up)
	}
	if cfg.Admin.Socket != l.Admin {
		t.Fatalf("admin socket %q", cfg.Admin.Socket)
	}
}

// The peers accept their configs: nginx -t, haproxy -c and caddy adapt,
// when they are installed (scripts/test.sh installs nginx and HAProxy).
func TestPeerConfigsValidate(t *testing.T) {
	dir := t.TempDir()
	tlsf, err := writeSelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(7)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		check func(l layout) []string
		needs string
	}{
		{"nginx", func(l layout) []string {
			return []string{"nginx", "-t", "-p", l.Dir, "-c", filepath.Join(l.Dir, "nginx.conf"), "-e", filepath.Join(l.Dir, "error.log")}
		}, "/usr/lib/nginx/modules/ngx_stream_module.so"},
		{"haproxy", func(l layout) []string { return []string{"haproxy", "-c", "-f", filepath.Join(l.Dir, "haproxy.cfg")} }, ""},
		{"caddy", func(l layout) []string {
			return []string{"caddy", "adapt", "--config", filepath.Join(l.Dir, "Caddyfile"), "--adapter", "caddyfile", "--validate"}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := exec.LookPath(tc.name); err != nil {
				t.Skipf("%s not installed", tc.name)
			}
			if tc.needs != "" {
				if _, err := os.Stat(tc.needs); err != nil {
					t.Skipf("%s not installed", tc.needs)
				}
			}
			l := layout{Dir: filepath.Join(dir, tc.name), TLS: tlsf, Backends: ports[:2], Bulk: ports[2],
				H1: ports[3], H2: ports[4], L4: ports[5], L4Bulk: ports[6]}
			if err := os.MkdirAll(l.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tg := findTarget(t, tc.name)
			if err := writeFiles(tg, l); err != nil {
				t.Fatal(err)
			}
			args := tc.check(l)
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = append(os.Environ(), "HOME="+l.Dir, "XDG_DATA_HOME="+l.Dir, "XDG_CONFIG_HOME="+l.Dir)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
			}
		})
	}
}
