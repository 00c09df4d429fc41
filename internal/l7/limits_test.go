package l7

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// fakeTime is a fixed clock and a limit_req wait that records its
// durations and returns at once.
type fakeTime struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func (f *fakeTime) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTime) wait(_ context.Context, d time.Duration) error {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return nil
}

// l7mdConfig is the limit_req part of l7.md §7: zone rl (rate=1r/s, key
// $binary_remote_addr) shared by /lr (burst=2 nodelay) and /lq (burst=2).
func l7mdConfig(addr netip.AddrPort, be string) *config.HTTP {
	cfg := oneServer(addr, []config.Location{
		{Match: "/lr", ProxyPass: "http://" + be, LimitReq: []config.LimitReq{{Zone: "rl", Burst: 2, NoDelay: true}}},
		{Match: "/lq", ProxyPass: "http://" + be, LimitReq: []config.LimitReq{{Zone: "rl", Burst: 2}}},
		{Match: "/ret", Return: &config.Return{Code: 200, Text: "ok"}, LimitReq: []config.LimitReq{{Zone: "rl"}}},
	})
	cfg.LimitReqZones = []config.LimitReqZone{{Name: "rl", Key: "$binary_remote_addr", Rate: 1, Size: 1 << 20}}
	return cfg
}

func statuses(t *testing.T, hc *http.Client, url string, n int) []int {
	t.Helper()
	var out []int
	for range n {
		resp, _ := get(t, hc, "GET", url, nil, "")
		out = append(out, resp.StatusCode)
	}
	return out
}

// TestLimitReqNoDelaySequence: l7.md §1.8 [V], nginx 1.22: rate=1r/s
// burst=2 nodelay, 6 rapid requests → 200 200 200 503 503 503.
func TestLimitReqNoDelaySequence(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	ft := &fakeTime{t: time.Unix(1_800_000_000, 0)}
	p := startProxyOpts(t, l7mdConfig(addr, be.addr), Options{Now: ft.now, Wait: ft.wait})
	hc := client(addr)
	got := statuses(t, hc, "http://example.com/lr", 6)
	if want := []int{200, 200, 200, 503, 503, 503}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(ft.waits) != 0 {
		t.Errorf("nodelay waited %v", ft.waits)
	}
	if be.count() != 3 {
		t.Errorf("backend saw %d requests", be.count())
	}
	z := p.Status().LimitReqZones
	if len(z) != 1 || z[0].Name != "rl" || z[0].Rejected != 3 || z[0].Passed != 3 || z[0].Entries != 1 || z[0].Bytes != 128 {
		t.Errorf("zone status %+v", z)
	}
	// The zone is shared: 3 s later /lq sees the same bucket (excess
	// 2000 − 3000 + 1000 = 0).
	ft.t = ft.t.Add(3 * time.Second)
	got = statuses(t, hc, "http://example.com/lq", 1)
	if got[0] != 200 || len(ft.waits) != 0 {
		t.Errorf("after 3 s: %v, waits %v", got, ft.waits)
	}
}

// TestLimitReqDelaySequence: l7.md §1.8 [V]: without nodelay, 5 requests
// at once → 200 at 0 s, 1 s and 2 s, two 503. The fake clock stands
// still, so the waits the proxy asked for are exact.
func TestLimitReqDelaySequence(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	ft := &fakeTime{t: time.Unix(1_800_000_000, 0)}
	startProxyOpts(t, l7mdConfig(addr, be.addr), Options{Now: ft.now, Wait: ft.wait})
	got := statuses(t, client(addr), "http://example.com/lq", 5)
	if want := []int{200, 200, 200, 503, 503}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(ft.waits, want) {
		t.Errorf("waits %v, want %v", ft.waits, want)
	}
}

