// Package proxyproto writes and strictly parses the PROXY protocol, versions
// 1 (text) and 2 (binary), as specified by HAProxy's doc/proxy-protocol.txt.
//
// The writer produces what the L4 data plane sends to real servers: a v1
// line for TCP over IPv4/IPv6, or a v2 block for TCP (STREAM) or UDP
// (DGRAM). The parser accepts exactly what the specification allows and
// rejects everything else, as its section 2 requires ("Any sequence which
// does not exactly match the protocol must be discarded").
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
	"strconv"
)

// Version is the protocol version.
type Version uint8

const (
	V1 Version = 1
	V2 Version = 2
)

// Command is the v2 command (low nibble of the 13th byte).
type Command uint8

const (
	// Local: the connection was made by the proxy itself (health checks);
	// the receiver uses the real endpoints. A v1 "UNKNOWN" line parses as
	// Local too, since it asks for the same treatment.
	Local Command = 0x0
	// Proxy: the connection was relayed; the header carries the original
	// endpoints.
	Proxy Command = 0x1
)

// Family is the v2 address family (high nibble of the 14th byte).
type Family uint8

const (
	FamilyUnspec Family = 0x0
	FamilyInet   Family = 0x1
	FamilyInet6  Family = 0x2
	FamilyUnix   Family = 0x3
)

// Transport is the v2 transport protocol (low nibble of the 14th byte).
type Transport uint8

const (
	TransportUnspec Transport = 0x0
	TransportStream Transport = 0x1 // TCP, UNIX_STREAM
	TransportDgram  Transport = 0x2 // UDP, UNIX_DGRAM
)

// Registered TLV types (section 2.2).
const (
	TypeALPN      byte = 0x01
	TypeAuthority byte = 0x02
	TypeCRC32C    byte = 0x03
	TypeNoop      byte = 0x04
	TypeUniqueID  byte = 0x05
	TypeSSL       byte = 0x20
	TypeNetNS     byte = 0x30
)

// Signature is the 12-byte v2 signature.
var Signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// MaxV1Len is the longest v1 line including CRLF (the worst case in
// section 2.1: "PROXY UNKNOWN" with two full IPv6 addresses).
const MaxV1Len = 107

const unixAddrLen = 108

var (
	// ErrInvalid is wrapped by every parse error for a malformed header.
	ErrInvalid = errors.New("invalid PROXY protocol header")
	// ErrIncomplete means more bytes are needed to decide.
	ErrIncomplete = errors.New("incomplete PROXY protocol header")
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// TLV is one v2 type-length-value vector.
type TLV struct {
	Type  byte
	Value []byte
}

// Header is a decoded PROXY protocol header.
type Header struct {
	Version   Version
	Command   Command
	Family    Family
	Transport Transport
	// Source and Destination are the original endpoints for the inet
	// families.
	Source, Destination netip.AddrPort
	// SourceUnix and DestinationUnix are AF_UNIX paths (v2), cut at the
	// first NUL byte.
	SourceUnix, DestinationUnix string
	// TLVs are the v2 vectors after the addresses, in order.
	TLVs []TLV
}

// AppendV1 appends a v1 line for a TCP connection from src to dst. Both
// addresses must be of one family (IPv4-mapped IPv6 addresses are unmapped
// first); otherwise the line is "PROXY UNKNOWN\r\n", which section 2.1
// reserves for connections the sender cannot describe.
func AppendV1(b []byte, src, dst netip.AddrPort) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	var proto string
	switch {
	case sa.Is4() && da.Is4():
		proto = "TCP4"
	case sa.Is6() && da.Is6() && sa.Zone() == "" && da.Zone() == "":
		proto = "TCP6"
	default:
		return append(b, "PROXY UNKNOWN\r\n"...)
	}
	b = append(b, "PROXY "...)
	b = append(b, proto...)
	b = append(b, ' ')
	b = sa.AppendTo(b)
	b = append(b, ' ')
	b = da.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(dst.Port()), 10)
	return append(b, '\r', '\n')
}

// AppendV2 appends a v2 PROXY block for transport t (TransportStream for
// TCP, TransportDgram for UDP) from src to dst, without TLVs. If the two
// addresses are of different families the IPv4 one is written as an
// IPv4-mapped IPv6 address.
func AppendV2(b []byte, t Transport, src, dst netip.AddrPort) []byte {
	h := Header{Version: V2, Command: Proxy, Transport: t, Source: src, Destination: dst}
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if sa.Is4() && da.Is4() {
		h.Family = FamilyInet
	} else {
		h.Family = FamilyInet6
	}
	out, err := h.Append(b)
	if err != nil {
		// Only reachable with an invalid transport; fall back to LOCAL.
		return append(b, localV2[:]...)
	}
	return out
}

var localV2 = [16]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00}

