package ipvsadm

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the ipvsadm oracle (requires -oracle)")

// goldenCases name the listings kept under testdata/. Their bytes were
// written by ipvsadm 1.31 itself (the -oracle binary) for the fixture
// table, never by this package: `go test -run TestGolden -update
// -oracle=PATH` rewrites them from the oracle only.
var goldenCases = []struct {
	name string
	args []string
}{
	{"Ln", []string{"-Ln"}},
	{"L", []string{"-L"}}, // names from testHosts/testdata/services, numbers otherwise
	{"Ln_stats", []string{"-Ln", "--stats"}},
	{"Ln_stats_exact", []string{"-Ln", "--stats", "--exact"}},
	{"Ln_rate", []string{"-Ln", "--rate"}},
	{"Ln_rate_exact", []string{"-Ln", "--rate", "--exact"}},
	{"Ln_thresholds", []string{"-Ln", "--thresholds"}},
	{"Ln_persistent_conn", []string{"-Ln", "--persistent-conn"}},
	{"Ln_tun_info", []string{"-Ln", "--tun-info"}},
	{"Ln_nosort", []string{"-Ln", "--nosort"}},
	{"Ln_service_stats", []string{"-Ln", "-t", "10.0.0.1:80", "--stats"}},
	{"L_fwmark6", []string{"-L", "-f", "2", "-6"}},
	{"lnc", []string{"-lnc"}},
	{"lc", []string{"-lc"}},
	{"lnc_persistent_conn", []string{"-lnc", "--persistent-conn"}},
	{"Sn", []string{"-S", "-n"}},
	{"S", []string{"-S"}},
	{"L_timeout", []string{"-L", "--timeout"}},
	{"h", []string{"-h"}},
	{"v", []string{"-v"}},
}

func TestGolden(t *testing.T) {
	if *update && *oraclePath == "" {
		t.Fatal("-update needs -oracle: golden files come from ipvsadm, not from this package")
	}
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.name+".golden")
			if *oraclePath != "" {
				o := newOracle(t, fixtureServices(), fixtureConns())
				r := o.run(t, tc.args, "")
				if r.status != 0 || r.stderr != "" {
					t.Fatalf("oracle: %v", r)
				}
				if *update {
					if err := os.WriteFile(path, []byte(r.stdout), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := runGo(t, fixtureAdmin(), tc.args, "")
			if got.status != 0 || got.stderr != "" {
				t.Fatalf("ipvsadm %q: %v", tc.args, got)
			}
			if got.stdout != string(want) {
				t.Errorf("ipvsadm %q differs from %s:\n%s", tc.args, path, diffLines(got.stdout, string(want)))
			}
		})
	}
}

// diffLines shows the first differing line of two outputs.
func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + itoa(int64(i+1)) + ":\ngot  " + strings.ReplaceAll(gl, " ", "·") + "\nwant " + strings.ReplaceAll(wl, " ", "·")
		}
	}
	return "(equal lines)"
}

// TestGoldenShape checks the golden files against ipvsadm.c's printf
// formats directly, independently of both the oracle and this package:
// every dest row of the default listing is "  -> %-28s %-7s %-6d %-10u
// %-10u", every --stats row is a 33-byte name column followed by five
// 9-byte print_largenum fields.
func TestGoldenShape(t *testing.T) {
	read := func(name string) []string {
		b, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	for _, l := range read("Ln")[3:] {
		if !strings.HasPrefix(l, "  -> ") {
			continue
		}
		// 5 + 28 + 1 + 7 + 1 + 6 + 1 + 10 + 1 + 10 bytes, padded even when
		// the value is shorter; longer values push the columns right.
		if strings.Contains(l, "[") {
			continue // IPv6 names are not truncated to 28
		}
		if len(l) < 5+28+1+7+1+6+1+10+1+10 {
			t.Errorf("dest row %q shorter than the %%-28s %%-7s %%-6d %%-10u %%-10u format", l)
		}
		if fwd := strings.TrimSpace(l[34:41]); !strings.Contains("Masq Local Tunnel Route", fwd) {
			t.Errorf("forward column of %q is %q", l, fwd)
		}
	}
	for _, l := range read("Ln_stats")[3:] {
		name := 33
		if strings.HasPrefix(l, "  -> ") {
			name = 5 + 28
		}
		if strings.Contains(l[:min(len(l), name)], "[") {
			continue
		}
		if len(l) != name+5*9 {
			t.Errorf("stats row %q is %d bytes, want %d (name + 5 largenums)", l, len(l), name+5*9)
		}
	}
	if h := read("h"); !strings.HasPrefix(h[0], "ipvsadm v1.31 2019/12/24") || h[1] != "Usage:" {
		t.Errorf("help golden starts %q", h[:2])
	}
}

// TestListerPure calls the formatting functions directly (API values in,
// bytes out) against the same golden files.
func TestListerPure(t *testing.T) {
	ctx := context.Background()
	golden := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	info := api.Info{IPVSVersion: "1.2.1", ConnTabSize: 4096}
	numeric := Lister{} // no resolver: numbers only
	named := Lister{Resolver: newTestResolver(t)}
	check := func(name string, got []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := golden(name); string(got) != want {
			t.Errorf("%s:\n%s", name, diffLines(string(got), want))
		}
	}
	out, err := numeric.ListAll(ctx, info, fixtureServices(), FmtNumeric)
	check("Ln", out, err)
	out, err = named.ListAll(ctx, info, fixtureServices(), 0)
	check("L", out, err)
	out, err = numeric.ListAll(ctx, info, fixtureServices(), FmtNumeric|FmtStats|FmtExact)
	check("Ln_stats_exact", out, err)
	out, err = numeric.ListAll(ctx, info, fixtureServices(), FmtNumeric|FmtRule)
	check("Sn", out, err)
	out, err = numeric.ListService(ctx, fixtureServices()[0], FmtNumeric|FmtStats)
	check("Ln_service_stats", out, err)
	out, err = named.ListConns(ctx, fixtureConns(), 0)
	check("lc", out, err)
	out, err = numeric.ListConns(ctx, fixtureConns(), FmtNumeric|FmtPersistentConn)
	check("lnc_persistent_conn", out, err)
	check("L_timeout", ListTimeout(api.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}), nil)
	check("h", Help("ipvsadm"), nil)
	check("v", Version(), nil)

	if _, err := numeric.ListAll(ctx, info, []api.Service{{ServiceKey: api.ServiceKey{Protocol: "icmp", Address: "1.2.3.4:0"}}}, 0); err == nil {
		t.Error("an unknown protocol from the server is reported, not listed")
	}
	if _, err := numeric.ListAll(ctx, info, []api.Service{{ServiceKey: api.ServiceKey{Protocol: "tcp", Address: "1.2.3.4:80"},
		Reals: []api.Real{{Address: "5.6.7.8:80", Forward: "FullNAT"}}}}, 0); err == nil {
		t.Error("an unknown forwarding method from the server is reported, not listed")
	}
}
