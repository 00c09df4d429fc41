package harden

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/nginx.golden from a real nginx")

const nginxGolden = "testdata/nginx.golden"

// nginxDivergence lists the vetCases where the vetter deliberately answers
// differently from nginx 1.22, and why. Everything else must match what
// nginx did (testdata/nginx.golden).
var nginxDivergence = map[string]string{
	// Refused by RFC 9112 where nginx 1.22 is lenient; net/http (the parser
	// behind the vetter) refuses most of these as well.
	"bare LF head":              "RFC 9112 §2.2 only allows bare LF; refused as a desync vector (nginx takes it)",
	"bare LF field":             "bare LF line ends refused (nginx takes them)",
	"bare LF end":               "bare LF line ends refused (nginx takes them)",
	"chunk size bare LF":        "RFC 9112 §7.1 errata 7633, CVE-2025-22871: net/http refuses since Go 1.24.2; nginx 1.22 takes it",
	"chunk ext bare LF":         "same as chunk size bare LF",
	"chunk data bare LF":        "same as chunk size bare LF",
	"chunk size trailing space": "RFC 9112 §7.1 allows BWS only before ';'; nginx skips trailing spaces",
	"chunk ext bad":             "RFC 9112 §7.1.1 chunk-ext grammar; nginx skips extensions unparsed",
	"trailer obs-fold":          "obs-fold refused in trailers as in headers; nginx discards trailers unparsed",
	"two spaces":                "RFC 9112 §3 has exactly one SP; net/http would read an empty target; nginx skips extra spaces",
	"fragment":                  "RFC 9112 §3.2: no fragment in a request-target; nginx cuts it off",
	"http/0.9":                  "net/http and the vetter refuse HTTP/0.9; nginx still answers it",
	"leading CRLF without post": "net/http skips empty lines only after a POST (server.go readRequest); nginx always does",
	"DEL value":                 "RFC 9110 §5.5: DEL is no field-vchar; net/http refuses it, nginx takes it",
	"bad name":                  "net/http refuses an invalid field name; nginx drops the line (ignore_invalid_headers)",
	"host bad port":             "port above 65535; nginx does not check",
	"host at":                   "userinfo in Host is no uri-host (RFC 9110 §7.2); nginx does not check",
	"ipv4 in brackets":          "an IP-literal holds IPv6 (RFC 3986 §3.2.2); nginx does not check",
	"ftp scheme":                "the proxy serves http and https only; nginx takes any scheme",
	"TE gzip":                   "RFC 9112 §6.3 item 4: chunked not final → MUST 400; nginx answers 501 to any TE but chunked",
	"TE xchunked":               "same as TE gzip",
	"TE chunked twice":          "RFC 9112 §7.1: chunked at most once, else framing is unknown → 400; nginx 501",
	"TE chunked not last":       "same as TE gzip",
	"TE with parameter":         "a parameter makes it not plain chunked, framing unknown → 400; nginx 501",
	"TE trailing comma":         "same as TE with parameter",
	// Limits.
	"too many fields":     "nginx 1.22 has no header count limit (max_headers is 2026); HAProxy and Envoy cap at about 100",
	"head too large":      "431 (RFC 6585) for the head size; nginx answers 400 (its internal 494)",
	"chunk line too long": "net/http refuses chunk lines over 4 KiB; the vetter bounds them at 1 KiB",
	"chunk overhead":      "net/http's chunk-overhead rule (internal/chunked.go beginChunk); nginx has none",
	"trailer too large":   "net/http keeps trailers within its 4 KiB buffer; the vetter bounds them at 2 KiB",
	// Not an nginx feature.
	"options asterisk": "nginx 1.22 refuses asterisk-form; RFC 9112 §3.2.4 defines it and net/http answers it",
}

func findNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// startNginx runs nginx in the foreground on addr with a server that
// answers every request itself (so request bodies are read and checked
// by nginx's own parser: ngx_http_discard_request_body) and closes idle
// keep-alive connections quickly.
func startNginx(t *testing.T, bin, addr string) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp;
    proxy_temp_path %[1]s/tmp;
    fastcgi_temp_path %[1]s/tmp;
    uwsgi_temp_path %[1]s/tmp;
    scgi_temp_path %[1]s/tmp;
    keepalive_timeout 300ms;
    client_max_body_size 1m;
    large_client_header_buffers 4 32k;
    server {
        listen %[2]s;
        location / { return 200 "ok"; }
    }
}
`, dir, addr)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", confPath, "-e", filepath.Join(dir, "logs", "stderr.log"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("nginx exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nginxAnswers sends raw on a fresh connection and lists the statuses
// nginx answered until it closed.
func nginxAnswers(addr, raw string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	// nginx lingers after some refusals (413) and waits for more of a
	// body it does not bound (chunk overhead): answers come well before.
	_ = c.SetDeadline(time.Now().Add(1500 * time.Millisecond))
	if _, err := io.WriteString(c, raw); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	var got []string
	for {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		_, _ = io.Copy(io.Discard, res.Body)
		got = append(got, strconv.Itoa(res.StatusCode))
	}
	if len(got) == 0 {
		return "none", nil
	}
	return strings.Join(got, " "), nil
}

// vetterAnswers is what the vetter implies a client sees for tc: 200 for
// each accepted request (the oracle server answers everything with 200),
// then the refusal.
func vetterAnswers(tc vetCase) string {
	var got []string
	for range tc.requests {
		got = append(got, "200")
	}
	if tc.want != 0 {
		got = append(got, strconv.Itoa(tc.want))
	}
	return strings.Join(got, " ")
}

// oracleCases are the vetCases nginx can judge: default limits, and no
// CONNECT/absolute-form cases (nginx 1.22 has no CONNECT support).
func oracleCases() []vetCase {
	var out []vetCase
	for _, tc := range vetCases {
		if tc.lim != nil || strings.HasPrefix(tc.in, "CONNECT") {
			continue
		}
		out = append(out, tc)
	}
	return out
}

func readNginxGolden(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(nginxGolden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestNginxOracle -update with nginx installed)", err)
	}
	g := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, v, ok := strings.Cut(line, " => ")
		name, err := strconv.Unquote(k)
		if !ok || err != nil {
			t.Fatalf("bad golden line %q", line)
		}
		g[name] = v
	}
	return g
}

// TestNginxOracle asks Debian's nginx 1.22 every oracle case and checks its
// answers against testdata/nginx.golden (-update rewrites the file).
// Skipped without nginx (scripts/test.sh installs nginx-light).
func TestNginxOracle(t *testing.T) {
	bin := findNginx()
	if bin == "" {
		t.Skip("nginx not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	startNginx(t, bin, addr)
	cases := oracleCases()
	answers := make([]string, len(cases))
	errs := make(chan error, len(cases))
	for i, tc := range cases {
		go func() {
			a, err := nginxAnswers(addr, tc.in)
			answers[i] = a
			errs <- err
		}()
	}
	for range cases {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var golden strings.Builder
	for i, tc := range cases {
		fmt.Fprintf(&golden, "%s => %s\n", strconv.Quote(tc.name), answers[i])
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(nginxGolden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(nginxGolden, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	g := readNginxGolden(t)
	for i, tc := range cases {
		if g[tc.name] != answers[i] {
			t.Errorf("%s: nginx answers %q, %s has %q", tc.name, answers[i], nginxGolden, g[tc.name])
		}
	}
}

// TestNginxParity compares the vetter's verdicts with nginx's recorded
// answers: equal, or a listed, explained divergence.
func TestNginxParity(t *testing.T) {
	if *update {
		t.Skip("golden being rewritten by TestNginxOracle")
	}
	g := readNginxGolden(t)
	for _, tc := range oracleCases() {
		nginx, ok := g[tc.name]
		if !ok {
			t.Errorf("%s: not in %s; run -update", tc.name, nginxGolden)
			continue
		}
		ours := vetterAnswers(tc)
		why, listed := nginxDivergence[tc.name]
		switch {
		case ours == nginx && listed:
			t.Errorf("%s: listed as a divergence but both answer %q", tc.name, ours)
		case ours != nginx && !listed:
			t.Errorf("%s: vetter %q, nginx %q", tc.name, ours, nginx)
		case ours != nginx && why == "":
			t.Errorf("%s: vetter %q, nginx %q: divergence without a reason", tc.name, ours, nginx)
		}
	}
	for name := range nginxDivergence {
		if !slices.ContainsFunc(oracleCases(), func(tc vetCase) bool { return tc.name == name }) {
			t.Errorf("divergence listed for unknown case %q", name)
		}
	}
}
