package conntab

import (
	"net/netip"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// A connection whose owner is done with it (the proxy closed both sockets)
// stays in the table for its state's timeout, TIME_WAIT's 120 s for most:
// at a few thousand connections a second that is hundreds of thousands of
// entries that only a listing, the counters and the sweep still need. As
// *Entry objects they are pointer-rich (list links, dest, table, netip
// zone handles), and the garbage collector walks every one of them on every
// cycle, which shows as tail latency in everything else the process does.
// Release therefore moves such an entry into a per-shard slice of
// pointer-free records (a noscan allocation the collector never walks);
// the few pointers a record still needs (its dest, its controlling
// template) are shared per shard in a small reference table.

// packedAddrPort is a netip.AddrPort without pointers: netip.Addr keeps its
// address family and zone behind a unique.Handle.
type packedAddrPort struct {
	ip   [16]byte
	port uint16
	kind uint8 // 0 invalid, 4 or 6
}

// pack reports false for an address it cannot hold (an IPv6 zone).
func pack(a netip.AddrPort) (packedAddrPort, bool) {
	ip := a.Addr()
	switch {
	case !ip.IsValid():
		return packedAddrPort{}, true
	case ip.Zone() != "":
		return packedAddrPort{}, false
	case ip.Is4():
		return packedAddrPort{ip: ip.As16(), port: a.Port(), kind: 4}, true
	}
	return packedAddrPort{ip: ip.As16(), port: a.Port(), kind: 6}, true
}

func (p packedAddrPort) unpack() netip.AddrPort {
	switch p.kind {
	case 4:
		return netip.AddrPortFrom(netip.AddrFrom16(p.ip).Unmap(), p.port)
	case 6:
		return netip.AddrPortFrom(netip.AddrFrom16(p.ip), p.port)
	}
	return netip.AddrPort{}
}

// released is a released connection entry; it holds no pointers.
type released struct {
	client, virtual, daddr packedAddrPort
	fwmark                 uint32
	ref                    uint32 // index in shard.refs
	lastSeen, timeout      int64
	proto                  Proto
	state                  State
	inactive               bool
}

// refKey is what a released entry still points to.
type refKey struct {
	dest *sched.Dest
	ctl  *Entry
}

type refSlot struct {
	refKey
	n int // released entries using the slot; 0 = free
}

// refs is a shard's table of refKeys, shared by its released entries.
type refs struct {
	slots []refSlot
	free  []uint32
	index map[refKey]uint32
}

func (r *refs) get(k refKey) uint32 {
	if i, ok := r.index[k]; ok {
		r.slots[i].n++
		return i
	}
	if r.index == nil {
		r.index = map[refKey]uint32{}
	}
	var i uint32
	if n := len(r.free); n > 0 {
		i = r.free[n-1]
		r.free = r.free[:n-1]
		r.slots[i] = refSlot{refKey: k, n: 1}
	} else {
		i = uint32(len(r.slots))
		r.slots = append(r.slots, refSlot{refKey: k, n: 1})
	}
	r.index[k] = i
	return i
}

// put drops one use of slot i and returns what it refers to.
func (r *refs) put(i uint32) refKey {
	s := &r.slots[i]
	k := s.refKey
	if s.n--; s.n == 0 {
		delete(r.index, k)
		s.refKey = refKey{}
		r.free = append(r.free, i)
	}
	return k
}

// Release tells the table that e's owner is done with it: the OnExpire
// callback is dropped (nothing is left for it to clean up) and the handle
// is detached, its methods reporting the entry as it was. A connection
// entry that is not in the lookup index stays listed, counted and bound to
// its dest as before, in compact form, until its timer runs out; an indexed
// entry or a template stays as it is.
func (e *Entry) Release() {
	sh := e.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.onExpire = nil
	if e.dead || e.hashed || e.template {
		return
	}
	r := released{fwmark: e.fwmark, lastSeen: e.lastSeen, timeout: e.timeout,
		proto: e.proto, state: e.state, inactive: e.inactive}
	var ok1, ok2, ok3 bool
	r.client, ok1 = pack(e.client)
	r.virtual, ok2 = pack(e.virtual)
	r.daddr, ok3 = pack(e.daddr)
	if !ok1 || !ok2 || !ok3 {
		return
	}
	r.ref = sh.refs.get(refKey{dest: e.dest, ctl: e.control})
	sh.unlink(e)
	e.dead = true // the handle is done with: no expiry, events or control
	sh.released = append(sh.released, r)
}

// unlink takes e off the shard list. Called with sh.mu held.
func (sh *shard) unlink(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// sweepReleased removes the released entries whose timer ran out (all of
// them when force) and returns how many; the order of the rest is kept.
// Called with sh.mu held.
func (t *Table) sweepReleased(sh *shard, now int64, force bool) int {
	kept := sh.released[:0]
	n := 0
	for _, r := range sh.released {
		if !force && now-r.lastSeen < r.timeout {
			kept = append(kept, r)
			continue
		}
		t.dropReleased(sh, &r)
		n++
	}
	clear(sh.released[len(kept):])
	sh.released = kept
	return n
}

// dropReleased is expireLocked for a released entry. Called with sh.mu held.
func (t *Table) dropReleased(sh *shard, r *released) {
	k := sh.refs.put(r.ref)
	t.left(k.ctl, k.dest, false, !r.inactive)
}

// evictReleased removes the shard's oldest released entry, if any. Called
// with sh.mu held.
func (t *Table) evictReleased(sh *shard) bool {
	if len(sh.released) == 0 {
		return false
	}
	t.dropReleased(sh, &sh.released[0])
	sh.released = sh.released[1:]
	if len(sh.released) == 0 {
		sh.released = nil
	}
	return true
}

func (r *released) info(now int64) Info {
	return Info{
		Proto:   r.proto,
		Client:  r.client.unpack(),
		Virtual: r.virtual.unpack(),
		FWMark:  r.fwmark,
		Dest:    r.daddr.unpack(),
		State:   r.state,
		Active:  !r.inactive,
		Expires: time.Duration(max(r.lastSeen+r.timeout-now, 0)),
	}
}
