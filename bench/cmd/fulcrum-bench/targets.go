package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
)

// layout is where everything of one target lives: its files and the
// loopback addresses it serves. An empty address means the target does
// not serve that kind of traffic.
type layout struct {
	Dir string
	TLS tlsFiles
	// Backends are the HTTP real servers; Bulk is the iperf3 server.
	Backends []string
	Bulk     string
	// H1 is plain HTTP/1.1, H2 HTTPS with h2 (ALPN), L4 a TCP proxy to
	// Backends, L4Bulk a TCP proxy to Bulk.
	H1, H2, L4, L4Bulk string
	// Admin is Fulcrum's admin socket (for the profiles).
	Admin string
}

// target is one thing the load generators are pointed at.
type target struct {
	name string
	// files renders the target's configuration files (name -> content).
	files func(l layout) (map[string]string, error)
	// argv is the command line; env is added to the environment.
	argv func(l layout, bin binaries) []string
	env  []string
	// l7 and l4 say which addresses of the layout it serves.
	l7, h2, l4 bool
	// peer is the Debian package whose version the report names.
	pkg string
}

type binaries struct {
	Fulcrum, Backend, IdleConns string
}

// GOMAXPROCS=1: every proxy is pinned to one CPU and gets one worker
// (nginx worker_processes 1, HAProxy nbthread 1). The Go runtime would
// pick 1 itself from the affinity mask; it is set explicitly so the
// choice is visible in the config and the report.
var goEnv = []string{"GOMAXPROCS=1"}

func targets() []target {
	return []target{
		{name: "fulcrum", l7: true, h2: true, l4: true, env: goEnv,
			files: render("fulcrum.yaml", fulcrumTmpl),
			argv: func(l layout, b binaries) []string {
				return []string{b.Fulcrum, "run", "-c", filepath.Join(l.Dir, "fulcrum.yaml"), "-log-level", "warn"}
			}},
		{name: "nginx", l7: true, h2: true, l4: true, pkg: "nginx-light",
			files: render("nginx.conf", nginxTmpl),
			argv: func(l layout, _ binaries) []string {
				// -e: the error log before the config is read, so that
				// nothing is written under /var/log.
				return []string{"nginx", "-p", l.Dir, "-c", filepath.Join(l.Dir, "nginx.conf"), "-e", filepath.Join(l.Dir, "error.log")}
			}},
		{name: "haproxy", l7: true, h2: true, l4: true, pkg: "haproxy",
			files: render("haproxy.cfg", haproxyTmpl),
			argv: func(l layout, _ binaries) []string {
				return []string{"haproxy", "-db", "-f", filepath.Join(l.Dir, "haproxy.cfg")}
			}},
		{name: "caddy", l7: true, h2: true, pkg: "caddy", env: goEnv,
			files: render("Caddyfile", caddyTmpl),
			argv: func(l layout, _ binaries) []string {
				return []string{"caddy", "run", "--config", filepath.Join(l.Dir, "Caddyfile"), "--adapter", "caddyfile"}
			}},
	}
}

func render(name, text string) func(l layout) (map[string]string, error) {
	t := template.Must(template.New(name).Parse(text))
	return func(l layout) (map[string]string, error) {
		var b bytes.Buffer
		if err := t.Execute(&b, l); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return map[string]string{name: b.String()}, nil
	}
}