// TestLimitReqDelayRealTime: delayed requests really wait. rate=10r/s
// burst=2, five requests at once: three are served, about 0, 100 and
// 200 ms later; two get 503 at once.
func TestLimitReqDelayRealTime(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr,
		LimitReq: []config.LimitReq{{Zone: "z", Burst: 2}}}})
	cfg.LimitReqZones = []config.LimitReqZone{{Name: "z", Key: "$binary_remote_addr", Rate: 10}}
	startProxy(t, cfg)
	hc := client(addr)
	type res struct {
		code int
		at   time.Duration
	}
	out := make(chan res, 5)
	start := time.Now()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			resp, _ := get(t, hc, "GET", "http://x/", nil, "")
			out <- res{resp.StatusCode, time.Since(start)}
		})
	}
	wg.Wait()
	close(out)
	var ok, rejected []time.Duration
	for r := range out {
		if r.code == 200 {
			ok = append(ok, r.at)
		} else if r.code == 503 {
			rejected = append(rejected, r.at)
		}
	}
	sort.Slice(ok, func(i, j int) bool { return ok[i] < ok[j] })
	if len(ok) != 3 || len(rejected) != 2 {
		t.Fatalf("served at %v, rejected at %v", ok, rejected)
	}
	// Requests arrive within a few ms of each other, so each leaks a
	// little: allow 30 ms of slack below the nominal delays.
	if ok[0] > 80*time.Millisecond || ok[1] < 70*time.Millisecond || ok[2] < 170*time.Millisecond || ok[2] > time.Second {
		t.Errorf("served at %v, want about 0, 100ms, 200ms", ok)
	}
	for _, r := range rejected {
		if r > 80*time.Millisecond {
			t.Errorf("a rejection took %v", r)
		}
	}
}

// TestLimitReqDelayCancelled: a client that leaves while its request is
// delayed ends it there; the upstream never sees it
// (ngx_http_test_reading during the limit_req delay).
func TestLimitReqDelayCancelled(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr,
		LimitReq: []config.LimitReq{{Zone: "z", Burst: 5}}}})
	cfg.LimitReqZones = []config.LimitReqZone{{Name: "z", Key: "$binary_remote_addr", Rate: 2}}
	p := startProxy(t, cfg)
	hc := client(addr)
	get(t, hc, "GET", "http://x/", nil, "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://x/", nil)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("delayed request answered at once: %s", resp.Status)
	}
	eventually(t, 2*time.Second, "the delayed request to end", func() bool {
		return p.Status().Servers[0].Counters.Active == 0
	})
	time.Sleep(600 * time.Millisecond) // past the 500 ms delay
	if be.count() != 1 {
		t.Errorf("upstream saw %d requests, want 1", be.count())
	}
	// nginx logs 499 for it, counted with the 4xx.
	if c := p.Status().Servers[0].Counters; c.Responses4xx != 1 || c.Responses2xx != 1 {
		t.Errorf("the cancelled request should end as 499: %+v", c)
	}
}

// TestPhaseOrder: a "return" location is never limited (l7.md §1.8 [V]:
// rewrite runs before preaccess); the Referer is checked in the rewrite
// phase, as nginx's `if ($invalid_referer) { return 403; }` is, so requests
// with a bad Referer are refused before they reach limit_req and do not
// fill the bucket; a `return` location with referers checks them first.
func TestPhaseOrder(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	ft := &fakeTime{t: time.Unix(1_800_000_000, 0)}
	cfg := l7mdConfig(addr, be.addr)
	cfg.Servers[0].Locations = append(cfg.Servers[0].Locations, config.Location{
		Match: "/ref", ProxyPass: "http://" + be.addr,
		LimitReq: []config.LimitReq{{Zone: "ref", Burst: 1, NoDelay: true}},
		Referers: &config.Referers{Valid: []string{"good.example"}},
	})
	cfg.LimitReqZones = append(cfg.LimitReqZones, config.LimitReqZone{Name: "ref", Key: "$binary_remote_addr", Rate: 1})
	startProxyOpts(t, cfg, Options{Now: ft.now, Wait: ft.wait})
	hc := client(addr)
	for i, code := range statuses(t, hc, "http://example.com/ret", 10) {
		if code != 200 {
			t.Fatalf("return location limited at request %d: %d", i+1, code)
		}
	}
	got := statuses(t, hc, "http://example.com/ref", 3)
	if want := []int{403, 403, 403}; !slices.Equal(got, want) {
		t.Errorf("bad Referer: got %v, want %v (referers in the rewrite phase)", got, want)
	}
	// The bucket is untouched: a good Referer gets burst+1 requests through.
	var good []int
	for range 3 {
		req, _ := http.NewRequest("GET", "http://example.com/ref", nil)
		req.Header.Set("Referer", "http://good.example/page")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		good = append(good, resp.StatusCode)
	}
	if want := []int{200, 200, 503}; !slices.Equal(good, want) {
		t.Errorf("good Referer after refused ones: got %v, want %v (refusals charge no bucket)", good, want)
	}
}

