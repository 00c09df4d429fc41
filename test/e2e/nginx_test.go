package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The nginx reproduction config of research/l7.md §7, loaded unchanged
// (internal/config/nginx/testdata/l7_reproduction.conf up to its separator),
// is served by Debian's nginx 1.22 and then by `fulcrum run -c nginx.conf`;
// the same requests must get the same status and body from both: location
// matching, proxy_pass URIs, smooth WRR, ip_hash, hash and hash consistent,
// limit_req burst/nodelay, valid_referers.
func TestNginxReproductionConfig(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (apt-get install nginx-light); it is the oracle here")
	}
	for _, p := range []string{"127.0.0.1:17001", "127.0.0.1:17002", "127.0.0.1:17003", "127.0.0.1:17080"} {
		if inUse(p) {
			t.Skipf("%s is in use; the reproduction config needs it", p)
		}
	}
	raw, err := os.ReadFile("../../internal/config/nginx/testdata/l7_reproduction.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf, _, _ := strings.Cut(string(raw), "# ----------\n")
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	type req struct {
		path, referer string
	}
	var reqs []req
	add := func(paths ...string) {
		for _, p := range paths {
			reqs = append(reqs, req{path: p})
		}
	}
	for range 7 {
		add("/w")
	}
	add("/iph", "/iph", "/iph")
	for k := range 8 {
		add(fmt.Sprintf("/ch?k=%d", k), fmt.Sprintf("/hs?k=%d", k))
	}
	add("/p1/abc.html", "/p2/abc.html", "/p3/abc.html", "/p4/abc.html", "/p5/abc.html", "/p6/abc.html",
		"/re/abc.html", "/rw/abc.html", "/p1/a%2Fb?q=1", "/p2/a%2Fb?q=1", "/p1/x//y/../z", "/p2/x//y/../z", "/p1/%7Euser",
		"/p1", "/p1?a=1", "/x", "/xy", "/img/1.gif", "/doc/1.gif", "/doc/1.txt", "/IMG/2.JPG")
	for _, ref := range []string{"", "-", "foo", "http://www.good.com/a", "https://x.good.com:8080/", "http://good.com/",
		"http://good.org/pics/1.gif", "http://good.org/other", "http://GOOD.ORG/pics/x", "http://evil.com/",
		"http://example.com/page", "ftp://evil.com/"} {
		reqs = append(reqs, req{path: "/ref", referer: ref})
	}
	for range 6 {
		add("/lr") // rate=1r/s burst=2 nodelay: 200 200 200 503 503 503
	}

	// fetch sends one HTTP/1.0 request with the path as given (no client-side normalisation).
	fetch := func(r req) string {
		c, err := net.DialTimeout("tcp", "127.0.0.1:17080", 3*time.Second)
		if err != nil {
			return "dial: " + err.Error()
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		hdr := ""
		switch r.referer {
		case "":
		case "-":
			hdr = "Referer: \r\n"
		default:
			hdr = "Referer: " + r.referer + "\r\n"
		}
		fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: example.com\r\n%s\r\n", r.path, hdr)
		br := bufio.NewReader(c)
		status, _ := br.ReadString('\n')
		f := strings.Fields(status)
		code := "?"
		if len(f) > 1 {
			code = f[1]
		}
		loc := ""
		for {
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Location") {
				loc = " -> " + strings.TrimSpace(v)
				if i := strings.Index(loc, "/p1"); i >= 0 { // nginx's absolute redirect names its own port
					loc = " -> " + loc[i:]
				}
			}
		}
		body := ""
		if code == "200" {
			b := make([]byte, 256)
			n, _ := br.Read(b)
			body = " " + strings.TrimSpace(string(b[:n]))
		}
		return code + loc + body
	}
	run := func(name string, cmd *exec.Cmd) []string {
		t.Helper()
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}()
		deadline := time.Now().Add(15 * time.Second)
		for !inUse("127.0.0.1:17080") {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not start:\n%s", name, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // every listener of the config
		var got []string
		for _, r := range reqs {
			got = append(got, fetch(r))
		}
		return got
	}
	want := run("nginx", exec.Command(nginx, "-p", dir, "-c", file, "-g", "daemon off;"))
	for inUse("127.0.0.1:17080") {
		time.Sleep(50 * time.Millisecond)
	}
	got := run("fulcrum", exec.Command(binary, "run", "-c", file, "--admin-socket", filepath.Join(dir, "admin.sock")))
	// The answers must be real ones, not the same failure twice.
	for _, w := range []string{"200 a /w", "200 ok", "503", "301 -> /p1/?a=1", "200 a /apiabc.html", "200 exact"} {
		found := false
		for _, a := range want {
			found = found || strings.HasPrefix(a, w)
		}
		if !found {
			t.Fatalf("nginx's answers lack %q: %q", w, want)
		}
	}
	bad := 0
	for i, r := range reqs {
		if got[i] != want[i] {
			bad++
			t.Errorf("GET %s (Referer %q): fulcrum %q, nginx %q", r.path, r.referer, got[i], want[i])
		}
	}
	if bad == 0 {
		t.Logf("%d requests: fulcrum answered exactly as nginx 1.22", len(reqs))
	}
}
