package l7

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// fixedClock is a clock in a +02:00 zone that does not move.
func fixedClock() func() time.Time {
	t := time.Date(2026, time.March, 7, 9, 5, 3, 0, time.FixedZone("", 2*3600))
	return func() time.Time { return t }
}

// TestAccessLogFormats checks both formats line by line: nginx's
// "combined" (ngx_http_log_module.c, escaping by ngx_http_log_escape,
// "-" for a variable not found) and Fulcrum's JSON.
func TestAccessLogFormats(t *testing.T) {
	now := fixedClock()()
	entries := []logEntry{
		{remoteAddr: "192.0.2.1", time: now, method: "GET", uri: "/index.html?a=1", proto: "HTTP/1.1", status: 200,
			bodyBytesSent: 612, referer: "http://example.com/", hasReferer: true, userAgent: "curl/8.0", hasUserAgent: true,
			host: "example.com", serverName: "example.com", upstream: "web", upstreamAddr: "10.0.0.1:80", upstreamCode: 200,
			requestTime: 12 * time.Millisecond},
		{remoteAddr: "2001:db8::1", time: now, method: "POST", uri: "/q\"x\\y", proto: "HTTP/2.0", status: 502,
			remoteUser: "alice", hasUser: true, userAgent: "", hasUserAgent: true, host: "h"},
		{remoteAddr: "198.51.100.9", time: now, method: "GET", uri: "/caf\xc3\xa9\x01", proto: "HTTP/1.0", status: 0,
			userAgent: "Mozilla/5.0 \"quoted\"\tTab", hasUserAgent: true},
	}
	var combined, js bytes.Buffer
	for i := range entries {
		combined.Write(appendCombined(nil, &entries[i]))
		combined.WriteByte('\n')
		line := appendJSONEntry(nil, &entries[i])
		if !json.Valid(line) {
			t.Errorf("entry %d: invalid JSON %s", i, line)
		}
		js.Write(line)
		js.WriteByte('\n')
	}
	golden(t, "accesslog_combined.golden", combined.Bytes())
	golden(t, "accesslog_json.golden", js.Bytes())
}

// TestAccessLogEndToEnd: requests through the proxy are logged to the
// configured file in the configured format.
func TestAccessLogEndToEnd(t *testing.T) {
	for _, format := range []string{"combined", "json"} {
		t.Run(format, func(t *testing.T) {
			be := newBackend(t, "one")
			be.setHandler(func(w http.ResponseWriter, _ *http.Request) bool {
				_, _ = w.Write([]byte("hello\n"))
				return true
			})
			addr := freeAddr(t, "127.0.0.1")
			path := filepath.Join(t.TempDir(), "access.log")
			cfg := oneServer(addr, []config.Location{
				{Match: "/", ProxyPass: "http://up"},
				{Match: "= /teapot", Return: &config.Return{Code: 418, Text: "short and stout\n"}},
			}, config.Upstream{Name: "up", Servers: servers(be.addr)})
			cfg.Servers[0].ServerNames = []string{"example.com"}
			cfg.AccessLog = config.AccessLog{Path: path, Format: format}
			p := startProxyOpts(t, cfg, Options{Now: fixedClock()})
			hc := client(addr)
			get(t, hc, "GET", "http://x/a?b=c", http.Header{"Host": {"example.com"}, "User-Agent": {"test/1.0"}, "Referer": {"http://r/"}}, "")
			get(t, hc, "GET", "http://x/teapot", http.Header{"Host": {"example.com"}, "User-Agent": {"test/1.0"}}, "")
			ctxClose(t, p)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out := strings.ReplaceAll(string(b), be.addr, "BACKEND")
			golden(t, "accesslog_e2e_"+format+".golden", []byte(out))
		})
	}
}

func ctxClose(t *testing.T, p *Proxy) {
	t.Helper()
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAccessLogStdout: access_log "-" writes to Options.Stdout; a reload
// with another format switches the format.
func TestAccessLogStdout(t *testing.T) {
	addr := freeAddr(t, "127.0.0.1")
	var out syncBuffer
	cfg := oneServer(addr, []config.Location{{Match: "/", Return: &config.Return{Code: 204}}})
	cfg.AccessLog = config.AccessLog{Path: "-"}
	p := startProxyOpts(t, cfg, Options{Stdout: &out, Now: fixedClock()})
	get(t, client(addr), "GET", "http://x/one", nil, "")
	cfg2 := oneServer(addr, []config.Location{{Match: "/", Return: &config.Return{Code: 204}}})
	cfg2.AccessLog = config.AccessLog{Path: "-", Format: "json"}
	if err := p.Apply(context.Background(), cfg2); err != nil {
		t.Fatal(err)
	}
	get(t, client(addr), "GET", "http://x/two", nil, "")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `127.0.0.1 - - [07/Mar/2026:09:05:03 +0200] "GET /one HTTP/1.1" 204 0 "-" "Go-http-client/1.1"`) ||
		!strings.Contains(lines[1], `"uri":"/two"`) {
		t.Errorf("log %q", lines)
	}
	bad := oneServer(addr, nil)
	bad.AccessLog = config.AccessLog{Path: "-", Format: "apache"}
	if err := p.Apply(context.Background(), bad); err == nil {
		t.Errorf("unknown format accepted")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
