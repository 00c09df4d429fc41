package xdp

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Verdicts (enum xdp_action).
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpTX       = 3
	xdpRedirect = 4
)

var (
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x50}
	lbMAC     = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
)

// rsMAC is the MAC the fake resolver gives real server 10.0.0.N.
func rsMAC(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0, 0, 0, 1, b[3]}
}

// fakeResolver answers every real server as a neighbour on one L2 with a
// MAC derived from its address, the director being 10.0.0.1.
type fakeResolver struct {
	mtu     int
	ifindex int
}

func (f fakeResolver) Resolve(_ context.Context, a netip.Addr) (NextHop, error) {
	mtu := f.mtu
	if mtu == 0 {
		mtu = 1500
	}
	return NextHop{Ifindex: f.ifindex, SrcMAC: lbMAC, DstMAC: rsMAC(a), MTU: mtu, Src: netip.MustParseAddr("10.0.0.1")}, nil
}

// requireBPF skips unless BPF programs can be loaded here.
func requireBPF(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("BPF tests need root (unprivileged BPF is disabled)")
	}
}

// testClock is a monotonic clock the test can move forward, for expiry.
type testClock struct{ off atomic.Int64 }

func (c *testClock) now() time.Duration      { return monotonic() + time.Duration(c.off.Load()) }
func (c *testClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// newTestPlane loads the program without attaching it anywhere; the sweeper
// runs only when the test calls Sweep (a long interval keeps it quiet).
func newTestPlane(t testing.TB, r Resolver) (*Plane, *testClock) {
	t.Helper()
	return newTestPlaneOpt(t, Options{Resolver: r})
}

// newTestPlaneOpt is newTestPlane with more options (the test fills in
// the resolver, table size, sweep interval and clock it leaves zero).
func newTestPlaneOpt(t testing.TB, opt Options) (*Plane, *testClock) {
	t.Helper()
	requireBPF(t)
	if opt.Resolver == nil {
		opt.Resolver = fakeResolver{}
	}
	if opt.MaxConns == 0 {
		opt.MaxConns = 4096
	}
	if opt.SweepInterval == 0 {
		opt.SweepInterval = time.Hour
	}
	clk := &testClock{}
	if opt.Clock == nil {
		opt.Clock = clk.now
	}
	p, err := New(opt)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("verifier: %+v", ve)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, clk
}

func apply(t testing.TB, p *Plane, svcs ...config.Service) {
	t.Helper()
	if err := p.Apply(context.Background(), svcs, config.DefaultTimeouts); err != nil {
		t.Fatal(err)
	}
}

func svc(proto config.Protocol, vip, sched string, reals ...config.Real) config.Service {
	return config.Service{
		ServiceKey: config.ServiceKey{Protocol: proto, Address: netip.MustParseAddrPort(vip)},
		Scheduler:  sched,
		Reals:      reals,
	}
}

func real(addr string, w int32, fwd config.Forward) config.Real {
	return config.Real{Address: netip.MustParseAddrPort(addr), Weight: w, Forward: fwd}
}

// TCP flag bits (RFC 9293).
const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fPSH = 0x08
	fACK = 0x10
)

// pkt describes a test packet; build serialises it with correct checksums.
type pkt struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.AddrPort
	proto          uint8 // 6 or 17
	flags          uint8 // TCP
	payload        []byte
	ttl, tos       uint8
	id             uint16
	df             bool
}

// csum is the Internet checksum (RFC 1071) of b plus an initial sum.
func csum(sum uint32, b []byte) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ipv4Header builds a 20-byte header with its checksum.
func ipv4Header(totLen int, id uint16, df bool, ttl, proto, tos uint8, src, dst netip.Addr) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	h[1] = tos
	binary.BigEndian.PutUint16(h[2:], uint16(totLen))
	binary.BigEndian.PutUint16(h[4:], id)
	if df {
		binary.BigEndian.PutUint16(h[6:], 0x4000)
	}
	h[8] = ttl
	h[9] = proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], csum(0, h))
	return h
}

