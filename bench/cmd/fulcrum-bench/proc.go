package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc (proc(5)); it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procs starts and tracks every long-running process of a run, so that
// all of them can be stopped whatever happens. Each one is a process group
// leader (so that nginx's workers go with their master) and gets SIGKILL
// if the harness dies (PR_SET_PDEATHSIG). Their ids are also written to a
// file that run.sh's trap reads, in case the harness itself is killed.
type procs struct {
	dir     string // logs
	pidFile string
	mu      sync.Mutex
	live    []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start runs args pinned to cpu with taskset, its output going to
// dir/name.log.
func (ps *procs) start(name string, cpu int, env []string, args ...string) (*proc, error) {
	logPath := filepath.Join(ps.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("taskset", append([]string{"-c", strconv.Itoa(cpu)}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.live = append(ps.live, p)
	ps.mu.Unlock()
	ps.writePids()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the end of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// stop sends SIGTERM to the process group, then SIGKILL after a grace
// period.
func (ps *procs) stop(p *proc) {
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
	// Workers that outlived their leader (a group without its leader).
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	ps.mu.Lock()
	ps.live = slices.DeleteFunc(ps.live, func(q *proc) bool { return q == p })
	ps.mu.Unlock()
	ps.writePids()
}

// stopAll stops every live process, the last started first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	live := slices.Clone(ps.live)
	ps.mu.Unlock()
	slices.Reverse(live)
	var wg sync.WaitGroup
	for _, p := range live {
		wg.Add(1)
		go func() { defer wg.Done(); ps.stop(p) }()
	}
	wg.Wait()
}

func (ps *procs) writePids() {
	if ps.pidFile == "" {
		return
	}
	ps.mu.Lock()
	var b strings.Builder
	for _, p := range ps.live {
		fmt.Fprintf(&b, "%d\n", p.pid())
	}
	ps.mu.Unlock()
	_ = os.WriteFile(ps.pidFile, []byte(b.String()), 0o644)
}

// runTool runs a load generator to completion, pinned to cpu, and returns
// its standard output.
func runTool(ctx context.Context, cpu int, timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "taskset", append([]string{"-c", strconv.Itoa(cpu)}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", args[0], err, lastLines(stderr.String(), 5))
	}
	return stdout.Bytes(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// waitTCP waits until addr accepts connections or p exits.
func waitTCP(ctx context.Context, p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v: %s", p.name, p.err, lastLines(p.tail(), 8))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: nothing listens on %s after %s", nameOf(p), addr, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func nameOf(p *proc) string {
	if p == nil {
		return "?"
	}
	return p.name
}

// procStat is what the benchmark reads from /proc/PID/stat (proc(5)).
type procStat struct {
	pid, ppid int
	comm      string
	ticks     uint64 // utime + stime
}

// parseProcStat parses one /proc/PID/stat line. comm is in parentheses and
// may itself hold spaces and parentheses, so the fields are counted from
// the last ')'.
func parseProcStat(line string) (procStat, error) {
	open := strings.IndexByte(line, '(')
	closing := strings.LastIndexByte(line, ')')
	if open < 0 || closing < open {
		return procStat{}, fmt.Errorf("malformed stat line %q", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("malformed stat line %q", line)
	}
	// Fields after comm, numbered from 3 (state) as in proc(5).
	f := strings.Fields(line[closing+1:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("short stat line %q", line)
	}
	ppid, err1 := strconv.Atoi(f[1])                // field 4
	utime, err2 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err3 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, fmt.Errorf("stat line %q: %w", line, err)
	}
	return procStat{pid: pid, ppid: ppid, comm: line[open+1 : closing], ticks: utime + stime}, nil
}

// allProcs reads /proc/*/stat. Processes that exit while it reads are
// skipped.
func allProcs() map[int]procStat {
	out := map[int]procStat{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, err := parseProcStat(strings.TrimSpace(string(b))); err == nil {
			out[st.pid] = st
		}
	}
	return out
}

// tree returns root and its descendants in the process table.
func tree(all map[int]procStat, root int) []int {
	children := map[int][]int{}
	for _, st := range all {
		children[st.ppid] = append(children[st.ppid], st.pid)
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	if _, ok := all[root]; ok {
		walk(root)
	}
	return out
}

// treeTicks is the CPU time (utime+stime, in clock ticks) of root and its
// descendants.
func treeTicks(root int) uint64 {
	all := allProcs()
	var n uint64
	for _, p := range tree(all, root) {
		n += all[p].ticks
	}
	return n
}

// treeRSS is the resident set size in bytes of root and its descendants
// (VmRSS of /proc/PID/status).
func treeRSS(root int) (int64, error) {
	var total int64
	for _, p := range tree(allProcs(), root) {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		kb, err := parseVmRSS(f)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("pid %d: %w", p, err)
		}
		total += kb * 1024
	}
	if total == 0 {
		return 0, fmt.Errorf("pid %d: no RSS", root)
	}
	return total, nil
}

// parseVmRSS finds "VmRSS:   1234 kB" in /proc/PID/status.
func parseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("malformed VmRSS line %q", sc.Text())
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, errors.New("no VmRSS line")
}

// cpuTimes is one line of /proc/stat: busy and total jiffies of a CPU.
type cpuTimes struct{ busy, total uint64 }

// readCPUTimes returns the per-CPU lines of /proc/stat, indexed by CPU
// number. Busy is everything but idle and iowait.
func readCPUTimes() (map[int]cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	return parseCPUTimes(string(b))
}

func parseCPUTimes(s string) (map[int]cpuTimes, error) {
	out := map[int]cpuTimes{}
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			return nil, fmt.Errorf("/proc/stat: %q", f[0])
		}
		var ct cpuTimes
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already counted in user (proc(5)).
		for i, v := range f[1:] {
			if i >= 8 {
				break
			}
			x, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat %s: %w", f[0], err)
			}
			ct.total += x
			if i != 3 && i != 4 {
				ct.busy += x
			}
		}
		out[n] = ct
	}
	if len(out) == 0 {
		return nil, errors.New("/proc/stat: no per-CPU lines")
	}
	return out, nil
}

// busyFraction is the share of time a CPU was busy between two readings.
func busyFraction(a, b cpuTimes) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}
