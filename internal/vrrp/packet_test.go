package vrrp

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// readHex reads a capture file: hex digits in groups, '#' comments.
func readHex(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	var digits strings.Builder
	for line := range strings.Lines(string(data)) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// advertView is the golden form of a decoded capture.
type advertView struct {
	Src, Dst string
	TTL      int
	Version  uint8
	VRID     uint8
	Priority uint8
	Interval string
	Reserved uint8  `json:",omitempty"`
	AuthType uint8  `json:",omitempty"`
	AuthData string `json:",omitempty"`
	Addrs    []netip.Addr
	Checksum string
	Sum      string `json:",omitempty"`
}

func view(p Packet, a *Advert) advertView {
	v := advertView{
		Src: p.Src.String(), Dst: p.Dst.String(), TTL: p.TTL,
		Version: a.Version, VRID: a.VRID, Priority: a.Priority,
		Interval: a.IntervalDuration().String(), Reserved: a.Reserved,
		AuthType: a.AuthType, Addrs: a.Addrs,
		Checksum: fmt.Sprintf("%#04x", a.Checksum),
	}
	if a.Version == 2 {
		v.AuthData = fmt.Sprintf("%q", a.AuthData[:])
	} else {
		v.Sum = a.Sum.String()
	}
	return v
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

// TestDecodeCaptures decodes adverts that keepalived 2.2.7 sent in the
// namespace lab (keepalived.md section 7), checks the checksum values the
// lab computed by hand (v2 whole message 0xda3a, v3 IPv4 pseudo-header
// 0x41df, v3 IPv6 pseudo-header 0x5761), and re-encodes them byte for
// byte.
func TestDecodeCaptures(t *testing.T) {
	tests := []struct {
		file     string
		checksum uint16
		sum      SumMode
	}{
		{"v2_pass.hex", 0xda3a, SumPseudo},
		{"v2_pass_prio0.hex", 0x703b, SumPseudo},
		{"v2_unicast_noauth.hex", 0x3d9d, SumPseudo},
		{"v3_ipv4.hex", 0x41df, SumPseudo},
		{"v3_ipv6.hex", 0x5761, SumPseudo},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			frame := readHex(t, tt.file)
			p, err := ParseFrame(frame)
			if err != nil {
				t.Fatal(err)
			}
			a, err := Decode(p.Payload, p.Src, p.Dst)
			if err != nil {
				t.Fatal(err)
			}
			if a.Checksum != tt.checksum || a.Sum != tt.sum {
				t.Errorf("checksum %#04x (%v), want %#04x (%v)", a.Checksum, a.Sum, tt.checksum, tt.sum)
			}
			js, err := json.MarshalIndent(view(p, a), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(tt.file, ".hex")+".golden", append(js, '\n'))
			again, err := a.Encode(nil, p.Src, p.Dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, p.Payload) {
				t.Errorf("re-encoded\n%x\nwant\n%x", again, p.Payload)
			}
		})
	}
}

// TestEncodeMatchesKeepalived builds the lab's adverts from their fields
// and compares them with the captured bytes.
func TestEncodeMatchesKeepalived(t *testing.T) {
	src4 := netip.MustParseAddr("10.201.0.1")
	src6 := netip.MustParseAddr("fe80::7cdf:b6ff:fe05:b0fe")
	pass := [AuthLen]byte{'1', '1', '1', '1'}
	tests := []struct {
		file string
		a    Advert
		dst  netip.Addr
	}{
		{"v2_pass.hex", Advert{Version: 2, VRID: 51, Priority: 150, Interval: 1, AuthType: AuthPass, AuthData: pass,
			Addrs: []netip.Addr{netip.MustParseAddr("10.201.0.100")}}, Group4},
		{"v2_pass_prio0.hex", Advert{Version: 2, VRID: 51, Priority: 0, Interval: 1, AuthType: AuthPass, AuthData: pass,
			Addrs: []netip.Addr{netip.MustParseAddr("10.201.0.100")}}, Group4},
		{"v2_unicast_noauth.hex", Advert{Version: 2, VRID: 51, Priority: 150, Interval: 1,
			Addrs: []netip.Addr{netip.MustParseAddr("10.201.0.100")}}, netip.MustParseAddr("10.201.0.2")},
		{"v3_ipv4.hex", Advert{Version: 3, VRID: 52, Priority: 150, Interval: 100,
			Addrs: []netip.Addr{netip.MustParseAddr("10.201.0.101")}}, Group4},
		{"v3_ipv6.hex", Advert{Version: 3, VRID: 53, Priority: 150, Interval: 100,
			Addrs: []netip.Addr{netip.MustParseAddr("fd00:201::100")}}, Group6},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := ParseFrame(readHex(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			src := src4
			if tt.dst.Is6() {
				src = src6
			}
			got, err := tt.a.Encode(nil, src, tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, p.Payload) {
				t.Errorf("encoded\n%x\nkeepalived sent\n%x", got, p.Payload)
			}
		})
	}
}

