package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Wire constants (RFC 3768 section 5, RFC 5798 section 5).
const (
	// Protocol is the IP protocol number of VRRP.
	Protocol = 112
	// TTL is the IPv4 TTL / IPv6 hop limit adverts are sent with and, in
	// multicast mode, must arrive with (RFC 5798 section 5.1.1.3).
	TTL = 255
	// TypeAdvertisement is the only VRRP packet type.
	TypeAdvertisement = 1
	// AuthNone, AuthPass and AuthAH are the RFC 2338 authentication types
	// still carried by version 2 (RFC 3768 section 5.3.6 leaves 1 and 2
	// "reserved"; keepalived keeps PASS and AH).
	AuthNone = 0
	AuthPass = 1
	AuthAH   = 2
	// AuthLen is the size of the version 2 authentication data.
	AuthLen = 8
	// headerLen is the fixed part of both versions.
	headerLen = 8
	// MaxInterval3 is the largest version 3 interval, in centiseconds
	// (12 bits).
	MaxInterval3 = 0x0fff
)

// Multicast groups (RFC 5798 section 5.1.1.2 and 5.1.2.2).
var (
	Group4 = netip.MustParseAddr("224.0.0.18")
	Group6 = netip.MustParseAddr("ff02::12")
)

// SumMode says how a version 3 checksum covers the IP addresses.
type SumMode uint8

const (
	// SumPseudo is RFC 5798 section 5.2.8: a pseudo-header with the real
	// source and destination addresses (keepalived's default).
	SumPseudo SumMode = iota
	// SumPlain leaves the pseudo-header out, as version 2 does; some
	// routers do this for IPv4 and keepalived offers it as
	// v3_checksum_as_v2 (keepalived.conf(5)).
	SumPlain
	// SumGroup uses 224.0.0.18 as the pseudo-header destination of a
	// unicast advert, as keepalived before 1.3.6 did (vrrp.c vrrp_in_chk,
	// old_unicast_checksum).
	SumGroup
)

func (m SumMode) String() string {
	switch m {
	case SumPseudo:
		return "pseudo-header"
	case SumPlain:
		return "no pseudo-header"
	case SumGroup:
		return "pseudo-header with group destination"
	}
	return fmt.Sprintf("SumMode(%d)", m)
}

// Advert is one VRRP advertisement, version 2 or 3. Decode fills every
// field so that Encode reproduces the packet byte for byte.
type Advert struct {
	Version  uint8 // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval in the packet's unit: whole
	// seconds for version 2, centiseconds (12 bits) for version 3.
	Interval uint16
	// Reserved is the version 3 4-bit field before Max Adver Int; it is
	// sent as 0 and ignored on receipt (RFC 5798 section 5.2.5).
	Reserved uint8
	// AuthType and AuthData are version 2 only.
	AuthType uint8
	AuthData [AuthLen]byte
	// Addrs are the virtual addresses, all of the packet's IP family.
	Addrs []netip.Addr
	// Checksum is the value on the wire; Sum is how it was computed
	// (version 3 only; version 2 never covers IP addresses).
	Checksum uint16
	Sum      SumMode
}

// IntervalDuration converts Interval to a duration.
func (a *Advert) IntervalDuration() time.Duration {
	if a.Version == 2 {
		return time.Duration(a.Interval) * time.Second
	}
	return time.Duration(a.Interval) * 10 * time.Millisecond
}

// Len is the size of the encoded message.
func (a *Advert) Len() int {
	n := headerLen
	for _, ip := range a.Addrs {
		n += ip.BitLen() / 8
	}
	if a.Version == 2 {
		n += AuthLen
	}
	return n
}

// Reason names why a received advert was rejected; it is also the key of
// the per-reason counters in InstanceStatus.
type Reason string

