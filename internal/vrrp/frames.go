package vrrp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// Link-layer frames announcing a virtual address after a takeover:
// gratuitous ARP for IPv4 and an unsolicited Neighbor Advertisement for
// IPv6 (RFC 5798 section 6.4.1 and 7.3). They are built whole, Ethernet
// header included, and sent through an AF_PACKET socket, so they work
// whatever the state of the address (even a tentative IPv6 one).

// Ethernet types.
const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
)

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// allNodes is ff02::1, where an unsolicited NA goes (RFC 4861 7.2.6).
	allNodes    = netip.MustParseAddr("ff02::1")
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
)

// VirtualMAC is a virtual router's MAC address: 00-00-5E-00-01-{VRID} for
// IPv4, 00-00-5E-00-02-{VRID} for IPv6 (RFC 5798 section 7.3).
func VirtualMAC(vrid uint8, ipv6 bool) net.HardwareAddr {
	fam := byte(1)
	if ipv6 {
		fam = 2
	}
	return net.HardwareAddr{0, 0, 0x5e, 0, fam, vrid}
}

// GratuitousARP builds keepalived's gratuitous ARP for vip (vrrp_arp.c
// send_gratuitous_arp_immediate): an ARP request (op 1) broadcast from mac
// with sender = target = vip and target hardware address ff:ff:ff:ff:ff:ff.
func GratuitousARP(mac net.HardwareAddr, vip netip.Addr) ([]byte, error) {
	if len(mac) != 6 || !vip.Is4() {
		return nil, fmt.Errorf("vrrp: gratuitous ARP needs an Ethernet MAC and an IPv4 address, got %s and %s", mac, vip)
	}
	b := make([]byte, 0, 42)
	b = append(b, broadcastMAC...)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, etherTypeARP)
	b = binary.BigEndian.AppendUint16(b, 1) // hardware type Ethernet
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv4)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, 1) // request
	a := vip.As4()
	b = append(b, mac...)
	b = append(b, a[:]...)
	b = append(b, broadcastMAC...)
	b = append(b, a[:]...)
	return b, nil
}

// UnsolicitedNA builds keepalived's unsolicited Neighbor Advertisement for
// vip (vrrp_ndisc.c ndisc_send_unsolicited_na_immediate): from vip to
// ff02::1 with hop limit 255, the Override flag, the Router flag only when
// router is set (keepalived sets it when the interface forwards, although
// RFC 5798 section 7.3 says always), and a target link-layer address
// option carrying mac.
func UnsolicitedNA(mac net.HardwareAddr, vip netip.Addr, router bool) ([]byte, error) {
	if len(mac) != 6 || !vip.Is6() || vip.Is4In6() {
		return nil, fmt.Errorf("vrrp: unsolicited NA needs an Ethernet MAC and an IPv6 address, got %s and %s", mac, vip)
	}
	const icmpLen = 32 // header 4, flags 4, target 16, option 8
	b := make([]byte, 0, 14+40+icmpLen)
	b = append(b, allNodesMAC...)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv6)
	ip := len(b)
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow 0
	b = binary.BigEndian.AppendUint16(b, icmpLen)
	b = append(b, 58, 255) // ICMPv6, hop limit 255 (RFC 4861 7.1.2)
	b = append(b, vip.AsSlice()...)
	b = append(b, allNodes.AsSlice()...)
	icmp := len(b)
	b = append(b, 136, 0, 0, 0) // Neighbor Advertisement, code 0, checksum
	var flags byte = 0x20       // Override
	if router {
		flags |= 0x80
	}
	b = append(b, flags, 0, 0, 0)
	b = append(b, vip.AsSlice()...)
	b = append(b, 2, 1) // target link-layer address, 8 bytes
	b = append(b, mac...)
	// ICMPv6 checksum over the IPv6 pseudo-header (RFC 8200 section 8.1).
	ps := sumBytes(0, b[ip+8:ip+40])
	ps += icmpLen + 58
	binary.BigEndian.PutUint16(b[icmp+2:], inetChecksum(b[icmp:], ps))
	return b, nil
}
