// Package vrrp is Fulcrum's VRRP engine: versions 2 (RFC 3768) and 3
// (RFC 5798, with the RFC 9568 changes keepalived follows) over IPv4 and
// IPv6, interoperable with keepalived.
//
// The pieces:
//
//   - Decode/Advert.Encode: the wire format, with the version 3 checksum
//     over the pseudo-header (accepted also without it, and with the
//     multicast group as destination, as keepalived accepts it).
//   - Node: runs the instances of a config (New, Apply, Run, Status,
//     MasterFor), one goroutine each, with keepalived's state machine,
//     trackers (track_interface, track_script/vrrp_script, track_file),
//     sync groups and notifications (through the Notifier interface).
//   - RawTransport: raw IP sockets; NetlinkEffects: addresses, routes,
//     macvlan VMACs, gratuitous ARP and unsolicited NA. Both are
//     interfaces, with in-memory doubles in vrrptest.
//
// # Where keepalived differs from the RFCs, we follow keepalived
//
// These choices are keepalived 2.2.7's (the interop target; keepalived.md
// sections 1-2 and 7), each read in its source:
//
//   - Start-up (vrrp_scheduler.c vrrp_init_state): only the address owner
//     (priority 255) starts as MASTER. state MASTER below 255 starts in
//     BACKUP and waits a full Master_Down_Interval like any backup.
//   - FAULT state: when the instance's own interface loses carrier
//     (IFF_UP and IFF_RUNNING, keepalived's IF_ISUP) or a weight-0 tracker
//     fails, a master sends priority 0 and drops its addresses; adverts
//     are neither sent nor accepted until the fault clears, then the
//     instance re-enters BACKUP (or MASTER for the owner).
//   - A master receiving a lower-priority advert answers at once with its
//     own (RFC 9568 and keepalived's default; RFC 5798 discarded it).
//   - Timers are keepalived's arithmetic (include/vrrp.h
//     VRRP_TIMER_SKEW_CALC): microseconds with integer division, the
//     skew from the effective priority; the version 2 skew ignores the
//     interval, the version 3 one scales with Master_Adver_Interval.
//   - A backup discarding a lower-priority advert keeps its down timer
//     running (vrrp_state_backup); preempt_delay accepts lower-priority
//     adverts until the delay has run from the first of them.
//   - Two owners (both 255): the master lowers its own priority to 254,
//     as vrrp_state_master_rx does.
//   - The advertised address list may differ from ours: it is counted
//     (address_list_errors) and the advert is accepted, as keepalived 2.x
//     does (RFC: MAY verify).
//   - Version 2 PASS authentication: auth_pass truncated to 8 bytes,
//     compared in constant time; an auth type or interval mismatch drops
//     the advert (RFC 3768 section 7.1). Version 3 has no authentication.
//   - The source MAC is the interface's own unless use_vmac, although RFC
//     5798 section 7.3 wants the virtual MAC; use_vmac creates keepalived's
//     private-mode macvlan vrrp.VRID (vrrp6.VRID for IPv6 here) with
//     00-00-5E-00-01-VRID (00-02 for IPv6) and its sysctls (vrrp_vmac.c).
//   - Gratuitous ARP is an ARP request with target MAC ff:ff:ff:ff:ff:ff,
//     sent garp_master_repeat times at takeover and again after
//     garp_master_delay (defaults 5 and 5 s), and every
//     garp_master_refresh if set (vrrp_arp.c). The unsolicited NA carries
//     only the Override flag, plus Router when the interface forwards
//     (vrrp_ndisc.c), although the RFC says Router always.
//   - Stale addresses of a previous run are removed at start; every
//     address is removed at stop, whatever the state.
//   - Sync groups (vrrp_sync.c): a member becoming MASTER pulls the
//     others up, one falling to BACKUP pulls them down, and a member whose
//     own trackers fail puts the whole group in FAULT. Weighted trackers
//     of members count as weight 0.
//   - vrrp_script results use keepalived's counter (rise/fall, the first
//     result decides); track_interface/script weights add while up (> 0)
//     or down (< 0); track_file multiplies its number by the weight; the
//     effective priority stays within 1..254 and the owner's never moves.
//   - The generic notify script gets keepalived's four arguments,
//     INSTANCE|GROUP name STATE priority; STOP notifications get 1 s.
//
// # Where we differ from keepalived
//
//   - Safer: in unicast mode the sender must be a listed unicast_peer
//     (keepalived checks only with vrrp_check_unicast_src); an instance
//     without authentication and without unicast peers logs a warning at
//     start (reliability.md section 2.5: one spoofed TTL-255 advert
//     deposed keepalived's master).
//   - Every rejected advert is counted by reason (Reason), including
//     adverts of other VRIDs, since each instance has its own socket
//     (keepalived shares one per interface and dispatches by VRID).
//   - Not implemented: auth_type AH (refused by Apply), accept/no_accept
//     filtering (addresses are always reachable, keepalived's default
//     accept), IPv4 virtual_rules, track_process and track_bfd, route
//     tracking (no_track), garp_lower_prio_*, vrrp_strict's extra checks,
//     unicast without an interface, and the old_unicast_checksum switch
//     for sending (receiving accepts every checksum form).
//   - Interfaces and track files are polled every DefaultPoll instead of
//     watched through netlink and inotify.
//   - IPv6 VIPs are added without duplicate address detection (nodad), so
//     they are usable at once; VRRP is what decides their owner.
package vrrp
