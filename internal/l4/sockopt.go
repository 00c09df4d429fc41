package l4

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// sockets are the listening sockets of one service.
type sockets struct {
	tcp int // listening socket served by the relay loops; -1 for none
	udp *net.UDPConn
}

func (so *sockets) close() {
	if so.tcp >= 0 {
		_ = unix.Close(so.tcp)
		so.tcp = -1
	}
	if so.udp != nil {
		_ = so.udp.Close()
	}
}

// listen opens the socket of a service on VIP:port. IP_FREEBIND (or
// IPV6_FREEBIND) lets a VIP that is not yet on an interface be bound, as
// IPVS serves a VIP regardless of local addresses. TCP listeners use
// SO_REUSEADDR so a restart does not wait for TIME_WAIT sockets; UDP
// sockets do not, because on UDP it would let two sockets bind the same
// address and a port clash would go unnoticed. Like IPVS, nginx stream
// (so_keepalive off) and HAProxy (no clitcpka), the plane sends no TCP
// keep-alive probes: the connection table's state timeouts reap idle
// connections.
func listen(ctx context.Context, key config.ServiceKey) (*sockets, error) {
	a := key.Address
	v6 := a.Addr().Unmap().Is6()
	addr := netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	network := "4"
	if v6 {
		network = "6"
	}
	switch key.Protocol {
	case config.TCP:
		fd, err := listenTCP(addr, v6)
		if err != nil {
			return nil, &net.OpError{Op: "listen", Net: "tcp" + network, Addr: net.TCPAddrFromAddrPort(addr), Err: err}
		}
		return &sockets{tcp: fd}, nil
	case config.UDP:
		lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = freebind(int(fd), v6) })
			return errors.Join(err, serr)
		}}
		pc, err := lc.ListenPacket(ctx, "udp"+network, addr.String())
		if err != nil {
			return nil, err
		}
		return &sockets{tcp: -1, udp: pc.(*net.UDPConn)}, nil
	}
	return nil, errors.New("unknown protocol")
}

// listenTCP opens a non-blocking listening socket for the relay loops. It
// is made directly rather than with net.Listen, whose socket Go's netpoller
// would watch as well: the loops accept on it themselves. The errors name
// the system call, as net's do.
func listenTCP(a netip.AddrPort, v6 bool) (int, error) {
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	err = freebind(fd, v6)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if err == nil && v6 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	if err != nil {
		err = os.NewSyscallError("setsockopt", err)
	} else if err = unix.Bind(fd, sockaddr(a)); err != nil {
		err = os.NewSyscallError("bind", err)
	} else if err = unix.Listen(fd, listenBacklog); err != nil {
		err = os.NewSyscallError("listen", err)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

// listenBacklog is capped by the kernel at net.core.somaxconn, which is what
// Go's net.Listen asks for.
const listenBacklog = 65535

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
