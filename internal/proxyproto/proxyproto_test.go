package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestWriterGolden pins the exact bytes sent to real servers.
func TestWriterGolden(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"v1_tcp4", AppendV1(nil, ap("192.168.0.1:56324"), ap("192.168.0.11:443"))},
		{"v1_tcp6", AppendV1(nil, ap("[2001:db8::1]:56324"), ap("[2001:db8::11]:443"))},
		{"v1_unknown_mixed", AppendV1(nil, ap("192.168.0.1:56324"), ap("[2001:db8::11]:443"))},
		{"v2_tcp4", AppendV2(nil, TransportStream, ap("192.168.0.1:56324"), ap("192.168.0.11:443"))},
		{"v2_udp4", AppendV2(nil, TransportDgram, ap("10.0.0.7:5353"), ap("10.0.0.1:53"))},
		{"v2_tcp6", AppendV2(nil, TransportStream, ap("[2001:db8::1]:56324"), ap("[2001:db8::11]:443"))},
		{"v2_udp6", AppendV2(nil, TransportDgram, ap("[2001:db8::7]:5353"), ap("[2001:db8::1]:53"))},
		{"v2_mixed_as_inet6", AppendV2(nil, TransportStream, ap("192.168.0.1:1"), ap("[2001:db8::11]:443"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.name+".golden")
			got := hex.Dump(tc.b)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("bytes differ from %s:\ngot:\n%swant:\n%s", path, got, want)
			}
		})
	}
}

