// Package sched implements every Linux IPVS scheduler with the kernel's exact
// semantics (net/netfilter/ipvs/ip_vs_*.c): destination list order, tie
// breaks, weight 0 quiescence, overload thresholds and the per-scheduler
// state kept across destination changes. It does no I/O; the data planes
// (userspace proxy, XDP) feed it connection counts through Dest, and only
// lblc/lblcr read a clock (injectable through Options.Now).
//
// # Shared rules
//
// The destination list is in kernel order, newest first: __ip_vs_update_dest
// (ip_vs_ctl.c) adds with list_add_rcu at the head, so "first in list wins"
// tie breaks favour the most recently added server. Every scheduler skips
// dests flagged OVERLOAD (ip_vs_bind_dest sets the flag when active+inactive
// connections reach the upper threshold; ip_vs_unbind_dest clears it below
// the lower one, or below 3/4 of the upper one) and treats weight 0 as
// quiescent; lblc's cache hit is the one exception to the OVERLOAD rule, as
// in the kernel. The connection overhead is ip_vs_dest_conn_overhead
// (include/net/ip_vs.h): active<<8 + inactive. Weighted comparisons are
// cross-multiplied in 64 bits and a later dest wins only when strictly
// better. Schedulers return nil when nothing qualifies; the kernel then
// answers ICMP port unreachable.
//
// # Schedulers (ipvsadm names)
//
//   - rr (ip_vs_rr.c): cursor over the list, next dest with weight > 0.
//   - wrr (ip_vs_wrr.c): passes with a decreasing current weight cw (step
//     gcd), picking dests with weight >= cw; state kept across changes as
//     ip_vs_wrr_dest_changed does.
//   - lc (ip_vs_lc.c): least overhead.
//   - wlc (ip_vs_wlc.c, ipvsadm's default): least overhead/weight.
//   - sed (ip_vs_sed.c): least (active+1)/weight.
//   - nq (ip_vs_nq.c): first idle dest, else sed.
//   - fo (ip_vs_fo.c): highest weight.
//   - ovf (ip_vs_ovf.c): highest weight whose active connections do not
//     exceed its weight.
//   - lblc (ip_vs_lblc.c): per-destination-address cache of a wlc pick.
//   - lblcr (ip_vs_lblcr.c): per-destination-address set of dests.
//   - dh (ip_vs_dh.c): 256-bucket table hashed on the destination address.
//   - sh (ip_vs_sh.c): 256-bucket weighted table hashed on the source
//     address (and port with sh-port), optional sh-fallback.
//   - mh (ip_vs_mh.c): Maglev table of 4093 slots built with the kernel's
//     fixed hsiphash keys (SipHash-1-3 as on 64-bit kernels), hashed on the
//     source address (and port with mh-port), optional mh-fallback.
//   - twos (ip_vs_twos.c): power of two random choices by weight.
//
// # Concurrency
//
// Service serialises changes and publishes an immutable destination list;
// Schedule may run concurrently with changes and with itself. Schedulers with
// derived state copy what they need in DestsChanged (under their own lock or
// behind an atomic pointer) and never mix it with a list of another
// generation. Schedule does not allocate, except when lblc/lblcr create a
// cache entry or change a server set.
package sched
