package vrrp

import (
	"encoding/binary"
	"net/netip"
)

// Packet is one received VRRP message with what the IP layer said about
// it.
type Packet struct {
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit; -1 when unknown.
	TTL     int
	Payload []byte
}

// parseIPv4 splits a raw IPv4 packet (as an AF_INET raw socket delivers
// it, header included) into addresses, TTL and the VRRP message, using the
// header's total length so that Ethernet padding is dropped (keepalived
// vrrp_in_chk compares tot_len with the received length).
func parseIPv4(b []byte) (Packet, error) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return Packet{}, reject(ReasonLength, "not an IPv4 packet (%d bytes)", len(b))
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || total < ihl || total > len(b) {
		return Packet{}, reject(ReasonLength, "IPv4 header length %d, total length %d, received %d", ihl, total, len(b))
	}
	if b[9] != Protocol {
		return Packet{}, reject(ReasonType, "IP protocol %d", b[9])
	}
	return Packet{
		Src:     netip.AddrFrom4([4]byte(b[12:16])),
		Dst:     netip.AddrFrom4([4]byte(b[16:20])),
		TTL:     int(b[8]),
		Payload: b[ihl:total],
	}, nil
}

// parseIPv6 splits a raw IPv6 packet (fixed header, no extension headers)
// the same way; the sockets never need it, tests and captures do.
func parseIPv6(b []byte) (Packet, error) {
	if len(b) < 40 || b[0]>>4 != 6 {
		return Packet{}, reject(ReasonLength, "not an IPv6 packet (%d bytes)", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if 40+n > len(b) {
		return Packet{}, reject(ReasonLength, "IPv6 payload length %d, received %d", n, len(b)-40)
	}
	if b[6] != Protocol {
		return Packet{}, reject(ReasonType, "next header %d", b[6])
	}
	return Packet{
		Src:     netip.AddrFrom16([16]byte(b[8:24])),
		Dst:     netip.AddrFrom16([16]byte(b[24:40])),
		TTL:     int(b[7]),
		Payload: b[40 : 40+n],
	}, nil
}

// ParseFrame parses an Ethernet frame carrying a VRRP advert over IPv4 or
// IPv6 (as captured with an AF_PACKET socket).
func ParseFrame(f []byte) (Packet, error) {
	if len(f) < 14 {
		return Packet{}, reject(ReasonLength, "frame of %d bytes", len(f))
	}
	switch binary.BigEndian.Uint16(f[12:14]) {
	case etherTypeIPv4:
		return parseIPv4(f[14:])
	case etherTypeIPv6:
		return parseIPv6(f[14:])
	}
	return Packet{}, reject(ReasonType, "ethertype %#04x", binary.BigEndian.Uint16(f[12:14]))
}
