// Package e2e tests the real fulcrum binary: it is built once, started with a
// config, driven with `fulcrum adm` (ipvsadm's command line) and exercised
// with real TCP and UDP connections on loopback addresses.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fulcrum-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "fulcrum")
	build := exec.Command("go", "build", "-race", "-o", binary, "github.com/fulcrumlb/fulcrum/cmd/fulcrum")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building fulcrum:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is a running fulcrum process.
type node struct {
	t      *testing.T
	dir    string
	sock   string
	config string
	cmd    *exec.Cmd
	out    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs `fulcrum run -c FILE` with yaml as the file's content; the
// admin section is added by the harness. With yaml == "" it runs the
// embedded default.
func start(t *testing.T, yaml string) *node {
	t.Helper()
	return startNamed(t, "fulcrum.yaml", yaml)
}

// startNamed is start with the config file named name (its format is
// detected from the name and content).
func startNamed(t *testing.T, name, content string) *node {
	t.Helper()
	dir := t.TempDir()
	n := &node{t: t, dir: dir, sock: filepath.Join(dir, "admin.sock"), out: &syncBuffer{}}
	args := []string{"run", "--admin-socket", n.sock}
	if content != "" {
		n.config = filepath.Join(dir, name)
		n.writeConfig(content)
		args = append(args, "-c", n.config)
	}
	n.cmd = exec.Command(binary, args...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("unix", n.sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) || n.cmd.ProcessState != nil {
			t.Fatalf("fulcrum did not start; output:\n%s", n.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

func (n *node) writeConfig(yaml string) {
	n.t.Helper()
	if err := os.WriteFile(n.config, []byte(yaml), 0o644); err != nil {
		n.t.Fatal(err)
	}
}

func (n *node) stop() {
	if n.cmd.Process == nil || n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			n.t.Errorf("fulcrum exited with %v; output:\n%s", err, n.out)
		}
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
		n.t.Errorf("fulcrum did not stop within 10s of SIGTERM; output:\n%s", n.out)
	}
}

// fulcrum runs a fulcrum subcommand against n and returns stdout, stderr
// and the exit code.
func (n *node) fulcrum(stdin string, args ...string) (string, string, int) {
	n.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "FULCRUM_ADMIN="+n.sock)
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(n.t, cmd)
}

// runCmd runs cmd and returns its stdout, stderr and exit code.
func runCmd(t *testing.T, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// adm runs `fulcrum adm args...` and fails the test unless it succeeds.
func (n *node) adm(args ...string) string {
	n.t.Helper()
	out, errOut, code := n.fulcrum("", append([]string{"adm"}, args...)...)
	if code != 0 {
		n.t.Fatalf("fulcrum adm %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// httpGet fetches a URL from the admin API over its unix socket.
func (n *node) httpGet(path string) string {
	n.t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", n.sock)
	}}}
	resp, err := c.Get("http://fulcrum" + path)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// freePort returns a TCP and UDP port that was free on ip a moment ago.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		u, err := net.ListenPacket("udp", fmt.Sprintf("%s:%d", ip, p))
		if err == nil {
			u.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// tcpBackend is a real server that writes its name on every connection,
// then echoes what it reads until the client closes.
func tcpBackend(t *testing.T, name, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
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
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\n", name)
				_, _ = io.Copy(c, c)
			}()
		}
	}()
}

// udpBackend answers every datagram with its name.
func udpBackend(t *testing.T, name, addr string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(name), from)
		}
	}()
}

// who opens a TCP connection to vip (from local address src if non-empty)
// and returns the first line the backend sent, or an error.
func who(vip, src string) (string, error) {
	d := net.Dialer{Timeout: 3 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", vip)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// whoUDP sends one datagram from a fresh socket and returns the reply.
func whoUDP(vip string) (string, error) {
	c, err := net.Dial("udp", vip)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("who?")); err != nil {
		return "", err
	}
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// sequence opens n connections one after another and returns who answered.
func sequence(t *testing.T, vip string, n int) []string {
	t.Helper()
	var got []string
	for range n {
		w, err := who(vip, "")
		if err != nil {
			t.Fatalf("connection %d to %s: %v", len(got)+1, vip, err)
		}
		got = append(got, w)
	}
	return got
}

// eventually retries f until it returns nil or 10 s pass.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keptConn is an open proxied connection to an echoing backend.
type keptConn struct {
	net.Conn
	r    *bufio.Reader
	name string
}

func dialKeep(vip string) (*keptConn, error) {
	c, err := net.DialTimeout("tcp", vip, 3*time.Second)
	if err != nil {
		return nil, err
	}
	k := &keptConn{Conn: c, r: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := k.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	k.name = strings.TrimSpace(line)
	return k, nil
}

func (k *keptConn) echo(msg string) error {
	_ = k.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(k, "%s\n", msg); err != nil {
		return err
	}
	line, err := k.r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != msg {
		return fmt.Errorf("echo returned %q, want %q", line, msg)
	}
	return nil
}

func inUse(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err == nil {
		c.Close()
		return true
	}
	return false
}

func httpGetTCP(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
