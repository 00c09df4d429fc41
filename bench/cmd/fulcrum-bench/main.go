// Command fulcrum-bench measures Fulcrum side by side with nginx, HAProxy
// and Caddy on one machine, in one run: L7 HTTP/1.1 (keep-alive and a new
// connection per request), HTTPS with HTTP/2, L4 TCP proxying (requests
// and bulk throughput), and the memory an idle connection costs. It is
// what `make bench` runs, through bench/run.sh, which installs the peers
// and builds the binaries; docs/performance.md explains the method and
// holds a real run.
//
// Every proxy is pinned to one CPU (-proxy-cpu) with one worker; the load
// generators and the backends share the other (-load-cpu). Targets are
// interleaved: each round runs every scenario against every target, the
// order rotated from round to round, and the report gives medians and the
// range over the rounds.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin                 binaries
	repo, out, pidFile  string
	commit              string
	rounds              int
	duration, warmup    time.Duration
	conns               int
	h2conns, h2streams  int
	idle                int
	loadCPU, proxyCPU   int
	only                string
	quick, profile, gob bool
	keep                bool
}

func main() {
	var o options
	flag.StringVar(&o.bin.Fulcrum, "fulcrum", "", "the fulcrum binary (go build ./cmd/fulcrum)")
	flag.StringVar(&o.bin.Backend, "backend", "", "the backend binary (go build ./bench/backend)")
	flag.StringVar(&o.bin.IdleConns, "idleconns", "", "the idleconns binary (go build ./bench/cmd/idleconns)")
	flag.StringVar(&o.repo, "repo", ".", "repository root (for the Go benchmarks)")
	flag.StringVar(&o.out, "out", "bench/results", "directory for the markdown report and profiles")
	flag.StringVar(&o.pidFile, "pidfile", "", "file kept listing the process groups started (for run.sh's trap)")
	flag.StringVar(&o.commit, "commit", "", "where the fulcrum binary comes from, for the report")
	flag.BoolVar(&o.quick, "quick", false, "one round, short runs: a smoke test of the whole harness")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every scenario against every target")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "length of one measured run (whole seconds)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "length of the warm-up run of each scenario and target")
	flag.IntVar(&o.conns, "conns", 64, "wrk connections")
	flag.IntVar(&o.h2conns, "h2-conns", 16, "h2load connections")
	flag.IntVar(&o.h2streams, "h2-streams", 10, "h2load concurrent streams per connection")
	flag.IntVar(&o.idle, "idle", 10000, "idle connections for the memory measurement; 0 skips it")
	flag.IntVar(&o.loadCPU, "load-cpu", 0, "CPU of the load generators and the backends")
	flag.IntVar(&o.proxyCPU, "proxy-cpu", 1, "CPU of the proxies")
	flag.StringVar(&o.only, "targets", "", "comma-separated subset of fulcrum,nginx,haproxy,caddy (default: all)")
	flag.BoolVar(&o.profile, "profile", false, "take Fulcrum CPU and heap profiles (separate runs, not in the numbers)")
	flag.BoolVar(&o.gob, "go-bench", true, "run the hot-path Go benchmarks (quick mode: the conn-table memory one only)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, logs)")
	summarize := flag.Bool("summarize", false, "print where the samples of each CPU profile named as an argument go, and exit")
	flag.Parse()
	if *summarize {
		for _, f := range flag.Args() {
			ps, err := summarizeProfile(context.Background(), f, false)
			if err != nil {
				fmt.Fprintf(os.Stderr, "fulcrum-bench: %v\n", err)
				os.Exit(1)
			}
			ps.title = f
			ps.markdown(os.Stdout)
		}
		return
	}
	if o.quick {
		o.rounds, o.duration, o.warmup = 1, 2*time.Second, time.Second
	}
	if o.bin.Fulcrum == "" || o.bin.Backend == "" || o.bin.IdleConns == "" {
		fmt.Fprintln(os.Stderr, "fulcrum-bench: -fulcrum, -backend and -idleconns are required (bench/run.sh builds them)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fulcrum-bench: %v\n", err)
		os.Exit(1)
	}
}

// running is a started target.
type running struct {
	target
	l   layout
	p   *proc
	env []string
}

