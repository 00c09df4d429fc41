package main

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const procNetHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

func TestParseProcNet_proc5(t *testing.T) {
	// The address words are printed in host byte order (little-endian on
	// amd64/arm64): 0100007F is 127.0.0.1, 0100000A is 10.0.0.1; the port
	// is plain hex (1F90 = 8080).
	text := procNetHeader +
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 0100000A:0050 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1\n"
	es, err := parseProcNet(text)
	if err != nil {
		t.Fatal(err)
	}
	want := []socketEntry{
		{local: netip.MustParseAddrPort("127.0.0.1:8080"), remote: netip.MustParseAddrPort("0.0.0.0:0"), state: tcpListen, inode: 4242},
		{local: netip.MustParseAddrPort("10.0.0.1:80"), remote: netip.MustParseAddrPort("127.0.0.1:54321"), state: 1, inode: 4343},
	}
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d", len(es), len(want))
	}
	for i := range want {
		if es[i] != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, es[i], want[i])
		}
	}
	// IPv6: four host-order words; ::1 ends in the word 01000000.
	v6 := procNetHeader +
		"   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0\n"
	es, err = parseProcNet(v6)
	if err != nil || len(es) != 1 || es[0].local != netip.MustParseAddrPort("[::1]:80") {
		t.Fatalf("IPv6 loopback: %+v %v", es, err)
	}
	for _, bad := range []string{
		procNetHeader + "   0: 0100007F:1F90\n",
		procNetHeader + "   0: 0100007:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1\n",
		procNetHeader + "   0: 0100007F:XYZ 00000000:0000 0A 0:0 0:0 0 0 0 1\n",
	} {
		if _, err := parseProcNet(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestListeningAndNonLoopback(t *testing.T) {
	unspec := netip.MustParseAddrPort("0.0.0.0:0")
	tests := []struct {
		table string
		e     socketEntry
		want  bool
	}{
		{"tcp", socketEntry{state: tcpListen}, true},
		{"tcp6", socketEntry{state: 1}, false},                      // established
		{"udp", socketEntry{state: tcpClose, remote: unspec}, true}, // bound, unconnected
		{"udp", socketEntry{state: 1, remote: netip.MustParseAddrPort("127.0.0.1:53")}, false},
	}
	for _, tc := range tests {
		if got := listening(tc.table, tc.e); got != tc.want {
			t.Errorf("listening(%s, %+v) = %v", tc.table, tc.e, got)
		}
	}
	ls := []listener{
		{proc: "nginx", pid: 1, table: "tcp", addr: netip.MustParseAddrPort("127.0.0.1:80")},
		{proc: "caddy", pid: 2, table: "tcp6", addr: netip.MustParseAddrPort("[::]:443")},
		{proc: "caddy", pid: 2, table: "udp", addr: netip.MustParseAddrPort("0.0.0.0:443")},
		{proc: "x", pid: 3, table: "tcp6", addr: netip.MustParseAddrPort("[::1]:8080")},
	}
	bad := nonLoopback(ls)
	if len(bad) != 2 || !strings.Contains(bad[0], "caddy (pid 2) listens on tcp6 [::]:443") || !strings.Contains(bad[1], "udp 0.0.0.0:443") {
		t.Fatalf("non-loopback listeners %q", bad)
	}
}

// The live path: a child process listening on a loopback port is found
// through /proc (its socket inode), and passes the guard.
func TestListenersOfAChild(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("taskset not installed")
	}
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ps := &procs{dir: dir}
	defer ps.stopAll()
	self, _ := os.Executable()
	t.Setenv("FULCRUM_BENCH_TEST_LISTEN", ports[0])
	p, err := ps.start("listener", 0, nil, self, "-test.run", "^$")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := waitListen(ctx, p, ports[0], 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ls, err := listeners([]*proc{p})
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort(ports[0])
	found := false
	for _, l := range ls {
		found = found || (l.addr == want && l.table == "tcp" && l.proc == "listener")
	}
	if !found {
		t.Fatalf("listeners %v: want %s", ls, want)
	}
	if bad := nonLoopback(ls); len(bad) != 0 {
		t.Fatalf("a loopback listener was flagged: %v", bad)
	}
}

// TestMain lets the test binary act as a child that listens on the address
// in FULCRUM_BENCH_TEST_LISTEN (loopback only) until it is killed.
func TestMain(m *testing.M) {
	if addr := os.Getenv("FULCRUM_BENCH_TEST_LISTEN"); addr != "" {
		if ap, err := netip.ParseAddrPort(addr); err != nil || !ap.Addr().IsLoopback() {
			os.Exit(2)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			os.Exit(1)
		}
		defer ln.Close()
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func FuzzParseProcNet(f *testing.F) {
	f.Add(procNetHeader + "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n")
	f.Add(procNetHeader + "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 07 0:0 0:0 0 0 0 77\n")
	f.Fuzz(func(t *testing.T, text string) {
		es, err := parseProcNet(text)
		if err != nil {
			return
		}
		for _, e := range es {
			if !e.local.IsValid() || !e.remote.IsValid() || e.state > 0xff {
				t.Fatalf("accepted an invalid entry %+v", e)
			}
			if e.local.Addr().Is4In6() {
				t.Fatalf("an IPv4-mapped address was not unmapped: %v", e.local)
			}
		}
	})
}
