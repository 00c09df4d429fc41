package route

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/oracle.golden from a real nginx")

const goldenPath = "testdata/oracle.golden"

// goldenKey is "host target" (host "-": no Host header) as a Go string
// literal; a golden line is the key, " => " and the answer, quoted too.
func goldenKey(r oracleRequest) string {
	h := r.host
	if h == "" {
		h = "-"
	}
	return strconv.Quote(h + " " + r.target)
}

func readGolden(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test -run TestNginxOracle -update with nginx installed)", err)
	}
	g := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		k, q, ok := strings.Cut(line, "\" => \"")
		k, q = k+"\"", "\""+q
		if !ok {
			t.Fatalf("bad golden line %q", line)
		}
		v, err := strconv.Unquote(q)
		if err != nil {
			t.Fatalf("bad golden line %q: %v", line, err)
		}
		g[k] = v
	}
	return g
}

// TestScenarioGolden checks this package against the answers real nginx
// 1.22 gave (recorded by TestNginxOracle -update), without needing nginx.
func TestScenarioGolden(t *testing.T) {
	h, err := buildScenario()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		t.Skip("golden being rewritten by TestNginxOracle")
	}
	g := readGolden(t)
	for _, r := range oracleRequests {
		want, ok := g[goldenKey(r)]
		if !ok {
			t.Errorf("%s: not in %s; run -update", goldenKey(r), goldenPath)
			continue
		}
		if got := simulate(h, r); got != want {
			t.Errorf("%s:\n got  %s\n nginx %s", goldenKey(r), got, want)
		}
	}
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

func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// echoBackend answers every request with the request-target it received.
func echoBackend(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				xloc := ""
				for {
					h, err := br.ReadString('\n')
					if err != nil || h == "\r\n" || h == "\n" {
						break
					}
					if k, v, ok := strings.Cut(strings.TrimRight(h, "\r\n"), ": "); ok && strings.EqualFold(k, "X-Loc") {
						xloc = v
					}
				}
				parts := strings.SplitN(strings.TrimRight(line, "\r\n"), " ", 3)
				body := "UP " + parts[1]
				if xloc != "" {
					body = "LOC " + xloc
				}
				fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
			}(c)
		}
	}()
	return l.Addr().String()
}

// ask sends one raw HTTP/1.0 request to nginx and describes the answer in
// simulate's notation.
func ask(addr string, r oracleRequest) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET " + r.target + " HTTP/1.0\r\n"
	if r.host != "" {
		req += "Host: " + r.host + "\r\n"
	}
	req += "\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	raw, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	head, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	f := strings.Fields(lines[0])
	if len(f) < 2 {
		return "", fmt.Errorf("bad status line %q", lines[0])
	}
	status := f[1]
	var location string
	for _, l := range lines[1:] {
		if k, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(k, "Location") {
			location = v
		}
	}
	switch {
	case location != "":
		// nginx makes relative redirects absolute with the Host it
		// was asked for and the listen port.
		h := r.host
		if i := strings.LastIndexByte(h, ':'); i >= 0 {
			h = h[:i]
		}
		_, port, _ := net.SplitHostPort(addr)
		location = strings.TrimPrefix(location, "http://"+strings.ToLower(strings.TrimSuffix(h, "."))+":"+port)
		return status + " loc=" + location, nil
	case bytes.HasPrefix(body, []byte("UP ")):
		return status + " up=" + string(body[3:]), nil
	case bytes.HasPrefix(body, []byte("LOC ")):
		return status + " up=" + string(body[4:]), nil
	case status == "200":
		return status + " body=" + string(body), nil
	}
	return status, nil
}

// TestNginxOracle runs the scenario on Debian's nginx (1.22.1) and checks
// that nginx, this package and testdata/oracle.golden agree; -update
// rewrites the golden file from nginx. Skipped when nginx is absent.
func TestNginxOracle(t *testing.T) {
	bin := findNginx()
	if bin == "" {
		t.Skip("nginx not installed (apt-get install nginx-light)")
	}
	addr := freeAddr(t, "127.0.0.1")
	startNginx(t, bin, renderNginx(addr, echoBackend(t)), addr)
	h, err := buildScenario()
	if err != nil {
		t.Fatal(err)
	}
	var golden strings.Builder
	for _, r := range oracleRequests {
		got, err := ask(addr, r)
		if err != nil {
			t.Fatalf("%s: %v", goldenKey(r), err)
		}
		fmt.Fprintf(&golden, "%s => %s\n", goldenKey(r), strconv.Quote(got))
		if sim := simulate(h, r); sim != got {
			t.Errorf("%s:\n nginx %s\n route %s", goldenKey(r), got, sim)
		}
	}
	if *update {
		if err := os.WriteFile(goldenPath, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	g := readGolden(t)
	for _, r := range oracleRequests {
		want := g[goldenKey(r)]
		if !strings.Contains(golden.String(), goldenKey(r)+" => "+strconv.Quote(want)+"\n") {
			t.Errorf("%s: nginx now answers differently from %s (%q)", goldenKey(r), goldenPath, want)
		}
	}
}

// startNginx runs nginx in the foreground (master_process off) with conf
// and waits until it listens on addr; it is killed when the test ends.
func startNginx(t *testing.T, bin, conf, addr string) {
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
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// Wait for the listener.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s\nconfig:\n%s", waitErr, out.String(), log, conf)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
