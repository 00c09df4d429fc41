package ipvsadm

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

// The listing functions below reproduce ipvsadm.c's output byte for byte:
// list_all, list_service, print_title, print_service_entry, print_largenum,
// print_conn/list_conn, list_timeout. Each takes API values and returns the
// bytes ipvsadm would print for the same kernel state.

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// Lister formats listings; Resolver names hosts and ports unless the format
// is numeric (nil means no names are known, as with NumericResolver).
type Lister struct {
	Resolver Resolver
}

func (l Lister) res() Resolver {
	if l.Resolver == nil {
		return NumericResolver{}
	}
	return l.Resolver
}

// Version is ipvsadm.c version(): the -v output.
func Version() []byte {
	return []byte("ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n")
}

// ipvsVersion turns api.Info's "1.2.1" into the kernel's version code.
func ipvsVersion(s string) (uint32, error) {
	if s == "" {
		return 0x010201, nil
	}
	f := strings.Split(s, ".")
	if len(f) != 3 {
		return 0, fmt.Errorf("bad IPVS version %q", s)
	}
	var v uint32
	for _, p := range f {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return 0, fmt.Errorf("bad IPVS version %q", s)
		}
		v = v<<8 | uint32(n)
	}
	return v, nil
}

// Header is list_all()'s first line.
func Header(info api.Info) ([]byte, error) {
	v, err := ipvsVersion(info.IPVSVersion)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "IP Virtual Server version %d.%d.%d (size=%d)\n", v>>16&0xff, v>>8&0xff, v&0xff, info.ConnTabSize), nil
}

