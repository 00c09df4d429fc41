package vrrp

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/notify"
)

// State is a VRRP instance state (RFC 5798 section 6.4, plus keepalived's
// FAULT and a STOP for a stopped instance).
type State uint8

const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
	StateStop
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	case StateStop:
		return "STOP"
	}
	return fmt.Sprintf("State(%d)", s)
}

// MarshalText makes states read as their names in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state name.
func (s *State) UnmarshalText(b []byte) error {
	for st := StateInit; st <= StateStop; st++ {
		if st.String() == string(b) {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("vrrp: unknown state %q", b)
}

// maxTransitions bounds the transition history kept per instance.
const maxTransitions = 32

// instance runs one virtual router. All its state is owned by its run
// goroutine; mu guards what Status reads.
type instance struct {
	name string
	s    *settings
	node *Node
	log  *slog.Logger

	ctl    chan func()
	cancel context.CancelFunc
	done   chan struct{}

	// Run-goroutine state.
	conn       Conn
	local      netip.Addr
	deadline   time.Time // master down timer (BACKUP) or advert timer (MASTER)
	preemptAt  time.Time // preempt_delay: lower-priority adverts accepted until then
	garpAt     time.Time // the delayed second round of announcements
	refreshAt  time.Time // periodic announcements (garp_master_refresh)
	values     map[string]int
	ownFault   string          // why our own trackers fail, or ""
	peerFaults map[string]bool // sync group members whose trackers fail
	fault      string          // the fault in force, or ""
	sendBuf    []byte
	retryOpen  time.Time

	mu     sync.Mutex
	st     InstanceStatus
	master netip.Addr
}

func newInstance(n *Node, name string, s *settings) *instance {
	in := &instance{
		name:       name,
		s:          s,
		node:       n,
		log:        n.log.With("instance", name),
		ctl:        make(chan func(), 64),
		done:       make(chan struct{}),
		values:     map[string]int{},
		peerFaults: map[string]bool{},
	}
	in.st = InstanceStatus{
		Name:              name,
		Interface:         s.cfg.Interface,
		VRID:              s.cfg.VRID,
		Version:           s.version,
		State:             StateInit,
		Priority:          s.cfg.Priority,
		EffectivePriority: s.cfg.Priority,
		AdvertInt:         s.interval,
		MasterAdvertInt:   s.interval,
		VIPs:              slices.Clone(s.vips),
		Group:             s.group,
		Rejected:          map[Reason]uint64{},
	}
	return in
}

// post runs f on the instance goroutine; it never blocks a stopped one.
func (in *instance) post(f func()) {
	select {
	case in.ctl <- f:
	case <-in.done:
	}
}

// trackUpdate is called by trackers from their own goroutines.
func (in *instance) trackUpdate(key string, v int) {
	in.post(func() {
		in.values[key] = v
		in.applyTracking()
	})
}

// --- status helpers -------------------------------------------------------

func (in *instance) state() State {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st.State
}

func (in *instance) effPrio() uint8 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st.EffectivePriority
}

func (in *instance) mai() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.st.MasterAdvertInt
}

func (in *instance) count(f func(st *InstanceStatus)) {
	in.mu.Lock()
	f(&in.st)
	in.mu.Unlock()
}

func (in *instance) status() InstanceStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.st
	st.VIPs = slices.Clone(st.VIPs)
	st.Transitions = slices.Clone(st.Transitions)
	st.Rejected = make(map[Reason]uint64, len(in.st.Rejected))
	for k, v := range in.st.Rejected {
		st.Rejected[k] = v
	}
	return st
}

func (in *instance) now() time.Time { return in.node.clock.Now() }

// masterDown is Master_Down_Interval for our current priority and the
// master's advertisement interval.
func (in *instance) masterDown() time.Duration {
	return MasterDown(in.s.version, in.effPrio(), in.mai())
}

func (in *instance) skew() time.Duration {
	return Skew(in.s.version, in.effPrio(), in.mai())
}

// --- the loop ---------------------------------------------------------------

