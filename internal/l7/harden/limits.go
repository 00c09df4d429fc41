package harden

import (
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Defaults for zero fields of config.HTTPLimits, as documented on the type
// (internal/config/model_http.go): nginx client_header_timeout /
// client_body_timeout / keepalive_timeout, HAProxy/Envoy's header count of
// about 100, nginx client_max_body_size 1m.
const (
	DefaultHeaderTimeout    = 10 * time.Second
	DefaultBodyTimeout      = 60 * time.Second
	DefaultKeepaliveTimeout = 75 * time.Second
	DefaultMaxHeaderBytes   = 32 << 10
	DefaultMaxHeaders       = 100
	DefaultMaxBodyBytes     = 1 << 20
	DefaultMaxConcurrentH2  = 100
)

// WithDefaults returns lim with every zero field replaced by its default.
// MaxBodyBytes -1 (unlimited) is kept.
func WithDefaults(lim config.HTTPLimits) config.HTTPLimits {
	if lim.HeaderTimeout <= 0 {
		lim.HeaderTimeout = DefaultHeaderTimeout
	}
	if lim.BodyTimeout <= 0 {
		lim.BodyTimeout = DefaultBodyTimeout
	}
	if lim.KeepaliveTimeout <= 0 {
		lim.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if lim.MaxHeaderBytes <= 0 {
		lim.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if lim.MaxHeaders <= 0 {
		lim.MaxHeaders = DefaultMaxHeaders
	}
	if lim.MaxBodyBytes == 0 || lim.MaxBodyBytes < -1 {
		lim.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if lim.MaxConcurrentH2 == 0 {
		lim.MaxConcurrentH2 = DefaultMaxConcurrentH2
	}
	return lim
}
