package harden

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// TestHandlerTable drives Handler directly with server-side requests, one
// row per option and rule.
func TestHandlerTable(t *testing.T) {
	type row struct {
		name   string
		opt    Options
		req    func() *http.Request
		status int                        // 0: passed on to next
		check  func(*http.Request) string // on the request next saw: "" if fine
	}
	mk := func(method, target string, hdr ...string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(method, target, nil)
			r.RemoteAddr = "192.0.2.7:5555"
			for i := 0; i+1 < len(hdr); i += 2 {
				r.Header.Add(hdr[i], hdr[i+1])
			}
			return r
		}
	}
	has := func(name, want string) func(*http.Request) string {
		return func(r *http.Request) string {
			if got := r.Header.Get(name); got != want {
				return fmt.Sprintf("%s = %q; want %q", name, got, want)
			}
			return ""
		}
	}
	present := func(name string, want bool) func(*http.Request) string {
		return func(r *http.Request) string {
			if _, ok := r.Header[name]; ok != want {
				return fmt.Sprintf("%s present=%v; want %v", name, ok, want)
			}
			return ""
		}
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	rows := []row{
		{name: "GET passes", req: mk("GET", "/a"), status: 0},
		{name: "CONNECT", req: mk("CONNECT", "/"), status: 405},
		{name: "TRACE", req: mk("TRACE", "/a"), status: 405},
		{name: "PRI", req: func() *http.Request {
			r := mk("PRI", "/")()
			r.RequestURI = "*"
			return r
		}, status: 400},
		{name: "OPTIONS asterisk passes", req: func() *http.Request {
			r := mk("OPTIONS", "/")()
			r.RequestURI = "*"
			return r
		}, status: 0},
		{name: "absolute form, no Hosts", req: mk("GET", "http://fulcrum.test/a"), status: 421},
		{name: "absolute form, exact host", opt: Options{Hosts: []string{"Fulcrum.Test."}}, req: mk("GET", "http://fulcrum.test:8080/a"), status: 0},
		{name: "absolute form, wildcard", opt: Options{Hosts: []string{"*.example.com"}}, req: mk("GET", "http://a.b.example.com/"), status: 0},
		{name: "absolute form, wildcard is no apex", opt: Options{Hosts: []string{"*.example.com"}}, req: mk("GET", "http://example.com/"), status: 421},
		{name: "absolute form, foreign", opt: Options{Hosts: []string{"fulcrum.test"}}, req: mk("GET", "http://evil.example/"), status: 421},
		{name: "dot-dot above root", req: mk("GET", "/a/../../b"), status: 400},
		{name: "encoded dot-dot above root", req: mk("GET", "/%2e%2e/b"), status: 400},
		{name: "dot-dot inside", req: mk("GET", "/a/../b"), status: 0},
		{name: "%00", req: mk("GET", "/a%00b"), status: 400},
		{name: "encoded slash kept by default", req: mk("GET", "/a%2Fb"), status: 0},
		{name: "encoded slash refused", opt: Options{RejectEncodedSlash: true}, req: mk("GET", "/a%2fb?x=%2F"), status: 400},
		{name: "encoded backslash refused", opt: Options{RejectEncodedSlash: true}, req: mk("GET", "/a%5Cb"), status: 400},
		{name: "encoded slash in query only", opt: Options{RejectEncodedSlash: true}, req: mk("GET", "/a?x=%2F"), status: 0},
		{name: "too many header values", opt: Options{MaxHeaders: 3}, req: mk("GET", "/", "A", "1", "A", "2", "B", "3", "C", "4"), status: 431},
		{name: "header values at the limit", opt: Options{MaxHeaders: 3}, req: mk("GET", "/", "A", "1", "A", "2", "B", "3"), status: 0},
		{name: "underscore dropped", req: mk("GET", "/", "X_Custom", "1", "X-Custom", "2"), check: func(r *http.Request) string {
			if e := present("X_custom", false)(r); e != "" {
				return e
			}
			return has("X-Custom", "2")(r)
		}},
		{name: "underscore allowed", opt: Options{Underscores: UnderscoreAllow}, req: mk("GET", "/", "X_Custom", "1"), check: present("X_custom", true)},
		{name: "underscore refused", opt: Options{Underscores: UnderscoreReject}, req: mk("GET", "/", "X_Custom", "1"), status: 400},
		{name: "underscore forwarding name stripped even when allowed", opt: Options{Underscores: UnderscoreAllow}, req: mk("GET", "/", "X_Forwarded_For", "6.6.6.6"), check: present("X_forwarded_for", false)},
		{name: "underscore forwarding name kept from trusted", opt: Options{Underscores: UnderscoreAllow, TrustedProxies: trusted}, req: mk("GET", "/", "X_Forwarded_For", "6.6.6.6"), check: present("X_forwarded_for", true)},
		{name: "forwarding headers stripped", req: mk("GET", "/", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil", "X-Forwarded-Proto", "https", "Forwarded", "for=6.6.6.6", "X-Real-IP", "6.6.6.6"), check: func(r *http.Request) string {
			for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-Ip"} {
				if e := present(h, false)(r); e != "" {
					return e
				}
			}
			return ""
		}},
		{name: "forwarding headers kept from trusted", opt: Options{TrustedProxies: trusted}, req: mk("GET", "/", "X-Forwarded-For", "6.6.6.6", "X-Real-IP", "6.6.6.6"), check: func(r *http.Request) string {
			if e := has("X-Forwarded-For", "6.6.6.6")(r); e != "" {
				return e
			}
			return has("X-Real-Ip", "6.6.6.6")(r)
		}},
		{name: "mapped IPv4 peer is trusted", opt: Options{TrustedProxies: trusted}, req: func() *http.Request {
			r := mk("GET", "/", "X-Real-IP", "6.6.6.6")()
			r.RemoteAddr = "[::ffff:192.0.2.7]:1"
			return r
		}, check: has("X-Real-Ip", "6.6.6.6")},
		{name: "h2c upgrade stripped", req: mk("GET", "/", "Upgrade", "h2c", "HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA", "Connection", "Upgrade, HTTP2-Settings"), check: func(r *http.Request) string {
			if e := present("Upgrade", false)(r); e != "" {
				return e
			}
			return present("Http2-Settings", false)(r)
		}},
		{name: "h2c token removed from a list", req: mk("GET", "/", "Upgrade", "h2c, websocket"), check: has("Upgrade", "websocket")},
		{name: "websocket upgrade kept", req: mk("GET", "/", "Upgrade", "websocket", "Connection", "Upgrade"), check: has("Upgrade", "websocket")},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			var seen *http.Request
			h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }), tc.opt)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.req())
			if tc.status == 0 {
				if seen == nil {
					t.Fatalf("refused with %d; want passed on", rec.Code)
				}
				if tc.check != nil {
					if e := tc.check(seen); e != "" {
						t.Error(e)
					}
				}
				return
			}
			if seen != nil || rec.Code != tc.status {
				t.Fatalf("status %d, passed=%v; want %d", rec.Code, seen != nil, tc.status)
			}
			if tc.status == 400 && rec.Header().Get("Connection") != "close" {
				t.Error("400 without Connection: close")
			}
			if tc.status == 400 {
				// On HTTP/2 the same refusal must not close the
				// connection (Go would send GOAWAY).
				r := tc.req()
				r.ProtoMajor, r.ProtoMinor, r.Proto = 2, 0, "HTTP/2.0"
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if rec.Code != 400 || rec.Header().Get("Connection") != "" {
					t.Errorf("HTTP/2: status %d Connection %q; want 400 without Connection", rec.Code, rec.Header().Get("Connection"))
				}
			}
			if tc.status == 405 && rec.Header().Get("Allow") == "" {
				t.Error("405 without Allow (RFC 9110 §15.5.6)")
			}
		})
	}
}

