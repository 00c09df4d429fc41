package config

import (
	"net/netip"
	"time"
)

// What an L7 balancer adds over L4 (the seed's list, issue 6): compression,
// image recompression, hotlink protection, rate and connection limits and
// flood defence. nginx directive names are kept where nginx has one.

// LimitReqZone is nginx's `limit_req_zone KEY zone=NAME:SIZE rate=R`.
type LimitReqZone struct {
	Name string `json:"name"`
	// Key is an nginx variable expression, e.g. "$binary_remote_addr",
	// "$http_x_api_key", "$cookie_session"; an empty value is not limited.
	Key string `json:"key"`
	// Rate in requests per second (nginx's "30r/m" is 0.5).
	Rate float64 `json:"rate"`
	// Size bounds the zone's memory in bytes (nginx zone=NAME:SIZE); the
	// least recently used keys are evicted when it is full.
	Size int64 `json:"size"`
}

// LimitConnZone is nginx's `limit_conn_zone KEY zone=NAME:SIZE`.
type LimitConnZone struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// LimitReq is nginx's `limit_req zone=NAME [burst=N] [nodelay|delay=N]`.
type LimitReq struct {
	Zone    string `json:"zone"`
	Burst   int    `json:"burst,omitempty"`
	NoDelay bool   `json:"nodelay,omitempty"`
	Delay   int    `json:"delay,omitempty"`
}

// LimitConn is nginx's `limit_conn zone N`.
type LimitConn struct {
	Zone string `json:"zone"`
	Conn int    `json:"conn"`
}

// Map is nginx's `map SOURCE $VARIABLE { default V; [hostnames;] key value;
// ~regex value; ... }`.
type Map struct {
	Source    string     `json:"source"`   // e.g. "$http_user_agent"
	Variable  string     `json:"variable"` // e.g. "$is_bot"
	Default   string     `json:"default,omitempty"`
	Hostnames bool       `json:"hostnames,omitempty"`
	Entries   []MapEntry `json:"entries,omitempty"`
}

// MapEntry is one line of a map: Match is an exact string, "~regex" or
// "~*regex" (case-insensitive).
type MapEntry struct {
	Match string `json:"match"`
	Value string `json:"value"`
}

// Referers is hotlink protection with nginx's valid_referers semantics.
type Referers struct {
	// Valid holds valid_referers arguments: "none", "blocked",
	// "server_names", host names with optional wildcards and path
	// ("*.example.com", "example.org/pics/"), or "~regex".
	Valid []string `json:"valid"`
	// What an invalid Referer gets: Status (default 403), or a redirect to
	// RedirectURL, or the placeholder image in ImageFile (served 200).
	Status      int    `json:"status,omitempty"`
	RedirectURL string `json:"redirect_url,omitempty"`
	ImageFile   string `json:"image_file,omitempty"`
}

// SecureLink accepts signed, expiring URLs (nginx secure_link's idea with
// HMAC-SHA256): ?expires=UNIX&sig=base64url(HMAC(secret, expires path)).
// A valid signature lets a request through even without a valid Referer.
type SecureLink struct {
	SecretFile   string `json:"secret_file"`
	SigParam     string `json:"sig_param,omitempty"`     // default "sig"
	ExpiresParam string `json:"expires_param,omitempty"` // default "expires"
	// Required makes a missing or bad signature a 403 even when the
	// Referer is valid.
	Required bool `json:"required,omitempty"`
}

// Compression negotiates response compression by Accept-Encoding q-values.
type Compression struct {
	Gzip   bool `json:"gzip,omitempty"`
	Zstd   bool `json:"zstd,omitempty"`
	Brotli bool `json:"brotli,omitempty"`
	Level  int  `json:"level,omitempty"` // codec-specific; 0 = the codec's default
	// MinLength is nginx's gzip_min_length (default 20 bytes).
	MinLength int `json:"min_length,omitempty"`
	// Types are compressed MIME types (nginx gzip_types; text/html is always
	// included); already-compressed types are never compressed.
	Types []string `json:"types,omitempty"`
	// Proxied is nginx's gzip_proxied for requests with Via: "off"
	// (default: such requests are not compressed) or "any".
	Proxied string `json:"proxied,omitempty"`
}

// ImageCompression re-encodes large JPEG/PNG responses when the result is
// smaller (nginx image_filter's job, done in pure Go).
type ImageCompression struct {
	MinSize     int64 `json:"min_size,omitempty"`     // default 10 KiB
	MaxSize     int64 `json:"max_size,omitempty"`     // larger bodies pass untouched; default 8 MiB
	JPEGQuality int   `json:"jpeg_quality,omitempty"` // default 75 (image_filter_jpeg_quality)
	// Resize allows ?w=&h= to scale down (never up), bounded by MaxWidth
	// and MaxHeight.
	Resize    bool `json:"resize,omitempty"`
	MaxWidth  int  `json:"max_width,omitempty"`
	MaxHeight int  `json:"max_height,omitempty"`
	// CacheSize bounds the cache of re-encoded images in bytes (default 64 MiB).
	CacheSize int64 `json:"cache_size,omitempty"`
}

// FloodDefence caps what one client address may do at accept time, before
// any HTTP is parsed.
type FloodDefence struct {
	// ConnRate new connections per second per source address, with
	// ConnBurst (token bucket); 0 = off.
	ConnRate  float64 `json:"conn_rate,omitempty"`
	ConnBurst int     `json:"conn_burst,omitempty"`
	// MaxConnsPerSource concurrent connections per source address; 0 = off.
	MaxConnsPerSource int `json:"max_conns_per_source,omitempty"`
	// FirstByteTimeout closes a connection that sends nothing (half-open
	// or idle after accept); default 10 s.
	FirstByteTimeout time.Duration `json:"first_byte_timeout,omitempty"`
	// Exempt networks are never limited (monitoring, trusted proxies).
	Exempt []netip.Prefix `json:"exempt,omitempty"`
}
