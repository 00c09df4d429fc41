// Package netns holds network-namespace tests of the VRRP engine: real
// raw sockets, netlink addresses and gratuitous ARP between namespaces
// joined by a bridge, and interop with Debian's keepalived.
//
// How our Node runs inside a namespace: the test binary re-executes itself
// under `ip netns exec NS` with FULCRUM_NETNS_VRRP_NODE=config.yaml, and
// TestMain turns that process into a small VRRP daemon (config.Parse,
// vrrp.New with the real transport and effects, SIGTERM = graceful stop)
// that prints every state change as a JSON line. A whole process per node
// keeps every socket, netlink call and /proc/sys write in the right
// namespace without locking OS threads. Only the packet capture, in the
// test process, enters a namespace on a locked thread (vishvananda/netns)
// to open its AF_PACKET socket there.
//
// Each test creates and deletes its own namespaces (a bridge namespace and
// one per host), with addresses in its own 10.2xx.0.0/24 inside them
// only. The tests need root and iproute2, and skip otherwise.
package netns

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

const nodeEnv = "FULCRUM_NETNS_VRRP_NODE"

func TestMain(m *testing.M) {
	if path := os.Getenv(nodeEnv); path != "" {
		os.Exit(runNode(path))
	}
	if spec := os.Getenv(backendEnv); spec != "" {
		os.Exit(runBackend(spec))
	}
	if addr := os.Getenv(fetchEnv); addr != "" {
		os.Exit(runFetch(addr))
	}
	os.Exit(m.Run())
}

// runNode is the VRRP daemon a test starts inside a namespace.
func runNode(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg, ds := config.Parse(path, data)
	if cfg == nil {
		fmt.Fprintln(os.Stderr, ds.String())
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	node := vrrp.New(vrrp.Options{Logger: log, OnChange: func(c vrrp.StateChange) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(c)
	}})
	if err := node.Apply(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	node.Run(ctx)
	return 0
}

// lab is one test's network: a bridge namespace and host namespaces, each
// host with eth0 on the bridge and address 10.<net>.0.<n>/24.
type lab struct {
	t      *testing.T
	prefix string
	net    int
	dir    string
	hosts  map[string]int // name -> host number
	nss    []string
}

func requireLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) is not installed")
	}
}

// newLab builds the network; hosts maps a name to its host number.
func newLab(t *testing.T, subnet int, hosts map[string]int) *lab {
	requireLab(t)
	var rnd [3]byte
	rand.Read(rnd[:])
	l := &lab{t: t, prefix: "fv" + hex.EncodeToString(rnd[:]), net: subnet, dir: t.TempDir(), hosts: hosts}
	t.Cleanup(l.destroy)
	sw := l.ns("sw")
	l.addNS(sw)
	l.ip(sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	l.ip(sw, "link", "set", "br0", "up")
	for name, n := range hosts {
		ns := l.ns(name)
		l.addNS(ns)
		// No duplicate address detection on the new eth0, so its IPv6
		// addresses (link-local included) are usable at once.
		l.run("ip", "netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad")
		port := "p" + name
		l.ip(sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.ip(sw, "link", "set", port, "master", "br0", "up")
		l.ip(ns, "link", "set", "lo", "up")
		l.ip(ns, "addr", "add", fmt.Sprintf("10.%d.0.%d/24", subnet, n), "dev", "eth0")
		l.ip(ns, "addr", "add", fmt.Sprintf("fd00:%d::%d/64", subnet, n), "dev", "eth0")
		l.ip(ns, "link", "set", "eth0", "up")
	}
	return l
}

func (l *lab) ns(name string) string { return l.prefix + "-" + name }

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

// addr returns host's address.
func (l *lab) addr(host string) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(l.net), 0, byte(l.hosts[host])})
}

// vip is the virtual address of the lab, .100.
func (l *lab) vip() string { return fmt.Sprintf("10.%d.0.100", l.net) }

// vip6 is the lab's IPv6 virtual address, fd00:<net>::100.
func (l *lab) vip6() string { return fmt.Sprintf("fd00:%d::100", l.net) }

