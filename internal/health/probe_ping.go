package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// icmpPayload is check_ping.c ICMP_BUFSIZE: the echo request carries 128
// bytes after the 8-byte header.
const icmpPayload = 128

// pingProber is PING_CHECK (check_ping.c): one ICMP echo request, success
// on an echo reply within connect_timeout. It uses an unprivileged ICMP
// datagram socket, as keepalived does, when net.ipv4.ping_group_range
// admits our group, and a raw socket (root or CAP_NET_RAW) otherwise.
// keepalived widens ping_group_range itself; we do not change sysctls.
type pingProber struct {
	co  connOpts
	seq atomic.Uint32
}

func newPingProber(co connOpts) *pingProber { return &pingProber{co: co} }

func (p *pingProber) Probe(ctx context.Context) Result {
	dst := p.co.dst.Addr().Unmap()
	op := "ping " + dst.String()
	s, err := openICMP(dst.Is4(), p.co)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", op, err))
	}
	defer s.conn.Close()
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()

	id := uint16(os.Getpid())
	seq := uint16(p.seq.Add(1))
	req := icmpEcho(dst.Is4(), id, seq)
	s.conn.SetDeadline(p.co.deadline())
	if _, err := s.conn.WriteTo(req, s.addr(dst)); err != nil {
		return fail(classify(op+": send", err))
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return fail(fmt.Errorf("%s: %w", op, ctx.Err()))
			}
			return fail(classify(op, err))
		}
		if ok, err := s.isReply(buf[:n], from, dst, id, seq); ok {
			return Result{OK: true}
		} else if err != nil {
			return fail(fmt.Errorf("%s: %w", op, err))
		}
	}
}

type icmpSocket struct {
	conn net.PacketConn
	raw  bool
	v4   bool
}

// isReply accepts the echo reply to our request. A datagram socket only
// ever sees replies to its own ID; a raw socket sees every ICMP packet, so
// others (including our own request on loopback) are skipped.
func (s *icmpSocket) isReply(b []byte, from net.Addr, dst netip.Addr, id, seq uint16) (bool, error) {
	if s.raw && s.v4 {
		if len(b) < 20 {
			return false, nil
		}
		ihl := int(b[0]&0x0f) * 4
		if len(b) < ihl {
			return false, nil
		}
		b = b[ihl:]
	}
	if len(b) < 8 {
		return false, errors.New("short ICMP packet")
	}
	replyType := byte(0) // ICMP_ECHOREPLY
	if !s.v4 {
		replyType = 129 // ICMP6_ECHO_REPLY
	}
	if s.raw {
		if a, ok := netip.AddrFromSlice(ipOf(from)); !ok || a.Unmap() != dst {
			return false, nil
		}
		if b[0] != replyType || binary.BigEndian.Uint16(b[4:]) != id || binary.BigEndian.Uint16(b[6:]) != seq {
			return false, nil
		}
		return true, nil
	}
	if b[0] != replyType {
		// check_ping.c recv_it: "Got ICMP packet with type 0x%x".
		return false, fmt.Errorf("%w: ICMP type %d", ErrReply, b[0])
	}
	return binary.BigEndian.Uint16(b[6:]) == seq, nil
}

// addr is the destination in the form the socket's net.PacketConn wants:
// a datagram ICMP socket surfaces as a UDPConn, a raw one as an IPConn.
func (s *icmpSocket) addr(dst netip.Addr) net.Addr {
	if s.raw {
		return &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	return &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
}

func ipOf(a net.Addr) net.IP {
	switch a := a.(type) {
	case *net.IPAddr:
		return a.IP
	case *net.UDPAddr:
		return a.IP
	}
	return nil
}

// openICMP opens a datagram ICMP socket, or a raw one when datagram ICMP
// sockets are not allowed, with bindto, bind_if and fwmark applied.
func openICMP(v4 bool, co connOpts) (*icmpSocket, error) {
	family, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if !v4 {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	s := &icmpSocket{v4: v4}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto)
	if err != nil {
		fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto)
		if err != nil {
			return nil, fmt.Errorf("icmp socket (no ping_group_range access and no CAP_NET_RAW): %w", err)
		}
		s.raw = true
	}
	if err := co.setSockOpts(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if co.bind.IsValid() {
		var sa unix.Sockaddr
		a := co.bind.Addr().Unmap()
		if v4 {
			sa = &unix.SockaddrInet4{Addr: a.As4()}
		} else {
			sa = &unix.SockaddrInet6{Addr: a.As16()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("bind %s: %w", a, err)
		}
	}
	f := os.NewFile(uintptr(fd), "icmp")
	c, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	s.conn = c
	return s, nil
}

// icmpEcho builds an echo request with check_ping.c's 128-byte payload.
// The checksum is filled in for IPv4; the kernel computes it for ICMPv6
// and for datagram sockets.
func icmpEcho(v4 bool, id, seq uint16) []byte {
	b := make([]byte, 8+icmpPayload)
	b[0] = 8 // ICMP_ECHO
	if !v4 {
		b[0] = 128 // ICMP6_ECHO_REQUEST
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	for i := range icmpPayload {
		b[8+i] = byte(i)
	}
	if v4 {
		binary.BigEndian.PutUint16(b[2:], inetChecksum(b))
	}
	return b
}

// inetChecksum is the RFC 1071 one's complement sum.
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
