package ipvsadm

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

// errAdmin fails the named call with err.
type errAdmin struct {
	*fakeAdmin
	call string
	err  error
}

func (e *errAdmin) fail(call string) error {
	if e.call == call {
		return e.err
	}
	return nil
}

func (e *errAdmin) Services(ctx context.Context) ([]api.Service, error) {
	if err := e.fail("Services"); err != nil {
		return nil, err
	}
	return e.fakeAdmin.Services(ctx)
}

func (e *errAdmin) AddReal(ctx context.Context, k api.ServiceKey, r api.Real) error {
	if err := e.fail("AddReal"); err != nil {
		return err
	}
	return e.fakeAdmin.AddReal(ctx, k, r)
}

func (e *errAdmin) Clear(ctx context.Context) error {
	if err := e.fail("Clear"); err != nil {
		return err
	}
	return e.fakeAdmin.Clear(ctx)
}

func (e *errAdmin) Timeouts(ctx context.Context) (api.Timeouts, error) {
	if err := e.fail("Timeouts"); err != nil {
		return api.Timeouts{}, err
	}
	return e.fakeAdmin.Timeouts(ctx)
}

// TestRunErrors pins the message and status for each admin API error per
// command: ipvs_strerror()'s (function, errno) table for kernel errnos,
// the server's text for the codes ipvsadm has no text for; 255 for a failed
// change (process_options returns -1), 1 for a failed listing (exit(1)).
func TestRunErrors(t *testing.T) {
	const header = "IP Virtual Server version 1.2.1 (size=4096)\n"
	tests := []struct {
		name   string
		call   string
		err    error
		args   []string
		stdout string
		stderr string
		status int
	}{
		{"add existing service", "", nil, []string{"-A", "-t", "10.0.0.1:80"}, "", "Service already exists\n", 255},
		{"add with unknown scheduler (ENOENT)", "", nil, []string{"-A", "-t", "10.0.0.9:80", "-s", "nosuch"}, "", "Scheduler or persistence engine not found\n", 255},
		{"edit missing service", "", nil, []string{"-E", "-t", "10.0.0.9:80"}, "", "No such service\n", 255},
		{"delete missing service", "", nil, []string{"-D", "-t", "10.0.0.9:80"}, "", "No such service\n", 255},
		{"zero missing service", "", nil, []string{"-Z", "-f", "9"}, "", "No such service\n", 255},
		{"add server to missing service", "", nil, []string{"-a", "-t", "10.0.0.9:80", "-r", "10.1.1.1", "-m"}, "", "Service not defined\n", 255},
		{"add existing server", "", nil, []string{"-a", "-t", "10.0.0.1:80", "-r", "192.168.1.10", "-m"}, "", "Destination already exists\n", 255},
		{"edit missing server", "", nil, []string{"-e", "-t", "10.0.0.1:80", "-r", "192.168.1.99", "-m"}, "", "No such destination\n", 255},
		{"delete server of missing service", "", nil, []string{"-d", "-u", "10.0.0.1:80", "-r", "192.168.1.10"}, "", "Service not defined\n", 255},
		{"delete missing server", "", nil, []string{"-d", "-t", "10.0.0.1:80", "-r", "192.168.1.99"}, "", "No such destination\n", 255},
		{"EINVAL", "AddReal", api.Errorf(api.CodeInvalid, "weight too large"), []string{"-a", "-t", "10.0.0.1:80", "-r", "10.9.9.9", "-m"},
			"", "Invalid operation.  Possibly wrong module version, address not unicast, ...\n", 255},
		{"EEXIST with no text for add-server is strerror", "AddReal", api.Errorf(api.CodeNoDest, "x"), []string{"-a", "-t", "10.0.0.1:80", "-r", "10.9.9.9", "-m"},
			"", "No such file or directory\n", 255},
		{"unsupported: server text", "AddReal", api.Errorf(api.CodeUnsupported, "direct routing (-g) is not supported by the proxy data plane"),
			[]string{"-a", "-t", "10.0.0.1:80", "-r", "10.9.9.9", "-g"}, "", "direct routing (-g) is not supported by the proxy data plane\n", 255},
		{"config rejected: server text", "Clear", api.Errorf(api.CodeConfigRejected, "config rejected: nothing changed"), []string{"-C"},
			"", "config rejected: nothing changed\n", 255},
		{"unauthorized listing", "Services", api.Errorf(api.CodeUnauthorized, "missing or bad token"), []string{"-Ln"},
			header, "missing or bad token\n", 1},
		{"transport error saving", "Services", errors.New("connecting to fulcrum admin API: refused"), []string{"-Sn"},
			"", "connecting to fulcrum admin API: refused\n", 1},
		{"timeouts unavailable", "Timeouts", api.Errorf(api.CodeInternal, "boom"), []string{"-L", "--timeout"}, "", "boom\n", 1},
		{"list a missing service", "", nil, []string{"-Ln", "-t", "10.0.0.9:80"}, "", "No such service\n", 1},
		{"sync daemon", "", nil, []string{"--start-daemon", "master"}, "", "the connection synchronization daemon is not supported by fulcrum\n", 255},
		{"persistence engine", "", nil, []string{"-A", "-t", "10.0.0.9:80", "-p", "--pe", "sip"}, "", "persistence engine \"sip\" is not supported by fulcrum\n", 255},
		{"gue tunnel", "", nil, []string{"-a", "-t", "10.0.0.1:80", "-r", "10.9.9.9", "-i", "--tun-type", "gue", "--tun-port", "5555"},
			"", "tunnel type gue is not supported by fulcrum\n", 255},
		{"daemon listing is empty", "", nil, []string{"-L", "--daemon"}, "", "", 0},
		{"parse error", "", nil, []string{"-A", "-t", "10.0.0.1"}, "", "Zero port specified for non-persistent service\n", 2},
		{"popt error", "", nil, []string{"-A", "--nope"}, "", "--nope: unknown option\n", 255},
		{"version", "", nil, []string{"-v"}, string(Version()), "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			adm := &errAdmin{fakeAdmin: fixtureAdmin(), call: tc.call, err: tc.err}
			got := runGo(t, adm, tc.args, "")
			want := result{tc.stdout, tc.stderr, tc.status}
			if got != want {
				t.Errorf("ipvsadm %q:\ngot  %v\nwant %v", tc.args, got, want)
			}
		})
	}
}

