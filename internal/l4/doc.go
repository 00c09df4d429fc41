// Package l4 is Fulcrum's userspace L4 data plane: a TCP and UDP proxy
// that behaves, as seen through ipvsadm, like Linux IPVS in NAT (Masq)
// mode. It accepts on every virtual service's VIP:port, schedules with
// package sched (persistence first, as ip_vs_sched_persist), connects to the
// real server and relays, while keeping an IPVS-style connection table
// (package conntab) and IPVS counters and rates (package stats).
//
// # TCP connection states
//
// A proxy sees socket events, not packets. Each event is fed to the
// kernel's NAT state table (tcp_states in ip_vs_proto_tcp.c) as the packet
// that causes it, so the states and their timeouts are the kernel's:
//
//	accepted (the client's SYN)                 INPUT  SYN  NONE -> SYN_RECV (inactive)
//	real server connected (its SYN+ACK)         OUTPUT SYN  SYN_RECV -> SYN_RECV
//	  and the client's ACK                      INPUT  ACK  SYN_RECV -> ESTABLISHED (active)
//	real server refused / dial timed out        OUTPUT RST  SYN_RECV -> CLOSE
//	client sent FIN first                       INPUT  FIN  ESTABLISHED -> CLOSE_WAIT
//	real server sent FIN first                  OUTPUT FIN  ESTABLISHED -> FIN_WAIT
//	the other side's FIN                        -> TIME_WAIT (from CLOSE_WAIT or FIN_WAIT)
//	reset or error on the client side           INPUT  RST  -> CLOSE
//	reset or error on the real server side      OUTPUT RST  -> CLOSE
//
// Note the naming in NAT mode: the kernel's table moves to CLOSE_WAIT when
// the client closes first and to FIN_WAIT when the real server does (only
// the INPUT-ONLY table of direct routing maps a client FIN to FIN_WAIT).
// The entry stays after both sockets are closed, in TIME_WAIT (120 s) or
// CLOSE (10 s), and counts as InActConn meanwhile, as ipvsadm shows it.
// When an entry times out while its sockets are open (an ESTABLISHED
// connection idle for longer than the tcp timeout, a half-closed one idle
// for CLOSE_WAIT's 60 s...), both sockets are reset: IPVS would drop the
// packets of a connection it no longer knows.
//
// Activity is observed without touching the data path: every estimator
// tick (2 s) each live connection's sockets are sampled with TCP_INFO, and
// the entry's timer is re-armed if anything moved. Idle detection therefore
// has a 2 s granularity.
//
// # Counters
//
// Conns counts scheduled connections (ip_vs_conn_stats), per service and per
// real server. For a proxy, "in" is what the plane received from the
// client and "out" what it received from the real server:
//
//   - TCP InPkts / OutPkts are the TCP segments received on the client
//     socket / the real-server socket (tcpi_segs_in: handshake, ACKs and
//     FINs included, like the packets IPVS counts in each direction).
//   - TCP InBytes / OutBytes are payload bytes received (tcpi_bytes_received)
//     on those sockets; at close they are settled against the bytes the
//     relay moved. They are transport payload, not the L3 packet lengths IPVS
//     adds up, so they are smaller by the IP and TCP headers.
//   - UDP InPkts / OutPkts are datagrams from the client / from the real
//     server, InBytes / OutBytes their payload sizes (without a PROXY
//     header the plane adds).
//
// TCP counters of long connections advance at every 2 s sample, so the
// estimator (ip_vs_est.c: 2 s tick, avg += (rate - avg) >> 2) sees them.
//
// # Relaying
//
// TCP is relayed by one event loop per P (tcp.go), as an nginx worker per
// CPU: an epoll set, non-blocking sockets, a connect that does not wait.
// Small exchanges are copied with read/write through the loop's buffer;
// a flow whose read fills the buffer is bulk and moves by splice(2) from
// then on, without passing through user space. A half-close is passed on
// (shutdown of the other side's write), as IPVS forwards a FIN. UDP has a
// goroutine per service socket and per flow (udp.go).
//
// # Where this plane differs from IPVS
//
//   - No real server available and no sorry server: IPVS answers ICMP port
//     unreachable (ip_vs_leave); the proxy has already accepted the TCP
//     connection and resets it (SO_LINGER 0), and drops UDP datagrams.
//   - Sorry server: used when the scheduler finds nothing; no template is
//     made for it, so persistent clients go back to real servers as soon as
//     one can take them.
//   - Deleting a real server or a service leaves TCP connections to finish
//     (IPVS keeps the entries but, with expire_nodest_conn=0, drops their
//     packets). A UDP flow whose real server was deleted is rescheduled on
//     its next datagram (expire_nodest_conn=1 behaviour). Deleting a UDP
//     service ends its flows, since replies leave through its socket.
//   - Only Masq forwarding; Route (-g), Tunnel (-i), fwmark services and
//     port-0 services are refused with ErrUnsupported.
//   - Persistence templates use the <proto, caddr&mask, 0, vaddr, vport>
//     form; the FTP, port-0 and fwmark forms wait for those services.
//   - UDP with PROXY protocol v2 prepends a DGRAM header to every datagram.
//   - Options.MaxConns can bound the table (oldest inactive evicted).
package l4
