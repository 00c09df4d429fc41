package vrrp

import (
	"context"
	"net/netip"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/notify"
)

// Notifier receives state-change notifications; *notify.Notifier
// satisfies it.
type Notifier interface {
	Notify(ev notify.Event)
}

// ScriptRunner runs vrrp_script checks; *notify.Notifier satisfies it.
// Exit code 0 is success; an error (refused, timed out) is a failure.
type ScriptRunner interface {
	RunScript(ctx context.Context, s *config.Script, args []string, timeout time.Duration) (exitCode int, err error)
}

// Clock is the time source of a Node. The default is the real clock;
// tests run Nodes inside a testing/synctest bubble, where the real clock
// is already fake, or inject their own.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer a Node uses.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer {
	return realTimer{time.NewTimer(d)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTimer) Stop()                 { t.t.Stop() }

// Conn is one instance's advertisement channel: a raw IP socket bound to
// the instance's interface (multicast) or to its unicast peers.
type Conn interface {
	// Send sends one VRRP message to dst (the group or a peer). The IP
	// layer adds TTL/hop limit 255 and TOS/traffic class 0xc0.
	Send(msg []byte, dst netip.Addr) error
	// Recv blocks for the next packet; it fails once the Conn is closed.
	Recv() (Packet, error)
	// LocalAddr is the source address of our adverts: the configured
	// unicast_src_ip/mcast_src_ip, else the interface's primary IPv4
	// address or IPv6 link-local address.
	LocalAddr() netip.Addr
	Close() error
}

// ConnConfig says what to open.
type ConnConfig struct {
	Interface string
	IPv6      bool
	// Src is the configured source address (zero: the interface's).
	Src netip.Addr
	// Unicast: adverts go to peers, and the multicast group is not joined.
	Unicast bool
}

// Transport opens Conns; RawTransport is the real one.
type Transport interface {
	Open(ctx context.Context, c ConnConfig) (Conn, error)
}

// Address is a virtual address to add or remove (a virtual_ipaddress or
// virtual_ipaddress_excluded line).
type Address struct {
	Link      string // interface (or VMAC interface) to put it on
	Prefix    netip.Prefix
	Broadcast netip.Addr
	Scope     string
	Label     string
}

// Route is one virtual_routes line, parsed (see ParseRoute).
type Route struct {
	Dst      netip.Prefix
	Src      netip.Addr
	Via      netip.Addr
	Dev      string
	Scope    string
	Table    int
	Metric   int
	Type     string // "" (unicast), "blackhole", "unreachable", "prohibit"
	Original string
}

// VMAC describes keepalived's use_vmac interface: a macvlan in private
// mode named vrrp.VRID (vrrp6.VRID for IPv6 instances here), with the
// virtual router's MAC.
type VMAC struct {
	Name   string
	Parent string
	MAC    [6]byte
}

// Effects changes the host: addresses, routes, announcements, VMACs and
// link state. NetlinkEffects is the real one; vrrptest.Recorder records.
// Removing something that is not there is not an error.
type Effects interface {
	AddAddress(ctx context.Context, a Address) error
	DelAddress(ctx context.Context, a Address) error
	AddRoute(ctx context.Context, r Route) error
	DelRoute(ctx context.Context, r Route) error
	// Announce sends one gratuitous ARP (IPv4) or unsolicited NA (IPv6)
	// per address from link's MAC address.
	Announce(ctx context.Context, link string, addrs []netip.Addr) error
	AddVMAC(ctx context.Context, v VMAC) error
	DelVMAC(ctx context.Context, name string) error
	// LinkUp reports whether the interface is administratively up and
	// has carrier (IFF_UP and IFF_RUNNING, as keepalived's IF_ISUP).
	LinkUp(name string) (bool, error)
}
