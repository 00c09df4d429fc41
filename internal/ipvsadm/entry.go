package ipvsadm

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

// svcEntry is an api.Service in the shape of libipvs' ipvs_service_entry_t,
// which the listing code and the sort comparators work on.
type svcEntry struct {
	af       int
	protocol int
	addr     netip.Addr
	port     uint16
	fwmark   uint32
	sched    string
	flags    uint32
	timeout  uint32
	netmask  uint32
	pe       string
	stats    api.Stats
	rates    api.Rates
	dests    []destEntry
}

// destEntry is an api.Real as ipvs_dest_entry_t.
type destEntry struct {
	af        int
	addr      netip.Addr
	port      uint16
	connFlags uint32
	weight    int32
	uThresh   uint32
	lThresh   uint32
	active    uint32
	inact     uint32
	persist   uint32
	tunType   uint16
	stats     api.Stats
	rates     api.Rates
}

// schedFlagBits maps the API's scheduler flag names to IP_VS_SVC_F_SCHED*.
func schedFlagBits(names []string) (uint32, error) {
	var f uint32
	for _, n := range names {
		switch n {
		case "flag-1", "sh-fallback", "mh-fallback":
			f |= SvcSched1
		case "flag-2", "sh-port", "mh-port":
			f |= SvcSched2
		case "flag-3":
			f |= SvcSched3
		default:
			return 0, fmt.Errorf("unknown scheduler flag %q", n)
		}
	}
	return f, nil
}

// schedFlagNames is print_sched_flags(): the names ipvsadm shows for the
// flag bits of a service with scheduler sched.
func schedFlagNames(sched string, flags uint32) []string {
	var out []string
	switch sched {
	case "sh", "mh":
		if flags&SvcSched1 != 0 {
			out = append(out, sched+"-fallback")
		}
		if flags&SvcSched2 != 0 {
			out = append(out, sched+"-port")
		}
	default:
		for i, n := range []string{"flag-1", "flag-2", "flag-3"} {
			if flags&(SvcSched1<<i) != 0 {
				out = append(out, n)
			}
		}
	}
	return out
}

func protoNumber(p string) (int, error) {
	switch strings.ToLower(p) {
	case "tcp":
		return ProtoTCP, nil
	case "udp":
		return ProtoUDP, nil
	case "sctp":
		return ProtoSCTP, nil
	}
	return 0, fmt.Errorf("unknown protocol %q", p)
}

// parseAddrPort reads an API "ip:port" / "[ip6]:port" address.
func parseAddrPort(s string) (int, netip.Addr, uint16, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return 0, netip.Addr{}, 0, fmt.Errorf("bad address %q: %w", s, err)
	}
	a := ap.Addr().WithZone("")
	if a.Is4() {
		return AFInet, a, ap.Port(), nil
	}
	return AFInet6, a, ap.Port(), nil
}

func fwdFromName(n string) (uint32, error) {
	switch strings.ToLower(n) {
	case "masq":
		return FwdMasq, nil
	case "local":
		return FwdLocal, nil
	case "tunnel":
		return FwdTunnel, nil
	case "route":
		return FwdRoute, nil
	}
	return 0, fmt.Errorf("unknown forwarding method %q", n)
}

// entryFromAPI converts a service as the admin API reports it.
func entryFromAPI(s api.Service) (svcEntry, error) {
	e := svcEntry{sched: s.Scheduler, timeout: s.Timeout, pe: "", stats: s.Stats, rates: s.Rates}
	if s.FWMark != 0 {
		// The kernel stores fwmark services with protocol TCP.
		e.fwmark, e.af, e.protocol = s.FWMark, AFInet, ProtoTCP
		if s.IPv6 {
			e.af = AFInet6
		}
	} else {
		p, err := protoNumber(s.Protocol)
		if err != nil {
			return e, err
		}
		e.protocol = p
		if e.af, e.addr, e.port, err = parseAddrPort(s.Address); err != nil {
			return e, err
		}
	}
	f, err := schedFlagBits(s.SchedFlags)
	if err != nil {
		return e, err
	}
	e.flags = f
	if s.Persistent {
		e.flags |= SvcPersistent
	}
	if s.OnePacket {
		e.flags |= SvcOnePacket
	}
	if e.af == AFInet6 {
		e.netmask = 128
		if s.Netmask != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(s.Netmask, "/"))
			if err != nil {
				return e, fmt.Errorf("bad IPv6 persistence netmask %q", s.Netmask)
			}
			e.netmask = uint32(n)
		}
	} else {
		e.netmask = 0xffffffff
		if s.Netmask != "" {
			a, err := netip.ParseAddr(s.Netmask)
			if err != nil || !a.Is4() {
				return e, fmt.Errorf("bad persistence netmask %q", s.Netmask)
			}
			e.netmask = word4(a)
		}
	}
	for _, r := range s.Reals {
		d := destEntry{
			weight: r.Weight, uThresh: r.UpperThreshold, lThresh: r.LowerThreshold,
			active: r.ActiveConns, inact: r.InactConns, persist: r.PersistConns,
			stats: r.Stats, rates: r.Rates,
		}
		if d.af, d.addr, d.port, err = parseAddrPort(r.Address); err != nil {
			return e, err
		}
		if d.connFlags, err = fwdFromName(r.Forward); err != nil {
			return e, err
		}
		e.dests = append(e.dests, d)
	}
	return e, nil
}

