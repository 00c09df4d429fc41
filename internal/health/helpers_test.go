package health

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/notify"
)

// rawServer is a TCP server on loopback that hands each connection's
// request head to a handler and writes back what it returns, then closes
// (keepalived reads until EOF).
type rawServer struct {
	ln   net.Listener
	mu   sync.Mutex
	reqs []string
	wg   sync.WaitGroup
}

func newRawServer(t testing.TB, network, addr string, respond func(req string) string) *rawServer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var head []byte
				buf := make([]byte, 1024)
				for !bytes.Contains(head, []byte("\r\n\r\n")) {
					n, err := c.Read(buf)
					head = append(head, buf[:n]...)
					if err != nil {
						break
					}
				}
				s.mu.Lock()
				s.reqs = append(s.reqs, string(head))
				s.mu.Unlock()
				io.WriteString(c, respond(string(head)))
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *rawServer) close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *rawServer) addr() netip.AddrPort { return s.ln.Addr().(*net.TCPAddr).AddrPort() }

func (s *rawServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// lineServer writes lines to each client (after reading what it sends,
// when reply is set) and closes: a stand-in for agents and SMTP servers.
func lineServer(t testing.TB, serve func(c net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// closedPort returns a loopback TCP/UDP port with nothing listening.
func closedPort(t testing.TB, network string) netip.AddrPort {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := c.LocalAddr().(*net.UDPAddr).AddrPort()
		c.Close()
		return a
	default:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := ln.Addr().(*net.TCPAddr).AddrPort()
		ln.Close()
		return a
	}
}

// blackhole is an address inside a test network namespace whose packets
// are swallowed: a veth peer with no address and a permanent neighbour
// entry, so nothing ever answers and nothing says unreachable.
const blackhole = "10.250.0.2"

// inNetns runs fn on an OS thread that has entered a fresh network
// namespace holding the blackhole route, with loopback up and a policy
// rule that prohibits packets marked 7. The namespace is removed
// afterwards. The thread is discarded, never returned to the scheduler.
func inNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 not installed")
	}
	name := fmt.Sprintf("fhealth-%d-%d", os.Getpid(), rand.Uint32())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ip("-n", name, "link", "set", "lo", "up")
	ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ip("-n", name, "addr", "add", "10.250.0.1/24", "dev", "v0")
	ip("-n", name, "link", "set", "v0", "up")
	ip("-n", name, "link", "set", "v1", "up")
	ip("-n", name, "neigh", "add", blackhole, "lladdr", "02:00:00:00:00:02", "dev", "v0", "nud", "permanent")
	ip("-n", name, "rule", "add", "fwmark", "7", "prohibit")

	done := make(chan any)
	go func() {
		defer func() { done <- recover() }()
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open("/var/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			panic(err)
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			panic(err)
		}
		fn()
	}()
	if p := <-done; p != nil {
		t.Fatal(p)
	}
}

func tcpCheck(timeout time.Duration) config.Check {
	return config.Check{Type: config.CheckTCP, ConnectTimeout: timeout, DelayLoop: time.Second}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func osWriteFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

// scriptRunner is the runner the engine injects: notify's, with script
// security, a process group and SIGTERM then SIGKILL 2 s later. Scripts run
// as this test's user (script_user), whatever accounts the host has.
func scriptRunner(t *testing.T) ScriptRunner {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(notify.Options{Global: config.Global{ScriptUser: me.Username}})
	if err != nil {
		t.Fatalf("notify.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Close(ctx)
	})
	return func(ctx context.Context, s *config.Script, timeout time.Duration) (int, error) {
		return n.RunScript(ctx, s, nil, timeout)
	}
}
