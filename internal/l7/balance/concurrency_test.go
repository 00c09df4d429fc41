package balance

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

var allConfigs = []Config{
	{Method: NginxRoundRobin}, {Method: NginxLeastConn}, {Method: NginxIPHash}, {Method: NginxHash},
	{Method: NginxHashConsistent}, {Method: NginxRandom}, {Method: NginxRandomTwo, LeastConn: true},
	{Method: HAProxyRoundRobin}, {Method: HAProxyStaticRR}, {Method: HAProxyLeastConn}, {Method: HAProxyFirst},
	{Method: HAProxySource}, {Method: HAProxyURI, Consistent: true, Avalanche: true}, {Method: HAProxyURLParam, Param: "id"},
	{Method: HAProxyHdr, Header: "X-Key"}, {Method: HAProxyHash}, {Method: PeakEWMA},
}

// inFlight sums the connections a balancer still accounts.
func inFlight(b Balancer) int {
	n := 0
	switch b := b.(type) {
	case *nginx:
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.byIndex {
			n += p.conns
		}
	case *haproxy:
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, s := range b.srv {
			n += s.served
		}
	case *ewma:
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.p {
			n += p.inflight
		}
	}
	return n
}

// TestConcurrentPicks hammers every method from several goroutines with
// retries, sticky picks and state changes (run with -race), then checks
// that every connection was given back.
func TestConcurrentPicks(t *testing.T) {
	peers := []Peer{{Name: "a", Addr: "10.0.0.1:80", SlowStart: time.Second}, {Name: "b", Addr: "10.0.0.2:80", Weight: 3},
		{Name: "c", Addr: "10.0.0.3:80", MaxConns: 4}, {Name: "d", Addr: "10.0.0.4:80"}}
	for _, cfg := range allConfigs {
		t.Run(cfg.Method.String(), func(t *testing.T) {
			b := mustNew(t, cfg, peers, Options{})
			st := NginxCookies(peers)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						b.(Marker).SetDown(3, false)
						return
					default:
					}
					b.(Marker).SetDown(3, i%2 == 0)
					time.Sleep(50 * time.Microsecond)
				}
			}()
			var work sync.WaitGroup
			for g := 0; g < 8; g++ {
				work.Add(1)
				go func(g int) {
					defer work.Done()
					for i := 0; i < 300; i++ {
						r := Request{ClientIP: netip.AddrFrom4([4]byte{10, byte(g), byte(i), 1}), Key: fmt.Sprint(i % 17),
							URI: fmt.Sprintf("/p/%d?id=%d", i%5, i%7), Header: hdrMap{"x-key": fmt.Sprint(i % 3)}}
						var s *Selection
						var err error
						if i%5 == 0 {
							s, _, err = st.Pick(b, &r, st.Value(i%4))
						} else {
							s, err = b.Pick(&r)
						}
						if err != nil {
							if !errors.Is(err, ErrNoLiveUpstreams) && !errors.Is(err, ErrFull) && !errors.Is(err, ErrNoServer) {
								t.Error(err)
							}
							continue
						}
						if i%3 == 0 {
							if err := s.Retry(i%6 == 0); err != nil {
								continue
							}
						}
						s.Done(i%11 != 0)
					}
				}(g)
			}
			work.Wait()
			close(stop)
			wg.Wait()
			if n := inFlight(b); n != 0 {
				t.Errorf("%d connections still accounted after every Done", n)
			}
		})
	}
}
