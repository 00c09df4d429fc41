package xdp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/conntab"
	"github.com/fulcrumlb/fulcrum/internal/sched"
	"github.com/fulcrumlb/fulcrum/internal/stats"
)

// plan is a validated config.Service.
type plan struct {
	key      config.ServiceKey
	proto    uint8
	vip      netip.AddrPort
	sched    string
	flags    uint32
	persist  bool
	prefix   int
	ptimeout time.Duration
	reals    []config.Real
}

// compile validates a service for this plane.
func compile(s *config.Service) (*plan, error) {
	if s.FWMark != 0 {
		return nil, unsupported("firewall-mark services are not supported by the xdp data plane (XDP runs before any firewall marks a packet)")
	}
	pl := &plan{key: s.ServiceKey, sched: s.Scheduler}
	switch s.Protocol {
	case config.TCP:
		pl.proto = unix.IPPROTO_TCP
	case config.UDP:
		pl.proto = unix.IPPROTO_UDP
	default:
		return nil, fmt.Errorf("unknown protocol %q", s.Protocol)
	}
	a := s.Address.Addr().Unmap()
	if !a.IsValid() {
		return nil, errors.New("no virtual address")
	}
	if !a.Is4() {
		return nil, unsupported("IPv6 services are not supported by the xdp data plane yet (the map layouts are ready, the packet path is IPv4 only)")
	}
	pl.vip = netip.AddrPortFrom(a, s.Address.Port())
	if pl.sched == "" {
		pl.sched = defaultSched
	}
	if !sched.Known(pl.sched) {
		return nil, fmt.Errorf("unknown scheduler %q", pl.sched)
	}
	if _, ok := schedKinds[pl.sched]; !ok {
		return nil, unsupported(fmt.Sprintf("scheduler %s is not supported by the xdp data plane; use the proxy data plane", pl.sched))
	}
	for _, n := range s.SchedFlags {
		switch n {
		case "flag-1", "sh-fallback", "mh-fallback":
			pl.flags |= sched.FlagSched1
		case "flag-2", "sh-port", "mh-port":
			pl.flags |= sched.FlagSched2
		case "flag-3":
			pl.flags |= sched.FlagSched3
		default:
			return nil, fmt.Errorf("unknown scheduler flag %q", n)
		}
	}
	if s.OnePacket {
		if s.Protocol != config.UDP {
			return nil, errors.New("One-Packet Scheduling is only for UDP virtual services")
		}
		return nil, unsupported("one-packet scheduling is not supported by the xdp data plane")
	}
	if s.ProxyProtocol != "" {
		return nil, unsupported("the PROXY protocol needs a proxy: the xdp data plane forwards packets")
	}
	if s.SorryServer.IsValid() {
		return nil, unsupported("sorry servers are not supported by the xdp data plane yet")
	}
	if p := s.Persistence; p != nil {
		if p.PrefixBits < 0 || p.PrefixBits > 32 {
			return nil, fmt.Errorf("persistence netmask /%d out of range for the address family", p.PrefixBits)
		}
		if p.Timeout < 0 {
			return nil, errors.New("negative persistence timeout")
		}
		pl.persist, pl.prefix, pl.ptimeout = true, p.PrefixBits, p.Timeout
		if pl.ptimeout == 0 {
			pl.ptimeout = config.DefaultPersistenceTimeout
		}
	} else if pl.vip.Port() == 0 {
		return nil, errors.New("Zero port specified for non-persistent service")
	}
	if len(s.Reals) > svcMaxDests {
		return nil, unsupported(fmt.Sprintf("%d real servers: the xdp data plane holds at most %d per service", len(s.Reals), svcMaxDests))
	}
	seen := map[netip.AddrPort]bool{}
	for _, r := range s.Reals {
		ra := r.Address.Addr().Unmap()
		if !ra.IsValid() {
			return nil, errors.New("real server without an address")
		}
		if !ra.Is4() {
			return nil, unsupported(fmt.Sprintf("real server %s: IPv6 is not supported by the xdp data plane yet", r.Address))
		}
		r.Address = netip.AddrPortFrom(ra, r.Address.Port())
		if seen[r.Address] {
			return nil, fmt.Errorf("real server %s listed twice", r.Address)
		}
		seen[r.Address] = true
		switch r.Forward {
		case "", config.Masq, config.Route, config.Tunnel:
		default:
			return nil, fmt.Errorf("real server %s: unknown forwarding method %q", r.Address, r.Forward)
		}
		if r.Forward != config.Masq && r.Forward != "" && r.Address.Port() != 0 && r.Address.Port() != pl.vip.Port() {
			// ip_vs_ctl.c keeps dport = vport for non-NAT dests: only NAT
			// can change the port.
			r.Address = netip.AddrPortFrom(ra, pl.vip.Port())
		}
		if r.Weight < 0 {
			return nil, fmt.Errorf("real server %s: %w", r.Address, sched.ErrBadWeight)
		}
		if r.LowerThreshold > r.UpperThreshold {
			return nil, fmt.Errorf("real server %s: %w", r.Address, sched.ErrBadThreshold)
		}
		pl.reals = append(pl.reals, r)
	}
	return pl, nil
}

