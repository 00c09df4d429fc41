package xdp

import (
	"fmt"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// BenchmarkProgram measures the director program per packet with
// BPF_PROG_TEST_RUN (Program.Benchmark, i.e. Program.Run with Repeat): the
// ns/pkt metric is the time the kernel measured around the program, without
// the syscall. Each call runs once on a fresh copy of the frame, because a
// repeat would run again on the already rewritten frame (an IPIP or
// DNATed packet is no longer addressed to the service). conn-hit is the
// steady state (a packet of a known flow); new-conn is a flow's first
// packet: scheduler, connection entry, counters.
func BenchmarkProgram(b *testing.B) {
	for _, c := range []struct {
		name string
		fwd  config.Forward
		sch  string
	}{
		{"dr-wlc", config.Route, "wlc"},
		{"tun-mh", config.Tunnel, "mh"},
		{"nat-rr", config.Masq, "rr"},
		{"dr-lblcr", config.Route, "lblcr"},
	} {
		for _, fresh := range []bool{false, true} {
			name := c.name + "/conn-hit"
			if fresh {
				name = c.name + "/new-conn"
			}
			b.Run(name, func(b *testing.B) {
				p, _ := newTestPlane(b, nil)
				apply(b, p, svc(config.TCP, "10.0.0.100:80", c.sch, real("10.0.0.2:80", 1, c.fwd), real("10.0.0.3:80", 1, c.fwd)))
				frame := client("192.0.2.7:33000", "10.0.0.100:80", fSYN).frame()
				run(b, p, frame)
				frame = client("192.0.2.7:33000", "10.0.0.100:80", fACK).frame()
				frames := [][]byte{frame}
				if fresh {
					frames = frames[:0]
					for i := range 1024 {
						frames = append(frames, client(fmt.Sprintf("198.51.%d.%d:%d", i>>8, i&0xff, 1024+i), "10.0.0.100:80", fSYN).frame())
					}
				}
				var total float64
				var n int
				b.ReportAllocs()
				for b.Loop() {
					f := frames[n%len(frames)]
					if fresh && n > 0 && n%len(frames) == 0 {
						b.StopTimer()
						clearConns(b, p)
						b.StartTimer()
					}
					_, d, err := p.Program().Benchmark(f, 1, nil)
					if err != nil {
						b.Fatal(err)
					}
					total += float64(d.Nanoseconds())
					n++
				}
				b.ReportMetric(total/float64(n), "ns/pkt")
			})
		}
	}
}

// BenchmarkDRRepeat runs the DR conn-hit path 1000 times per call: a DR
// rewrite is idempotent, so the repeat stays on the fast path and the
// per-packet figure is free of the timer overhead of single runs.
func BenchmarkDRRepeat(b *testing.B) {
	p, _ := newTestPlane(b, nil)
	apply(b, p, svc(config.TCP, "10.0.0.100:80", "wlc", real("10.0.0.2:80", 1, config.Route), real("10.0.0.3:80", 1, config.Route)))
	run(b, p, client("192.0.2.7:33000", "10.0.0.100:80", fSYN).frame())
	frame := client("192.0.2.7:33000", "10.0.0.100:80", fACK).frame()
	var total float64
	var n int
	b.ReportAllocs()
	for b.Loop() {
		_, d, err := p.Program().Benchmark(frame, 1000, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += float64(d.Nanoseconds())
		n++
	}
	b.ReportMetric(total/float64(n), "ns/pkt")
}

// clearConns empties the connection table so the same frames open new
// connections again.
func clearConns(b *testing.B, p *Plane) {
	var k lbConnKey
	var v lbConn
	var keys []lbConnKey
	it := p.objs.Conns.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	for i := range keys {
		if err := p.objs.Conns.Delete(&keys[i]); err != nil {
			b.Fatal(err)
		}
	}
}
