package balance

import (
	"testing"
)

func TestNginxSID(t *testing.T) {
	// values from coreutils: printf '127.0.0.1:8080' | md5sum
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "5958c386bf5e9109ac10d2a628645aea",
		"10.0.0.1:80":    "1484b8b3753313249a03bcfd7b96938d",
	} {
		if got := NginxSID(addr); got != want {
			t.Errorf("NginxSID(%s) = %s, want %s", addr, got, want)
		}
	}
	st := NginxCookies([]Peer{{Addr: "10.0.0.1:80"}, {Addr: "10.0.0.2:80", Route: "r2"}})
	if st.Value(0) != "1484b8b3753313249a03bcfd7b96938d" || st.Value(1) != "r2" || st.Value(5) != "" {
		t.Errorf("values %q %q", st.Value(0), st.Value(1))
	}
}

// stickyRun picks with cookie and reports name and bound.
func stickyRun(t *testing.T, st *Sticky, b Balancer, cookie string) (string, bool) {
	t.Helper()
	s, bound, err := st.Pick(b, &Request{}, cookie)
	if err != nil {
		t.Fatal(err)
	}
	n := s.Peer().Name
	s.Done(true)
	return n, bound
}

// TestStickyNginx: a bound request goes to its peer while it can serve and
// is still counted in the smooth weights (get_peer with a SID hint), so
// unbound requests go to the other peers; an unusable or unknown binding
// re-balances.
func TestStickyNginx(t *testing.T) {
	peers := []Peer{{Name: "a", Addr: "10.0.0.1:80"}, {Name: "b", Addr: "10.0.0.2:80"}}
	peers[0].MaxFails = 1
	b := mustNew(t, Config{Method: NginxRoundRobin}, peers, Options{})
	st := NginxCookies(peers)
	ca := st.Value(0)
	for i := 0; i < 4; i++ {
		if n, bound := stickyRun(t, st, b, ca); n != "a" || !bound {
			t.Fatalf("bound to a: %s %v", n, bound)
		}
		if n, bound := stickyRun(t, st, b, ""); n != "b" || bound {
			t.Fatalf("unbound after a bound request: %s %v, want b", n, bound)
		}
	}
	// several bound requests in a row stop weighting once a is a full
	// round ahead (low_limit); the next unbound one still goes to b
	for i := 0; i < 3; i++ {
		stickyRun(t, st, b, ca)
	}
	if n, _ := stickyRun(t, st, b, ""); n != "b" {
		t.Errorf("after a burst of bound requests: %s, want b", n)
	}
	if n, bound := stickyRun(t, st, b, "bogus"); bound || (n != "a" && n != "b") {
		t.Errorf("unknown cookie: %s %v", n, bound)
	}
	b.(Marker).SetDown(0, true)
	if n, bound := stickyRun(t, st, b, ca); n != "b" || bound {
		t.Errorf("bound peer down: %s %v, want b unbound", n, bound)
	}
	b.(Marker).SetDown(0, false)
	// a failure within fail_timeout also re-balances
	s, _, _ := st.Pick(b, &Request{}, ca)
	s.Done(false)
	if n, bound := stickyRun(t, st, b, ca); n != "b" || bound {
		t.Errorf("bound peer failed: %s %v", n, bound)
	}
}

// TestStickyNginxOtherMethods: every nginx method honours the binding.
func TestStickyNginxOtherMethods(t *testing.T) {
	peers := []Peer{{Name: "a", Addr: "10.0.0.1:80"}, {Name: "b", Addr: "10.0.0.2:80"}, {Name: "c", Addr: "10.0.0.3:80"}}
	st := NginxCookies(peers)
	for _, m := range []Method{NginxLeastConn, NginxIPHash, NginxHash, NginxHashConsistent, NginxRandom, NginxRandomTwo} {
		b := mustNew(t, Config{Method: m}, peers, Options{})
		for i := range peers {
			s, bound, err := st.Pick(b, &Request{Key: "k"}, st.Value(i))
			if err != nil || !bound || s.Index() != i {
				t.Errorf("%v: cookie of %s -> %v bound=%v", m, peers[i].Name, s.Peer().Name, bound)
			}
			s.Done(true)
		}
	}
}

// TestStickyHAProxy: the first server holding the value that is not
// stopped gets the request directly (no load balancing, so round robin
// does not move); otherwise the request is balanced.
func TestStickyHAProxy(t *testing.T) {
	peers := []Peer{{Name: "a", Cookie: "s1"}, {Name: "b", Cookie: "s2"}, {Name: "c", Cookie: "s2"}, {Name: "d"}}
	b := mustNew(t, Config{Method: HAProxyRoundRobin}, peers, Options{})
	st := HAProxyCookies(peers)
	if st.Value(3) != "d" {
		t.Errorf("default value %q, want the server name", st.Value(3))
	}
	if n, bound := stickyRun(t, st, b, "s2"); n != "b" || !bound {
		t.Errorf("s2: %s %v, want b", n, bound)
	}
	if got := seq(t, b, 4, nil); got != "abcd" {
		t.Errorf("round robin moved by a direct request: %s", got)
	}
	b.(Marker).SetDown(1, true)
	if n, bound := stickyRun(t, st, b, "s2"); n != "c" || !bound {
		t.Errorf("s2 with b down: %s %v, want c", n, bound)
	}
	b.(Marker).SetDown(2, true)
	if n, bound := stickyRun(t, st, b, "s2"); bound || n == "b" || n == "c" {
		t.Errorf("s2 all down: %s %v, want re-balanced", n, bound)
	}
	if _, bound := stickyRun(t, st, b, "nope"); bound {
		t.Error("unknown value bound")
	}
	// weight 0 (drain) keeps persistent traffic
	h := b.(*haproxy)
	h.SetWeight(0, 0)
	if n, bound := stickyRun(t, st, b, "s1"); n != "a" || !bound {
		t.Errorf("draining a: %s %v, want a", n, bound)
	}
}

type plain struct{ Balancer }

func TestStickyPlainBalancer(t *testing.T) {
	peers := letters(1, 1)
	b := plain{mustNew(t, Config{Method: NginxRoundRobin}, peers, Options{})}
	st := HAProxyCookies(peers)
	s, bound, err := st.Pick(b, &Request{}, "b")
	if err != nil || bound || s.Peer().Name != "a" {
		t.Fatalf("a balancer without binding support: %v %v %v", s, bound, err)
	}
	s.Done(true)
	if got := st.Lookup("b"); len(got) != 1 || got[0] != 1 {
		t.Errorf("Lookup(b) = %v", got)
	}
	ew := mustNew(t, Config{Method: PeakEWMA}, peers, Options{})
	if n, bound := stickyRun(t, st, ew, "b"); n != "b" || !bound {
		t.Errorf("PeakEWMA bound: %s %v", n, bound)
	}
}
