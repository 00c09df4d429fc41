package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// result is one measurement of one target in one scenario.
type result struct {
	// rate is requests per second, or bits per second for bulk transfers.
	rate float64
	// p50 and p99 are request latencies (zero when not measured).
	p50, p99 time.Duration
	// requests and errors are counts over the run.
	requests, errors int64
}

// wrkReport is a wrk Lua script whose done() prints one machine-readable
// line; wrk's own summary is for people and rounds its numbers.
//
//go:embed wrk-report.lua
var wrkReport string

// runWrk runs wrk (one thread, conns connections) against url for d.
func runWrk(ctx context.Context, cpu int, script, url string, conns int, d time.Duration, closeConn bool) (result, error) {
	args := []string{"wrk", "-t1", "-c" + strconv.Itoa(conns), "-d" + seconds(d), "--timeout", "5s", "-s", script}
	if closeConn {
		// wrk opens a new connection when the server closes one
		// (http_should_keep_alive), so this is a connection per request.
		args = append(args, "-H", "Connection: close")
	}
	out, err := runTool(ctx, cpu, d+30*time.Second, append(args, url)...)
	if err != nil {
		return result{}, err
	}
	return parseWrk(string(out))
}

// seconds formats a duration for wrk and h2load, whose duration flags take
// whole seconds (at least 1).
func seconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
}

// parseWrk reads the line the report script prints:
// "BENCH requests=N duration_us=N connect=N read=N write=N status=N
// timeout=N p50_us=N p90_us=N p99_us=N max_us=N".
func parseWrk(out string) (result, error) {
	for line := range strings.Lines(out) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "BENCH ")
		if !ok {
			continue
		}
		kv := map[string]int64{}
		for f := range strings.FieldsSeq(rest) {
			k, v, ok := strings.Cut(f, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil || n < 0 {
				return result{}, fmt.Errorf("wrk report: bad field %q", f)
			}
			kv[k] = n
		}
		for _, k := range []string{"requests", "duration_us", "p50_us", "p99_us"} {
			if _, ok := kv[k]; !ok {
				return result{}, fmt.Errorf("wrk report: no %s in %q", k, line)
			}
		}
		if kv["duration_us"] <= 0 {
			return result{}, fmt.Errorf("wrk report: duration %dus", kv["duration_us"])
		}
		// wrk counts a non-2xx/3xx response as a status error; connect,
		// read, write and timeout errors are transport failures.
		errs := kv["connect"] + kv["read"] + kv["write"] + kv["status"] + kv["timeout"]
		return result{
			rate:     float64(kv["requests"]) / (float64(kv["duration_us"]) / 1e6),
			p50:      time.Duration(kv["p50_us"]) * time.Microsecond,
			p99:      time.Duration(kv["p99_us"]) * time.Microsecond,
			requests: kv["requests"],
			errors:   errs,
		}, nil
	}
	return result{}, fmt.Errorf("wrk printed no BENCH line: %s", lastLines(out, 5))
}

// h2PerConn is how many requests an h2load connection makes before h2load
// is started again with new connections. h2load does not reconnect after
// a GOAWAY, and a proxy may close a connection after some number of
// requests (Fulcrum after 1000, nginx's keepalive_requests default): a
// client that ran into such a limit would stop for the rest of a timed
// run and the run would measure an ever smaller load. Staying below the
// smallest limit keeps every connection busy to its end, for every proxy.
const h2PerConn = 900

// runH2load runs h2load over TLS with h2 (ALPN) for about d: conns
// connections with streams concurrent streams each, h2PerConn requests per
// connection, then again with new connections until d has passed. The
// rate is the 2xx responses over the time h2load itself measured (process
// starts excluded); latencies come from its per-request logs.
func runH2load(ctx context.Context, cpu int, dir, url string, conns, streams int, d time.Duration) (result, error) {
	logPath := filepath.Join(dir, "h2load-requests.log")
	defer os.Remove(logPath)
	var total result
	var busy float64 // seconds h2load measured
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < d {
		_ = os.Remove(logPath)
		out, err := runTool(ctx, cpu, d+30*time.Second, "h2load", "-t1", "-c"+strconv.Itoa(conns), "-m"+strconv.Itoa(streams),
			"-n", strconv.Itoa(conns*h2PerConn), "--log-file="+logPath, url)
		if err != nil {
			return result{}, err
		}
		res, secs, err := parseH2load(string(out))
		if err != nil {
			return result{}, err
		}
		total.requests += res.requests
		total.errors += res.errors
		total.rate += res.rate * secs // 2xx responses
		busy += secs
		f, err := os.Open(logPath)
		if err != nil {
			return result{}, err
		}
		l, err := parseH2loadLog(bufio.NewScanner(f))
		f.Close()
		if err != nil {
			return result{}, err
		}
		lat = append(lat, l...)
	}
	if len(lat) == 0 || busy == 0 {
		return result{}, errors.New("h2load logged no successful request")
	}
	total.rate /= busy
	total.p50, total.p99 = percentile(lat, 50), percentile(lat, 99)
	return total, nil
}

