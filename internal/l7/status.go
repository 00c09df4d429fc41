package l7

import (
	"sync/atomic"
	"time"
)

// counters are the traffic figures kept per server, location, upstream and
// peer. They are updated with atomics on the request path.
type counters struct {
	requests  atomic.Uint64
	responses [6]atomic.Uint64 // [0] other, [1] 1xx ... [5] 5xx
	bytesIn   atomic.Uint64
	bytesOut  atomic.Uint64
	active    atomic.Int64

	// Locations only: requests refused by valid_referers and by a
	// required secure link.
	refererRejected atomic.Uint64
	secureRejected  atomic.Uint64
}

func (c *counters) response(status int) {
	if status >= 100 && status < 600 {
		c.responses[status/100].Add(1)
	} else {
		c.responses[0].Add(1)
	}
}

// Counters is a snapshot of counters.
type Counters struct {
	Requests uint64 `json:"requests"`
	// Responses by class: 1xx, 2xx, 3xx, 4xx, 5xx; Other holds requests
	// that ended without a status (the client went away, 444).
	Responses1xx uint64 `json:"responses_1xx"`
	Responses2xx uint64 `json:"responses_2xx"`
	Responses3xx uint64 `json:"responses_3xx"`
	Responses4xx uint64 `json:"responses_4xx"`
	Responses5xx uint64 `json:"responses_5xx"`
	Other        uint64 `json:"responses_other"`
	// BytesIn are request body bytes received, BytesOut response body
	// bytes sent.
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// Active: requests in progress (for a peer: attempts in progress).
	Active int64 `json:"active"`
}

func (c *counters) snapshot() Counters {
	return Counters{
		Requests:     c.requests.Load(),
		Other:        c.responses[0].Load(),
		Responses1xx: c.responses[1].Load(),
		Responses2xx: c.responses[2].Load(),
		Responses3xx: c.responses[3].Load(),
		Responses4xx: c.responses[4].Load(),
		Responses5xx: c.responses[5].Load(),
		BytesIn:      c.bytesIn.Load(),
		BytesOut:     c.bytesOut.Load(),
		Active:       c.active.Load(),
	}
}

// Status is the state of the L7 proxy for the admin API and metrics.
type Status struct {
	Listeners []ListenerStatus `json:"listeners"`
	Servers   []ServerStatus   `json:"servers"`
	Upstreams []UpstreamStatus `json:"upstreams"`

	LimitReqZones  []LimitZoneStatus   `json:"limit_req_zones,omitempty"`
	LimitConnZones []LimitZoneStatus   `json:"limit_conn_zones,omitempty"`
	Compression    []CompressionStatus `json:"compression"` // gzip, zstd, br
	Images         ImageStatus         `json:"images"`
	Flood          FloodStatus         `json:"flood"`
}

// LimitZoneStatus is one limit_req or limit_conn zone. Passed, Delayed and
// Rejected count requests by the zone that decided (for several
// limit_req, the one that rejected or imposed the longest delay).
type LimitZoneStatus struct {
	Name     string `json:"name"`
	Entries  int    `json:"entries"` // keys held
	Bytes    int64  `json:"bytes"`   // of Size, as nginx's slab would use
	Size     int64  `json:"size"`
	Passed   uint64 `json:"passed"`
	Delayed  uint64 `json:"delayed,omitempty"`
	Rejected uint64 `json:"rejected"`
}

// CompressionStatus is one codec's totals.
type CompressionStatus struct {
	Codec     string `json:"codec"`
	Responses uint64 `json:"responses"`
	BytesIn   uint64 `json:"bytes_in"`  // uncompressed
	BytesOut  uint64 `json:"bytes_out"` // compressed
}

// ImageStatus are the image recompression totals.
type ImageStatus struct {
	Considered   uint64 `json:"considered"`
	Recompressed uint64 `json:"recompressed"` // sent re-encoded, resized ones included
	Resized      uint64 `json:"resized"`
	Untouched    uint64 `json:"untouched"`
	CacheHits    uint64 `json:"cache_hits"`
	BytesIn      uint64 `json:"bytes_in"`
	BytesOut     uint64 `json:"bytes_out"`
	BytesSaved   uint64 `json:"bytes_saved"` // by recompression alone
	CacheEntries int    `json:"cache_entries"`
	CacheBytes   int64  `json:"cache_bytes"`
}

