package l7

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// The nginx oracle: the same raw requests go to Debian's nginx 1.22 and to
// the proxy, configured alike; status, Location, the bodies nginx
// generates (error pages, with "nginx" read as "fulcrum") and the
// "combined" access log lines must agree. Skipped when nginx is absent
// (scripts/test.sh installs nginx-light).

func findNginx() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// runNginx starts nginx in the foreground with conf in a fresh prefix and
// returns the prefix; nginx is killed when the test ends.
func runNginx(t *testing.T, bin, conf string, addr netip.AddrPort) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
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
		c, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return dir
		}
		select {
		case <-exited:
			errLog, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			t.Fatalf("nginx exited: %s %s", out.String(), errLog)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type rawAnswer struct {
	status   int
	location string
	ctype    string
	body     string
}

func askRaw(t *testing.T, addr netip.AddrPort, req string) rawAnswer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %q: %v", addr, req, err)
	}
	f := strings.Fields(line)
	code, _ := strconv.Atoi(f[1])
	a := rawAnswer{status: code}
	cl := -1
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		h = strings.TrimRight(h, "\r\n")
		if h == "" {
			break
		}
		k, v, _ := strings.Cut(h, ": ")
		switch strings.ToLower(k) {
		case "location":
			a.location = v
		case "content-type":
			a.ctype = v
		case "content-length":
			cl, _ = strconv.Atoi(v)
		}
	}
	if cl > 0 && !strings.HasPrefix(req, "HEAD ") {
		b := make([]byte, cl)
		if _, err := io.ReadFull(br, b); err != nil {
			t.Fatal(err)
		}
		a.body = string(b)
	}
	return a
}