// TestHandlerRequestCap: the response to the MaxRequestsPerConn-th request
// of a connection closes it.
func TestHandlerRequestCap(t *testing.T) {
	h := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), Options{MaxRequestsPerConn: 2})
	ctx := withConnInfo(context.Background())
	for i, want := range []string{"", "close", "close"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
		if got := rec.Header().Get("Connection"); got != want {
			t.Errorf("request %d: Connection %q; want %q", i+1, got, want)
		}
	}
	// Unlimited, and without ServerTimeouts' context: never.
	for _, opt := range []Options{{MaxRequestsPerConn: -1}, {}} {
		h := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), opt)
		c := ctx
		if opt.MaxRequestsPerConn == 0 {
			c = context.Background()
		}
		for range 3 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(c))
			if rec.Header().Get("Connection") != "" {
				t.Fatalf("%+v: connection closed", opt)
			}
		}
	}
}

func TestWithDefaults(t *testing.T) {
	got := WithDefaults(config.HTTPLimits{})
	want := config.HTTPLimits{
		HeaderTimeout: 10 * time.Second, BodyTimeout: 60 * time.Second, KeepaliveTimeout: 75 * time.Second,
		MaxHeaderBytes: 32 << 10, MaxHeaders: 100, MaxBodyBytes: 1 << 20, MaxConcurrentH2: 100,
	}
	if got != want {
		t.Errorf("defaults %+v; want %+v (internal/config/model_http.go)", got, want)
	}
	set := config.HTTPLimits{HeaderTimeout: time.Second, MaxBodyBytes: -1, MaxHeaders: 7}
	if got := WithDefaults(set); got.HeaderTimeout != time.Second || got.MaxBodyBytes != -1 || got.MaxHeaders != 7 {
		t.Errorf("set fields changed: %+v", got)
	}
}