func (in *instance) run(ctx context.Context) {
	defer close(in.done)
	rx := make(chan Packet, 32)
	readerDone := make(chan struct{})
	close(readerDone) // no reader yet

	timer := in.node.clock.NewTimer(time.Hour)
	defer timer.Stop()

	in.start(ctx)
	if in.conn != nil {
		readerDone = in.startReader(rx)
	}
	for {
		in.rearm(timer)
		select {
		case <-ctx.Done():
			in.shutdown()
			<-readerDone
			return
		case p := <-rx:
			in.receive(p)
		case <-timer.C():
			in.tick()
			if in.conn != nil && in.readerStopped(readerDone) {
				readerDone = in.startReader(rx)
			}
		case f := <-in.ctl:
			f()
		}
	}
}

func (in *instance) readerStopped(done chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func (in *instance) startReader(rx chan<- Packet) chan struct{} {
	done := make(chan struct{})
	conn := in.conn
	go func() {
		defer close(done)
		for {
			p, err := conn.Recv()
			if err != nil {
				return
			}
			select {
			case rx <- p:
			case <-in.done:
				return
			}
		}
	}()
	return done
}

// rearm points the single timer at the earliest pending deadline.
func (in *instance) rearm(t Timer) {
	next := in.deadline
	for _, d := range []time.Time{in.garpAt, in.refreshAt, in.retryOpen} {
		if !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	t.Stop()
	if next.IsZero() {
		t.Reset(time.Hour)
		return
	}
	t.Reset(max(next.Sub(in.now()), 0))
}

// start is RFC 5798 section 6.4.1 with keepalived's differences
// (vrrp_scheduler.c vrrp_init_state): stale addresses are removed first;
// only the owner starts as MASTER, everyone else (state MASTER included)
// waits a full Master_Down_Interval in BACKUP.
func (in *instance) start(ctx context.Context) {
	s := in.s
	if !in.authenticated() {
		in.log.Warn("VRRP adverts are not authenticated and no unicast_peer is set: any host on the LAN can take the VIPs with one spoofed advert")
	}
	in.removeAddresses(true)
	if s.vmac != nil {
		if err := in.node.fx.AddVMAC(ctx, *s.vmac); err != nil {
			in.log.Error("use_vmac: cannot create the VMAC interface", "vmac", s.vmac.Name, "err", err)
		}
	}
	for _, key := range trackerKeys(s.trackers) {
		in.values[key] = in.node.subscribe(key, in)
	}
	in.openConn(ctx)
	fault, delta := trackEffect(s.trackers, in.values)
	in.setPriority(effectivePriority(s.cfg.Priority, delta))
	in.ownFault, in.fault = fault, fault
	if fault != "" {
		in.node.memberFault(in, true)
	}
	switch {
	case in.conn == nil:
		in.enterFault("cannot open the VRRP socket")
	case fault != "":
		in.enterFault(fault)
	case s.owner():
		in.becomeMaster("address owner (priority 255)")
	default:
		in.becomeBackup("init")
	}
}

func trackerKeys(refs []trackRef) []string {
	var keys []string
	for _, r := range refs {
		if !slices.Contains(keys, r.key) {
			keys = append(keys, r.key)
		}
	}
	return keys
}

func (in *instance) openConn(ctx context.Context) {
	c, err := in.node.transport.Open(ctx, ConnConfig{
		Interface: in.s.cfg.Interface,
		IPv6:      in.s.ipv6,
		Src:       cmpOr(in.s.cfg.UnicastSrcIP, in.s.cfg.McastSrcIP),
		Unicast:   len(in.s.cfg.UnicastPeers) > 0,
	})
	if err != nil {
		in.log.Error("cannot open the VRRP socket; retrying", "interface", in.s.cfg.Interface, "err", err)
		in.retryOpen = in.now().Add(max(in.s.interval, time.Second))
		return
	}
	in.conn, in.local, in.retryOpen = c, c.LocalAddr(), time.Time{}
}

// authenticated: keepalived.md section 6 and reliability.md section 2.5 -
// without a password or a peer list, one spoofed advert takes the VIP.
func (in *instance) authenticated() bool {
	return in.s.authType != AuthNone || len(in.s.cfg.UnicastPeers) > 0
}

// tick handles every expired deadline.
func (in *instance) tick() {
	now := in.now()
	if !in.retryOpen.IsZero() && !now.Before(in.retryOpen) {
		in.retryOpen = time.Time{}
		in.openConn(context.Background())
		if in.conn != nil && in.fault == "" && in.state() == StateFault {
			in.leaveFault()
		}
	}
	if !in.garpAt.IsZero() && !now.Before(in.garpAt) {
		in.garpAt = time.Time{}
		if in.state() == StateMaster {
			in.announce(in.s.garpRepeat)
		}
	}
	if !in.refreshAt.IsZero() && !now.Before(in.refreshAt) {
		in.refreshAt = time.Time{}
		if in.state() == StateMaster {
			in.announce(in.s.garpRefreshRepeat)
			in.refreshAt = now.Add(in.s.garpRefresh)
		}
	}
	if in.deadline.IsZero() || now.Before(in.deadline) {
		return
	}
	if late := now.Sub(in.deadline); late > in.s.interval/2 {
		// keepalived #2066 and friends: a starved process misses its
		// timers and causes split brains; say so.
		in.log.Warn("timer fired late: this process was not scheduled in time", "late", late)
	}
	switch in.state() {
	case StateBackup:
		// Master_Down_Timer fired (RFC 5798 section 6.4.2).
		in.log.Debug("master down timer expired", "late", now.Sub(in.deadline))
		in.becomeMaster("master down timer expired")
	case StateMaster:
		// Adver_Timer fired (section 6.4.3).
		in.sendAdvert(in.effPrio())
		in.deadline = now.Add(in.s.interval)
	default:
		in.deadline = time.Time{}
	}
}

// receive checks one packet (keepalived vrrp.c vrrp_in_chk, RFC 5798
// section 7.1) and hands it to the state's handler.
func (in *instance) receive(p Packet) {
	a, err := in.check(p)
	if err != nil {
		r := ReasonOf(err)
		in.count(func(st *InstanceStatus) { st.Rejected[r]++ })
		if r != ReasonVRID {
			in.log.Debug("advert rejected", "from", p.Src, "reason", r, "err", err)
		}
		return
	}
	in.count(func(st *InstanceStatus) {
		st.Received++
		if a.Priority == PriorityStop {
			st.PriorityZeroReceived++
		}
	})
	if !slices.Equal(a.Addrs, in.s.vips) {
		// keepalived 2.x logs and counts a VIP list that differs, and
		// accepts the advert (keepalived.md section 1, item 5).
		in.count(func(st *InstanceStatus) { st.AddressListErrors++ })
	}
	switch in.state() {
	case StateBackup:
		in.backupReceive(p, a)
	case StateMaster:
		in.masterReceive(p, a)
	}
}

func (in *instance) check(p Packet) (*Advert, error) {
	s := in.s
	unicast := len(s.cfg.UnicastPeers) > 0
	// TTL first, as vrrp_in_chk does; not checked in unicast mode, where
	// the peer list does that job.
	if !unicast && p.TTL >= 0 && p.TTL != TTL {
		return nil, reject(ReasonTTL, "TTL %d, want %d", p.TTL, TTL)
	}
	if p.Src == in.local {
		return nil, reject(ReasonOwnAdvert, "advert from our own address %s", p.Src)
	}
	a, err := Decode(p.Payload, p.Src, p.Dst)
	if err != nil {
		return nil, err
	}
	if int(a.Version) != s.version {
		return nil, reject(ReasonVersion, "version %d, want %d", a.Version, s.version)
	}
	if a.VRID != s.cfg.VRID {
		return nil, reject(ReasonVRID, "VRID %d, want %d", a.VRID, s.cfg.VRID)
	}
	if a.Version == 2 {
		if a.AuthType != s.authType {
			return nil, reject(ReasonAuthType, "auth type %d, want %d", a.AuthType, s.authType)
		}
		if s.authType == AuthPass && subtle.ConstantTimeCompare(a.AuthData[:], s.authData[:]) != 1 {
			return nil, reject(ReasonAuth, "wrong password")
		}
		if a.Interval != s.wireInt {
			// RFC 3768 section 7.1: MUST drop on an interval mismatch.
			return nil, reject(ReasonInterval, "interval %d s, want %d s", a.Interval, s.wireInt)
		}
	}
	if unicast && !slices.Contains(s.cfg.UnicastPeers, p.Src.Unmap()) {
		// keepalived checks this only with vrrp_check_unicast_src; we
		// always do (safer: unicast has no TTL guarantee).
		return nil, reject(ReasonPeer, "%s is not a unicast_peer", p.Src)
	}
	return a, nil
}

// backupReceive is RFC 5798 section 6.4.2 as keepalived's
// vrrp_state_backup implements it, preempt_delay included.
func (in *instance) backupReceive(p Packet, a *Advert) {
	now := in.now()
	prio := in.effPrio()
	switch {
	case a.Priority == PriorityStop:
		// The master is leaving: take over after Skew_Time only.
		in.deadline = now.Add(in.skew())
		in.log.Info("Backup received priority 0 advertisement", "from", p.Src, "takeover_in", in.skew())
	case !in.s.preempt || a.Priority >= prio ||
		(in.s.preemptDelay > 0 && (in.preemptAt.IsZero() || in.preemptAt.After(now))):
		if in.s.version == 3 {
			in.learnInterval(a)
		}
		in.deadline = now.Add(in.masterDown())
		in.setMaster(p.Src, a.Priority)
		if in.s.preemptDelay > 0 {
			if a.Priority >= prio {
				in.preemptAt = time.Time{}
			} else if in.preemptAt.IsZero() {
				in.log.Info("start preempt delay", "delay", in.s.preemptDelay)
				in.preemptAt = now.Add(in.s.preemptDelay)
			}
		}
	default:
		// A lower priority while preempting: discard it, and let our own
		// down timer run out (keepalived: "received lower priority advert
		// - discarding").
		in.setMaster(p.Src, a.Priority)
		in.log.Debug("received lower priority advert - discarding", "from", p.Src, "priority", a.Priority, "ours", prio)
	}
}

// masterReceive is RFC 5798 section 6.4.3 as keepalived's
// vrrp_state_master_rx implements it.
func (in *instance) masterReceive(p Packet, a *Advert) {
	prio := in.effPrio()
	cmp := p.Src.Unmap().Compare(in.local.Unmap())
	switch {
	case a.Priority == PriorityStop:
		in.sendAdvert(prio)
		in.deadline = in.now().Add(in.s.interval)
		return
	case a.Priority == prio && cmp == 0:
		in.log.Warn("equal priority advert received from a host with our IP address", "from", p.Src)
		return
	case a.Priority == prio && prio == PriorityOwner:
		// vrrp_state_master_rx: two owners is a configuration error;
		// keepalived lowers its own priority to 254 to resolve it.
		in.log.Error("CONFIGURATION ERROR: another router claims to own the addresses (priority 255); lowering ours to 254", "from", p.Src)
		in.setPriority(PriorityOwner - 1)
		prio = PriorityOwner - 1
	}
	if a.Priority < prio || (a.Priority == prio && cmp < 0) {
		// RFC 9568 and keepalived (unless lower_prio_no_advert): answer a
		// lower-priority master with an advert at once, forcing a new
		// election.
		in.sendAdvert(prio)
		in.deadline = in.now().Add(in.s.interval)
		return
	}
	if in.s.version == 3 {
		in.learnInterval(a)
	}
	in.setMaster(p.Src, a.Priority)
	reason := fmt.Sprintf("higher priority %d advert from %s", a.Priority, p.Src)
	if a.Priority == prio {
		reason = fmt.Sprintf("equal priority advert from higher address %s", p.Src)
	}
	in.becomeBackup(reason)
}

func (in *instance) learnInterval(a *Advert) {
	d := a.IntervalDuration()
	if d <= 0 {
		return
	}
	if d != in.mai() {
		in.log.Info("advertisement interval updated", "from", in.mai(), "to", d)
		in.count(func(st *InstanceStatus) { st.MasterAdvertInt = d })
	}
}

func (in *instance) setMaster(a netip.Addr, prio uint8) {
	in.mu.Lock()
	in.st.MasterAddr, in.st.MasterPriority = a, prio
	in.mu.Unlock()
}

func (in *instance) setPriority(p uint8) {
	in.mu.Lock()
	old := in.st.EffectivePriority
	in.st.EffectivePriority = p
	in.mu.Unlock()
	if old != p {
		in.log.Info("changing effective priority", "from", old, "to", p)
	}
}

// applyTracking recomputes fault and priority after a tracker moved.
func (in *instance) applyTracking() {
	fault, delta := trackEffect(in.s.trackers, in.values)
	in.setPriority(effectivePriority(in.s.cfg.Priority, delta))
	if (fault != "") != (in.ownFault != "") {
		in.node.memberFault(in, fault != "")
	}
	in.ownFault = fault
	in.refreshFault()
}

func (in *instance) setPeerFault(member string, faulty bool) {
	if faulty {
		in.peerFaults[member] = true
	} else {
		delete(in.peerFaults, member)
	}
	in.refreshFault()
}

// refreshFault enters or leaves FAULT after ownFault or peerFaults moved.
func (in *instance) refreshFault() {
	fault := in.ownFault
	if fault == "" && len(in.peerFaults) > 0 {
		peers := make([]string, 0, len(in.peerFaults))
		for p := range in.peerFaults {
			peers = append(peers, p)
		}
		slices.Sort(peers)
		fault = "sync group member " + peers[0] + " is in FAULT"
	}
	old := in.fault
	in.fault = fault
	switch {
	case fault != "" && in.state() != StateFault:
		in.enterFault(fault)
	case fault == "" && old != "" && in.state() == StateFault && in.conn != nil:
		in.leaveFault()
	}
}

// --- transitions ------------------------------------------------------------

func (in *instance) transition(to State, reason string) {
	now := in.now()
	in.mu.Lock()
	from := in.st.State
	in.st.State = to
	in.st.Transitions = append(in.st.Transitions, Transition{From: from, To: to, Reason: reason, Time: now})
	if len(in.st.Transitions) > maxTransitions {
		in.st.Transitions = slices.Delete(in.st.Transitions, 0, len(in.st.Transitions)-maxTransitions)
	}
	prio := in.st.EffectivePriority
	in.mu.Unlock()
	// keepalived logs "(VI_1) Entering MASTER STATE".
	in.log.Info("Entering "+to.String()+" STATE", "from", from.String(), "reason", reason, "priority", prio)
	in.notify(to, prio)
	in.node.changed(StateChange{
		Instance: in.name, Group: in.s.group, VRID: in.s.cfg.VRID, Interface: in.s.cfg.Interface,
		From: from, To: to, Reason: reason, Time: now, Priority: prio, VIPs: slices.Clone(in.s.vips),
	})
}

func (in *instance) becomeMaster(reason string) {
	in.preemptAt = time.Time{}
	in.addAddresses()
	in.sendAdvert(in.effPrio())
	in.announce(in.s.garpRepeat)
	now := in.now()
	if in.s.garpDelay > 0 {
		in.garpAt = now.Add(in.s.garpDelay)
	}
	if in.s.garpRefresh > 0 {
		in.refreshAt = now.Add(in.s.garpRefresh)
	}
	in.deadline = now.Add(in.s.interval)
	in.setMaster(in.local, in.effPrio())
	in.transition(StateMaster, reason)
}

func (in *instance) becomeBackup(reason string) {
	was := in.state()
	if was == StateMaster {
		in.removeAddresses(false)
	}
	in.garpAt, in.refreshAt, in.preemptAt = time.Time{}, time.Time{}, time.Time{}
	if was != StateMaster {
		// Entering BACKUP from INIT or FAULT: Master_Adver_Interval
		// starts as our own (keepalived vrrp_state_leave_fault).
		in.count(func(st *InstanceStatus) { st.MasterAdvertInt = in.s.interval })
	}
	in.deadline = in.now().Add(in.masterDown())
	in.transition(StateBackup, reason)
}

// enterFault is keepalived's FAULT state: a master sends priority 0 and
// drops the addresses; nothing is sent or accepted until the fault clears.
func (in *instance) enterFault(reason string) {
	if in.state() == StateMaster {
		in.sendAdvert(PriorityStop)
		in.removeAddresses(false)
	}
	in.deadline, in.garpAt, in.refreshAt = time.Time{}, time.Time{}, time.Time{}
	in.transition(StateFault, reason)
}

func (in *instance) leaveFault() {
	if in.s.owner() {
		in.becomeMaster("fault cleared; address owner")
		return
	}
	in.becomeBackup("fault cleared")
}

// shutdown: a master sends priority 0 (RFC 5798 section 6.4.3) and every
// address is removed, whatever the state, so none is left behind.
func (in *instance) shutdown() {
	if in.state() == StateMaster {
		in.sendAdvert(PriorityStop)
	}
	in.removeAddresses(false)
	if in.s.vmac != nil {
		if err := in.node.fx.DelVMAC(context.Background(), in.s.vmac.Name); err != nil {
			in.log.Error("use_vmac: cannot delete the VMAC interface", "vmac", in.s.vmac.Name, "err", err)
		}
	}
	for _, key := range trackerKeys(in.s.trackers) {
		in.node.unsubscribe(key, in)
	}
	if in.ownFault != "" {
		in.node.memberFault(in, false)
	}
	if in.conn != nil {
		in.conn.Close()
	}
	in.deadline = time.Time{}
	in.transition(StateStop, "shutdown")
}

// --- effects ----------------------------------------------------------------

func (in *instance) sendAdvert(prio uint8) {
	if in.conn == nil {
		return
	}
	s := in.s
	a := Advert{
		Version:  uint8(s.version),
		VRID:     s.cfg.VRID,
		Priority: prio,
		Interval: s.wireInt,
		AuthType: s.authType,
		AuthData: s.authData,
		Addrs:    s.vips,
	}
	dsts := s.cfg.UnicastPeers
	if len(dsts) == 0 {
		dsts = []netip.Addr{Group4}
		if s.ipv6 {
			dsts = []netip.Addr{Group6}
		}
	}
	for _, dst := range dsts {
		var err error
		in.sendBuf, err = a.Encode(in.sendBuf[:0], in.local, dst)
		if err == nil {
			err = in.conn.Send(in.sendBuf, dst)
		}
		if err != nil {
			in.count(func(st *InstanceStatus) { st.SendErrors++ })
			in.log.Debug("cannot send advert", "to", dst, "err", err)
			continue
		}
		in.count(func(st *InstanceStatus) {
			st.Sent++
			if prio == PriorityStop {
				st.PriorityZeroSent++
			}
		})
	}
}

func (in *instance) addAddresses() {
	ctx := context.Background()
	for _, a := range in.s.addresses {
		if err := in.node.fx.AddAddress(ctx, a); err != nil {
			in.log.Error("cannot add virtual address", "address", a.Prefix, "link", a.Link, "err", err)
		}
	}
	for _, r := range in.s.routes {
		if err := in.node.fx.AddRoute(ctx, r); err != nil {
			in.log.Error("cannot add virtual route", "route", r.Original, "err", err)
		}
	}
}

// removeAddresses drops routes and addresses; stale is the start-up sweep
// (keepalived removes leftovers of a crashed run before anything else).
func (in *instance) removeAddresses(stale bool) {
	ctx := context.Background()
	for _, r := range in.s.routes {
		if err := in.node.fx.DelRoute(ctx, r); err != nil && !stale {
			in.log.Error("cannot remove virtual route", "route", r.Original, "err", err)
		}
	}
	for _, a := range in.s.addresses {
		if err := in.node.fx.DelAddress(ctx, a); err != nil && !stale {
			in.log.Error("cannot remove virtual address", "address", a.Prefix, "link", a.Link, "err", err)
		}
	}
}

// announce sends n rounds of gratuitous ARP / unsolicited NA for every
// address, link by link (vrrp_arp.c, vrrp_ndisc.c).
func (in *instance) announce(n int) {
	byLink := map[string][]netip.Addr{}
	var links []string
	for _, a := range in.s.addresses {
		if _, ok := byLink[a.Link]; !ok {
			links = append(links, a.Link)
		}
		byLink[a.Link] = append(byLink[a.Link], a.Prefix.Addr())
	}
	ctx := context.Background()
	for range n {
		for _, l := range links {
			if err := in.node.fx.Announce(ctx, l, byLink[l]); err != nil {
				in.log.Debug("cannot announce addresses", "link", l, "err", err)
			}
		}
	}
}

// notify sends the keepalived notifications for a new state: the
// notify_<state> script, the generic notify script with its four extra
// arguments (INSTANCE name STATE priority), mail when smtp_alert is set.
func (in *instance) notify(to State, prio uint8) {
	n := in.node.notifier
	if n == nil || to == StateInit {
		return
	}
	s := in.s
	ev := notify.VRRPInstanceEvent(in.name, to.String())
	switch to {
	case StateMaster:
		ev.Script = s.notifyMaster
	case StateBackup:
		ev.Script = s.notifyBackup
	case StateFault:
		ev.Script = s.notifyFault
	case StateStop:
		ev.Script = s.notifyStop
		ev.Timeout = time.Second
	}
	if s.notify != nil {
		ev.Extra = []notify.ScriptCall{{Script: s.notify, Args: notify.VRRPNotifyArgs(false, in.name, to.String(), int(prio))}}
	}
	ev.Email = s.cfg.SMTPAlert
	n.Notify(ev)
}
