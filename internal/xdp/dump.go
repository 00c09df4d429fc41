package xdp

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/conntab"
)

// DumpMaps writes the program's maps as text, one line per entry, sorted
// within each map (the idea of Cilium's lb/maps-dump): services, dests with
// their live counters, scheduler tables, connections, NAT reverse entries,
// templates, the lblc cache and the lblcr server sets. Times are left out so dumps compare
// byte-exact in golden tests.
func (p *Plane) DumpMaps(w io.Writer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }

	var sk lbSvcKey
	var sv lbSvc
	var svcs []string
	it := p.objs.Services.Iterate()
	for it.Next(&sk, &sv) {
		ds := make([]string, 0, sv.Ndests)
		for _, d := range sv.Dests[:min(int(sv.Ndests), len(sv.Dests))] {
			ds = append(ds, fmt.Sprint(d))
		}
		svcs = append(svcs, fmt.Sprintf("svc %s %s id=%d sched=%s flags=%#x persist=%ds/%d tab=%d/%d dests=[%s]",
			protoName(sk.Proto), netip.AddrPortFrom(addrFrom(sk.Addr, sk.Family), htons(sk.Port)), sv.Id,
			schedName(sv.Sched), sv.Flags, sv.PersistTimeout, sv.PersistPrefix, sv.TabRow, sv.TabLen, strings.Join(ds, " ")))
		if sv.TabLen > 0 {
			var row lbSchedRow
			r := sv.TabRow
			if err := p.objs.SchedTab.Lookup(&r, &row); err == nil {
				cur := ""
				if n := schedName(sv.Sched); isCycle(n) {
					var rt lbSvcRt
					id := sv.Id
					if err := p.objs.SvcRts.Lookup(&id, &rt); err == nil {
						cur = fmt.Sprintf(" cursor=%d", rt.Cursor&^cursorSynced)
						if rt.Cursor&cursorSynced != 0 {
							cur += "/placed"
						}
					}
				}
				svcs = append(svcs, fmt.Sprintf("tab %d%s %s", sv.Id, cur, summarize(row.Slot[:min(int(sv.TabLen), len(row.Slot))])))
			}
		}
	}
	slices.Sort(svcs)
	lines = append(lines, svcs...)

	for slot := 1; slot < maxDests; slot++ {
		ds := p.slots[slot]
		if ds == nil {
			continue
		}
		var d lbDest
		key := uint32(slot)
		if err := p.objs.Dests.Lookup(&key, &d); err != nil {
			return err
		}
		rt := p.rt(uint16(slot))
		add("dest %d svc=%d %s fwd=%s weight=%d thresh=%d/%d gen=%d flags=%s if=%d mtu=%d dmac=%s smac=%s tun_src=%s active=%d inact=%d persist=%d overload=%d",
			slot, d.Svc, netip.AddrPortFrom(addrFrom(d.Addr, d.Family), htons(d.Port)), fwdName(d.Fwd), d.Weight,
			d.U_thresh, d.L_thresh, d.Gen, destFlags(d.Flags), d.Ifindex, d.Mtu, net.HardwareAddr(d.Dmac[:]),
			net.HardwareAddr(d.Smac[:]), addrFrom(d.TunSrc, 4), rt.active.Load(), rt.inact.Load(), rt.persist.Load(), rt.overload.Load())
	}

	var ck lbConnKey
	var cv lbConn
	var conns []string
	cit := p.objs.Conns.Iterate()
	for cit.Next(&ck, &cv) {
		conns = append(conns, fmt.Sprintf("conn %s %s -> %s dest=%d gen=%d svc=%d state=%s flags=%s fwd=%s if=%d cmac=%s lmac=%s",
			protoName(ck.Proto), keyAddr(ck.Saddr, ck.Family, ck.Sport), keyAddr(ck.Daddr, ck.Family, ck.Dport),
			cv.Dest, cv.DestGen, cv.Svc, conntab.State(cv.State), connFlags(cv.Flags), fwdName(cv.Fwd), cv.Cifindex,
			net.HardwareAddr(cv.Cmac[:]), net.HardwareAddr(cv.Lmac[:])))
	}
	slices.Sort(conns)
	lines = append(lines, conns...)

	var rk, rv lbConnKey
	var revs []string
	rit := p.objs.Revs.Iterate()
	for rit.Next(&rk, &rv) {
		revs = append(revs, fmt.Sprintf("rev %s %s -> %s => %s -> %s", protoName(rk.Proto),
			keyAddr(rk.Saddr, rk.Family, rk.Sport), keyAddr(rk.Daddr, rk.Family, rk.Dport),
			keyAddr(rv.Saddr, rv.Family, rv.Sport), keyAddr(rv.Daddr, rv.Family, rv.Dport)))
	}
	slices.Sort(revs)
	lines = append(lines, revs...)

	var tk lbPersistKey
	var tv lbPersist
	var tmpls []string
	tit := p.objs.Templates.Iterate()
	for tit.Next(&tk, &tv) {
		tmpls = append(tmpls, fmt.Sprintf("template svc=%d %s dest=%d gen=%d", tk.Svc, addrFrom(tk.Caddr, 4), tv.Dest, tv.DestGen))
	}
	slices.Sort(tmpls)
	lines = append(lines, tmpls...)

	var lk lbLblcKey
	var lv lbLblc
	var lbl []string
	lit := p.objs.LblcCache.Iterate()
	for lit.Next(&lk, &lv) {
		lbl = append(lbl, fmt.Sprintf("lblc svc=%d %s dest=%d gen=%d", lk.Svc, addrFrom(lk.Daddr, 4), lv.Dest, lv.DestGen))
	}
	slices.Sort(lbl)
	lines = append(lines, lbl...)

	var sv2 lbLblcr
	lbl = lbl[:0]
	rit2 := p.objs.LblcrCache.Iterate()
	for rit2.Next(&lk, &sv2) {
		ms := make([]string, 0, sv2.N)
		for _, m := range sv2.M[:min(int(sv2.N), len(sv2.M))] {
			ms = append(ms, fmt.Sprintf("%d/%d", m.Dest, m.Gen))
		}
		lbl = append(lbl, fmt.Sprintf("lblcr svc=%d %s set=[%s]", lk.Svc, addrFrom(lk.Daddr, 4), strings.Join(ms, " ")))
	}
	slices.Sort(lbl)
	lines = append(lines, lbl...)

	for _, l := range lines {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// summarize prints a table as its length, the share of each slot and its
// first 32 entries; whole mh tables would make unreadable golden files.
func summarize(t []uint16) string {
	share := map[uint16]int{}
	for _, s := range t {
		share[s]++
	}
	keys := make([]uint16, 0, len(share))
	for k := range share {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "len=%d share=", len(t))
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if k == noDest {
			fmt.Fprintf(&b, "-:%d", share[k])
		} else {
			fmt.Fprintf(&b, "%d:%d", k, share[k])
		}
	}
	b.WriteString(" head=")
	for i, s := range t[:min(32, len(t))] {
		if i > 0 {
			b.WriteByte(',')
		}
		if s == noDest {
			b.WriteByte('-')
		} else {
			fmt.Fprint(&b, s)
		}
	}
	return b.String()
}

func keyAddr(b [16]byte, family uint8, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(addrFrom(b, family), htons(port))
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	}
	return fmt.Sprintf("proto%d", p)
}

func schedName(k uint32) string {
	for n, v := range schedKinds {
		if v == k {
			return n
		}
	}
	return fmt.Sprintf("sched%d", k)
}

func fwdName(f uint8) string {
	switch f {
	case fwdRoute:
		return "route"
	case fwdTunnel:
		return "tunnel"
	case fwdMasq:
		return "masq"
	}
	return "none"
}

func flagNames(f uint32, names []string) string {
	var out []string
	for i, n := range names {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func destFlags(f uint32) string { return flagNames(f, []string{"available", "nh"}) }

func connFlags(f uint8) string {
	return flagNames(uint32(f), []string{"inactive", "nooutput", "tmpl", "rev"})
}
