package adapt

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name, file, data, want string
	}{
		{"yaml extension wins over content", "lb.yaml", "global_defs {\n}\n", "yaml"},
		{"yml extension", "lb.YML", "vrrp_instance x {\n}\n", "yaml"},
		{"keepalived in the name", "/etc/keepalived/keepalived.conf", "", "keepalived"},
		{"keepalived in a name with a prefix", "site-keepalived.cfg", "services: []\n", "keepalived"},
		{"first keyword global_defs after comments", "lb.conf", "! Configuration File for keepalived\n# comment\n\nglobal_defs {\n}\n", "keepalived"},
		{"first keyword vrrp_instance", "lb.conf", "vrrp_instance VI_1 {\n}\n", "keepalived"},
		{"first keyword virtual_server with the brace", "lb.conf", "virtual_server{\n", "keepalived"},
		{"first keyword virtual_server_group", "lb.conf", "virtual_server_group g {\n", "keepalived"},
		{"include first", "lb.conf", "include /etc/keepalived/conf.d/*.conf\n", "keepalived"},
		{"includer first", "lb.conf", "includer a.conf\n", "keepalived"},
		{"a definition first", "lb.conf", "$VIP=10.0.0.1\nvirtual_server $VIP 80 {\n", "keepalived"},
		{"a conditional first", "lb.conf", "@lb1 global_defs {\n", "keepalived"},
		{"yaml content without extension", "fulcrum.conf", "# native\nservices:\n  - protocol: tcp\n", "yaml"},
		{"empty file", "x.conf", "", "yaml"},
		{"nginx in the name", "/etc/nginx/nginx.conf", "", "nginx"},
		{"nginx in a name with include first", "nginx-site.conf", "include /etc/nginx/conf.d/*.conf;\n", "nginx"},
		{"first directive worker_processes", "lb.conf", "# main\nworker_processes auto;\n", "nginx"},
		{"first directive events", "lb.conf", "events {}\nhttp {}\n", "nginx"},
		{"first directive http", "lb.conf", "http {\n", "nginx"},
		{"conf.d file with a server", "site.conf", "server {\n    listen 80;\n}\n", "nginx"},
		{"conf.d file with an upstream", "x.conf", "upstream app {\n", "nginx"},
		{"include first is keepalived", "lb.conf", "include /etc/x/*.conf;\n", "keepalived"},
		{"keepalived name wins over nginx content", "keepalived.conf", "http {\n", "keepalived"},
		{"nginx words need a .conf name", "lb.cfg", "http {\n", "yaml"},
		{"unknown first word", "x.conf", "frontend app\n", "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.file, []byte(tt.data)); got != tt.want {
				t.Errorf("Detect(%q) = %q, want %q", tt.file, got, tt.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	if got := Formats(); !slices.Equal(got, []string{"yaml", "keepalived", "nginx"}) {
		t.Errorf("Formats() = %v", got)
	}
}

const keepalivedConf = `! Configuration File for keepalived
virtual_server 192.0.2.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.0.1 8080 {
        weight 3
        TCP_CHECK {
            connect_timeout 2
        }
    }
}
`

func TestLoadKeepalived(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lb.conf")
	if err := os.WriteFile(path, []byte(keepalivedConf), 0o644); err != nil {
		t.Fatal(err)
	}
	c, ds := Load(path)
	if c == nil {
		t.Fatalf("Load: %v", ds)
	}
	if len(c.Services) != 1 || c.Services[0].Scheduler != "rr" || c.Services[0].Reals[0].Weight != 3 {
		t.Fatalf("Load read %+v", c.Services)
	}
	if got := c.Services[0].Reals[0].Health.Checks[0].ConnectTimeout.Seconds(); got != 2 {
		t.Errorf("connect_timeout = %vs, want 2s", got)
	}
	if c.Source != path {
		t.Errorf("Source = %q, want %q", c.Source, path)
	}
}

func TestLoadYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fulcrum.yaml")
	if err := os.WriteFile(path, []byte("services:\n  - {protocol: tcp, address: 192.0.2.1:80, reals: [{address: 10.0.0.1:80}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, ds := Load(path)
	if c == nil || len(c.Services) != 1 {
		t.Fatalf("Load = %v, %v", c, ds)
	}
}

func TestParseForcedFormat(t *testing.T) {
	// A keepalived.conf read as YAML fails, as the user asked.
	if c, ds := ParseWith("lb.conf", []byte(keepalivedConf), Options{Format: "yaml"}); c != nil || ds.Err() == nil {
		t.Errorf("keepalived.conf read as yaml = %v, %v; want an error", c, ds)
	}
	if c, ds := ParseWith("lb.yaml", []byte(keepalivedConf), Options{Format: "keepalived"}); c == nil {
		t.Errorf("forced keepalived: %v", ds)
	}
	if c, ds := ParseWith("lb.yaml", []byte(nginxConf), Options{Format: "nginx"}); c == nil || c.HTTP == nil {
		t.Errorf("forced nginx: %v", ds)
	}
	c, ds := ParseWith("lb.conf", nil, Options{Format: "haproxy"})
	if c != nil || len(ds) != 1 || !strings.Contains(ds[0].Message, `unknown configuration format "haproxy"`) {
		t.Errorf("unknown format = %v, %v", c, ds)
	}
}

func TestParseKeepalivedEnvironment(t *testing.T) {
	t.Setenv("FULCRUM_TEST_VIP", "192.0.2.77")
	data := "virtual_server ${_ENV FULCRUM_TEST_VIP} 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server 10.0.0.1 80 {\n }\n}\n"
	c, ds := Parse("keepalived.conf", []byte(data))
	if c == nil {
		t.Fatalf("Parse: %v", ds)
	}
	if got := c.Services[0].Address.Addr().String(); got != "192.0.2.77" {
		t.Errorf("address = %s, want the environment's 192.0.2.77", got)
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.conf")
	c, ds := Load(path)
	if c != nil || len(ds) != 1 || ds.Err() == nil {
		t.Fatalf("Load(missing) = %v, %v", c, ds)
	}
	if got, want := ds[0].String(), path+": reading config: no such file or directory"; got != want {
		t.Errorf("diagnostic %q, want %q", got, want)
	}
	var _ config.Diagnostics = ds
}

const nginxConf = `worker_processes 1;
events { worker_connections 64; }
http {
    upstream app { server 10.0.0.1:8080 weight=2; }
    server {
        listen 192.0.2.1:80;
        location / { proxy_pass http://app; }
    }
}
`

func TestLoadNginx(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lb.conf")
	if err := os.WriteFile(path, []byte(nginxConf), 0o644); err != nil {
		t.Fatal(err)
	}
	c, ds := Load(path)
	if c == nil {
		t.Fatalf("Load: %v", ds)
	}
	if c.HTTP == nil || len(c.HTTP.Servers) != 1 || c.HTTP.Upstreams[0].Servers[0].Weight != 2 {
		t.Fatalf("Load read %+v", c.HTTP)
	}
	if got := c.HTTP.Servers[0].Locations[0].ProxyPass; got != "http://app" {
		t.Errorf("proxy_pass = %q", got)
	}
	// worker_processes and events are warned about, not dropped silently.
	var warned []string
	for _, d := range ds {
		if d.Severity == config.Warning && strings.Contains(d.Message, "not used by fulcrum") {
			warned = append(warned, d.Message)
		}
	}
	if len(warned) != 3 {
		t.Errorf("want 3 not-used warnings (worker_processes, events, worker_connections), got %q", warned)
	}
}
