package config

import (
	"net/netip"
	"time"
)

// This file extends the model with keepalived's health checking and
// notification settings (keepalived.conf(5), check_data.c, check_parser.c).
// Adapters resolve keepalived's precedence — checker > real_server >
// virtual_server > the checker type's default — so every Check carries the
// values that apply to it; the health package never walks the hierarchy.

// Global holds node-wide settings (keepalived's global_defs, plus ours).
type Global struct {
	// RouterID names this node in notifications (router_id; default: hostname).
	RouterID string `json:"router_id,omitempty"`

	// Notification by e-mail (notification_email, notification_email_from,
	// smtp_server, smtp_helo_name, smtp_connect_timeout).
	NotificationEmail     []string       `json:"notification_email,omitempty"`
	NotificationEmailFrom string         `json:"notification_email_from,omitempty"`
	SMTPServer            netip.AddrPort `json:"smtp_server,omitzero"` // port defaults to 25
	SMTPHeloName          string         `json:"smtp_helo_name,omitempty"`
	SMTPConnectTimeout    time.Duration  `json:"smtp_connect_timeout,omitempty"` // default 30 s

	// Webhook receives every notification as a JSON POST (ours).
	Webhook string `json:"webhook,omitempty"`

	// Script security (enable_script_security, script_user [group]):
	// scripts run as ScriptUser and are refused when they, or a directory
	// above them, are not owned by root or are writable by anyone but root
	// (keepalived notify.c check_script_secure).
	EnableScriptSecurity bool   `json:"enable_script_security,omitempty"`
	ScriptUser           string `json:"script_user,omitempty"`
	ScriptGroup          string `json:"script_group,omitempty"`

	// VRRP node defaults (vrrp_version, vrrp_garp_*; used by the VRRP issue).
	VRRPVersion          int           `json:"vrrp_version,omitempty"`
	VRRPGarpMasterDelay  time.Duration `json:"vrrp_garp_master_delay,omitempty"`
	VRRPGarpMasterRepeat int           `json:"vrrp_garp_master_repeat,omitempty"`
	VRRPGarpRefresh      time.Duration `json:"vrrp_garp_master_refresh,omitempty"`
	VRRPGarpRefreshRep   int           `json:"vrrp_garp_master_refresh_repeat,omitempty"`
	VRRPStrict           bool          `json:"vrrp_strict,omitempty"`
}

// Script is a command with optional credentials, as keepalived's notify
// keywords take it: `notify_up "/path/script arg" [user [group]]`.
type Script struct {
	Command string `json:"command"`
	User    string `json:"user,omitempty"`
	Group   string `json:"group,omitempty"`
}

// ServiceHealth is the virtual-service level of health checking
// (keepalived virtual_server keywords).
type ServiceHealth struct {
	// Quorum is the minimum sum of weights of alive real servers (default 1);
	// Hysteresis widens the gain/loss thresholds around it.
	Quorum     uint32  `json:"quorum,omitempty"`
	Hysteresis uint32  `json:"hysteresis,omitempty"`
	QuorumUp   *Script `json:"quorum_up,omitempty"`
	QuorumDown *Script `json:"quorum_down,omitempty"`
	// Alpha: start with every real server considered down until its first
	// successful check. Omega: run notify_down/quorum_down at shutdown.
	Alpha bool `json:"alpha,omitempty"`
	Omega bool `json:"omega,omitempty"`
	// HASuspend pauses checkers while this node does not hold the VIP.
	HASuspend bool `json:"ha_suspend,omitempty"`
	// SorryServerInhibit keeps the sorry server in the table at weight 0
	// instead of removing it while quorum holds.
	SorryServerInhibit bool `json:"sorry_server_inhibit,omitempty"`
	// SMTPAlert sends e-mail on quorum changes.
	SMTPAlert bool `json:"smtp_alert,omitempty"`
}

// RealHealth is the real-server level of health checking.
type RealHealth struct {
	// InhibitOnFailure sets a failed server's weight to 0 instead of
	// removing it (existing connections keep flowing).
	InhibitOnFailure bool    `json:"inhibit_on_failure,omitempty"`
	NotifyUp         *Script `json:"notify_up,omitempty"`
	NotifyDown       *Script `json:"notify_down,omitempty"`
	// SMTPAlert sends e-mail on this server's transitions (keepalived's
	// default for a real server is on when global smtp settings exist).
	SMTPAlert bool `json:"smtp_alert,omitempty"`
	// Checks run against this server; it is up only while all are up.
	Checks []Check `json:"checks,omitempty"`
}

// CheckType names a checker.
type CheckType string

