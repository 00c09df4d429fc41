package xdp

import (
	"context"
	"errors"
	"time"

	"github.com/cilium/ebpf"

	"github.com/fulcrumlb/fulcrum/internal/conntab"
)

// lblc and lblcr cache garbage collection (ip_vs_lblc.c, ip_vs_lblcr.c):
// entries unused for lblc_expiration (24 h) go; above the table's maximum
// size, entries idle for ENTRY_TIMEOUT (6 min) go too.
const (
	lblcExpiration   = 24 * time.Hour
	lblcEntryTimeout = 6 * time.Minute
	lblcMaxSize      = 16 * 1024
)

// Sweep is the Go side of the connection table, run every SweepInterval:
//
//   - connections idle for longer than their state's timeout (the kernel's
//     per-state timers, tcp_timeouts / udp_timeouts with --set applied) are
//     deleted, with their NAT reverse entries, and unbound from their
//     dest's counters like ip_vs_unbind_dest (which also clears OVERLOAD
//     per the lower threshold, or 3/4 of the upper one);
//   - templates expire after the persistence timeout unless a live
//     connection still refers to them (the kernel re-arms a template's
//     timer while n_control > 0, ip_vs_conn_expire);
//   - the program counts binds and state changes atomically in dest_rts;
//     entries the LRU evicted (or a state change that raced with an
//     expiry) leave those counters off. The walk recounts every dest, and
//     a difference seen identically on two sweeps in a row is corrected,
//     so counters never drift while a difference that is only a packet in
//     flight is left alone;
//   - dests removed from their service leave the trash once nothing is
//     bound to them; unresolved next hops are retried.
func (p *Plane) Sweep() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := p.clock()
	type count struct{ active, inact, persist int32 }
	counts := map[uint16]*count{}
	cnt := func(slot uint16) *count {
		c := counts[slot]
		if c == nil {
			c = &count{}
			counts[slot] = c
		}
		return c
	}
	live := map[lbPersistKey]bool{}

	var k lbConnKey
	var v lbConn
	var expired []lbConnKey
	var expiredV []lbConn
	it := p.objs.Conns.Iterate()
	for it.Next(&k, &v) {
		ds := p.slots[v.Dest]
		owned := ds != nil && ds.gen == v.DestGen
		age := now - time.Duration(v.LastSeen)
		if age > p.timeouts.StateTimeout(conntab.State(v.State)) {
			expired = append(expired, k)
			expiredV = append(expiredV, v)
			continue
		}
		if owned {
			if v.Flags&connFInactive != 0 {
				cnt(ds.slot).inact++
			} else {
				cnt(ds.slot).active++
			}
		}
		if v.Flags&connFTmpl != 0 {
			live[templateKey(&k, &v)] = true
		}
	}
	for i := range expired {
		k, v := &expired[i], &expiredV[i]
		if err := p.objs.Conns.Delete(k); err != nil {
			// Gone already (LRU) or re-created: leave the counters to the
			// drift correction.
			continue
		}
		if v.Flags&connFRev != 0 {
			if ds := p.slots[v.Dest]; ds != nil {
				rk := revKey(k, ds)
				_ = p.objs.Revs.Delete(&rk)
			}
		}
		if ds := p.slots[v.Dest]; ds != nil && ds.gen == v.DestGen {
			p.unbind(ds, false, v.Flags&connFInactive == 0)
		}
	}

	var tk lbPersistKey
	var tv lbPersist
	var dead []lbPersistKey
	var deadV []lbPersist
	tit := p.objs.Templates.Iterate()
	for tit.Next(&tk, &tv) {
		timeout := 300 * time.Second
		if s := p.serviceByID(tk.Svc); s != nil {
			timeout = s.ptimeout
		}
		ds := p.slots[tv.Dest]
		owned := ds != nil && ds.gen == tv.DestGen
		if now-time.Duration(tv.LastSeen) > timeout && !live[tk] {
			dead = append(dead, tk)
			deadV = append(deadV, tv)
			continue
		}
		if owned {
			cnt(ds.slot).persist++
		}
	}
	for i := range dead {
		if err := p.objs.Templates.Delete(&dead[i]); err != nil {
			continue
		}
		if ds := p.slots[deadV[i].Dest]; ds != nil && ds.gen == deadV[i].DestGen {
			p.unbind(ds, true, false)
		}
	}

	// lblcr sets hold their members like the kernel's ip_vs_dest_set_insert
	// holds a dest reference: a removed dest stays in the trash (and comes
	// back with its set memberships if re-added) while a set refers to it.
	held := p.sweepLblcr(now)

	// Drift correction and trash collection.
	for slot := 1; slot < maxDests; slot++ {
		ds := p.slots[slot]
		if ds == nil {
			continue
		}
		c := counts[uint16(slot)]
		if c == nil {
			c = &count{}
		}
		rt := p.rt(uint16(slot))
		diff := [3]int32{rt.active.Load() - c.active, rt.inact.Load() - c.inact, rt.persist.Load() - c.persist}
		if diff == ([3]int32{}) {
			delete(p.drift, uint16(slot))
		} else if p.drift[uint16(slot)] == diff {
			rt.active.Add(-diff[0])
			rt.inact.Add(-diff[1])
			rt.persist.Add(-diff[2])
			p.clearOverload(ds)
			delete(p.drift, uint16(slot))
			p.log.Debug("dest counters corrected", "real", ds.real.Address, "by", diff)
		} else {
			p.drift[uint16(slot)] = diff
		}
		if !ds.available && c.active == 0 && c.inact == 0 && c.persist == 0 && !held[uint16(slot)] {
			tk := trashKey{ds.svc.key, ds.real.Address}
			if p.trash[tk] == ds {
				delete(p.trash, tk)
			}
			p.slots[slot] = nil
			delete(p.drift, uint16(slot))
			key := uint32(slot)
			_ = p.objs.Dests.Update(&key, &lbDest{}, ebpf.UpdateAny)
		}
	}
	p.sweepLblc(now)
	p.retryNextHops()
}