// Rejection reasons. The packet-level ones come from Decode, the others
// from an instance's checks (keepalived vrrp.c vrrp_in_chk, RFC 5798
// section 7.1).
const (
	ReasonLength    Reason = "length"     // truncated, or size disagrees with the address count
	ReasonVersion   Reason = "version"    // not 2 or 3, or not the instance's version
	ReasonType      Reason = "type"       // not an ADVERTISEMENT
	ReasonChecksum  Reason = "checksum"   // bad checksum
	ReasonFamily    Reason = "family"     // version 2 over IPv6, or invalid addresses
	ReasonTTL       Reason = "ttl"        // TTL / hop limit not 255 in multicast mode
	ReasonVRID      Reason = "vrid"       // another virtual router's advert
	ReasonAuthType  Reason = "auth_type"  // version 2 auth type differs from ours
	ReasonAuth      Reason = "auth"       // version 2 password differs
	ReasonInterval  Reason = "interval"   // version 2 interval differs from ours
	ReasonPeer      Reason = "peer"       // unicast mode: sender is not a listed peer
	ReasonOwnAdvert Reason = "own_advert" // our own address as the source
)

// RejectError is a packet that failed a check.
type RejectError struct {
	Reason Reason
	Detail string
}

func (e *RejectError) Error() string {
	return "vrrp: rejected (" + string(e.Reason) + "): " + e.Detail
}

