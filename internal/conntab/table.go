package conntab

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// ErrFull is returned by Insert when the table is bounded, full, and holds
// no inactive entry that could be evicted.
var ErrFull = errors.New("connection table full")

// DefaultBits is CONFIG_IP_VS_TAB_BITS's default: 12 -> 4096 buckets, which
// ipvsadm prints as "(size=4096)".
const DefaultBits = 12

// templateRetry is how long a template that still controls connections is
// kept when its timer fires: ip_vs_conn_expire's expire_later path sets
// cp->timeout = 60*HZ and re-arms.
const templateRetry = 60 * time.Second

// newConnTimeout is the timeout ip_vs_conn_new gives a fresh entry before
// its first state transition (cp->timeout = 3*HZ).
const newConnTimeout = 3 * time.Second

const numShards = 64

// Options configures a Table.
type Options struct {
	// Bits is the reported table size as 1<<Bits (ip_vs.conn_tab_bits);
	// 0 means DefaultBits. Values are clamped to 8..27 like ip_vs_conn_init.
	// Entries are never limited by it, as in the kernel.
	Bits int
	// MaxEntries bounds the table; 0 means unbounded (the kernel's
	// behaviour). When full, Insert evicts the oldest inactive entry.
	MaxEntries int
	// Now is the clock; nil means time.Now. Tests inject a fake clock.
	Now func() time.Time
	// Timeouts are the initial --set timeouts; zero fields take the
	// kernel defaults.
	Timeouts Timeouts
}

// Key identifies an entry in the lookup index: a UDP flow
// <proto, caddr, cport, vaddr, vport> or a persistence template
// <proto, caddr&mask, 0, vaddr, vport> (ip_vs_ct_in_get). Fwmark templates
// use ProtoIP, a zero Virtual and the mark.
type Key struct {
	Proto   Proto
	Client  netip.AddrPort
	Virtual netip.AddrPort
	FWMark  uint32
}

// Params describe a new entry (the arguments of ip_vs_conn_new).
type Params struct {
	Key
	// Dest is the real server address shown in listings (daddr:dport).
	Dest netip.AddrPort
	// DestRef is the scheduler's dest the entry is bound to
	// (ip_vs_bind_dest); nil for an unbound entry.
	DestRef *sched.Dest
	// Template marks a persistence template (IP_VS_CONN_F_TEMPLATE).
	Template bool
	// Timeout is a template's timeout (svc->timeout); ignored otherwise.
	Timeout time.Duration
	// NoOutput selects the INPUT-ONLY TCP table until an output packet is
	// seen (IP_VS_CONN_F_NOOUTPUT, direct routing and tunnels).
	NoOutput bool
	// Hashed puts the entry in the lookup index so Lookup finds it.
	Hashed bool
	// OnExpire, if set, runs once after the entry left the table (expiry,
	// Expire or eviction), outside the table's locks. Because eviction
	// happens inside Insert, it must not wait for locks the caller of
	// Insert holds.
	OnExpire func()
}

// Entry is one connection or template (struct ip_vs_conn).
type Entry struct {
	t        *Table
	sh       *shard
	proto    Proto
	client   netip.AddrPort
	fwmark   uint32
	dest     *sched.Dest
	template bool
	hashed   bool
	onExpire func() // guarded by mu

	// nControl counts the connections this template controls
	// (cp->n_control).
	nControl atomic.Int32

	mu       sync.Mutex
	virtual  netip.AddrPort // vaddr:vport; vport 0xffff once invalidated
	daddr    netip.AddrPort // daddr:dport; dport 0xffff once invalidated
	state    State
	inactive bool // IP_VS_CONN_F_INACTIVE
	noOutput bool // IP_VS_CONN_F_NOOUTPUT
	dead     bool // left the table, or Release moved it to shard.released
	invalid  bool
	lastSeen int64 // ns since the table's epoch, when the timer was last armed
	timeout  int64 // ns, cp->timeout
	control  *Entry

	prev, next *Entry // shard list, oldest first
}

// Table is the connection table: sharded, with one lock per shard, an
// intrusive list per shard in insertion order (for sweeping and eviction)
// and an index for keyed lookups. Expiry is a periodic Sweep over all
// entries: re-arming a timer on traffic is a store under the entry's own
// lock, no timer object exists per entry.
type Table struct {
	bits  int
	max   int
	now   func() time.Time
	epoch time.Time

	tcpTimeouts [numTCPStates]atomic.Int64
	udpTimeout  atomic.Int64

	count    atomic.Int64
	evictPos atomic.Uint32
	shards   [numShards]shard
}

type shard struct {
	mu         sync.Mutex
	head, tail *Entry
	index      map[Key]*Entry
	released   []released // in Release order
	refs       refs
	_          [40]byte // keep hot shard locks on separate cache lines
}

