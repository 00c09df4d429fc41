package sched

import (
	"net/netip"
	"sync/atomic"
)

// Destination flags, as in include/net/ip_vs.h.
const (
	// DestAvailable is IP_VS_DEST_F_AVAILABLE: the dest is in a service list.
	DestAvailable uint32 = 0x0001
	// DestOverload is IP_VS_DEST_F_OVERLOAD: the upper threshold was reached.
	DestOverload uint32 = 0x0002
)

// Dest is one real server as the schedulers see it (struct ip_vs_dest). Its
// counters are updated by the connection table through Bind, Unbind, Activate
// and Deactivate, and read lock-free by the schedulers.
type Dest struct {
	Addr netip.AddrPort

	weight     atomic.Int32
	lastWeight atomic.Int32 // last_weight: the weight given at add, then the latest non-zero one (mh)
	flags      atomic.Uint32
	uThreshold atomic.Uint32
	lThreshold atomic.Uint32

	activeConns  atomic.Int32
	inactConns   atomic.Int32
	persistConns atomic.Int32
}

// NewDest returns a dest that is not yet in any service.
func NewDest(addr netip.AddrPort, weight int32, upper, lower uint32) *Dest {
	d := &Dest{Addr: addr}
	d.set(weight, upper, lower, true)
	return d
}

// set updates weight and thresholds like __ip_vs_update_dest (ip_vs_ctl.c).
// last_weight takes the new weight on add (even 0: a dest revived from the
// trash with weight 0 forgets its old weight) and on any non-zero edit, so an
// edit to 0 keeps the latest non-zero weight that mh builds its table from.
// A zero or larger upper threshold clears the overload flag at once.
func (d *Dest) set(weight int32, upper, lower uint32, add bool) {
	if add || weight != 0 {
		d.lastWeight.Store(weight)
	}
	d.weight.Store(weight)
	old := d.uThreshold.Swap(upper)
	d.lThreshold.Store(lower)
	if upper == 0 || upper > old {
		d.clearFlag(DestOverload)
	}
}

// idle reports that no connection or template is bound to d, so forgetting
// it loses nothing a later re-add could revive.
func (d *Dest) idle() bool {
	return d.activeConns.Load() == 0 && d.inactConns.Load() == 0 && d.persistConns.Load() == 0
}

// Accessors for the fields of struct ip_vs_dest the schedulers and ipvsadm
// -L read; all are lock-free snapshots.

// Weight is the current weight; 0 means quiescent (no new connections).
func (d *Dest) Weight() int32 { return d.weight.Load() }

// LastWeight is last_weight: the weight given when the dest was added, then
// the latest non-zero weight it was edited to.
func (d *Dest) LastWeight() int32 { return d.lastWeight.Load() }

// ActiveConns is activeconns (ESTABLISHED TCP connections).
func (d *Dest) ActiveConns() int32 { return d.activeConns.Load() }

// InactConns is inactconns (every other connection).
func (d *Dest) InactConns() int32 { return d.inactConns.Load() }

// PersistConns is persistconns (persistence templates).
func (d *Dest) PersistConns() int32 { return d.persistConns.Load() }

// UThreshold is the upper connection threshold (-x), 0 if unset.
func (d *Dest) UThreshold() uint32 { return d.uThreshold.Load() }

// LThreshold is the lower connection threshold (-y), 0 if unset.
func (d *Dest) LThreshold() uint32 { return d.lThreshold.Load() }

// Flags are the IP_VS_DEST_F_* bits (DestAvailable, DestOverload).
func (d *Dest) Flags() uint32 { return d.flags.Load() }

// Overloaded reports IP_VS_DEST_F_OVERLOAD.
func (d *Dest) Overloaded() bool { return d.flags.Load()&DestOverload != 0 }

// Available reports IP_VS_DEST_F_AVAILABLE.
func (d *Dest) Available() bool { return d.flags.Load()&DestAvailable != 0 }

// Overhead is ip_vs_dest_conn_overhead (include/net/ip_vs.h): active
// connections weigh 256 times as much as inactive ones.
func (d *Dest) Overhead() int64 {
	return int64(d.activeConns.Load())<<8 + int64(d.inactConns.Load())
}

func (d *Dest) totalConns() int64 {
	return int64(d.activeConns.Load()) + int64(d.inactConns.Load())
}

func (d *Dest) setFlag(f uint32) {
	for {
		o := d.flags.Load()
		if o&f == f || d.flags.CompareAndSwap(o, o|f) {
			return
		}
	}
}

func (d *Dest) clearFlag(f uint32) {
	for {
		o := d.flags.Load()
		if o&f == 0 || d.flags.CompareAndSwap(o, o&^f) {
			return
		}
	}
}

// Bind accounts a new connection to d, like ip_vs_bind_dest (ip_vs_conn.c):
// templates count as persistent, every other new connection starts inactive;
// reaching the upper threshold sets the overload flag.
func (d *Dest) Bind(template bool) {
	if template {
		d.persistConns.Add(1)
	} else {
		d.inactConns.Add(1)
	}
	if u := d.uThreshold.Load(); u != 0 && d.totalConns() >= int64(u) {
		d.setFlag(DestOverload)
	}
}

// Unbind removes a connection from d's counters, like ip_vs_unbind_dest
// (ip_vs_conn.c), and clears the overload flag per the lower threshold, or
// below 3/4 of the upper threshold when no lower threshold is set.
func (d *Dest) Unbind(template, active bool) {
	switch {
	case template:
		d.persistConns.Add(-1)
	case active:
		d.activeConns.Add(-1)
	default:
		d.inactConns.Add(-1)
	}
	l, u := d.lThreshold.Load(), d.uThreshold.Load()
	switch {
	case l != 0:
		if d.totalConns() < int64(l) {
			d.clearFlag(DestOverload)
		}
	case u != 0:
		if d.totalConns()*4 < int64(u)*3 {
			d.clearFlag(DestOverload)
		}
	default:
		d.clearFlag(DestOverload)
	}
}

// Activate moves a connection from inactive to active (a TCP connection
// entering ESTABLISHED, set_tcp_state in ip_vs_proto_tcp.c).
func (d *Dest) Activate() {
	d.inactConns.Add(-1)
	d.activeConns.Add(1)
}

// Deactivate moves a connection from active to inactive (leaving ESTABLISHED).
func (d *Dest) Deactivate() {
	d.activeConns.Add(-1)
	d.inactConns.Add(1)
}

// eligible is the test every scheduler but lblc's cache hit applies: the
// dest takes new connections (weight > 0) and is not over its upper
// connection threshold (IP_VS_DEST_F_OVERLOAD).
func eligible(d *Dest) bool { return d.Weight() > 0 && !d.Overloaded() }
