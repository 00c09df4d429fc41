package limit

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mustZone(t testing.TB, rate float64, size int64) *ReqZone {
	t.Helper()
	z, err := NewReqZone("z", rate, size, t0)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// outcome renders a verdict the way the l7.md sequences are written:
// 200 or 503, with the delay.
func outcome(v Verdict) string {
	if v.Reject {
		return "503"
	}
	if v.Delay > 0 {
		return "200@" + v.Delay.String()
	}
	return "200"
}

// TestLimitReqSequences reproduces the sequences of l7.md §1.8, verified
// there against nginx 1.22 ([V]), and the delay= variant derived from
// ngx_http_limit_req_account: rate=1r/s, every request at the same
// instant.
func TestLimitReqSequences(t *testing.T) {
	tests := []struct {
		name  string
		limit ReqLimit
		n     int
		want  []string
	}{
		{"burst=2 nodelay", ReqLimit{Burst: 2, NoDelay: true}, 6,
			[]string{"200", "200", "200", "503", "503", "503"}},
		{"burst=2", ReqLimit{Burst: 2}, 5,
			[]string{"200", "200@1s", "200@2s", "503", "503"}},
		// delay=1: the first excess request goes at once, later ones wait
		// (excess − 1000)/rate.
		{"burst=3 delay=1", ReqLimit{Burst: 3, Delay: 1}, 6,
			[]string{"200", "200", "200@1s", "200@2s", "503", "503"}},
		// No burst: only the first request of the instant passes.
		{"burst=0", ReqLimit{}, 3, []string{"200", "503", "503"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.limit
			l.Zone = mustZone(t, 1, 0)
			var got []string
			for range tc.n {
				got = append(got, outcome(CheckReq([]ReqLimit{l}, []string{"\x7f\x00\x00\x01"}, t0)))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLimitReqLeak: the bucket leaks rate·Δms/1000 milli-requests
// between requests; a rejected request is not accounted.
func TestLimitReqLeak(t *testing.T) {
	z := mustZone(t, 2, 0) // 2r/s: rate 2000
	l := []ReqLimit{{Zone: z, Burst: 1}}
	k := []string{"k"}
	steps := []struct {
		at     time.Duration
		want   string
		excess int64
	}{
		{0, "200", 0},
		{0, "200@500ms", 1000}, // (1000 − 0)·1000/2000
		{0, "503", 2000},       // 2000 > burst 1000, not stored
		// 1000 − 2000·250/1000 + 1000 = 1500 > 1000
		{250 * time.Millisecond, "503", 1500},
		// 1000 − 2000·500/1000 + 1000 = 1000: delayed (1000·1000/2000)
		{500 * time.Millisecond, "200@500ms", 1000},
		// long after, the bucket is empty again
		{time.Hour, "200", 0},
	}
	for i, s := range steps {
		v := CheckReq(l, k, t0.Add(s.at))
		if outcome(v) != s.want || v.Excess != s.excess {
			t.Errorf("step %d at %v: %s excess %d, want %s excess %d", i, s.at, outcome(v), v.Excess, s.want, s.excess)
		}
	}
}

// TestLimitReqClockBackwards: nginx treats a clock that went back less
// than a minute as no time passed, and more than that as 1 ms.
func TestLimitReqClockBackwards(t *testing.T) {
	z := mustZone(t, 1, 0)
	l := []ReqLimit{{Zone: z, Burst: 5, NoDelay: true}}
	k := []string{"k"}
	CheckReq(l, k, t0.Add(2*time.Minute))
	if v := CheckReq(l, k, t0.Add(2*time.Minute-time.Second)); v.Excess != 1000 {
		t.Errorf("1 s back: excess %d, want 1000", v.Excess)
	}
	// Stored excess 1000 at 2m (last not moved); 61 s back counts as 1 ms:
	// 1000 − 1·1000/1000 + 1000 = 1999.
	if v := CheckReq(l, k, t0.Add(2*time.Minute-61*time.Second)); v.Excess != 1999 {
		t.Errorf("61 s back: excess %d, want 1999", v.Excess)
	}
}

func TestMilliRate(t *testing.T) {
	tests := []struct {
		rate float64
		want int64
	}{
		{1, 1000}, {0.5, 500}, {1.0 / 60, 16}, {30.0 / 60, 500}, {0.1, 100}, {100, 100000},
	}
	for _, tc := range tests {
		got, err := MilliRate(tc.rate)
		if err != nil || got != tc.want {
			t.Errorf("MilliRate(%v) = %d, %v; want %d", tc.rate, got, err, tc.want)
		}
	}
	for _, bad := range []float64{0, -1, 0.0001} {
		if _, err := MilliRate(bad); err == nil {
			t.Errorf("MilliRate(%v): no error", bad)
		}
	}
}

func TestLimitReqEmptyAndLongKeys(t *testing.T) {
	z := mustZone(t, 1, 0)
	l := []ReqLimit{{Zone: z}}
	for range 3 {
		if v := CheckReq(l, []string{""}, t0); v.Limited || v.Reject {
			t.Fatalf("empty key limited: %+v", v)
		}
	}
	long := string(make([]byte, maxReqKey+1))
	for range 3 {
		if v := CheckReq(l, []string{long}, t0); v.Limited {
			t.Fatalf("over-long key limited: %+v", v)
		}
	}
	if st := z.Stats(); st.Entries != 0 {
		t.Errorf("entries %d", st.Entries)
	}
}

// TestLimitReqMulti: several limits (ngx_http_limit_req_handler). A
// rejection by a later limit accounts nothing in the earlier ones; when
// none rejects, every limit is charged and the longest delay wins.
func TestLimitReqMulti(t *testing.T) {
	a := mustZone(t, 1, 0)
	b := mustZone(t, 1, 0)
	k := []string{"x", "x"}
	ab := []ReqLimit{{Zone: a, Burst: 5, NoDelay: true}, {Zone: b}}
	if v := CheckReq(ab, k, t0); v.Reject || v.Delay != 0 {
		t.Fatalf("first: %+v", v)
	}
	// b (burst 0) rejects the second; a's excess must stay 0.
	for range 3 {
		if v := CheckReq(ab, k, t0); !v.Reject || v.Zone != b {
			t.Fatalf("second: %+v", v)
		}
	}
	if v := CheckReq([]ReqLimit{{Zone: a, Burst: 5, NoDelay: true}}, k[:1], t0); v.Excess != 1000 {
		t.Errorf("a was charged by rejected requests: excess %d, want 1000", v.Excess)
	}

	// The longest delay wins: c at 1r/s, d at 2r/s, both burst 5.
	c := mustZone(t, 1, 0)
	d := mustZone(t, 2, 0)
	cd := []ReqLimit{{Zone: c, Burst: 5}, {Zone: d, Burst: 5}}
	CheckReq(cd, k, t0)
	v := CheckReq(cd, k, t0)
	if v.Delay != time.Second || v.Zone != c {
		t.Errorf("delay %v by %v, want 1s by c", v.Delay, v.Zone)
	}
	// The verdict's zone is counted: the first request passed by d (the
	// last limit), the second delayed by c.
	if st := c.Stats(); st.Delayed != 1 || st.Passed != 0 {
		t.Errorf("c stats %+v", st)
	}
	if st := d.Stats(); st.Delayed != 0 || st.Passed != 1 {
		t.Errorf("d stats %+v", st)
	}

	// An earlier limit with an empty key is skipped; a rejection in the
	// first limit stops before the second is looked up.
	e := mustZone(t, 1, 0)
	f := mustZone(t, 1, 0)
	ef := []ReqLimit{{Zone: e}, {Zone: f, Burst: 9, NoDelay: true}}
	CheckReq(ef, []string{"k", "k"}, t0)
	if v := CheckReq(ef, []string{"k", "k"}, t0); !v.Reject || v.Zone != e {
		t.Fatalf("e should reject: %+v", v)
	}
	if v := CheckReq(ef[1:], []string{"k"}, t0); v.Excess != 1000 {
		t.Errorf("f looked up after e rejected: excess %d", v.Excess)
	}
	if v := CheckReq(ef, []string{"", "k"}, t0); v.Reject || v.Excess != 2000 {
		t.Errorf("empty first key: %+v", v)
	}
}

// TestLimitReqFreshNodeRejected: a key created by an earlier limit of a
// request that a later limit rejected has leaked everything when next
// seen (nginx leaves its "last" at 0).
func TestLimitReqFreshNodeRejected(t *testing.T) {
	a := mustZone(t, 1, 0)
	b := mustZone(t, 1, 0)
	CheckReq([]ReqLimit{{Zone: b}}, []string{"k"}, t0) // b: k at burst
	v := CheckReq([]ReqLimit{{Zone: a}, {Zone: b}}, []string{"k", "k"}, t0)
	if !v.Reject || v.Zone != b {
		t.Fatalf("%+v", v)
	}
	if st := a.Stats(); st.Entries != 1 {
		t.Fatalf("a entries %d", st.Entries)
	}
	if v := CheckReq([]ReqLimit{{Zone: a}}, []string{"k"}, t0); v.Reject || v.Excess != 0 {
		t.Errorf("fresh node: %+v, want excess 0", v)
	}
}

// TestLimitReqBoundedLRU: a minimum zone holds 32768/128 = 256 keys of 4
// bytes; the 257th evicts the least recently used key
// (ngx_http_limit_req_expire with n=0).
func TestLimitReqBoundedLRU(t *testing.T) {
	z := mustZone(t, 1, MinZoneSize)
	if c := nodeCost(reqNodeHeader, 4); c != 128 {
		t.Fatalf("node cost %d, want 128", c)
	}
	l := []ReqLimit{{Zone: z}}
	key := func(i int) []string { return []string{fmt.Sprintf("%04d", i)} }
	for i := range 256 {
		CheckReq(l, key(i), t0)
	}
	// Key 0 is at its limit and is now the most recently used; key 1 is
	// the oldest.
	if v := CheckReq(l, key(0), t0); !v.Reject {
		t.Fatal("key 0 should be limited")
	}
	if st := z.Stats(); st.Entries != 256 || st.Bytes != 256*128 {
		t.Fatalf("stats %+v", st)
	}
	CheckReq(l, key(256), t0)
	if st := z.Stats(); st.Entries != 256 {
		t.Fatalf("entries %d after eviction", st.Entries)
	}
	// Key 1 was evicted: seen again it is new (excess 0) and passes;
	// key 0 survived and is still limited.
	if v := CheckReq(l, key(0), t0); !v.Reject {
		t.Error("key 0 was evicted")
	}
	if v := CheckReq(l, key(1), t0); v.Reject || v.Excess != 0 {
		t.Errorf("key 1 not evicted: %+v", v)
	}
}

// TestLimitReqIdleExpiry: creating a key drops up to two keys from the
// least recently used end that have been idle for a minute and leaked to
// zero, even when the zone is not full (ngx_http_limit_req_expire n=1).
func TestLimitReqIdleExpiry(t *testing.T) {
	z := mustZone(t, 1, 0)
	l := []ReqLimit{{Zone: z, Burst: 100, NoDelay: true}}
	for i := range 4 {
		CheckReq(l, []string{strconv.Itoa(i)}, t0)
	}
	// Key "3" gets 70 requests: excess 69000, not leaked after 61 s.
	for range 69 {
		CheckReq(l, []string{"3"}, t0)
	}
	CheckReq(l, []string{"new"}, t0.Add(61*time.Second))
	// "0" and "1" were dropped (two per new key), "2" and "3" remain.
	if st := z.Stats(); st.Entries != 3 {
		t.Errorf("entries %d, want 3", st.Entries)
	}
	CheckReq(l, []string{"new2"}, t0.Add(62*time.Second))
	// "2" is idle and leaked, "3" still holds excess: the scan stops.
	if st := z.Stats(); st.Entries != 3 {
		t.Errorf("entries %d, want 3 (2 dropped, 3 kept)", st.Entries)
	}
	if v := CheckReq(l, []string{"3"}, t0.Add(62*time.Second)); v.Excess != 69000-62000+1000 {
		t.Errorf("key 3 excess %d", v.Excess)
	}
}

// TestLimitReqZoneFullPinned: a key pinned by a lookup in progress is not
// evicted; with no room the request is rejected (nginx's failed slab
// allocation returns limit_req_status).
func TestLimitReqZoneFullPinned(t *testing.T) {
	z := mustZone(t, 1, MinZoneSize)
	// Pin every key: lookups of non-final limits pin until accounted.
	var pins []*reqNode
	for i := range 256 {
		_, _, nd := z.lookup(&ReqLimit{Zone: z}, fmt.Sprintf("%04d", i), t0, false)
		pins = append(pins, nd)
	}
	v := CheckReq([]ReqLimit{{Zone: z}}, []string{"more"}, t0)
	if !v.Reject || !errors.Is(v.Err, ErrZoneFull) {
		t.Fatalf("%+v, want a zone-full rejection", v)
	}
	for _, nd := range pins {
		nd.count--
	}
	if v := CheckReq([]ReqLimit{{Zone: z}}, []string{"more"}, t0); v.Reject {
		t.Fatalf("after unpinning: %+v", v)
	}
}

func TestNewReqZoneErrors(t *testing.T) {
	if _, err := NewReqZone("z", 1, 1000, t0); err == nil {
		t.Error("tiny zone accepted")
	}
	if _, err := NewReqZone("z", 0, 0, t0); err == nil {
		t.Error("zero rate accepted")
	}
	z := mustZone(t, 1, 0)
	if z.Size() != DefaultZoneSize || z.Name() != "z" {
		t.Errorf("size %d name %q", z.Size(), z.Name())
	}
}

func BenchmarkCheckReq(b *testing.B) {
	z, _ := NewReqZone("z", 1e6, 0, t0)
	l := []ReqLimit{{Zone: z, Burst: 1 << 20, NoDelay: true}}
	keys := make([][]string, 1024)
	for i := range keys {
		keys[i] = []string{string([]byte{10, 0, byte(i >> 8), byte(i)})}
	}
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		now = now.Add(time.Microsecond)
		if v := CheckReq(l, keys[i&1023], now); v.Reject {
			b.Fatal("rejected")
		}
	}
}
