package balance

import (
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestHAProxyRRSequences: static-rr's map for 5,1,1 by hand
// (recalc_server_map, tot=7, v=(wscore+7)/7, first declared on ties):
// slots a a a b a a c (slot 3: a's score -1 gives v=0 while b's 4 gives 1;
// slot 6: c reaches 7, v=2). roundrobin (lb_fwrr.c) yields the same for
// 5,1,1 but not for 4,2,1. TestOracleHAProxy confirms all of them against
// haproxy 2.6.
func TestHAProxyRRSequences(t *testing.T) {
	for _, tc := range []struct {
		m       Method
		weights []int
		want    string
	}{
		{HAProxyRoundRobin, []int{5, 1, 1}, "aaabaac" + "aaabaac"},
		{HAProxyStaticRR, []int{5, 1, 1}, "aaabaac" + "aaabaac"},
		{HAProxyRoundRobin, []int{4, 2, 1}, "aabacab" + "aabacab"},
		{HAProxyStaticRR, []int{4, 2, 1}, "aababac" + "aababac"},
		{HAProxyRoundRobin, []int{3, 2}, "aabab" + "aabab"},
		{HAProxyStaticRR, []int{6, 4, 2}, "aababc" + "aababc"},
		{HAProxyRoundRobin, []int{1, 1, 1}, "abcabc"},
	} {
		b := mustNew(t, Config{Method: tc.m}, letters(tc.weights...), Options{})
		if got := seq(t, b, len(tc.want), nil); got != tc.want {
			t.Errorf("%v %v: %s, want %s", tc.m, tc.weights, got, tc.want)
		}
	}
}

// TestHAProxyLeastConn: idle servers share key 0 and a server released by a
// connection is reinserted after the others, so sequential requests rotate
// whatever the weights; under load the key is (inflight+1)*4096/eweight.
func TestHAProxyLeastConn(t *testing.T) {
	b := mustNew(t, Config{Method: HAProxyLeastConn}, letters(3, 1, 1), Options{})
	if got := seq(t, b, 9, nil); got != "abcabcabc" {
		t.Errorf("sequential: %s, want abcabcabc", got)
	}
	// a=3 (eweight 48), b=1 (16): with a holding one connection its key is
	// 2*4096/48=170 against b's 0, then b holding one: 512 > 170, a again;
	// a with two: 3*4096/48=256 < 512, a again; three: 341 < 512.
	w := mustNew(t, Config{Method: HAProxyLeastConn}, letters(3, 1), Options{})
	var got strings.Builder
	for i := 0; i < 5; i++ {
		s, err := w.Pick(&Request{})
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(s.Peer().Name)
	}
	if got.String() != "abaaa" {
		t.Errorf("held: %s, want abaaa", got.String())
	}
}

// TestHAProxyFirst: the lowest id with a free maxconn slot, ignoring
// weights; ids are assigned as HAProxy does (first free from 1).
func TestHAProxyFirst(t *testing.T) {
	peers := []Peer{{Name: "a", ID: 3, MaxConns: 1}, {Name: "b", MaxConns: 2}, {Name: "c", MaxConns: 1}, {Name: "d", ID: 1, MaxConns: 1}}
	h := mustNew(t, Config{Method: HAProxyFirst}, peers, Options{}).(*haproxy)
	var ids []int
	for _, s := range h.srv {
		ids = append(ids, s.puid)
	}
	// d has 1; b takes the first free id from 2 (next_id moved past a and
	// b's slots: next starts at 1 for a (explicit), 2 for b, 3 for c (3
	// used: 4)
	if fmt.Sprint(ids) != "[3 2 4 1]" {
		t.Fatalf("ids %v, want [3 2 4 1]", ids)
	}
	var held []*Selection
	var got strings.Builder
	for i := 0; i < 5; i++ {
		s, err := h.Pick(&Request{})
		if err != nil {
			got.WriteString("!")
			continue
		}
		got.WriteString(s.Peer().Name)
		held = append(held, s)
	}
	if got.String() != "dbbac" {
		t.Errorf("%s, want dbbac (id order 1,2,3,4 filling maxconn)", got.String())
	}
	if _, err := h.Pick(&Request{}); !errors.Is(err, ErrFull) {
		t.Errorf("all full: %v, want ErrFull", err)
	}
	held[0].Done(true)
	if got := pickName(t, h, &Request{}); got != "d" {
		t.Errorf("d released: %s", got)
	}
}

// TestHAProxyBackups: only the first usable backup serves unless
// "option allbackups"; primaries coming back take over.
func TestHAProxyBackups(t *testing.T) {
	peers := []Peer{{Name: "a", Down: true}, {Name: "b", Backup: true, Weight: 3}, {Name: "c", Backup: true}, {Name: "d", Backup: true}}
	for _, m := range []Method{HAProxyRoundRobin, HAProxyStaticRR, HAProxyLeastConn, HAProxyFirst} {
		b := mustNew(t, Config{Method: m}, peers, Options{})
		if got := seq(t, b, 4, nil); got != "bbbb" {
			t.Errorf("%v: %s, want the first backup only", m, got)
		}
		b.(Marker).SetDown(1, true)
		if got := seq(t, b, 3, nil); got != "ccc" {
			t.Errorf("%v: first backup down: %s, want ccc", m, got)
		}
		b.(Marker).SetDown(1, false)
		b.(Marker).SetDown(0, false)
		if got := seq(t, b, 2, nil); got != "aa" {
			t.Errorf("%v: primary back: %s", m, got)
		}
	}
	all := mustNew(t, Config{Method: HAProxyRoundRobin, AllBackups: true}, peers, Options{})
	if got := seq(t, all, 10, nil); strings.Count(got, "b") != 6 || strings.Count(got, "c") != 2 {
		t.Errorf("allbackups: %s, want weights 3,1,1", got)
	}
}

// TestHAProxySlowStart follows a roundrobin server coming back with
// slowstart 10s: eweight = uweight*((16*elapsed+10)/10) until it reaches
// 16 (server_recalc_eweight), and the picks over each fwrr window follow
// the weights; maxconn ramps as srv_dynamic_maxconn.
func TestHAProxySlowStart(t *testing.T) {
	clk := newClock()
	peers := letters(1, 1)
	peers[1].SlowStart = 10 * time.Second
	peers[1].MaxConns = 20
	h := mustNew(t, Config{Method: HAProxyRoundRobin}, peers, Options{Now: clk.Now}).(*haproxy)
	if h.srv[1].curEW != 16 {
		t.Fatalf("no slow start at boot: eweight %d", h.srv[1].curEW)
	}
	h.SetDown(1, true)
	clk.Add(5 * time.Second)
	h.SetDown(1, false)
	for el := int64(0); el <= 11; el++ {
		w := (16*el + 10) / 10
		if el >= 10 {
			w = 16
		}
		pickName(t, h, &Request{}) // advances the warmup at this second
		if got := h.srv[1].curEW; got != int(w) {
			t.Fatalf("t+%ds: eweight %d, want %d", el, got, w)
		}
		if el < 10 {
			wantMax := max(1, 20*int(100*el/10)/100)
			if got := h.srv[1].dynamicMaxconn(h.now); got != wantMax {
				t.Errorf("t+%ds: maxconn %d, want %d", el, got, wantMax)
			}
			if h.srv[1].curState != stStarting {
				t.Errorf("t+%ds: not starting", el)
			}
		}
		clk.Add(time.Second)
	}
	if h.srv[1].curState != stRunning {
		t.Error("slow start over: server must be running")
	}
	// at full weight both servers alternate again
	if got := seq(t, h, 32, nil); strings.Count(got, "b") != 16 {
		t.Errorf("after slow start: %s", got)
	}
}

// TestHAProxySlowStartShare: during slow start the share of picks follows
// the ramped weight.
func TestHAProxySlowStartShare(t *testing.T) {
	clk := newClock()
	peers := letters(1, 1)
	peers[1].SlowStart = 16 * time.Second
	h := mustNew(t, Config{Method: HAProxyLeastConn}, peers, Options{Now: clk.Now})
	h.(Marker).SetDown(1, true)
	h.(Marker).SetDown(1, false)
	// leastconn with one connection held on each: keys 2*4096/16 for a
	// and 2*4096/1 for b at t+0, so a wins until b's weight catches up.
	hold := func() string {
		var held []*Selection
		var sb strings.Builder
		for i := 0; i < 6; i++ {
			s, _ := h.Pick(&Request{})
			sb.WriteString(s.Peer().Name)
			held = append(held, s)
		}
		for _, s := range held {
			s.Done(true)
		}
		return sb.String()
	}
	early := hold()
	clk.Add(16 * time.Second)
	late := hold()
	if strings.Count(early, "b") >= strings.Count(late, "b") {
		t.Errorf("b's share must grow: t+0 %s, t+16 %s", early, late)
	}
	if strings.Count(late, "b") != 3 {
		t.Errorf("full weight: %s, want balanced", late)
	}
}

// TestHAProxySetWeight: static algorithms accept only 0 and the initial
// weight; dynamic ones any weight, applied at once.
func TestHAProxySetWeight(t *testing.T) {
	s := mustNew(t, Config{Method: HAProxyStaticRR}, letters(1, 1), Options{}).(*haproxy)
	if err := s.SetWeight(0, 3); err == nil {
		t.Error("static-rr accepted weight 3")
	}
	if err := s.SetWeight(0, 0); err != nil {
		t.Fatal(err)
	}
	if got := seq(t, s, 3, nil); got != "bbb" {
		t.Errorf("weight 0: %s", got)
	}
	d := mustNew(t, Config{Method: HAProxyRoundRobin}, letters(1, 1), Options{}).(*haproxy)
	if err := d.SetWeight(0, 3); err != nil {
		t.Fatal(err)
	}
	if got := seq(t, d, 40, nil); strings.Count(got, "a") != 30 {
		t.Errorf("weight 3:1 -> %s", got)
	}
	c := mustNew(t, Config{Method: HAProxyURI, Consistent: true}, letters(1, 1), Options{}).(*haproxy)
	if err := c.SetWeight(1, 4); err != nil {
		t.Fatal(err)
	}
	if n := len(c.act.nodes); n != 16+64 {
		t.Errorf("consistent tree has %d points, want 80 after weight 4", n)
	}
}

// TestHAProxyRedispatch: Retry avoids the previous server except for a
// map-based hash, where map_get_server_hash ignores it.
func TestHAProxyRedispatch(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		same bool
	}{
		{Config{Method: HAProxyRoundRobin}, false},
		{Config{Method: HAProxyStaticRR}, false},
		{Config{Method: HAProxyLeastConn}, false},
		{Config{Method: HAProxyFirst}, false},
		{Config{Method: HAProxyURI, Consistent: true}, false},
		{Config{Method: HAProxyURI}, true},
	} {
		b := mustNew(t, tc.cfg, letters(1, 1, 1), Options{})
		s, err := b.Pick(&Request{URI: "/x"})
		if err != nil {
			t.Fatal(err)
		}
		first := s.Peer().Name
		if err := s.Retry(true); err != nil {
			t.Fatal(err)
		}
		if (s.Peer().Name == first) != tc.same {
			t.Errorf("%v consistent=%v: %s then %s", tc.cfg.Method, tc.cfg.Consistent, first, s.Peer().Name)
		}
		s.Done(true)
	}
}