// New returns an empty table.
func New(opt Options) *Table {
	bits := opt.Bits
	if bits == 0 {
		bits = DefaultBits
	}
	bits = min(max(bits, 8), 27)
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	t := &Table{bits: bits, max: max(opt.MaxEntries, 0), now: now, epoch: now()}
	for i, d := range defaultStateTimeouts {
		t.tcpTimeouts[i].Store(int64(d))
	}
	t.udpTimeout.Store(int64(DefaultTimeouts.UDP))
	t.SetTimeouts(opt.Timeouts)
	for i := range t.shards {
		t.shards[i].index = map[Key]*Entry{}
	}
	return t
}

// Size is the reported table size, 1<<Bits.
func (t *Table) Size() int { return 1 << t.bits }

// Len is the number of entries, templates included (ipvs->conn_count).
func (t *Table) Len() int { return int(t.count.Load()) }

// SetTimeouts is ipvsadm --set: each non-zero field replaces the ESTABLISHED,
// FIN_WAIT or UDP timeout. Like the kernel, an entry picks the new value up
// the next time its timer is re-armed (a packet or a state change).
func (t *Table) SetTimeouts(tt Timeouts) {
	if tt.TCP > 0 {
		t.tcpTimeouts[StateEstablished].Store(int64(tt.TCP))
	}
	if tt.TCPFin > 0 {
		t.tcpTimeouts[StateFinWait].Store(int64(tt.TCPFin))
	}
	if tt.UDP > 0 {
		t.udpTimeout.Store(int64(tt.UDP))
	}
}

// Timeouts returns the current --set timeouts.
func (t *Table) Timeouts() Timeouts {
	return Timeouts{
		TCP:    time.Duration(t.tcpTimeouts[StateEstablished].Load()),
		TCPFin: time.Duration(t.tcpTimeouts[StateFinWait].Load()),
		UDP:    time.Duration(t.udpTimeout.Load()),
	}
}

// StateTimeout returns the timeout of a state (pd->timeout_table[state]).
func (t *Table) StateTimeout(s State) time.Duration {
	return time.Duration(t.stateTimeout(s))
}

func (t *Table) stateTimeout(s State) int64 {
	if s == StateUDP {
		return t.udpTimeout.Load()
	}
	if s < numTCPStates {
		return t.tcpTimeouts[s].Load()
	}
	return int64(defaultStateTimeouts[StateNone])
}

func (t *Table) nowNs() int64 { return int64(t.now().Sub(t.epoch)) }