// TestV3ChecksumForms: a version 3 IPv4 advert is accepted with the
// pseudo-header (RFC 5798 section 5.2.8), without it (Cisco/Juniper,
// keepalived v3_checksum_as_v2) and, for unicast, with 224.0.0.18 in the
// pseudo-header (keepalived before 1.3.6, vrrp.c vrrp_in_chk
// unicast_chksum_compat). IPv6 always includes the pseudo-header.
func TestV3ChecksumForms(t *testing.T) {
	src := netip.MustParseAddr("10.201.0.1")
	peer := netip.MustParseAddr("10.201.0.2")
	src6 := netip.MustParseAddr("fe80::1")
	tests := []struct {
		name     string
		src, dst netip.Addr
		mode     SumMode
		ok       bool
	}{
		{"pseudo multicast", src, Group4, SumPseudo, true},
		{"plain multicast", src, Group4, SumPlain, true},
		{"pseudo unicast", src, peer, SumPseudo, true},
		{"plain unicast", src, peer, SumPlain, true},
		{"group unicast", src, peer, SumGroup, true},
		{"ipv6 plain rejected", src6, Group6, SumPlain, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vip := netip.MustParseAddr("10.201.0.101")
			if tt.src.Is6() {
				vip = netip.MustParseAddr("fd00::1")
			}
			a := Advert{Version: 3, VRID: 52, Priority: 150, Interval: 100, Addrs: []netip.Addr{vip}, Sum: tt.mode}
			b, err := a.Encode(nil, tt.src, tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b, tt.src, tt.dst)
			if !tt.ok {
				if ReasonOf(err) != ReasonChecksum {
					t.Fatalf("err = %v, want a checksum rejection", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Sum != tt.mode {
				t.Errorf("Sum = %v, want %v", got.Sum, tt.mode)
			}
		})
	}
}

// TestDecodeRejects covers every packet-level rejection reason.
func TestDecodeRejects(t *testing.T) {
	src, dst := netip.MustParseAddr("10.201.0.1"), Group4
	good := func(t *testing.T) []byte {
		p, err := ParseFrame(readHex(t, "v2_pass.hex"))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(p.Payload)
	}
	tests := []struct {
		name     string
		mutate   func([]byte) []byte
		src, dst netip.Addr
		want     Reason
	}{
		{"short", func(b []byte) []byte { return b[:7] }, src, dst, ReasonLength},
		{"truncated auth", func(b []byte) []byte { return b[:len(b)-1] }, src, dst, ReasonLength},
		{"extra byte", func(b []byte) []byte { return append(b, 0) }, src, dst, ReasonLength},
		{"count too high", func(b []byte) []byte { b[3] = 2; return b }, src, dst, ReasonLength},
		{"version 1", func(b []byte) []byte { b[0] = 0x11; return b }, src, dst, ReasonVersion},
		{"version 4", func(b []byte) []byte { b[0] = 0x41; return b }, src, dst, ReasonVersion},
		{"type 2", func(b []byte) []byte { b[0] = 0x22; return b }, src, dst, ReasonType},
		{"bad checksum", func(b []byte) []byte { b[7] ^= 1; return b }, src, dst, ReasonChecksum},
		{"flipped priority", func(b []byte) []byte { b[2] = 200; return b }, src, dst, ReasonChecksum},
		{"v2 over IPv6", func(b []byte) []byte { return b }, netip.MustParseAddr("fe80::1"), Group6, ReasonFamily},
		{"mixed families", func(b []byte) []byte { return b }, src, Group6, ReasonFamily},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.mutate(good(t)), tt.src, tt.dst)
			if got := ReasonOf(err); got != tt.want {
				t.Fatalf("reason %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fe80::1")
	tests := []struct {
		name string
		a    Advert
		src  netip.Addr
	}{
		{"version 1", Advert{Version: 1}, v4},
		{"v2 over IPv6", Advert{Version: 2, Interval: 1}, v6},
		{"v4 VIP in v6 packet", Advert{Version: 3, Interval: 100, Addrs: []netip.Addr{v4}}, v6},
		{"v3 interval too large", Advert{Version: 3, Interval: 4096}, v4},
		{"v2 interval too large", Advert{Version: 2, Interval: 256}, v4},
		{"too many addresses", Advert{Version: 3, Interval: 1, Addrs: make([]netip.Addr, 256)}, v4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := Group4
			if tt.src.Is6() {
				dst = Group6
			}
			if _, err := tt.a.Encode(nil, tt.src, dst); err == nil {
				t.Fatal("Encode succeeded")
			}
		})
	}
}

// TestAnnounceFrames compares the gratuitous ARP and unsolicited NA we
// build with keepalived's (keepalived.md section 7: GARP op 1 with target
// MAC ff:ff:ff:ff:ff:ff; NA with the O flag only and checksum 0x0425).
func TestAnnounceFrames(t *testing.T) {
	mac := net.HardwareAddr{0x06, 0xf8, 0xf4, 0xaf, 0x56, 0xcf}
	garp, err := GratuitousARP(mac, netip.MustParseAddr("10.201.0.100"))
	if err != nil {
		t.Fatal(err)
	}
	if want := readHex(t, "garp.hex"); !bytes.Equal(garp, want) {
		t.Errorf("GARP\n%x\nwant\n%x", garp, want)
	}
	na, err := UnsolicitedNA(mac, netip.MustParseAddr("fd00:201::100"), false)
	if err != nil {
		t.Fatal(err)
	}
	if want := readHex(t, "na.hex"); !bytes.Equal(na, want) {
		t.Errorf("NA\n%x\nwant\n%x", na, want)
	}
	naR, err := UnsolicitedNA(mac, netip.MustParseAddr("fd00:201::100"), true)
	if err != nil {
		t.Fatal(err)
	}
	// The R flag changes the flags byte and, by the same amount, the
	// checksum: 0x0425 - 0x8000 in one's complement arithmetic.
	if naR[14+40+4] != 0xa0 || naR[14+40+2] != 0x84 || naR[14+40+3] != 0x24 {
		t.Errorf("NA with R flag: flags %#02x checksum %#04x", naR[14+40+4], uint16(naR[14+40+2])<<8|uint16(naR[14+40+3]))
	}
	if _, err := GratuitousARP(mac, netip.MustParseAddr("fd00::1")); err == nil {
		t.Error("GARP for an IPv6 address succeeded")
	}
	if _, err := UnsolicitedNA(mac[:5], netip.MustParseAddr("fd00::1"), false); err == nil {
		t.Error("NA with a 5-byte MAC succeeded")
	}
	if got := VirtualMAC(51, false).String(); got != "00:00:5e:00:01:33" {
		t.Errorf("VirtualMAC(51, v4) = %s", got)
	}
	if got := VirtualMAC(53, true).String(); got != "00:00:5e:00:02:35" {
		t.Errorf("VirtualMAC(53, v6) = %s", got)
	}
}

// TestTimers checks Skew_Time and Master_Down_Interval against the worked
// values of keepalived.md section 1 (advert 1 s) and RFC 5798 section 6.1.
func TestTimers(t *testing.T) {
	tests := []struct {
		version  int
		prio     uint8
		interval time.Duration
		skew     time.Duration
		down     time.Duration
	}{
		{2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{3, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 150, time.Second, 414062 * time.Microsecond, 3414062 * time.Microsecond},
		{2, 200, time.Second, 218750 * time.Microsecond, 3218750 * time.Microsecond},
		{2, 254, time.Second, 7812 * time.Microsecond, 3007812 * time.Microsecond},
		{2, 1, time.Second, 996093 * time.Microsecond, 3996093 * time.Microsecond},
		// Version 2 skew ignores the interval (RFC 3768 section 6.1).
		{2, 100, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond},
		// Version 3 scales it: 156*50/256 cs = 30.46875 cs.
		{3, 100, 500 * time.Millisecond, 304687 * time.Microsecond, 1804687 * time.Microsecond},
		{3, 100, 100 * time.Millisecond, 60937 * time.Microsecond, 360937 * time.Microsecond},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("v%d prio %d %s", tt.version, tt.prio, tt.interval)
		if got := Skew(tt.version, tt.prio, tt.interval); got != tt.skew {
			t.Errorf("%s: Skew = %s, want %s", name, got, tt.skew)
		}
		if got := MasterDown(tt.version, tt.prio, tt.interval); got != tt.down {
			t.Errorf("%s: MasterDown = %s, want %s", name, got, tt.down)
		}
	}
	for _, tt := range []struct {
		version int
		d       time.Duration
		want    uint16
	}{
		{2, time.Second, 1}, {2, 1500 * time.Millisecond, 2}, {2, 400 * time.Millisecond, 1},
		{3, time.Second, 100}, {3, 10 * time.Millisecond, 1}, {3, 41 * time.Second, 4095},
	} {
		if got := wireInterval(tt.version, tt.d); got != tt.want {
			t.Errorf("wireInterval(%d, %s) = %d, want %d", tt.version, tt.d, got, tt.want)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	p, err := ParseFrame(readHex(b, "v3_ipv4.hex"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(p.Payload, p.Src, p.Dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	a := Advert{Version: 2, VRID: 51, Priority: 150, Interval: 1, AuthType: AuthPass,
		AuthData: [AuthLen]byte{'1', '1', '1', '1'}, Addrs: []netip.Addr{netip.MustParseAddr("10.201.0.100")}}
	src := netip.MustParseAddr("10.201.0.1")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = a.Encode(buf[:0], src, Group4); err != nil {
			b.Fatal(err)
		}
	}
}