// TestHAProxyHashFunctions checks src/hash.c: sdbm and djb2 by hand, crc32
// against hash/crc32, and full_hash properties.
func TestHAProxyHashFunctions(t *testing.T) {
	// sdbm: h = c + (h<<6) + (h<<16) - h: "a" = 97; "ab" = 98 + 97*65599
	if got := hashSDBM("a"); got != 97 {
		t.Errorf("sdbm(a) = %d", got)
	}
	if got := hashSDBM("ab"); got != 98+97*65599 {
		t.Errorf("sdbm(ab) = %d", got)
	}
	// djb2: h = h*33 + c from 5381
	if got := hashDJB2("a"); got != 5381*33+97 {
		t.Errorf("djb2(a) = %d", got)
	}
	for _, s := range []string{"", "a", "/index.html", strings.Repeat("xyz", 50)} {
		if got, want := genHash(CRC32, s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crc32(%q) = %d, want %d", s, got, want)
		}
	}
	var sb strings.Builder
	for _, s := range []string{"", "a", "ab", "/index.html", "www.example.com", "127.0.0.1"} {
		fmt.Fprintf(&sb, "%q sdbm=%d djb2=%d wt6=%d crc32=%d avalanche(sdbm)=%d\n",
			s, hashSDBM(s), hashDJB2(s), hashWT6(s), crc32String(0, s), fullHash(hashSDBM(s)))
	}
	golden(t, "haproxy_hash_functions.golden", sb.String())
}