// hashKey mixes the key fields; only the shard choice depends on it.
func hashKey(k *Key) uint64 {
	a := k.Client.Addr().As16()
	v := k.Virtual.Addr().As16()
	h := uint64(k.Proto) | uint64(k.Client.Port())<<8 | uint64(k.Virtual.Port())<<24 | uint64(k.FWMark)<<40
	for i := 0; i < 16; i += 8 {
		h ^= le64(a[i:]) * 0x9e3779b97f4a7c15
		h = (h<<31 | h>>33) ^ le64(v[i:])
		h *= 0xbf58476d1ce4e5b9
	}
	h ^= h >> 29
	h *= 0x94d049bb133111eb
	return h ^ h>>32
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func (t *Table) shardFor(k *Key) *shard { return &t.shards[hashKey(k)%numShards] }

// Insert creates an entry and binds it to its dest (ip_vs_conn_new +
// ip_vs_bind_dest): a template counts in PersistConns, any other entry
// starts inactive. TCP entries start in NONE with the 3 s ip_vs_conn_new
// timeout and move on with Event; UDP entries are in the UDP state with the
// UDP timeout; templates are in NONE with p.Timeout.
func (t *Table) Insert(p Params) (*Entry, error) {
	if t.max > 0 && t.count.Load() >= int64(t.max) && !t.evictOne() {
		return nil, ErrFull
	}
	e := &Entry{
		t:        t,
		proto:    p.Proto,
		client:   p.Client,
		fwmark:   p.FWMark,
		dest:     p.DestRef,
		template: p.Template,
		hashed:   p.Hashed,
		onExpire: p.OnExpire,
		virtual:  p.Virtual,
		daddr:    p.Dest,
		inactive: !p.Template,
		noOutput: p.NoOutput,
		lastSeen: t.nowNs(),
	}
	switch {
	case p.Template:
		e.state, e.timeout = StateNone, int64(p.Timeout)
	case p.Proto == ProtoUDP:
		e.state, e.timeout = StateUDP, t.udpTimeout.Load()
	default:
		e.state, e.timeout = StateNone, int64(newConnTimeout)
	}
	if e.dest != nil {
		e.dest.Bind(e.template)
	}
	sh := t.shardFor(&p.Key)
	e.sh = sh
	sh.mu.Lock()
	e.prev = sh.tail
	if sh.tail != nil {
		sh.tail.next = e
	} else {
		sh.head = e
	}
	sh.tail = e
	if e.hashed {
		sh.index[p.Key] = e
	}
	sh.mu.Unlock()
	t.count.Add(1)
	return e, nil
}

// Lookup returns the live indexed entry with key k, or nil
// (ip_vs_ct_in_get for templates).
func (t *Table) Lookup(k Key) *Entry {
	sh := t.shardFor(&k)
	sh.mu.Lock()
	e := sh.index[k]
	sh.mu.Unlock()
	return e
}

// CheckTemplate is ip_vs_check_template: a template whose dest is gone (not
// AVAILABLE), or has weight 0 while expireQuiescent is set
// (expire_quiescent_template), is invalidated: taken out of the index so
// the next connection is scheduled afresh, its ports shown as 65535 like
// the kernel's re-hash with vport = dport = 0xffff, and left to time out
// without being re-armed. It reports whether the template may be used.
func (t *Table) CheckTemplate(ct *Entry, expireQuiescent bool) bool {
	d := ct.dest
	if d != nil && d.Available() && !(expireQuiescent && d.Weight() == 0) {
		return true
	}
	sh := ct.sh
	sh.mu.Lock()
	ct.mu.Lock()
	if !ct.invalid && !ct.dead {
		ct.invalid = true
		k := ct.keyLocked()
		if sh.index[k] == ct {
			delete(sh.index, k)
		}
		ct.virtual = netip.AddrPortFrom(ct.virtual.Addr(), 0xffff)
		ct.daddr = netip.AddrPortFrom(ct.daddr.Addr(), 0xffff)
	}
	ct.mu.Unlock()
	sh.mu.Unlock()
	return false
}

// Sweep expires every entry whose timer ran out and returns how many left
// the table. Templates that still control connections are re-armed for
// 60 s instead (ip_vs_conn_expire). OnExpire callbacks run before Sweep
// returns, outside the locks.
func (t *Table) Sweep() int {
	now := t.nowNs()
	n := 0
	var fire []func()
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e := sh.head; e != nil; {
			next := e.next
			if cb, ok := t.expireLocked(sh, e, now, false); ok {
				n++
				if cb != nil {
					fire = append(fire, cb)
				}
			}
			e = next
		}
		n += t.sweepReleased(sh, now, false)
		sh.mu.Unlock()
		for _, cb := range fire {
			cb()
		}
		fire = fire[:0]
	}
	return n
}

// Expire expires e now (ip_vs_conn_expire_now): used for one-packet
// scheduling and by owners that tear a connection down. A template that
// controls connections is re-armed instead, as on a timer expiry. A
// released entry is no longer its owner's to expire: nothing happens. It
// reports whether e left the table.
func (t *Table) Expire(e *Entry) bool {
	sh := e.sh
	sh.mu.Lock()
	cb, ok := t.expireLocked(sh, e, t.nowNs(), true)
	sh.mu.Unlock()
	if cb != nil {
		cb()
	}
	return ok
}

// expireLocked removes e if its time has come (or force) and returns its
// callback. Called with sh.mu held.
func (t *Table) expireLocked(sh *shard, e *Entry, now int64, force bool) (func(), bool) {
	e.mu.Lock()
	if e.dead || (!force && now-e.lastSeen < e.timeout) {
		e.mu.Unlock()
		return nil, false
	}
	if e.nControl.Load() > 0 {
		// expire_later: "do I control anybody?"
		e.timeout = int64(templateRetry)
		e.lastSeen = now
		e.mu.Unlock()
		return nil, false
	}
	e.dead = true
	if e.hashed && !e.invalid {
		k := e.keyLocked()
		if sh.index[k] == e {
			delete(sh.index, k)
		}
	}
	sh.unlink(e)
	ctl := e.control
	e.control = nil
	active := !e.inactive
	onExpire := e.onExpire
	e.onExpire = nil
	e.mu.Unlock()

	t.left(ctl, e.dest, e.template, active)
	return onExpire, true
}

// left is the accounting of an entry leaving the table: its controlling
// template loses it (ip_vs_control_del), its dest unbinds it
// (ip_vs_unbind_dest), the count drops.
func (t *Table) left(ctl *Entry, dest *sched.Dest, template, active bool) {
	if ctl != nil {
		ctl.nControl.Add(-1)
	}
	if dest != nil {
		dest.Unbind(template, active)
	}
	t.count.Add(-1)
}

