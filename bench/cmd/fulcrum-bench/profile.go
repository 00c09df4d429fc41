package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func netipAddrPort(s string) (netip.AddrPort, error) { return netip.ParseAddrPort(s) }

// profiled are the scenarios whose Fulcrum CPU profile the report shows.
var profiled = []string{"l7-ka-1k", "l7-close-1k", "l7-h2-tls-1k", "l4-ka-1k", "l4-close-1k"}

// profiles takes a CPU profile of Fulcrum through its admin API
// (/debug/pprof/profile) during an extra run of each profiled scenario;
// those runs are not in the numbers.
func (h *harness) profiles(ctx context.Context) {
	r := h.find("fulcrum")
	if r == nil {
		return
	}
	secs := max(2, int(h.o.duration/time.Second))
	fmt.Fprintf(os.Stderr, "fulcrum-bench: CPU profiles of Fulcrum (%d s each)\n", secs)
	for _, id := range profiled {
		var sc scenario
		for _, s := range h.rep.scenarios {
			if s.id == id {
				sc = s
			}
		}
		if sc.id == "" || ctx.Err() != nil {
			continue
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.saveProfile(ctx, r, "cpu-"+id, sc.title, "/debug/pprof/profile?seconds="+strconv.Itoa(secs), secs)
		}()
		// The load covers the whole profile window.
		if _, err := h.measure(ctx, sc, "fulcrum", time.Duration(secs+1)*time.Second, 0); err != nil {
			fmt.Fprintf(os.Stderr, "  profile run %s: %v\n", id, err)
		}
		<-done
	}
}

// adminGet fetches path from Fulcrum's admin API on its unix socket.
func adminGet(ctx context.Context, sock, path string, timeout time.Duration) ([]byte, error) {
	c := &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
		Timeout: timeout,
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://fulcrum"+path, nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, b)
	}
	return b, nil
}

// goRuntimeNote picks the Go runtime's memory metrics out of Prometheus
// text: goroutines, stack and heap in use.
func goRuntimeNote(metrics string) string {
	want := map[string]string{
		"go_goroutines":                 "",
		"go_memstats_stack_inuse_bytes": "",
		"go_memstats_heap_alloc_bytes":  "",
		"go_memstats_heap_inuse_bytes":  "",
		"go_memstats_next_gc_bytes":     "",
	}
	for line := range strings.Lines(metrics) {
		f := strings.Fields(line)
		if len(f) == 2 {
			if _, ok := want[f[0]]; ok {
				want[f[0]] = f[1]
			}
		}
	}
	num := func(k string) float64 { v, _ := strconv.ParseFloat(want[k], 64); return v }
	if want["go_goroutines"] == "" || want["go_memstats_stack_inuse_bytes"] == "" {
		return ""
	}
	return fmt.Sprintf("Go runtime at that point: %.0f goroutines, %s of goroutine stacks, %s of heap allocated "+
		"(live and not yet collected), next GC at %s",
		num("go_goroutines"), fmtBytes(int64(num("go_memstats_stack_inuse_bytes"))),
		fmtBytes(int64(num("go_memstats_heap_alloc_bytes"))), fmtBytes(int64(num("go_memstats_next_gc_bytes"))))
}

// saveProfile fetches a profile from Fulcrum's admin socket into the
// results directory and adds its top functions to the report.
func (h *harness) saveProfile(ctx context.Context, r *running, kind, title, path string, secs int) {
	fail := func(err error) {
		h.rep.failures = append(h.rep.failures, fmt.Sprintf("profile %s: %v", kind, err))
	}
	body, err := adminGet(ctx, r.l.Admin, path, time.Duration(secs+30)*time.Second)
	if err != nil {
		fail(err)
		return
	}
	if err := os.MkdirAll(h.o.out, 0o755); err != nil {
		fail(err)
		return
	}
	file := filepath.Join(h.o.out, h.rep.started.UTC().Format("2006-01-02-1504")+"-fulcrum-"+kind+".pprof")
	f, err := os.Create(file)
	if err != nil {
		fail(err)
		return
	}
	_, err = f.Write(body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fail(err)
		return
	}
	ps, err := summarizeProfile(ctx, file, kind == "heap")
	if err != nil {
		fail(err)
		return
	}
	ps.title = title
	h.rep.profiles = append(h.rep.profiles, ps)
}

