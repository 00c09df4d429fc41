package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it); got:\n%s", path, got)
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		in   []float64
		want stat
	}{
		{[]float64{5, 1, 3}, stat{med: 3, lo: 1, hi: 5, n: 3}},
		{[]float64{4, 1, 3, 2}, stat{med: 2.5, lo: 1, hi: 4, n: 4}},
		{[]float64{7}, stat{med: 7, lo: 7, hi: 7, n: 1}},
		{nil, stat{}},
	}
	for _, tc := range tests {
		if got := summarize(tc.in); got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if s := summarize([]float64{90, 100, 110}); s.spread() != 0.2 {
		t.Errorf("spread %v, want (110-90)/100", s.spread())
	}
	in := []float64{3, 1, 2}
	summarize(in)
	if in[0] != 3 {
		t.Error("summarize sorted its argument")
	}
}

func TestRotate(t *testing.T) {
	names := []string{"fulcrum", "nginx", "haproxy", "direct"}
	seen := map[string]bool{}
	for k := range len(names) {
		got := rotate(names, k)
		if len(got) != len(names) {
			t.Fatalf("rotate(%d) = %v", k, got)
		}
		seen[got[0]] = true
	}
	if len(seen) != len(names) {
		t.Fatalf("over %d rounds the first target was only %v", len(names), seen)
	}
	if got := strings.Join(rotate(names, 5), ","); got != "nginx,haproxy,direct,fulcrum" {
		t.Fatalf("rotate(5) = %s", got)
	}
	if rotate(nil, 3) != nil {
		t.Fatal("rotate of nothing")
	}
}

// sampleReport is a small report with made-up measurements, to pin the
// markdown's layout and the arithmetic of the summary.
func sampleReport() *report {
	sc := scenarios()
	r := &report{
		started:   time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		elapsed:   95 * time.Second,
		settings:  []kv{{"mode", "full"}},
		machine:   []kv{{"CPU", "test CPU"}},
		activity:  []string{"at start: load average 0.10 0.20 0.30"},
		scenarios: []scenario{sc[0], sc[6]},
		targets:   []string{"fulcrum", "nginx", "direct"},
		failures:  []string{"round 2, l7-ka-1k, nginx: wrk: exit status 1"},
		memory: []memResult{
			{target: "fulcrum", kind: memL7, before: 20 << 20, after: 20<<20 + 10000*2048, ready: 10000, note: goRuntimeNote(metricsText)},
			{target: "fulcrum", kind: memL4, before: 19 << 20, after: 19<<20 + 5000*700, ready: 5000},
			{target: "nginx", kind: memL7, err: "idleconns did not get ready"},
		},
		idleN:   10000,
		conntab: parseGoBench(goBenchOut)[2:4],
		goBench: parseGoBench(goBenchOut),
		pps: parseGoBench("pkg: github.com/fulcrumlb/fulcrum/test/xdp\n" +
			"BenchmarkVethNAT \t       3\t4095477287 ns/op\t    156273 direct-pps\t     70361 nft-pps\t        32.35 nft-spread-%\t     97125 xdp-pps\t        20.03 xdp-spread-%\t         0.6215 xdp/direct\t         1.380 xdp/nft\n"),
		ppsRounds: 3,
		profiles: []profileSummary{{title: "L7 HTTP/1.1 keep-alive, 1 KiB", file: "/x/2026-01-02-0304-fulcrum-cpu-l7-ka-1k.pprof",
			top: "Showing nodes accounting for 1s", groups: groupProfile(pprofTop)}},
	}
	add := func(scID, target string, rates []float64, p50, p99 time.Duration, cpu float64) {
		for i, rate := range rates {
			r.samples = append(r.samples, sample{scenario: scID, target: target, round: i + 1,
				result:   result{rate: rate, p50: p50, p99: p99, requests: int64(rate * 8)},
				proxyCPU: cpu, loadBusy: 0.9, proxyBusy: 0.95})
		}
	}
	add("l7-ka-1k", "fulcrum", []float64{10000, 12000, 11000}, 2*time.Millisecond, 9*time.Millisecond, 0.98)
	add("l7-ka-1k", "nginx", []float64{20000, 22000, 21000, 23000}, time.Millisecond, 4500*time.Microsecond, 0.97)
	add("l7-ka-1k", "direct", []float64{50000}, 500*time.Microsecond, 2*time.Millisecond, -1)
	add("l4-bulk", "fulcrum", []float64{10e9, 12e9}, 0, 0, 0.5)
	add("l4-bulk", "nginx", []float64{8e9}, 0, 0, 0.9)
	r.samples[0].errors = 40
	return r
}