func TestHAProxyKeyExtraction(t *testing.T) {
	for _, tc := range []struct {
		uri    string
		length int
		depth  int
		whole  bool
		want   string
	}{
		{"/a/b/c?x=1", 0, 0, false, "/a/b/c"},
		{"/a/b/c?x=1", 0, 0, true, "/a/b/c?x=1"},
		{"/a/b/c?x=1", 0, 2, false, "/a/b"},
		{"/a/b/c?x=1", 0, 1, false, "/a"},
		{"/a/b/c?x=1", 4, 0, true, "/a/b"},
		{"/a/b/c?x=1", 4, 3, true, "/a/b"},
		{"/a?b/c", 0, 2, false, "/a"},
		{"/a?b/c", 0, 2, true, "/a?b/c"}, // only 2 slashes: depth 2 stops at a 3rd
		{"/a?b/c/d", 0, 2, true, "/a?b/c"},
		{"", 0, 0, false, ""},
	} {
		if got := uriKey(tc.uri, tc.length, tc.depth, tc.whole); got != tc.want {
			t.Errorf("uriKey(%q, len %d, depth %d, whole %v) = %q, want %q", tc.uri, tc.length, tc.depth, tc.whole, got, tc.want)
		}
	}
	for in, want := range map[string]string{"/p?q": "/p?q", "http://h:80/p?q": "/p?q", "http://h": "", "*": "", "h:443": ""} {
		if got := uriPath(in); got != want {
			t.Errorf("uriPath(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		uri, name, want string
		ok              bool
	}{
		{"/p?userid=alice", "userid", "alice", true},
		{"/p?x=1&userid=bob&y=2", "userid", "bob", true},
		{"/p?userid=", "userid", "", true},
		{"/p?xuserid=1", "userid", "", false},
		{"/p?user=1", "userid", "", false},
		{"/p", "userid", "", false},
		{"/p?userid", "userid", "", false},
		{"/p?a=b&userid=c&userid=d", "userid", "c", true},
	} {
		got, ok := urlParam(tc.uri, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("urlParam(%q, %q) = %q %v, want %q %v", tc.uri, tc.name, got, ok, tc.want, tc.ok)
		}
	}
	// configuration.txt: in "haproxy.1wt.eu" only "1wt" is considered
	for in, want := range map[string]string{"haproxy.1wt.eu": "1wt", "www.example.com": "example",
		"localhost": "localhost", "a.b": "a", "example.com:8080": "example", ".": "."} {
		if got := domainOnly(in); got != want {
			t.Errorf("domainOnly(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"a, b": "a", ` "x,y" , z`: `"x,y"`, "  v  ": "v", "": ""} {
		if got := firstHeaderValue(in); got != want {
			t.Errorf("firstHeaderValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHAProxySource: the key is the address's 32-bit words XORed, taken
// modulo the map (map-based) without any hash function.
func TestHAProxySource(t *testing.T) {
	b := mustNew(t, Config{Method: HAProxySource}, letters(1, 1, 1), Options{})
	for _, ip := range []string{"127.0.0.1", "10.0.0.7", "192.0.2.200"} {
		a := netip.MustParseAddr(ip).As4()
		h := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		want := string(rune('a' + h%3)) // the 1,1,1 map is a b c
		if got := pickName(t, b, &Request{ClientIP: netip.MustParseAddr(ip)}); got != want {
			t.Errorf("%s: %s, want %s", ip, got, want)
		}
	}
	v6 := netip.MustParseAddr("2001:db8::1")
	a := v6.As16()
	var h uint32
	for i := 0; i < 16; i += 4 {
		h ^= uint32(a[i])<<24 | uint32(a[i+1])<<16 | uint32(a[i+2])<<8 | uint32(a[i+3])
	}
	if got := pickName(t, b, &Request{ClientIP: v6}); got != string(rune('a'+h%3)) {
		t.Errorf("IPv6: %s", got)
	}
	// no address: round robin on the map
	if got := seq(t, b, 3, &Request{}); got != "abc" {
		t.Errorf("no address: %s", got)
	}
}

// Golden HAProxy mappings; TestOracleGoldenHAProxy checks them against
// haproxy.
var hapGoldenSets = []struct {
	name, balance, hashType string
	weights                 []int
}{
	{"source map-based 3", "source", "", []int{1, 1, 1}},
	{"source map-based 4 weighted", "source", "", []int{2, 1, 3, 1}},
	{"source consistent 4", "source", "consistent", []int{1, 1, 1, 1}},
	{"uri map-based 3", "uri", "", []int{1, 1, 1}},
	{"uri consistent 3", "uri", "consistent", []int{1, 1, 1}},
	{"uri consistent 4", "uri", "consistent", []int{1, 1, 1, 1}},
	{"uri whole map-based djb2 4", "uri whole", "map-based djb2", []int{1, 1, 1, 1}},
}

var hapGoldenClients = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.1.0.9", "127.2.3.4", "127.9.9.9",
	"127.10.20.30", "127.44.55.66", "127.100.0.1", "127.200.1.1"}

var hapGoldenPaths = []string{"/", "/a", "/img/logo.png", "/api/v1/users?id=7", "/api/v2/orders/99",
	"/static/app.js?v=3", "/index.html", "/x?y", "/very/long/path", "/b"}

func hapGoldenReqs(balance string) ([]string, []Request) {
	var keys []string
	var reqs []Request
	if strings.HasPrefix(balance, "source") {
		for _, ip := range hapGoldenClients {
			keys = append(keys, ip)
			reqs = append(reqs, Request{ClientIP: netip.MustParseAddr(ip)})
		}
		return keys, reqs
	}
	for _, p := range hapGoldenPaths {
		keys = append(keys, p)
		reqs = append(reqs, Request{URI: p})
	}
	return keys, reqs
}

func TestHAProxyHashGolden(t *testing.T) {
	var sb strings.Builder
	for _, set := range hapGoldenSets {
		cfg, err := ParseHAProxy(set.balance, set.hashType)
		if err != nil {
			t.Fatal(err)
		}
		b := mustNew(t, cfg, letters(set.weights...), Options{})
		fmt.Fprintf(&sb, "# %s\n", set.name)
		keys, reqs := hapGoldenReqs(set.balance)
		for i := range keys {
			fmt.Fprintf(&sb, "%s %s\n", keys[i], pickName(t, b, &reqs[i]))
		}
	}
	golden(t, "haproxy_hash.golden", sb.String())
}

// TestHAProxyConsistentRemap: with hash-type consistent a server going down
// only moves its own keys; map-based moves most.
func TestHAProxyConsistentRemap(t *testing.T) {
	for _, consistent := range []bool{true, false} {
		b := mustNew(t, Config{Method: HAProxyURI, Consistent: consistent, Avalanche: consistent}, letters(1, 1, 1, 1), Options{})
		before := map[string]string{}
		var keys []string
		for i := 0; i < 1000; i++ {
			k := fmt.Sprintf("/obj/%d", i)
			keys = append(keys, k)
			before[k] = pickName(t, b, &Request{URI: k})
		}
		b.(Marker).SetDown(3, true)
		moved := 0
		for _, k := range keys {
			if got := pickName(t, b, &Request{URI: k}); got != before[k] {
				moved++
				if consistent && before[k] != "d" {
					t.Fatalf("%s moved from %s, which is still up", k, before[k])
				}
			}
		}
		frac := float64(moved) / 1000
		t.Logf("consistent=%v: %.1f%% of keys moved when 1 of 4 servers went down", consistent, 100*frac)
		if consistent && (frac < 0.1 || frac > 0.4) {
			t.Errorf("consistent: %.3f moved, want about 1/4", frac)
		}
		if !consistent && frac < 0.5 {
			t.Errorf("map-based: %.3f moved, want most", frac)
		}
	}
}

// TestHAProxyHashFallback: a missing key falls back to round robin on the
// map (or the consistent tree); one usable server skips hashing.
func TestHAProxyHashFallback(t *testing.T) {
	for _, cfg := range []Config{
		{Method: HAProxyURLParam, Param: "id"},
		{Method: HAProxyHdr, Header: "X-Key"},
		{Method: HAProxyHash},
		{Method: HAProxyURLParam, Param: "id", Consistent: true},
	} {
		b := mustNew(t, cfg, letters(1, 1, 1), Options{})
		got := seq(t, b, 6, &Request{URI: "/nothing", Header: hdrMap{}})
		want := "abcabc" // map_get_server_rr over the 1,1,1 map
		if cfg.Consistent {
			// chash_get_next_server walks the ring's points in order
			want = ""
			for _, n := range b.(*haproxy).act.nodes[:6] {
				want += n.srv.cfg.Name
			}
		}
		if got != want {
			t.Errorf("%v consistent=%v without key: %s, want %s", cfg.Method, cfg.Consistent, got, want)
		}
		b.(Marker).SetDown(0, true)
		b.(Marker).SetDown(1, true)
		if got := seq(t, b, 2, &Request{URI: "/p?id=1", Key: "k", Header: hdrMap{"x-key": "v"}}); got != "cc" {
			t.Errorf("%v: single server: %s", cfg.Method, got)
		}
	}
	if _, err := New(Config{Method: HAProxyURLParam}, letters(1), Options{}); err == nil {
		t.Error("url_param without a name accepted")
	}
}