// sweepLblcr is the garbage collection of ip_vs_lblcr_check_expire:
// entries unused for lblcr_expiration go; above the table's maximum size
// (16384), entries idle for ENTRY_TIMEOUT (6 min) go too. It returns the
// dest slots the remaining sets refer to.
func (p *Plane) sweepLblcr(now time.Duration) map[uint16]bool {
	var k lbLblcKey
	var v lbLblcr
	var keys []lbLblcKey
	var vals []lbLblcr
	it := p.objs.LblcrCache.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
		vals = append(vals, v)
	}
	limit := p.opt.LBLCRExpiration
	if len(keys) > lblcMaxSize {
		limit = min(limit, lblcEntryTimeout)
	}
	held := map[uint16]bool{}
	for i := range keys {
		if now-time.Duration(vals[i].LastUse) > limit {
			_ = p.objs.LblcrCache.Delete(&keys[i])
			continue
		}
		for _, m := range vals[i].M[:min(int(vals[i].N), len(vals[i].M))] {
			if m.Dest < maxDests {
				if ds := p.slots[m.Dest]; ds != nil && ds.gen == m.Gen {
					held[uint16(m.Dest)] = true
				}
			}
		}
	}
	return held
}

// flushLocality drops a service's lblc and lblcr entries, as the old
// scheduler's done_service does (ip_vs_lblc_flush, ip_vs_lblcr_flush) when
// the service goes or changes scheduler.
func (p *Plane) flushLocality(id uint32) {
	var lk lbLblcKey
	var lv lbLblc
	var drop []lbLblcKey
	it := p.objs.LblcCache.Iterate()
	for it.Next(&lk, &lv) {
		if lk.Svc == id {
			drop = append(drop, lk)
		}
	}
	for i := range drop {
		_ = p.objs.LblcCache.Delete(&drop[i])
	}
	drop = drop[:0]
	var rv lbLblcr
	rit := p.objs.LblcrCache.Iterate()
	for rit.Next(&lk, &rv) {
		if lk.Svc == id {
			drop = append(drop, lk)
		}
	}
	for i := range drop {
		_ = p.objs.LblcrCache.Delete(&drop[i])
	}
}

// templateKey is the template a connection of a persistent service was
// scheduled under: <svc, client & mask> (ip_vs_sched_persist).
func templateKey(k *lbConnKey, v *lbConn) lbPersistKey {
	t := lbPersistKey{Svc: v.Svc}
	var m [4]byte
	bits := int(v.Prefix)
	for i := range 4 {
		switch {
		case bits >= 8:
			m[i] = 0xff
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
		}
		bits -= 8
		t.Caddr[i] = k.Saddr[i] & m[i]
	}
	return t
}

// revKey is the NAT reply key of a connection: real server to client.
func revKey(k *lbConnKey, ds *destState) lbConnKey {
	r := lbConnKey{Proto: k.Proto, Family: k.Family, Saddr: addrBytes(ds.real.Address.Addr()), Daddr: k.Saddr, Dport: k.Sport}
	r.Sport = htons(ds.real.Address.Port())
	if r.Sport == 0 {
		r.Sport = k.Dport
	}
	return r
}

// unbind is ip_vs_unbind_dest for an expired entry.
func (p *Plane) unbind(ds *destState, template, active bool) {
	rt := p.rt(ds.slot)
	switch {
	case template:
		rt.persist.Add(-1)
	case active:
		rt.active.Add(-1)
	default:
		rt.inact.Add(-1)
	}
	p.clearOverload(ds)
}

// clearOverload is the threshold half of ip_vs_unbind_dest: below the
// lower threshold, or below 3/4 of the upper one when no lower is set, or
// always without an upper threshold.
func (p *Plane) clearOverload(ds *destState) {
	rt := p.rt(ds.slot)
	total := int64(rt.active.Load()) + int64(rt.inact.Load())
	l, u := int64(ds.real.LowerThreshold), int64(ds.real.UpperThreshold)
	switch {
	case l != 0:
		if total < l {
			rt.overload.Store(0)
		}
	case u != 0:
		if total*4 < u*3 {
			rt.overload.Store(0)
		}
	default:
		rt.overload.Store(0)
	}
}

func (p *Plane) sweepLblc(now time.Duration) {
	var k lbLblcKey
	var v lbLblc
	var all []lbLblcKey
	var ages []time.Duration
	it := p.objs.LblcCache.Iterate()
	for it.Next(&k, &v) {
		all = append(all, k)
		ages = append(ages, now-time.Duration(v.LastUse))
	}
	limit := lblcExpiration
	if len(all) > lblcMaxSize {
		limit = lblcEntryTimeout
	}
	for i := range all {
		if ages[i] > limit {
			_ = p.objs.LblcCache.Delete(&all[i])
		}
	}
}

func (p *Plane) retryNextHops() {
	for _, s := range p.services {
		for _, ds := range s.dests {
			if ds.nhOK || !ds.available {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			nh, err := p.opt.Resolver.Resolve(ctx, ds.real.Address.Addr())
			cancel()
			if err != nil {
				if !errors.Is(err, ErrNoNeighbour) {
					p.log.Warn("real server next hop", "real", ds.real.Address, "err", err)
				}
				continue
			}
			ds.nh, ds.nhOK = nh, true
			if err := p.writeDest(ds); err != nil {
				p.log.Warn("real server next hop", "real", ds.real.Address, "err", err)
			}
		}
	}
}
