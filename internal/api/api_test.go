package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// memAdmin is a tiny Admin holding services in memory, enough to exercise
// the HTTP transport: encoding, error codes, methods and authentication.
type memAdmin struct {
	mu   sync.Mutex
	svcs []Service
	t    Timeouts
}

func (m *memAdmin) Info(context.Context) (Info, error) {
	return Info{IPVSVersion: "1.2.1", ConnTabSize: 4096}, nil
}
func (m *memAdmin) Services(context.Context) ([]Service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Service(nil), m.svcs...), nil
}
func (m *memAdmin) Conns(context.Context) ([]Conn, error) { return []Conn{}, nil }
func (m *memAdmin) AddService(_ context.Context, s Service) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.svcs {
		if o.ServiceKey == s.ServiceKey {
			return Errorf(CodeServiceExists, "service exists")
		}
	}
	m.svcs = append(m.svcs, s)
	return nil
}
func (m *memAdmin) EditService(context.Context, Service) error { return nil }
func (m *memAdmin) DeleteService(context.Context, ServiceKey) error {
	return Errorf(CodeNoService, "no such service")
}
func (m *memAdmin) Clear(context.Context) error                          { return nil }
func (m *memAdmin) AddReal(context.Context, ServiceKey, Real) error      { return nil }
func (m *memAdmin) EditReal(context.Context, ServiceKey, Real) error     { return nil }
func (m *memAdmin) DeleteReal(context.Context, ServiceKey, string) error { return nil }
func (m *memAdmin) Zero(context.Context, *ServiceKey) error              { return nil }
func (m *memAdmin) Timeouts(context.Context) (Timeouts, error)           { return m.t, nil }
func (m *memAdmin) SetTimeouts(_ context.Context, t Timeouts) error      { m.t = t; return nil }
func (m *memAdmin) Reload(context.Context) error                         { return errors.New("disk on fire") }

func unixServer(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestClientServerRoundTripKeepsErrorCodes(t *testing.T) {
	adm := &memAdmin{}
	c := NewClient(unixServer(t, NewHandler(adm, ServerOptions{})), "")
	ctx := t.Context()
	s := Service{ServiceKey: ServiceKey{Protocol: "tcp", Address: "10.0.0.1:80"}, Scheduler: "wrr"}
	if err := c.AddService(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := c.AddService(ctx, s); CodeOf(err) != CodeServiceExists {
		t.Fatalf("second add: %v (code %s), want %s", err, CodeOf(err), CodeServiceExists)
	}
	if err := c.DeleteService(ctx, ServiceKey{Protocol: "udp", Address: "10.0.0.1:53"}); CodeOf(err) != CodeNoService {
		t.Fatalf("delete missing: %v, want %s", err, CodeNoService)
	}
	got, err := c.Services(ctx)
	if err != nil || len(got) != 1 || got[0].Scheduler != "wrr" || got[0].Address != "10.0.0.1:80" {
		t.Fatalf("services = %+v, %v", got, err)
	}
	if err := c.SetTimeouts(ctx, Timeouts{TCP: 100, UDP: 50}); err != nil {
		t.Fatal(err)
	}
	if to, _ := c.Timeouts(ctx); to != (Timeouts{TCP: 100, UDP: 50}) {
		t.Fatalf("timeouts = %+v", to)
	}
	// An untyped error from the backend becomes CodeInternal, with its text.
	if err := c.Reload(ctx); CodeOf(err) != CodeInternal || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("reload: %v", err)
	}
}

func TestServerRejectsWrongMethodsAndContentTypes(t *testing.T) {
	srv := httptest.NewServer(NewHandler(&memAdmin{}, ServerOptions{}))
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path, ctype string
		want                      int
	}{
		{"mutation by GET", http.MethodGet, PathAddService, "", http.StatusMethodNotAllowed},
		{"read by POST", http.MethodPost, PathServices, "application/json", http.StatusMethodNotAllowed},
		{"form post (CSRF shape)", http.MethodPost, PathClear, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"json post", http.MethodPost, PathClear, "application/json", http.StatusOK},
		{"unknown field", http.MethodPost, PathAddService, "application/json", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := "{}"
			if tc.name == "unknown field" {
				body = `{"protocol":"tcp","adress":"1.2.3.4:80"}`
			}
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
			}
		})
	}
}

func TestTokenRequiredOnTCP(t *testing.T) {
	srv := httptest.NewServer(NewHandler(&memAdmin{}, ServerOptions{Token: "s3cret"}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if _, err := NewClient(addr, "").Info(t.Context()); CodeOf(err) != CodeUnauthorized {
		t.Fatalf("no token: %v, want %s", err, CodeUnauthorized)
	}
	if _, err := NewClient(addr, "wrong").Info(t.Context()); CodeOf(err) != CodeUnauthorized {
		t.Fatalf("wrong token: %v, want %s", err, CodeUnauthorized)
	}
	info, err := NewClient(addr, "s3cret").Info(t.Context())
	if err != nil || info.ConnTabSize != 4096 {
		t.Fatalf("right token: %+v %v", info, err)
	}
}

func TestMetricsFromAdmin(t *testing.T) {
	adm := &memAdmin{svcs: []Service{{
		ServiceKey: ServiceKey{Protocol: "tcp", Address: "10.0.0.1:80"},
		Stats:      Stats{Conns: 7, InBytes: 100},
		Reals:      []Real{{Address: "10.0.0.2:80", Weight: 3, ActiveConns: 2, Stats: Stats{Conns: 7}}},
	}}}
	srv := httptest.NewServer(NewMetricsHandler(adm))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	b := string(raw)
	for _, want := range []string{
		`fulcrum_service_connections_total{service="tcp/10.0.0.1:80"} 7`,
		`fulcrum_service_bytes_total{direction="in",service="tcp/10.0.0.1:80"} 100`,
		`fulcrum_real_active_connections{real="10.0.0.2:80",service="tcp/10.0.0.1:80"} 2`,
		`fulcrum_real_weight{real="10.0.0.2:80",service="tcp/10.0.0.1:80"} 3`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
