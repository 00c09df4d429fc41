package health

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// check_udp.c check_udp_reply: wildcard nibbles match anything and only
// min(len(reply), len(pattern)) octets are compared.
func TestMatchHexPattern(t *testing.T) {
	data, mask, err := config.ParseHexPattern("ab Xd", true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		got  []byte
		want bool
	}{
		{[]byte{0xab, 0x0d}, true},
		{[]byte{0xab, 0xfd}, true},
		{[]byte{0xab, 0xfe}, false},
		{[]byte{0xac, 0x0d}, false},
		{[]byte{0xab}, true},             // only min(len) octets are compared
		{[]byte{0xab, 0x1d, 0x99}, true}, // extra octets are not compared
		{nil, true},
	}
	for _, tc := range cases {
		if got := MatchHexPattern(tc.got, data, mask); got != tc.want {
			t.Errorf("% x: %v, want %v", tc.got, got, tc.want)
		}
	}
}

// FuzzMatchHexPattern checks MatchHexPattern against patterns from
// config.ParseHexPattern (whose own properties config's FuzzParseHexPattern
// checks): a pattern matches the bytes it was built from and anything that
// differs from them only in wildcard bits.
func FuzzMatchHexPattern(f *testing.F) {
	for _, s := range []string{"deadbeef", "dX ad", "1 2 3", "x", "xX 1x", "ab Xd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data, mask, err := config.ParseHexPattern(s, true)
		if err != nil {
			return
		}
		// Wildcard nibbles are zero in data.
		if !MatchHexPattern(data, data, mask) {
			t.Fatalf("%q does not match its own data", s)
		}
		flipped := slices.Clone(data)
		for i := range flipped {
			if mask != nil {
				flipped[i] ^= mask[i]
			}
		}
		if !MatchHexPattern(flipped, data, mask) {
			t.Fatalf("%q: changing only wildcard bits broke the match", s)
		}
		// A fixed bit does count.
		fixed := byte(0xff)
		if mask != nil {
			fixed = ^mask[0]
		}
		if fixed != 0 {
			flipped[0] ^= fixed & -fixed // its lowest fixed bit
			if MatchHexPattern(flipped, data, mask) {
				t.Fatalf("%q: % x matches % x despite a fixed bit", s, flipped, data)
			}
		}
	})
}

// tcpcheck_agent_expect_reply word rules.
func TestParseAgentLine(t *testing.T) {
	cases := []struct {
		in   string
		want AgentReply
	}{
		{"up\n", AgentReply{Health: "up"}},
		{"UP\r\nignored", AgentReply{Health: "up"}},
		{"down", AgentReply{Health: "down"}},
		{"fail", AgentReply{Health: "down"}},
		{"stopped", AgentReply{Health: "down"}},
		{"drain", AgentReply{Admin: "drain"}},
		{"MAINT", AgentReply{Admin: "maint"}},
		{"ready", AgentReply{Admin: "ready"}},
		{"75%", AgentReply{WeightPct: 75, HasWeight: true}},
		{"up,ready 50%", AgentReply{Health: "up", Admin: "ready", WeightPct: 50, HasWeight: true}},
		{"up down", AgentReply{Health: "down"}}, // the last word of a category wins
		{"down # disk full", AgentReply{Health: "down", Description: "disk full"}},
		{"maxconn:30 up", AgentReply{Health: "up"}},
		{"up bogus 10%x", AgentReply{Health: "up", Unknown: "bogus"}},
		{"5x%", AgentReply{Unknown: "5x%"}},
		{"", AgentReply{}},
		{" \t,, ", AgentReply{}},
	}
	for _, tc := range cases {
		if got := ParseAgentLine(tc.in); got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseAgentLine(f *testing.F) {
	for _, s := range []string{"up\n", "drain 50%", "down # x", "maxconn:1", "5%%", "\r", ", ,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := ParseAgentLine(s)
		if r.Health != "" && r.Health != "up" && r.Health != "down" {
			t.Fatalf("health %q", r.Health)
		}
		if r.Admin != "" && r.Admin != "ready" && r.Admin != "drain" && r.Admin != "maint" {
			t.Fatalf("admin %q", r.Admin)
		}
		if r.HasWeight && r.WeightPct < 0 {
			t.Fatalf("negative weight %d", r.WeightPct)
		}
		// Nothing after the first CR or LF counts.
		if i := strings.IndexAny(s, "\r\n"); i >= 0 && ParseAgentLine(s[:i]) != r {
			t.Fatalf("%q: text after the line end changed the result", s)
		}
	})
}

// lib/html.c extract_status_code and extract_content_length.
func TestParseResponseHead(t *testing.T) {
	cases := []struct {
		head   string
		status int
		clen   int64
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n", 200, 12},
		{"HTTP/1.0 503 Service Unavailable\r\n", 503, -1},
		{"HTTP/1.0 200\r\nServer: a b\r\n", 200, -1}, // no second space on the status line
		{"HTTP/1.0 abc\r\n", 0, -1},
		{"garbage", 0, -1},
		{"HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n", 204, -1}, // keepalived's search is case-sensitive
		{"HTTP/1.1 200 OK\r\nContent-Length: -4\r\n", 200, -1},
		{"HTTP/1.1 200 OK\r\nContent-Length:7x\r\n", 200, 7},
	}
	for _, tc := range cases {
		st, cl := parseResponseHead([]byte(tc.head))
		if st != tc.status || cl != tc.clen {
			t.Errorf("%q: status %d length %d, want %d %d", tc.head, st, cl, tc.status, tc.clen)
		}
	}
}

func FuzzParseResponseHead(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", "HTTP/1.0 99999999999999999999999 x", " ", "Content-Length: -"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, cl := parseResponseHead(b)
		if cl < -1 {
			t.Fatalf("content length %d", cl)
		}
	})
}

