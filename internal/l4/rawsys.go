package l4

import (
	"encoding/binary"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The relay loops' system calls never block: every descriptor they touch is
// non-blocking, and closing a socket does not wait (no SO_LINGER timeout).
// So they are made raw, without the scheduler's entersyscall/exitsyscall.
// That also keeps sysmon from handing the loop's P to another thread while
// a connect or close runs for tens of microseconds on loopback (with
// GOMAXPROCS=1 no P is idle, so it would, after 20 µs): the loop keeps its
// thread, as an nginx worker does. EINTR is retried.
//
// Every pointer is converted to uintptr in the argument list of
// syscall.RawSyscall6 itself (unsafe.Pointer rule 4): only there does the
// compiler keep the object alive and in place for the call. Through a
// wrapper taking uintptrs, a stack variable could move (stack growth)
// between the conversion and the system call.

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// raw6 is for system calls without pointer arguments.
func raw6(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, error) {
	for {
		r, _, e := syscall.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
		if e != unix.EINTR {
			return r, errnoErr(e)
		}
	}
}

// splice moves up to n bytes without blocking; 0 bytes and no error is the
// end of the source.
func splice(from, to, n int) (int, error) {
	r, err := raw6(unix.SYS_SPLICE, uintptr(from), 0, uintptr(to), 0, uintptr(n),
		unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	return int(r), err
}

func read(fd int, b []byte) (int, error) {
	for {
		r, _, e := syscall.RawSyscall6(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
		if e != unix.EINTR {
			return int(r), errnoErr(e)
		}
	}
}

func write(fd int, b []byte) (int, error) {
	for {
		r, _, e := syscall.RawSyscall6(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
		if e != unix.EINTR {
			return int(r), errnoErr(e)
		}
	}
}

func closeFd(fd int) {
	_, _ = raw6(unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
}

func shutdownWrite(fd int) {
	_, _ = raw6(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_WR, 0, 0, 0, 0)
}

func setsockoptInt(fd, level, opt, v int) error {
	val := int32(v)
	for {
		_, _, e := syscall.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
			uintptr(unsafe.Pointer(&val)), 4, 0)
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

func getsockoptInt(fd, level, opt int) (int, error) {
	var val int32
	n := uint32(4)
	for {
		_, _, e := syscall.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
			uintptr(unsafe.Pointer(&val)), uintptr(unsafe.Pointer(&n)), 0)
		if e != unix.EINTR {
			return int(val), errnoErr(e)
		}
	}
}

// tcpInfo reads the kernel's counters of a TCP socket without disturbing
// splice: segments and payload bytes received.
func tcpInfo(fd int) (segsIn uint32, bytesIn uint64, ok bool) {
	if fd < 0 {
		return 0, 0, false
	}
	var info unix.TCPInfo
	n := uint32(unsafe.Sizeof(info))
	for {
		_, _, e := syscall.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, 0, false
		}
		return info.Segs_in, info.Bytes_received, true
	}
}

func epollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	for {
		_, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
		if e != unix.EINTR {
			return errnoErr(e)
		}
	}
}

// epollPoll collects ready events without waiting.
func epollPoll(epfd int, evs []unix.EpollEvent) int {
	for {
		r, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0
		}
		return int(r)
	}
}

// accept4 accepts a connection, non-blocking and close-on-exec, and
// returns its peer address (IPv4-mapped IPv6 unmapped). Unlike
// unix.Accept4 it asks nothing more of the kernel (that one reads
// SO_PROTOCOL of every AF_INET socket to recognise L2TP).
func accept4(fd int) (int, netip.AddrPort, error) {
	var sa unix.RawSockaddrAny
	n := uint32(unsafe.Sizeof(sa))
	for {
		r, _, e := syscall.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n)),
			unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, netip.AddrPort{}, e
		}
		return int(r), rawAddrPort(&sa), nil
	}
}

func rawAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		in := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), port)
	case unix.AF_INET6:
		in := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&in.Port))[:])
		return unmap(netip.AddrPortFrom(netip.AddrFrom16(in.Addr), port))
	}
	return netip.AddrPort{}
}

// dialNonblock starts connecting to a; completion is reported by epoll.
func dialNonblock(a netip.AddrPort) (int, error) {
	family := unix.AF_INET
	if !a.Addr().Is4() {
		family = unix.AF_INET6
	}
	r, err := raw6(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0, 0, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fd := int(r)
	_ = setsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], a.Port())
	var e syscall.Errno
	if a.Addr().Is4() {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Addr().As4()}
		sa.Port = *(*uint16)(unsafe.Pointer(&port))
		for e = unix.EINTR; e == unix.EINTR; {
			_, _, e = syscall.RawSyscall6(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa), 0, 0, 0)
		}
	} else {
		sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.Addr().As16()}
		sa.Port = *(*uint16)(unsafe.Pointer(&port))
		for e = unix.EINTR; e == unix.EINTR; {
			_, _, e = syscall.RawSyscall6(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa), 0, 0, 0)
		}
	}
	if e != 0 && e != unix.EINPROGRESS {
		closeFd(fd)
		return -1, os.NewSyscallError("connect", e)
	}
	return fd, nil
}

// resetFd closes fd with SO_LINGER 0, so the peer gets a RST.
func resetFd(fd int) {
	lg := unix.Linger{Onoff: 1, Linger: 0}
	_, _, _ = syscall.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER,
		uintptr(unsafe.Pointer(&lg)), unsafe.Sizeof(lg), 0)
	closeFd(fd)
}