func fwdOf(f config.Forward) uint8 {
	switch f {
	case config.Route:
		return fwdRoute
	case config.Tunnel:
		return fwdTunnel
	}
	return fwdMasq
}

// Apply makes the plane serve exactly these services with these timeouts.
// Every service is validated and every new real server's next hop looked up
// first; on any failure nothing changes. Then the reconciler writes the
// maps: dests, the inactive table row, and finally the service entry that
// points at them (one atomic map update), so the program never sees a
// half-written service. Unchanged services keep their connections, counters
// and scheduler state. A changed service is changed as a sequence of
// ipvsadm commands would change it, which is what the kernel's schedulers
// (rr, wrr, lblcr) see: -E (scheduler and flags) first, then -d for the
// removed real servers in list order, then -a and -e in configuration
// order. Removed real servers stop taking packets but stay in a trash slot
// until their connections are gone, like the kernel's dest trash, and come
// back with their counters if re-added meanwhile.
func (p *Plane) Apply(ctx context.Context, services []config.Service, t config.Timeouts) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("data plane is closed")
	}
	plans := make([]*plan, 0, len(services))
	seen := map[config.ServiceKey]bool{}
	for i := range services {
		s := &services[i]
		if seen[s.ServiceKey] {
			return fmt.Errorf("service %s: listed twice", s.ServiceKey)
		}
		seen[s.ServiceKey] = true
		pl, err := compile(s)
		if err != nil {
			return fmt.Errorf("service %s: %w", s.ServiceKey, err)
		}
		plans = append(plans, pl)
	}
	// Capacity and next hops, before any change.
	newSvcs, newDests := 0, 0
	hops := map[netip.Addr]NextHop{}
	pending := map[netip.Addr]bool{}
	for _, pl := range plans {
		old := p.byKey[pl.key]
		if old == nil {
			newSvcs++
		}
		for _, r := range pl.reals {
			if old == nil || old.dests[r.Address] == nil {
				newDests++
			}
			a := r.Address.Addr()
			if _, ok := hops[a]; ok || pending[a] {
				continue
			}
			if old != nil && old.dests[r.Address] != nil && old.dests[r.Address].nhOK {
				hops[a] = old.dests[r.Address].nh
				continue
			}
			nh, err := p.opt.Resolver.Resolve(ctx, a)
			switch {
			case err == nil:
				hops[a] = nh
			case errors.Is(err, ErrNoNeighbour):
				pending[a] = true
				hops[a] = nh
				p.log.Warn("real server next hop not resolved yet; retrying", "real", a, "err", err)
			default:
				return fmt.Errorf("service %s: real server %s: %w", pl.key, r.Address, err)
			}
		}
	}
	if free := p.freeSvcIDs(); newSvcs > free {
		return fmt.Errorf("%d new services, room for %d: %w", newSvcs, free, ErrUnsupported)
	}
	if free := p.freeSlots(); newDests > free {
		return fmt.Errorf("%d new real servers, room for %d: %w", newDests, free, ErrUnsupported)
	}

	// Commit.
	p.timeouts.SetTimeouts(conntab.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP})
	var errs []error
	next := make([]*service, 0, len(plans))
	byKey := make(map[config.ServiceKey]*service, len(plans))
	for _, pl := range plans {
		s := p.byKey[pl.key]
		if s == nil {
			var err error
			if s, err = p.newService(pl); err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", pl.key, err))
				continue
			}
		}
		if err := p.update(s, pl, hops, pending); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", pl.key, err))
		}
		next = append(next, s)
		byKey[pl.key] = s
	}
	for k, s := range p.byKey {
		if byKey[k] == nil {
			p.removeService(s)
		}
	}
	p.services, p.byKey = next, byKey
	list := slices.Clone(next)
	p.svcList.Store(&list)
	return errors.Join(errs...)
}