const (
	CheckHTTP  CheckType = "http_get"   // HTTP_GET
	CheckSSL   CheckType = "ssl_get"    // SSL_GET
	CheckTCP   CheckType = "tcp_check"  // TCP_CHECK
	CheckMisc  CheckType = "misc_check" // MISC_CHECK
	CheckUDP   CheckType = "udp_check"  // UDP_CHECK
	CheckDNS   CheckType = "dns_check"  // DNS_CHECK
	CheckSMTP  CheckType = "smtp_check" // SMTP_CHECK
	CheckPing  CheckType = "ping_check" // PING_CHECK
	CheckFile  CheckType = "file_check" // FILE_CHECK
	CheckAgent CheckType = "agent"      // HAProxy agent-check (native YAML only)
)

// Check is one health checker bound to a real server, with every value
// resolved (no zero means "inherit").
type Check struct {
	Type CheckType `json:"type"`

	// Timing, keepalived semantics (check_api.c, check_tcp.c tcp_epilog):
	// the first check runs after 1 s + rand(0..Warmup); an UP server goes
	// DOWN after Retry+1 consecutive failures spaced DelayBeforeRetry, and
	// comes back after one success; checks are DelayLoop apart otherwise.
	DelayLoop        time.Duration `json:"delay_loop"`
	ConnectTimeout   time.Duration `json:"connect_timeout"`
	Retry            int           `json:"retry"`
	DelayBeforeRetry time.Duration `json:"delay_before_retry"`
	Warmup           time.Duration `json:"warmup"`
	// Rise and Fall, when non-zero, replace Retry with HAProxy's rule: Fall
	// consecutive failures mark a server down, Rise consecutive successes
	// mark it up, every DelayLoop (native YAML only).
	Rise int `json:"rise,omitempty"`
	Fall int `json:"fall,omitempty"`

	// Where to connect: defaults are the real server's address and port.
	ConnectIP   netip.Addr `json:"connect_ip,omitzero"`
	ConnectPort uint16     `json:"connect_port,omitempty"`
	BindTo      netip.Addr `json:"bindto,omitzero"`
	BindPort    uint16     `json:"bind_port,omitempty"`
	BindIf      string     `json:"bind_if,omitempty"`
	FWMark      uint32     `json:"fwmark,omitempty"` // SO_MARK on the probe socket

	// HTTP_GET / SSL_GET.
	URLs         []CheckURL `json:"urls,omitempty"`
	HTTPProtocol string     `json:"http_protocol,omitempty"` // "1.0" (default), "1.0C", "1.1"
	Virtualhost  string     `json:"virtualhost,omitempty"`
	FastRecovery bool       `json:"fast_recovery,omitempty"`
	EnableSNI    bool       `json:"enable_sni,omitempty"`
	SNIName      string     `json:"sni_name,omitempty"`
	TLSCompliant bool       `json:"tls_compliant,omitempty"`

	// MISC_CHECK.
	MiscPath    *Script       `json:"misc_path,omitempty"`
	MiscTimeout time.Duration `json:"misc_timeout,omitempty"`
	MiscDynamic bool          `json:"misc_dynamic,omitempty"`

	// UDP_CHECK: Payload is sent; RequireReply, when set, must match the
	// reply (hex, X nibbles are wildcards); reply length bounds.
	Payload        []byte `json:"payload,omitempty"`
	RequireReply   string `json:"require_reply,omitempty"`
	MinReplyLength int    `json:"min_reply_length,omitempty"`
	MaxReplyLength int    `json:"max_reply_length,omitempty"`

	// DNS_CHECK: query Type (default SOA) for Name (default ".").
	DNSType string `json:"dns_type,omitempty"`
	DNSName string `json:"dns_name,omitempty"`

	// SMTP_CHECK: HELO name (default: smtp_helo_name or the router id).
	HeloName string `json:"helo_name,omitempty"`

	// FILE_CHECK: the value read from File adjusts the weight.
	File        string `json:"file,omitempty"`
	FileDynamic bool   `json:"file_dynamic,omitempty"`
	FileWeight  int    `json:"file_weight,omitempty"`
	FileReverse bool   `json:"file_reverse,omitempty"`

	// Agent check: a TCP line protocol on AgentPort answering "up", "down",
	// "drain", "maint", "ready" or a weight percentage (HAProxy agent-check).
	AgentPort uint16 `json:"agent_port,omitempty"`
}

// CheckURL is one url{} block of HTTP_GET/SSL_GET. The server is healthy
// only when every URL passes.
type CheckURL struct {
	Path string `json:"path"`
	// Digest is the hex MD5 of the body, as keepalived's genhash prints it.
	Digest string `json:"digest,omitempty"`
	// StatusCodes are inclusive ranges; empty means 200-299.
	StatusCodes  []StatusRange `json:"status_codes,omitempty"`
	Virtualhost  string        `json:"virtualhost,omitempty"`
	Regex        string        `json:"regex,omitempty"`
	RegexNoMatch bool          `json:"regex_no_match,omitempty"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	From int `json:"from"`
	To   int `json:"to"`
}