var (
	h2Finished = regexp.MustCompile(`(?m)^finished in ([0-9.]+)(m?s), ([0-9.]+) req/s`)
	h2Requests = regexp.MustCompile(`(?m)^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx`)
)

// parseH2load reads h2load's summary: "finished in 8.00s, 23456.50 req/s,
// ..." and "requests: T total, S started, D done, OK succeeded, F failed,
// E errored, X timeout". Errored and timeout are parts of failed;
// succeeded means a response of any status, so non-2xx responses are
// counted as errors here. It returns the rate of 2xx responses and the
// duration h2load measured, in seconds.
func parseH2load(out string) (result, float64, error) {
	m := h2Finished.FindStringSubmatch(out)
	r := h2Requests.FindStringSubmatch(out)
	st := h2Status.FindStringSubmatch(out)
	if m == nil || r == nil || st == nil {
		return result{}, 0, fmt.Errorf("h2load summary not found: %s", lastLines(out, 6))
	}
	dur, _ := strconv.ParseFloat(m[1], 64)
	if m[2] == "ms" {
		dur /= 1000
	}
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	ok2xx := num(st[1])
	if dur <= 0 {
		return result{}, 0, fmt.Errorf("h2load: duration %q", m[0])
	}
	return result{
		rate:     float64(ok2xx) / dur,
		requests: num(r[3]),
		errors:   num(r[5]) + max(0, num(r[4])-ok2xx),
	}, dur, nil
}

// parseH2loadLog reads h2load's --log-file: one line per request, "start
// (µs since the epoch) TAB status TAB duration (µs)". Only 2xx responses
// count.
func parseH2loadLog(sc *bufio.Scanner) ([]time.Duration, error) {
	var out []time.Duration
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("h2load log: malformed line %q", sc.Text())
		}
		status, err1 := strconv.Atoi(f[1])
		us, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("h2load log: malformed line %q", sc.Text())
		}
		if status >= 200 && status < 300 {
			out = append(out, time.Duration(us)*time.Microsecond)
		}
	}
	return out, sc.Err()
}

// percentile is the nearest-rank percentile of ds (sorted in place).
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	rank := int(p/100*float64(len(ds))+0.999999) - 1
	return ds[min(max(rank, 0), len(ds)-1)]
}

// runIperf3 runs one iperf3 TCP stream to addr for d and returns the
// received bit rate.
func runIperf3(ctx context.Context, cpu int, addr string, d time.Duration) (result, error) {
	host, port, _ := strings.Cut(addr, ":")
	out, err := runTool(ctx, cpu, d+30*time.Second, "iperf3", "-c", host, "-p", port, "-t", seconds(d), "-J", "--connect-timeout", "3000")
	if err != nil {
		// iperf3 -J reports its own error in the JSON.
		if r, perr := parseIperf3(out); perr != nil && r.rate == 0 {
			return result{}, fmt.Errorf("%w: %v", err, perr)
		}
		return result{}, err
	}
	return parseIperf3(out)
}

// parseIperf3 reads iperf3's JSON report: end.sum_received.bits_per_second.
func parseIperf3(out []byte) (result, error) {
	var rep struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				Bytes         int64   `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return result{}, fmt.Errorf("iperf3 JSON: %w", err)
	}
	if rep.Error != "" {
		return result{}, fmt.Errorf("iperf3: %s", rep.Error)
	}
	if rep.End.SumReceived.BitsPerSecond <= 0 {
		return result{}, errors.New("iperf3: nothing received")
	}
	return result{rate: rep.End.SumReceived.BitsPerSecond, requests: rep.End.SumReceived.Bytes}, nil
}