// ReasonOf returns the reason of a *RejectError in err's chain, or "".
func ReasonOf(err error) Reason {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

func reject(r Reason, format string, args ...any) error {
	return &RejectError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Decode parses a VRRP message received from src for dst (the IP
// addresses of the packet; their family decides the address size). It
// checks what the packet itself can tell: version, type, length and
// checksum. A version 3 checksum is accepted with the pseudo-header (RFC
// 5798), without it (v3_checksum_as_v2, Cisco/Juniper IPv4), or with the
// multicast group as destination (pre-1.3.6 keepalived unicast); Sum
// records which. Per-instance checks (TTL, VRID, auth, interval) are the
// caller's.
func Decode(b []byte, src, dst netip.Addr) (*Advert, error) {
	if len(b) < headerLen {
		return nil, reject(ReasonLength, "%d bytes, shorter than the %d-byte header", len(b), headerLen)
	}
	a := &Advert{Version: b[0] >> 4, VRID: b[1], Priority: b[2]}
	switch a.Version {
	case 2, 3:
	default:
		return nil, reject(ReasonVersion, "version %d", a.Version)
	}
	if t := b[0] & 0x0f; t != TypeAdvertisement {
		return nil, reject(ReasonType, "type %d", t)
	}
	v6 := src.Is6() && !src.Is4In6()
	if v6 != (dst.Is6() && !dst.Is4In6()) {
		return nil, reject(ReasonFamily, "source %s and destination %s differ in family", src, dst)
	}
	if a.Version == 2 && v6 {
		return nil, reject(ReasonFamily, "version 2 over IPv6 (RFC 3768 is IPv4 only)")
	}
	alen := 4
	if v6 {
		alen = 16
	}
	count := int(b[3])
	want := headerLen + count*alen
	if a.Version == 2 {
		want += AuthLen
	}
	if len(b) != want {
		return nil, reject(ReasonLength, "%d bytes for %d addresses, want %d", len(b), count, want)
	}
	a.Checksum = binary.BigEndian.Uint16(b[6:8])
	if a.Version == 2 {
		a.AuthType = b[4]
		a.Interval = uint16(b[5])
		copy(a.AuthData[:], b[want-AuthLen:])
	} else {
		a.Reserved = b[4] >> 4
		a.Interval = binary.BigEndian.Uint16(b[4:6]) & MaxInterval3
	}
	if count > 0 {
		a.Addrs = make([]netip.Addr, count)
		for i := range count {
			p := b[headerLen+i*alen : headerLen+(i+1)*alen]
			if v6 {
				a.Addrs[i] = netip.AddrFrom16([16]byte(p))
			} else {
				a.Addrs[i] = netip.AddrFrom4([4]byte(p))
			}
		}
	}
	if a.Version == 2 {
		if sum := checksum(b, 0); sum != a.Checksum {
			return nil, reject(ReasonChecksum, "version 2 checksum %#04x, want %#04x", a.Checksum, sum)
		}
		return a, nil
	}
	modes := []SumMode{SumPseudo}
	if !v6 {
		modes = append(modes, SumPlain)
		if dst != Group4 {
			modes = append(modes, SumGroup)
		}
	}
	for _, m := range modes {
		if checksum(b, pseudoSum(m, src, dst, len(b))) == a.Checksum {
			a.Sum = m
			return a, nil
		}
	}
	return nil, reject(ReasonChecksum, "version 3 checksum %#04x, want %#04x (pseudo-header)", a.Checksum, checksum(b, pseudoSum(SumPseudo, src, dst, len(b))))
}

// Encode appends the message to buf, computing the checksum for the given
// IP source and destination (used by version 3 only, per a.Sum). The
// Checksum field is set to the value written.
func (a *Advert) Encode(buf []byte, src, dst netip.Addr) ([]byte, error) {
	if a.Version != 2 && a.Version != 3 {
		return buf, fmt.Errorf("vrrp: cannot encode version %d", a.Version)
	}
	if len(a.Addrs) > 255 {
		return buf, fmt.Errorf("vrrp: %d addresses, at most 255 fit", len(a.Addrs))
	}
	v6 := src.Is6() && !src.Is4In6()
	for _, ip := range a.Addrs {
		if ip.Is4() == v6 || ip.Is4In6() {
			return buf, fmt.Errorf("vrrp: address %s is not of the packet's family", ip)
		}
	}
	if a.Version == 2 && v6 {
		return buf, errors.New("vrrp: version 2 is IPv4 only")
	}
	if a.Version == 3 && a.Interval > MaxInterval3 {
		return buf, fmt.Errorf("vrrp: version 3 interval %d cs exceeds %d", a.Interval, MaxInterval3)
	}
	if a.Version == 2 && a.Interval > 255 {
		return buf, fmt.Errorf("vrrp: version 2 interval %d s exceeds 255", a.Interval)
	}
	start := len(buf)
	buf = append(buf, a.Version<<4|TypeAdvertisement, a.VRID, a.Priority, uint8(len(a.Addrs)))
	if a.Version == 2 {
		buf = append(buf, a.AuthType, uint8(a.Interval))
	} else {
		buf = binary.BigEndian.AppendUint16(buf, uint16(a.Reserved&0x0f)<<12|a.Interval)
	}
	buf = append(buf, 0, 0)
	for _, ip := range a.Addrs {
		buf = append(buf, ip.AsSlice()...)
	}
	if a.Version == 2 {
		buf = append(buf, a.AuthData[:]...)
	}
	msg := buf[start:]
	var init uint32
	if a.Version == 3 {
		init = pseudoSum(a.Sum, src, dst, len(msg))
	}
	a.Checksum = checksum(msg, init)
	binary.BigEndian.PutUint16(msg[6:8], a.Checksum)
	return buf, nil
}

// pseudoSum is the unfolded one's complement sum of the version 3
// pseudo-header (RFC 5798 section 5.2.8, RFC 8200 section 8.1 for IPv6,
// RFC 768-style for IPv4).
func pseudoSum(m SumMode, src, dst netip.Addr, n int) uint32 {
	if m == SumPlain {
		return 0
	}
	if m == SumGroup {
		dst = Group4
	}
	var s uint32
	s = sumBytes(s, src.AsSlice())
	s = sumBytes(s, dst.AsSlice())
	// Upper-layer length then protocol: for IPv4 "0 proto len16", for
	// IPv6 "len32 0 0 0 proto"; both add the same 16-bit words.
	s += uint32(n)>>16 + uint32(n)&0xffff + Protocol
	return s
}

func sumBytes(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// checksum is the RFC 1071 Internet checksum of b (whose checksum field
// is skipped: bytes 6-7 of a VRRP message are treated as zero) plus init.
func checksum(b []byte, init uint32) uint16 {
	s := init
	s = sumBytes(s, b[:6])
	s = sumBytes(s, b[8:])
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// inetChecksum is the RFC 1071 checksum over b plus init (no field
// skipped); used for ICMPv6.
func inetChecksum(b []byte, init uint32) uint16 {
	s := sumBytes(init, b)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
