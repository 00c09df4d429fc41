package l4

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// sockets are the listening sockets of one service.
type sockets struct {
	tcp *net.TCPListener
	udp *net.UDPConn
}

func (so *sockets) close() {
	if so.tcp != nil {
		_ = so.tcp.Close()
	}
	if so.udp != nil {
		_ = so.udp.Close()
	}
}

// listen opens the socket of a service on VIP:port. IP_FREEBIND (or
// IPV6_FREEBIND) lets a VIP that is not yet on an interface be bound, as
// IPVS serves a VIP regardless of local addresses. TCP listeners use
// SO_REUSEADDR (Go sets it too) so a restart does not wait for TIME_WAIT
// sockets; UDP sockets do not, because on UDP it would let two sockets
// bind the same address and a port clash would go unnoticed. Like IPVS,
// nginx stream (so_keepalive off) and HAProxy (no clitcpka), the plane
// sends no TCP keep-alive probes: the connection table's state timeouts
// reap idle connections, and Go's default keep-alive would cost four
// setsockopt calls on every accepted connection.
func listen(ctx context.Context, key config.ServiceKey) (*sockets, error) {
	a := key.Address
	v6 := a.Addr().Unmap().Is6()
	addr := netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	lc := net.ListenConfig{KeepAlive: -1, Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = freebind(int(fd), v6)
			if serr == nil && key.Protocol == config.TCP {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			}
		})
		return errors.Join(err, serr)
	}}
	network := "4"
	if v6 {
		network = "6"
	}
	switch key.Protocol {
	case config.TCP:
		ln, err := lc.Listen(ctx, "tcp"+network, addr.String())
		if err != nil {
			return nil, err
		}
		return &sockets{tcp: ln.(*net.TCPListener)}, nil
	case config.UDP:
		pc, err := lc.ListenPacket(ctx, "udp"+network, addr.String())
		if err != nil {
			return nil, err
		}
		return &sockets{udp: pc.(*net.UDPConn)}, nil
	}
	return nil, errors.New("unknown protocol")
}

func freebind(fd int, v6 bool) error {
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_FREEBIND, 1); err == nil {
			return nil
		}
		// Kernels before 4.15 have no IPV6_FREEBIND; IP_FREEBIND applies to
		// IPv6 sockets as well there.
	}
	return unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_FREEBIND, 1)
}

// tcpInfo reads the kernel's counters of a TCP socket without disturbing
// splice: segments and payload bytes received.
func tcpInfo(c *net.TCPConn) (segsIn uint32, bytesIn uint64, ok bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var info *unix.TCPInfo
	var serr error
	if err := rc.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || serr != nil {
		return 0, 0, false
	}
	return info.Segs_in, info.Bytes_received, true
}

// addrPort returns a net.Addr's address with IPv4-mapped IPv6 unmapped.
func addrPort(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch v := a.(type) {
	case *net.TCPAddr:
		ap = v.AddrPort()
	case *net.UDPAddr:
		ap = v.AddrPort()
	}
	return unmap(ap)
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
