//go:build linux

package balance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The oracle tests run Debian's nginx 1.22.1 and haproxy 2.6.12 on
// loopback with Go backends that answer with their name, send requests and
// compare which backend answered with what this package picks for the same
// configuration. They skip when the binaries are absent.

func needBinary(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/sbin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p
		}
	}
	t.Skipf("%s not installed (apt-get install -y nginx-light haproxy): oracle test skipped", name)
	return ""
}

// freePort returns a loopback port that was free a moment ago and that no
// earlier call returned (HAProxy binds with SO_REUSEPORT, so two sections on
// one port would share its connections at random). It is taken below the
// kernel's ephemeral range (ip_local_port_range), which the kernel never
// hands out by itself: a port from ":0" could be given to another test
// process's connection or listener before nginx or HAProxy binds it.
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 12000 {
				lo = v
			}
		}
	}
	for range 1000 {
		port := 10000 + rand.IntN(lo-10000)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		_ = l.Close()
		portsGiven[port] = true
		return port
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// backend is a Go HTTP server answering with its name.
type backend struct {
	name string
	addr string // "127.0.0.1:port"
}

// holdCtl lets a test keep requests in flight: a request whose query is
// "hold" reports its backend on arrived and blocks until release closes.
type holdCtl struct {
	arrived chan string
	release chan struct{}
}

// startBackends starts one backend per name; dead names get an address
// nothing listens on (connection refused).
func startBackends(t *testing.T, names []string, dead map[string]bool) ([]backend, *holdCtl) {
	t.Helper()
	ctl := &holdCtl{arrived: make(chan string, 64), release: make(chan struct{})}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(ctl.release) }) })
	var bs []backend
	for _, n := range names {
		if dead[n] {
			bs = append(bs, backend{name: n, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))})
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		name := n
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery == "hold" {
				ctl.arrived <- name
				<-ctl.release
			}
			io.WriteString(w, name)
		}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		bs = append(bs, backend{name: n, addr: l.Addr().String()})
	}
	return bs, ctl
}

// startBackendsAt starts backends on fixed addresses, each answering with
// its address; ok is false when an address cannot be bound.
func startBackendsAt(t *testing.T, addrs []string) bool {
	t.Helper()
	var ls []net.Listener
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return false
		}
		ls = append(ls, l)
	}
	for i, l := range ls {
		name := addrs[i]
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}
	return true
}

// runDaemon starts a foreground proxy and stops it with sig at cleanup.
func runDaemon(t *testing.T, dir string, sig os.Signal, ready string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	logf, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(sig)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	// wait until the listener answers
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ready, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "stderr.log"))
			t.Fatalf("%s exited: %s", bin, b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "stderr.log"))
			t.Fatalf("%s did not start: %s", bin, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startNginx runs nginx with one upstream per entry of upstreams (name →
// block body) and a location /<name> proxying to it. It returns the
// listener address.
func startNginx(t *testing.T, upstreams map[string]string) string {
	t.Helper()
	bin := needBinary(t, "nginx")
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	port := freePort(t)
	var b strings.Builder
	fmt.Fprintf(&b, `worker_processes 1;
daemon off;
error_log %[1]s/logs/error.log warn;
pid %[1]s/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/cb; proxy_temp_path %[1]s/tmp/pt; fastcgi_temp_path %[1]s/tmp/ft;
  uwsgi_temp_path %[1]s/tmp/ut; scgi_temp_path %[1]s/tmp/st;
`, dir)
	for name, body := range upstreams {
		fmt.Fprintf(&b, "  upstream %s {\n%s\n  }\n", name, body)
	}
	fmt.Fprintf(&b, "  server {\n    listen 127.0.0.1:%d;\n", port)
	for name := range upstreams {
		fmt.Fprintf(&b, "    location /%s { proxy_pass http://%s; }\n", name, name)
	}
	b.WriteString("  }\n}\n")
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	runDaemon(t, dir, syscall.SIGQUIT, addr, bin, "-p", dir, "-c", conf)
	return addr
}

// startHAProxy runs haproxy with the given proxy sections appended to a
// minimal global/defaults; listen sections must bind to the ports given.
func startHAProxy(t *testing.T, sections string, ready string) {
	t.Helper()
	bin := needBinary(t, "haproxy")
	dir := t.TempDir()
	cfg := `global
  maxconn 256
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
` + sections
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	runDaemon(t, dir, syscall.SIGUSR1, ready, bin, "-db", "-f", conf)
}

// fetch sends one GET with a fresh connection from source address src (""
// for any) and returns the body.
func fetch(t *testing.T, addr, target, src string, hdr map[string]string) string {
	t.Helper()
	body, _, err := fetchFull(addr, target, src, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// fetchFull is fetch returning the Set-Cookie header too; the body is the
// status code for a non-200 answer.
func fetchFull(addr, target, src string, hdr map[string]string) (string, string, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	host := "example.com"
	var extra strings.Builder
	for k, v := range hdr {
		if strings.EqualFold(k, "host") {
			host = v
			continue
		}
		fmt.Fprintf(&extra, "%s: %s\r\n", k, v)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", target, host, extra.String())
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Sprintf("%d", resp.StatusCode), "", nil
	}
	return string(body), resp.Header.Get("Set-Cookie"), nil
}