// evictOne expires the oldest inactive connection (never a template),
// looking at the shards round-robin. It reports whether one was evicted.
func (t *Table) evictOne() bool {
	start := t.evictPos.Add(1)
	now := t.nowNs()
	for i := range uint32(numShards) {
		sh := &t.shards[(start+i)%numShards]
		sh.mu.Lock()
		if t.evictReleased(sh) {
			sh.mu.Unlock()
			return true
		}
		var victim *Entry
		for e := sh.head; e != nil && victim == nil; e = e.next {
			e.mu.Lock()
			if !e.template && e.inactive && !e.dead && e.nControl.Load() == 0 {
				victim = e
			}
			e.mu.Unlock()
		}
		if victim == nil {
			sh.mu.Unlock()
			continue
		}
		cb, done := t.expireLocked(sh, victim, now, true)
		sh.mu.Unlock()
		if cb != nil {
			cb()
		}
		if done {
			return true
		}
	}
	return false
}

// Info is a snapshot of one entry, as ipvsadm -Lc shows it.
type Info struct {
	Proto    Proto
	Client   netip.AddrPort
	Virtual  netip.AddrPort
	FWMark   uint32
	Dest     netip.AddrPort
	State    State
	Template bool
	Active   bool
	// Expires is the time left on the entry's timer.
	Expires time.Duration
}

// StateName is the state as ipvsadm prints it; templates always show NONE
// (ip_vs_ctpl_state_name_table).
func (i Info) StateName() string {
	if i.Template {
		return "NONE"
	}
	return i.State.String()
}

// Snapshot lists every entry, templates included.
func (t *Table) Snapshot() []Info {
	now := t.nowNs()
	out := make([]Info, 0, t.Len())
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e := sh.head; e != nil; e = e.next {
			out = append(out, e.infoAt(now))
		}
		for i := range sh.released {
			out = append(out, sh.released[i].info(now))
		}
		sh.mu.Unlock()
	}
	return out
}

func (e *Entry) infoAt(now int64) Info {
	e.mu.Lock()
	defer e.mu.Unlock()
	left := max(e.lastSeen+e.timeout-now, 0)
	return Info{
		Proto:    e.proto,
		Client:   e.client,
		Virtual:  e.virtual,
		FWMark:   e.fwmark,
		Dest:     e.daddr,
		State:    e.state,
		Template: e.template,
		Active:   !e.inactive && !e.template,
		Expires:  time.Duration(left),
	}
}

// Info returns a snapshot of e.
func (e *Entry) Info() Info { return e.infoAt(e.t.nowNs()) }

func (e *Entry) keyLocked() Key {
	return Key{Proto: e.proto, Client: e.client, Virtual: e.virtual, FWMark: e.fwmark}
}

// DestRef is the dest e is bound to.
func (e *Entry) DestRef() *sched.Dest { return e.dest }

// Template reports whether e is a persistence template.
func (e *Entry) Template() bool { return e.template }

// State returns the current state.
func (e *Entry) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// Alive reports whether e is still in the table and not released.
func (e *Entry) Alive() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.dead
}

// NControl is the number of connections a template controls.
func (e *Entry) NControl() int32 { return e.nControl.Load() }

// Event applies one TCP packet event to e (set_tcp_state): the next state
// comes from the kernel table, the dest's active/inactive counters follow
// the ESTABLISHED state, and the timer is re-armed with the new state's
// timeout. It returns the new state. Events on a dead entry, or on a
// non-TCP entry, change nothing.
func (e *Entry) Event(d Dir, f Flag) State {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dead || e.template || e.proto != ProtoTCP {
		return e.state
	}
	if e.noOutput {
		if d == DirOutput {
			e.noOutput = false
		} else {
			d = DirInputOnly
		}
	}
	ns := NextTCPState(e.state, d, f)
	if ns != e.state {
		switch {
		case !e.inactive && ns != StateEstablished:
			e.inactive = true
			if e.dest != nil {
				e.dest.Deactivate()
			}
		case e.inactive && ns == StateEstablished:
			e.inactive = false
			if e.dest != nil {
				e.dest.Activate()
			}
		}
	}
	e.state = ns
	e.timeout = e.t.stateTimeout(ns)
	e.lastSeen = e.t.nowNs()
	return ns
}

// Touch re-arms e's timer for traffic that changes no state (the
// ip_vs_conn_put after every packet). A connection takes its state's
// current timeout; a template keeps its own (svc->timeout, or 60 s once it
// went through expire_later), as when ip_vs_sched_persist puts it back.
func (e *Entry) Touch() {
	now := e.t.nowNs()
	e.mu.Lock()
	if !e.dead {
		if !e.template {
			e.timeout = e.t.stateTimeout(e.state)
		}
		e.lastSeen = now
	}
	e.mu.Unlock()
}

// SetControl makes template ct control e (ip_vs_control_add): ct is not
// removed while it controls a live connection.
func (e *Entry) SetControl(ct *Entry) {
	e.mu.Lock()
	if e.dead || e.control != nil {
		e.mu.Unlock()
		return
	}
	e.control = ct
	ct.nControl.Add(1)
	e.mu.Unlock()
}