// writeFiles renders a target's files into l.Dir.
func writeFiles(t target, l layout) error {
	files, err := t.files(l)
	if err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(l.Dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Fulcrum: the native YAML. The upstream's keepalive 32 is also Fulcrum's
// default; it is written out for parity with nginx's "keepalive 32".
const fulcrumTmpl = `# Written by bench/cmd/fulcrum-bench.
admin:
  socket: {{.Admin}}
services:
  - protocol: tcp
    address: {{.L4}}
    scheduler: rr
    reals:
{{- range .Backends}}
      - address: {{.}}
{{- end}}
  - protocol: tcp
    address: {{.L4Bulk}}
    scheduler: rr
    reals:
      - address: {{.Bulk}}
http:
  servers:
    - listen: ["{{.H1}}"]
      locations:
        - {match: /, proxy_pass: "http://backends"}
    - listen: ["{{.H2}} ssl http2"]
      certificates:
        - {cert_file: {{.TLS.Cert}}, key_file: {{.TLS.Key}}}
      locations:
        - {match: /, proxy_pass: "http://backends"}
  upstreams:
    - name: backends
      keepalive: 32
      servers:
{{- range .Backends}}
        - {{.}}
{{- end}}
`

// nginx: one worker; upstream keep-alive as nginx documents it
// (ngx_http_upstream_module "keepalive": proxy_http_version 1.1 and an
// empty Connection header). The upstream keepalive_requests is raised from
// its default of 1000, since the other proxies reuse a server connection
// without limit; the client side keeps nginx's default of 1000, which is
// also Fulcrum's fixed limit. X-Forwarded-For is added because Fulcrum and
// Caddy add it.
const nginxTmpl = `# Written by bench/cmd/fulcrum-bench.
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;

events {
    worker_connections 16384;
}

http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;

    upstream backends {
{{- range .Backends}}
        server {{.}};
{{- end}}
        keepalive 32;
        keepalive_requests 1000000;
    }

    server {
        listen {{.H1}};
        listen {{.H2}} ssl http2;
        ssl_certificate {{.TLS.Cert}};
        ssl_certificate_key {{.TLS.Key}};

        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}

stream {
    upstream l4 {
{{- range .Backends}}
        server {{.}};
{{- end}}
    }
    server {
        listen {{.L4}};
        proxy_pass l4;
    }
    server {
        listen {{.L4Bulk}};
        proxy_pass {{.Bulk}};
    }
}
`

// HAProxy: one thread, connection reuse "safe" (HAProxy's default, written
// out), X-Forwarded-For as the others. maxconn leaves room for the 10,000
// idle connections of the memory test; HAProxy then asks for 2*maxconn
// descriptors, more than the machine's hard limit of 20,000, which 2.6
// refuses by default (strict-limits): "no strict-limits" runs it with
// 20,000, enough since its server connections are pooled.
const haproxyTmpl = `# Written by bench/cmd/fulcrum-bench.
global
    no strict-limits
    nbthread 1
    maxconn 10500

defaults
    maxconn 10500
    timeout connect 5s
    timeout client 75s
    timeout server 75s
    timeout http-keep-alive 75s

frontend http
    mode http
    bind {{.H1}}
    bind {{.H2}} ssl crt {{.TLS.Combined}} alpn h2,http/1.1
    option forwardfor
    default_backend backends

backend backends
    mode http
    balance roundrobin
    http-reuse safe
{{- range $i, $b := .Backends}}
    server b{{$i}} {{$b}}
{{- end}}

listen l4
    mode tcp
    bind {{.L4}}
    balance roundrobin
{{- range $i, $b := .Backends}}
    server b{{$i}} {{$b}}
{{- end}}

listen l4bulk
    mode tcp
    bind {{.L4Bulk}}
    server bulk {{.Bulk}}
`

// Caddy: reverse_proxy with its defaults. Caddy listens on every
// interface unless a site says "bind"; the admin endpoint, automatic
// HTTPS and HTTP/3 (a UDP listener the others do not have) are off. Its
// autosaved config goes to XDG_CONFIG_HOME, which the harness points at
// the work directory (2.6 has no persist_config option).
const caddyTmpl = `# Written by bench/cmd/fulcrum-bench.
{
	admin off
	auto_https off
	servers {
		protocols h1 h2
	}
}

http://{{.H1}} {
	bind 127.0.0.1
	reverse_proxy{{range .Backends}} {{.}}{{end}}
}

https://{{.H2}} {
	bind 127.0.0.1
	tls {{.TLS.Cert}} {{.TLS.Key}}
	reverse_proxy{{range .Backends}} {{.}}{{end}}
}
`