// summarizeProfile runs go tool pprof on a profile: the top 20 functions
// by their own samples and, for a CPU profile, the samples grouped by
// where they go (kernel, GC, allocation, scheduler, libraries, Fulcrum).
func summarizeProfile(ctx context.Context, file string, heap bool) (profileSummary, error) {
	args := []string{"tool", "pprof", "-top", "-nodecount=20"}
	if heap {
		args = append(args, "-sample_index=inuse_space")
	}
	out, err := exec.CommandContext(ctx, "go", append(args, file)...).Output()
	if err != nil {
		return profileSummary{}, fmt.Errorf("go tool pprof %s: %w", file, err)
	}
	ps := profileSummary{file: file, top: trimPprofHeader(string(out))}
	if !heap {
		all, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", file).Output()
		if err != nil {
			return profileSummary{}, fmt.Errorf("go tool pprof %s: %w", file, err)
		}
		ps.groups = groupProfile(string(all))
	}
	return ps, nil
}

// share is the part of a CPU profile's samples spent in one group of
// functions.
type share struct {
	group   string
	percent float64
}

// profileGroups classify a function by its name, first match wins.
var profileGroups = []struct {
	name string
	re   *regexp.Regexp
}{
	{"system calls (kernel work, loopback delivery included)", regexp.MustCompile(`(^syscall\.|/syscall/|Syscall)`)},
	{"garbage collection", regexp.MustCompile(`^runtime\.(gc|scan|mark|greyobject|findObject|heapBits|wbBuf|bulkBarrier|tryDefer|typePointers|sweep|moveInlineMarks|\(\*gcWork\)|\(\*mspan\)|\(\*gcBits|\(\*spanInlineMarkBits\)|\(\*spanSet\)|heapArenaOf|spanOf|pageIndexOf)`)},
	{"allocation", regexp.MustCompile(`^runtime\.(malloc|nextFree|memclrNoHeapPointers|newobject|makeslice|growslice|makemap|\(\*mcache\)|\(\*mcentral\)|\(\*mheap\)|spanClass|deductAssistCredit|heapSetType|newarray|rawstring|concatstring|slicebytetostring|rawbyteslice|roundupsize|publicationBarrier)`)},
	{"Go runtime: scheduler, netpoll, channels, maps, timers", regexp.MustCompile(`^(runtime\.|internal/runtime/|internal/poll\.|sync\.|internal/sync\.|time\.|context\.|aeshash|memeqbody|indexbyte)`)},
	{"TLS", regexp.MustCompile(`^(crypto/|vendor/golang.org/x/crypto)`)},
	{"net/http, httputil, textproto, bufio", regexp.MustCompile(`^(net/http|net/textproto|bufio\.|net/url\.|mime\.|vendor/golang.org/x/net/http)`)},
	{"Fulcrum's own code", regexp.MustCompile(`^github\.com/fulcrumlb/fulcrum/`)},
}

// groupProfile sums the flat% column of `go tool pprof -top` output by
// profileGroups; what matches none is "other".
func groupProfile(top string) []share {
	sum := map[string]float64{}
	for line := range strings.Lines(top) {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[1], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		if err != nil {
			continue
		}
		group := "other (strings, net, io, ...)"
		for _, g := range profileGroups {
			if g.re.MatchString(f[5]) {
				group = g.name
				break
			}
		}
		sum[group] += pct
	}
	var out []share
	for g, p := range sum {
		out = append(out, share{g, p})
	}
	slices.SortFunc(out, func(a, b share) int {
		return cmp.Or(cmp.Compare(b.percent, a.percent), cmp.Compare(a.group, b.group))
	})
	return out
}

// trimPprofHeader drops pprof's "File:", "Build ID:" and "Type:" lines,
// which name local paths, keeping the totals and the table.
func trimPprofHeader(s string) string {
	var keep []string
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, "File: ") || strings.HasPrefix(line, "Build ID: ") {
			continue
		}
		keep = append(keep, strings.TrimRight(line, "\n"))
	}
	return strings.Join(keep, "\n")
}