// l4Checksum is the TCP/UDP checksum over the pseudo header (RFC 9293
// §3.1, RFC 768).
func l4Checksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	s, d := src.As4(), dst.As4()
	ph := make([]byte, 0, 12)
	ph = append(ph, s[:]...)
	ph = append(ph, d[:]...)
	ph = append(ph, 0, proto)
	ph = binary.BigEndian.AppendUint16(ph, uint16(len(seg)))
	var sum uint32
	for i := 0; i < len(ph); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ph[i:]))
	}
	c := csum(sum, seg)
	if proto == 17 && c == 0 {
		c = 0xffff
	}
	return c
}

func (p pkt) segment() []byte {
	var seg []byte
	if p.proto == 17 {
		seg = make([]byte, 8)
		binary.BigEndian.PutUint16(seg[0:], p.src.Port())
		binary.BigEndian.PutUint16(seg[2:], p.dst.Port())
		binary.BigEndian.PutUint16(seg[4:], uint16(8+len(p.payload)))
		seg = append(seg, p.payload...)
		binary.BigEndian.PutUint16(seg[6:], l4Checksum(p.src.Addr(), p.dst.Addr(), 17, seg))
		return seg
	}
	seg = make([]byte, 20)
	binary.BigEndian.PutUint16(seg[0:], p.src.Port())
	binary.BigEndian.PutUint16(seg[2:], p.dst.Port())
	binary.BigEndian.PutUint32(seg[4:], 1000)
	binary.BigEndian.PutUint32(seg[8:], 2000)
	seg[12] = 5 << 4
	seg[13] = p.flags
	binary.BigEndian.PutUint16(seg[14:], 65535)
	seg = append(seg, p.payload...)
	binary.BigEndian.PutUint16(seg[16:], l4Checksum(p.src.Addr(), p.dst.Addr(), 6, seg))
	return seg
}

// ip is the IPv4 packet (no Ethernet header).
func (p pkt) ip() []byte {
	if p.proto == 0 {
		p.proto = 6
	}
	if p.ttl == 0 {
		p.ttl = 64
	}
	seg := p.segment()
	return append(ipv4Header(20+len(seg), p.id, p.df, p.ttl, p.proto, p.tos, p.src.Addr(), p.dst.Addr()), seg...)
}

func eth(dst, src net.HardwareAddr, payload []byte) []byte {
	f := make([]byte, 0, 14+len(payload))
	f = append(f, dst...)
	f = append(f, src...)
	f = binary.BigEndian.AppendUint16(f, 0x0800)
	return append(f, payload...)
}

func (p pkt) frame() []byte {
	s, d := p.srcMAC, p.dstMAC
	if s == nil {
		s = clientMAC
	}
	if d == nil {
		d = lbMAC
	}
	return eth(d, s, p.ip())
}

// run passes one frame through the director program.
func run(t testing.TB, p *Plane, frame []byte) (uint32, []byte) {
	t.Helper()
	ret, out, err := p.Program().Test(frame)
	if err != nil {
		t.Fatal(err)
	}
	return ret, out
}

// client returns the TCP packet of one client flow to the VIP.
func client(src, vip string, flags uint8) pkt {
	return pkt{src: netip.MustParseAddrPort(src), dst: netip.MustParseAddrPort(vip), proto: 6, flags: flags, df: true}
}

// destOf tells which real server a forwarded DR frame went to, by its MAC.
func destOf(t testing.TB, out []byte) netip.Addr {
	t.Helper()
	if len(out) < 14 || out[0] != 0x02 || out[4] != 1 {
		t.Fatalf("frame not sent to a real server: % x", out[:min(14, len(out))])
	}
	return netip.AddrFrom4([4]byte{10, 0, 0, out[5]})
}