// TestV2Layout rebuilds the v2 header field by field from section 2.2
// (signature, 0x21 = version 2 + PROXY, 0x11 = AF_INET + STREAM, length 12,
// src addr, dst addr, src port, dst port) and compares it with the writer.
func TestV2Layout(t *testing.T) {
	var want []byte
	want = append(want, 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A)
	want = append(want, 0x21, 0x11, 0x00, 12)
	want = append(want, 192, 168, 0, 1, 192, 168, 0, 11)
	want = binary.BigEndian.AppendUint16(want, 56324)
	want = binary.BigEndian.AppendUint16(want, 443)
	if got := AppendV2(nil, TransportStream, ap("192.168.0.1:56324"), ap("192.168.0.11:443")); !bytes.Equal(got, want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
	// UDP over IPv6 is 0x22 with 36 address bytes.
	got := AppendV2(nil, TransportDgram, ap("[::1]:1"), ap("[::2]:2"))
	if got[13] != 0x22 || binary.BigEndian.Uint16(got[14:]) != 36 || len(got) != 16+36 {
		t.Fatalf("udp6 header % x", got)
	}
	// The spec's v1 example line.
	if got := string(AppendV1(nil, ap("192.168.0.1:56324"), ap("192.168.0.11:443"))); got != "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" {
		t.Fatalf("v1 %q", got)
	}
}

func v2(fb byte, cmd byte, body ...byte) []byte {
	b := append([]byte(nil), Signature[:]...)
	b = append(b, 0x20|cmd, fb)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func inet4Body() []byte { return []byte{1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0xBB, 0x00, 0x50} }

func TestParse(t *testing.T) {
	ipv6Max := "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
	tests := []struct {
		name    string
		in      []byte
		want    Header
		wantN   int
		wantErr error
	}{
		{name: "v1 spec example", in: []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n"),
			want: Header{Version: V1, Command: Proxy, Family: FamilyInet, Transport: TransportStream,
				Source: ap("192.168.0.1:56324"), Destination: ap("192.168.0.11:443")}, wantN: 47},
		{name: "v1 longest TCP4 (56 chars)", in: []byte("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
			want: Header{Version: V1, Command: Proxy, Family: FamilyInet, Transport: TransportStream,
				Source: ap("255.255.255.255:65535"), Destination: ap("255.255.255.255:65535")}, wantN: 56},
		{name: "v1 longest TCP6 (104 chars)", in: []byte("PROXY TCP6 " + ipv6Max + " " + ipv6Max + " 65535 65535\r\n"),
			want: Header{Version: V1, Command: Proxy, Family: FamilyInet6, Transport: TransportStream,
				Source: ap("[" + ipv6Max + "]:65535"), Destination: ap("[" + ipv6Max + "]:65535")}, wantN: 104},
		{name: "v1 TCP6 compressed upper case", in: []byte("PROXY TCP6 2001:DB8::1 ::1 0 80\r\n"),
			want: Header{Version: V1, Command: Proxy, Family: FamilyInet6, Transport: TransportStream,
				Source: ap("[2001:db8::1]:0"), Destination: ap("[::1]:80")}, wantN: 33},
		{name: "v1 UNKNOWN short form", in: []byte("PROXY UNKNOWN\r\n"), want: Header{Version: V1, Command: Local}, wantN: 15},
		{name: "v1 UNKNOWN worst case (107 chars)", in: []byte("PROXY UNKNOWN " + ipv6Max + " " + ipv6Max + " 65535 65535\r\n"),
			want: Header{Version: V1, Command: Local}, wantN: 107},
		{name: "v1 LF only", in: []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n"), wantErr: ErrInvalid},
		{name: "v1 CR only", in: []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX"), wantErr: ErrInvalid},
		{name: "v1 double space", in: []byte("PROXY TCP4  192.168.0.1 192.168.0.11 56324 443\r\n"), wantErr: ErrInvalid},
		{name: "v1 trailing space", in: []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n"), wantErr: ErrInvalid},
		{name: "v1 octet leading zero", in: []byte("PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n"), wantErr: ErrInvalid},
		{name: "v1 port leading zero", in: []byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 0443\r\n"), wantErr: ErrInvalid},
		{name: "v1 port out of range", in: []byte("PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n"), wantErr: ErrInvalid},
		{name: "v1 TCP4 with IPv6", in: []byte("PROXY TCP4 ::1 ::1 1 2\r\n"), wantErr: ErrInvalid},
		{name: "v1 TCP6 with IPv4", in: []byte("PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n"), wantErr: ErrInvalid},
		{name: "v1 TCP6 dotted quad", in: []byte("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n"), wantErr: ErrInvalid},
		{name: "v1 TCP6 zone", in: []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), wantErr: ErrInvalid},
		{name: "v1 UDP4 not in v1", in: []byte("PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n"), wantErr: ErrInvalid},
		{name: "v1 lower case", in: []byte("proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n"), wantErr: ErrInvalid},
		{name: "v1 missing field", in: []byte("PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n"), wantErr: ErrInvalid},
		{name: "v1 no CRLF in 107 bytes", in: []byte("PROXY UNKNOWN " + strings.Repeat("a", 100)), wantErr: ErrInvalid},
		{name: "v1 incomplete", in: []byte("PROXY TCP4 192.168.0.1 192."), wantErr: ErrIncomplete},
		{name: "v1 prefix incomplete", in: []byte("PRO"), wantErr: ErrIncomplete},
		{name: "not PROXY", in: []byte("GET / HTTP/1.1\r\n"), wantErr: ErrInvalid},

		{name: "v2 TCP4", in: append(v2(0x11, 1, inet4Body()...), "payload"...),
			want: Header{Version: V2, Command: Proxy, Family: FamilyInet, Transport: TransportStream,
				Source: ap("1.2.3.4:443"), Destination: ap("5.6.7.8:80")}, wantN: 28},
		{name: "v2 UDP4", in: v2(0x12, 1, inet4Body()...),
			want: Header{Version: V2, Command: Proxy, Family: FamilyInet, Transport: TransportDgram,
				Source: ap("1.2.3.4:443"), Destination: ap("5.6.7.8:80")}, wantN: 28},
		{name: "v2 LOCAL ignores addresses", in: v2(0x11, 0, inet4Body()...), want: Header{Version: V2, Command: Local}, wantN: 28},
		{name: "v2 LOCAL empty", in: v2(0x00, 0), want: Header{Version: V2, Command: Local}, wantN: 16},
		{name: "v2 PROXY UNSPEC", in: v2(0x00, 1, 9, 9, 9), want: Header{Version: V2, Command: Proxy}, wantN: 19},
		{name: "v2 UNIX stream", in: v2(0x31, 1, append(append([]byte("/a"), make([]byte, 106)...), append([]byte("/b"), make([]byte, 106)...)...)...),
			want: Header{Version: V2, Command: Proxy, Family: FamilyUnix, Transport: TransportStream, SourceUnix: "/a", DestinationUnix: "/b"}, wantN: 16 + 216},
		{name: "v2 TLVs", in: v2(0x11, 1, append(inet4Body(), 0x01, 0, 2, 'h', '2', 0x04, 0, 0)...),
			want: Header{Version: V2, Command: Proxy, Family: FamilyInet, Transport: TransportStream,
				Source: ap("1.2.3.4:443"), Destination: ap("5.6.7.8:80"),
				TLVs: []TLV{{Type: TypeALPN, Value: []byte("h2")}, {Type: TypeNoop, Value: []byte{}}}}, wantN: 16 + 12 + 5 + 3},
		{name: "v2 version 1 nibble", in: func() []byte { b := v2(0x11, 1, inet4Body()...); b[12] = 0x11; return b }(), wantErr: ErrInvalid},
		{name: "v2 command 2", in: v2(0x11, 2, inet4Body()...), wantErr: ErrInvalid},
		{name: "v2 family 4", in: v2(0x41, 1, inet4Body()...), wantErr: ErrInvalid},
		{name: "v2 protocol 3", in: v2(0x13, 1, inet4Body()...), wantErr: ErrInvalid},
		{name: "v2 AF_INET UNSPEC protocol", in: v2(0x10, 1, inet4Body()...), wantErr: ErrInvalid},
		{name: "v2 short address block", in: v2(0x21, 1, inet4Body()...), wantErr: ErrInvalid},
		{name: "v2 TLV truncated header", in: v2(0x11, 1, append(inet4Body(), 0x01, 0)...), wantErr: ErrInvalid},
		{name: "v2 TLV overrun", in: v2(0x11, 1, append(inet4Body(), 0x01, 0, 9, 'x')...), wantErr: ErrInvalid},
		{name: "v2 incomplete fixed part", in: Signature[:], wantErr: ErrIncomplete},
		{name: "v2 incomplete body", in: v2(0x11, 1, inet4Body()...)[:20], wantErr: ErrIncomplete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, n, err := Parse(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if n != tc.wantN {
				t.Errorf("consumed %d bytes, want %d", n, tc.wantN)
			}
			if !reflect.DeepEqual(h, tc.want) {
				t.Errorf("got %+v\nwant %+v", h, tc.want)
			}
		})
	}
}

func TestCRC32C(t *testing.T) {
	h := Header{Version: V2, Command: Proxy, Family: FamilyInet, Transport: TransportStream,
		Source: ap("1.2.3.4:1"), Destination: ap("5.6.7.8:2"),
		TLVs: []TLV{{Type: TypeUniqueID, Value: []byte("abc")}, {Type: TypeCRC32C, Value: make([]byte, 4)}}}
	b, err := h.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetCRC32C(b); err != nil {
		t.Fatal(err)
	}
	got, _, err := Parse(b)
	if err != nil {
		t.Fatalf("valid checksum rejected: %v", err)
	}
	if len(got.TLVs) != 2 || got.TLVs[1].Type != TypeCRC32C {
		t.Fatalf("TLVs %+v", got.TLVs)
	}
	b[len(b)-1] ^= 1 // corrupt the checksum
	if _, _, err := Parse(b); !errors.Is(err, ErrInvalid) {
		t.Fatalf("corrupt checksum: err = %v", err)
	}
}

// A receiver must be able to parse a header as soon as its last byte
// arrived, even when the peer then waits for the server to speak.
func TestReadDoesNotWaitForMore(t *testing.T) {
	for _, hdr := range [][]byte{
		AppendV1(nil, ap("10.1.1.1:1000"), ap("10.0.0.1:25")),
		AppendV2(nil, TransportStream, ap("10.1.1.1:1000"), ap("10.0.0.1:25")),
	} {
		c1, c2 := net.Pipe()
		go func() {
			// Deliver one byte at a time, then keep the connection open.
			for i := range hdr {
				if _, err := c1.Write(hdr[i : i+1]); err != nil {
					return
				}
			}
		}()
		done := make(chan error, 1)
		var h Header
		go func() {
			var err error
			h, err = Read(bufio.NewReader(c2))
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Read stalled waiting for bytes after the header")
		}
		if h.Source != ap("10.1.1.1:1000") || h.Destination != ap("10.0.0.1:25") {
			t.Fatalf("header %+v", h)
		}
		c1.Close()
		c2.Close()
	}
}

func TestReadLeavesPayload(t *testing.T) {
	in := append(AppendV2(nil, TransportStream, ap("[2001:db8::5]:4242"), ap("[2001:db8::1]:443")), "hello"...)
	r := bufio.NewReader(bytes.NewReader(in))
	h, err := Read(r)
	if err != nil {
		t.Fatal(err)
	}
	if h.Source != ap("[2001:db8::5]:4242") {
		t.Fatalf("source %v", h.Source)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "hello" {
		t.Fatalf("payload %q", rest)
	}
	if _, err := Read(bufio.NewReader(bytes.NewReader([]byte("PROXY TCP4 1.2.3.4")))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated header: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 ::1 0 80\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(0x11, 1, inet4Body()...))
	f.Add(v2(0x22, 1, make([]byte, 36)...))
	f.Add(v2(0x31, 1, make([]byte, 216)...))
	f.Add(v2(0x11, 1, append(inet4Body(), 0x03, 0, 4, 1, 2, 3, 4)...))
	f.Add(v2(0x00, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, n, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrIncomplete) {
				t.Fatalf("error wraps neither ErrInvalid nor ErrIncomplete: %v", err)
			}
			return
		}
		if n <= 0 || n > len(in) {
			t.Fatalf("consumed %d of %d bytes", n, len(in))
		}
		// A prefix of a valid header is never itself accepted as a shorter
		// header of the same version, and never misread.
		if _, _, err := Parse(in[:n-1]); err == nil && h.Version == V2 {
			t.Fatalf("v2 header accepted without its last byte")
		}
		for _, tlv := range h.TLVs {
			if tlv.Type == TypeCRC32C {
				return // re-encoding keeps the old checksum; skip the round trip
			}
		}
		enc, err := h.Append(nil)
		if err != nil {
			t.Fatalf("cannot re-encode %+v: %v", h, err)
		}
		h2, n2, err := Parse(enc)
		if err != nil || n2 != len(enc) {
			t.Fatalf("re-parse of %q: n=%d err=%v", enc, n2, err)
		}
		norm := func(h Header) Header {
			if len(h.TLVs) == 0 {
				h.TLVs = nil
			}
			for i := range h.TLVs {
				if len(h.TLVs[i].Value) == 0 {
					h.TLVs[i].Value = nil
				}
			}
			return h
		}
		if !reflect.DeepEqual(norm(h), norm(h2)) {
			t.Fatalf("round trip changed the header:\n%+v\n%+v", h, h2)
		}
	})
}

func BenchmarkAppendV2(b *testing.B) {
	buf := make([]byte, 0, 64)
	src, dst := ap("192.168.0.1:56324"), ap("192.168.0.11:443")
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendV2(buf[:0], TransportStream, src, dst)
	}
}
