package xdp

import (
	"bytes"
	"net/netip"
	"testing"
)

// The real-server decapsulator strips exactly the outer IPv4 header of an
// IPIP packet for one of its VIPs and passes the inner packet up with the
// same Ethernet header; other packets pass untouched.
func TestDecapStripsOuterHeader(t *testing.T) {
	requireBPF(t)
	d, err := LoadDecap([]netip.Addr{netip.MustParseAddr("10.0.0.100")})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	inner := client("192.0.2.7:33000", "10.0.0.100:80", fSYN).ip()
	outer := ipv4Header(20+len(inner), 0, true, 64, 4, 0, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.3"))
	rs := rsMAC(netip.MustParseAddr("10.0.0.3"))
	ret, out, err := d.Program().Test(eth(rs, lbMAC, append(outer, inner...)))
	if err != nil {
		t.Fatal(err)
	}
	if want := eth(rs, lbMAC, inner); ret != xdpPass || !bytes.Equal(out, want) {
		t.Fatalf("verdict %d\n got % x\nwant % x", ret, out, want)
	}
	other := client("192.0.2.7:33000", "10.0.0.99:80", fSYN).ip()
	outer = ipv4Header(20+len(other), 0, true, 64, 4, 0, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.3"))
	f := eth(rs, lbMAC, append(outer, other...))
	if ret, out, _ := d.Program().Test(f); ret != xdpPass || !bytes.Equal(out, f) {
		t.Fatalf("foreign VIP: verdict %d, changed %v", ret, !bytes.Equal(out, f))
	}
}

// Supported reports that this machine can run the plane (root with BPF
// and veth here).
func TestSupported(t *testing.T) {
	requireBPF(t)
	if err := Supported(); err != nil {
		t.Fatal(err)
	}
}
