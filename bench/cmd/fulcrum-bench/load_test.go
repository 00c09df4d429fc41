package main

import (
	"bufio"
	"math"
	"strings"
	"testing"
	"time"
)

// wrk's own summary is ignored; the report script's line is what counts.
const wrkOut = `Running 2s test @ http://127.0.0.1:18091/1k
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.54ms    1.73ms  12.49ms   70.01%
    Req/Sec    17.88k     2.74k   24.70k    65.00%
  35627 requests in 2.00s, 39.89MB read
Requests/sec:  17792.33
Transfer/sec:     19.92MB
BENCH requests=35627 duration_us=2002380 connect=0 read=1 write=0 status=2 timeout=0 p50_us=3253 p90_us=5896 p99_us=8570 max_us=12486
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 35627 || r.errors != 3 || r.p50 != 3253*time.Microsecond || r.p99 != 8570*time.Microsecond {
		t.Fatalf("got %+v", r)
	}
	// The rate is requests over wrk's measured duration, not the nominal one.
	if want := 35627 / 2.002380; r.rate < want-0.01 || r.rate > want+0.01 {
		t.Fatalf("rate %v, want %v", r.rate, want)
	}
	for _, bad := range []string{
		"Requests/sec: 17792.33\n",
		"BENCH requests=1 duration_us=0 p50_us=1 p99_us=1\n",
		"BENCH requests=1 p50_us=1 p99_us=1\n",
		"BENCH requests=x duration_us=1 p50_us=1 p99_us=1\n",
		"BENCH requests=-5 duration_us=1 p50_us=1 p99_us=1\n",
	} {
		if _, err := parseWrk(bad); err == nil {
			t.Errorf("parseWrk(%q) accepted", bad)
		}
	}
}

// h2load 1.52's summary, from a real run.
const h2loadOut = `starting benchmark...
spawning thread #0: 16 total client(s). 14400 total requests
TLS Protocol: TLSv1.3
Cipher: TLS_AES_128_GCM_SHA256
Server Temp Key: X25519 253 bits
Application protocol: h2
progress: 10% done
finished in 2.80s, 5134.92 req/s, 5.13MB/s
requests: 14400 total, 14400 started, 14400 done, 14378 succeeded, 22 failed, 20 errored, 2 timeout
status codes: 14370 2xx, 0 3xx, 8 4xx, 0 5xx
traffic: 14.36MB (15057760) total, 292.34KB (299356) headers (space savings 72.68%), 14.06MB (14745600) data
                     min         max         mean         sd        +/- sd
time for request:     1.30ms     86.07ms     24.39ms      9.24ms    76.46%
`

func TestParseH2load(t *testing.T) {
	r, secs, err := parseH2load(h2loadOut)
	if err != nil {
		t.Fatal(err)
	}
	if secs != 2.80 {
		t.Fatalf("duration %v s, want 2.80", secs)
	}
	// Errors: the 22 failed (errored and timeout are inside it) and the 8
	// responses that were not 2xx.
	if r.requests != 14400 || r.errors != 22+8 {
		t.Fatalf("got %+v", r)
	}
	if want := 14370 / 2.80; r.rate < want-0.01 || r.rate > want+0.01 {
		t.Fatalf("rate %v, want 2xx per second %v", r.rate, want)
	}
	ms := strings.Replace(h2loadOut, "finished in 2.80s", "finished in 700.50ms", 1)
	if _, secs, err := parseH2load(ms); err != nil || secs != 0.7005 {
		t.Fatalf("a run under a second: %v s, %v", secs, err)
	}
	if _, _, err := parseH2load("finished in 2.80s, 5134.92 req/s\n"); err == nil {
		t.Fatal("a summary without the requests line was accepted")
	}
}

func TestParseH2loadLog(t *testing.T) {
	log := "1795621703367954\t200\t3959\n1795621703368083\t200\t10527\n1795621703368090\t503\t15\n1795621703368091\t-1\t1\n"
	lat, err := parseH2loadLog(bufio.NewScanner(strings.NewReader(log)))
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 2 || lat[0] != 3959*time.Microsecond || lat[1] != 10527*time.Microsecond {
		t.Fatalf("2xx latencies %v", lat)
	}
	if _, err := parseH2loadLog(bufio.NewScanner(strings.NewReader("1\t200\n"))); err == nil {
		t.Fatal("a line with two columns was accepted")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	ds := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n))
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		// Nearest rank: the smallest value with at least p% of the
		// values at or below it.
		{ds(5, 1, 4, 2, 3), 50, 3},
		{ds(5, 1, 4, 2, 3), 99, 5},
		{ds(5, 1, 4, 2, 3), 20, 1},
		{ds(5, 1, 4, 2, 3), 21, 2},
		{ds(7), 99, 7},
		{ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9},
	}
	for _, tc := range tests {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("p%v of %v = %v, want %v", tc.p, tc.in, got, tc.want)
		}
	}
}

func TestParseIperf3(t *testing.T) {
	ok := `{"start":{},"intervals":[],"end":{"sum_sent":{"bits_per_second":1.9e10},
"sum_received":{"start":0,"end":1.003256,"seconds":1.003256,"bytes":2229534720,"bits_per_second":17778391317.86902}}}`
	r, err := parseIperf3([]byte(ok))
	if err != nil || r.rate != 17778391317.86902 || r.requests != 2229534720 {
		t.Fatalf("got %+v, %v", r, err)
	}
	refused := `{"start":{"connected":[]},"intervals":[],"end":{},"error":"unable to connect to server: Connection refused"}`
	if _, err := parseIperf3([]byte(refused)); err == nil || !strings.Contains(err.Error(), "Connection refused") {
		t.Fatalf("iperf3's own error: %v", err)
	}
	if _, err := parseIperf3([]byte(`{"end":{}}`)); err == nil {
		t.Fatal("a report without a received rate was accepted")
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		8 * time.Second: "8", 1500 * time.Millisecond: "2", 100 * time.Millisecond: "1", 0: "1",
	} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%s) = %s, want %s", d, got, want)
		}
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkOut)
	f.Add("BENCH requests=1 duration_us=1 p50_us=1 p99_us=1 x=2\n")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parseWrk(out)
		if err != nil {
			return
		}
		if math.IsNaN(r.rate) || r.rate < 0 || (r.requests > 0 && r.rate == 0) {
			t.Fatalf("rate %v for %d requests", r.rate, r.requests)
		}
	})
}

func FuzzParseH2load(f *testing.F) {
	f.Add(h2loadOut)
	f.Fuzz(func(t *testing.T, out string) {
		r, secs, err := parseH2load(out)
		if err != nil {
			return
		}
		if secs <= 0 || r.errors < 0 || r.rate < 0 {
			t.Fatalf("accepted %+v over %v s", r, secs)
		}
	})
}

func FuzzParseH2loadLog(f *testing.F) {
	f.Add("1795621703367954\t200\t3959\n1795621703368090\t503\t15\n")
	f.Fuzz(func(t *testing.T, log string) {
		lat, err := parseH2loadLog(bufio.NewScanner(strings.NewReader(log)))
		if err != nil {
			return
		}
		if n := strings.Count(log, "\n") + 1; len(lat) > n {
			t.Fatalf("%d latencies from %d lines", len(lat), n)
		}
	})
}

func FuzzParseIperf3(f *testing.F) {
	f.Add([]byte(`{"end":{"sum_received":{"bytes":10,"bits_per_second":80}}}`))
	f.Add([]byte(`{"error":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseIperf3(b)
		if err == nil && !(r.rate > 0) {
			t.Fatalf("accepted rate %v", r.rate)
		}
	})
}