type harness struct {
	o        options
	work     string
	ps       *procs
	script   string
	backends []string
	bulk     string
	bulkProc *proc
	targets  []*running
	rep      *report
}

func run(ctx context.Context, o options) (err error) {
	started := time.Now()
	work, err := os.MkdirTemp("", "fulcrum-bench-")
	if err != nil {
		return err
	}
	h := &harness{o: o, work: work, ps: &procs{dir: work, pidFile: o.pidFile},
		rep: &report{started: started, scenarios: scenarios(), idleN: o.idle}}
	defer func() {
		h.ps.stopAll()
		if o.keep || err != nil {
			fmt.Fprintf(os.Stderr, "fulcrum-bench: configs and logs kept in %s\n", work)
		} else {
			os.RemoveAll(work)
		}
	}()
	actCtx, stopAct := context.WithCancel(ctx)
	defer stopAct()
	act := startActivity(actCtx, 3*time.Second)

	if err := h.setup(ctx); err != nil {
		return err
	}
	h.rep.settings = h.settings()
	if o.idle > 0 {
		h.memory(ctx)
	}
	if err := h.measureAll(ctx); err != nil {
		return err
	}
	if o.profile {
		h.profiles(ctx)
	}
	// The proxies are done; the Go benchmarks get CPU 1 to themselves.
	h.ps.stopAll()
	h.packetRates(ctx)
	h.goBenchmarks(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	h.rep.elapsed = time.Since(started)
	h.rep.activity = act.report(h.rep.elapsed)
	h.rep.machine = machineInfo(o.commit, []string{"nginx-light", "libnginx-mod-stream", "haproxy", "caddy", "wrk", "nghttp2-client", "iperf3", "nftables"})
	return h.write()
}

func (h *harness) setup(ctx context.Context) error {
	o := h.o
	for _, tool := range []string{"taskset", "wrk", "h2load", "iperf3"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (bench/run.sh installs it): %w", tool, err)
		}
	}
	h.script = filepath.Join(h.work, "wrk-report.lua")
	if err := os.WriteFile(h.script, []byte(wrkReport), 0o644); err != nil {
		return err
	}
	tlsf, err := writeSelfSigned(h.work)
	if err != nil {
		return err
	}
	var chosen []target
	for _, t := range targets() {
		if o.only != "" && !slices.Contains(strings.Split(o.only, ","), t.name) {
			continue
		}
		if t.name != "fulcrum" {
			if _, err := exec.LookPath(t.argv(layout{}, o.bin)[0]); err != nil {
				h.rep.failures = append(h.rep.failures, fmt.Sprintf("%s: not installed, left out", t.name))
				continue
			}
		}
		chosen = append(chosen, t)
	}
	ports, err := freePorts(3 + 4*len(chosen))
	if err != nil {
		return err
	}
	h.backends = []string{ports[0], ports[1]}
	h.bulk = ports[2]
	ports = ports[3:]

	// Backends and the iperf3 server share the load generators' CPU, so
	// that the proxy under test has its CPU to itself.
	for i, addr := range h.backends {
		p, err := h.ps.start(fmt.Sprintf("backend-%d", i+1), o.loadCPU, goEnv, o.bin.Backend, "-listen", addr, "-sizes", "0,1k")
		if err != nil {
			return err
		}
		if err := waitListen(ctx, p, addr, 10*time.Second); err != nil {
			return err
		}
	}
	if err := h.startBulkServer(ctx); err != nil {
		return err
	}

	for i, t := range chosen {
		dir := filepath.Join(h.work, t.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		l := layout{Dir: dir, TLS: tlsf, Backends: h.backends, Bulk: h.bulk,
			H1: ports[4*i], H2: ports[4*i+1], L4: ports[4*i+2], L4Bulk: ports[4*i+3],
			Admin: filepath.Join(dir, "admin.sock")}
		if !t.l4 {
			l.L4, l.L4Bulk = "", ""
		}
		if err := writeFiles(t, l); err != nil {
			return err
		}
		env := slices.Clone(t.env)
		if t.name == "caddy" {
			// Caddy's storage and autosaved config stay in the work dir.
			env = append(env, "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
		}
		p, err := h.ps.start(t.name, o.proxyCPU, env, t.argv(l, o.bin)...)
		if err != nil {
			return err
		}
		r := &running{target: t, l: l, p: p, env: env}
		if err := h.ready(ctx, r); err != nil {
			if t.name == "fulcrum" {
				return err
			}
			h.rep.failures = append(h.rep.failures, fmt.Sprintf("%s: %v; left out", t.name, err))
			h.ps.stop(p)
			continue
		}
		h.targets = append(h.targets, r)
	}
	if len(h.targets) == 0 || h.targets[0].name != "fulcrum" {
		return errors.New("fulcrum did not start")
	}
	// Nothing may listen beyond loopback.
	all := []*proc{h.bulkProc}
	for _, r := range h.targets {
		all = append(all, r.p)
	}
	ls, err := listeners(all)
	if err != nil {
		return fmt.Errorf("loopback check: %w", err)
	}
	if bad := nonLoopback(ls); len(bad) > 0 {
		return fmt.Errorf("refusing to run: %s", strings.Join(bad, "; "))
	}
	h.rep.targets = append(h.rep.targets, h.targetNames()...)
	h.rep.targets = append(h.rep.targets, "direct")
	return nil
}

func (h *harness) startBulkServer(ctx context.Context) error {
	host, port, _ := strings.Cut(h.bulk, ":")
	p, err := h.ps.start("iperf3-server", h.o.loadCPU, nil, "iperf3", "-s", "-B", host, "-p", port)
	if err != nil {
		return err
	}
	h.bulkProc = p
	return waitListen(ctx, p, h.bulk, 10*time.Second)
}

func (h *harness) targetNames() []string {
	var out []string
	for _, r := range h.targets {
		out = append(out, r.name)
	}
	return out
}

// ready waits for a target's listeners and checks one request through each.
func (h *harness) ready(ctx context.Context, r *running) error {
	for _, a := range []string{r.l.H1, r.l.H2, r.l.L4, r.l.L4Bulk} {
		if a == "" {
			continue
		}
		if err := waitListen(ctx, r.p, a, 15*time.Second); err != nil {
			return err
		}
	}
	if err := checkGet("http://"+r.l.H1+"/1k", "HTTP/1.1"); err != nil {
		return err
	}
	if err := checkGet("https://"+r.l.H2+"/1k", "HTTP/2.0"); err != nil {
		return err
	}
	if r.l4 {
		if err := checkGet("http://"+r.l.L4+"/1k", "HTTP/1.1"); err != nil {
			return err
		}
	}
	return nil
}

// checkGet fetches url and wants a 1 KiB 200 over the given protocol.
func checkGet(url, proto string) error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var last error
	for range 20 {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && len(b) == 1024 && resp.Proto == proto {
				return nil
			}
			err = fmt.Errorf("GET %s: %s %s, %d bytes; want 200 %s with 1024 bytes", url, resp.Proto, resp.Status, len(b), proto)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// freePorts returns n distinct loopback addresses whose ports were free a
// moment ago (all held at once, so they differ).
func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// waitListen waits until something listens on addr (read from
// /proc/net/tcp, so no probe connection disturbs the server) or p exits.
func waitListen(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	want, err := netipAddrPort(addr)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			return err
		}
		es, err := parseProcNet(string(b))
		if err != nil {
			return err
		}
		for _, e := range es {
			if e.state == tcpListen && e.local == want {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("%s exited (%v): %s", p.name, p.err, lastLines(p.tail(), 8))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: nothing listens on %s after %s: %s", p.name, addr, timeout, lastLines(p.tail(), 8))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (h *harness) settings() []kv {
	o := h.o
	mode := "full"
	if o.quick {
		mode = "quick (`BENCH_QUICK=1`: one round, short runs — a smoke test, not a result)"
	}
	return []kv{
		{"mode", mode},
		{"rounds", fmt.Sprintf("%d × every scenario × every target, target order rotated each round; %s per run after a %s warm-up run of each scenario and target",
			o.rounds, o.duration, o.warmup)},
		{"pinning", fmt.Sprintf("proxies on CPU %d (nginx worker_processes 1, HAProxy nbthread 1, Fulcrum and Caddy GOMAXPROCS=1); load generators, backends and the iperf3 server on CPU %d", o.proxyCPU, o.loadCPU)},
		{"load", fmt.Sprintf("wrk -t1 -c%d (HTTP/1.1); h2load -t1 -c%d -m%d (TLS 1.3, h2), %d requests per connection, then new connections; iperf3 -c, one stream; all on 127.0.0.1",
			o.conns, o.h2conns, o.h2streams, h2PerConn)},
		{"backends", fmt.Sprintf("2 × bench/backend (fixed 0 B and 1 KiB bodies, keep-alive), round robin over both; \"direct\" is the load generator against one backend with no proxy: the ceiling of CPU %d", o.loadCPU)},
	}
}

// measureAll runs the warm-up, then the rounds.
func (h *harness) measureAll(ctx context.Context) error {
	fmt.Fprintf(os.Stderr, "fulcrum-bench: warm-up (%s per scenario and target)\n", h.o.warmup)
	for _, sc := range h.rep.scenarios {
		for _, tn := range h.targetsFor(sc) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if _, err := h.measure(ctx, sc, tn, h.o.warmup, 0); err != nil {
				fmt.Fprintf(os.Stderr, "  warm-up %s %s: %v\n", sc.id, tn, err)
			}
		}
	}
	for round := 1; round <= h.o.rounds; round++ {
		for si, sc := range h.rep.scenarios {
			names := h.targetsFor(sc)
			for _, tn := range rotate(names, round-1+si) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s, err := h.measure(ctx, sc, tn, h.o.duration, round)
				if err != nil {
					msg := fmt.Sprintf("round %d, %s, %s: %v", round, sc.id, tn, err)
					fmt.Fprintf(os.Stderr, "  %s\n", msg)
					h.rep.failures = append(h.rep.failures, msg)
					continue
				}
				h.rep.samples = append(h.rep.samples, s)
				lat := ""
				if s.p99 > 0 {
					lat = fmt.Sprintf(" p50 %s p99 %s", fmtDur(s.p50), fmtDur(s.p99))
				}
				unit := "req/s"
				if sc.bulk {
					unit = "Gbit/s"
				}
				fmt.Fprintf(os.Stderr, "  [%d/%d] %-13s %-8s %8s %s%s  proxy CPU %3.0f%%  CPU0/1 busy %3.0f/%3.0f%%  errors %d\n",
					round, h.o.rounds, sc.id, tn, fmtRate(s.rate, sc.bulk), unit, lat, 100*max(s.proxyCPU, 0),
					100*s.loadBusy, 100*s.proxyBusy, s.errors)
			}
		}
	}
	return nil
}

// rotate returns names starting at index k (mod len): round r of scenario
// s starts with a different target each round, so no target always runs
// first or right after the same other one.
func rotate(names []string, k int) []string {
	if len(names) == 0 {
		return nil
	}
	k %= len(names)
	return append(slices.Clone(names[k:]), names[:k]...)
}

// targetsFor lists the targets that serve a scenario, "direct" last.
func (h *harness) targetsFor(sc scenario) []string {
	var out []string
	for _, r := range h.targets {
		if sc.addr(r.target, r.l) != "" {
			out = append(out, r.name)
		}
	}
	if sc.direct(h.backends, h.bulk) != "" {
		out = append(out, "direct")
	}
	return out
}

func (h *harness) find(name string) *running {
	for _, r := range h.targets {
		if r.name == name {
			return r
		}
	}
	return nil
}

// measure runs one scenario against one target for d.
func (h *harness) measure(ctx context.Context, sc scenario, tn string, d time.Duration, round int) (sample, error) {
	addr, pid := sc.direct(h.backends, h.bulk), 0
	if r := h.find(tn); r != nil {
		addr, pid = sc.addr(r.target, r.l), r.p.pid()
		if r.p.exited() {
			return sample{}, fmt.Errorf("%s has exited: %s", tn, lastLines(r.p.tail(), 5))
		}
	}
	var t0, t1 uint64
	if pid != 0 {
		t0 = treeTicks(pid)
	}
	c0, err := readCPUTimes()
	if err != nil {
		return sample{}, err
	}
	start := time.Now()
	res, err := h.load(ctx, sc, addr, d)
	elapsed := time.Since(start)
	if pid != 0 {
		t1 = treeTicks(pid)
	}
	c1, _ := readCPUTimes()
	if err != nil {
		if sc.tool == "iperf3" && h.bulkProc != nil {
			// A failed iperf3 test can leave its server waiting; start afresh.
			h.ps.stop(h.bulkProc)
			if rerr := h.startBulkServer(ctx); rerr != nil {
				err = fmt.Errorf("%w; restarting the iperf3 server: %v", err, rerr)
			}
		}
		return sample{}, err
	}
	s := sample{scenario: sc.id, target: tn, round: round, result: res, proxyCPU: -1,
		loadBusy: busyFraction(c0[h.o.loadCPU], c1[h.o.loadCPU]), proxyBusy: busyFraction(c0[h.o.proxyCPU], c1[h.o.proxyCPU])}
	if pid != 0 {
		s.proxyCPU = float64(t1-t0) / clockTicks / elapsed.Seconds()
	}
	return s, nil
}

func (h *harness) load(ctx context.Context, sc scenario, addr string, d time.Duration) (result, error) {
	switch sc.tool {
	case "wrk":
		return runWrk(ctx, h.o.loadCPU, h.script, "http://"+addr+sc.path, h.o.conns, d, sc.closeConn)
	case "h2load":
		return runH2load(ctx, h.o.loadCPU, h.work, "https://"+addr+sc.path, h.o.h2conns, h.o.h2streams, d)
	case "iperf3":
		return runIperf3(ctx, h.o.loadCPU, addr, d)
	}
	return result{}, fmt.Errorf("unknown tool %q", sc.tool)
}

// memory measures the RSS an idle client connection costs each target, on
// fresh processes: before any load, so that a garbage-collected runtime has
// no spare heap left from earlier runs to hide the cost in, and a proxy
// with buffer pools none to reuse. The target is restarted between its L7
// and its L4 measurement for the same reason. L4 uses half as many
// connections: each also holds one to a backend, and the proxies'
// descriptor limit is the machine's 20,000.
func (h *harness) memory(ctx context.Context) {
	fmt.Fprintf(os.Stderr, "fulcrum-bench: memory with %d idle connections (L4: %d)\n", h.o.idle, h.o.idle/2)
	for _, r := range h.targets {
		for _, kind := range []string{memL7, memL4} {
			addr, n := r.l.H1, h.o.idle
			if kind == memL4 {
				addr, n = r.l.L4, h.o.idle/2
			}
			if ctx.Err() != nil {
				return
			}
			if addr == "" || n == 0 {
				continue
			}
			if kind == memL4 {
				if err := h.restart(ctx, r); err != nil {
					h.rep.failures = append(h.rep.failures, fmt.Sprintf("%s: restart for the L4 memory test: %v", r.name, err))
					continue
				}
			}
			m := memResult{target: r.name, kind: kind}
			if err := h.idleOne(ctx, r, &m, addr, n); err != nil {
				m.err = err.Error()
			}
			fmt.Fprintf(os.Stderr, "  %-8s %-2s %s -> %s, %d connections: %s per connection %s\n", r.name, kind, fmtBytes(m.before),
				fmtBytes(m.after), m.ready, fmtBytes(int64(m.perConn())), m.err)
			h.rep.memory = append(h.rep.memory, m)
		}
	}
}

// restart stops a target and starts it again with the same configuration.
func (h *harness) restart(ctx context.Context, r *running) error {
	h.ps.stop(r.p)
	p, err := h.ps.start(r.name, h.o.proxyCPU, r.env, r.argv(r.l, h.o.bin)...)
	if err != nil {
		return err
	}
	r.p = p
	return h.ready(ctx, r)
}

// The kinds of idle connection the memory test opens.
const (
	memL7 = "L7" // HTTP/1.1 keep-alive to the L7 proxy
	memL4 = "L4" // through the L4 proxy to a backend
)

func (h *harness) idleOne(ctx context.Context, r *running, m *memResult, addr string, n int) error {
	settle := 2 * time.Second
	if h.o.quick {
		settle = time.Second
	}
	before, err := treeRSS(r.p.pid())
	if err != nil {
		return err
	}
	m.before = before
	p, err := h.ps.start("idleconns-"+r.name+"-"+m.kind, h.o.loadCPU, nil, h.o.bin.IdleConns,
		"-addr", addr, "-n", strconv.Itoa(n), "-path", "/0", "-hold", "5m")
	if err != nil {
		return err
	}
	defer h.ps.stop(p)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if got, failed, ok := parseReady(p.tail()); ok {
			m.ready = got
			if failed != "" {
				return fmt.Errorf("%d of %d connections: %s", got, n, failed)
			}
			break
		}
		if p.exited() || time.Now().After(deadline) {
			return fmt.Errorf("idleconns did not get ready: %s", lastLines(p.tail(), 4))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	time.Sleep(settle)
	after, err := treeRSS(r.p.pid())
	if err != nil {
		return err
	}
	m.after = after
	if r.name == "fulcrum" && m.kind == memL7 {
		// The Go runtime's own account of the memory, from the admin API.
		if mt, err := adminGet(ctx, r.l.Admin, "/metrics", 10*time.Second); err == nil {
			m.note = goRuntimeNote(string(mt))
		}
		if h.o.profile {
			h.saveProfile(ctx, r, "heap", "Fulcrum heap with "+strconv.Itoa(m.ready)+" idle HTTP/1.1 connections", "/debug/pprof/heap?gc=1", 0)
		}
	}
	return nil
}

// parseReady reads idleconns' "ready N" and "failed K: error" lines.
func parseReady(out string) (n int, failed string, ok bool) {
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if rest, found := strings.CutPrefix(line, "ready "); found {
			if v, err := strconv.Atoi(rest); err == nil {
				n, ok = v, true
			}
		}
		if rest, found := strings.CutPrefix(line, "failed "); found {
			failed = rest
		}
	}
	return n, failed, ok
}

func (h *harness) goBenchmarks(ctx context.Context) {
	if !h.o.gob {
		return
	}
	fmt.Fprintf(os.Stderr, "fulcrum-bench: Go benchmarks\n")
	// The connection-table entry size is part of the memory section, in
	// quick mode too.
	if bs, err := runGoBench(ctx, h.o.repo, h.o.proxyCPU, "./internal/conntab", "^BenchmarkEntryMemory$", "1x"); err != nil {
		h.rep.failures = append(h.rep.failures, err.Error())
	} else {
		h.rep.conntab = bs
	}
	if h.o.quick {
		return
	}
	for _, hb := range hotPathBenches {
		if ctx.Err() != nil {
			return
		}
		bs, err := runGoBench(ctx, h.o.repo, h.o.proxyCPU, hb.pkg, hb.regex, "")
		if err != nil {
			h.rep.failures = append(h.rep.failures, err.Error())
			continue
		}
		h.rep.goBench = append(h.rep.goBench, bs...)
	}
}

// packetRates measures the XDP data plane in packets per second against
// nftables DNAT and the direct path (test/xdp BenchmarkVethNAT: its own
// network namespaces and veths), one round per -rounds. It needs root,
// nft and a kernel with XDP; without them the report says why.
func (h *harness) packetRates(ctx context.Context) {
	switch {
	case os.Geteuid() != 0:
		h.rep.ppsSkipped = "not run: needs root (network namespaces, XDP)"
		return
	case !haveTool("nft"):
		h.rep.ppsSkipped = "not run: nftables (nft) is not installed (bench/run.sh installs it)"
		return
	}
	rounds := h.o.rounds
	if h.o.quick {
		rounds = 1
	}
	fmt.Fprintf(os.Stderr, "fulcrum-bench: XDP packets per second (%d rounds)\n", rounds)
	bs, err := runGoBench(ctx, h.o.repo, h.o.loadCPU, "./test/xdp", "^BenchmarkVethNAT$", fmt.Sprintf("%dx", rounds))
	if err != nil {
		h.rep.failures = append(h.rep.failures, err.Error())
		h.rep.ppsSkipped = "failed: see the runs that failed"
		return
	}
	h.rep.pps = bs
	h.rep.ppsRounds = rounds
	h.rep.ppsCPU = h.o.loadCPU
}

func haveTool(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

func (h *harness) write() error {
	if err := os.MkdirAll(h.o.out, 0o755); err != nil {
		return err
	}
	name := h.rep.started.UTC().Format("2006-01-02-1504")
	if h.o.quick {
		name += "-quick"
	}
	path := filepath.Join(h.o.out, name+".md")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	h.rep.markdown(io.MultiWriter(f, os.Stdout))
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fulcrum-bench: report written to %s\n", path)
	return nil
}