// Title is print_title().
func Title(f Format) []byte {
	const local = "Prot LocalAddress:Port"
	switch {
	case f&FmtStats != 0:
		return fmt.Appendf(nil, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			local, "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case f&FmtRate != 0:
		return fmt.Appendf(nil, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			local, "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case f&FmtThresholds != 0:
		return fmt.Appendf(nil, "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n",
			local, "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case f&FmtPersistentConn != 0:
		return fmt.Appendf(nil, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n",
			local, "Weight", "PersistConn", "ActiveConn", "InActConn")
	case f&FmtTunInfo != 0:
		return []byte("Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n")
	case f&FmtRule == 0:
		return []byte("Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
	return nil
}

// ListAll is list_all(): the header (unless -S), the title and every
// service, sorted like ipvsadm unless FmtNoSort.
func (l Lister) ListAll(ctx context.Context, info api.Info, svcs []api.Service, f Format) ([]byte, error) {
	var b bytes.Buffer
	if f&FmtRule == 0 {
		h, err := Header(info)
		if err != nil {
			return nil, err
		}
		b.Write(h)
	}
	es := make([]svcEntry, 0, len(svcs))
	for _, s := range svcs {
		e, err := entryFromAPI(s)
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	if f&FmtNoSort == 0 {
		msort(es, cmpServices)
	}
	b.Write(Title(f))
	for i := range es {
		l.serviceEntry(ctx, &b, &es[i], f)
	}
	return b.Bytes(), nil
}

// ListService is list_service(): the title and one service.
func (l Lister) ListService(ctx context.Context, s api.Service, f Format) ([]byte, error) {
	e, err := entryFromAPI(s)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(Title(f))
	l.serviceEntry(ctx, &b, &e, f)
	return b.Bytes(), nil
}

// largenum is print_largenum(): 9 columns, abbreviated with K/M/G/T
// (powers of 1000) from 10^8 up, unless FmtExact.
func largenum(b *bytes.Buffer, i uint64, f Format) {
	if f&FmtExact != 0 {
		s := strconv.FormatUint(i, 10)
		w := len(s) + 1
		if len(s) <= 8 {
			w = 9
		}
		fmt.Fprintf(b, "%*s", w, s)
		return
	}
	switch {
	case i < 100000000:
		fmt.Fprintf(b, "%9d", i)
	case i < 1000000000:
		fmt.Fprintf(b, "%8dK", i/1000)
	case i < 100000000000:
		fmt.Fprintf(b, "%8dM", i/1000000)
	case i < 100000000000000:
		fmt.Fprintf(b, "%8dG", i/1000000000)
	default:
		fmt.Fprintf(b, "%8dT", i/1000000000000)
	}
}

// cut is C's buf[n] = '\0': keep at most n bytes.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// addrPort is addrport_to_anyname(): "host:port" with names unless
// FmtNumeric, IPv6 in brackets, into a 60-byte buffer.
func (l Lister) addrPort(ctx context.Context, af int, a netip.Addr, port uint16, proto int, f Format) string {
	host, ps := "", ""
	if f&FmtNumeric != 0 {
		host, ps = ntop(af, a), strconv.Itoa(int(port))
	} else {
		if n, ok := l.res().HostName(ctx, a); ok {
			host = n
		} else {
			host = ntop(af, a)
		}
		ps = strconv.Itoa(int(port))
		if pn := protoName(proto); pn != "" {
			if n, ok := l.res().PortName(port, pn); ok {
				ps = n
			}
		}
	}
	var s string
	if af == AFInet {
		s = host + ":" + ps
	} else {
		s = "[" + host + "]:" + ps
	}
	return cut(s, 59)
}

// ntop is inet_ntop() for the entry's family.
func ntop(af int, a netip.Addr) string {
	if af == AFInet {
		if !a.IsValid() {
			return "0.0.0.0"
		}
		if a.Is4In6() || a.Is4() {
			return a.Unmap().String()
		}
	}
	return inetNtop6(a)
}

// inetNtop6 is glibc inet_ntop6(): RFC 5952 compression, and the last 32
// bits in dotted form for IPv4-compatible and IPv4-mapped addresses.
func inetNtop6(a netip.Addr) string {
	b := a.As16()
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	bestBase, bestLen, curBase, curLen := -1, 0, -1, 0
	for i := 0; i < 8; i++ {
		if w[i] == 0 {
			if curBase == -1 {
				curBase, curLen = i, 1
			} else {
				curLen++
			}
		} else if curBase != -1 {
			if bestBase == -1 || curLen > bestLen {
				bestBase, bestLen = curBase, curLen
			}
			curBase = -1
		}
	}
	if curBase != -1 && (bestBase == -1 || curLen > bestLen) {
		bestBase, bestLen = curBase, curLen
	}
	if bestBase != -1 && bestLen < 2 {
		bestBase = -1
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if bestBase != -1 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				sb.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			sb.WriteByte(':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			fmt.Fprintf(&sb, "%d.%d.%d.%d", b[12], b[13], b[14], b[15])
			return sb.String()
		}
		sb.WriteString(strconv.FormatUint(uint64(w[i]), 16))
	}
	if bestBase != -1 && bestBase+bestLen == 8 {
		sb.WriteByte(':')
	}
	return sb.String()
}

func fwdName(flags uint32) string {
	switch flags & 7 {
	case FwdMasq:
		return "Masq"
	case FwdLocal:
		return "Local"
	case FwdTunnel:
		return "Tunnel"
	case FwdRoute:
		return "Route"
	}
	return "(null)"
}

func fwdSwitch(flags uint32) string {
	switch flags & 7 {
	case FwdMasq:
		return "-m"
	case FwdTunnel:
		return "-i"
	case FwdLocal, FwdRoute:
		return "-g"
	}
	return "(null)"
}

func optionFromProtocol(p int) string {
	switch p {
	case ProtoTCP:
		return "-t"
	case ProtoUDP:
		return "-u"
	case ProtoSCTP:
		return "--sctp-service"
	}
	return "--xxx-service"
}

func protocolName(p int) string {
	switch p {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoSCTP:
		return "SCTP"
	}
	return "?"
}

// serviceEntry is print_service_entry().
func (l Lister) serviceEntry(ctx context.Context, b *bytes.Buffer, se *svcEntry, f Format) {
	var name string
	rule := f&FmtRule != 0
	if se.fwmark != 0 {
		switch {
		case rule && se.af == AFInet6:
			name = fmt.Sprintf("-f %d -6", se.fwmark)
		case rule:
			name = fmt.Sprintf("-f %d", se.fwmark)
		case se.af == AFInet6:
			name = fmt.Sprintf("FWM  %d IPv6", se.fwmark)
		default:
			name = fmt.Sprintf("FWM  %d", se.fwmark)
		}
	} else {
		vname := l.addrPort(ctx, se.af, se.addr, se.port, se.protocol, f)
		if rule {
			name = optionFromProtocol(se.protocol) + " " + vname
		} else {
			name = fmt.Sprintf("%-4s %s", protocolName(se.protocol), vname)
			if se.af != AFInet6 {
				name = cut(name, 33)
			}
		}
	}
	schedFlags := strings.Join(schedFlagNames(se.sched, se.flags), ",")
	switch {
	case rule:
		fmt.Fprintf(b, "-A %s -s %s", name, se.sched)
		if se.flags&SvcPersistent != 0 {
			fmt.Fprintf(b, " -p %d", se.timeout)
			if se.af == AFInet && se.netmask != 0xffffffff {
				fmt.Fprintf(b, " -M %s", addr4(se.netmask))
			}
			if se.af == AFInet6 && se.netmask != 128 {
				fmt.Fprintf(b, " -M %d", int32(se.netmask))
			}
		}
		if se.pe != "" {
			fmt.Fprintf(b, " --pe %s", se.pe)
		}
		if se.flags&SvcOnePacket != 0 {
			b.WriteString(" -o")
		}
		if se.flags&svcSchedMask != 0 {
			b.WriteString(" -b " + schedFlags)
		}
	case f&FmtStats != 0:
		fmt.Fprintf(b, "%-33s", name)
		for _, v := range []uint64{se.stats.Conns, se.stats.InPkts, se.stats.OutPkts, se.stats.InBytes, se.stats.OutBytes} {
			largenum(b, v, f)
		}
	case f&FmtRate != 0:
		fmt.Fprintf(b, "%-33s", name)
		for _, v := range []uint64{se.rates.CPS, se.rates.InPPS, se.rates.OutPPS, se.rates.InBPS, se.rates.OutBPS} {
			largenum(b, v, f)
		}
	default:
		fmt.Fprintf(b, "%s %s", name, se.sched)
		if se.flags&svcSchedMask != 0 {
			b.WriteString(" (" + schedFlags + ")")
		}
		if se.flags&SvcPersistent != 0 {
			fmt.Fprintf(b, " persistent %d", se.timeout)
			if se.af == AFInet && se.netmask != 0xffffffff {
				fmt.Fprintf(b, " mask %s", addr4(se.netmask))
			}
			if se.af == AFInet6 && se.netmask != 128 {
				fmt.Fprintf(b, " mask %d", int32(se.netmask))
			}
			if se.pe != "" {
				fmt.Fprintf(b, " pe %s", se.pe)
			}
		}
		if se.flags&SvcOnePacket != 0 {
			b.WriteString(" ops")
		}
	}
	b.WriteByte('\n')

	dests := append([]destEntry(nil), se.dests...)
	if f&FmtNoSort == 0 {
		msort(dests, cmpDests)
	}
	for i := range dests {
		e := &dests[i]
		dname := l.addrPort(ctx, e.af, e.addr, e.port, se.protocol, f)
		if !rule && e.af != AFInet6 {
			dname = cut(dname, 28)
		}
		switch {
		case rule:
			fmt.Fprintf(b, "-a %s -r %s %s -w %d", name, dname, fwdSwitch(e.connFlags), e.weight)
			if e.connFlags&7 == FwdTunnel {
				// print_tunnel_rule(); the API has no GUE/GRE, so ipip.
				fmt.Fprintf(b, " --tun-type %s", tunNames[e.tunType])
			}
			b.WriteByte('\n')
		case f&FmtStats != 0:
			fmt.Fprintf(b, "  -> %-28s", dname)
			for _, v := range []uint64{e.stats.Conns, e.stats.InPkts, e.stats.OutPkts, e.stats.InBytes, e.stats.OutBytes} {
				largenum(b, v, f)
			}
			b.WriteByte('\n')
		case f&FmtRate != 0:
			fmt.Fprintf(b, "  -> %-28s %8d %8d %8d", dname, e.rates.CPS, e.rates.InPPS, e.rates.OutPPS)
			largenum(b, e.rates.InBPS, f)
			largenum(b, e.rates.OutBPS, f)
			b.WriteByte('\n')
		case f&FmtThresholds != 0:
			fmt.Fprintf(b, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname, e.uThresh, e.lThresh, e.active, e.inact)
		case f&FmtPersistentConn != 0:
			fmt.Fprintf(b, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname, uint32(e.weight), e.persist, e.active, e.inact)
		case f&FmtTunInfo != 0:
			ti := "n/a"
			if e.connFlags&7 == FwdTunnel {
				ti = tunNames[e.tunType]
			}
			fmt.Fprintf(b, "  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", dname, fwdName(e.connFlags), ti, e.weight, e.active, e.inact)
		default:
			fmt.Fprintf(b, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, fwdName(e.connFlags), e.weight, e.active, e.inact)
		}
	}
}

// ListTimeout is list_timeout().
func ListTimeout(t api.Timeouts) []byte {
	return fmt.Appendf(nil, "Timeout (tcp tcpfin udp): %d %d %d\n", t.TCP, t.TCPFin, t.UDP)
}

// ListConns is list_conn(): the connection table, in the data plane's
// order (ipvsadm does not sort it).
func (l Lister) ListConns(ctx context.Context, conns []api.Conn, f Format) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("IPVS connection entries\n")
	if f&FmtPersistentConn != 0 {
		fmt.Fprintf(&b, "pro expire %-11s %-18s %-18s %-18s %-16s %s\n",
			"state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		fmt.Fprintf(&b, "pro expire %-11s %-18s %-18s %s\n",
			"state", "source", "virtual", "destination")
	}
	for _, c := range conns {
		proto := 0
		switch c.Protocol {
		case "TCP":
			proto = ProtoTCP
		case "UDP":
			proto = ProtoUDP
		case "SCTP":
			proto = ProtoSCTP
		}
		var names [3]string
		for i, s := range []string{c.Client, c.Virtual, c.Dest} {
			af, a, port, err := parseAddrPort(s)
			if err != nil {
				return nil, fmt.Errorf("connection entry: %w", err)
			}
			names[i] = l.addrPort(ctx, af, a, port, proto, f)
		}
		// /proc/net/ip_vs_conn shows whole seconds left (jiffies / HZ).
		secs := max(c.ExpiresMs, 0) / 1000
		expire := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		// The -pe columns appear only for entries with a persistence
		// engine, which this data plane does not have.
		fmt.Fprintf(&b, "%-3s %-6s %-11s %-18s %-18s %s\n", c.Protocol, expire, c.State, names[0], names[1], names[2])
	}
	return b.Bytes(), nil
}

// Help is usage_exit()'s text for program prog.
func Help(prog string) []byte {
	var b bytes.Buffer
	b.Write(Version())
	b.WriteString("Usage:\n")
	for _, u := range []string{
		"-A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]",
		"-D virtual-service",
		"-C",
		"-R",
		"-S [-n]",
		"-a|e virtual-service -r server-address [options]",
		"-d virtual-service -r server-address",
		"-L|l [virtual-service] [options]",
		"-Z [virtual-service]",
		"--set tcp tcpfin udp",
		"--start-daemon {master|backup} [daemon-options]",
		"--stop-daemon {master|backup}",
		"-h",
	} {
		fmt.Fprintf(&b, "  %s %s\n", prog, u)
	}
	b.WriteString("\n")
	b.WriteString(helpBody)
	return b.Bytes()
}

// helpBody is the rest of usage_exit() (ipvsadm.c), with SCHEDULERS,
// PE_LIST, DEF_SCHED and DEF_TUNNEL_TYPE expanded as in the 1.31 build.
const helpBody = `Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine may be sip,
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=255)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
`
