package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// report is everything one run found, rendered as markdown.
type report struct {
	started  time.Time
	elapsed  time.Duration
	settings []kv // mode, rounds, durations, pinning
	machine  []kv // CPU, kernel, Go, peers' versions
	activity []string

	scenarios []scenario
	targets   []string // column order: fulcrum, peers..., direct
	samples   []sample
	failures  []string // runs that failed, with why

	memory  []memResult
	idleN   int
	conntab []goBench
	goBench []goBench
	// pps is BenchmarkVethNAT's result; ppsSkipped says why it is missing.
	pps        []goBench
	ppsRounds  int
	ppsCPU     int
	ppsSkipped string
	profiles   []profileSummary
}

type kv struct{ k, v string }

type memResult struct {
	target        string
	kind          string // memL7 or memL4
	before, after int64
	ready         int
	err           string
	note          string // more about where the memory went
}

func (m memResult) perConn() float64 {
	if m.ready == 0 {
		return 0
	}
	return float64(m.after-m.before) / float64(m.ready)
}

type profileSummary struct {
	title, file, top string
	groups           []share
}

// cells groups the samples by scenario and target.
func (r *report) cells() map[string]map[string]cell {
	by := map[string]map[string][]sample{}
	for _, s := range r.samples {
		if by[s.scenario] == nil {
			by[s.scenario] = map[string][]sample{}
		}
		by[s.scenario][s.target] = append(by[s.scenario][s.target], s)
	}
	out := map[string]map[string]cell{}
	for sc, m := range by {
		out[sc] = map[string]cell{}
		for t, ss := range m {
			out[sc][t] = summarizeCell(ss)
		}
	}
	return out
}