// Append encodes h (v1 or v2) and appends it to b.
func (h *Header) Append(b []byte) ([]byte, error) {
	switch h.Version {
	case V1:
		if h.Command == Local || h.Family == FamilyUnspec {
			return append(b, "PROXY UNKNOWN\r\n"...), nil
		}
		if h.Transport != TransportStream || (h.Family != FamilyInet && h.Family != FamilyInet6) {
			return nil, errors.New("proxy protocol v1 only describes TCP over IPv4 or IPv6")
		}
		if (h.Family == FamilyInet) != h.Source.Addr().Unmap().Is4() {
			return nil, errors.New("proxy protocol v1: address family mismatch")
		}
		return AppendV1(b, h.Source, h.Destination), nil
	case V2:
	default:
		return nil, fmt.Errorf("unknown proxy protocol version %d", h.Version)
	}
	if h.Command > Proxy || h.Family > FamilyUnix || h.Transport > TransportDgram {
		return nil, errors.New("proxy protocol v2: command, family or transport out of range")
	}
	b = append(b, Signature[:]...)
	b = append(b, 0x20|byte(h.Command), byte(h.Family)<<4|byte(h.Transport))
	lenAt := len(b)
	b = append(b, 0, 0)
	if h.Command == Proxy {
		switch h.Family {
		case FamilyInet:
			s, d := h.Source.Addr().Unmap(), h.Destination.Addr().Unmap()
			if !s.Is4() || !d.Is4() {
				return nil, errors.New("proxy protocol v2: AF_INET needs IPv4 addresses")
			}
			s4, d4 := s.As4(), d.As4()
			b = append(b, s4[:]...)
			b = append(b, d4[:]...)
			b = binary.BigEndian.AppendUint16(b, h.Source.Port())
			b = binary.BigEndian.AppendUint16(b, h.Destination.Port())
		case FamilyInet6:
			if !h.Source.Addr().IsValid() || !h.Destination.Addr().IsValid() {
				return nil, errors.New("proxy protocol v2: AF_INET6 needs addresses")
			}
			s16, d16 := h.Source.Addr().As16(), h.Destination.Addr().As16()
			b = append(b, s16[:]...)
			b = append(b, d16[:]...)
			b = binary.BigEndian.AppendUint16(b, h.Source.Port())
			b = binary.BigEndian.AppendUint16(b, h.Destination.Port())
		case FamilyUnix:
			if len(h.SourceUnix) > unixAddrLen || len(h.DestinationUnix) > unixAddrLen {
				return nil, errors.New("proxy protocol v2: AF_UNIX path longer than 108 bytes")
			}
			var s, d [unixAddrLen]byte
			copy(s[:], h.SourceUnix)
			copy(d[:], h.DestinationUnix)
			b = append(b, s[:]...)
			b = append(b, d[:]...)
		}
	}
	for _, t := range h.TLVs {
		if len(t.Value) > 0xffff {
			return nil, errors.New("proxy protocol v2: TLV value too long")
		}
		b = append(b, t.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	n := len(b) - lenAt - 2
	if n > 0xffff {
		return nil, errors.New("proxy protocol v2: header too long")
	}
	binary.BigEndian.PutUint16(b[lenAt:], uint16(n))
	return b, nil
}

// Parse decodes one header at the start of b and returns it with its
// length. It returns an error wrapping ErrIncomplete when b is a valid
// prefix that is too short, and one wrapping ErrInvalid otherwise.
func Parse(b []byte) (Header, int, error) {
	// Version detection as in section 2.2: the v2 signature plus version
	// nibble 2, otherwise "PROXY" for v1, otherwise not this protocol.
	n := min(len(b), len(Signature))
	if bytes.Equal(b[:n], Signature[:n]) {
		if len(b) < 16 {
			return Header{}, 0, ErrIncomplete
		}
		return parseV2(b)
	}
	n = min(len(b), 5)
	if bytes.Equal(b[:n], []byte("PROXY")[:n]) {
		if len(b) < 5 {
			return Header{}, 0, ErrIncomplete
		}
		return parseV1(b)
	}
	return Header{}, 0, invalid("no PROXY protocol signature")
}

func parseV1(b []byte) (Header, int, error) {
	end := bytes.IndexByte(b[:min(len(b), MaxV1Len)], '\n')
	if end < 0 {
		if len(b) >= MaxV1Len {
			return Header{}, 0, invalid("v1: no CRLF in the first %d bytes", MaxV1Len)
		}
		// A lone CR must be followed by LF: reject early if it is not.
		if i := bytes.IndexByte(b, '\r'); i >= 0 && i+1 < len(b) {
			return Header{}, 0, invalid("v1: CR not followed by LF")
		}
		return Header{}, 0, ErrIncomplete
	}
	if end == 0 || b[end-1] != '\r' {
		return Header{}, 0, invalid("v1: line must end with CRLF")
	}
	line := b[:end-1]
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		return Header{}, 0, invalid("v1: stray CR")
	}
	h := Header{Version: V1}
	rest, ok := bytes.CutPrefix(line, []byte("PROXY "))
	if !ok {
		return Header{}, 0, invalid("v1: expected \"PROXY \"")
	}
	if u, ok := bytes.CutPrefix(rest, []byte("UNKNOWN")); ok && (len(u) == 0 || u[0] == ' ') {
		// The receiver must ignore anything before the CRLF.
		h.Command = Local
		return h, end + 1, nil
	}
	f := bytes.Split(rest, []byte(" "))
	if len(f) != 5 {
		return Header{}, 0, invalid("v1: want 5 fields after PROXY, got %d", len(f))
	}
	switch string(f[0]) {
	case "TCP4":
		h.Family = FamilyInet
	case "TCP6":
		h.Family = FamilyInet6
	default:
		return Header{}, 0, invalid("v1: unknown protocol %q", f[0])
	}
	h.Command, h.Transport = Proxy, TransportStream
	src, err := parseV1Addr(f[1], h.Family)
	if err != nil {
		return Header{}, 0, err
	}
	dst, err := parseV1Addr(f[2], h.Family)
	if err != nil {
		return Header{}, 0, err
	}
	sp, err := parseV1Port(f[3])
	if err != nil {
		return Header{}, 0, err
	}
	dp, err := parseV1Port(f[4])
	if err != nil {
		return Header{}, 0, err
	}
	h.Source, h.Destination = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return h, end + 1, nil
}

// parseV1Addr accepts the canonical forms of section 2.1: dotted decimal
// without leading zeroes for TCP4, hexadecimal groups with at most one "::"
// for TCP6 (no zone, no embedded dotted quad).
func parseV1Addr(s []byte, fam Family) (netip.Addr, error) {
	for _, c := range s {
		ok := false
		switch fam {
		case FamilyInet:
			ok = c == '.' || ('0' <= c && c <= '9')
		case FamilyInet6:
			ok = c == ':' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
		}
		if !ok {
			return netip.Addr{}, invalid("v1: bad character %q in address %q", c, s)
		}
	}
	a, err := netip.ParseAddr(string(s))
	if err != nil {
		return netip.Addr{}, invalid("v1: bad address %q", s)
	}
	if (fam == FamilyInet) != a.Is4() {
		return netip.Addr{}, invalid("v1: address %q does not match the protocol family", s)
	}
	return a, nil
}

func parseV1Port(s []byte) (uint16, error) {
	if len(s) == 0 || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, invalid("v1: bad port %q", s)
	}
	v := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, invalid("v1: bad port %q", s)
		}
		v = v*10 + int(c-'0')
	}
	if v > 0xffff {
		return 0, invalid("v1: port %q out of range", s)
	}
	return uint16(v), nil
}