func TestReportMarkdown(t *testing.T) {
	var b bytes.Buffer
	sampleReport().markdown(&b)
	out := b.String()
	// The arithmetic, independently of the layout: medians 11k (odd
	// count) and 21.5k (even count), so Fulcrum ÷ nginx = 0.51; the
	// direct row has one sample; bulk rates are in Gbit/s (median 11).
	for _, want := range []string{
		"| L7 HTTP/1.1 keep-alive, 1 KiB | 11.0k | 21.5k (0.51×) | 50.0k (0.22×) |",
		"| Fulcrum | 11.0k | 10.0k – 12.0k | 18 % | 2.00 ms | 9.00 ms | 98 % | 11.2k | 90 / 95 % | 40 (0.02 %) | — |", // 40 of 8 s × 33k
		"| direct (no proxy) | 50.0k | 50.0k – 50.0k | — | 500 µs | 2.00 ms | — | — | 90 / 95 % | 0 | 0.22× |",
		"| L4 TCP proxy, bulk throughput (iperf3, 1 stream) | 11.00 | 8.00 (1.38×) | n/a |",
		"| Fulcrum | L7 (HTTP/1.1) | 20.0 MiB | 39.5 MiB | 10000 | 2048 B |", "| Fulcrum | L4 (TCP) | 19.0 MiB | 22.3 MiB | 5000 | 700 B |",
		"| nginx | L7 (HTTP/1.1) | | | | failed: idleconns did not get ready |",
		"| Fulcrum XDP (NAT) | 97.1k | 20 % | — |",
		"| nftables DNAT (kernel forwarding) | 70.4k | 32 % | 1.38× |",
		"| direct (no director) | 156k | — | 0.62× |",
		"Fulcrum: Go runtime at that point: 10082 goroutines, 79.4 MiB of goroutine stacks, 139.9 MiB of heap allocated",
		"| internal/conntab | BenchmarkEntryMemory/connection | 135.8 ms | 22407936 | 100065 | 224 B/entry |",
		"| internal/sched | BenchmarkSchedule/rr | 18.1 ns | 0 | 0 |  |",
		"| system calls (kernel work, loopback delivery included) | 40.0 % |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	golden(t, "report.md", b.Bytes())
}

// metricsText is a piece of Fulcrum's /metrics (Prometheus text format).
const metricsText = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 10082
go_memstats_heap_alloc_bytes 1.46720928e+08
go_memstats_heap_inuse_bytes 1.52477696e+08
go_memstats_next_gc_bytes 2.22062578e+08
go_memstats_stack_inuse_bytes 8.3296256e+07
fulcrum_config_reloads_total 0
`

// pprofTop is `go tool pprof -top` output: flat, flat%, sum%, cum, cum%,
// function.
const pprofTop = `Type: cpu
Duration: 6s, Total samples = 5s (83.33%)
Showing nodes accounting for 5s, 100% of 5s total
      flat  flat%   sum%        cum   cum%
        2s 40.00% 40.00%         2s 40.00%  internal/runtime/syscall/linux.Syscall6
     0.50s 10.00% 50.00%      0.50s 10.00%  runtime.scanObjectsSmall
     0.25s  5.00% 55.00%      0.30s  6.00%  runtime.mallocgc
     0.25s  5.00% 60.00%      0.25s  5.00%  runtime.nextFreeFast (inline)
     0.50s 10.00% 70.00%      0.50s 10.00%  runtime.selectgo
     0.50s 10.00% 80.00%      0.50s 10.00%  net/textproto.readMIMEHeader
     0.25s  5.00% 85.00%      0.25s  5.00%  github.com/fulcrumlb/fulcrum/internal/l7.quoteToken
     0.25s  5.00% 90.00%      0.25s  5.00%  crypto/internal/fips140/aes/gcm.gcmAesEnc
     0.50s 10.00%   100%      0.50s 10.00%  strings.(*Replacer).Replace
`

func TestGroupProfile(t *testing.T) {
	got := map[string]float64{}
	for _, s := range groupProfile(pprofTop) {
		got[s.group] = s.percent
	}
	want := map[string]float64{
		"system calls (kernel work, loopback delivery included)": 40,
		"garbage collection": 10,
		"allocation":         10,
		"Go runtime: scheduler, netpoll, channels, maps, timers": 10,
		"net/http, httputil, textproto, bufio":                   10,
		"Fulcrum's own code":                                     5,
		"TLS":                                                    5,
		"other (strings, net, io, ...)":                          10,
	}
	for g, p := range want {
		if got[g] != p {
			t.Errorf("%s: %v %%, want %v", g, got[g], p)
		}
	}
	if len(got) != len(want) {
		t.Errorf("groups %v", got)
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{fmtRate(123456, false), "123k"},
		{fmtRate(12345, false), "12.3k"},
		{fmtRate(999, false), "999"},
		{fmtRate(12.345e9, true), "12.35"},
		{fmtRatio(1, 4), "0.25×"},
		{fmtRatio(1, 0), "—"},
		{fmtDur(1500 * time.Microsecond), "1.50 ms"},
		{fmtDur(25 * time.Millisecond), "25 ms"},
		{fmtDur(870 * time.Microsecond), "870 µs"},
		{fmtBytes(710), "710 B"},
		{fmtBytes(24371), "23.8 KiB"},
		{fmtBytes(251 << 20), "251.0 MiB"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseReady(t *testing.T) {
	if n, failed, ok := parseReady("ready 10000\n"); !ok || n != 10000 || failed != "" {
		t.Fatalf("got %d %q %v", n, failed, ok)
	}
	if n, failed, ok := parseReady("ready 9990\nfailed 10: dial tcp: too many open files\n"); !ok || n != 9990 || failed != "10: dial tcp: too many open files" {
		t.Fatalf("got %d %q %v", n, failed, ok)
	}
	if _, _, ok := parseReady("opening\n"); ok {
		t.Fatal("not ready yet")
	}
}

func TestFreePortsAreDistinctLoopback(t *testing.T) {
	ps, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p] || !strings.HasPrefix(p, "127.0.0.1:") {
			t.Fatalf("ports %v", ps)
		}
		seen[p] = true
	}
}
