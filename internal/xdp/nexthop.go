package xdp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NextHop is where the director sends packets for one real server: the
// egress interface, its MAC and MTU, the neighbour's MAC (the real server
// itself on the same L2 for DR, or the gateway towards it for TUN and NAT)
// and the director's source address on that route (the outer source of
// IPIP).
type NextHop struct {
	Ifindex int
	SrcMAC  net.HardwareAddr
	DstMAC  net.HardwareAddr
	MTU     int
	Src     netip.Addr
}

// ErrNoNeighbour is returned while the neighbour entry of a next hop is
// being resolved; the plane retries on every sweep.
var ErrNoNeighbour = errors.New("neighbour not resolved yet")

// Resolver finds the next hop of a real server. The default asks the
// kernel's routing and neighbour tables over netlink; tests inject fixed
// answers.
type Resolver interface {
	Resolve(ctx context.Context, addr netip.Addr) (NextHop, error)
}

// netlinkResolver is the default Resolver: route lookup, then the neighbour
// table of the route's device. A missing neighbour is provoked by sending a
// datagram to the discard port (RFC 863), which makes the kernel ARP for
// it, and polled for briefly.
type netlinkResolver struct {
	nsPath string
	wait   time.Duration
}

func (r *netlinkResolver) handle() (*netlink.Handle, error) {
	if r.nsPath == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(r.nsPath)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", r.nsPath, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

func (r *netlinkResolver) Resolve(ctx context.Context, addr netip.Addr) (NextHop, error) {
	h, err := r.handle()
	if err != nil {
		return NextHop{}, err
	}
	defer h.Close()
	routes, err := h.RouteGet(addr.AsSlice())
	if err != nil || len(routes) == 0 {
		return NextHop{}, fmt.Errorf("no route to %s: %w", addr, err)
	}
	rt := routes[0]
	lk, err := h.LinkByIndex(rt.LinkIndex)
	if err != nil {
		return NextHop{}, fmt.Errorf("route to %s: device %d: %w", addr, rt.LinkIndex, err)
	}
	attrs := lk.Attrs()
	nh := NextHop{Ifindex: attrs.Index, SrcMAC: attrs.HardwareAddr, MTU: attrs.MTU}
	if a, ok := netip.AddrFromSlice(rt.Src); ok {
		nh.Src = a.Unmap()
	}
	if rt.Type == 2 /* RTN_LOCAL */ || attrs.Flags&net.FlagLoopback != 0 {
		return NextHop{}, fmt.Errorf("%s is a local address of the director", addr)
	}
	hop := addr
	if gw, ok := netip.AddrFromSlice(rt.Gw); ok && gw.IsValid() && !gw.IsUnspecified() {
		hop = gw.Unmap()
	}
	deadline := time.Now().Add(r.wait)
	poked := false
	for {
		if mac := lookupNeigh(h, nh.Ifindex, hop); mac != nil {
			nh.DstMAC = mac
			return nh, nil
		}
		if !poked {
			poked = true
			_ = InNetNS(r.nsPath, func() error { return poke(hop) })
		}
		if time.Now().After(deadline) {
			return nh, fmt.Errorf("next hop %s of %s: %w", hop, addr, ErrNoNeighbour)
		}
		select {
		case <-ctx.Done():
			return nh, fmt.Errorf("next hop %s of %s: %w (%w)", hop, addr, ErrNoNeighbour, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func lookupNeigh(h *netlink.Handle, ifindex int, ip netip.Addr) net.HardwareAddr {
	fam := netlink.FAMILY_V4
	if ip.Is6() {
		fam = netlink.FAMILY_V6
	}
	ns, err := h.NeighList(ifindex, fam)
	if err != nil {
		return nil
	}
	const usable = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT | netlink.NUD_NOARP
	for _, n := range ns {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == ip && n.State&usable != 0 && len(n.HardwareAddr) == 6 {
			return n.HardwareAddr
		}
	}
	return nil
}

// poke makes the kernel resolve ip by sending it one empty datagram.
func poke(ip netip.Addr) error {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 9)))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write(nil)
	return err
}