// linkLocal returns host's eth0 link-local address.
func (l *lab) linkLocal(host string) netip.Addr {
	out := l.ip(l.ns(host), "-o", "-6", "addr", "show", "dev", "eth0", "scope", "link")
	f := strings.Fields(out)
	for i, w := range f {
		if w == "inet6" && i+1 < len(f) {
			p, err := netip.ParsePrefix(f[i+1])
			if err == nil {
				return p.Addr()
			}
		}
	}
	l.t.Fatalf("no link-local address in %q", out)
	return netip.Addr{}
}

// hasAddr reports whether host's eth0 (or any interface) holds a.
func (l *lab) hasAddr(host, a string) bool {
	out, err := exec.Command("ip", "-n", l.ns(host), "-o", "addr", "show").CombinedOutput()
	if err != nil {
		l.t.Fatalf("ip addr: %v\n%s", err, out)
	}
	return strings.Contains(string(out), " "+a+"/")
}

// cut disconnects host from the bridge (the cable is pulled: host's eth0
// loses carrier).
func (l *lab) cut(host string) { l.ip(l.ns("sw"), "link", "set", "p"+host, "down") }

// isolate detaches host's port from the bridge while leaving its link up:
// a partition both sides of which keep carrier.
func (l *lab) isolate(host string) { l.ip(l.ns("sw"), "link", "set", "p"+host, "nomaster") }

func (l *lab) rejoin(host string) { l.ip(l.ns("sw"), "link", "set", "p"+host, "master", "br0") }

// waitFor polls cond every 50 ms until it holds or d runs out.
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// daemon is a process running in a namespace: our node or keepalived.
type daemon struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	states []vrrp.StateChange
	log    strings.Builder
	done   chan struct{}
}

// startNode runs our VRRP node in host's namespace with the YAML config.
func (l *lab) startNode(host, yaml string) *daemon {
	l.t.Helper()
	path := filepath.Join(l.dir, host+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		l.t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.ns(host), exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeEnv+"="+path)
	return l.start(host, cmd, true)
}

func (l *lab) start(name string, cmd *exec.Cmd, jsonStates bool) *daemon {
	l.t.Helper()
	d := &daemon{t: l.t, name: name, cmd: cmd, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{d: d}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Bytes()
			var c vrrp.StateChange
			if jsonStates && json.Unmarshal(line, &c) == nil && c.Instance != "" {
				d.mu.Lock()
				d.states = append(d.states, c)
				d.mu.Unlock()
				continue
			}
			d.mu.Lock()
			d.log.Write(line)
			d.log.WriteByte('\n')
			d.mu.Unlock()
		}
		cmd.Wait()
	}()
	l.t.Cleanup(func() {
		d.stop()
		if l.t.Failed() {
			l.t.Logf("--- %s log:\n%s", name, d.output())
		}
	})
	return d
}

type lockedWriter struct{ d *daemon }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.d.log.Write(p)
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// stop sends SIGTERM (a graceful stop) and waits up to 10 s.
func (d *daemon) stop() {
	if d.cmd.Process == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// state is the node's latest state ("" before any).
func (d *daemon) state() vrrp.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.states) == 0 {
		return vrrp.StateInit
	}
	return d.states[len(d.states)-1].To
}

func (d *daemon) waitState(s vrrp.State, within time.Duration) {
	d.t.Helper()
	if !waitFor(within, func() bool { return d.state() == s }) {
		d.t.Fatalf("%s is %s after %s, want %s\n%s", d.name, d.state(), within, s, d.output())
	}
}

// capture records ARP and VRRP frames seen by host's eth0.
type capture struct {
	t      *testing.T
	fd     int
	mu     sync.Mutex
	frames []captured
	done   chan struct{}
	closed chan struct{}
}

type captured struct {
	at    time.Time
	frame []byte
}

// capture opens an AF_PACKET socket inside host's namespace: the thread
// enters the namespace, opens and binds the socket, and returns; the
// socket stays in that namespace.
func (l *lab) capture(host string) *capture {
	l.t.Helper()
	fd, err := packetSocketIn(l.ns(host), "eth0")
	if err != nil {
		l.t.Fatal(err)
	}
	c := &capture{t: l.t, fd: fd, done: make(chan struct{}), closed: make(chan struct{})}
	go c.loop()
	l.t.Cleanup(c.close)
	return c
}

