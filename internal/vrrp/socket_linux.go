package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// RawTransport opens raw IP sockets for protocol 112, one per instance,
// shaped like keepalived's (vrrp.c open_vrrp_send_socket /
// open_vrrp_read_socket, vrrp_if.c) and google/seesaw's ha/net.go:
//
//   - bound to the interface (SO_BINDTODEVICE), IP_MULTICAST_ALL off, the
//     group 224.0.0.18 / ff02::12 joined on that interface unless unicast;
//   - IPv4 with IP_HDRINCL: we write TOS 0xc0, TTL 255, an incrementing
//     ID and the source address ourselves, and read the TTL back from the
//     received header;
//   - IPv6: hop limit 255 and traffic class 0xc0 set on the socket, the
//     received hop limit and destination from IPV6_HOPLIMIT/IPV6_PKTINFO
//     control messages; the checksum is ours (not IPV6_CHECKSUM), so a bad
//     one is counted instead of silently dropped by the kernel.
//
// The sockets are non-blocking and driven by the Go runtime poller, so
// Close wakes a blocked Recv.
type RawTransport struct{}

// Open implements Transport.
func (RawTransport) Open(ctx context.Context, c ConnConfig) (Conn, error) {
	ifi, err := net.InterfaceByName(c.Interface)
	if err != nil {
		return nil, fmt.Errorf("vrrp: interface %s: %w", c.Interface, err)
	}
	local := c.Src
	if !local.IsValid() {
		if local, err = interfaceAddr(ifi, c.IPv6); err != nil {
			return nil, err
		}
	}
	if c.IPv6 {
		return openRaw6(ifi, local, c.Unicast)
	}
	return openRaw4(ifi, local, c.Unicast)
}

// interfaceAddr is keepalived's default source: the interface's first
// IPv4 address, or its IPv6 link-local address (RFC 5798 section 5.1.2.1).
func interfaceAddr(ifi *net.Interface, v6 bool) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		switch {
		case !v6 && ip.Is4():
			return ip, nil
		case v6 && ip.Is6() && ip.IsLinkLocalUnicast():
			return ip.WithZone(ifi.Name), nil
		}
	}
	fam := "IPv4"
	if v6 {
		fam = "IPv6 link-local"
	}
	return netip.Addr{}, fmt.Errorf("vrrp: interface %s has no %s address", ifi.Name, fam)
}

type rawConn struct {
	f      *os.File
	rc     syscall.RawConn
	ifi    *net.Interface
	local  netip.Addr
	v6     bool
	ipID   atomic.Uint32
	closed atomic.Bool
}

func newRawConn(fd int, ifi *net.Interface, local netip.Addr, v6 bool) (*rawConn, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "vrrp-"+ifi.Name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rawConn{f: f, rc: rc, ifi: ifi, local: local, v6: v6}, nil
}

func openRaw4(ifi *net.Interface, local netip.Addr, unicast bool) (Conn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, Protocol)
	if err != nil {
		return nil, fmt.Errorf("vrrp: raw socket: %w", err)
	}
	mreq := &unix.IPMreqn{Multiaddr: Group4.As4(), Ifindex: int32(ifi.Index)}
	opts := []error{
		unix.BindToDevice(fd, ifi.Name),
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0),
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1),
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0),
		unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY, 6),
	}
	if !unicast {
		opts = append(opts, unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq))
	}
	if err := errors.Join(opts...); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("vrrp: socket options on %s: %w", ifi.Name, err)
	}
	return newRawConn(fd, ifi, local, false)
}

func openRaw6(ifi *net.Interface, local netip.Addr, unicast bool) (Conn, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, Protocol)
	if err != nil {
		return nil, fmt.Errorf("vrrp: raw socket: %w", err)
	}
	opts := []error{
		unix.BindToDevice(fd, ifi.Name),
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1),
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1),
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, TTL),
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, TTL),
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0),
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index),
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, 0xc0),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY, 6),
	}
	if !unicast {
		opts = append(opts, unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP,
			&unix.IPv6Mreq{Multiaddr: Group6.As16(), Interface: uint32(ifi.Index)}))
	}
	if err := errors.Join(opts...); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("vrrp: socket options on %s: %w", ifi.Name, err)
	}
	// Bind to the source so the kernel sends from it.
	sa := &unix.SockaddrInet6{Addr: local.As16()}
	if local.IsLinkLocalUnicast() {
		sa.ZoneId = uint32(ifi.Index)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("vrrp: bind to %s: %w", local, err)
	}
	return newRawConn(fd, ifi, local.WithZone(""), true)
}

func (c *rawConn) LocalAddr() netip.Addr { return c.local }

func (c *rawConn) Close() error {
	c.closed.Store(true)
	return c.f.Close()
}

// Send implements Conn.
func (c *rawConn) Send(msg []byte, dst netip.Addr) error {
	var (
		pkt []byte
		sa  unix.Sockaddr
	)
	if c.v6 {
		pkt = msg
		s6 := &unix.SockaddrInet6{Addr: dst.As16()}
		if dst.IsLinkLocalMulticast() || dst.IsLinkLocalUnicast() {
			s6.ZoneId = uint32(c.ifi.Index)
		}
		sa = s6
	} else {
		// IPv4 header, as vrrp.c vrrp_build_ip4 writes it; the kernel
		// fills in the header checksum (raw(7)).
		id := uint16(c.ipID.Add(1))
		if id == 0 {
			id = uint16(c.ipID.Add(1))
		}
		total := 20 + len(msg)
		pkt = make([]byte, 20, total)
		pkt[0], pkt[1] = 0x45, 0xc0
		pkt[2], pkt[3] = byte(total>>8), byte(total)
		pkt[4], pkt[5] = byte(id>>8), byte(id)
		pkt[8], pkt[9] = TTL, Protocol
		src, d := c.local.As4(), dst.As4()
		copy(pkt[12:16], src[:])
		copy(pkt[16:20], d[:])
		pkt = append(pkt, msg...)
		sa = &unix.SockaddrInet4{Addr: d}
	}
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), pkt, 0, sa)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// Recv implements Conn.
func (c *rawConn) Recv() (Packet, error) {
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	for {
		var (
			n, oobn int
			from    unix.Sockaddr
			rerr    error
		)
		err := c.rc.Read(func(fd uintptr) bool {
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return Packet{}, err
		}
		if rerr != nil {
			if c.closed.Load() {
				return Packet{}, net.ErrClosed
			}
			continue
		}
		if !c.v6 {
			p, err := parseIPv4(buf[:n])
			if err != nil {
				continue
			}
			p.Payload = append([]byte(nil), p.Payload...)
			return p, nil
		}
		p := Packet{TTL: -1, Payload: append([]byte(nil), buf[:n]...)}
		if s6, ok := from.(*unix.SockaddrInet6); ok {
			p.Src = netip.AddrFrom16(s6.Addr)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				if m.Header.Level != unix.IPPROTO_IPV6 {
					continue
				}
				switch m.Header.Type {
				case unix.IPV6_HOPLIMIT:
					if len(m.Data) >= 4 {
						p.TTL = int(int32(binary.NativeEndian.Uint32(m.Data)))
					}
				case unix.IPV6_PKTINFO:
					if len(m.Data) >= 16 {
						p.Dst = netip.AddrFrom16([16]byte(m.Data[:16]))
					}
				}
			}
		}
		if !p.Dst.IsValid() {
			p.Dst = Group6
		}
		return p, nil
	}
}
