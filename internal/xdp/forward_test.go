package xdp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// ip_vs_dr_xmit: only the MACs change; the IP packet is untouched (no TTL
// decrement, no checksum change).
func TestDirectRoutingRewritesOnlyMACs(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	apply(t, p, svc(config.TCP, "10.0.0.100:80", "rr", real("10.0.0.2:80", 1, config.Route)))
	in := client("10.0.0.50:40000", "10.0.0.100:80", fSYN)
	ret, out := run(t, p, in.frame())
	if ret != xdpTX {
		t.Fatalf("verdict %d, want XDP_TX", ret)
	}
	want := eth(rsMAC(netip.MustParseAddr("10.0.0.2")), lbMAC, in.ip())
	if !bytes.Equal(out, want) {
		t.Fatalf("DR frame\n got % x\nwant % x", out, want)
	}
}

// A dest on another interface is redirected there instead of XDP_TX.
func TestDirectRoutingRedirectsToOtherInterface(t *testing.T) {
	p, _ := newTestPlane(t, fakeResolver{ifindex: 7})
	apply(t, p, svc(config.TCP, "10.0.0.100:80", "rr", real("10.0.0.2:80", 1, config.Route)))
	ret, _ := run(t, p, client("10.0.0.50:40000", "10.0.0.100:80", fSYN).frame())
	if ret != xdpRedirect {
		t.Fatalf("verdict %d, want XDP_REDIRECT", ret)
	}
}