func (r *report) markdown(w io.Writer) {
	cells := r.cells()
	fmt.Fprintf(w, "# Fulcrum benchmark, %s\n\n", r.started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Written by `make bench` (bench/cmd/fulcrum-bench) in %s. How to read it: docs/performance.md.\n\n",
		r.elapsed.Round(time.Second))
	writeKV(w, "Settings", r.settings)
	writeKV(w, "Machine and software", r.machine)
	if len(r.activity) > 0 {
		fmt.Fprintf(w, "### Other activity on the machine during the run\n\n")
		for _, a := range r.activity {
			fmt.Fprintf(w, "- %s\n", a)
		}
		fmt.Fprintln(w)
	}

	// The summary: one row per scenario, Fulcrum's ratio to each peer.
	fmt.Fprintf(w, "## Summary\n\nMedian throughput over the rounds; in parentheses Fulcrum ÷ that target (above 1: Fulcrum did more).\n\n")
	fmt.Fprintf(w, "| scenario |")
	for _, t := range r.targets {
		fmt.Fprintf(w, " %s |", displayName(t))
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---:|", len(r.targets)))
	for _, sc := range r.scenarios {
		cs := cells[sc.id]
		if len(cs) == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s |", sc.title)
		f, hasF := cs["fulcrum"]
		for _, t := range r.targets {
			c, ok := cs[t]
			switch {
			case !ok:
				fmt.Fprintf(w, " n/a |")
			case t == "fulcrum" || !hasF:
				fmt.Fprintf(w, " %s |", fmtRate(c.rate.med, sc.bulk))
			default:
				fmt.Fprintf(w, " %s (%s) |", fmtRate(c.rate.med, sc.bulk), fmtRatio(f.rate.med, c.rate.med))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)

	for _, sc := range r.scenarios {
		cs := cells[sc.id]
		if len(cs) == 0 {
			continue
		}
		r.scenarioTable(w, sc, cs)
	}
	if len(r.failures) > 0 {
		fmt.Fprintf(w, "### Runs that failed (not in the tables)\n\n")
		for _, f := range r.failures {
			fmt.Fprintf(w, "- %s\n", f)
		}
		fmt.Fprintln(w)
	}
	r.ppsTable(w)
	r.memoryTable(w)
	r.benchTable(w)
	r.rawTable(w)
	for _, p := range r.profiles {
		p.markdown(w)
	}
}

func (r *report) scenarioTable(w io.Writer, sc scenario, cs map[string]cell) {
	unit := "req/s"
	if sc.bulk {
		unit = "Gbit/s"
	}
	fmt.Fprintf(w, "## %s\n\n", sc.title)
	fmt.Fprintf(w, "| target | %s median | min – max | spread | p50 | p99 | proxy CPU | %s per proxy core | CPU0 / CPU1 busy | errors | Fulcrum ÷ target |\n", unit, unit)
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	f, hasF := cs["fulcrum"]
	for _, t := range r.targets {
		c, ok := cs[t]
		if !ok {
			continue
		}
		ratio := "—"
		if hasF && t != "fulcrum" {
			ratio = fmtRatio(f.rate.med, c.rate.med)
		}
		cpu, perCore := "—", "—"
		if c.proxyCPU.n > 0 {
			cpu = fmt.Sprintf("%.0f %%", 100*c.proxyCPU.med)
			if c.proxyCPU.med > 0.05 {
				perCore = fmtRate(c.rate.med/c.proxyCPU.med, sc.bulk)
			}
		}
		p50, p99 := "—", "—"
		if c.p50.n > 0 {
			p50, p99 = fmtDur(dur(c.p50.med)), fmtDur(dur(c.p99.med))
		}
		errs := "0"
		if c.errors > 0 {
			errs = fmt.Sprintf("%d (%.2f %%)", c.errors, 100*float64(c.errors)/float64(max(c.requests, 1)))
			if sc.bulk {
				errs = fmt.Sprintf("%d", c.errors)
			}
		}
		spread := "—"
		if c.rate.n > 1 {
			spread = fmt.Sprintf("%.0f %%", 100*c.rate.spread())
		}
		fmt.Fprintf(w, "| %s | %s | %s – %s | %s | %s | %s | %s | %s | %.0f / %.0f %% | %s | %s |\n",
			displayName(t), fmtRate(c.rate.med, sc.bulk), fmtRate(c.rate.lo, sc.bulk), fmtRate(c.rate.hi, sc.bulk),
			spread, p50, p99, cpu, perCore, 100*c.loadBusy.med, 100*c.proxyBus.med, errs, ratio)
	}
	fmt.Fprintln(w)
}

func (r *report) memoryTable(w io.Writer) {
	if len(r.memory) == 0 && len(r.conntab) == 0 {
		return
	}
	fmt.Fprintf(w, "## Memory\n\n")
	if len(r.memory) > 0 {
		fmt.Fprintf(w, "Idle client connections: %d HTTP/1.1 keep-alive connections to the L7 proxy and %d through the "+
			"L4 proxy (each of those also holds one to a backend), one `GET /0` each, then idle (bench/cmd/idleconns). "+
			"RSS of the proxy's processes from /proc/PID/status before and after; fresh processes (measured before any "+
			"load, and restarted between the two). Kernel socket buffers are not in RSS.\n\n", r.idleN, r.idleN/2)
		fmt.Fprintf(w, "| target | connections through | RSS before | RSS with the idle connections | connections | bytes per idle connection |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|\n")
		for _, m := range r.memory {
			through := "L7 (HTTP/1.1)"
			if m.kind == memL4 {
				through = "L4 (TCP)"
			}
			if m.err != "" {
				fmt.Fprintf(w, "| %s | %s | | | | failed: %s |\n", displayName(m.target), through, m.err)
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %s |\n", displayName(m.target), through, fmtBytes(m.before),
				fmtBytes(m.after), m.ready, fmtBytes(int64(math.Round(m.perConn()))))
		}
		fmt.Fprintln(w)
		for _, m := range r.memory {
			if m.note != "" {
				fmt.Fprintf(w, "%s: %s.\n\n", displayName(m.target), m.note)
			}
		}
	}
	if len(r.conntab) > 0 {
		fmt.Fprintf(w, "Connection-table entry (Go heap kept alive per entry at 100,000 entries, "+
			"`go test -bench BenchmarkEntryMemory ./internal/conntab`):\n\n| entry | bytes |\n|---|---:|\n")
		for _, b := range r.conntab {
			fmt.Fprintf(w, "| %s | %.0f |\n", strings.TrimPrefix(b.name, "BenchmarkEntryMemory/"), b.metrics["B/entry"])
		}
		fmt.Fprintln(w)
	}
}

func (r *report) benchTable(w io.Writer) {
	if len(r.goBench) == 0 {
		return
	}
	fmt.Fprintf(w, "## Go benchmarks of the hot paths\n\n`go test -run '^$' -bench … -benchmem -cpu 1`, pinned to CPU 1.\n\n")
	fmt.Fprintf(w, "| package | benchmark | time/op | B/op | allocs/op | other |\n|---|---|---:|---:|---:|---|\n")
	for _, b := range r.goBench {
		var other []string
		for _, k := range b.metricOrder {
			switch k {
			case "ns/op", "B/op", "allocs/op":
			default:
				other = append(other, fmt.Sprintf("%s %s", fmtNum(b.metrics[k]), k))
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %.0f | %s |\n", b.pkg, b.name, fmtNs(b.metrics["ns/op"]), b.metrics["B/op"],
			b.metrics["allocs/op"], strings.Join(other, ", "))
	}
	fmt.Fprintln(w)
}

// rawTable lists every measured run, round by round, so that the spread
// behind each median can be seen.
func (r *report) rawTable(w io.Writer) {
	if len(r.samples) == 0 {
		return
	}
	fmt.Fprintf(w, "## Every run\n\nThroughput of each round (req/s, or Gbit/s for bulk), in round order.\n\n")
	fmt.Fprintf(w, "| scenario | target | runs |\n|---|---|---|\n")
	for _, sc := range r.scenarios {
		for _, t := range r.targets {
			var runs []string
			for _, s := range r.samples {
				if s.scenario == sc.id && s.target == t {
					runs = append(runs, fmtRate(s.rate, sc.bulk))
				}
			}
			if len(runs) > 0 {
				fmt.Fprintf(w, "| %s | %s | %s |\n", sc.id, displayName(t), strings.Join(runs, ", "))
			}
		}
	}
	fmt.Fprintln(w)
}

func (p profileSummary) markdown(w io.Writer) {
	fmt.Fprintf(w, "### Profile: %s\n\n", p.title)
	if len(p.groups) > 0 {
		fmt.Fprintf(w, "| where the samples go | share |\n|---|---:|\n")
		for _, g := range p.groups {
			fmt.Fprintf(w, "| %s | %.1f %% |\n", g.group, g.percent)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "`go tool pprof -top %s`:\n\n```\n%s\n```\n\n", filepath.Base(p.file), strings.TrimSpace(p.top))
}

func writeKV(w io.Writer, title string, kvs []kv) {
	if len(kvs) == 0 {
		return
	}
	fmt.Fprintf(w, "### %s\n\n", title)
	for _, e := range kvs {
		fmt.Fprintf(w, "- **%s**: %s\n", e.k, e.v)
	}
	fmt.Fprintln(w)
}

func displayName(t string) string {
	switch t {
	case "fulcrum":
		return "Fulcrum"
	case "haproxy":
		return "HAProxy"
	case "caddy":
		return "Caddy"
	case "direct":
		return "direct (no proxy)"
	}
	return t
}

// fmtRate writes requests per second as "12.3k", a bit rate as Gbit/s.
func fmtRate(v float64, bulk bool) string {
	if bulk {
		return fmt.Sprintf("%.2f", v/1e9)
	}
	switch {
	case v >= 100e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtRatio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

// fmtNs writes a benchmark's ns/op: "11.5 ns", "77.7 µs", "76.9 ms".
func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.1f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.1f ns", ns)
}

// fmtNum writes a custom benchmark metric: whole numbers from 100 up,
// three significant digits below.
func fmtNum(v float64) string {
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 10<<20 || n <= -10<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10 || n <= -10<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// ppsTable reports the XDP data plane in packets per second.
func (r *report) ppsTable(w io.Writer) {
	fmt.Fprintf(w, "## L4 packets per second: XDP against nftables DNAT and the direct path\n\n")
	if len(r.pps) == 0 {
		fmt.Fprintf(w, "%s.\n\n", r.ppsSkipped)
		return
	}
	m := r.pps[0].metrics
	fmt.Fprintf(w, "test/xdp BenchmarkVethNAT: a client network namespace sends 64-byte UDP datagrams (sendmmsg) for 1 s to the "+
		"VIP of a director namespace, whose NAT sends them on to a real server namespace, all over veths on one bridge; "+
		"packets counted on the real server's interface. %d rounds, the three paths in turn each round; medians. "+
		"Generator and forwarding share CPU %d (veth runs XDP and the kernel's forwarding in the sender's softirq).\n\n",
		r.ppsRounds, r.ppsCPU)
	fmt.Fprintf(w, "| path | packets/s (median) | spread | Fulcrum XDP ÷ path |\n|---|---:|---:|---:|\n")
	ratio := func(v float64) string {
		if v <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f×", m["xdp-pps"]/v)
	}
	fmt.Fprintf(w, "| Fulcrum XDP (NAT) | %s | %.0f %% | — |\n", fmtRate(m["xdp-pps"], false), m["xdp-spread-%"])
	fmt.Fprintf(w, "| nftables DNAT (kernel forwarding) | %s | %.0f %% | %s |\n", fmtRate(m["nft-pps"], false), m["nft-spread-%"], ratio(m["nft-pps"]))
	fmt.Fprintf(w, "| direct (no director) | %s | — | %s |\n\n", fmtRate(m["direct-pps"], false), ratio(m["direct-pps"]))
}
