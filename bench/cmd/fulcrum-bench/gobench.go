package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// goBench is one line of `go test -bench` output.
type goBench struct {
	pkg, name   string
	n           int64
	metrics     map[string]float64
	metricOrder []string
}

// hotPathBenches are the Go benchmarks the report lists: the proxy
// request (whole, over loopback, and the handler alone against
// httputil.ReverseProxy), the schedulers' pick, the connection table and
// the L4 plane.
var hotPathBenches = []struct{ pkg, regex string }{
	{"./internal/l7", "^(BenchmarkFastPath|BenchmarkProxyPath)$"},
	{"./internal/l7/balance", "^BenchmarkPick$"},
	{"./internal/l7/route", "^BenchmarkMatch$"},
	{"./internal/sched", "^BenchmarkSchedule$"},
	{"./internal/conntab", "^(BenchmarkLookup|BenchmarkLookupMiss|BenchmarkInsert|BenchmarkEntryMemory)$"},
	{"./internal/l4", "^(BenchmarkTCPConnect|BenchmarkTCPThroughput)$"},
}

// runGoBench runs the benchmarks matching regex in pkg (relative to the
// repository root), pinned to cpu with GOMAXPROCS 1.
func runGoBench(ctx context.Context, repo string, cpu int, pkg, regex, benchtime string) ([]goBench, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	args := []string{"-c", strconv.Itoa(cpu), "go", "test", "-run", "^$", "-bench", regex, "-benchmem", "-cpu", "1", "-count", "1"}
	if benchtime != "" {
		args = append(args, "-benchtime", benchtime)
	}
	cmd := exec.CommandContext(ctx, "taskset", append(args, pkg)...)
	cmd.Dir = repo
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench %s %s: %w: %s", regex, pkg, err, lastLines(string(out), 8))
	}
	bs := parseGoBench(string(out))
	if len(bs) == 0 {
		return nil, fmt.Errorf("go test -bench %s %s: no benchmark ran: %s", regex, pkg, lastLines(string(out), 8))
	}
	return bs, nil
}

// parseGoBench reads the benchmark lines of `go test -bench` output (the
// format of golang.org/x/perf's benchfmt): "BenchmarkName[-P] N value
// unit [value unit]...", after a "pkg: path" line.
func parseGoBench(out string) []goBench {
	var res []goBench
	pkg := ""
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/fulcrumlb/fulcrum/")
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := goBench{pkg: pkg, name: f[0], n: n, metrics: map[string]float64{}}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			b.metrics[f[i+1]] = v
			b.metricOrder = append(b.metricOrder, f[i+1])
		}
		if ok {
			res = append(res, b)
		}
	}
	return res
}