// ip_vs_tunnel_xmit / ip_vs_prepare_tunneled_skb: outer IPv4 header,
// protocol 4, source = the director's address towards the real server,
// TOS, TTL and DF copied from the inner header, inner packet unchanged.
func TestTunnelEncapsulatesIPIP(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	apply(t, p, svc(config.TCP, "10.0.0.100:80", "rr", real("10.0.0.3:80", 1, config.Tunnel)))
	for _, df := range []bool{true, false} {
		in := client("10.0.0.50:40001", "10.0.0.100:80", fSYN)
		in.df, in.tos, in.ttl, in.id = df, 0x10, 61, 0x1234
		if !df {
			in.src = netip.MustParseAddrPort("10.0.0.50:40002")
		}
		ret, out := run(t, p, in.frame())
		if ret != xdpTX {
			t.Fatalf("df=%v: verdict %d, want XDP_TX", df, ret)
		}
		inner := in.ip()
		// RFC 6864: an atomic datagram (DF) may carry id 0; otherwise
		// the inner id is reused.
		id := uint16(0)
		if !df {
			id = in.id
		}
		outer := ipv4Header(20+len(inner), id, df, 61, 4, 0x10,
			netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.3"))
		want := eth(rsMAC(netip.MustParseAddr("10.0.0.3")), lbMAC, append(outer, inner...))
		if !bytes.Equal(out, want) {
			t.Fatalf("df=%v: IPIP frame\n got % x\nwant % x", df, out, want)
		}
		if csum(0, out[14:34]) != 0 {
			t.Fatal("outer IP checksum does not verify")
		}
	}
}

// A DF packet that would not fit the path MTU after encapsulation gets
// ICMP fragmentation needed with MTU - 20 (ip_vs_tunnel_xmit, pmtu_disc=1;
// RFC 1191), sent back from the VIP; a non-DF one is dropped.
func TestTunnelTooBigSendsFragNeeded(t *testing.T) {
	p, _ := newTestPlane(t, fakeResolver{mtu: 1000})
	apply(t, p, svc(config.TCP, "10.0.0.100:80", "rr", real("10.0.0.3:80", 1, config.Tunnel)))
	in := client("10.0.0.50:40003", "10.0.0.100:80", fSYN)
	in.payload = make([]byte, 1000-40-20+1) // inner 981 + 20 > 1000
	ret, out := run(t, p, in.frame())
	if ret != xdpTX {
		t.Fatalf("verdict %d, want XDP_TX (ICMP)", ret)
	}
	inner := in.ip()
	icmp := make([]byte, 8)
	icmp[0], icmp[1] = 3, 4
	binary.BigEndian.PutUint16(icmp[6:], 980)
	icmp = append(icmp, inner[:28]...)
	binary.BigEndian.PutUint16(icmp[2:], csum(0, icmp))
	ip := ipv4Header(20+len(icmp), 0, false, 64, 1, 0xc0,
		netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("10.0.0.50"))
	want := eth(clientMAC, lbMAC, append(ip, icmp...))
	if !bytes.Equal(out, want) {
		t.Fatalf("ICMP frag needed\n got % x\nwant % x", out, want)
	}
	in.df = false
	in.src = netip.MustParseAddrPort("10.0.0.50:40004")
	if ret, _ := run(t, p, in.frame()); ret != xdpDrop {
		t.Fatalf("non-DF too big: verdict %d, want XDP_DROP", ret)
	}
}

// ip_vs_nat_xmit + handle_response: DNAT to the real server (port changed
// too) on the way in, SNAT back to the VIP on the way out, TCP and UDP
// checksums updated incrementally; compared with packets built and
// checksummed from scratch.
func TestNATRewritesBothDirections(t *testing.T) {
	for _, proto := range []config.Protocol{config.TCP, config.UDP} {
		t.Run(string(proto), func(t *testing.T) {
			p, _ := newTestPlane(t, nil)
			apply(t, p, svc(proto, "10.0.0.100:80", "rr", real("10.0.0.4:8080", 1, config.Masq)))
			num := uint8(6)
			if proto == config.UDP {
				num = 17
			}
			in := pkt{src: netip.MustParseAddrPort("192.0.2.7:33000"), dst: netip.MustParseAddrPort("10.0.0.100:80"),
				proto: num, flags: fSYN, payload: []byte("hello"), df: true, id: 7}
			ret, out := run(t, p, in.frame())
			if ret != xdpTX {
				t.Fatalf("in: verdict %d", ret)
			}
			fwd := in
			fwd.dst = netip.MustParseAddrPort("10.0.0.4:8080")
			want := eth(rsMAC(netip.MustParseAddr("10.0.0.4")), lbMAC, fwd.ip())
			if !bytes.Equal(out, want) {
				t.Fatalf("DNAT\n got % x\nwant % x", out, want)
			}
			reply := pkt{src: netip.MustParseAddrPort("10.0.0.4:8080"), dst: netip.MustParseAddrPort("192.0.2.7:33000"),
				proto: num, flags: fSYN | fACK, payload: []byte("world!"), df: true, id: 9,
				srcMAC: rsMAC(netip.MustParseAddr("10.0.0.4")), dstMAC: lbMAC}
			ret, out = run(t, p, reply.frame())
			if ret != xdpTX {
				t.Fatalf("out: verdict %d", ret)
			}
			back := reply
			back.src = netip.MustParseAddrPort("10.0.0.100:80")
			want = eth(clientMAC, lbMAC, back.ip())
			if !bytes.Equal(out, want) {
				t.Fatalf("SNAT\n got % x\nwant % x", out, want)
			}
			st := p.Status()[0]
			if st.Stats.InPkts != 1 || st.Stats.OutPkts != 1 || st.Stats.Conns != 1 {
				t.Fatalf("stats %+v, want 1 conn, 1 in, 1 out", st.Stats)
			}
			if st.Stats.InBytes != uint64(len(in.ip())) || st.Stats.OutBytes != uint64(len(reply.ip())) {
				t.Fatalf("bytes %+v, want L3 lengths %d/%d", st.Stats, len(in.ip()), len(reply.ip()))
			}
		})
	}
}

// A UDP datagram without checksum keeps checksum 0 through NAT (RFC 768).
func TestNATKeepsZeroUDPChecksum(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	apply(t, p, svc(config.UDP, "10.0.0.100:53", "rr", real("10.0.0.4:53", 1, config.Masq)))
	in := pkt{src: netip.MustParseAddrPort("192.0.2.7:33000"), dst: netip.MustParseAddrPort("10.0.0.100:53"), proto: 17, payload: []byte("q")}
	f := in.frame()
	binary.BigEndian.PutUint16(f[14+20+6:], 0)
	ret, out := run(t, p, f)
	if ret != xdpTX || binary.BigEndian.Uint16(out[14+20+6:]) != 0 {
		t.Fatalf("verdict %d, udp checksum %#x, want TX and 0", ret, binary.BigEndian.Uint16(out[14+20+6:]))
	}
	if csum(0, out[14:34]) != 0 {
		t.Fatal("IP checksum does not verify")
	}
}

// Traffic the director does not balance is left to its stack: other
// addresses, non-SYN TCP without a connection (tcp_conn_schedule), ICMP,
// fragments, ARP.
func TestPassesForeignTraffic(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	apply(t, p, svc(config.TCP, "10.0.0.100:80", "rr", real("10.0.0.2:80", 1, config.Route)))
	cases := map[string][]byte{
		"other address":    client("10.0.0.50:40000", "10.0.0.99:80", fSYN).frame(),
		"other port":       client("10.0.0.50:40000", "10.0.0.100:81", fSYN).frame(),
		"ack without conn": client("10.0.0.50:40000", "10.0.0.100:80", fACK).frame(),
		"syn+rst":          client("10.0.0.50:40000", "10.0.0.100:80", fSYN|fRST).frame(),
	}
	frag := client("10.0.0.50:40000", "10.0.0.100:80", fSYN).frame()
	frag[14+6] |= 0x20 // MF
	cases["fragment"] = frag
	arp := eth(lbMAC, clientMAC, make([]byte, 28))
	arp[12], arp[13] = 0x08, 0x06
	cases["arp"] = arp
	for name, f := range cases {
		ret, out := run(t, p, f)
		if ret != xdpPass || !bytes.Equal(out, f) {
			t.Errorf("%s: verdict %d (changed %v), want unchanged XDP_PASS", name, ret, !bytes.Equal(out, f))
		}
	}
}

// No real server available: ip_vs_leave answers ICMP port unreachable.
func TestNoDestSendsPortUnreachable(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	apply(t, p, svc(config.TCP, "10.0.0.100:80", "wlc", real("10.0.0.2:80", 0, config.Route)))
	in := client("10.0.0.50:40000", "10.0.0.100:80", fSYN)
	ret, out := run(t, p, in.frame())
	if ret != xdpTX {
		t.Fatalf("verdict %d, want XDP_TX", ret)
	}
	if out[14+9] != 1 || out[34] != 3 || out[35] != 3 || csum(0, out[34:]) != 0 || csum(0, out[14:34]) != 0 {
		t.Fatalf("want a valid ICMP port unreachable, got % x", out)
	}
	if len(p.Conns()) != 0 {
		t.Fatal("a refused connection left an entry")
	}
}