func (p *Plane) freeSvcIDs() int {
	n := 0
	for id := 1; id < maxSvcs; id++ {
		if !p.svcIDs[id] {
			n++
		}
	}
	return n
}

func (p *Plane) freeSlots() int {
	n := 0
	for i := 1; i < maxDests; i++ {
		if p.slots[i] == nil {
			n++
		}
	}
	return n
}

func (p *Plane) newService(pl *plan) (*service, error) {
	ss, err := sched.NewService(pl.sched, pl.flags, sched.Options{})
	if err != nil {
		return nil, err
	}
	id := uint32(0)
	for i := uint32(1); i < maxSvcs; i++ {
		if !p.svcIDs[i] {
			id = i
			break
		}
	}
	if id == 0 {
		return nil, errors.New("no free service id")
	}
	p.svcIDs[id] = true
	s := &service{
		key: pl.key, id: id, proto: pl.proto, vip: pl.vip, sched: ss, schedName: pl.sched,
		flags: pl.flags, dests: map[netip.AddrPort]*destState{}, stats: stats.New(), row: 1,
	}
	if isCycle(pl.sched) {
		s.cyc = newCycle(pl.sched, nil)
	}
	// Entries a previous owner of the id left (none normally: removal
	// flushes them).
	p.flushLocality(id)
	s.raw = readStats(p.objs.SvcStats, id)
	return s, nil
}

