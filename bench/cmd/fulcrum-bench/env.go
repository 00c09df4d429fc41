package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// machineInfo describes the machine and the software versions for the
// report.
func machineInfo(commit string, pkgs []string) []kv {
	var out []kv
	if b, err := exec.Command("lscpu").Output(); err == nil {
		m := parseLscpu(string(b))
		cpu := m["Model name"]
		if v := m["CPU(s)"]; v != "" {
			cpu += ", " + v + " CPUs"
		}
		if v := m["Thread(s) per core"]; v != "" {
			cpu += " (" + v + " thread(s) per core)"
		}
		if v := m["Hypervisor vendor"]; v != "" {
			cpu += ", virtual machine (" + v + ")"
		}
		out = append(out, kv{"CPU", cpu})
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64); err == nil {
					out = append(out, kv{"memory", fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))})
				}
			}
		}
	}
	osrel := readTrim("/proc/sys/kernel/osrelease")
	if v := readTrim("/etc/debian_version"); v != "" {
		osrel += ", Debian " + v
	}
	out = append(out, kv{"kernel", osrel})
	gov := runtime.Version()
	if b, err := exec.Command("go", "version").Output(); err == nil {
		gov = strings.TrimSpace(string(b))
	}
	out = append(out, kv{"Go", gov})
	if commit != "" {
		out = append(out, kv{"Fulcrum", commit})
	}
	var vers []string
	for _, p := range pkgs {
		if b, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", p).Output(); err == nil && len(b) > 0 {
			vers = append(vers, p+" "+string(b))
		} else {
			vers = append(vers, p+" (not installed)")
		}
	}
	out = append(out, kv{"Debian packages", strings.Join(vers, ", ")})
	return out
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// parseLscpu reads lscpu's "Key: value" lines.
func parseLscpu(s string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// activity samples the process table while the benchmark runs, to report
// which other processes used CPU meanwhile (other agents share this
// machine). A process's count includes the children it has waited for
// (cutime, cstime), so short compiler runs show under their go command.
type activity struct {
	self  int
	mu    sync.Mutex
	first map[int]procUse
	last  map[int]procUse
	load  []string
}

type procUse struct {
	comm  string
	ticks uint64
}

func startActivity(ctx context.Context, every time.Duration) *activity {
	a := &activity{self: os.Getpid(), first: map[int]procUse{}, last: map[int]procUse{}}
	a.sample(true)
	a.load = append(a.load, "at start: "+loadavg())
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.sample(false)
			}
		}
	}()
	return a
}

func (a *activity) sample(initial bool) {
	all := allProcs()
	ours := map[int]bool{}
	for _, p := range tree(all, a.self) {
		ours[p] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for pid := range all {
		if ours[pid] {
			continue
		}
		u, ok := readProcUse(pid)
		if !ok {
			continue
		}
		if _, seen := a.first[pid]; !seen {
			if !initial {
				// Started during the run: all of its time counts.
				a.first[pid] = procUse{comm: u.comm}
			} else {
				a.first[pid] = u
			}
		}
		a.last[pid] = u
	}
}

// readProcUse reads utime+stime+cutime+cstime (fields 14-17 of
// /proc/PID/stat) and a short command line.
func readProcUse(pid int) (procUse, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUse{}, false
	}
	s := string(b)
	closing := strings.LastIndexByte(s, ')')
	if closing < 0 {
		return procUse{}, false
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 15 {
		return procUse{}, false
	}
	var ticks uint64
	for _, i := range []int{11, 12, 13, 14} {
		n, _ := strconv.ParseUint(f[i], 10, 64)
		ticks += n
	}
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	comm := strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
	if comm == "" {
		comm = s[strings.IndexByte(s, '(')+1 : closing]
	}
	if len(comm) > 60 {
		comm = comm[:60] + "…"
	}
	return procUse{comm: comm, ticks: ticks}, true
}

// report lists the load average and the processes that used the most CPU
// while the benchmark ran.
func (a *activity) report(elapsed time.Duration) []string {
	a.sample(false)
	a.mu.Lock()
	defer a.mu.Unlock()
	type use struct {
		comm string
		sec  float64
	}
	var uses []use
	var total float64
	for pid, l := range a.last {
		f := a.first[pid]
		if l.ticks <= f.ticks {
			continue
		}
		s := float64(l.ticks-f.ticks) / clockTicks
		total += s
		uses = append(uses, use{l.comm, s})
	}
	slices.SortFunc(uses, func(x, y use) int { return cmp.Compare(y.sec, x.sec) })
	out := slices.Clone(a.load)
	out = append(out, "at end: "+loadavg())
	out = append(out, fmt.Sprintf("other processes used about %.0f CPU-seconds during the %s run (%.0f %% of one CPU on average; "+
		"counted from /proc/PID/stat every few seconds, children included once their parent waited for them)",
		total, elapsed.Round(time.Second), 100*total/max(elapsed.Seconds(), 1)))
	for i, u := range uses {
		if i == 6 || u.sec < 1 {
			break
		}
		out = append(out, fmt.Sprintf("%.0f s: `%s`", u.sec, strings.ReplaceAll(u.comm, "`", "'")))
	}
	return out
}

func loadavg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return "load average " + strings.Join(f[:3], " ")
}
