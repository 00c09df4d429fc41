// Package ipvsadm is ipvsadm 1.31's command line over Fulcrum's admin API:
// `fulcrum adm ARGS...` and the binary run as `ipvsadm`. It accepts what
// ipvsadm accepts, prints what ipvsadm prints (listings, -S rules, error
// texts) byte for byte, and exits with ipvsadm's statuses: 0, 1 for a
// failed listing, 2 for a parse error (fail()) or an unreachable daemon,
// 255 for a failed change (process_options() returning -1) and for
// tryhelp_exit().
//
// Sources: ipvsadm.c, config_stream.c and libipvs/libipvs.c of ipvsadm
// 1.31 (Debian 1:1.31-1), popt 1.19's popt.c for option parsing, glibc for
// inet_aton/inet_ntop/strtol and qsort's merge sort. The golden files under
// testdata/ were printed by ipvsadm 1.31's own code (see oracle_test.go).
//
// Where Fulcrum deliberately differs from ipvsadm:
//   - A real server added or edited without -g/-i/-m gets the data plane's
//     default forwarding method (api.Real.Forward "") and keeps its port;
//     ipvsadm would send -g and force the service's port.
//   - Errors with no kernel errno (unsupported by the data plane, config
//     rejected, unauthorized, internal, transport) print the server's message
//     as the one line ipvsadm prints for a failed call, with the same status.
//   - --start-daemon/--stop-daemon, --pe and GUE/GRE tunnels parse exactly
//     but then fail with a "not supported by fulcrum" line (status 255).
//   - When the admin API is unreachable, -h and -v still work; everything
//     else prints "Can't initialize ipvs: ..." and exits 2, as ipvsadm does
//     without the ip_vs module.
//   - -L --timeout reports why it failed; ipvsadm exits 1 silently.
//   - "-b ,": ipvsadm crashes (strcmp on NULL); here it is an invalid flag.
package ipvsadm