// TestLimitConn: concurrent requests per key, each HTTP/2 stream one
// request (l7.md §1.8).
func TestLimitConn(t *testing.T) {
	be := newBackend(t, "one")
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	be.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		_, _ = w.Write([]byte("ok"))
		return true
	})
	addr := freeAddr(t, "127.0.0.1")
	cfg := &config.HTTP{
		Servers: []config.HTTPServer{{Listen: []config.HTTPListen{{Address: addr, HTTP2: true}},
			Locations: []config.Location{{Match: "/", ProxyPass: "http://" + be.addr,
				LimitConn: []config.LimitConn{{Zone: "c", Conn: 1}}, LimitConnStatus: 429}}}},
		LimitConnZones: []config.LimitConnZone{{Name: "c", Key: "$binary_remote_addr"}},
	}
	p := startProxy(t, cfg)
	for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
		t.Run(proto, func(t *testing.T) {
			tr := &http.Transport{Protocols: new(http.Protocols)}
			if proto == "HTTP/2" {
				tr.Protocols.SetUnencryptedHTTP2(true)
			} else {
				tr.Protocols.SetHTTP1(true)
			}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			done := make(chan int)
			go func() {
				resp, err := hc.Get("http://" + addr.String() + "/slow")
				if err != nil {
					done <- 0
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
			<-entered
			resp, _ := get(t, hc, "GET", "http://"+addr.String()+"/fast", nil, "")
			if resp.StatusCode != 429 || resp.ProtoMajor != map[string]int{"HTTP/1.1": 1, "HTTP/2": 2}[proto] {
				t.Errorf("second concurrent request: %s %d, want 429", resp.Proto, resp.StatusCode)
			}
			release <- struct{}{}
			if code := <-done; code != 200 {
				t.Errorf("first request: %d", code)
			}
			resp, _ = get(t, hc, "GET", "http://"+addr.String()+"/fast", nil, "")
			if resp.StatusCode != 200 {
				t.Errorf("after the first ended: %d", resp.StatusCode)
			}
		})
	}
	z := p.Status().LimitConnZones
	if len(z) != 1 || z[0].Rejected != 2 || z[0].Entries != 0 {
		t.Errorf("zone status %+v", z)
	}
}