// TestRunWithoutDaemon: ipvsadm exits 2 when it cannot reach IPVS; help
// and version still work.
func TestRunWithoutDaemon(t *testing.T) {
	adm := newFake()
	adm.failInfo = errors.New("dial unix /run/fulcrum.sock: connect: no such file or directory")
	got := runGo(t, adm, []string{"-Ln"}, "")
	want := result{"", "Can't initialize ipvs: dial unix /run/fulcrum.sock: connect: no such file or directory\n" +
		"Is the fulcrum daemon running and its admin API reachable?\n", 2}
	if got != want {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if got := runGo(t, adm, []string{"-h"}, ""); got.status != 0 || !strings.HasPrefix(got.stdout, "ipvsadm v1.31") {
		t.Errorf("-h without daemon: %v", got)
	}
}

// TestRunRequests checks what each command asks of the admin API.
func TestRunRequests(t *testing.T) {
	adm := newFake()
	steps := [][]string{
		{"-A", "-t", "10.0.0.1:http", "-s", "sh", "-b", "sh-port", "-p", "-M", "255.255.255.0"},
		{"-A", "-f", "3", "-6", "-p", "60", "-M", "64", "-s", "mh", "-b", "flag-1"},
		{"-A", "-u", "[2001:db8::1]:53", "-o"},
		{"-a", "-t", "10.0.0.1:80", "-r", "192.168.1.2:8080", "-w", "3", "-x", "10", "-y", "5"},
		{"-a", "-t", "10.0.0.1:80", "-r", "192.168.1.3", "-m"},
		{"-a", "-f", "3", "-6", "-r", "2001:db8::9", "-g", "-w", "0"},
		{"--set", "100", "0", "30"},
	}
	for _, s := range steps {
		if r := runGo(t, adm, s, ""); r.status != 0 {
			t.Fatalf("ipvsadm %q: %v", s, r)
		}
	}
	want := []api.Service{
		{ServiceKey: api.ServiceKey{Protocol: "tcp", Address: "10.0.0.1:80"}, Scheduler: "sh", SchedFlags: []string{"sh-port"},
			Persistent: true, Timeout: 360, Netmask: "255.255.255.0",
			Reals: []api.Real{
				{Address: "192.168.1.3:80", Forward: "Masq", Weight: 1},
				// no -g/-i/-m: the data plane's default, port kept
				{Address: "192.168.1.2:8080", Forward: "Masq", Weight: 3, UpperThreshold: 10, LowerThreshold: 5},
			}},
		{ServiceKey: api.ServiceKey{FWMark: 3, IPv6: true}, Scheduler: "mh", SchedFlags: []string{"mh-fallback"},
			Persistent: true, Timeout: 60, Netmask: "64",
			Reals: []api.Real{{Address: "[2001:db8::9]:0", Forward: "Route", Weight: 0}}},
		{ServiceKey: api.ServiceKey{Protocol: "udp", Address: "[2001:db8::1]:53"}, Scheduler: "wlc", OnePacket: true},
	}
	if !reflect.DeepEqual(adm.svcs, want) {
		t.Errorf("services:\ngot  %+v\nwant %+v", adm.svcs, want)
	}
	if adm.timeouts != (api.Timeouts{TCP: 100, TCPFin: 120, UDP: 30}) {
		t.Errorf("timeouts %+v", adm.timeouts)
	}
	for _, z := range []struct {
		args []string
		want *api.ServiceKey
	}{
		{[]string{"-Z"}, nil},
		{[]string{"-Z", "-t", "0.0.0.0:0"}, nil}, // ipvs_zero_service: no address or port means all
		{[]string{"-Z", "-t", "10.0.0.1:80"}, &api.ServiceKey{Protocol: "tcp", Address: "10.0.0.1:80"}},
	} {
		c, err := testParse(t, z.args...)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.zeroKey(); !reflect.DeepEqual(got, z.want) {
			t.Errorf("%q zeroes %+v, want %+v", z.args, got, z.want)
		}
	}
}

// TestSaveRestoreRoundTrip: -S -n, then -C and -R of that text, gives the
// same -S -n again, through an in-memory Admin.
func TestSaveRestoreRoundTrip(t *testing.T) {
	adm := fixtureAdmin()
	saved := runGo(t, adm, []string{"-S", "-n"}, "")
	if saved.status != 0 || saved.stderr != "" || saved.stdout == "" {
		t.Fatalf("-Sn: %v", saved)
	}
	fresh := newFake()
	if r := runGo(t, fresh, []string{"-R"}, saved.stdout); r != (result{}) {
		t.Fatalf("-R: %v", r)
	}
	again := runGo(t, fresh, []string{"-S", "-n"}, "")
	if again.stdout != saved.stdout {
		t.Errorf("round trip differs:\n%s", diffLines(again.stdout, saved.stdout))
	}
	// The restored table holds the same services and servers (in -S's
	// sorted order, so compare by key).
	orig := map[api.ServiceKey]api.Service{}
	for _, s := range adm.svcs {
		orig[s.ServiceKey] = s
	}
	if len(fresh.svcs) != len(orig) {
		t.Errorf("restored %d services, want %d", len(fresh.svcs), len(orig))
	}
	for _, s := range fresh.svcs {
		o, ok := orig[s.ServiceKey]
		if !ok || s.Scheduler != o.Scheduler || s.Persistent != o.Persistent || s.Timeout != o.Timeout ||
			s.Netmask != o.Netmask || s.OnePacket != o.OnePacket || len(s.Reals) != len(o.Reals) {
			t.Errorf("restored %+v, had %+v", s, o)
		}
	}
	// A second restore on top fails line by line but goes on to the end;
	// the status is the last line's.
	r := runGo(t, fresh, []string{"-R"}, saved.stdout)
	if r.status != 255 || !strings.HasPrefix(r.stderr, "Service already exists\nDestination already exists\n") {
		t.Errorf("second -R: %v", r)
	}
}

// TestRestoreStream pins config_stream.c's tokenizing and restore_table()'s
// error handling: "ipvsadm" tokens are dropped, blank lines skipped, CR is
// a separator, '#' is not a comment, a popt error goes on, a fail() stops.
func TestRestoreStream(t *testing.T) {
	adm := newFake()
	in := "ipvsadm -A -t 10.0.0.1:80 -s rr\n" +
		"\n   \n" +
		"\t-a -t 10.0.0.1:80 ipvsadm -r 10.0.0.2:80 -m\r\n" +
		"-A -t 10.0.0.1:80\n" + // kernel error: reported, goes on
		"-a -t 10.0.0.1:80 -r 10.0.0.3:80 -m --bogus\n" + // popt error: goes on
		"-a   -t 10.0.0.1:80  -r 10.0.0.4:80 -m -w 7\n" +
		"# not a comment\n" + // tryhelp_exit: stops with 255
		"-A -t 10.0.0.5:80\n"
	got := runGo(t, adm, []string{"-R"}, in)
	want := result{"", "Service already exists\n--bogus: unknown option\nTry `ipvsadm -h' or 'ipvsadm --help' for more information.\n", 255}
	if got != want {
		t.Errorf("-R:\ngot  %v\nwant %v", got, want)
	}
	if len(adm.svcs) != 1 || len(adm.svcs[0].Reals) != 2 || adm.svcs[0].Reals[0].Weight != 7 {
		t.Errorf("restored %+v", adm.svcs)
	}

	for _, tc := range []struct {
		in   string
		want [][]string
	}{
		{"-C", [][]string{{"-C"}}},
		{"-C\n", [][]string{{"-C"}}},
		{"-C \n-Z", [][]string{{"-C"}, {"-Z"}}},
		{"-C\n-Z  ", [][]string{{"-C"}}}, // blanks before end of input lose the line
		{"\n\n-C\n", [][]string{{}, {}, {"-C"}}},
		{"ipvsadm\n-C", [][]string{{}, {"-C"}}},
		{"", nil},
		{"  \t", nil},
	} {
		cs := newConfigStream(strings.NewReader(tc.in))
		var got [][]string
		for {
			toks, ok := cs.read()
			if !ok {
				break
			}
			got = append(got, toks)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("config stream %q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSortLikeIpvsadm: libipvs compares addresses by subtracting them as
// unsigned 32-bit numbers read back as int, and glibc's merge sort makes
// the result depend on the input order when that is not transitive.
func TestSortLikeIpvsadm(t *testing.T) {
	mk := func(addrs ...string) []svcEntry {
		var es []svcEntry
		for _, a := range addrs {
			es = append(es, svcEntry{af: AFInet, protocol: ProtoTCP, addr: netip.MustParseAddr(a), port: 80})
		}
		return es
	}
	names := func(es []svcEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.addr.String())
		}
		return strings.Join(s, " ")
	}
	tests := []struct {
		in   []string
		want string
	}{
		// 0x0a000001 - 0xc0a80001 = 0x49580000 > 0: 10.x sorts after 192.168.x.
		{[]string{"10.0.0.1", "192.168.0.1"}, "192.168.0.1 10.0.0.1"},
		{[]string{"10.0.0.2", "10.0.0.1"}, "10.0.0.1 10.0.0.2"},
		// A=10.0.0.1 < B=100.0.0.1 < C=200.0.0.1 < A: a cycle.
		// [A B C]: merge [A] with sorted [B C] -> A B C.
		{[]string{"10.0.0.1", "100.0.0.1", "200.0.0.1"}, "10.0.0.1 100.0.0.1 200.0.0.1"},
		// [C B A]: [B A] sorts to [A B]; merging [C] with it puts C first.
		{[]string{"200.0.0.1", "100.0.0.1", "10.0.0.1"}, "200.0.0.1 10.0.0.1 100.0.0.1"},
	}
	for _, tc := range tests {
		es := mk(tc.in...)
		msort(es, cmpServices)
		if got := names(es); got != tc.want {
			t.Errorf("sort %q = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Services order: fwmark 0 first, then family, protocol, address, port.
	es := []svcEntry{
		{fwmark: 1, af: AFInet}, {af: AFInet6, protocol: ProtoTCP}, {af: AFInet, protocol: ProtoUDP},
		{af: AFInet, protocol: ProtoTCP, port: 443}, {af: AFInet, protocol: ProtoTCP, port: 80},
	}
	msort(es, cmpServices)
	order := []svcEntry{
		{af: AFInet, protocol: ProtoTCP, port: 80}, {af: AFInet, protocol: ProtoTCP, port: 443},
		{af: AFInet, protocol: ProtoUDP}, {af: AFInet6, protocol: ProtoTCP}, {fwmark: 1, af: AFInet},
	}
	if !reflect.DeepEqual(es, order) {
		t.Errorf("service order %+v", es)
	}
}

// TestLargenum pins print_largenum(): "%9llu" below 10^8, else the value
// divided by 10^3/10^6/10^9/10^12 as "%8llu" plus K/M/G/T; with --exact
// "%*llu" at width max(9, digits+1).
func TestLargenum(t *testing.T) {
	tests := []struct {
		v            uint64
		short, exact string
	}{
		{0, "        0", "        0"},
		{99999999, " 99999999", " 99999999"},
		{100000000, "  100000K", " 100000000"},
		{999999999, "  999999K", " 999999999"},
		{1000000000, "    1000M", " 1000000000"},
		{99999999999, "   99999M", " 99999999999"},
		{100000000000, "     100G", " 100000000000"},
		{99999999999999, "   99999G", " 99999999999999"},
		{100000000000000, "     100T", " 100000000000000"},
		{18446744073709551615, "18446744T", " 18446744073709551615"},
	}
	for _, tc := range tests {
		var b, e bytes.Buffer
		largenum(&b, tc.v, 0)
		largenum(&e, tc.v, FmtExact)
		if b.String() != tc.short || e.String() != tc.exact {
			t.Errorf("largenum(%d) = %q / %q, want %q / %q", tc.v, b.String(), e.String(), tc.short, tc.exact)
		}
	}
}

// TestInetNtop6 pins glibc inet_ntop6(): longest zero run compressed, and
// dotted quads for IPv4-compatible and IPv4-mapped addresses.
func TestInetNtop6(t *testing.T) {
	for in, want := range map[string]string{
		"::":                   "::",
		"::1":                  "::1",
		"::ffff:1.2.3.4":       "::ffff:1.2.3.4",
		"::102:304":            "::1.2.3.4",
		"2001:db8::1":          "2001:db8::1",
		"1::":                  "1::",
		"1:0:0:1:0:0:0:1":      "1:0:0:1::1",
		"0:0:1::":              "0:0:1::",
		"2001:db8:0:1:1:1:1:1": "2001:db8:0:1:1:1:1:1",
	} {
		if got := inetNtop6(netip.MustParseAddr(in)); got != want {
			t.Errorf("inetNtop6(%s) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkListAll(b *testing.B) {
	l := Lister{Resolver: NumericResolver{}}
	svcs := fixtureServices()
	info := api.Info{IPVSVersion: "1.2.1", ConnTabSize: 4096}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.ListAll(context.Background(), info, svcs, FmtNumeric|FmtStats); err != nil {
			b.Fatal(err)
		}
	}
}

// TestServicesFile: getservbyname/getservbyport over a services(5) file,
// aliases included, first entry winning, per protocol.
func TestServicesFile(t *testing.T) {
	r := &SystemResolver{ServicesFile: "testdata/services"}
	for _, tc := range []struct {
		name, proto string
		port        uint16
		ok          bool
	}{
		{"http", "tcp", 80, true}, {"www", "tcp", 80, true}, {"domain", "udp", 53, true},
		{"http", "udp", 0, false}, {"webcache", "tcp", 8080, true}, {"nosuch", "tcp", 0, false},
	} {
		if p, ok := r.Port(tc.name, tc.proto); p != tc.port || ok != tc.ok {
			t.Errorf("Port(%s/%s) = %d %v, want %d %v", tc.name, tc.proto, p, ok, tc.port, tc.ok)
		}
	}
	if n, ok := r.PortName(8080, "tcp"); n != "http-alt" || !ok {
		t.Errorf("PortName(8080/tcp) = %q %v", n, ok)
	}
	if _, ok := r.PortName(8080, "udp"); ok {
		t.Error("8080/udp has no name")
	}
	missing := &SystemResolver{ServicesFile: "testdata/no-such-file"}
	if _, ok := missing.Port("http", "tcp"); ok {
		t.Error("no services file means numeric ports only")
	}
}
