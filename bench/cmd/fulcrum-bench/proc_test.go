package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseProcStat_proc5(t *testing.T) {
	// comm may hold blanks and parentheses: fields are counted from the
	// last ')' (proc(5): utime is field 14, stime 15, ppid 4).
	line := "1234 (my (odd) comm) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 1 0 100 1000 200"
	st, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if st.pid != 1234 || st.ppid != 1 || st.comm != "my (odd) comm" || st.ticks != 250+75 {
		t.Fatalf("got %+v", st)
	}
	for _, bad := range []string{"", "1234 no parens", "x (a) S 1", "12 (a) S 1 2 3", "12 (a) S x 1 1 0 -1 0 0 0 0 0 1 1"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) accepted", bad)
		}
	}
}

func TestParseProcStatSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	st, err := parseProcStat(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if st.pid != os.Getpid() || st.ppid != os.Getppid() {
		t.Fatalf("pid %d ppid %d, want %d %d", st.pid, st.ppid, os.Getpid(), os.Getppid())
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tnginx\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\nRssAnon:\t 100 kB\n"
	if kb, err := parseVmRSS(strings.NewReader(status)); err != nil || kb != 4321 {
		t.Fatalf("got %d, %v; want 4321", kb, err)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Fatal("a kernel thread has no VmRSS line: want an error")
	}
	if _, err := parseVmRSS(strings.NewReader("VmRSS: 12 MB\n")); err == nil {
		t.Fatal("unknown unit accepted")
	}
}

func TestParseCPUTimes_proc5(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	stat := "cpu  30 0 30 200 10 0 0 0 0 0\n" +
		"cpu0 10 0 20 100 10 5 5 0 7 0\n" +
		"cpu1 20 0 10 100 0 0 0 0 0 0\n" +
		"intr 12345\nctxt 99\n"
	m, err := parseCPUTimes(stat)
	if err != nil {
		t.Fatal(err)
	}
	// Busy excludes idle and iowait; guest is already inside user.
	if got := m[0]; got.busy != 10+20+5+5 || got.total != 10+20+100+10+5+5 {
		t.Fatalf("cpu0 %+v", got)
	}
	if got := m[1]; got.busy != 30 || got.total != 130 {
		t.Fatalf("cpu1 %+v", got)
	}
	if len(m) != 2 {
		t.Fatalf("%d CPUs, want 2 (the aggregate line is not one)", len(m))
	}
	if f := busyFraction(cpuTimes{busy: 10, total: 100}, cpuTimes{busy: 40, total: 200}); f != 0.3 {
		t.Fatalf("busy fraction %v, want 0.3", f)
	}
	if f := busyFraction(cpuTimes{total: 5}, cpuTimes{total: 5}); f != 0 {
		t.Fatalf("no time passed: %v", f)
	}
}

func TestTree(t *testing.T) {
	all := map[int]procStat{
		1: {pid: 1}, 10: {pid: 10, ppid: 1}, 11: {pid: 11, ppid: 10}, 12: {pid: 12, ppid: 11},
		20: {pid: 20, ppid: 1},
	}
	got := tree(all, 10)
	if len(got) != 3 || got[0] != 10 {
		t.Fatalf("tree of 10: %v, want 10, 11, 12", got)
	}
	if got := tree(all, 99); len(got) != 0 {
		t.Fatalf("a gone process has no tree: %v", got)
	}
}

// The harness's own processes: a started process group (here a shell and
// its child) is listed in the pid file while it runs and is gone, child
// included, after stopAll.
func TestProcsStopAllKillsTheGroup(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("taskset not installed")
	}
	dir := t.TempDir()
	ps := &procs{dir: dir, pidFile: filepath.Join(dir, "pids")}
	// The shell ignores SIGTERM, so stop has to fall back to SIGKILL.
	p, err := ps.start("group", 0, nil, "sh", "-c", "trap '' TERM; sleep 60 & echo started; wait")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.tail(), "started") {
		if time.Now().After(deadline) {
			t.Fatalf("the child never started: %q", p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(ps.pidFile)
	if strings.TrimSpace(string(b)) != strconv.Itoa(p.pid()) {
		t.Fatalf("pid file %q, want %d", b, p.pid())
	}
	if kids := tree(allProcs(), p.pid()); len(kids) < 2 {
		t.Fatalf("process tree %v: want the shell and its sleep", kids)
	}
	ps.stopAll()
	if !p.exited() {
		t.Fatal("the group leader still runs")
	}
	// Killed children may linger as zombies until init reaps them; none
	// may still run.
	deadline = time.Now().Add(2 * time.Second)
	for {
		live := liveInGroup(t, p.pid())
		if len(live) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still running in the group: %v", live)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ = os.ReadFile(ps.pidFile)
	if strings.TrimSpace(string(b)) != "" {
		t.Fatalf("pid file after stopAll: %q", b)
	}
}

// liveInGroup lists the processes of group pgid that are not zombies
// (proc(5): state is field 3, pgrp field 5).
func liveInGroup(t *testing.T, pgid int) []string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			out = append(out, e.Name()+" "+f[0])
		}
	}
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) && len(out) > 0 {
		t.Fatalf("the group is gone but /proc lists %v", out)
	}
	return out
}

func TestTreeRSSAndTicksOfSelf(t *testing.T) {
	rss, err := treeRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 {
		t.Fatalf("RSS of a Go test binary %d B: implausibly small", rss)
	}
	if _, err := treeRSS(1 << 30); err == nil {
		t.Fatal("no RSS for a pid that does not exist: want an error")
	}
}
