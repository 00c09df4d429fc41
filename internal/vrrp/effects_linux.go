package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetlinkEffects is the real Effects: addresses, routes and macvlan
// interfaces through rtnetlink (github.com/vishvananda/netlink), and
// announcements as whole Ethernet frames through an AF_PACKET socket.
// Its zero value is ready to use.
type NetlinkEffects struct {
	mu  sync.Mutex
	pkt map[int]int // ifindex -> AF_PACKET socket
}

var _ Effects = (*NetlinkEffects)(nil)

var scopes = map[string]netlink.Scope{
	"global": netlink.SCOPE_UNIVERSE, "site": netlink.SCOPE_SITE, "link": netlink.SCOPE_LINK,
	"host": netlink.SCOPE_HOST, "nowhere": netlink.SCOPE_NOWHERE,
}

func parseScope(s string) (netlink.Scope, error) {
	if s == "" {
		return netlink.SCOPE_UNIVERSE, nil
	}
	if sc, ok := scopes[s]; ok {
		return sc, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("unknown scope %q", s)
	}
	return netlink.Scope(n), nil
}

func nlAddr(a Address) (*netlink.Addr, error) {
	sc, err := parseScope(a.Scope)
	if err != nil {
		return nil, err
	}
	p := a.Prefix
	na := &netlink.Addr{
		IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Label: a.Label,
		Scope: int(sc),
	}
	if a.Broadcast.IsValid() {
		na.Broadcast = a.Broadcast.AsSlice()
	}
	if p.Addr().Is6() {
		// No duplicate address detection: VRRP decides who owns the
		// address, and a tentative address could not be used for ~1 s.
		na.Flags = unix.IFA_F_NODAD
	}
	return na, nil
}

// AddAddress implements Effects.
func (e *NetlinkEffects) AddAddress(ctx context.Context, a Address) error {
	link, err := netlink.LinkByName(a.Link)
	if err != nil {
		return fmt.Errorf("link %s: %w", a.Link, err)
	}
	na, err := nlAddr(a)
	if err != nil {
		return err
	}
	if err := netlink.AddrReplace(link, na); err != nil {
		return fmt.Errorf("add %s to %s: %w", a.Prefix, a.Link, err)
	}
	return nil
}

// DelAddress implements Effects.
func (e *NetlinkEffects) DelAddress(ctx context.Context, a Address) error {
	link, err := netlink.LinkByName(a.Link)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("link %s: %w", a.Link, err)
	}
	na, err := nlAddr(a)
	if err != nil {
		return err
	}
	na.Label = "" // matched by address and prefix length
	if err := netlink.AddrDel(link, na); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("remove %s from %s: %w", a.Prefix, a.Link, err)
	}
	return nil
}

var routeTypes = map[string]int{"": unix.RTN_UNICAST, "blackhole": unix.RTN_BLACKHOLE, "unreachable": unix.RTN_UNREACHABLE, "prohibit": unix.RTN_PROHIBIT}

func nlRoute(r Route) (*netlink.Route, error) {
	sc, err := parseScope(r.Scope)
	if err != nil {
		return nil, err
	}
	nr := &netlink.Route{
		Dst:      &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Table:    r.Table,
		Priority: r.Metric,
		Type:     routeTypes[r.Type],
		Scope:    sc,
	}
	if r.Scope == "" && !r.Via.IsValid() && r.Type == "" {
		nr.Scope = netlink.SCOPE_LINK
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.Via.IsValid() {
		nr.Gw = r.Via.AsSlice()
	}
	if r.Dev != "" && r.Type == "" {
		link, err := netlink.LinkByName(r.Dev)
		if err != nil {
			return nil, fmt.Errorf("link %s: %w", r.Dev, err)
		}
		nr.LinkIndex = link.Attrs().Index
	}
	return nr, nil
}

// AddRoute implements Effects.
func (e *NetlinkEffects) AddRoute(ctx context.Context, r Route) error {
	nr, err := nlRoute(r)
	if err != nil {
		return err
	}
	if err := netlink.RouteReplace(nr); err != nil {
		return fmt.Errorf("add route %q: %w", r.Original, err)
	}
	return nil
}

// DelRoute implements Effects.
func (e *NetlinkEffects) DelRoute(ctx context.Context, r Route) error {
	nr, err := nlRoute(r)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	if err := netlink.RouteDel(nr); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove route %q: %w", r.Original, err)
	}
	return nil
}

