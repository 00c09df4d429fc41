package xdp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// BenchmarkVethNAT compares packets per second through the director on the
// NAT lab topology: the XDP plane's DNAT against the kernel's forwarding
// with an nftables DNAT rule, same namespaces, same veths, and against the
// direct path (the client addressing the real server, no director: the
// ceiling of the topology). A client namespace sends 64-byte UDP datagrams
// with sendmmsg for one second per measurement; the real server's eth0
// receive counter gives the packets that made it through. Every iteration
// is one round of the three, in turn. Reported: the median of each
// (xdp-pps, nft-pps, direct-pps), the spread of the XDP and nftables
// rounds ((max-min)/median, %), and the ratios of the medians. make bench
// runs it (-benchtime Nx for N rounds); needs root and nftables (nft).
func BenchmarkVethNAT(b *testing.B) {
	requireLab(b)
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("nftables (nft) is not installed")
	}
	l := seedLab(b, 245, "10.246.0.10/24")
	l.ip(l.ns("client"), "route", "add", "10.245.0.0/24", "dev", "eth0")
	l.ip(l.ns("lb"), "route", "add", "10.246.0.0/24", "dev", "eth0")
	l.ip(l.ns("rs1"), "route", "add", "10.246.0.0/24", "via", "10.245.0.1")
	// A bound socket that is never read: datagrams are counted on eth0 and
	// dropped silently, with no ICMP back.
	l.in("rs1", func() error {
		c, err := net.ListenPacket("udp4", ":9000")
		if err == nil {
			b.Cleanup(func() { c.Close() })
		}
		return err
	})
	vip := netip.AddrPortFrom(l.vip(), 9000)
	var xdpPPS, nftPPS, directPPS []float64
	for b.Loop() {
		// XDP.
		p := newDirector(b, l)
		svc := config.Service{
			ServiceKey: config.ServiceKey{Protocol: config.UDP, Address: vip},
			Scheduler:  "rr",
			Reals:      []config.Real{{Address: netip.AddrPortFrom(l.addr("rs1"), 9000), Weight: 1, Forward: config.Masq}},
		}
		if err := p.Apply(context.Background(), []config.Service{svc}, config.DefaultTimeouts); err != nil {
			b.Fatal(err)
		}
		xdpPPS = append(xdpPPS, l.blast(b, vip, time.Second))
		p.Close()

		// nftables DNAT with kernel forwarding.
		l.run("ip", "netns", "exec", l.ns("lb"), "sysctl", "-qw", "net.ipv4.ip_forward=1")
		rules := fmt.Sprintf(`table ip fulcrumbench {
  chain pre { type nat hook prerouting priority -100; ip daddr %s udp dport 9000 dnat to %s:9000; }
}`, l.vip(), l.addr("rs1"))
		cmd := exec.Command("ip", "netns", "exec", l.ns("lb"), "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("nft: %v\n%s", err, out)
		}
		nftPPS = append(nftPPS, l.blast(b, vip, time.Second))
		l.run("ip", "netns", "exec", l.ns("lb"), "nft", "delete", "table", "ip", "fulcrumbench")
		l.run("ip", "netns", "exec", l.ns("lb"), "sysctl", "-qw", "net.ipv4.ip_forward=0")

		// Direct: the same datagrams to the real server's own address.
		directPPS = append(directPPS, l.blast(b, netip.AddrPortFrom(l.addr("rs1"), 9000), time.Second))
	}
	xdp, nft, direct := median(xdpPPS), median(nftPPS), median(directPPS)
	b.ReportMetric(xdp, "xdp-pps")
	b.ReportMetric(nft, "nft-pps")
	b.ReportMetric(direct, "direct-pps")
	b.ReportMetric(spread(xdpPPS), "xdp-spread-%")
	b.ReportMetric(spread(nftPPS), "nft-spread-%")
	if nft > 0 {
		b.ReportMetric(xdp/nft, "xdp/nft")
	}
	if direct > 0 {
		b.ReportMetric(xdp/direct, "xdp/direct")
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// spread is (max-min)/median in percent.
func spread(v []float64) float64 {
	m := median(v)
	if m == 0 {
		return 0
	}
	return (slices.Max(v) - slices.Min(v)) / m * 100
}

// blast sends UDP datagrams from the client to dst for d and returns the
// rate at which rs1's eth0 received them.
func (l *lab) blast(b testing.TB, dst netip.AddrPort, d time.Duration) float64 {
	var c *net.UDPConn
	l.in("client", func() (err error) {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		return err
	})
	defer c.Close()
	// Warm up ARP and the connection entry.
	for range 3 {
		c.Write(make([]byte, 64-28))
	}
	time.Sleep(200 * time.Millisecond)
	before := l.rxPackets(b, "rs1")
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 64-28)}
	}
	start := time.Now()
	for time.Since(start) < d {
		if _, err := pc.WriteBatch(msgs, 0); err != nil {
			time.Sleep(time.Millisecond) // ENOBUFS: the queue is full
		}
	}
	elapsed := time.Since(start)
	time.Sleep(100 * time.Millisecond)
	return float64(l.rxPackets(b, "rs1")-before) / elapsed.Seconds()
}

func (l *lab) rxPackets(b testing.TB, host string) uint64 {
	var n uint64
	l.in(host, func() error {
		lk, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		n = lk.Attrs().Statistics.RxPackets
		return nil
	})
	return n
}
