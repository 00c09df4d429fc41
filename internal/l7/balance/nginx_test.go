package balance

import (
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestNginxSmoothWRR checks ngx_http_upstream_get_peer's sequences. For
// 5,1,1 by hand (current weights after adding effective weights, winner
// pays total 7): (5,1,1)→a (3,2,2)→a (1,3,3)→b (6,-3,4)→a (4,-2,5)→c
// (9,-1,-1)→a (7,0,0)→a, back to (0,0,0): a a b a c a a, repeating.
// TestOracleNginx confirms these against nginx 1.22.
func TestNginxSmoothWRR(t *testing.T) {
	for _, tc := range []struct {
		weights []int
		want    string
	}{
		{[]int{5, 1, 1}, "aabacaa" + "aabacaa"},
		{[]int{4, 2, 1}, "abacaba" + "abacaba"},
		{[]int{3, 2}, "ababa" + "ababa"},
		{[]int{1, 1, 1}, "abcabc"},
		{[]int{1}, "aaa"},
	} {
		b := mustNew(t, Config{Method: NginxRoundRobin}, letters(tc.weights...), Options{})
		if got := seq(t, b, len(tc.want), nil); got != tc.want {
			t.Errorf("weights %v: %s, want %s", tc.weights, got, tc.want)
		}
	}
}

// TestNginxFailTimeout follows max_fails=1 fail_timeout=10s with a fake
// clock: a failed peer is skipped while now-checked <= fail_timeout, then
// exactly one request probes it (get_peer moves checked to now), and its
// outcome decides (free: success with accessed < checked resets fails; a
// failure bans it again).
func TestNginxFailTimeout(t *testing.T) {
	clk := newClock()
	b := mustNew(t, Config{Method: NginxRoundRobin}, letters(1, 1), Options{Now: clk.Now})
	s, err := b.Pick(&Request{})
	if err != nil || s.Peer().Name != "a" {
		t.Fatalf("first pick: %v %v", s, err)
	}
	if err := s.Retry(true); err != nil || s.Peer().Name != "b" {
		t.Fatalf("retry after a failed: %v", err)
	}
	s.Done(true)
	for sec := 0; sec <= 10; sec++ {
		if got := seq(t, b, 4, nil); got != "bbbb" {
			t.Fatalf("t+%ds: %s, a must be skipped while now-checked <= 10", sec, got)
		}
		clk.Add(time.Second)
	}
	// t+11: with every selection held open, a is chosen once.
	var held []*Selection
	probes := 0
	for i := 0; i < 6; i++ {
		s, err := b.Pick(&Request{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Peer().Name == "a" {
			probes++
			held = append([]*Selection{s}, held...)
		} else {
			held = append(held, s)
		}
	}
	if probes != 1 {
		t.Fatalf("t+11: %d probes of a, want 1", probes)
	}
	held[0].Done(false) // the probe fails: banned from now
	for _, s := range held[1:] {
		s.Done(true)
	}
	for sec := 0; sec <= 10; sec++ {
		if got := seq(t, b, 3, nil); strings.Contains(got, "a") {
			t.Fatalf("t+11+%ds: %s, a banned again after a failed probe", sec, got)
		}
		clk.Add(time.Second)
	}
	// t+22: the probe succeeds and a is back in rotation for good.
	got := seq(t, b, 8, nil)
	if !strings.Contains(got, "a") {
		t.Fatalf("t+22: %s, want a probed", got)
	}
	if n := b.(*nginx).byIndex[0].fails; n != 0 {
		t.Errorf("fails after a successful probe = %d, want 0", n)
	}
	if got := seq(t, b, 4, nil); got != "abab" && got != "baba" {
		t.Errorf("after recovery %s, want alternation", got)
	}
}

// TestNginxFailsNotResetBySuccess: a success inside fail_timeout does not
// reset fails (free resets only when accessed < checked), so max_fails=3
// failures spread over 4s disable the peer (nginx/nginx#599).
func TestNginxFailsNotResetBySuccess(t *testing.T) {
	clk := newClock()
	peers := letters(1, 1)
	peers[0].MaxFails = 3
	b := mustNew(t, Config{Method: NginxRoundRobin}, peers, Options{Now: clk.Now}).(*nginx)
	a := b.byIndex[0]
	for i := 0; i < 3; i++ {
		// fail a, then let a success land on a
		for {
			s, _ := b.Pick(&Request{})
			if s.Peer().Name == "a" {
				s.Done(false)
				break
			}
			s.Done(true)
		}
		clk.Add(time.Second)
		if i < 2 {
			for {
				s, _ := b.Pick(&Request{})
				name := s.Peer().Name
				s.Done(true)
				if name == "a" {
					break
				}
			}
		}
	}
	if a.fails != 3 {
		t.Fatalf("fails = %d, want 3 (successes within fail_timeout keep the count)", a.fails)
	}
	if got := seq(t, b, 4, nil); got != "bbbb" {
		t.Errorf("%s, a must be disabled", got)
	}
}

// TestNginxEffectiveWeight: a failure lowers effective_weight by
// weight/max_fails (integer division, floored at 0) and each selection
// round it takes part in adds 1 back.
func TestNginxEffectiveWeight(t *testing.T) {
	clk := newClock()
	peers := letters(10, 1)
	peers[0].MaxFails = 4
	b := mustNew(t, Config{Method: NginxRoundRobin}, peers, Options{Now: clk.Now}).(*nginx)
	a := b.byIndex[0]
	s, _ := b.Pick(&Request{})
	if s.Peer().Name != "a" {
		t.Fatal("a expected first")
	}
	s.Done(false)
	if a.effective != 10-10/4 {
		t.Fatalf("effective after 1 failure = %d, want %d", a.effective, 10-10/4)
	}
	for i := 1; i <= 2; i++ {
		pickName(t, b, &Request{})
		if want := min(10-10/4+i, 10); a.effective != want {
			t.Fatalf("after %d rounds effective = %d, want %d", i, a.effective, want)
		}
	}
	for i := 0; i < 4; i++ {
		s, _ := b.Pick(&Request{})
		s.Done(s.Peer().Name != "a")
	}
	if a.effective < 0 {
		t.Errorf("effective = %d, must be clamped at 0", a.effective)
	}
}

// TestNginxSinglePeer: a lone peer is never marked failed (peers->single:
// free only decrements conns and zeroes tries); down or max_conns make
// get_round_robin_peer fail, i.e. 502.
func TestNginxSinglePeer(t *testing.T) {
	peers := letters(1)
	peers[0].MaxConns = 1
	b := mustNew(t, Config{Method: NginxRoundRobin}, peers, Options{})
	for i := 0; i < 3; i++ {
		s, err := b.Pick(&Request{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Retry(true); !errors.Is(err, ErrNoMoreTries) {
			t.Fatalf("retry on a single peer: %v, want ErrNoMoreTries", err)
		}
	}
	s, err := b.Pick(&Request{})
	if err != nil {
		t.Fatalf("single peer after failures: %v (it is never marked failed)", err)
	}
	if _, err := b.Pick(&Request{}); !errors.Is(err, ErrNoLiveUpstreams) {
		t.Errorf("max_conns=1 reached: %v, want ErrNoLiveUpstreams", err)
	}
	s.Done(true)
	b.(Marker).SetDown(0, true)
	if _, err := b.Pick(&Request{}); !errors.Is(err, ErrNoLiveUpstreams) {
		t.Errorf("down: %v, want ErrNoLiveUpstreams", err)
	}
}

// TestNginxBackupAndTries: the request moves to the backup group once every
// primary is tried or unusable (tried bitmap reset), tries count the peers
// not down in both groups, and proxy_next_upstream_tries caps them.
func TestNginxBackupAndTries(t *testing.T) {
	peers := []Peer{{Name: "x"}, {Name: "y"}, {Name: "z", Down: true}, {Name: "a", Backup: true}, {Name: "b", Backup: true, Weight: 2}}
	for _, tc := range []struct {
		cap  int
		want string // attempts while everything fails
		err  error
	}{
		{0, "xyba", ErrNoMoreTries}, // tries = 2 primaries up + 2 backups
		{3, "xyb", ErrNoMoreTries},
	} {
		b := mustNew(t, Config{Method: NginxRoundRobin}, peers, Options{NextUpstreamTries: tc.cap})
		s, err := b.Pick(&Request{})
		got := ""
		for err == nil {
			got += s.Peer().Name
			err = s.Retry(true)
		}
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("cap %d: attempts %s (%v), want %s (%v)", tc.cap, got, err, tc.want, tc.err)
		}
	}
	// primaries failed (within fail_timeout): straight to the backups,
	// smooth weighted among them (a=1, b=2)
	b := mustNew(t, Config{Method: NginxRoundRobin}, peers, Options{})
	s, _ := b.Pick(&Request{})
	for s.Peer().Name != "a" && s.Peer().Name != "b" {
		if err := s.Retry(true); err != nil {
			t.Fatal(err)
		}
	}
	s.Done(true)
	if got := seq(t, b, 6, nil); got != "abbabb" && got != "babbab" && got != "bbabba" && got != "bababb" {
		t.Errorf("backup rotation %s, want b twice as often as a", got)
	}
	if strings.Count(seq(t, b, 30, nil), "b") != 20 {
		t.Error("backup weights not honoured")
	}
}

// TestNginxMaxConns: a peer at max_conns is skipped until a connection is
// released.
func TestNginxMaxConns(t *testing.T) {
	peers := letters(3, 1)
	peers[0].MaxConns = 1
	b := mustNew(t, Config{Method: NginxRoundRobin}, peers, Options{})
	s, _ := b.Pick(&Request{})
	if s.Peer().Name != "a" {
		t.Fatal("a first")
	}
	if got := seq(t, b, 3, nil); got != "bbb" {
		t.Errorf("a busy: %s, want bbb", got)
	}
	s.Done(true)
	if got := seq(t, b, 4, nil); !strings.Contains(got, "a") {
		t.Errorf("a released: %s", got)
	}
}

// TestNginxLeastConnTies: least conns/weight wins; equal loads are shared
// by smooth weighted round robin among the tied peers only.
func TestNginxLeastConnTies(t *testing.T) {
	b := mustNew(t, Config{Method: NginxLeastConn}, letters(1, 1, 1), Options{})
	hold, _ := b.Pick(&Request{}) // a: conns 1
	if hold.Peer().Name != "a" {
		t.Fatal("a first")
	}
	// b and c tie at 0: smooth round robin between them
	if got := seq(t, b, 6, nil); got != "bcbcbc" {
		t.Errorf("ties: %s, want bcbcbc", got)
	}
	hold.Done(true)

	// weights 2,1: a with one connection (1/2) is lighter than b with one
	// (1/1), so a takes the next request.
	w := mustNew(t, Config{Method: NginxLeastConn}, letters(2, 1), Options{})
	s1, _ := w.Pick(&Request{})
	s2, _ := w.Pick(&Request{})
	if s1.Peer().Name == s2.Peer().Name {
		t.Fatalf("two idle peers, got %s twice", s1.Peer().Name)
	}
	if got := pickName(t, w, &Request{}); got != "a" {
		t.Errorf("conns a=1/2 b=1/1: %s, want a", got)
	}
}

// TestNginxIPHashGolden: ngx_http_upstream_get_ip_hash_peer on the first
// three octets (h=89; h=(h*113+b)%6271; w=h%total_weight walked down the
// weights). TestOracleGoldenNginx checks the same file against nginx.
func TestNginxIPHashGolden(t *testing.T) {
	var sb strings.Builder
	for _, set := range ipHashSets {
		b := mustNew(t, Config{Method: NginxIPHash}, letters(set.weights...), Options{})
		fmt.Fprintf(&sb, "# %s\n", set.name)
		for _, ip := range ipHashClients {
			fmt.Fprintf(&sb, "%s %s\n", ip, pickName(t, b, &Request{ClientIP: netip.MustParseAddr(ip)}))
		}
	}
	golden(t, "nginx_ip_hash.golden", sb.String())

	// The whole /24 sticks together; IPv6 hashes all 16 bytes.
	b := mustNew(t, Config{Method: NginxIPHash}, letters(1, 1, 1), Options{})
	base := pickName(t, b, &Request{ClientIP: netip.MustParseAddr("192.0.2.1")})
	for i := 2; i < 255; i += 17 {
		if got := pickName(t, b, &Request{ClientIP: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}); got != base {
			t.Fatalf("192.0.2.%d -> %s, 192.0.2.1 -> %s", i, got, base)
		}
	}
	seen := map[string]bool{}
	for i := 0; i < 16; i++ {
		seen[pickName(t, b, &Request{ClientIP: netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(i)})})] = true
	}
	if len(seen) < 2 {
		t.Error("IPv6 addresses differing in the last byte should spread")
	}
}

var ipHashSets = []struct {
	name    string
	weights []int
}{{"3 equal", []int{1, 1, 1}}, {"4 weighted 2,1,3,1", []int{2, 1, 3, 1}}}

var ipHashClients = []string{"127.0.0.1", "127.0.1.1", "127.1.0.1", "127.2.3.4", "127.9.9.9", "127.10.20.30",
	"127.44.55.66", "127.100.0.1", "127.200.1.1", "127.255.0.5", "127.31.7.250", "127.8.0.77"}

// TestNginxIPHashFallback: after 20 unusable draws ip_hash falls back to
// round robin, which fails when nothing is usable.
func TestNginxIPHashFallback(t *testing.T) {
	peers := letters(1, 1, 1)
	for i := range peers {
		peers[i].Down = true
	}
	b := mustNew(t, Config{Method: NginxIPHash}, peers, Options{})
	if _, err := b.Pick(&Request{ClientIP: netip.MustParseAddr("10.1.2.3")}); !errors.Is(err, ErrNoLiveUpstreams) {
		t.Fatalf("all down: %v", err)
	}
	b.(Marker).SetDown(1, false)
	for _, ip := range ipHashClients {
		if got := pickName(t, b, &Request{ClientIP: netip.MustParseAddr(ip)}); got != "b" {
			t.Fatalf("%s -> %s, only b is up", ip, got)
		}
	}
}

// Keys and servers of the hash golden files: 127.0.10.N:18080 so that
// TestOracleGoldenNginx can put real backends there.
var hashKeys = func() []string {
	var k []string
	for i := 0; i < 32; i++ {
		k = append(k, fmt.Sprintf("key%d", i))
	}
	return append(k, "/index.html", "/img/logo.png", "user:42", "a")
}()

func hashServers(n int) []Peer {
	var p []Peer
	for i := 1; i <= n; i++ {
		a := fmt.Sprintf("127.0.10.%d:18080", i)
		p = append(p, Peer{Name: a, Addr: a})
	}
	return p
}

func hashMapping(t *testing.T, m Method, peers []Peer) map[string]string {
	b := mustNew(t, Config{Method: m}, peers, Options{})
	out := map[string]string{}
	for _, k := range hashKeys {
		out[k] = pickName(t, b, &Request{Key: k})
	}
	return out
}

// TestNginxHashGolden: the Cache::Memcached and ketama mappings for 3 and 4
// servers.
func TestNginxHashGolden(t *testing.T) {
	var sb strings.Builder
	for _, m := range []Method{NginxHash, NginxHashConsistent} {
		for _, n := range []int{3, 4} {
			fmt.Fprintf(&sb, "# %v %d\n", m, n)
			mp := hashMapping(t, m, hashServers(n))
			for _, k := range hashKeys {
				fmt.Fprintf(&sb, "%s %s\n", k, mp[k])
			}
		}
	}
	golden(t, "nginx_hash.golden", sb.String())
}

// TestNginxHashRemap: removing one of N servers moves only that server's
// keys with ketama (about 1/N of them) but most keys with the modulo hash.
func TestNginxHashRemap(t *testing.T) {
	var keys []string
	for i := 0; i < 2000; i++ {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	for _, n := range []int{3, 4} {
		for _, m := range []Method{NginxHash, NginxHashConsistent} {
			all := mustNew(t, Config{Method: m}, hashServers(n), Options{})
			less := mustNew(t, Config{Method: m}, hashServers(n)[:n-1], Options{})
			removed := hashServers(n)[n-1].Name
			moved := 0
			for _, k := range keys {
				before, after := pickName(t, all, &Request{Key: k}), pickName(t, less, &Request{Key: k})
				if before != after {
					moved++
					if m == NginxHashConsistent && before != removed {
						t.Fatalf("%v: key %s moved from %s, a server still present", m, k, before)
					}
				}
			}
			frac := float64(moved) / float64(len(keys))
			t.Logf("%v %d->%d servers: %.1f%% of keys moved", m, n, n-1, 100*frac)
			if m == NginxHashConsistent && (frac < 0.5/float64(n) || frac > 1.5/float64(n)) {
				t.Errorf("%v: %.3f of keys moved, want about 1/%d", m, frac, n)
			}
			if m == NginxHash && frac < 0.4 {
				t.Errorf("%v: only %.3f of keys moved, the modulo hash should move most", m, frac)
			}
		}
	}
}

// TestNginxHashRehash: when the hashed peer is unusable, the key is
// rehashed with the decimal attempt number prefixed, the sums
// accumulating (Cache::Memcached).
func TestNginxHashRehash(t *testing.T) {
	peers := hashServers(4)
	b := mustNew(t, Config{Method: NginxHash}, peers, Options{})
	step := func(prefix, key string) uint32 { return (crc32.ChecksumIEEE([]byte(prefix+key)) >> 16) & 0x7fff }
	for _, key := range []string{"key1", "key7", "user:42"} {
		h0 := step("", key)
		first := peers[h0%4].Name
		b.(Marker).SetDown(int(h0%4), true)
		var want string
		h := h0
		for i := 1; ; i++ {
			h += step(fmt.Sprint(i), key)
			if int(h%4) != int(h0%4) {
				want = peers[h%4].Name
				break
			}
		}
		if got := pickName(t, b, &Request{Key: key}); got != want {
			t.Errorf("%s: first choice %s down, got %s, want %s", key, first, got, want)
		}
		b.(Marker).SetDown(int(h0%4), false)
	}
	// an empty key falls back to round robin
	if got := seq(t, b, 4, &Request{}); got != peers[0].Name+peers[1].Name+peers[2].Name+peers[3].Name {
		t.Errorf("empty key: %s, want round robin", got)
	}
}

// TestKetamaPoints: each point is crc32(host "\0" port prev) with prev the
// previous point in little endian, 160 per weight unit.
func TestKetamaPoints(t *testing.T) {
	peers := []ngxPeer{{cfg: &Peer{Name: "10.0.0.1:80"}, weight: 2}}
	pts := ketamaPoints(peers)
	if len(pts) != 320 {
		t.Fatalf("%d points, want 320", len(pts))
	}
	// 2729270614 and 199143595 were computed with Python's zlib.crc32 on
	// "10.0.0.1\x0080" + LE32(prev).
	var has = map[uint32]bool{}
	for _, p := range pts {
		has[p.hash] = true
	}
	if !has[2729270614] || !has[199143595] {
		t.Error("first ketama points of 10.0.0.1:80 missing")
	}
	for i := 1; i < len(pts); i++ {
		if pts[i-1].hash >= pts[i].hash {
			t.Fatal("points must be sorted and unique")
		}
	}
	for _, tc := range []struct{ in, host, port string }{
		{"10.0.0.1:80", "10.0.0.1", "80"},
		{"backend", "backend", ""},
		{"unix:/tmp/sock", "/tmp/sock", ""},
		{"UNIX:/x:80", "/x:80", ""},
		{"[::1]:8080", "[::1]", "8080"},
		{"host:8a", "host:8a", ""},
	} {
		if h, p := ketamaSplit(tc.in); h != tc.host || p != tc.port {
			t.Errorf("ketamaSplit(%q) = %q %q, want %q %q", tc.in, h, p, tc.host, tc.port)
		}
	}
}

// TestNginxHashConsistentSameName: peers sharing a server name (a host
// resolving to several addresses) share its points and are balanced by
// smooth weighted round robin.
func TestNginxHashConsistentSameName(t *testing.T) {
	peers := []Peer{{Name: "app:80", Addr: "10.0.0.1:80"}, {Name: "app:80", Addr: "10.0.0.2:80"}, {Name: "db:80", Addr: "10.0.0.3:80"}}
	b := mustNew(t, Config{Method: NginxHashConsistent}, peers, Options{})
	var key string
	for i := 0; ; i++ {
		key = fmt.Sprint(i)
		s, _ := b.Pick(&Request{Key: key})
		name := s.Peer().Name
		s.Done(true)
		if name == "app:80" {
			break
		}
	}
	addrs := map[string]int{}
	for i := 0; i < 10; i++ {
		s, _ := b.Pick(&Request{Key: key})
		addrs[s.Peer().Addr]++
		s.Done(true)
	}
	if addrs["10.0.0.1:80"] != 5 || addrs["10.0.0.2:80"] != 5 {
		t.Errorf("addresses of app:80: %v, want 5 each", addrs)
	}
}

// scripted returns Rand values from a list (modulo n).
func scripted(vals ...uint32) func(uint32) uint32 {
	i := 0
	return func(n uint32) uint32 {
		v := vals[i%len(vals)] % n
		i++
		return v
	}
}

// TestNginxRandom: weighted draws over cumulative ranges; random two keeps
// the second draw unless its conns/weight is strictly higher.
func TestNginxRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := mustNew(t, Config{Method: NginxRandom}, letters(5, 3, 2), Options{Rand: r.Uint32N})
	counts := map[string]int{}
	for i := 0; i < 10000; i++ {
		counts[pickName(t, b, &Request{})]++
	}
	for name, w := range map[string]int{"a": 5, "b": 3, "c": 2} {
		if got := float64(counts[name]) / 10000; got < float64(w)/10-0.02 || got > float64(w)/10+0.02 {
			t.Errorf("%s drawn %.3f, want %.2f", name, got, float64(w)/10)
		}
	}
	// ranges 0..4 a, 5..7 b, 8..9 c
	d := mustNew(t, Config{Method: NginxRandom}, letters(5, 3, 2), Options{Rand: scripted(0, 4, 5, 7, 8, 9)})
	if got := seq(t, d, 6, nil); got != "aabbcc" {
		t.Errorf("scripted draws: %s, want aabbcc", got)
	}

	two := mustNew(t, Config{Method: NginxRandomTwo, LeastConn: true}, letters(1, 1, 1),
		Options{Rand: scripted(0, 1, 0, 1, 2, 2, 1)})
	hold, _ := two.Pick(&Request{}) // draws a then b, equal loads: b
	if hold.Peer().Name != "b" {
		t.Fatalf("tie: %s, want the second draw", hold.Peer().Name)
	}
	// draws a, b: b has a connection, a is kept
	if got := pickName(t, two, &Request{}); got != "a" {
		t.Errorf("b loaded: %s, want a", got)
	}
	// draws c, c (same peer, drawn again), b: b loaded, c kept
	if got := pickName(t, two, &Request{}); got != "c" {
		t.Errorf("c vs loaded b: %s, want c", got)
	}
	hold.Done(true)
}
