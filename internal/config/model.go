// Package config holds Fulcrum's one in-memory configuration model. Every input
// format (native YAML, keepalived.conf, admin API calls, ipvsadm commands) is
// translated into a *Config, validated as a whole, and only then applied.
package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Config is the complete desired state of a Fulcrum node.
type Config struct {
	// Source names the file the config was read from; empty for the embedded default.
	Source string `json:"source,omitempty"`

	// DataPlane chooses how services are forwarded: "proxy" (the
	// userspace proxy; the default for native configs) refuses real servers
	// it cannot forward as configured (route, tunnel); "xdp" forwards every
	// service at packet level in the kernel (DR, TUN, NAT); "auto" (the
	// default for keepalived.conf) gives services with route or tunnel real
	// servers to XDP when this host can run it, and otherwise proxies them
	// as NAT and says so, keeping NAT-only services on the proxy.
	DataPlane string `json:"data_plane,omitempty"`

	// XDP configures the kernel data plane.
	XDP XDPConfig `json:"xdp,omitzero"`

	Admin    Admin     `json:"admin"`
	Timeouts Timeouts  `json:"timeouts"`
	Services []Service `json:"services"`

	// Global holds node-wide settings: notifications, script security,
	// VRRP defaults (keepalived's global_defs).
	Global Global `json:"global,omitzero"`

	// VRRP: instances, tracking scripts and sync groups.
	VRRPInstances  []VRRPInstance  `json:"vrrp_instances,omitempty"`
	VRRPScripts    []VRRPScript    `json:"vrrp_scripts,omitempty"`
	VRRPSyncGroups []VRRPSyncGroup `json:"vrrp_sync_groups,omitempty"`

	// HTTP is the L7 proxy: virtual servers, locations, upstream groups.
	HTTP *HTTP `json:"http,omitempty"`

	// Demo starts built-in backends that answer with their own name; it is
	// used by the embedded default config and by tests.
	Demo *Demo `json:"demo,omitempty"`
}

// Admin configures the administrative API listener.
type Admin struct {
	// Socket is the unix socket path of the admin API; "" disables it.
	Socket string `json:"socket,omitempty"`
	// Listen is an optional TCP address (loopback unless explicitly set
	// otherwise) that serves the admin API with bearer-token authentication.
	Listen string `json:"listen,omitempty"`
	// TokenFile holds the bearer token required on the TCP listener.
	TokenFile string `json:"token_file,omitempty"`
}

// Timeouts are IPVS's three tunable connection timeouts (ipvsadm --set).
type Timeouts struct {
	TCP    time.Duration `json:"tcp"`    // ESTABLISHED
	TCPFin time.Duration `json:"tcpfin"` // FIN_WAIT
	UDP    time.Duration `json:"udp"`
}

// DefaultTimeouts are the kernel's defaults (ip_vs_proto_tcp.c tcp_timeouts,
// ip_vs_proto_udp.c udp_timeouts): 900 s, 120 s, 300 s.
var DefaultTimeouts = Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}

// Data planes (Config.DataPlane).
const (
	DataPlaneProxy = "proxy"
	DataPlaneAuto  = "auto"
	DataPlaneXDP   = "xdp"
)

// XDPConfig configures the XDP data plane.
type XDPConfig struct {
	// Interfaces receive the virtual services' traffic; the program is
	// attached to each. Empty with data_plane auto: the VRRP instances'
	// interfaces.
	Interfaces []string `json:"interfaces,omitempty"`
	// Mode is the attach mode: "" (native if the driver can, else
	// generic), "native" or "generic".
	Mode string `json:"mode,omitempty"`
}

// Protocol is a virtual service's transport protocol.
type Protocol string

const (
	TCP Protocol = "tcp"
	UDP Protocol = "udp"
)

// Forward is a real server's packet-forwarding method (ipvsadm -g/-i/-m).
type Forward string

const (
	// Masq is NAT (-m); the userspace proxy data plane always works this way.
	Masq Forward = "masq"
	// Route is direct routing (-g), ipvsadm's default.
	Route Forward = "route"
	// Tunnel is IP-in-IP encapsulation (-i).
	Tunnel Forward = "tunnel"
)

// ServiceKey identifies a virtual service, as IPVS does: by protocol, address
// and port, or by firewall mark and address family.
type ServiceKey struct {
	Protocol Protocol       `json:"protocol,omitempty"`
	Address  netip.AddrPort `json:"address,omitzero"`
	FWMark   uint32         `json:"fwmark,omitempty"`
	// IPv6 selects the address family of a fwmark service (ipvsadm -6).
	IPv6 bool `json:"ipv6,omitempty"`
}