// update reconciles one service: scheduler, dest list (the kernel's order
// through sched.Service), dest entries, table and service entry.
func (p *Plane) update(s *service, pl *plan, hops map[netip.Addr]NextHop, pending map[netip.Addr]bool) error {
	var errs []error
	if s.schedName != pl.sched || s.flags != pl.flags {
		if err := s.sched.SetScheduler(pl.sched, pl.flags); err != nil {
			return err
		}
		if s.schedName != pl.sched {
			// done_service of the old scheduler, init_service of the new.
			p.flushLocality(s.id)
			s.cyc = nil
			if isCycle(pl.sched) {
				s.cyc = newCycle(pl.sched, s.sched.Dests())
			}
		}
		s.schedName, s.flags = pl.sched, pl.flags
	}
	if s.cyc != nil {
		// Where the program's rr/wrr walk is, before the list changes.
		id := s.id
		var rt lbSvcRt
		if err := p.objs.SvcRts.Lookup(&id, &rt); err == nil {
			s.cyc.observe(rt.Cursor)
		}
	}
	changed := func() {
		if s.cyc != nil {
			s.cyc.changed(s.sched.Dests())
		}
	}
	s.persist, s.prefix, s.ptimeout = pl.persist, pl.prefix, pl.ptimeout
	want := map[netip.AddrPort]config.Real{}
	for _, r := range pl.reals {
		want[r.Address] = r
	}
	// Deletions in list order, then additions and edits in configuration
	// order (see Apply): rr and wrr state depends on the order.
	for _, d := range s.sched.Dests() {
		a := d.Addr
		ds := s.dests[a]
		if _, ok := want[a]; ok || ds == nil {
			continue
		}
		if err := s.sched.DelDest(a); err != nil {
			errs = append(errs, err)
		}
		changed()
		delete(s.dests, a)
		p.retire(ds)
	}
	for _, r := range pl.reals {
		ds := s.dests[r.Address]
		if ds == nil {
			if _, err := s.sched.AddDest(r.Address, r.Weight, r.UpperThreshold, r.LowerThreshold); err != nil {
				errs = append(errs, fmt.Errorf("real server %s: %w", r.Address, err))
				continue
			}
			changed()
			ds = p.revive(s, r.Address)
			s.dests[r.Address] = ds
			// A dest revived from the trash is updated like an edited
			// one: a zero or larger upper threshold clears OVERLOAD at
			// once (__ip_vs_update_dest, for add and edit alike).
			if r.UpperThreshold == 0 || r.UpperThreshold > ds.real.UpperThreshold {
				p.rt(ds.slot).overload.Store(0)
			}
		} else if ds.real.Weight != r.Weight || ds.real.UpperThreshold != r.UpperThreshold || ds.real.LowerThreshold != r.LowerThreshold {
			if err := s.sched.EditDest(r.Address, r.Weight, r.UpperThreshold, r.LowerThreshold); err != nil {
				errs = append(errs, fmt.Errorf("real server %s: %w", r.Address, err))
				continue
			}
			changed()
			if r.UpperThreshold == 0 || r.UpperThreshold > ds.real.UpperThreshold {
				p.rt(ds.slot).overload.Store(0)
			}
		}
		ds.real = r
		ds.fwd = fwdOf(r.Forward)
		ds.available = true
		ds.nh = hops[r.Address.Addr()]
		ds.nhOK = !pending[r.Address.Addr()]
		if err := p.writeDest(ds); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.writeService(s); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// revive takes a dest out of the trash or allocates a fresh slot (with a
// new generation, so connections of the slot's previous owner no longer
// match it).
func (p *Plane) revive(s *service, a netip.AddrPort) *destState {
	tk := trashKey{s.key, a}
	if ds := p.trash[tk]; ds != nil {
		delete(p.trash, tk)
		ds.svc = s
		return ds
	}
	slot := uint16(0)
	for i := 1; i < maxDests; i++ {
		if p.slots[i] == nil {
			slot = uint16(i)
			break
		}
	}
	p.gens[slot]++
	ds := &destState{slot: slot, gen: p.gens[slot], svc: s, stats: stats.New()}
	p.slots[slot] = ds
	rt := p.rt(slot)
	rt.active.Store(0)
	rt.inact.Store(0)
	rt.persist.Store(0)
	rt.overload.Store(0)
	ds.raw = readStats(p.objs.DestStats, uint32(slot))
	return ds
}

// retire marks a dest unavailable and keeps it in the trash until nothing
// is bound to it.
func (p *Plane) retire(ds *destState) {
	ds.available = false
	if err := p.writeDest(ds); err != nil {
		p.log.Warn("retiring real server", "real", ds.real.Address, "err", err)
	}
	p.trash[trashKey{ds.svc.key, ds.real.Address}] = ds
}

func (p *Plane) removeService(s *service) {
	k := svcKeyOf(s)
	if err := p.objs.Services.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		p.log.Warn("deleting service", "service", s.key, "err", err)
	}
	for _, ds := range s.dests {
		p.retire(ds)
	}
	p.flushLocality(s.id)
	p.svcIDs[s.id] = false
}

func (p *Plane) writeDest(ds *destState) error {
	a := ds.real.Address
	v := lbDest{
		Addr:     addrBytes(a.Addr()),
		Port:     htons(a.Port()),
		Family:   4,
		Fwd:      ds.fwd,
		Weight:   ds.real.Weight,
		U_thresh: ds.real.UpperThreshold,
		L_thresh: ds.real.LowerThreshold,
		Gen:      ds.gen,
		Svc:      ds.svc.id,
		Ifindex:  uint32(ds.nh.Ifindex),
		Mtu:      uint32(ds.nh.MTU),
	}
	if ds.nh.Src.IsValid() {
		v.TunSrc = addrBytes(ds.nh.Src)
	}
	copy(v.Dmac[:], ds.nh.DstMAC)
	copy(v.Smac[:], ds.nh.SrcMAC)
	if ds.available {
		v.Flags |= destFAvailable
	}
	if ds.nhOK {
		v.Flags |= destFNH
	}
	key := uint32(ds.slot)
	if err := p.objs.Dests.Update(&key, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("real server %s: writing dest: %w", a, err)
	}
	return nil
}

func isCycle(name string) bool { return name == "rr" || name == "wrr" }

// buildTable computes the service's scheduler table from its list, and
// for rr/wrr the position the walk continues from.
func (p *Plane) buildTable(s *service) (table, uint32, bool) {
	list := s.sched.Dests()
	ds := make([]tdest, 0, len(list))
	slots := map[netip.AddrPort]uint16{}
	for _, d := range list {
		if x := s.dests[d.Addr]; x != nil {
			ds = append(ds, tdest{x.slot, d})
			slots[d.Addr] = x.slot
		}
	}
	switch s.schedName {
	case "rr", "wrr":
		t, start := s.cyc.build(slots)
		return t, start, s.cyc.exact
	case "dh":
		return dhTable(ds), 0, true
	case "sh":
		return shTable(ds), 0, true
	case "mh":
		return mhTable(ds), 0, true
	}
	return nil, 0, true
}

// writeService writes the table into the row the program is not using,
// then the service entry pointing at it.
func (p *Plane) writeService(s *service) error {
	t, start, exact := p.buildTable(s)
	if !exact && !slices.Equal(t, s.table) {
		p.log.Warn("wrr weights scaled to fit the table; shares are approximate", "service", s.key)
	}
	changed := !slices.Equal(t, s.table)
	row := s.id*2 + s.row
	if changed {
		nrow := s.id*2 + (1 - s.row)
		var r lbSchedRow
		for i := range r.Slot {
			r.Slot[i] = noDest
		}
		copy(r.Slot[:], t)
		if err := p.objs.SchedTab.Update(&nrow, &r, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("writing scheduler table: %w", err)
		}
		row = nrow
	}
	v := lbSvc{
		Id:            s.id,
		Sched:         schedKinds[s.schedName],
		Flags:         s.flags,
		PersistPrefix: uint8(s.prefix),
		TabRow:        row,
		TabLen:        uint32(len(t)),
	}
	if s.persist {
		v.Flags |= svcFPersist
		v.PersistTimeout = uint32(s.ptimeout / time.Second)
	}
	n := 0
	for _, d := range s.sched.Dests() {
		if x := s.dests[d.Addr]; x != nil && n < svcMaxDests {
			v.Dests[n] = x.slot
			n++
		}
	}
	v.Ndests = uint16(n)
	k := svcKeyOf(s)
	if err := p.objs.Services.Update(&k, &v, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("writing service: %w", err)
	}
	if changed {
		s.row = row - s.id*2
		s.table, s.exact = t, exact
	}
	if s.cyc != nil && s.cyc.dirty {
		// The walk continues where the kernel's scheduler would after
		// the same changes (see cycle).
		id := s.id
		if err := p.objs.SvcRts.Update(&id, &lbSvcRt{Cursor: start | cursorSynced}, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("placing the rr/wrr cursor: %w", err)
		}
		s.cyc.dirty = false
	}
	return nil
}
