// Package health replaces keepalived's checker process: it probes real
// servers with keepalived's checkers (HTTP_GET, SSL_GET, TCP_CHECK,
// MISC_CHECK, UDP_CHECK, DNS_CHECK, SMTP_CHECK, PING_CHECK, FILE_CHECK) plus
// HAProxy's agent-check, keeps keepalived's per-checker state machine
// (retry counters, alpha, quorum with hysteresis, sorry server, inhibit on
// failure, omega, ha_suspend) and turns the result into the table IPVS
// should hold (Manager.Effective).
//
// The semantics follow keepalived's sources, cited per function:
// keepalived/check/check_api.c, check_tcp.c (tcp_epilog), check_http.c
// (epilog, timeout_epilog, http_request_thread), check_misc.c
// (misc_check_child_thread), check_udp.c, check_dns.c, check_smtp.c,
// check_ping.c, check_file.c with lib/track_file.c, and ipwrapper.c
// (update_svr_checker_state, perform_svr_state, update_quorum_state,
// clear_service_rs).
package health
