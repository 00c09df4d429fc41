// Package xdp is Fulcrum's kernel data plane: an IPVS-style director
// (net/netfilter/ipvs) as one XDP program (bpf/lb.c), and the reconciler
// that turns the configuration model into its BPF maps. It offers the
// userspace plane's API (package l4: New, Apply, Status, Conns, Zero,
// Close; the status types are l4's, aliased here) so the engine can swap
// planes, plus Supported for data_plane: auto|xdp, DumpMaps for golden
// tests, and LoadDecap for real servers (package realserver).
//
// # Forwarding (ip_vs_xmit.c)
//
//   - Route (DR, ip_vs_dr_xmit): only the MACs change. The real server's
//     MAC comes from the director's neighbour table (Resolver, netlink),
//     stored in the dest entry; the packet leaves by XDP_TX, or
//     bpf_redirect when the real server is behind another interface.
//   - Tunnel (ip_vs_tunnel_xmit): an outer IPv4 header (protocol 4) is
//     pushed with bpf_xdp_adjust_head; TOS, TTL and DF are the inner
//     packet's (ip_vs_prepare_tunneled_skb), the source is the director's
//     address towards the real server. MTU: a DF packet that would exceed
//     the egress MTU once encapsulated is answered, by XDP_TX, with a
//     crafted ICMP fragmentation-needed carrying MTU-20 (what pmtu_disc=1
//     makes IPVS do); passing it to the stack instead would not help, as the
//     director holds the VIP and would answer it itself. A non-DF packet
//     that is too big is dropped: XDP cannot fragment (Katran neither).
//     Real servers run xdp_decap (no ipip module needed).
//   - Masq (NAT, ip_vs_nat_xmit): destination address and port rewritten,
//     IP and TCP/UDP checksums updated incrementally (RFC 1624; a zero UDP
//     checksum stays zero). A reverse entry (revs) catches the replies the
//     real servers route back through the director; they get the VIP as
//     source and go to the client's previous hop, whose MAC (and our own)
//     the connection entry recorded from the client's first packet.
//
// No real server available: ICMP port unreachable, like ip_vs_leave. A TCP
// segment without SYN and without a connection entry, fragments, non
// TCP/UDP, ARP and IPv6 are passed to the stack untouched.
//
// # State
//
// conns is an LRU hash keyed by the 5-tuple (16-byte addresses, so IPv6
// needs no layout change) holding the dest slot and its generation, the
// IPVS state, last-seen time (bpf_ktime_get_ns), flags and the client's
// MACs. TCP states follow tcp_states of ip_vs_proto_tcp.c, loaded from
// conntab.NextTCPState into the program's read-only data: DR and TUN
// connections use the INPUT-ONLY table (IP_VS_CONN_F_NOOUTPUT, set for
// every non-Masq dest by __ip_vs_update_dest), NAT the INPUT and OUTPUT
// tables. Timeouts are enforced by the Go side: Sweep (every second)
// deletes entries idle for longer than their state's timeout (tcp_timeouts
// with ipvsadm --set applied, via conntab) and their reverse entries.
//
// Per-dest active/inactive/persistent counts live in an mmap-able array
// (dest_rts) shared by both sides: the program binds a new connection
// (inactive+1, OVERLOAD at the upper threshold, ip_vs_bind_dest) and moves
// it between inactive and active on ESTABLISHED with atomic adds; the
// sweeper is the only one to unbind (expiry), with atomic adds on the same
// words, clearing OVERLOAD by the lower threshold or 3/4 of the upper one
// (ip_vs_unbind_dest). Schedulers therefore see the counters of the
// instant, as in the kernel. Entries the LRU evicts silently would leave
// counts behind: each sweep recounts the table per dest and corrects a
// difference it sees identically on two consecutive sweeps (a difference
// caused by a packet in flight does not last). Status reads the counters
// from the shared array.
//
// Persistence templates (templates, keyed by service and client address &
// mask, ip_vs_sched_persist) are refreshed whenever a new connection uses
// them and expire after the persistence timeout unless a live connection
// still refers to them (the kernel's n_control rule); a template whose
// dest was removed is replaced, one whose dest has weight 0 is kept
// (expire_quiescent_template=0). Traffic counters are PERCPU arrays per
// service and per dest slot (packets and L3 bytes in and out, new
// connections), moved into package stats on every Status and estimator
// tick so -Z, --stats and --rate behave as in the proxy plane.
//
// The reconciler (Apply) keeps a sched.Service per service for the kernel's
// list order (newest first) and dest-trash semantics, allocates dest slots
// (a reused slot gets a new generation, so stale connections of the old
// owner no longer match), writes dests, then the scheduler table into the
// row the program is not using, then the service entry that points at it
// in one map update: the program never sees a half-written service.
//
// # Schedulers in the fast path
//
//   - rr, wrr: the Go side computes one period of the kernel's picks over
//     the service's list (rr: each dest with weight > 0 in list order; wrr:
//     the passes cw = mw, mw-di, ... of ip_vs_wrr_schedule, sum of
//     weight/gcd picks) and the program walks it with a per-service cursor,
//     skipping dests that are OVERLOAD at that moment. This reproduces the
//     kernel's per-connection stepping exactly, overloaded dests included
//     (a wrr pass emits only dests with weight >= cw, so dropping one from
//     the period leaves the others' order as the kernel gives it). Across a
//     configuration change the reconciler carries the scheduler's state
//     (cycle): it reads the kernel-equivalent state back from the cursor
//     (the last pick's dest, and its pass's cw), applies the change as the
//     kernel does (rr's cursor stays on its dest or falls back to the
//     predecessor of a deleted one, ip_vs_rr_del_dest; wrr returns to the
//     list head keeping cw, clamped or aligned, ip_vs_wrr_dest_changed) and
//     places the cursor where the new period continues. Two differences
//     remain: on a multi-CPU director two first packets handled at the
//     same instant can read the same cursor (the kernel serialises with
//     sched_lock), and when every dest is OVERLOAD the kernel's wrr moves
//     its state while the cursor stays. A wrr period longer than one table
//     row (4096) has its weights scaled down, which keeps the shares only
//     approximately (logged), and restarts at the period's start after a
//     change.
//   - dh, sh, mh: the bucket tables of ip_vs_dh_reassign,
//     ip_vs_sh_reassign and ip_vs_mh_reassign (Maglev with the kernel's
//     fixed hsiphash keys; SipHash-1-3 as on 64-bit kernels), computed in
//     Go and hashed in the program exactly like the kernel, fallback and
//     port flags included. Tests check every bucket against package sched.
//   - lc, wlc, sed, nq, fo, ovf, twos: the kernel's compare loops over the
//     service's dest list (at most 64 dests, bpf_loop) with the live
//     counters; same tie rules and 64-bit cross-multiplication.
//   - lblc: the per-destination-address cache in an LRU map, with lblc's
//     own overload test and the wlc fallback; the sweeper collects entries
//     idle for 24 h (6 min above 16384 entries), and a change of scheduler
//     or the service's removal flushes them.
//   - lblcr: per service and destination address a server set
//     (ip_vs_dest_set) in a hash map whose value carries a bpf_spin_lock,
//     taken for changes as the kernel takes sched_lock: the least loaded
//     member (overhead/weight, AVAILABLE, weight > 0, not OVERLOAD,
//     ip_vs_dest_set_min) serves unless lblc's overload test holds, else
//     the wlc pick serves and joins the set; a set of more than one member
//     unchanged for lblcr_expiration (Options.LBLCRExpiration, 24 h) loses
//     its most loaded member (ip_vs_dest_set_max). Sets hold at most 8
//     members where the kernel's list is unbounded: a full set makes room
//     by dropping its most loaded member, the one the kernel's expiry
//     would drop first (picks equal the kernel's while no set needs more
//     than 8 members). The table holds
//     65536 addresses (package sched's bound); past that a pick is used
//     uncached, as the kernel does when it cannot allocate an entry. A set
//     keeps its members' dest slots alive (the kernel's set holds dest
//     references, which keep a removed dest in the trash), the sweeper
//     collects entries unused for the expiration, and a change of
//     scheduler or the service's removal flushes them (done_service).
//     With a virtual service per address and port the destination address
//     is the VIP, so in practice a service has one set.
//
// Apply changes a service's dests as a sequence of ipvsadm commands
// would: deletions in list order, then additions and edits in
// configuration order; rr, wrr and lblcr state follow that sequence.
//
// # Limits
//
// IPv4 only for now (IPv6 services are refused with ErrUnsupported; the map
// layouts already carry 16-byte addresses); no firewall-mark services (XDP
// runs before any mark exists), no one-packet scheduling, sorry server or
// PROXY protocol; at most 255 services, 4095 real servers and 64 real
// servers per service. On veth interfaces in native mode the receiving
// peer needs an XDP program or GRO for XDP_TX (AttachPass), and senders on
// the same host must not rely on checksum offload, because native XDP
// drops the skb's partial-checksum state; physical NICs have neither issue,
// generic mode (ModeGeneric) has neither either.
package xdp