func TestServerSettings(t *testing.T) {
	lim := config.HTTPLimits{HeaderTimeout: 3 * time.Second, KeepaliveTimeout: 9 * time.Second, BodyTimeout: 7 * time.Second, MaxHeaderBytes: 8000, MaxConcurrentH2: 50}
	h2 := HTTP2Config(lim)
	if h2.MaxConcurrentStreams != 50 || h2.MaxReadFrameSize != 16384 || h2.MaxDecoderHeaderTableSize != 4096 ||
		h2.MaxReceiveBufferPerStream != 64<<10 || h2.MaxReceiveBufferPerConnection != 1<<20 || h2.WriteByteTimeout != 7*time.Second {
		t.Errorf("HTTP2Config %+v", h2)
	}
	called := false
	srv := &http.Server{ConnContext: func(ctx context.Context, _ net.Conn) context.Context { called = true; return ctx }}
	ServerTimeouts(srv, lim)
	if srv.ReadHeaderTimeout != 3*time.Second || srv.IdleTimeout != 9*time.Second || srv.MaxHeaderBytes != 8000 ||
		srv.ReadTimeout != 0 || srv.WriteTimeout != 0 || srv.HTTP2 == nil || srv.HTTP2.MaxConcurrentStreams != 50 {
		t.Errorf("ServerTimeouts: %+v", srv)
	}
	ctx := srv.ConnContext(context.Background(), nil)
	if _, ok := ctx.Value(connInfoKey{}).(*connInfo); !ok || !called {
		t.Errorf("ConnContext: conn info %v, previous ConnContext called %v", ok, called)
	}
	// An HTTP2 config already set is kept.
	own := &http.HTTP2Config{MaxConcurrentStreams: 5}
	srv = &http.Server{HTTP2: own}
	ServerTimeouts(srv, lim)
	if srv.HTTP2 != own {
		t.Error("ServerTimeouts replaced an existing HTTP2 config")
	}
}
