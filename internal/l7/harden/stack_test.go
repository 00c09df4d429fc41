package harden

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// seen is one request as the backend received it.
type seen struct {
	method  string
	uri     string
	host    string
	header  http.Header
	body    string
	bodyErr error
}

// backend is an origin server that records what reaches it.
type backend struct {
	url *url.URL
	mu  sync.Mutex
	got []seen
}

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

func newBackend(t *testing.T) *backend {
	t.Helper()
	be := &backend{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          quietLog(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			be.mu.Lock()
			be.got = append(be.got, seen{method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Clone(), body: string(body), bodyErr: err})
			be.mu.Unlock()
			if strings.HasPrefix(r.URL.Path, "/slow") {
				time.Sleep(200 * time.Millisecond)
			}
			_, _ = io.WriteString(w, "ok")
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	be.url = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	return be
}

func (be *backend) count() int {
	be.mu.Lock()
	defer be.mu.Unlock()
	return len(be.got)
}

// since returns the requests recorded after the first n.
func (be *backend) since(n int) []seen {
	be.mu.Lock()
	defer be.mu.Unlock()
	return slices.Clone(be.got[n:])
}

// requests returns the recorded requests whose URI contains sub.
func (be *backend) requests(sub string) []seen {
	be.mu.Lock()
	defer be.mu.Unlock()
	var out []seen
	for _, s := range be.got {
		if strings.Contains(s.uri, sub) {
			out = append(out, s)
		}
	}
	return out
}

// proxyFor is the reverse proxy the L7 core builds on: Go's
// httputil.ReverseProxy with Rewrite (SetURL + SetXForwarded), the
// recommended form (reliability.md §2.3: never Director).
func proxyFor(be *backend) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(be.url)
			pr.SetXForwarded()
		},
		ErrorLog: quietLog(),
	}
}

// testHost is the name the hardened proxy serves.
const testHost = "fulcrum.test"

// startPlain serves the proxy the way net/http does by default.
func startPlain(t *testing.T, h http.Handler) string {
	t.Helper()
	return startWith(t, h, func(ln net.Listener) net.Listener { return ln })
}

// startWith serves h on a default http.Server through wrap(listener).
func startWith(t *testing.T, h http.Handler, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: quietLog()}
	go func() { _ = srv.Serve(wrap(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// startHardened serves h behind everything this package offers, as the L7
// core is meant to: Listener, Handler and ServerTimeouts.
func startHardened(t *testing.T, h http.Handler, lim config.HTTPLimits, opt Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opt.Hosts == nil {
		opt.Hosts = []string{testHost}
	}
	srv := &http.Server{Handler: Handler(h, opt), ErrorLog: quietLog()}
	ServerTimeouts(srv, lim)
	go func() { _ = srv.Serve(Listener(ln, lim)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// exchange is what a raw client saw: the status of every response read, in
// order, and whether the server closed the connection.
type exchange struct {
	statuses []int
	bodies   []string
	closed   bool
}

// rawExchange writes raw to addr in one go and reads responses until the
// server closes the connection or wait passes.
func rawExchange(t *testing.T, addr, raw string, wait time.Duration) exchange {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	go func() { _, _ = io.WriteString(c, raw) }()
	return readResponses(c)
}

func readResponses(c net.Conn) exchange {
	var ex exchange
	br := bufio.NewReader(c)
	for {
		if _, err := br.Peek(1); err != nil {
			ex.closed = errors.Is(err, io.EOF) || isReset(err)
			return ex
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			ex.closed = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)
			return ex
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		ex.statuses = append(ex.statuses, res.StatusCode)
		ex.bodies = append(ex.bodies, string(body))
		if err != nil {
			ex.closed = true
			return ex
		}
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// get does one request with a fresh client and returns the status.
func get(ctx context.Context, addr, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
	if err != nil {
		return 0, err
	}
	req.Host = testHost
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}
