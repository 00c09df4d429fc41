package l4

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/proxyproto"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newPlane returns a plane closed at the end of the test.
func newPlane(t testing.TB, clk *fakeClock) *Plane {
	t.Helper()
	opt := Options{DialTimeout: 2 * time.Second}
	if clk != nil {
		opt.Now = clk.Now
	}
	p := New(opt)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func apply(t testing.TB, p *Plane, svcs ...config.Service) {
	t.Helper()
	if err := p.Apply(context.Background(), svcs, config.DefaultTimeouts); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// freeAddr returns ip:port with a port that was free on ip for proto.
func freeAddr(t testing.TB, proto config.Protocol, ip string) netip.AddrPort {
	t.Helper()
	if proto == config.UDP {
		c, err := net.ListenPacket("udp4", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return addrPort(c.LocalAddr())
	}
	l, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return addrPort(l.Addr())
}

// tcpBackend answers every connection with "<name> <peer>\n" (the peer
// being the PROXY header's source when proxy is set), then echoes what it
// reads until EOF and closes.
type tcpBackend struct {
	name     string
	addr     netip.AddrPort
	accepted atomic.Int32
	ln       net.Listener
	wg       sync.WaitGroup
}

func startTCPBackend(t testing.TB, ip, name string, proxy bool) *tcpBackend {
	t.Helper()
	ln, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	b := &tcpBackend{name: name, addr: addrPort(ln.Addr()), ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				peer := addrPort(c.RemoteAddr()).String()
				if proxy {
					h, err := proxyproto.Read(br)
					if err != nil {
						fmt.Fprintf(c, "%s bad-proxy-header %v\n", name, err)
						return
					}
					peer = h.Source.String() + " " + h.Destination.String()
				}
				fmt.Fprintf(c, "%s %s\n", name, peer)
				_, _ = io.Copy(c, br)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

// udpBackend answers every datagram with "<name> <peer> <payload>"; with
// proxy set it strips a PROXY v2 header first and reports its source.
type udpBackend struct {
	name string
	addr netip.AddrPort
	got  atomic.Int32
}

func startUDPBackend(t testing.TB, ip, name string, proxy bool) *udpBackend {
	t.Helper()
	c, err := net.ListenPacket("udp4", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	b := &udpBackend{name: name, addr: addrPort(c.LocalAddr())}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			b.got.Add(1)
			msg := buf[:n]
			peer := addrPort(from).String()
			if proxy {
				h, hn, err := proxyproto.Parse(msg)
				if err != nil {
					peer = "bad-proxy-header"
				} else {
					peer = h.Source.String() + " " + h.Destination.String()
					msg = msg[hn:]
				}
			}
			_, _ = c.WriteTo([]byte(fmt.Sprintf("%s %s %s", name, peer, msg)), from)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return b
}

type clientConn struct {
	net.Conn
	r *bufio.Reader
}

// dialVIP connects to vip, from src if valid.
func dialVIP(t testing.TB, vip netip.AddrPort, src string) (*clientConn, error) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp4", vip.String())
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &clientConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// greeting reads the backend's first line: name and the fields after it.
func (c *clientConn) greeting() (string, []string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", nil, err
	}
	f := strings.Fields(line)
	return f[0], f[1:], nil
}

// ask opens one connection, returns the name of the backend that answered
// and closes it cleanly (half-close, wait for the backend's close).
func ask(t testing.TB, vip netip.AddrPort, src string) (string, error) {
	t.Helper()
	c, err := dialVIP(t, vip, src)
	if err != nil {
		return "", err
	}
	defer c.Close()
	name, _, err := c.greeting()
	if err != nil {
		return "", err
	}
	_ = c.Conn.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c.r)
	return name, nil
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func statusOf(p *Plane, key config.ServiceKey) (ServiceStatus, bool) {
	for _, s := range p.Status() {
		if s.Key == key {
			return s, true
		}
	}
	return ServiceStatus{}, false
}

func destOf(st ServiceStatus, a netip.AddrPort) DestStatus {
	for _, d := range st.Dests {
		if d.Addr == a {
			return d
		}
	}
	return DestStatus{}
}

func connsOf(p *Plane, proto config.Protocol, template bool) []ConnStatus {
	var out []ConnStatus
	for _, c := range p.Conns() {
		if c.Protocol == proto && c.Template == template {
			out = append(out, c)
		}
	}
	return out
}

func rs(b netip.AddrPort, w int32) config.Real {
	return config.Real{Address: b, Weight: w, Forward: config.Masq}
}

func tcpService(vip netip.AddrPort, scheduler string, reals ...config.Real) config.Service {
	return config.Service{
		ServiceKey: config.ServiceKey{Protocol: config.TCP, Address: vip},
		Scheduler:  scheduler,
		Reals:      reals,
	}
}

// goroutines counts goroutines, waiting for the count to settle at or
// below want.
func goroutinesSettle(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}