func TestNginxOracle(t *testing.T) {
	bin := findNginx()
	if bin == "" {
		t.Skip("nginx not installed (apt-get install nginx-light)")
	}
	be := newBackend(t, "one")
	dead := deadAddr(t)
	ngxAddr := freeAddr(t, "127.0.0.1")
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
master_process off;
error_log logs/error.log warn;
pid nginx.pid;
events { worker_connections 64; }
http {
  server_tokens off;
  client_body_temp_path tmp/cb; proxy_temp_path tmp/pt; fastcgi_temp_path tmp/ft; uwsgi_temp_path tmp/ut; scgi_temp_path tmp/st;
  default_type text/plain;
  access_log logs/access.log combined;
  server {
    listen %s;
    server_name example.com;
    location = /teapot { return 418 "short and stout\n"; }
    location = /gone { return 410; }
    location /dead/ { proxy_pass http://%s/; }
    location /p1/ { proxy_pass http://%s/; }
    location /old/ { rewrite ^/old/(.*)$ /new/$1 permanent; }
  }
}
`, ngxAddr, dead, be.addr)
	dir := runNginx(t, bin, conf, ngxAddr)

	addr := freeAddr(t, "127.0.0.1")
	logPath := filepath.Join(t.TempDir(), "access.log")
	cfg := oneServer(addr, []config.Location{
		{Match: "= /teapot", Return: &config.Return{Code: 418, Text: "short and stout\n"}},
		{Match: "= /gone", Return: &config.Return{Code: 410}},
		{Match: "/dead/", ProxyPass: "http://" + dead + "/"},
		{Match: "/p1/", ProxyPass: "http://" + be.addr + "/"},
		{Match: "/old/", Rewrites: []config.Rewrite{{Regex: "^/old/(.*)$", Replacement: "/new/$1", Flag: "permanent"}}},
	})
	cfg.Servers[0].ServerNames = []string{"example.com"}
	cfg.AccessLog = config.AccessLog{Path: logPath}
	p := startProxy(t, cfg)

	reqs := []string{
		"GET /teapot HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0 \"q\" \xe9\r\nReferer: http://r/\\x\r\nConnection: close\r\n\r\n",
		"GET /gone HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"GET /dead/x?y=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent:\r\nConnection: close\r\n\r\n",
		"GET /p1?a=1 HTTP/1.1\r\nHost: Example.com:1234\r\nConnection: close\r\n\r\n",
		"GET /old/a%20b?c=d HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
		"HEAD /teapot HTTP/1.0\r\nHost: example.com\r\n\r\n",
		"HEAD /gone HTTP/1.0\r\nHost: example.com\r\n\r\n",
		"GET /teapot HTTP/1.1\r\nHost: example.com\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\nConnection: close\r\n\r\n",
		"GET /p1/x%2Fy//z?q=%41 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
	}
	portRe := regexp.MustCompile(`:\d+/`)
	errorPage, proxied := map[int]bool{}, map[int]bool{}
	for i, req := range reqs {
		before := be.count()
		n := askRaw(t, ngxAddr, req)
		nSeen := be.last()
		f := askRaw(t, addr, req)
		if n.status != f.status {
			t.Errorf("request %d: status %d, nginx %d", i, f.status, n.status)
		}
		if be.count() != before {
			// The upstream's answer echoes the request headers, which
			// differ (nginx 1.22 sends HTTP/1.0 and Connection: close,
			// Fulcrum keeps connections and adds forwarding headers):
			// compare what the upstream saw instead of the bodies.
			proxied[i] = true
			if fSeen := be.last(); fSeen.URI != nSeen.URI || fSeen.Host != nSeen.Host {
				t.Errorf("request %d: upstream saw %s Host %s, from nginx %s Host %s", i, fSeen.URI, fSeen.Host, nSeen.URI, nSeen.Host)
			}
			continue
		}
		if portRe.ReplaceAllString(n.location, ":PORT/") != portRe.ReplaceAllString(f.location, ":PORT/") {
			t.Errorf("request %d: Location %q, nginx %q", i, f.location, n.location)
		}
		if n.ctype != f.ctype {
			t.Errorf("request %d: Content-Type %q, nginx %q", i, f.ctype, n.ctype)
		}
		want := strings.ReplaceAll(n.body, "<center>nginx</center>", "<center>"+serverToken+"</center>")
		if want != n.body {
			errorPage[i] = true
		}
		if f.body != want {
			t.Errorf("request %d: body %q, nginx %q", i, f.body, want)
		}
	}
	ctxClose(t, p)
	ngxLog, err := os.ReadFile(filepath.Join(dir, "logs", "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	ourLog, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	nl := strings.Split(strings.TrimSuffix(string(ngxLog), "\n"), "\n")
	ol := strings.Split(strings.TrimSuffix(string(ourLog), "\n"), "\n")
	if len(nl) != len(reqs) || len(ol) != len(reqs) {
		t.Fatalf("log lines: nginx %d, ours %d, want %d", len(nl), len(ol), len(reqs))
	}
	timeRe := regexp.MustCompile(`\[[^]]+\]`)
	lineRe := regexp.MustCompile(`^(.*") (\d{3}) (\d+) (".*)$`)
	for i := range reqs {
		n := timeRe.ReplaceAllString(nl[i], "[T]")
		o := timeRe.ReplaceAllString(ol[i], "[T]")
		if proxied[i] {
			n = lineRe.ReplaceAllString(n, "$1 $2 N $4")
			o = lineRe.ReplaceAllString(o, "$1 $2 N $4")
		}
		if errorPage[i] {
			// Our pages say "fulcrum", two bytes more than "nginx".
			m := lineRe.FindStringSubmatch(n)
			if m == nil {
				t.Fatalf("nginx line %q", n)
			}
			size, _ := strconv.Atoi(m[3])
			n = m[1] + " " + m[2] + " " + strconv.Itoa(size+len(serverToken)-len("nginx")) + " " + m[4]
		}
		if n != o {
			t.Errorf("log line %d:\n ours  %s\n nginx %s", i, o, n)
		}
	}
}