// matches is the kernel's service lookup: by fwmark and family, or by
// family, protocol, address and port.
func (e *svcEntry) matches(s *Service) bool {
	if s.FWMark != 0 {
		return e.fwmark == s.FWMark && e.af == s.AF
	}
	return e.fwmark == 0 && e.af == s.AF && e.protocol == s.Protocol && e.addr == s.Addr && e.port == s.Port
}

// cmpServices is libipvs.c ipvs_cmp_services(). Differences of unsigned
// 32-bit fields are taken modulo 2^32 and read as a signed int, exactly as
// the C code does, so e.g. 192.168.0.1 sorts before 10.0.0.1.
func cmpServices(a, b *svcEntry) int {
	if r := int32(a.fwmark - b.fwmark); r != 0 {
		return int(r)
	}
	if r := a.af - b.af; r != 0 {
		return r
	}
	if r := a.protocol - b.protocol; r != 0 {
		return r
	}
	if r := cmpAddr(a.af, a.addr, b.addr); r != 0 {
		return r
	}
	return int(a.port) - int(b.port)
}

// cmpDests is libipvs.c ipvs_cmp_dests().
func cmpDests(a, b *destEntry) int {
	if r := cmpAddr(a.af, a.addr, b.addr); r != 0 {
		return r
	}
	return int(a.port) - int(b.port)
}

// cmpAddr compares the 32-bit words of union nf_inet_addr: one word for
// AF_INET (chosen by the first entry's family), four for AF_INET6.
func cmpAddr(af int, a, b netip.Addr) int {
	wa, wb := addrWords(a), addrWords(b)
	n := 1
	if af == AFInet6 {
		n = 4
	}
	for i := 0; i < n; i++ {
		if r := int32(wa[i] - wb[i]); r != 0 {
			return int(r)
		}
	}
	return 0
}

// addrWords lays an address out as union nf_inet_addr, in host order.
func addrWords(a netip.Addr) [4]uint32 {
	var w [4]uint32
	switch {
	case !a.IsValid():
	case a.Is4():
		w[0] = word4(a)
	default:
		b := a.As16()
		for i := range w {
			w[i] = uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
		}
	}
	return w
}

// msort is glibc's qsort() as used by ipvsadm (stdlib/msort.c
// msort_with_tmp): a top-down merge sort splitting n into n/2 and n-n/2 and
// taking from the left run while cmp <= 0. With libipvs' wrapping
// comparators the order is not a total order, so only this exact algorithm
// reproduces ipvsadm's output.
func msort[T any](s []T, cmp func(a, b *T) int) {
	if len(s) <= 1 {
		return
	}
	tmp := make([]T, len(s))
	msortRec(s, tmp, cmp)
}

func msortRec[T any](s, tmp []T, cmp func(a, b *T) int) {
	n := len(s)
	if n <= 1 {
		return
	}
	n1 := n / 2
	b1, b2 := s[:n1], s[n1:]
	msortRec(b1, tmp, cmp)
	msortRec(b2, tmp, cmp)
	i, j, k := 0, 0, 0
	for i < len(b1) && j < len(b2) {
		if cmp(&b1[i], &b2[j]) <= 0 {
			tmp[k] = b1[i]
			i++
		} else {
			tmp[k] = b2[j]
			j++
		}
		k++
	}
	k += copy(tmp[k:], b1[i:])
	// What is left of b2 is already in place.
	copy(s, tmp[:k])
}