// Announce implements Effects: one gratuitous ARP or unsolicited NA per
// address, from the link's own MAC (the VMAC on a use_vmac interface).
func (e *NetlinkEffects) Announce(ctx context.Context, link string, addrs []netip.Addr) error {
	ifi, err := net.InterfaceByName(link)
	if err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil // not Ethernet: nothing to announce
	}
	fd, err := e.packetSocket(ifi.Index)
	if err != nil {
		return err
	}
	router := forwarding6(link)
	var errs []error
	for _, a := range addrs {
		var frame []byte
		var proto uint16
		if a.Is4() {
			frame, err = GratuitousARP(ifi.HardwareAddr, a)
			proto = etherTypeARP
		} else {
			frame, err = UnsolicitedNA(ifi.HardwareAddr, a, router)
			proto = etherTypeIPv6
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sa := &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: ifi.Index, Halen: 6}
		copy(sa.Addr[:], frame[:6])
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			errs = append(errs, fmt.Errorf("send on %s: %w", link, err))
		}
	}
	return errors.Join(errs...)
}

// packetSocket returns a send-only AF_PACKET socket (protocol 0: it
// receives nothing) for ifindex, kept open across announcements.
func (e *NetlinkEffects) packetSocket(ifindex int) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if fd, ok := e.pkt[ifindex]; ok {
		return fd, nil
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("packet socket: %w", err)
	}
	if e.pkt == nil {
		e.pkt = map[int]int{}
	}
	e.pkt[ifindex] = fd
	return fd, nil
}

// Close releases the packet sockets.
func (e *NetlinkEffects) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, fd := range e.pkt {
		unix.Close(fd)
		delete(e.pkt, i)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// forwarding6 reports net.ipv6.conf.LINK.forwarding, which decides the
// Router flag of keepalived's unsolicited NA (vrrp_ndisc.c).
func forwarding6(link string) bool {
	b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv6/conf", link, "forwarding"))
	return err == nil && len(b) > 0 && b[0] == '1'
}

// AddVMAC implements Effects: keepalived's use_vmac (vrrp_vmac.c) - a
// private-mode macvlan with the virtual MAC, up, with arp_ignore=1 on the
// base interface and arp_ignore=1, accept_local=1, rp_filter=0 on the
// macvlan, so only the VMAC answers ARP for the addresses it holds.
func (e *NetlinkEffects) AddVMAC(ctx context.Context, v VMAC) error {
	parent, err := netlink.LinkByName(v.Parent)
	if err != nil {
		return fmt.Errorf("link %s: %w", v.Parent, err)
	}
	if old, err := netlink.LinkByName(v.Name); err == nil {
		if err := netlink.LinkDel(old); err != nil {
			return fmt.Errorf("remove stale %s: %w", v.Name, err)
		}
	}
	mv := &netlink.Macvlan{
		LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: parent.Attrs().Index, HardwareAddr: net.HardwareAddr(v.MAC[:])},
		Mode:      netlink.MACVLAN_MODE_PRIVATE,
	}
	if err := netlink.LinkAdd(mv); err != nil {
		return fmt.Errorf("create %s: %w", v.Name, err)
	}
	var errs []error
	for _, s := range []struct{ link, key, val string }{
		{v.Parent, "arp_ignore", "1"},
		{v.Name, "arp_ignore", "1"},
		{v.Name, "accept_local", "1"},
		{v.Name, "rp_filter", "0"},
	} {
		if err := os.WriteFile(filepath.Join("/proc/sys/net/ipv4/conf", s.link, s.key), []byte(s.val), 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	if err := netlink.LinkSetUp(mv); err != nil {
		errs = append(errs, fmt.Errorf("set %s up: %w", v.Name, err))
	}
	return errors.Join(errs...)
}

// DelVMAC implements Effects.
func (e *NetlinkEffects) DelVMAC(ctx context.Context, name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	return netlink.LinkDel(l)
}

// LinkUp implements Effects.
func (e *NetlinkEffects) LinkUp(name string) (bool, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return false, err
	}
	f := l.Attrs().RawFlags
	return f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING != 0, nil
}