// String formats the key the way ipvsadm's listing names a service, e.g.
// "TCP 10.0.0.1:80" or "FWM 1".
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		if k.IPv6 {
			return fmt.Sprintf("FWM %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	p := "TCP"
	if k.Protocol == UDP {
		p = "UDP"
	}
	return p + " " + k.Address.String()
}

// Service is one virtual service (ipvsadm -A).
type Service struct {
	ServiceKey

	// Scheduler is one of rr wrr lc wlc sed nq fo ovf lblc lblcr dh sh mh twos.
	Scheduler string `json:"scheduler"`
	// SchedFlags are ipvsadm -b flags: sh-fallback, sh-port, mh-fallback,
	// mh-port, flag-1, flag-2, flag-3.
	SchedFlags []string `json:"sched_flags,omitempty"`
	// Persistence, when set, makes a client stick to one real server.
	Persistence *Persistence `json:"persistence,omitempty"`
	// OnePacket is ipvsadm's -o (one-packet scheduling, UDP only).
	OnePacket bool `json:"one_packet,omitempty"`
	// ProxyProtocol sends a PROXY protocol header ("v1" or "v2") to real servers.
	ProxyProtocol string `json:"proxy_protocol,omitempty"`
	// SorryServer receives new connections while no real server can take them.
	SorryServer netip.AddrPort `json:"sorry_server,omitzero"`

	// Health holds the service-level health-checking settings.
	Health ServiceHealth `json:"health,omitzero"`

	// Reals are the real servers, in the order they were added.
	Reals []Real `json:"reals"`
}

// Persistence is ipvsadm's -p/-M: connections from one client network go to
// the same real server while a template entry lives.
type Persistence struct {
	Timeout time.Duration `json:"timeout"`
	// PrefixBits is the client netmask as a prefix length (-M 255.255.255.0 = 24).
	PrefixBits int `json:"prefix_bits"`
}

// DefaultPersistence is ipvsadm's -p default timeout (300 s) with a host mask.
const DefaultPersistenceTimeout = 300 * time.Second

// Real is a real server behind a virtual service (ipvsadm -a).
type Real struct {
	Address netip.AddrPort `json:"address"`
	Weight  int32          `json:"weight"`
	Forward Forward        `json:"forward"`
	// UpperThreshold and LowerThreshold are ipvsadm -x and -y (0 = unset).
	UpperThreshold uint32 `json:"upper_threshold,omitempty"`
	LowerThreshold uint32 `json:"lower_threshold,omitempty"`

	// Health: checkers and what happens when they fail.
	Health RealHealth `json:"health,omitzero"`
}

// Demo describes built-in demo backends.
type Demo struct {
	Backends []DemoBackend `json:"backends"`
}

// DemoBackend is one built-in backend that answers with its own name: HTTP
// over TCP, and an echo of the datagram prefixed by its name over UDP.
type DemoBackend struct {
	Name     string         `json:"name"`
	Protocol Protocol       `json:"protocol"`
	Address  netip.AddrPort `json:"address"`
}

// Find returns the index of the service with key k, or -1.
func (c *Config) Find(k ServiceKey) int {
	for i := range c.Services {
		if c.Services[i].ServiceKey == k {
			return i
		}
	}
	return -1
}

// FindReal returns the index of the real server with address a, or -1.
func (s *Service) FindReal(a netip.AddrPort) int {
	for i := range s.Reals {
		if s.Reals[i].Address == a {
			return i
		}
	}
	return -1
}

// Clone returns a deep copy, so a mutation never touches a published config.
func (c *Config) Clone() *Config {
	n := *c
	n.Services = make([]Service, len(c.Services))
	for i, s := range c.Services {
		s.SchedFlags = append([]string(nil), s.SchedFlags...)
		if s.Persistence != nil {
			p := *s.Persistence
			s.Persistence = &p
		}
		s.Reals = append([]Real(nil), s.Reals...)
		n.Services[i] = s
	}
	if c.Demo != nil {
		d := Demo{Backends: append([]DemoBackend(nil), c.Demo.Backends...)}
		n.Demo = &d
	}
	n.XDP.Interfaces = append([]string(nil), c.XDP.Interfaces...)
	cloneExtensions(&n)
	return &n
}
