// Package xdp holds network-namespace tests of the XDP data plane: the
// seed's LVS lab (a client, a director and two real servers on one bridge)
// in DR, TUN and NAT modes, with the director's program attached to a real
// veth and real TCP between the namespaces.
//
// Everything runs in the test process: the director's Plane attaches in
// its namespace (xdp.InNetNS), sockets are opened on a thread switched into
// their namespace and keep it, realserver.Up runs the same way. Each test
// creates and deletes its own namespaces, with addresses in 10.24x.0.0/24
// inside them only. The tests need root, iproute2 and BPF, and skip
// otherwise.
package xdp

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/xdp"
)

// lab is one test's network: a bridge namespace "sw" and one namespace per
// host, each host's eth0 plugged into br0.
type lab struct {
	t      testing.TB
	prefix string
	net    int
	nss    []string
	hosts  map[string]string // name -> address with prefix
}

func requireLab(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("XDP namespace tests need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) is not installed")
	}
}

// newLab builds the network; hosts maps a name to its eth0 address with
// prefix length.
func newLab(t testing.TB, subnet int, hosts map[string]string) *lab {
	requireLab(t)
	var rnd [3]byte
	rand.Read(rnd[:])
	l := &lab{t: t, prefix: "fx" + hex.EncodeToString(rnd[:]), net: subnet, hosts: hosts}
	t.Cleanup(l.destroy)
	sw := l.ns("sw")
	l.addNS(sw)
	l.ip(sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	l.ip(sw, "link", "set", "br0", "up")
	for name, addr := range hosts {
		ns := l.ns(name)
		l.addNS(ns)
		port := "p" + name
		l.ip(sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.ip(sw, "link", "set", port, "master", "br0", "up")
		l.ip(ns, "link", "set", "lo", "up")
		l.ip(ns, "addr", "add", addr, "dev", "eth0")
		l.ip(ns, "link", "set", "eth0", "up")
	}
	return l
}

func (l *lab) ns(name string) string     { return l.prefix + "-" + name }
func (l *lab) nsPath(name string) string { return "/run/netns/" + l.ns(name) }

func (l *lab) addNS(ns string) {
	l.run("ip", "netns", "add", ns)
	l.nss = append(l.nss, ns)
}

func (l *lab) destroy() {
	for i := len(l.nss) - 1; i >= 0; i-- {
		exec.Command("ip", "netns", "del", l.nss[i]).Run()
	}
}

func (l *lab) run(name string, args ...string) string {
	l.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (l *lab) ip(ns string, args ...string) string {
	l.t.Helper()
	return l.run("ip", append([]string{"-n", ns}, args...)...)
}

func (l *lab) addr(host string) netip.Addr {
	return netip.MustParsePrefix(l.hosts[host]).Addr()
}

func (l *lab) vip() netip.Addr { return netip.AddrFrom4([4]byte{10, byte(l.net), 0, 100}) }

// in runs fn in host's namespace.
func (l *lab) in(host string, fn func() error) {
	l.t.Helper()
	if err := xdp.InNetNS(l.nsPath(host), fn); err != nil {
		l.t.Fatal(err)
	}
}

// serve starts a TCP server in host's namespace on :port that writes its
// name to every connection and closes it (the real server's application).
func (l *lab) serve(host string, port int) {
	var ln net.Listener
	l.in(host, func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	l.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 64)
				c.Read(buf) // the request line
				io.WriteString(c, host)
			}()
		}
	}()
}

// fetch connects from host to addr, sends a line and returns the answer.
func (l *lab) fetch(host string, addr netip.AddrPort) (string, error) {
	var c net.Conn
	err := xdp.InNetNS(l.nsPath(host), func() (err error) {
		c, err = net.DialTimeout("tcp4", addr.String(), 3*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// tcpSockets counts the entries of /proc/net/tcp in host's namespace (the
// thread's view: /proc/thread-self/net is per network namespace).
func (l *lab) tcpSockets(host string) int {
	n := 0
	l.in(host, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/tcp")
		if err != nil {
			return err
		}
		n = strings.Count(strings.TrimSpace(string(b)), "\n") // minus the header line
		return nil
	})
	return n
}

// tap counts the TCP segments seen on an interface of a namespace through
// an AF_PACKET socket, by direction relative to addr:port.
type tap struct {
	fd       int
	to, from atomic.Int64
	done     chan struct{}
	once     sync.Once
	stop     atomic.Bool
}

func (l *lab) tap(host, ifname string, addr netip.AddrPort) *tap {
	tp := &tap{done: make(chan struct{})}
	l.in(host, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := int(uint16(unix.ETH_P_ALL)<<8 | uint16(unix.ETH_P_ALL)>>8)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.Timeval{Usec: 100000}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		tp.fd = fd
		return nil
	})
	a4 := addr.Addr().As4()
	fd := tp.fd
	go func() {
		defer close(tp.done)
		buf := make([]byte, 2048)
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if tp.stop.Load() {
				return
			}
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			f := buf[:n]
			if n < 14+20+4 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
				continue
			}
			ip := f[14:]
			ihl := int(ip[0]&0xf) * 4
			if ip[9] != 6 || len(ip) < ihl+4 {
				continue
			}
			sport, dport := binary.BigEndian.Uint16(ip[ihl:]), binary.BigEndian.Uint16(ip[ihl+2:])
			switch {
			case [4]byte(ip[16:20]) == a4 && dport == addr.Port():
				tp.to.Add(1)
			case [4]byte(ip[12:16]) == a4 && sport == addr.Port():
				tp.from.Add(1)
			}
		}
	}()
	l.t.Cleanup(tp.close)
	return tp
}

func (tp *tap) close() {
	tp.once.Do(func() {
		tp.stop.Store(true)
		<-tp.done
		unix.Close(tp.fd)
	})
}

func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func newDirector(t testing.TB, l *lab) *xdp.Plane {
	t.Helper()
	p, err := xdp.New(xdp.Options{Interfaces: []string{"eth0"}, NetNS: l.nsPath("lb"), SweepInterval: 200 * time.Millisecond, Mode: xdp.ModeNative})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// peerPass attaches xdp_pass to a switch port: native XDP_TX on a veth
// needs NAPI on the peer, which an XDP program there enables
// (drivers/net/veth.c); a physical NIC needs nothing.
func (l *lab) peerPass(port string) {
	l.in("sw", func() error {
		ifi, err := net.InterfaceByName(port)
		if err != nil {
			return err
		}
		lk, err := xdp.AttachPass(ifi.Index)
		if err != nil {
			return err
		}
		l.t.Cleanup(func() { lk.Close() })
		return nil
	})
}

// txChecksumOff turns off transmit checksum offload of an interface in the
// caller's namespace (ethtool -K IF tx off, through the SIOCETHTOOL ioctl
// with ETHTOOL_STXCSUM). A veth hands locally generated TCP segments on
// with a partial checksum; native XDP turns the skb into a bare frame and
// loses that state, so a forwarded segment would arrive with a wrong
// checksum. Packets from a physical wire always carry full checksums.
func txChecksumOff(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ev := struct{ cmd, data uint32 }{0x00000017 /* ETHTOOL_STXCSUM */, 0}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&ev)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		err = errno
	}
	runtime.KeepAlive(&ev)
	if err != nil {
		return fmt.Errorf("%s: tx checksum offload off: %w", ifname, err)
	}
	return nil
}
