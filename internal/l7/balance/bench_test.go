package balance

import (
	"net/http"
	"net/netip"
	"testing"
)

// BenchmarkPick measures one Pick+Done per method over 8 peers.
func BenchmarkPick(b *testing.B) {
	peers := make([]Peer, 8)
	for i := range peers {
		peers[i] = Peer{Name: string(rune('a'+i)) + ":80", Addr: "10.0.0.1:80", Weight: 1 + i%3}
	}
	r := Request{ClientIP: netip.MustParseAddr("192.0.2.7"), Key: "/some/key", URI: "/img/logo.png?id=42",
		Header: http.Header{"X-Key": {"abc"}}}
	for _, cfg := range allConfigs {
		b.Run(cfg.Method.String(), func(b *testing.B) {
			bal := mustNew(b, cfg, peers, Options{})
			b.ReportAllocs()
			for b.Loop() {
				s, err := bal.Pick(&r)
				if err != nil {
					b.Fatal(err)
				}
				s.Done(true)
			}
		})
	}
}

// BenchmarkPickParallel measures contention on one balancer.
func BenchmarkPickParallel(b *testing.B) {
	peers := letters(5, 1, 1, 3)
	for _, cfg := range []Config{{Method: NginxRoundRobin}, {Method: HAProxyRoundRobin}, {Method: PeakEWMA}} {
		b.Run(cfg.Method.String(), func(b *testing.B) {
			bal := mustNew(b, cfg, peers, Options{})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := Request{}
				for pb.Next() {
					s, err := bal.Pick(&r)
					if err != nil {
						b.Fatal(err)
					}
					s.Done(true)
				}
			})
		})
	}
}

// BenchmarkStickyPick measures a bound pick.
func BenchmarkStickyPick(b *testing.B) {
	peers := []Peer{{Name: "a", Addr: "10.0.0.1:80"}, {Name: "b", Addr: "10.0.0.2:80"}}
	bal := mustNew(b, Config{Method: NginxRoundRobin}, peers, Options{})
	st := NginxCookies(peers)
	v := st.Value(1)
	r := Request{}
	b.ReportAllocs()
	for b.Loop() {
		s, _, err := st.Pick(bal, &r, v)
		if err != nil {
			b.Fatal(err)
		}
		s.Done(true)
	}
}
