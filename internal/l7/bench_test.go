package l7

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// discardWriter is a minimal ResponseWriter, so that the benchmark counts
// the proxy's work and not a recorder's.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchSetup starts a 1 KiB backend, a Fulcrum proxy to it and returns
// the proxy's handler, a plain httputil.ReverseProxy (Rewrite with SetURL
// and SetXForwarded, a tuned Transport) and a request factory.
func benchSetup(tb testing.TB) (fulcrum, plain http.Handler, newReq func() *http.Request) {
	payload := strings.Repeat("x", 1024)
	be := newBackend(tb, "bench")
	be.setHandler(func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, payload)
		return true
	})
	addr := freeAddr(tb, "127.0.0.1")
	p := startProxyOpts(tb, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: servers(be.addr)}), Options{Logger: testLogger(tb)})
	fulcrum = handler{inst: p.listeners[addr].cur.Load()}

	target, _ := url.Parse("http://" + be.addr)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tb.Cleanup(tr.CloseIdleConnections)
	plain = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport:  tr,
		BufferPool: newBufferPool(),
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(addr.Port())}
	newReq = func() *http.Request {
		r, _ := http.NewRequestWithContext(context.WithValue(context.Background(), http.LocalAddrContextKey, local),
			http.MethodGet, "http://example.com/index.html?a=1", nil)
		r.RequestURI = "/index.html?a=1"
		r.RemoteAddr = "127.0.0.1:40000"
		return r
	}
	return fulcrum, plain, newReq
}

func serveOnce(tb testing.TB, h http.Handler, r *http.Request, w *discardWriter) {
	clear(w.h)
	w.status = 0
	h.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		tb.Fatalf("status %d", w.status)
	}
}

// loopPath runs the request path b.N times and returns ns and allocations
// per request.
func loopPath(b *testing.B, h http.Handler, newReq func() *http.Request) (ns, allocs float64) {
	b.ReportAllocs()
	w := &discardWriter{h: http.Header{}}
	serveOnce(b, h, newReq(), w) // warm the connection pool
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	n := 0
	for b.Loop() {
		serveOnce(b, h, newReq(), w)
		n++
	}
	el := time.Since(start)
	runtime.ReadMemStats(&m1)
	return float64(el.Nanoseconds()) / float64(n), float64(m1.Mallocs-m0.Mallocs) / float64(n)
}

// BenchmarkProxyPath measures one proxied GET (1 KiB response, keep-alive
// upstream) through Fulcrum's handler and through a plain
// httputil.ReverseProxy; the fulcrum run reports its cost relative to the
// plain one (x-ns, x-allocs; 1.0 = the same). Server-side (front) costs
// are excluded: both handlers are called directly.
func BenchmarkProxyPath(b *testing.B) {
	fulcrum, plain, newReq := benchSetup(b)
	var baseNs, baseAllocs float64
	b.Run("httputil", func(b *testing.B) {
		baseNs, baseAllocs = loopPath(b, plain, newReq)
	})
	b.Run("fulcrum", func(b *testing.B) {
		ns, allocs := loopPath(b, fulcrum, newReq)
		if baseNs > 0 {
			b.ReportMetric(ns/baseNs, "x-ns")
			b.ReportMetric(allocs/baseAllocs, "x-allocs")
		}
	})
}

// TestProxyPathAllocs keeps the proxy path's allocations within a budget
// over plain httputil.ReverseProxy: the routing, balancing, forwarding
// headers, retry bookkeeping and per-attempt timeout must not cost more
// than that.
func TestProxyPathAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	fulcrum, plain, newReq := benchSetup(t)
	w := &discardWriter{h: http.Header{}}
	serveOnce(t, plain, newReq(), w)
	serveOnce(t, fulcrum, newReq(), w)
	base := testing.AllocsPerRun(200, func() { serveOnce(t, plain, newReq(), w) })
	ours := testing.AllocsPerRun(200, func() { serveOnce(t, fulcrum, newReq(), w) })
	t.Logf("allocs/request: httputil %.1f, fulcrum %.1f", base, ours)
	const budget = 25
	if ours > base+budget {
		t.Errorf("fulcrum allocates %.1f per request, httputil %.1f: over the budget of +%d", ours, base, budget)
	}
}
