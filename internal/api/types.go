// Package api is Fulcrum's admin API: JSON types, the Admin interface that
// the engine implements, an HTTP server exposing it (unix socket by default,
// token-protected loopback TCP optionally) and a client that forwards it.
// `fulcrum adm` (the ipvsadm-compatible command) is a client of this API.
package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/health"
	"github.com/fulcrumlb/fulcrum/internal/l7"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// ServiceKey identifies a virtual service: Protocol "tcp" or "udp" with
// Address "ip:port", or a non-zero FWMark with IPv6 choosing the family.
type ServiceKey struct {
	Protocol string `json:"protocol,omitempty"`
	Address  string `json:"address,omitempty"`
	FWMark   uint32 `json:"fwmark,omitempty"`
	IPv6     bool   `json:"ipv6,omitempty"`
}

// Service is a virtual service with its real servers, counters and rates.
type Service struct {
	ServiceKey
	Scheduler  string   `json:"scheduler"`
	SchedFlags []string `json:"sched_flags,omitempty"`
	// Persistent enables persistence; Timeout (seconds) and Netmask
	// (dotted IPv4 or an IPv6 prefix length) apply then.
	Persistent    bool   `json:"persistent,omitempty"`
	Timeout       uint32 `json:"timeout,omitempty"`
	Netmask       string `json:"netmask,omitempty"`
	OnePacket     bool   `json:"one_packet,omitempty"`
	ProxyProtocol string `json:"proxy_protocol,omitempty"`
	SorryServer   string `json:"sorry_server,omitempty"`

	Stats Stats  `json:"stats"`
	Rates Rates  `json:"rates"`
	Reals []Real `json:"reals"`

	// Health is the checkers' view of the service: quorum, sorry server,
	// and every configured real server's state, last error and transitions
	// (including real servers a failure removed from Reals). Nil when the
	// service has no checks.
	Health *health.ServiceStatus `json:"health,omitempty"`
}

// Real is a real server. Reals are listed in the data plane's list order
// (the kernel's: newest first); ipvsadm sorts them unless --nosort.
type Real struct {
	Address string `json:"address"`
	// Forward is the forwarding method as ipvsadm prints it:
	// "Masq", "Route", "Tunnel" or "Local".
	Forward        string `json:"forward"`
	Weight         int32  `json:"weight"`
	UpperThreshold uint32 `json:"upper_threshold,omitempty"`
	LowerThreshold uint32 `json:"lower_threshold,omitempty"`

	ActiveConns  uint32 `json:"active_conns"`
	InactConns   uint32 `json:"inact_conns"`
	PersistConns uint32 `json:"persist_conns"`
	// Overloaded is IP_VS_DEST_F_OVERLOAD (upper threshold reached).
	Overloaded bool `json:"overloaded,omitempty"`

	Stats Stats `json:"stats"`
	Rates Rates `json:"rates"`
}

// Stats are cumulative counters, as in struct ip_vs_stats_user.
type Stats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"in_pkts"`
	OutPkts  uint64 `json:"out_pkts"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
}

// Rates are the estimator's per-second rates (ip_vs_est.c, 2 s period).
type Rates struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"in_pps"`
	OutPPS uint64 `json:"out_pps"`
	InBPS  uint64 `json:"in_bps"`
	OutBPS uint64 `json:"out_bps"`
}

// Conn is one connection-table entry (ipvsadm -Lc).
type Conn struct {
	// Protocol is "TCP", "UDP", or "IP" for fwmark templates.
	Protocol string `json:"protocol"`
	Client   string `json:"client"`
	Virtual  string `json:"virtual"`
	Dest     string `json:"dest"`
	// State is the IPVS state name: ESTABLISHED, SYN_RECV, FIN_WAIT,
	// TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, NONE, UDP, ...
	State string `json:"state"`
	// ExpiresMs is the time left before the entry expires.
	ExpiresMs int64 `json:"expires_ms"`
	// Template marks a persistence template (client port 0).
	Template bool `json:"template,omitempty"`
}

// Info describes the running data plane (ipvsadm's header line).
type Info struct {
	Version     string    `json:"version"`      // Fulcrum version
	IPVSVersion string    `json:"ipvs_version"` // "1.2.1", printed by ipvsadm -L
	ConnTabSize int       `json:"conn_tab_size"`
	DataPlane   string    `json:"data_plane"` // "proxy"
	ConfigFile  string    `json:"config_file,omitempty"`
	StartedAt   time.Time `json:"started_at"`

	// Reloads counts successful config applies after the first one (file
	// reloads and admin changes); ReloadFailures counts rejected ones, whose
	// last reason is LastReloadError. A failed reload changes nothing.
	Reloads         uint64    `json:"reloads"`
	ReloadFailures  uint64    `json:"reload_failures"`
	LastReloadError string    `json:"last_reload_error,omitempty"`
	LastReloadAt    time.Time `json:"last_reload_at,omitzero"`
}

// Timeouts in seconds (ipvsadm --set / -L --timeout). A zero field in a
// SetTimeouts call leaves that timeout unchanged, as ipvsadm does.
type Timeouts struct {
	TCP    int `json:"tcp"`
	TCPFin int `json:"tcpfin"`
	UDP    int `json:"udp"`
}

// Admin is the administrative surface of a running Fulcrum. The engine
// implements it; Client forwards it over HTTP.
type Admin interface {
	Info(ctx context.Context) (Info, error)
	Services(ctx context.Context) ([]Service, error)
	Conns(ctx context.Context) ([]Conn, error)
	AddService(ctx context.Context, s Service) error
	// EditService replaces the service's settings (not its reals).
	EditService(ctx context.Context, s Service) error
	DeleteService(ctx context.Context, k ServiceKey) error
	// Clear deletes every service (ipvsadm -C).
	Clear(ctx context.Context) error
	AddReal(ctx context.Context, k ServiceKey, r Real) error
	EditReal(ctx context.Context, k ServiceKey, r Real) error
	DeleteReal(ctx context.Context, k ServiceKey, address string) error
	// Zero resets counters of one service, or of all when k is nil (-Z).
	Zero(ctx context.Context, k *ServiceKey) error
	Timeouts(ctx context.Context) (Timeouts, error)
	SetTimeouts(ctx context.Context, t Timeouts) error
	// Reload re-reads the config file.
	Reload(ctx context.Context) error
}

// StatusReader is implemented by admins that also report the state of the
// VRRP instances and the HTTP proxy; the HTTP server exposes it when
// available.
type StatusReader interface {
	VRRP(ctx context.Context) ([]vrrp.InstanceStatus, error)
	HTTP(ctx context.Context) (l7.Status, error)
}

// Code classifies an admin error the way the kernel's errno does for
// ipvsadm, so the CLI can print ipvsadm's exact message.
type Code string

const (
	CodeInvalid        Code = "invalid"         // EINVAL
	CodeServiceExists  Code = "service_exists"  // EEXIST on a service
	CodeNoService      Code = "no_service"      // ESRCH
	CodeDestExists     Code = "dest_exists"     // EEXIST on a dest
	CodeNoDest         Code = "no_dest"         // ENOENT: no such dest; for a service, no such scheduler
	CodeUnsupported    Code = "unsupported"     // EOPNOTSUPP: this data plane cannot do it
	CodeUnauthorized   Code = "unauthorized"    // missing or bad token
	CodeConfigRejected Code = "config_rejected" // validation or apply failed; nothing changed
	CodeInternal       Code = "internal"
)

// Error is an admin API error.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
