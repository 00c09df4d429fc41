package ipvsadm

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func testParse(t testing.TB, args ...string) (*Command, error) {
	t.Helper()
	return parse(context.Background(), newTestResolver(t), Program, args)
}

// svc4 builds the Service ipvsadm fills for -t/-u host:port.
func svc4(proto int, addr string, port uint16) Service {
	return Service{AF: AFInet, Protocol: proto, Addr: netip.MustParseAddr(addr), Port: port, Netmask: 0xffffffff}
}

func defaultDest() Dest { return Dest{Weight: 1, ConnFlags: FwdRoute} }

// TestParseCommands covers every command and option; expectations follow
// ipvsadm.c parse_options()/process_options() and libipvs.h defaults.
func TestParseCommands(t *testing.T) {
	web := svc4(ProtoTCP, "10.0.0.1", 80)
	withSched := func(s Service, sched string) Service { s.Scheduler = sched; return s }
	tests := []struct {
		name string
		args []string
		want Command
	}{
		{"add defaults to wlc", []string{"-A", "-t", "10.0.0.1:80"},
			Command{Cmd: CmdAdd, Options: OptService, Service: withSched(web, "wlc"), Dest: defaultDest()}},
		{"long add", []string{"--add-service", "--tcp-service", "10.0.0.1:http", "--scheduler", "rr"},
			Command{Cmd: CmdAdd, Options: OptService | OptScheduler, Service: withSched(web, "rr"), Dest: defaultDest()}},
		{"bundled -At and attached value", []string{"-At10.0.0.1:80", "-srr"},
			Command{Cmd: CmdAdd, Options: OptService | OptScheduler, Service: withSched(web, "rr"), Dest: defaultDest()}},
		{"-p without value is 360 (IPVS_SVC_PERSISTENT_TIMEOUT)", []string{"-A", "-t", "10.0.0.1:0", "-p"},
			Command{Cmd: CmdAdd, Options: OptService | OptPersistent, Service: func() Service {
				s := withSched(svc4(ProtoTCP, "10.0.0.1", 0), "wlc")
				s.Flags, s.Timeout = SvcPersistent, 360
				return s
			}(), Dest: defaultDest()}},
		{"-p leaves a dash argument alone", []string{"-E", "-u", "10.0.0.1:53", "-p", "-M", "255.255.255.0", "-o"},
			Command{Cmd: CmdEdit, Options: OptService | OptPersistent | OptNetmask | OptOnePacket, Service: func() Service {
				s := withSched(svc4(ProtoUDP, "10.0.0.1", 53), "wlc")
				s.Flags, s.Timeout, s.Netmask = SvcPersistent|SvcOnePacket, 360, 0xffffff00
				return s
			}(), Dest: defaultDest()}},
		{"-p with value, -b flags for sh", []string{"-A", "-t", "10.0.0.1:80", "-s", "sh", "-b", "sh-port,flag-3", "-p", "60"},
			Command{Cmd: CmdAdd, Options: OptService | OptScheduler | OptSchedFlags | OptPersistent, Service: func() Service {
				s := withSched(web, "sh")
				s.Flags, s.Timeout = SvcPersistent|SvcSched2|SvcSched3, 60
				return s
			}(), Dest: defaultDest()}},
		{"fwmark ipv6 resets the mask to 128", []string{"-A", "-f", "7", "-M", "255.0.0.0", "-6", "-p", "-s", "mh", "--pe", "sip"},
			Command{Cmd: CmdAdd, Options: OptService | OptNetmask | OptPersistent | OptScheduler | OptPersistenceEngine,
				Service: Service{AF: AFInet6, Protocol: ProtoTCP, FWMark: 7, Netmask: 128, Scheduler: "mh", Flags: SvcPersistent, Timeout: 360, PE: "sip"},
				Dest:    defaultDest()}},
		{"ipv6 service with prefix mask", []string{"-A", "-t", "[2001:db8::1]:443", "-p", "10", "-M", "64"},
			Command{Cmd: CmdAdd, Options: OptService | OptPersistent | OptNetmask,
				Service: Service{AF: AFInet6, Protocol: ProtoTCP, Addr: netip.MustParseAddr("2001:db8::1"), Port: 443, Netmask: 64, Scheduler: "wlc", Flags: SvcPersistent, Timeout: 10},
				Dest:    defaultDest()}},
		{"delete", []string{"-D", "--udp-service", "10.0.0.1:domain"},
			Command{Cmd: CmdDel, Options: OptService, Service: svc4(ProtoUDP, "10.0.0.1", 53), Dest: defaultDest()}},
		{"sctp service", []string{"-D", "--sctp-service", "10.0.0.1:5060"},
			Command{Cmd: CmdDel, Options: OptService, Service: svc4(ProtoSCTP, "10.0.0.1", 5060), Dest: defaultDest()}},
		{"no arguments list the table", nil, Command{Cmd: CmdList, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"clear", []string{"-C"}, Command{Cmd: CmdFlush, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"clear long", []string{"--clear"}, Command{Cmd: CmdFlush, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"add server takes the service port", []string{"-a", "-t", "10.0.0.1:80", "-r", "192.168.1.2", "-m", "-w", "0", "-x", "100", "-y", "50"},
			Command{Cmd: CmdAddDest, Options: OptService | OptServer | OptForward | OptWeight | OptUThreshold | OptLThreshold, Service: web,
				Dest: Dest{AF: AFInet, Addr: netip.MustParseAddr("192.168.1.2"), Port: 80, ConnFlags: FwdMasq, Weight: 0, UThreshold: 100, LThreshold: 50}}},
		{"masq keeps the server port", []string{"-a", "-t", "10.0.0.1:80", "-r", "192.168.1.2:8080", "-m"},
			Command{Cmd: CmdAddDest, Options: OptService | OptServer | OptForward, Service: web,
				Dest: Dest{AF: AFInet, Addr: netip.MustParseAddr("192.168.1.2"), Port: 8080, ConnFlags: FwdMasq, Weight: 1}}},
		{"explicit -g forces the service port", []string{"-a", "-t", "10.0.0.1:80", "-r", "192.168.1.2:8080", "-g"},
			Command{Cmd: CmdAddDest, Options: OptService | OptServer | OptForward, Service: web,
				Dest: Dest{AF: AFInet, Addr: netip.MustParseAddr("192.168.1.2"), Port: 80, ConnFlags: FwdRoute, Weight: 1}}},
		{"no method keeps the port (data plane default)", []string{"-e", "-t", "10.0.0.1:80", "-r", "192.168.1.2:8080"},
			Command{Cmd: CmdEditDest, Options: OptService | OptServer, Service: web,
				Dest: Dest{AF: AFInet, Addr: netip.MustParseAddr("192.168.1.2"), Port: 8080, ConnFlags: FwdRoute, Weight: 1}}},
		{"tunnel to another family with gue", []string{"-a", "-t", "10.0.0.1:80", "-r", "[2001:db8::2]:80", "-i", "--tun-type", "gue", "--tun-port", "6080", "--tun-remcsum"},
			Command{Cmd: CmdAddDest, Options: OptService | OptServer | OptForward | OptTunType | OptTunPort | OptTunRemCsum, Service: web,
				Dest: Dest{AF: AFInet6, Addr: netip.MustParseAddr("2001:db8::2"), Port: 80, ConnFlags: FwdTunnel, Weight: 1, TunType: TunGUE, TunPort: 6080, TunFlags: TunFlagRemCsum}}},
		{"delete server", []string{"-d", "-f", "1", "-r", "192.168.1.2"},
			Command{Cmd: CmdDelDest, Options: OptService | OptServer, Service: Service{AF: AFInet, Protocol: ProtoTCP, FWMark: 1, Netmask: 0xffffffff},
				Dest: Dest{AF: AFInet, Addr: netip.MustParseAddr("192.168.1.2"), ConnFlags: FwdRoute, Weight: 1}}},
		{"-Ln bundled", []string{"-Ln"}, Command{Cmd: CmdList, Options: OptNumeric, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"-lnc bundled", []string{"-lnc"}, Command{Cmd: CmdList, Options: OptNumeric | OptConnection, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"list one service with all display options", []string{"-L", "-t", "10.0.0.1:80", "--stats", "-X", "--nosort", "--sort", "-n"},
			Command{Cmd: CmdList, Options: OptService | OptStats | OptExact | OptNoSort | OptNumeric, Service: web, Dest: defaultDest()}},
		{"list rate", []string{"--list", "--rate"}, Command{Cmd: CmdList, Options: OptRate, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"list thresholds tun-info", []string{"-l", "--thresholds", "--tun-info"}, Command{Cmd: CmdList, Options: OptThresholds | OptTunInfo, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"list persistent-conn", []string{"-L", "--persistent-conn"}, Command{Cmd: CmdList, Options: OptPersistentConn, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"list timeout", []string{"-L", "--timeout"}, Command{Cmd: CmdList, Options: OptTimeout, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"list daemon", []string{"-L", "--daemon"}, Command{Cmd: CmdList, Options: OptDaemon, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"zero all", []string{"-Z"}, Command{Cmd: CmdZero, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"zero one", []string{"--zero", "-t", "10.0.0.1:80"}, Command{Cmd: CmdZero, Options: OptService, Service: web, Dest: defaultDest()}},
		{"set", []string{"--set", "900", "0", "300"}, Command{Cmd: CmdTimeout, Timeouts: [3]int{900, 0, 300}, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"save", []string{"-S", "-n"}, Command{Cmd: CmdSave, Options: OptNumeric, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"restore", []string{"-R"}, Command{Cmd: CmdRestore, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"start daemon defaults the interface", []string{"--start-daemon", "backup", "--syncid", "3", "--mcast-group", "ff02::81", "--mcast-port", "8849", "--mcast-ttl", "2", "--sync-maxlen", "1400"},
			Command{Cmd: CmdStartDaemon, Options: OptSyncID | OptMcastGroup | OptMcastPort | OptMcastTTL | OptSyncMaxlen, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest(),
				Daemon: Daemon{State: StateBackup, McastIfn: "eth0", SyncID: 3, McastGroup: netip.MustParseAddr("ff02::81"), McastPort: 8849, McastTTL: 2, SyncMaxlen: 1400}}},
		{"stop daemon", []string{"--stop-daemon=master", "--syncid=0"},
			Command{Cmd: CmdStopDaemon, Options: OptSyncID, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest(), Daemon: Daemon{State: StateMaster}}},
		{"long names of the server options", []string{"--edit-server", "--fwmark-service", "9", "--real-server", "10.0.0.5:25", "--masquerading",
			"--weight", "7", "--u-threshold", "10", "--l-threshold", "3"},
			Command{Cmd: CmdEditDest, Options: OptService | OptServer | OptForward | OptWeight | OptUThreshold | OptLThreshold,
				Service: Service{AF: AFInet, Protocol: ProtoTCP, FWMark: 9, Netmask: 0xffffffff},
				Dest:    Dest{AF: AFInet, Addr: netip.MustParseAddr("10.0.0.5"), Port: 25, ConnFlags: FwdMasq, Weight: 7, UThreshold: 10, LThreshold: 3}}},
		{"--ipip with gre and csum", []string{"--add-server", "-t", "10.0.0.1:80", "-r", "10.0.0.5", "--ipip", "--tun-type", "gre", "--tun-csum"},
			Command{Cmd: CmdAddDest, Options: OptService | OptServer | OptForward | OptTunType | OptTunCsum, Service: web,
				Dest: Dest{AF: AFInet, Addr: netip.MustParseAddr("10.0.0.5"), Port: 80, ConnFlags: FwdTunnel, Weight: 1, TunType: TunGRE, TunFlags: TunFlagCsum}}},
		{"--gatewaying forces the service port", []string{"--add-server", "-t", "10.0.0.1:80", "-r", "10.0.0.5:8080", "--gatewaying"},
			Command{Cmd: CmdAddDest, Options: OptService | OptServer | OptForward, Service: web,
				Dest: Dest{AF: AFInet, Addr: netip.MustParseAddr("10.0.0.5"), Port: 80, ConnFlags: FwdRoute, Weight: 1}}},
		{"gue needs its port", []string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.5", "-i", "--tun-type=gue", "--tun-port=6080", "--tun-nocsum"},
			Command{Cmd: CmdAddDest, Options: OptService | OptServer | OptForward | OptTunType | OptTunPort | OptTunNoCsum, Service: web,
				Dest: Dest{AF: AFInet, Addr: netip.MustParseAddr("10.0.0.5"), Port: 80, ConnFlags: FwdTunnel, Weight: 1, TunType: TunGUE, TunPort: 6080}}},
		{"long list options", []string{"--list", "--numeric", "--connection", "--persistent-conn"},
			Command{Cmd: CmdList, Options: OptNumeric | OptConnection | OptPersistentConn, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest()}},
		{"long exact and ipv6 fwmark", []string{"--list", "--fwmark-service", "4", "--ipv6", "--rate", "--exact"},
			Command{Cmd: CmdList, Options: OptService | OptRate | OptExact, Service: Service{AF: AFInet6, Protocol: ProtoTCP, FWMark: 4, Netmask: 128}, Dest: defaultDest()}},
		{"start daemon with interface", []string{"--start-daemon", "master", "--mcast-interface", "eth1234567890123456"},
			Command{Cmd: CmdStartDaemon, Options: OptMcast, Service: Service{Netmask: 0xffffffff}, Dest: defaultDest(),
				Daemon: Daemon{State: StateMaster, McastIfn: "eth123456789012"}}},
		{"one-packet fwmark, long names", []string{"--edit-service", "--fwmark-service", "1", "--ops", "--persistent", "--netmask", "255.255.0.0", "--sched-flags", "flag-2"},
			Command{Cmd: CmdEdit, Options: OptService | OptOnePacket | OptPersistent | OptNetmask | OptSchedFlags,
				Service: Service{AF: AFInet, Protocol: ProtoTCP, FWMark: 1, Netmask: 0xffff0000, Scheduler: "wlc", Flags: SvcOnePacket | SvcPersistent | SvcSched2, Timeout: 360},
				Dest:    defaultDest()}},
		{"help ignores the rest", []string{"-h", "--no-such"}, Command{Cmd: CmdHelp}},
		{"version", []string{"--version"}, Command{Cmd: CmdVersion}},
		{"scheduler name is cut to 15 bytes", []string{"-A", "-t", "10.0.0.1:80", "-s", "abcdefghijklmnopq"},
			Command{Cmd: CmdAdd, Options: OptService | OptScheduler, Service: withSched(web, "abcdefghijklmno"), Dest: defaultDest()}},
		{"inet_aton forms", []string{"-D", "-t", "0x0a.1:0x50"}, Command{}}, // port "0x50" is no number: error below
		{"popt !#:+ takes the next plain argument", []string{"-A", "-t", "!#:+", "10.0.0.1:80", "-s", "rr"},
			Command{Cmd: CmdAdd, Options: OptService | OptScheduler, Service: withSched(web, "rr"), Dest: defaultDest()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := testParse(t, tc.args...)
			if tc.want.Cmd == CmdNone {
				if err == nil {
					t.Fatalf("parse %q succeeded: %+v", tc.args, c)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse %q: %v", tc.args, err)
			}
			if *c != tc.want {
				t.Errorf("parse %q:\ngot  %+v\nwant %+v", tc.args, *c, tc.want)
			}
		})
	}
}

// TestParseErrors pins each error text and exit status of ipvsadm.c:
// fail() exits 2, tryhelp_exit() 255, popt errors return -1 (exit 255, but
// -R goes on).
func TestParseErrors(t *testing.T) {
	const try = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"
	tests := []struct {
		args   []string
		stderr string
		status int
		fatal  bool
	}{
		{[]string{"--bogus"}, try, 255, true},
		{[]string{"-n", "-L"}, try, 255, true},
		{[]string{"-t", "10.0.0.1:80"}, try, 255, true},
		{[]string{"plain"}, try, 255, true},
		{[]string{"--start-daemon"}, try, 255, true},
		{[]string{"-A", "--bogus"}, "--bogus: unknown option\n", 255, false},
		{[]string{"-A", "-t"}, "-t: missing argument\n", 255, false},
		{[]string{"-A", "-q"}, "-q: unknown option\n", 255, false},
		{[]string{"-Aq"}, "-Aq: unknown option\n", 255, false},
		{[]string{"-L", "--stats=1"}, "--stats=1: option does not take an argument\n", 255, false},
		{[]string{"-L=1"}, try, 255, true},
		{[]string{"-Ln=1"}, "-Ln=1: option does not take an argument\n", 255, false},
		{[]string{"-A", "-t", "10.0.0.1:80", "-L"}, "invalid option `-L'\n", 2, true},
		{[]string{"-AL"}, "invalid option `-AL'\n", 2, true},
		{[]string{"-L", "-h"}, "invalid option `-h'\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1"}, "Zero port specified for non-persistent service\n", 2, true},
		{[]string{"-E", "-t", "10.0.0.1:0"}, "Zero port specified for non-persistent service\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:80", "-o"}, "One-Packet Scheduling is only for UDP virtual services\n", 2, true},
		{[]string{"--set", "1", "2"}, "--set option requires 3 timeout values\n", 2, true},
		{[]string{"--set", "1", "2", "3", "4"}, "unexpected argument 4\n", 2, true},
		{[]string{"--set", "1", "2", "x"}, "invalid timeout value `x' specified\n", 2, true},
		{[]string{"--set", "1", "2", "2678401"}, "invalid timeout value `2678401' specified\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:80", "-p", "0"}, "invalid timeout value `0' specified\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:80", "-M", "nonsense"}, "illegal virtual server persistent mask specified\n", 2, true},
		{[]string{"-A", "-t", "[::1]:80", "-M", "129"}, "illegal ipv6 netmask specified\n", 2, true},
		{[]string{"-A", "-t", "80"}, "illegal virtual server address[:port] specified\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:65536"}, "illegal virtual server address[:port] specified\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:nosuch"}, "illegal virtual server address[:port] specified\n", 2, true},
		{[]string{"-A", "-t", "1.2.3.256:80"}, "illegal virtual server address[:port] specified\n", 2, true},
		{[]string{"-A", "-t", "[::1]"}, "illegal virtual server address[:port] specified\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "nowhere"}, "illegal real server address[:port] specified\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w", "65536"}, "illegal weight specified\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w", "-1"}, "illegal weight specified\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-x", "2147483648"}, "illegal u_threshold specified\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-y", "x"}, "illegal l_threshold specified\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "[::2]:80", "-m"}, "Different address family is allowed only for tunneling servers\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-m", "--tun-type", "gre"}, "Tunnel options conflict with forward method\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "gue"}, "You need to supply the 'tun-port' option for the 'gue' tunnel type\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-csum"}, "Illegal 'tun-csum' option with the 'ipip' tunnel type\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "gre", "--tun-csum", "--tun-nocsum"}, "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "vxlan"}, "illegal tunnel type specified\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-port", "0"}, "illegal tunnel port specified\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-m", "-g"}, "multiple 'forwarding-method' options specified\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:80", "-u", "10.0.0.1:53"}, "multiple 'service-address' options specified\n", 2, true},
		{[]string{"-A", "-f", "0"}, "invalid fwmark value `0' specified\n", 2, true},
		{[]string{"-A", "-f", "4294967296"}, "invalid fwmark value `4294967296' specified\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:80", "-6"}, "-6 used before -f\n\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:80", "-b", "sh-port"}, "incompatible scheduler flag `sh-port'\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:80", "-b", "flag-4"}, "invalid scheduler flag `flag-4'\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:80", "-r", "10.0.0.2"}, "Illegal 'real-server' option with the 'add-service' command\n", 2, true},
		{[]string{"-A"}, "You need to supply the 'service-address' option for the 'add-service' command\n", 2, true},
		{[]string{"-a", "-t", "10.0.0.1:80"}, "You need to supply the 'real-server' option for the 'add-server' command\n", 2, true},
		{[]string{"-D", "-t", "10.0.0.1:80", "-s", "rr"}, "Illegal 'scheduler' option with the 'delete-service' command\n", 2, true},
		{[]string{"-C", "-n"}, "Illegal 'numeric' option with the 'flush' command\n", 2, true},
		{[]string{"-C", "extra"}, "unexpected argument extra\n", 2, true},
		{[]string{"-L", "-c", "-t", "10.0.0.1:80"}, "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n", 2, true},
		{[]string{"-L", "--timeout", "--daemon"}, "The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n", 2, true},
		{[]string{"-L", "-c", "--stats"}, "options conflicts in the list command\n", 2, true},
		{[]string{"-L", "--daemon", "--persistent-conn"}, "options conflicts in the list command\n", 2, true},
		{[]string{"-L", "-n", "-n"}, "multiple 'numeric' options specified\n", 2, true},
		{[]string{"-S", "-c"}, "Illegal 'connection' option with the 'save' command\n", 2, true},
		{[]string{"-Z", "-n"}, "Illegal 'numeric' option with the 'zero' command\n", 2, true},
		{[]string{"--set", "-n", "1", "2", "3"}, "Illegal 'numeric' option with the 'set' command\n", 2, true},
		{[]string{"-R", "-n"}, "Illegal 'numeric' option with the 'restore' command\n", 2, true},
		{[]string{"--start-daemon", "primary"}, "illegal start-daemon parameter specified\n", 2, true},
		{[]string{"--stop-daemon", "primary"}, "illegal start_daemon specified\n", 2, true},
		{[]string{"--start-daemon", "master", "--mcast-group", "10.0.0.1"}, "invalid IPv4 mcast-group `10.0.0.1'\n", 2, true},
		{[]string{"--start-daemon", "master", "--mcast-group", "2001:db8::1"}, "invalid IPv6 mcast-group `2001:db8::1'\n", 2, true},
		{[]string{"--start-daemon", "master", "--syncid", "256"}, "illegal syncid specified\n", 2, true},
		{[]string{"--start-daemon", "master", "--mcast-port", "0"}, "illegal mcast-port specified\n", 2, true},
		{[]string{"--start-daemon", "master", "--mcast-ttl", "256"}, "illegal mcast-ttl specified\n", 2, true},
		{[]string{"--start-daemon", "master", "--sync-maxlen", "65508"}, "illegal sync-maxlen specified\n", 2, true},
		{[]string{"--stop-daemon", "master", "--mcast-interface", "eth1"}, "Illegal 'mcast-interface' option with the 'stop-daemon' command\n", 2, true},
		{[]string{"-A", "-t", "10.0.0.1:80", "-s", "sh", "-b", ",,"}, "invalid scheduler flag `,,'\n", 2, true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c, err := testParse(t, tc.args...)
			if err == nil {
				t.Fatalf("parse %q succeeded: %+v", tc.args, c)
			}
			pe, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T %v", err, err)
			}
			if pe.Stderr != tc.stderr || pe.Status != tc.status || pe.Fatal != tc.fatal {
				t.Errorf("parse %q: got (%q, %d, fatal=%v), want (%q, %d, fatal=%v)", tc.args, pe.Stderr, pe.Status, pe.Fatal, tc.stderr, tc.status, tc.fatal)
			}
		})
	}
}

// TestInetAton pins glibc inet_aton()'s forms (resolv/inet_addr.c).
func TestInetAton(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = rejected
	}{
		{"10.0.0.1", "10.0.0.1"},
		{"10.1", "10.0.0.1"},         // a.b: b fills 24 bits
		{"10.1.2", "10.1.0.2"},       // a.b.c: c fills 16 bits
		{"167772161", "10.0.0.1"},    // one 32-bit number
		{"0x0a.010.0.1", "10.8.0.1"}, // hex and octal parts
		{"0X7f.1", "127.0.0.1"},
		{"1.2.3.4 trailing", "1.2.3.4"}, // white space ends the address
		{"1.2.3.4\tx", "1.2.3.4"},
		{"1.2.3.256", ""},
		{"1.2.65536", ""},
		{"1.16777216", ""},
		{"4294967296", ""},
		{"1.2.3.4.5", ""},
		{"08", ""}, // 8 is no octal digit
		{"0x", ""},
		{"1..2", ""},
		{".1", ""},
		{"1.", ""},
		{"", ""},
		{"-1", ""},
		{"1.2.3.4x", ""},
	}
	for _, tc := range tests {
		w, ok := inetAton(tc.in)
		got := ""
		if ok {
			got = addr4(w).String()
		}
		if got != tc.want {
			t.Errorf("inetAton(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStrtol pins C strtol/string_to_number behaviour: leading blanks and
// a sign are accepted, trailing garbage is not.
func TestStringToNumber(t *testing.T) {
	tests := []struct {
		in       string
		min, max int64
		want     int64
	}{
		{"80", 0, 65535, 80}, {" 80", 0, 65535, 80}, {"+80", 0, 65535, 80}, {"-0", 0, 65535, 0},
		{"80 ", 0, 65535, -1}, {"", 0, 65535, -1}, {"0x50", 0, 65535, -1}, {"65536", 0, 65535, -1},
		{"99999999999999999999", 0, 1 << 62, -1}, {"2147483647", 0, 2147483647, 2147483647},
	}
	for _, tc := range tests {
		if got := stringToNumber(tc.in, tc.min, tc.max); got != tc.want {
			t.Errorf("stringToNumber(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if got := atoi("4294967360"); got != 64 {
		t.Errorf("atoi wraps like (int)strtol: got %d, want 64", got)
	}
}

// TestArgs pins the canonical re-serialisation.
func TestArgs(t *testing.T) {
	for in, want := range map[string]string{
		"-At 10.0.0.1:http -p":              "-A --tcp-service=10.0.0.1:80 --persistent=360",
		"-a -f 3 -6 -r 2001:db8::9 -g -w 0": "-a --fwmark-service=3 -6 --real-server=[2001:db8::9]:0 -g --weight=0",
		"-lnc":                              "-L -n -c",
		"--set 1 2 3":                       "--set 1 2 3",
		"--stop-daemon backup":              "--stop-daemon=backup",
		"-A -t 10.0.0.1:80 -s sh -b sh-port,flag-3": "-A --tcp-service=10.0.0.1:80 --scheduler=sh --sched-flags=flag-2,flag-3",
	} {
		c, err := testParse(t, strings.Fields(in)...)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := c.String(); got != want {
			t.Errorf("%s: Args %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: Parse never panics, and an accepted command re-serialises to
// arguments that parse to the same command.
func FuzzParse(f *testing.F) {
	for _, args := range oracleCases {
		f.Add(strings.Join(args, "\x00"))
	}
	for _, g := range goldenCases {
		f.Add(strings.Join(g.args, "\x00"))
	}
	f.Add("-a\x00-t\x00[2001:db8::1]:80\x00-r\x00[2001:db8::2]\x00-i\x00--tun-type=gue\x00--tun-port=1\x00--tun-csum")
	f.Add("--start-daemon=master\x00--mcast-interface=\x00--mcast-group=ff02::1")
	res := newTestResolver(f)
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		c, err := parse(context.Background(), res, Program, args)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("parse %q: error of type %T", args, err)
			}
			return
		}
		again, err := parse(context.Background(), res, Program, c.Args())
		if err != nil {
			t.Fatalf("parse %q ok, but its Args %q fail: %v", args, c.Args(), err)
		}
		if *again != *c {
			t.Fatalf("parse %q = %+v\nArgs %q parse to %+v", args, *c, c.Args(), *again)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	res := newTestResolver(b)
	args := []string{"-a", "-t", "10.0.0.1:http", "-r", "192.168.1.2:8080", "-m", "-w", "5", "-x", "100", "-y", "50"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(context.Background(), res, Program, args); err != nil {
			b.Fatal(err)
		}
	}
}
