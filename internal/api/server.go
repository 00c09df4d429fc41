package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"

	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// Paths of the admin API. Reads are GET; every mutation is a POST with a JSON
// body, so a browser cannot trigger one cross-site without a CORS preflight.
const (
	PathInfo          = "/v1/info"
	PathServices      = "/v1/services"
	PathConns         = "/v1/conns"
	PathTimeouts      = "/v1/timeouts"
	PathAddService    = "/v1/services/add"
	PathEditService   = "/v1/services/edit"
	PathDeleteService = "/v1/services/delete"
	PathClear         = "/v1/services/clear"
	PathAddReal       = "/v1/reals/add"
	PathEditReal      = "/v1/reals/edit"
	PathDeleteReal    = "/v1/reals/delete"
	PathZero          = "/v1/zero"
	PathSetTimeouts   = "/v1/timeouts/set"
	PathReload        = "/v1/reload"
	PathMetrics       = "/metrics"
	PathHealth        = "/healthz"
	PathVRRP          = "/v1/vrrp"
	PathHTTP          = "/v1/http"
)

// RealRequest is the body of the reals endpoints.
type RealRequest struct {
	Service ServiceKey `json:"service"`
	Real    Real       `json:"real"`
}

// ZeroRequest is the body of PathZero; a nil Service zeroes every service.
type ZeroRequest struct {
	Service *ServiceKey `json:"service,omitempty"`
}

// ServerOptions configures NewHandler.
type ServerOptions struct {
	// Token, when non-empty, is required as "Authorization: Bearer <token>"
	// on every request (used on the TCP listener).
	Token string
	// Metrics serves /metrics; nil disables it.
	Metrics http.Handler
	Logger  *slog.Logger
}

// NewHandler exposes adm over HTTP.
func NewHandler(adm Admin, opt ServerOptions) http.Handler {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	get := func(path string, fn func(ctx context.Context) (any, error)) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				writeErr(w, http.StatusMethodNotAllowed, Errorf(CodeInvalid, "%s needs GET", path))
				return
			}
			v, err := fn(r.Context())
			reply(w, log, v, err)
		})
	}
	post := func(path string, fn func(ctx context.Context, body []byte) error) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				writeErr(w, http.StatusMethodNotAllowed, Errorf(CodeInvalid, "%s needs POST", path))
				return
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				writeErr(w, http.StatusUnsupportedMediaType, Errorf(CodeInvalid, "%s needs Content-Type: application/json", path))
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				writeErr(w, http.StatusBadRequest, Errorf(CodeInvalid, "reading request: %v", err))
				return
			}
			reply(w, log, struct{}{}, fn(r.Context(), body))
		})
	}
	get(PathInfo, func(ctx context.Context) (any, error) { return adm.Info(ctx) })
	get(PathServices, func(ctx context.Context) (any, error) { return adm.Services(ctx) })
	get(PathConns, func(ctx context.Context) (any, error) { return adm.Conns(ctx) })
	get(PathTimeouts, func(ctx context.Context) (any, error) { return adm.Timeouts(ctx) })
	get(PathHealth, func(ctx context.Context) (any, error) { return map[string]string{"status": "ok"}, nil })
	if sr, ok := adm.(StatusReader); ok {
		get(PathVRRP, func(ctx context.Context) (any, error) { return sr.VRRP(ctx) })
		get(PathHTTP, func(ctx context.Context) (any, error) { return sr.HTTP(ctx) })
	}

	post(PathAddService, withBody(func(ctx context.Context, s Service) error { return adm.AddService(ctx, s) }))
	post(PathEditService, withBody(func(ctx context.Context, s Service) error { return adm.EditService(ctx, s) }))
	post(PathDeleteService, withBody(func(ctx context.Context, k ServiceKey) error { return adm.DeleteService(ctx, k) }))
	post(PathClear, func(ctx context.Context, _ []byte) error { return adm.Clear(ctx) })
	post(PathAddReal, withBody(func(ctx context.Context, q RealRequest) error { return adm.AddReal(ctx, q.Service, q.Real) }))
	post(PathEditReal, withBody(func(ctx context.Context, q RealRequest) error { return adm.EditReal(ctx, q.Service, q.Real) }))
	post(PathDeleteReal, withBody(func(ctx context.Context, q RealRequest) error {
		return adm.DeleteReal(ctx, q.Service, q.Real.Address)
	}))
	post(PathZero, withBody(func(ctx context.Context, q ZeroRequest) error { return adm.Zero(ctx, q.Service) }))
	post(PathSetTimeouts, withBody(func(ctx context.Context, t Timeouts) error { return adm.SetTimeouts(ctx, t) }))
	post(PathReload, func(ctx context.Context, _ []byte) error { return adm.Reload(ctx) })
	if opt.Metrics != nil {
		mux.Handle(PathMetrics, opt.Metrics)
	}
	// Go profiles, on the admin listeners only (the unix socket, or TCP
	// with the token): `go tool pprof` against a live node.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if opt.Token == "" {
		return mux
	}
	want := []byte("Bearer " + opt.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fulcrum"`)
			writeErr(w, http.StatusUnauthorized, Errorf(CodeUnauthorized, "admin API: missing or wrong bearer token"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// withBody decodes a strict JSON body into T before calling fn.
func withBody[T any](fn func(ctx context.Context, v T) error) func(context.Context, []byte) error {
	return func(ctx context.Context, body []byte) error {
		var v T
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return Errorf(CodeInvalid, "decoding request: %v", err)
		}
		return fn(ctx, v)
	}
}

func reply(w http.ResponseWriter, log *slog.Logger, v any, err error) {
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			log.Error("admin request failed", "err", err)
			e = &Error{Code: CodeInternal, Message: err.Error()}
		}
		writeErr(w, statusOf(e.Code), e)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func statusOf(c Code) int {
	switch c {
	case CodeInvalid, CodeConfigRejected:
		return http.StatusBadRequest
	case CodeServiceExists, CodeDestExists:
		return http.StatusConflict
	case CodeNoService, CodeNoDest:
		return http.StatusNotFound
	case CodeUnsupported:
		return http.StatusNotImplemented
	case CodeUnauthorized:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

func writeErr(w http.ResponseWriter, status int, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// NewServer returns an http.Server with conservative timeouts for the admin API.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