// FloodStatus is the accept-time flood defence.
type FloodStatus struct {
	// SynCookies is net.ipv4.tcp_syncookies at start: 1 or 2 on (the
	// kernel absorbs SYN floods), 0 off, -1 unknown.
	SynCookies        int    `json:"syn_cookies"`
	Enabled           bool   `json:"enabled"`
	Sources           int    `json:"sources,omitempty"`
	Active            int64  `json:"active,omitempty"`
	RejectedRate      uint64 `json:"rejected_rate"`
	RejectedConns     uint64 `json:"rejected_conns"`
	FirstByteTimeouts uint64 `json:"first_byte_timeouts"`
}

// ListenerStatus is one listening socket.
type ListenerStatus struct {
	Address       string `json:"address"`
	TLS           bool   `json:"tls,omitempty"`
	HTTP2         bool   `json:"http2,omitempty"`
	ProxyProtocol bool   `json:"proxy_protocol,omitempty"`
	// Connections currently open (including upgraded ones) and accepted
	// since the listener was opened.
	Connections int64  `json:"connections"`
	Accepted    uint64 `json:"accepted"`
	// Refused counts PROXY protocol connections from untrusted sources
	// and bad PROXY headers; FloodRefused those the flood defence reset.
	Refused      uint64 `json:"refused"`
	FloodRefused uint64 `json:"flood_refused,omitempty"`
}

// ServerStatus is one virtual server.
type ServerStatus struct {
	Names     []string         `json:"names,omitempty"`
	Listen    []string         `json:"listen"`
	Counters  Counters         `json:"counters"`
	Locations []LocationStatus `json:"locations"`
}

// LocationStatus is one location (nested ones included, flattened).
type LocationStatus struct {
	Match    string   `json:"match"`
	Counters Counters `json:"counters"`
	// Requests refused by valid_referers and by a required secure link.
	RefererRejected    uint64 `json:"referer_rejected,omitempty"`
	SecureLinkRejected uint64 `json:"secure_link_rejected,omitempty"`
}

// UpstreamStatus is one upstream group.
type UpstreamStatus struct {
	Name     string       `json:"name"`
	Balance  string       `json:"balance"`
	Counters Counters     `json:"counters"`
	Retries  int64        `json:"retries_in_flight"`
	Sticky   int          `json:"sticky_entries,omitempty"` // source persistence table size
	Peers    []PeerStatus `json:"peers"`
}

// Peer states.
const (
	PeerUp      = "up"
	PeerDown    = "down"    // configured down or failing its active checks
	PeerEjected = "ejected" // outlier detection (consecutive 5xx)
)

// PeerStatus is one upstream server address.
type PeerStatus struct {
	Server   string   `json:"server"`  // as configured
	Address  string   `json:"address"` // resolved
	Backup   bool     `json:"backup,omitempty"`
	Weight   int      `json:"weight"`
	State    string   `json:"state"`
	Counters Counters `json:"counters"`
	// Fails counts failed attempts (error, timeout, invalid header and 5xx
	// listed in next_upstream); ConsecutiveFailures feeds ejection.
	Fails               uint64        `json:"fails"`
	ConsecutiveFailures int64         `json:"consecutive_failures"`
	Ejections           int           `json:"ejections,omitempty"`
	EjectedUntil        time.Time     `json:"ejected_until,omitzero"`
	Checks              []CheckStatus `json:"checks,omitempty"`
}

// CheckStatus is one active health check of a peer.
type CheckStatus struct {
	Type      string    `json:"type"`
	Up        bool      `json:"up"`
	Probes    uint64    `json:"probes"`
	LastError string    `json:"last_error,omitempty"`
	LastProbe time.Time `json:"last_probe,omitzero"`
}