// TestMapsThroughProxy: map variables in proxy_set_header and as a limit
// key (an empty key is not limited: ngx_http_limit_req_handler).
func TestMapsThroughProxy(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	ft := &fakeTime{t: time.Unix(1_800_000_000, 0)}
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr,
		SetHeaders: []config.Header{{Name: "X-Bot", Value: "$is_bot"}, {Name: "X-Site", Value: "$site"}},
		LimitReq:   []config.LimitReq{{Zone: "bots", NoDelay: true}}}})
	cfg.Maps = []config.Map{
		{Source: "$http_user_agent", Variable: "$is_bot", Default: "0", Entries: []config.MapEntry{
			{Match: "~*(bot|crawler)", Value: "1"}, {Match: "curl/8.0", Value: "maybe"}}},
		// Only bots have a key: humans are never limited.
		{Source: "$is_bot", Variable: "$bot_key", Entries: []config.MapEntry{{Match: "1", Value: "$binary_remote_addr"}}},
		{Source: "$host", Variable: "$site", Hostnames: true, Default: "other", Entries: []config.MapEntry{
			{Match: "*.shop.example", Value: "shop"}, {Match: "~^(?<n>api)\\.", Value: "$1-v2"}}},
	}
	cfg.LimitReqZones = []config.LimitReqZone{{Name: "bots", Key: "$bot_key", Rate: 1}}
	startProxyOpts(t, cfg, Options{Now: ft.now, Wait: ft.wait})
	hc := client(addr)
	tests := []struct {
		ua, host, bot, site string
		code                int
	}{
		{"Mozilla/5.0", "www.shop.example", "0", "shop", 200},
		{"Mozilla/5.0", "www.shop.example", "0", "shop", 200}, // humans: no key, no limit
		{"Googlebot/2.1", "api.example", "1", "api-v2", 200},
		{"SomeCrawler", "x.example", "1", "other", 503}, // same source, bucket full
		{"CURL/8.0", "x.example.", "maybe", "other", 200},
	}
	for _, tc := range tests {
		resp, body := get(t, hc, "GET", "http://"+tc.host+"/", http.Header{"User-Agent": {tc.ua}}, "")
		if resp.StatusCode != tc.code {
			t.Errorf("%s: status %d, want %d", tc.ua, resp.StatusCode, tc.code)
			continue
		}
		if tc.code != 200 {
			continue
		}
		s := decode(t, body)
		if s.Header.Get("X-Bot") != tc.bot || s.Header.Get("X-Site") != tc.site {
			t.Errorf("%s @ %s: X-Bot %q X-Site %q, want %q %q", tc.ua, tc.host, s.Header.Get("X-Bot"), s.Header.Get("X-Site"), tc.bot, tc.site)
		}
	}
}

