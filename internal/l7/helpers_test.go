package l7

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// testLogger sends the proxy's log to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// seen is what a backend received.
type seen struct {
	Name   string      `json:"name"`
	Method string      `json:"method"`
	URI    string      `json:"uri"`
	Host   string      `json:"host"`
	Proto  string      `json:"proto"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

// backend is a real HTTP server on a loopback socket that answers with a
// JSON description of the request and its own name.
type backend struct {
	name string
	addr string
	ln   net.Listener
	srv  *http.Server

	conns atomic.Int32 // connections accepted

	mu     sync.Mutex
	reqs   []seen
	handle func(w http.ResponseWriter, r *http.Request) bool // true: handled
}

func newBackend(t testing.TB, name string) *backend {
	t.Helper()
	return newBackendOn(t, name, "127.0.0.1:0")
}

func newBackendOn(t testing.TB, name, addr string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String(), ln: ln}
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				b.conns.Add(1)
			}
		}}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(b.close)
	return b
}

func (b *backend) close() { _ = b.srv.Close() }

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := seen{Name: b.name, Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto, Header: r.Header.Clone(), Body: string(body)}
	b.mu.Lock()
	b.reqs = append(b.reqs, s)
	h := b.handle
	b.mu.Unlock()
	if h != nil && h(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Backend", b.name)
	_ = json.NewEncoder(w).Encode(s)
}

func (b *backend) setHandler(h func(w http.ResponseWriter, r *http.Request) bool) {
	b.mu.Lock()
	b.handle = h
	b.mu.Unlock()
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

func (b *backend) last() seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		return seen{}
	}
	return b.reqs[len(b.reqs)-1]
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().(*net.TCPAddr).AddrPort()
	_ = ln.Close()
	return a
}

// deadAddr returns an address where nothing listens.
func deadAddr(t testing.TB) string { return freeAddr(t, "127.0.0.1").String() }

func startProxy(t testing.TB, cfg *config.HTTP) *Proxy {
	t.Helper()
	return startProxyOpts(t, cfg, Options{})
}

func startProxyOpts(t testing.TB, cfg *config.HTTP, opt Options) *Proxy {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = testLogger(t)
	}
	if opt.DrainDelay == 0 {
		opt.DrainDelay = 20 * time.Millisecond
	}
	p := New(opt)
	if err := p.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

// client returns an HTTP client that connects to addr whatever the URL
// says and does not follow redirects.
func client(addr netip.AddrPort) *http.Client {
	d := net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr.String())
		},
		DisableCompression: true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get sends a request through c and returns the response with its body.
func get(t testing.TB, c *http.Client, method, url string, hdr http.Header, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// decode reads a backend's JSON answer.
func decode(t testing.TB, body string) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("not a backend answer: %q: %v", body, err)
	}
	return s
}

// rawRequest writes bytes on a new connection and reads one response.
func rawRequest(t testing.TB, addr netip.AddrPort, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// rawGet sends "GET target" with a Host header byte for byte, so the
// request-target reaches the proxy exactly as written.
func rawGet(t testing.TB, addr netip.AddrPort, target, host string) (*http.Response, string) {
	t.Helper()
	return rawRequest(t, addr, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
}

// testCert writes a self-signed certificate for names to dir and returns
// the file names and the parsed certificate.
func testCert(t testing.TB, dir, stem string, names ...string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, stem+".crt")
	keyFile = filepath.Join(dir, stem+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// oneServer is a config with one virtual server on addr.
func oneServer(addr netip.AddrPort, locs []config.Location, ups ...config.Upstream) *config.HTTP {
	return &config.HTTP{
		Servers:   []config.HTTPServer{{Listen: []config.HTTPListen{{Address: addr}}, Locations: locs}},
		Upstreams: ups,
	}
}

func servers(addrs ...string) []config.UpstreamServer {
	out := make([]config.UpstreamServer, len(addrs))
	for i, a := range addrs {
		out[i] = config.UpstreamServer{Address: a}
	}
	return out
}

// eventually polls cond until it holds or the time is up.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
