package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// hookServer records webhook requests; status picks each reply by call
// number (1-based).
type hookServer struct {
	*httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	bodies [][]byte
	ctypes []string
}

func startHook(t *testing.T, status func(call int32, w http.ResponseWriter, r *http.Request) int) *hookServer {
	t.Helper()
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := h.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.ctypes = append(h.ctypes, r.Header.Get("Content-Type"))
		h.mu.Unlock()
		code := http.StatusNoContent
		if r.Method != http.MethodPost {
			code = http.StatusMethodNotAllowed
		} else if status != nil {
			code = status(call, w, r)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func TestWebhookPayload(t *testing.T) {
	h := startHook(t, nil)
	n, _ := newTestNotifier(t, config.Global{RouterID: "lb1", Webhook: h.URL + "/hook"})
	vs := config.ServiceKey{Protocol: config.UDP, Address: netip.MustParseAddrPort("[2001:db8::1]:53")}
	ev := QuorumEvent(vs, false, QuorumBody(false, false, 3, 1, 2, 1))
	ev.Time = time.Date(2025, 3, 4, 5, 6, 7, 8000000, time.FixedZone("CET", 3600))
	n.Notify(ev)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if h.calls.Load() != 1 {
		t.Fatalf("%d calls, want 1", h.calls.Load())
	}
	checkGolden(t, "webhook.golden.json", h.bodies[0])
	if h.ctypes[0] != "application/json" {
		t.Errorf("Content-Type %q", h.ctypes[0])
	}
	var p map[string]string
	if err := json.Unmarshal(h.bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"time":      "2025-03-04T04:06:07.008Z",
		"router_id": "lb1",
		"kind":      "virtualserver",
		"object":    "[2001:db8::1]:udp:53",
		"state":     "DOWN",
		"subject":   "Virtualserver [2001:db8::1]:udp:53 - DOWN",
		"body":      "=> Lost quorum 3+1=2 <= 1 <=",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	if len(p) != len(want) {
		t.Errorf("payload has fields %v, want exactly %v", p, want)
	}
}

func TestWebhookRetry(t *testing.T) {
	tests := []struct {
		name      string
		status    func(call int32, w http.ResponseWriter, r *http.Request) int
		wantCalls int32
		wantErr   bool
	}{
		{"success", nil, 1, false},
		{"5xx then success", func(c int32, _ http.ResponseWriter, _ *http.Request) int {
			if c == 1 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		}, 2, false},
		{"429 then success", func(c int32, _ http.ResponseWriter, _ *http.Request) int {
			if c == 1 {
				return http.StatusTooManyRequests
			}
			return http.StatusAccepted
		}, 2, false},
		{"5xx twice: one retry only", func(int32, http.ResponseWriter, *http.Request) int {
			return http.StatusBadGateway
		}, 2, true},
		{"4xx is final", func(int32, http.ResponseWriter, *http.Request) int {
			return http.StatusBadRequest
		}, 1, true},
		{"a redirect is not followed", func(_ int32, w http.ResponseWriter, _ *http.Request) int {
			w.Header().Set("Location", "/elsewhere")
			return http.StatusFound
		}, 1, true},
		{"timeout then success", func(c int32, _ http.ResponseWriter, r *http.Request) int {
			if c == 1 {
				<-r.Context().Done() // hang until the client gives up
			}
			return http.StatusOK
		}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHook(t, tt.status)
			n, _ := newTestNotifier(t, config.Global{Webhook: h.URL}, func(o *Options) { o.WebhookTimeout = 200 * time.Millisecond })
			err := n.hook.post(context.Background(), Payload{Kind: "k"})
			if (err != nil) != tt.wantErr {
				t.Errorf("post = %v, want error %v", err, tt.wantErr)
			}
			if got := h.calls.Load(); got != tt.wantCalls {
				t.Errorf("%d calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestWebhookConfig(t *testing.T) {
	for _, u := range []string{"ftp://example.com/x", "http://", "/relative", "http://[::1"} {
		if _, err := New(Options{Global: config.Global{Webhook: u}, LookupUser: withoutKeepalivedScript}); err == nil {
			t.Errorf("webhook %q accepted", u)
		}
	}
	// Credentials in the URL stay out of logs.
	n, _ := newTestNotifier(t, config.Global{Webhook: "https://user:secret@example.com/h"})
	if strings.Contains(n.hook.redacted, "secret") {
		t.Errorf("redacted URL %q shows the password", n.hook.redacted)
	}
}
