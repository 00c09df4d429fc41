package xdp

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (run with -update to accept)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func dump(t *testing.T, p *Plane) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := p.DumpMaps(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The reconciler's output, one line per map entry: services with their
// kernel-order dest lists, dests, tables, then the connection state a few
// packets leave behind; then the same after a reconfiguration (a dest
// removed goes to the trash, a dest added takes a new slot and the head of
// the list, the table moves to the other row).
func TestMapDumpGolden(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	web := svc(config.TCP, "10.0.0.100:80", "wrr", real("10.0.0.2:80", 3, config.Route), real("10.0.0.3:80", 1, config.Route))
	dns := svc(config.UDP, "10.0.0.100:53", "sh", real("10.0.0.4:5353", 1, config.Masq), real("10.0.0.5:53", 2, config.Masq))
	dns.SchedFlags = []string{"sh-fallback"}
	tun := svc(config.TCP, "10.0.0.101:443", "mh", real("10.0.0.6:443", 1, config.Tunnel), real("10.0.0.7:443", 1, config.Tunnel))
	tun.Persistence = &config.Persistence{Timeout: 600 * time.Second, PrefixBits: 24}
	apply(t, p, web, dns, tun)
	run(t, p, client("192.0.2.7:33000", "10.0.0.100:80", fSYN).frame())
	run(t, p, client("192.0.2.7:33000", "10.0.0.100:80", fACK).frame())
	run(t, p, pkt{src: ap("192.0.2.8:5000"), dst: ap("10.0.0.100:53"), proto: 17}.frame())
	run(t, p, client("192.0.2.9:44000", "10.0.0.101:443", fSYN).frame())
	golden(t, "dump_initial", dump(t, p))

	web.Reals = []config.Real{real("10.0.0.3:80", 1, config.Route), real("10.0.0.8:80", 2, config.Route)}
	apply(t, p, web, dns, tun)
	golden(t, "dump_changed", dump(t, p))
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