// strtol(buf, NULL, 0) as process_track_file uses it.
func TestParseTrackFileValue(t *testing.T) {
	cases := []struct {
		in string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"42\n", 42, true}, {"  -7", -7, true}, {"+3", 3, true},
		{"0x1F", 31, true}, {"0X1f", 31, true}, {"017", 15, true}, {"08", 0, true}, {"0x", 0, true},
		{"12abc", 12, true}, {"abc", 0, true}, {"", 0, true},
		{"2147483648", 2147483648, true}, {"2147483649", 0, false}, {"-2147483648", math.MinInt32, true},
		{"-2147483649", 0, false}, {"99999999999999999999", 0, false},
	}
	for _, tc := range cases {
		v, ok := ParseTrackFileValue([]byte(tc.in))
		if v != tc.v || ok != tc.ok {
			t.Errorf("%q: %d %v, want %d %v", tc.in, v, ok, tc.v, tc.ok)
		}
	}
}

func FuzzParseTrackFileValue(f *testing.F) {
	for _, s := range []string{"0", "-12", "0x7fffffff", "0777", "  +9 x", "-", "0x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := ParseTrackFileValue(b)
		if ok && (v < math.MinInt32 || v > math.MaxInt32+1) {
			t.Fatalf("%q: %d outside the accepted range", b, v)
		}
		if !ok && v != 0 {
			t.Fatalf("%q: invalid but %d", b, v)
		}
	})
}

// check_smtp.c smtp_get_status.
func TestSMTPStatus(t *testing.T) {
	cases := map[string]int{
		"220 mx ESMTP": 220, "250": 250, "250 ": 250, "220\r": -1, "220-mx": -1, "22": -1, "2200": -1, "abc": -1, "": -1,
	}
	for in, want := range cases {
		if got := smtpStatus(in); got != want {
			t.Errorf("%q: %d, want %d", in, got, want)
		}
	}
}

func FuzzSMTPStatus(f *testing.F) {
	for _, s := range []string{"220 ok", "250", "220\r", "9999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v := smtpStatus(s); v != -1 && (v < 0 || v > 999 || s[:3] != fmt.Sprintf("%03d", v)) {
			t.Fatalf("%q: %d", s, v)
		}
	})
}

// dns_recv_thread's acceptance of a datagram.
func TestDNSReplyVerdict(t *testing.T) {
	q := dnsQuery(0x1234, "example.com", 1)
	resp := func(id uint16, flags uint16) []byte {
		b := slices.Clone(q)
		binary.BigEndian.PutUint16(b, id)
		binary.BigEndian.PutUint16(b[2:], flags)
		return b
	}
	cases := []struct {
		name  string
		b     []byte
		final bool
		rcode int
	}{
		{"answer", resp(0x1234, 0x8180), true, 0},
		{"nxdomain", resp(0x1234, 0x8183), true, 3},
		{"other id", resp(0x4321, 0x8180), false, 0},
		{"query echo", resp(0x1234, 0x0100), false, 0},
		{"short", []byte{0x12, 0x34, 0x81}, false, 0},
	}
	for _, tc := range cases {
		final, rcode := dnsReplyVerdict(0x1234, tc.b)
		if final != tc.final || rcode != tc.rcode {
			t.Errorf("%s: %v %d, want %v %d", tc.name, final, rcode, tc.final, tc.rcode)
		}
	}
	if got, want := dnsQuery(1, ".", 6)[12:], []byte{0, 0, 6, 0, 1}; !bytes.Equal(got, want) {
		t.Errorf("root query question % x, want % x", got, want)
	}
}

func FuzzDNSReplyVerdict(f *testing.F) {
	f.Add(uint16(7), dnsQuery(7, "a.b", 28))
	f.Add(uint16(7), []byte{0, 7, 0x80, 0x05})
	f.Fuzz(func(t *testing.T, id uint16, b []byte) {
		final, rcode := dnsReplyVerdict(id, b)
		if final && (len(b) < dnsHeaderLen || binary.BigEndian.Uint16(b) != id || b[2]&0x80 == 0) {
			t.Fatalf("accepted % x for id %d", b, id)
		}
		if rcode < 0 || rcode > 15 {
			t.Fatalf("rcode %d", rcode)
		}
	})
}

func BenchmarkEffective(b *testing.B) {
	cfg := &config.Config{}
	for s := range 20 {
		svc := config.Service{ServiceKey: config.ServiceKey{Protocol: config.TCP,
			Address: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(s)}), 80)},
			SorryServer: ap("10.9.9.9:80")}
		for r := range 50 {
			svc.Reals = append(svc.Reals, config.Real{Address: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(s), byte(r)}), 80),
				Weight: 1, Health: config.RealHealth{InhibitOnFailure: r%2 == 0,
					Checks: []config.Check{{Type: config.CheckTCP, DelayLoop: time.Second}}}})
		}
		cfg.Services = append(cfg.Services, svc)
	}
	m := NewManager(Options{})
	m.newProber = func(config.Check, netip.AddrPort, ProbeOptions) (Prober, error) { return brokenProber{}, nil }
	m.Apply(cfg)
	b.ReportAllocs()
	for b.Loop() {
		m.Effective(cfg)
	}
}

func BenchmarkParseAgentLine(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ParseAgentLine("up ready 75% maxconn:10 # all good\n")
	}
}
