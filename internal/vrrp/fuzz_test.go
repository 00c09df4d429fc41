package vrrp

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// the same bytes (every field of the wire format is kept in Advert).
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"v2_pass.hex", "v2_pass_prio0.hex", "v2_unicast_noauth.hex", "v3_ipv4.hex", "v3_ipv6.hex"} {
		p, err := ParseFrame(readHex(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p.Payload, p.Src.AsSlice(), p.Dst.AsSlice())
	}
	f.Fuzz(func(t *testing.T, b, srcB, dstB []byte) {
		src, ok1 := netip.AddrFromSlice(srcB)
		dst, ok2 := netip.AddrFromSlice(dstB)
		if !ok1 || !ok2 {
			return
		}
		a, err := Decode(b, src, dst)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		sum := a.Checksum
		again, err := a.Encode(nil, src, dst)
		if err != nil {
			t.Fatalf("accepted advert does not encode: %v", err)
		}
		if !bytes.Equal(again, b) || a.Checksum != sum {
			t.Fatalf("re-encoded\n%x\nreceived\n%x", again, b)
		}
	})
}

// FuzzParseFrame: the frame parsers never panic and never return a
// payload outside the frame.
func FuzzParseFrame(f *testing.F) {
	for _, name := range []string{"v2_pass.hex", "v3_ipv6.hex", "garp.hex"} {
		f.Add(readHex(f, name))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, err := ParseFrame(frame)
		if err == nil && len(p.Payload) > len(frame) {
			t.Fatalf("payload of %d bytes from a %d-byte frame", len(p.Payload), len(frame))
		}
	})
}
