package l4

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// sourceBackend writes size bytes to every connection, then closes it.
func sourceBackend(t testing.TB, ip string, size int) net.Addr {
	t.Helper()
	ln, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for left := size; left > 0; {
					n, err := c.Write(chunk[:min(left, len(chunk))])
					if err != nil {
						return
					}
					left -= n
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr()
}

// drain reads a connection to its end with a large buffer.
func drain(c net.Conn, buf []byte) (int64, error) {
	var total int64
	for {
		n, err := c.Read(buf)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// TestRelayUsesSplice checks, by tracing this very process, that relayed
// bytes of a bulk transfer go through splice(2): the relay's first read
// fills its copy buffer and the flow is spliced from then on. The test
// client and backend use plain read/write, so every splice call comes from
// the relay.
func TestRelayUsesSplice(t *testing.T) {
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not installed")
	}
	const size = 4 << 20
	src := sourceBackend(t, "127.0.50.1", size)
	p := newPlane(t, nil)
	vip := freeAddr(t, config.TCP, "127.0.50.10")
	apply(t, p, tcpService(vip, "rr", rs(addrPort(src), 1)))

	// strace needs a moment to attach to every thread; if the transfer
	// raced ahead of it, try once more with a longer wait.
	for _, wait := range []time.Duration{300 * time.Millisecond, 2 * time.Second} {
		splices, skip := traceSplices(t, straceBin, wait, func() {
			c, err := net.Dial("tcp4", vip.String())
			if err != nil {
				t.Fatal(err)
			}
			n, err := drain(c, make([]byte, 256<<10))
			c.Close()
			if err != nil || n != size {
				t.Fatalf("relayed %d of %d bytes: %v", n, size, err)
			}
		})
		if skip != "" {
			t.Skip(skip)
		}
		if splices > 0 {
			t.Logf("%d splice calls for %d bytes", splices, size)
			return
		}
	}
	t.Fatal("no splice(2) call while relaying 4 MiB: the relay copies through user space")
}

// traceSplices runs f while strace watches this process for splice(2) and
// returns the number of calls seen, or a reason to skip.
func traceSplices(t *testing.T, straceBin string, attach time.Duration, f func()) (int, string) {
	out := t.TempDir() + "/strace.txt"
	cmd := exec.Command(straceBin, "-f", "-qq", "-e", "trace=splice", "-o", out, "-p", fmt.Sprint(os.Getpid()))
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Sprintf("cannot run strace: %v", err)
	}
	time.Sleep(attach)
	f()
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	if strings.Contains(stderr.String(), "not permitted") {
		return 0, "strace cannot attach: " + stderr.String()
	}
	file, err := os.Open(out)
	if err != nil {
		return 0, fmt.Sprintf("no strace output: %v (%s)", err, stderr.String())
	}
	defer file.Close()
	n := 0
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "splice(") {
			n++
		}
	}
	return n, ""
}

// BenchmarkTCPThroughput compares a proxied transfer with a direct one on
// loopback and reports both rates and their ratio.
func BenchmarkTCPThroughput(b *testing.B) {
	const size = 16 << 20
	src := sourceBackend(b, "127.0.51.1", size)
	p := newPlane(b, nil)
	vip := freeAddr(b, config.TCP, "127.0.51.10")
	apply(b, p, tcpService(vip, "rr", rs(addrPort(src), 1)))
	buf := make([]byte, 256<<10)
	var direct, proxied time.Duration
	get := func(addr string) time.Duration {
		start := time.Now()
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			b.Fatal(err)
		}
		n, err := drain(c, buf)
		c.Close()
		if err != nil || n != size {
			b.Fatalf("got %d bytes: %v", n, err)
		}
		return time.Since(start)
	}
	b.ReportAllocs()
	iters := 0
	for b.Loop() {
		direct += get(src.String())
		proxied += get(vip.String())
		iters++
	}
	mb := float64(size) * float64(iters) / 1e6
	b.ReportMetric(mb/direct.Seconds(), "direct-MB/s")
	b.ReportMetric(mb/proxied.Seconds(), "proxied-MB/s")
	b.ReportMetric(direct.Seconds()/proxied.Seconds(), "proxied/direct")
}

// BenchmarkTCPConnect measures new proxied connections per second: accept,
// schedule, connection-table insert, dial, one line relayed, close.
func BenchmarkTCPConnect(b *testing.B) {
	a := startTCPBackend(b, "127.0.52.1", "A", false)
	p := newPlane(b, nil)
	vip := freeAddr(b, config.TCP, "127.0.52.10")
	apply(b, p, tcpService(vip, "rr", rs(a.addr, 1)))
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, err := ask(b, vip, ""); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "conns/s")
}

// BenchmarkUDPRelay measures one datagram's round trip through a flow.
func BenchmarkUDPRelay(b *testing.B) {
	u := startUDPBackend(b, "127.0.53.1", "U", false)
	p := newPlane(b, nil)
	vip := freeAddr(b, config.UDP, "127.0.53.10")
	apply(b, p, udpSvc(vip, "rr", rs(u.addr, 1)))
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(vip))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg, buf := []byte("ping"), make([]byte, 2048)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// The relay starts a flow by copying (read/write through the loop's
// buffer), keeps what a full destination did not take, and switches to
// splice when a read fills the buffer. A backend that does not read for a
// while forces all three while the client writes small messages; the
// stream must arrive byte for byte.
func TestRelayBackpressureKeepsStream(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.54.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		time.Sleep(300 * time.Millisecond) // the client and the relay fill up
		h := sha256.New()
		n, _ := io.Copy(h, c)
		fmt.Fprintf(c, "%d %x\n", n, h.Sum(nil))
	}()
	p := newPlane(t, nil)
	vip := freeAddr(t, config.TCP, "127.0.54.10")
	apply(t, p, tcpService(vip, "rr", rs(addrPort(ln.Addr()), 1)))

	c, err := dialVIP(t, vip, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := sha256.New()
	var sent int64
	msg := make([]byte, 1000)
	for i := range 4000 {
		for j := range msg {
			msg[j] = byte(i*7 + j)
		}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		want.Write(msg)
		sent += int64(len(msg))
	}
	_ = c.Conn.(*net.TCPConn).CloseWrite()
	line, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if exp := fmt.Sprintf("%d %x\n", sent, want.Sum(nil)); line != exp {
		t.Fatalf("backend got %q, want %q", line, exp)
	}
}
