package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// The loopback guard: after the proxies and backends have started, every
// socket they listen on (TCP LISTEN, unconnected bound UDP) must be on a
// loopback address. A peer whose config would bind a wildcard address
// (Caddy does unless told "bind") stops the run before any traffic.

// socketEntry is one line of /proc/net/{tcp,tcp6,udp,udp6} (proc(5)).
type socketEntry struct {
	local, remote netip.AddrPort
	state         int
	inode         uint64
}

// tcpListen is TCP_LISTEN in include/net/tcp_states.h; an unconnected UDP
// socket shows TCP_CLOSE (7) and a zero remote address.
const (
	tcpListen = 0x0A
	tcpClose  = 0x07
)

// parseProcNet parses /proc/net/tcp-style text, skipping its header.
func parseProcNet(text string) ([]socketEntry, error) {
	var out []socketEntry
	for i, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if i == 0 {
			continue // header
		}
		f := strings.Fields(line)
		if len(f) < 10 {
			return nil, fmt.Errorf("short line %q", line)
		}
		local, err1 := parseHexAddrPort(f[1])
		remote, err2 := parseHexAddrPort(f[2])
		state, err3 := strconv.ParseUint(f[3], 16, 8)
		inode, err4 := strconv.ParseUint(f[9], 10, 64)
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
		}
		out = append(out, socketEntry{local: local, remote: remote, state: int(state), inode: inode})
	}
	return out, nil
}

// parseHexAddrPort reads "0100007F:1F90": the address as the kernel's
// 32-bit words printed in host byte order, the port in plain hex.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || (len(a) != 8 && len(a) != 32) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		w := binary.BigEndian.Uint32(raw[i:])
		binary.NativeEndian.PutUint32(raw[i:], w)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", s)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// socketInodes returns the inodes of the sockets pid holds open.
func socketInodes(pid int) map[uint64]bool {
	out := map[uint64]bool{}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		l, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		if s, ok := strings.CutPrefix(l, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				out[n] = true
			}
		}
	}
	return out
}

// listener is a listening socket of a process the harness started.
type listener struct {
	proc  string
	pid   int
	table string // tcp, tcp6, udp, udp6
	addr  netip.AddrPort
}

func (l listener) String() string {
	return fmt.Sprintf("%s (pid %d) listens on %s %s", l.proc, l.pid, l.table, l.addr)
}

// listeners lists the listening sockets of the given processes and their
// descendants.
func listeners(ps []*proc) ([]listener, error) {
	tables := map[string][]socketEntry{}
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile("/proc/net/" + name)
		if err != nil {
			if name == "tcp6" || name == "udp6" {
				continue // IPv6 disabled
			}
			return nil, err
		}
		es, err := parseProcNet(string(b))
		if err != nil {
			return nil, fmt.Errorf("/proc/net/%s: %w", name, err)
		}
		tables[name] = es
	}
	all := allProcs()
	var out []listener
	for _, p := range ps {
		for _, pid := range tree(all, p.pid()) {
			inodes := socketInodes(pid)
			for name, es := range tables {
				for _, e := range es {
					if inodes[e.inode] && listening(name, e) {
						out = append(out, listener{proc: p.name, pid: pid, table: name, addr: e.local})
					}
				}
			}
		}
	}
	return out, nil
}

// nonLoopback keeps the listeners that are not on a loopback address.
func nonLoopback(ls []listener) []string {
	var bad []string
	for _, l := range ls {
		if !l.addr.Addr().IsLoopback() {
			bad = append(bad, l.String())
		}
	}
	return bad
}

func listening(table string, e socketEntry) bool {
	if strings.HasPrefix(table, "tcp") {
		return e.state == tcpListen
	}
	return e.state == tcpClose && e.remote.Addr().IsUnspecified()
}