// v2AddrLen is the address block length implied by the family/protocol
// byte, or -1 for a combination section 2.2 does not list.
func v2AddrLen(fb byte) int {
	switch fb {
	case 0x00:
		return 0
	case 0x11, 0x12:
		return 12
	case 0x21, 0x22:
		return 36
	case 0x31, 0x32:
		return 2 * unixAddrLen
	}
	return -1
}

func parseV2(b []byte) (Header, int, error) {
	vc, fb := b[12], b[13]
	if vc>>4 != 2 {
		return Header{}, 0, invalid("v2: version %d, want 2", vc>>4)
	}
	h := Header{Version: V2, Command: Command(vc & 0xf), Family: Family(fb >> 4), Transport: Transport(fb & 0xf)}
	if h.Command > Proxy {
		return Header{}, 0, invalid("v2: unassigned command %#x", byte(h.Command))
	}
	if h.Family > FamilyUnix || h.Transport > TransportDgram {
		return Header{}, 0, invalid("v2: unspecified family/protocol byte %#02x", fb)
	}
	total := 16 + int(binary.BigEndian.Uint16(b[14:16]))
	if len(b) < total {
		return Header{}, 0, ErrIncomplete
	}
	if h.Command == Local {
		// "The receiver must accept this connection as valid and must use
		// the real connection endpoints and discard the protocol block
		// including the family which is ignored."
		return Header{Version: V2, Command: Local}, total, nil
	}
	alen := v2AddrLen(fb)
	if alen < 0 {
		return Header{}, 0, invalid("v2: family/protocol byte %#02x is not a valid combination", fb)
	}
	body := b[16:total]
	if alen == 0 {
		// UNSPEC: the receiver should ignore the address information, whose
		// length it cannot know, so nothing after it can be decoded either.
		return h, total, nil
	}
	if len(body) < alen {
		return Header{}, 0, invalid("v2: address block of %d bytes is shorter than %d", len(body), alen)
	}
	switch h.Family {
	case FamilyInet:
		s, d := netip.AddrFrom4([4]byte(body[0:4])), netip.AddrFrom4([4]byte(body[4:8]))
		h.Source = netip.AddrPortFrom(s, binary.BigEndian.Uint16(body[8:10]))
		h.Destination = netip.AddrPortFrom(d, binary.BigEndian.Uint16(body[10:12]))
	case FamilyInet6:
		s, d := netip.AddrFrom16([16]byte(body[0:16])), netip.AddrFrom16([16]byte(body[16:32]))
		h.Source = netip.AddrPortFrom(s, binary.BigEndian.Uint16(body[32:34]))
		h.Destination = netip.AddrPortFrom(d, binary.BigEndian.Uint16(body[34:36]))
	case FamilyUnix:
		h.SourceUnix = cstring(body[:unixAddrLen])
		h.DestinationUnix = cstring(body[unixAddrLen : 2*unixAddrLen])
	}
	off := 16 + alen
	for off < total {
		if total-off < 3 {
			return Header{}, 0, invalid("v2: %d trailing bytes do not form a TLV", total-off)
		}
		vl := int(binary.BigEndian.Uint16(b[off+1 : off+3]))
		if total-off-3 < vl {
			return Header{}, 0, invalid("v2: TLV %#02x length %d overruns the header", b[off], vl)
		}
		t := TLV{Type: b[off], Value: b[off+3 : off+3+vl : off+3+vl]}
		if t.Type == TypeCRC32C {
			if vl != 4 {
				return Header{}, 0, invalid("v2: CRC32C TLV of %d bytes, want 4", vl)
			}
			if err := checkCRC(b[:total], off+3, binary.BigEndian.Uint32(t.Value)); err != nil {
				return Header{}, 0, err
			}
		}
		h.TLVs = append(h.TLVs, t)
		off += 3 + vl
	}
	return h, total, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkCRC verifies PP2_TYPE_CRC32C (section 2.2.3): the CRC32c of the whole
// header with the checksum field zeroed.
func checkCRC(hdr []byte, at int, want uint32) error {
	c := crc32.Update(0, castagnoli, hdr[:at])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	c = crc32.Update(c, castagnoli, hdr[at+4:])
	if c != want {
		return invalid("v2: CRC32C mismatch (header %#08x, computed %#08x)", want, c)
	}
	return nil
}

// SetCRC32C fills in the PP2_TYPE_CRC32C TLV of an encoded v2 PROXY header
// (which must already carry one, with any value), as section 2.2.3 tells
// the sender: zero the field, checksum the whole header, store the result.
func SetCRC32C(hdr []byte) error {
	if len(hdr) < 16 || !bytes.Equal(hdr[:12], Signature[:]) {
		return errors.New("proxyproto: not a v2 header")
	}
	total := 16 + int(binary.BigEndian.Uint16(hdr[14:16]))
	alen := v2AddrLen(hdr[13])
	if total > len(hdr) || alen < 0 || hdr[12]&0xf != byte(Proxy) {
		return errors.New("proxyproto: malformed v2 PROXY header")
	}
	for off := 16 + alen; off+3 <= total; {
		vl := int(binary.BigEndian.Uint16(hdr[off+1 : off+3]))
		if hdr[off] == TypeCRC32C && vl == 4 && off+7 <= total {
			v := hdr[off+3 : off+7]
			clear(v)
			binary.BigEndian.PutUint32(v, crc32.Checksum(hdr[:total], castagnoli))
			return nil
		}
		off += 3 + vl
	}
	return errors.New("proxyproto: no CRC32C TLV")
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Read reads one header from r and leaves r positioned after it. It only
// waits for bytes the header needs: a v1 line is complete at its CRLF,
// so a receiver whose peer speaks after the server is never stalled. The
// header must fit r's buffer (bufio's default 4096 bytes fits any v1
// header and any v2 header with up to 4080 bytes of addresses and TLVs).
func Read(r *bufio.Reader) (Header, error) {
	if _, err := r.Peek(1); err != nil {
		return Header{}, err
	}
	for {
		b, _ := r.Peek(r.Buffered())
		h, n, err := Parse(b)
		if err == nil {
			// Copy TLV values out of the buffer before discarding it.
			for i := range h.TLVs {
				h.TLVs[i].Value = bytes.Clone(h.TLVs[i].Value)
			}
			_, _ = r.Discard(n)
			return h, nil
		}
		if !errors.Is(err, ErrIncomplete) {
			return Header{}, err
		}
		if _, err := r.Peek(len(b) + 1); err != nil {
			if errors.Is(err, io.EOF) {
				return Header{}, io.ErrUnexpectedEOF
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				return Header{}, invalid("header larger than the %d-byte read buffer", r.Size())
			}
			return Header{}, err
		}
	}
}