func TestMapConfigErrors(t *testing.T) {
	addr := freeAddr(t, "127.0.0.1")
	base := func() *config.HTTP {
		return oneServer(addr, []config.Location{{Match: "/", Return: &config.Return{Code: 200}}})
	}
	tests := []struct {
		name string
		mod  func(*config.HTTP)
		want string
	}{
		{"cycle", func(h *config.HTTP) {
			h.Maps = []config.Map{{Source: "$b", Variable: "$a"}, {Source: "$a", Variable: "$b"}}
		}, "cycle"},
		{"built-in name", func(h *config.HTTP) { h.Maps = []config.Map{{Source: "$uri", Variable: "$host"}} }, "built in"},
		{"unknown variable", func(h *config.HTTP) { h.Maps = []config.Map{{Source: "$nope", Variable: "$a"}} }, "unknown variable"},
		{"duplicate key", func(h *config.HTTP) {
			h.Maps = []config.Map{{Source: "$uri", Variable: "$a", Entries: []config.MapEntry{{Match: "X", Value: "1"}, {Match: "x", Value: "2"}}}}
		}, "conflicting"},
		{"unknown zone", func(h *config.HTTP) {
			h.Servers[0].Locations[0].LimitReq = []config.LimitReq{{Zone: "nope"}}
		}, "unknown zone"},
		{"zone key", func(h *config.HTTP) {
			h.LimitReqZones = []config.LimitReqZone{{Name: "z", Key: "$nope", Rate: 1}}
		}, "unknown variable"},
		{"zone too small", func(h *config.HTTP) {
			h.LimitReqZones = []config.LimitReqZone{{Name: "z", Key: "$remote_addr", Rate: 1, Size: 4096}}
		}, "too small"},
		{"limit status", func(h *config.HTTP) {
			h.LimitReqZones = []config.LimitReqZone{{Name: "z", Key: "$remote_addr", Rate: 1}}
			h.Servers[0].Locations[0].LimitReq = []config.LimitReq{{Zone: "z"}}
			h.Servers[0].Locations[0].LimitReqStatus = 200
		}, "between 400 and 599"},
		{"duplicate limit", func(h *config.HTTP) {
			h.LimitReqZones = []config.LimitReqZone{{Name: "z", Key: "$remote_addr", Rate: 1}}
			h.Servers[0].Locations[0].LimitReq = []config.LimitReq{{Zone: "z"}, {Zone: "z", Burst: 1}}
		}, "duplicate"},
	}
	for _, tc := range tests {
		h := base()
		tc.mod(h)
		err := New(Options{Logger: testLogger(t)}).Apply(context.Background(), h)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestLimitZonesSurviveReload: a zone whose key and size are unchanged
// keeps its state across Apply and takes the new rate.
func TestLimitZonesSurviveReload(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	ft := &fakeTime{t: time.Unix(1_800_000_000, 0)}
	cfg := l7mdConfig(addr, be.addr)
	p := startProxyOpts(t, cfg, Options{Now: ft.now, Wait: ft.wait})
	hc := client(addr)
	statuses(t, hc, "http://x/lr", 3) // excess 2000: full
	cfg2 := l7mdConfig(addr, be.addr)
	cfg2.LimitReqZones[0].Rate = 2
	if err := p.Apply(context.Background(), cfg2); err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, hc, "http://x/lr", 1); got[0] != 503 {
		t.Errorf("state lost in the reload: %v", got)
	}
	// At 2r/s, 500 ms leak one request.
	ft.t = ft.t.Add(500 * time.Millisecond)
	if got := statuses(t, hc, "http://x/lr", 2); !slices.Equal(got, []int{200, 503}) {
		t.Errorf("new rate not applied: %v", got)
	}
}

// TestLimitReqKeysAndDelay: keys from request headers and cookies (an
// absent one is an empty key, never limited) and delay=N: the first N
// excess requests go at once, later ones wait (excess − N·1000)/rate.
func TestLimitReqKeysAndDelay(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	ft := &fakeTime{t: time.Unix(1_800_000_000, 0)}
	cfg := oneServer(addr, []config.Location{
		{Match: "/api", ProxyPass: "http://" + be.addr, LimitReq: []config.LimitReq{{Zone: "key", Burst: 3, Delay: 1}}},
		{Match: "/app", ProxyPass: "http://" + be.addr, LimitReq: []config.LimitReq{{Zone: "session", NoDelay: true}}},
	})
	cfg.LimitReqZones = []config.LimitReqZone{
		{Name: "key", Key: "$http_x_api_key", Rate: 1},
		{Name: "session", Key: "$cookie_session", Rate: 1},
	}
	startProxyOpts(t, cfg, Options{Now: ft.now, Wait: ft.wait})
	hc := client(addr)
	send := func(path string, h http.Header) int {
		resp, _ := get(t, hc, "GET", "http://x"+path, h, "")
		return resp.StatusCode
	}
	var got []int
	for range 5 {
		got = append(got, send("/api", http.Header{"X-Api-Key": {"A"}}))
	}
	if want := []int{200, 200, 200, 200, 503}; !slices.Equal(got, want) {
		t.Errorf("key A: %v, want %v", got, want)
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(ft.waits, want) {
		t.Errorf("waits %v, want %v", ft.waits, want)
	}
	if send("/api", http.Header{"X-Api-Key": {"B"}}) != 200 {
		t.Error("key B limited by key A's bucket")
	}
	for range 5 {
		if send("/api", nil) != 200 || send("/app", nil) != 200 {
			t.Fatal("a request without a key was limited")
		}
	}
	c := http.Header{"Cookie": {"session=s1; other=x"}}
	if a, b := send("/app", c), send("/app", c); a != 200 || b != 503 {
		t.Errorf("cookie key: %d %d, want 200 503", a, b)
	}
	if send("/app", http.Header{"Cookie": {"session=s2"}}) != 200 {
		t.Error("another session limited")
	}
}
