package xdp

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// FuzzDirector feeds arbitrary frames to the director program (its packet
// parser is the code under test; the verifier proved memory safety, this
// checks behaviour): the verdict is always one the program uses, a frame it
// passes is untouched, and whatever it transmits is a well-formed IPv4
// packet whose header checksum verifies when the input's did.
func FuzzDirector(f *testing.F) {
	requireBPF(f)
	p, _ := newTestPlane(f, nil)
	nat := svc(config.TCP, "10.0.0.100:80", "wlc", real("10.0.0.4:8080", 1, config.Masq))
	dr := svc(config.UDP, "10.0.0.100:53", "rr", real("10.0.0.2:53", 1, config.Route))
	tun := svc(config.TCP, "10.0.0.101:80", "mh", real("10.0.0.3:80", 1, config.Tunnel))
	lblcr := svc(config.TCP, "10.0.0.102:80", "lblcr", real("10.0.0.2:80", 2, config.Route), real("10.0.0.3:80", 1, config.Route))
	apply(f, p, nat, dr, tun, lblcr)
	f.Add(client("192.0.2.7:33000", "10.0.0.100:80", fSYN).frame())
	f.Add(client("192.0.2.7:33000", "10.0.0.101:80", fSYN).frame())
	f.Add(client("192.0.2.7:33000", "10.0.0.102:80", fSYN).frame())
	f.Add(pkt{src: ap("192.0.2.8:5000"), dst: ap("10.0.0.100:53"), proto: 17, payload: []byte("x")}.frame())
	f.Add(pkt{src: ap("10.0.0.4:8080"), dst: ap("192.0.2.7:33000"), proto: 6, flags: fACK}.frame())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 || len(frame) > 1500 {
			return
		}
		in := bytes.Clone(frame)
		// Rewrites update checksums incrementally, which keeps a wrong
		// input checksum wrong (RFC 1624); only valid input must give
		// valid output.
		inOK := len(in) >= 34 && in[14]>>4 == 4 && int(in[14]&0x0f)*4 >= 20 &&
			len(in) >= 14+int(in[14]&0x0f)*4 && csum(0, in[14:14+int(in[14]&0x0f)*4]) == 0
		ret, out, err := p.Program().Test(frame)
		if err != nil {
			t.Fatal(err)
		}
		switch ret {
		case xdpPass:
			if !bytes.Equal(out, in) {
				t.Fatalf("passed frame was modified")
			}
		case xdpDrop:
		case xdpTX, xdpRedirect:
			if len(out) < 34 || binary.BigEndian.Uint16(out[12:]) != 0x0800 || out[14]>>4 != 4 {
				t.Fatalf("transmitted a non-IPv4 frame % x", out)
			}
			ihl := int(out[14]&0x0f) * 4
			if ihl < 20 || len(out) < 14+ihl || (inOK && csum(0, out[14:14+ihl]) != 0) {
				t.Fatalf("transmitted IPv4 header does not verify: % x", out)
			}
		default:
			t.Fatalf("verdict %d", ret)
		}
	})
}