func packetSocketIn(ns, ifname string) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return -1, err
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return -1, err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return -1, err
	}
	defer netns.Set(orig)
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	tv := unix.Timeval{Usec: 100000}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *capture) loop() {
	defer close(c.done)
	buf := make([]byte, 2048)
	for {
		select {
		case <-c.closed:
			return
		default:
		}
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil || n < 14 {
			continue
		}
		et := binary.BigEndian.Uint16(buf[12:14])
		keep := et == 0x0806 ||
			(et == 0x0800 && n >= 24 && buf[14+9] == vrrp.Protocol) ||
			(et == 0x86dd && n >= 54 && buf[14+6] == vrrp.Protocol) ||
			(et == 0x86dd && n >= 55 && buf[14+6] == 58 && buf[14+40] == 136) // neighbor advertisement
		if keep {
			c.mu.Lock()
			c.frames = append(c.frames, captured{at: time.Now(), frame: append([]byte(nil), buf[:n]...)})
			c.mu.Unlock()
		}
	}
}

func (c *capture) close() {
	select {
	case <-c.closed:
		return
	default:
	}
	close(c.closed)
	<-c.done
	unix.Close(c.fd)
}

// advert is one VRRP advert seen on the wire.
type advert struct {
	at   time.Time
	src  netip.Addr
	ttl  int
	prio uint8
	adv  *vrrp.Advert
}

func (c *capture) adverts() []advert {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []advert
	for _, f := range c.frames {
		p, err := vrrp.ParseFrame(f.frame)
		if err != nil {
			continue
		}
		a, err := vrrp.Decode(p.Payload, p.Src, p.Dst)
		if err != nil {
			c.t.Errorf("undecodable advert on the wire from %s: %v", p.Src, err)
			continue
		}
		out = append(out, advert{at: f.at, src: p.Src, ttl: p.TTL, prio: a.Priority, adv: a})
	}
	return out
}

// garps returns the gratuitous ARPs for vip: sender and target address
// vip, op 1 (request), broadcast, with their sender MAC.
func (c *capture) garps(vip netip.Addr) []net.HardwareAddr {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []net.HardwareAddr
	v := vip.As4()
	for _, f := range c.frames {
		b := f.frame
		if len(b) < 42 || binary.BigEndian.Uint16(b[12:14]) != 0x0806 {
			continue
		}
		arp := b[14:]
		if binary.BigEndian.Uint16(arp[6:8]) == 1 && string(arp[14:18]) == string(v[:]) && string(arp[24:28]) == string(v[:]) &&
			string(b[0:6]) == "\xff\xff\xff\xff\xff\xff" {
			out = append(out, net.HardwareAddr(append([]byte(nil), arp[8:14]...)))
		}
	}
	return out
}

// unsolicitedNAs returns the sender MACs of unsolicited neighbor
// advertisements for vip to ff02::1 with hop limit 255 and the O flag.
func (c *capture) unsolicitedNAs(vip netip.Addr) []net.HardwareAddr {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []net.HardwareAddr
	v := vip.As16()
	for _, f := range c.frames {
		b := f.frame
		if len(b) < 14+40+24 || binary.BigEndian.Uint16(b[12:14]) != 0x86dd || b[14+6] != 58 || b[14+40] != 136 {
			continue
		}
		ip, icmp := b[14:], b[14+40:]
		if ip[7] == 255 && icmp[4]&0x20 != 0 && string(icmp[8:24]) == string(v[:]) && ip[24] == 0xff && ip[39] == 1 {
			out = append(out, net.HardwareAddr(append([]byte(nil), b[6:12]...)))
		}
	}
	return out
}

// gap is the time between the last advert from `from` (optionally with
// priority prio, -1 for any) and the first later advert from `to`.
func gap(ads []advert, from netip.Addr, prio int, to netip.Addr) (time.Duration, bool) {
	var last time.Time
	for _, a := range ads {
		if a.src == from && (prio < 0 || int(a.prio) == prio) {
			last = a.at
		}
	}
	if last.IsZero() {
		return 0, false
	}
	for _, a := range ads {
		if a.src == to && a.at.After(last) {
			return a.at.Sub(last), true
		}
	}
	return 0, false
}

// macOf returns host's eth0 MAC address.
func (l *lab) macOf(host string) string {
	out := l.ip(l.ns(host), "-o", "link", "show", "eth0")
	f := strings.Fields(out)
	for i, w := range f {
		if w == "link/ether" && i+1 < len(f) {
			return f[i+1]
		}
	}
	l.t.Fatalf("no MAC in %q", out)
	return ""
}
