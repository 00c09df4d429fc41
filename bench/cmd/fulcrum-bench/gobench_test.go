package main

import (
	"strings"
	"testing"
)

// goBenchOut is `go test -bench -benchmem -cpu 1` output (benchfmt).
const goBenchOut = `goos: linux
goarch: amd64
pkg: github.com/fulcrumlb/fulcrum/internal/sched
cpu: AMD EPYC
BenchmarkSchedule/rr         	65798056	        18.09 ns/op	       0 B/op	       0 allocs/op
BenchmarkSchedule/wlc        	54160249	        38.64 ns/op	       0 B/op	       0 allocs/op
PASS
ok  	github.com/fulcrumlb/fulcrum/internal/sched	3.292s
pkg: github.com/fulcrumlb/fulcrum/internal/conntab
BenchmarkEntryMemory/connection         	       1	 135769003 ns/op	       224.1 B/entry	22407936 B/op	  100065 allocs/op
BenchmarkEntryMemory/template           	       1	 289201970 ns/op	       350.0 B/entry	47544576 B/op	  101409 allocs/op
BenchmarkBroken 	 12 	 notanumber ns/op
--- FAIL: BenchmarkOther
PASS
`

func TestParseGoBench(t *testing.T) {
	bs := parseGoBench(goBenchOut)
	if len(bs) != 4 {
		t.Fatalf("%d benchmarks, want 4: %+v", len(bs), bs)
	}
	if b := bs[0]; b.pkg != "internal/sched" || b.name != "BenchmarkSchedule/rr" || b.n != 65798056 ||
		b.metrics["ns/op"] != 18.09 || b.metrics["allocs/op"] != 0 {
		t.Fatalf("first: %+v", b)
	}
	b := bs[2]
	if b.pkg != "internal/conntab" || b.metrics["B/entry"] != 224.1 || b.metrics["B/op"] != 22407936 {
		t.Fatalf("entry memory: %+v", b)
	}
	if strings.Join(b.metricOrder, ",") != "ns/op,B/entry,B/op,allocs/op" {
		t.Fatalf("metric order %v", b.metricOrder)
	}
}

func FuzzParseGoBench(f *testing.F) {
	f.Add(goBenchOut)
	f.Fuzz(func(t *testing.T, out string) {
		for _, b := range parseGoBench(out) {
			if !strings.HasPrefix(b.name, "Benchmark") || len(b.metrics) == 0 || len(b.metricOrder) < len(b.metrics) {
				t.Fatalf("accepted %+v", b)
			}
		}
	})
}
