// Package conntab is an IPVS-style connection table (net/netfilter/ipvs/
// ip_vs_conn.c): entries for connections and persistence templates, each
// bound to a scheduler dest, with the kernel's state names, per-state
// timeouts and active/inactive accounting.
//
// Semantics taken from the kernel:
//   - TCP states, names and default timeouts are tcp_state_name_table and
//     tcp_timeouts of ip_vs_proto_tcp.c (NONE 2 s, ESTABLISHED 900 s,
//     SYN_SENT 120 s, SYN_RECV 60 s, FIN_WAIT 120 s, TIME_WAIT 120 s,
//     CLOSE 10 s, CLOSE_WAIT 60 s, LAST_ACK 30 s, LISTEN 120 s, SYNACK
//     120 s); UDP has one state "UDP" with the UDP timeout (300 s).
//     SetTimeouts is ipvsadm --set: ESTABLISHED, FIN_WAIT and UDP, 0 keeps.
//   - Transitions follow tcp_states (the table set_tcp_state indexes by
//     direction, flag and state); Entry.Event is one packet.
//   - Every new connection is bound inactive (ip_vs_bind_dest); a TCP entry
//     becomes active when it enters ESTABLISHED and inactive when it leaves
//     it; UDP entries are never active. Templates count as persistent.
//     The counters live in sched.Dest (Bind, Activate, Deactivate, Unbind).
//   - A timer is re-armed with the current state's timeout on every packet
//     (Touch, Event). An entry stays in the table after its connection
//     ended, until its state's timeout runs out (TIME_WAIT 120 s...).
//   - Templates: keyed <proto, caddr&mask, 0, vaddr, vport>; re-armed with
//     their own timeout when they pick a dest for a new connection; never
//     removed while they control a live connection (n_control): their timer
//     is pushed back by 60 s instead (ip_vs_conn_expire's expire_later);
//     invalidated by CheckTemplate when their dest is gone
//     (ip_vs_check_template).
//
// Expiry is a sweep (Sweep, called about once a second by the owner) over
// per-shard lists: re-arming a timer is a store under the entry's lock, with
// no timer per entry and no re-queueing; a sweep costs O(entries) but takes
// each shard lock only for its own walk. The clock is injectable. When the
// owner of a connection is done with it (Entry.Release), the entry is kept
// until its timeout in a compact pointer-free form, so that a table full of
// TIME_WAIT connections costs the garbage collector nothing to scan.
//
// Beyond the kernel, a table can be bounded (Options.MaxEntries): when full,
// Insert evicts the oldest inactive connection (never a template or an
// ESTABLISHED TCP connection) and fails with ErrFull if there is none.
package conntab
