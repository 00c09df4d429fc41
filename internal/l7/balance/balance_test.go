package balance

import (
	"errors"
	"testing"
)

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		peers []Peer
	}{
		{Config{Method: NginxRoundRobin}, nil},
		{Config{Method: NginxRoundRobin}, []Peer{{Name: "b", Backup: true}}},
		{Config{Method: NginxIPHash}, []Peer{{Name: "a"}, {Name: "b", Backup: true}}},
		{Config{Method: NginxHash}, []Peer{{Name: "a"}, {Name: "b", Backup: true}}},
		{Config{Method: NginxRoundRobin}, []Peer{{Name: "a", Weight: -1}}},
		{Config{Method: HAProxyRoundRobin}, []Peer{{Name: "a", Weight: 257}}},
		{Config{Method: HAProxyFirst}, []Peer{{Name: "a", ID: 2}, {Name: "b", ID: 2}}},
		{Config{Method: HAProxyHdr}, []Peer{{Name: "a"}}},
		{Config{Method: Method(99)}, []Peer{{Name: "a"}}},
	} {
		if _, err := New(tc.cfg, tc.peers, Options{}); err == nil {
			t.Errorf("New(%v, %+v) accepted", tc.cfg.Method, tc.peers)
		}
	}
}

func TestSelectionLifecycle(t *testing.T) {
	b := mustNew(t, Config{Method: HAProxyRoundRobin}, letters(1, 1), Options{})
	if err := b.(Marker).SetDown(7, true); !errors.Is(err, ErrBadPeer) {
		t.Errorf("SetDown(7): %v", err)
	}
	if err := b.(Weighter).SetWeight(-1, 1); !errors.Is(err, ErrBadPeer) {
		t.Errorf("SetWeight(-1): %v", err)
	}
	s, _ := b.Pick(&Request{})
	if s.Index() != 0 || s.Peer().Name != "a" {
		t.Fatalf("pick %d %s", s.Index(), s.Peer().Name)
	}
	s.Done(true)
	defer func() {
		if recover() == nil {
			t.Error("Done after Done did not panic")
		}
	}()
	s.Done(true)
}

func TestMethodString(t *testing.T) {
	if NginxHashConsistent.String() != "nginx hash consistent" || Method(99).String() != "Method(99)" {
		t.Error("Method.String")
	}
}

// TestManyPeers: with more than 128 peers the tried bitmap spans several
// words; retries still visit every peer exactly once.
func TestManyPeers(t *testing.T) {
	peers := make([]Peer, 200)
	for i := range peers {
		peers[i] = Peer{Name: string(rune(0x100 + i))}
	}
	for _, cfg := range []Config{{Method: NginxRoundRobin}, {Method: NginxLeastConn}, {Method: PeakEWMA}, {Method: HAProxyRoundRobin}} {
		b := mustNew(t, cfg, peers, Options{})
		for round := 0; round < 2; round++ { // the second round reuses a pooled selection
			s, err := b.Pick(&Request{})
			seen := map[int]bool{}
			for err == nil {
				if seen[s.Index()] && cfg.Method != HAProxyRoundRobin {
					t.Fatalf("%v: peer %d tried twice", cfg.Method, s.Index())
				}
				seen[s.Index()] = true
				err = s.Retry(cfg.Method == PeakEWMA) // no failure accounting for nginx: keep peers usable
			}
			if cfg.Method != HAProxyRoundRobin && len(seen) != 200 {
				t.Errorf("%v: %d peers tried, want 200", cfg.Method, len(seen))
			}
			if !errors.Is(err, ErrNoMoreTries) && !errors.Is(err, ErrNoLiveUpstreams) {
				t.Errorf("%v: %v", cfg.Method, err)
			}
		}
	}
}
