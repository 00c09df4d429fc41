package config

import (
	"net/netip"
	"time"
)

// VRRP instances, scripts and sync groups (keepalived vrrp_instance,
// vrrp_script, vrrp_sync_group). They are parsed into the model and
// validated now; the VRRP protocol engine that acts on them comes with the
// high-availability issue.

// VRRPInstance is one virtual router (one VRID on one interface).
type VRRPInstance struct {
	Name      string `json:"name"`
	State     string `json:"state"` // "MASTER" or "BACKUP" (initial wish; default BACKUP)
	Interface string `json:"interface"`
	VRID      uint8  `json:"virtual_router_id"`
	Priority  uint8  `json:"priority"` // 1..255, default 100
	// AdvertInt is the advertisement interval (default 1 s; v3 allows
	// centiseconds, v2 whole seconds).
	AdvertInt time.Duration `json:"advert_int"`
	Version   int           `json:"version"` // 2 or 3

	AuthType string `json:"auth_type,omitempty"` // "PASS" or "AH" (v2 only)
	AuthPass string `json:"auth_pass,omitempty"` // at most 8 bytes are used

	VIPs         []VIP    `json:"virtual_ipaddress,omitempty"`
	ExcludedVIPs []VIP    `json:"virtual_ipaddress_excluded,omitempty"`
	Routes       []string `json:"virtual_routes,omitempty"` // kept verbatim for now

	Nopreempt    bool          `json:"nopreempt,omitempty"`
	PreemptDelay time.Duration `json:"preempt_delay,omitempty"`
	Accept       bool          `json:"accept,omitempty"`

	UnicastSrcIP netip.Addr   `json:"unicast_src_ip,omitzero"`
	UnicastPeers []netip.Addr `json:"unicast_peer,omitempty"`
	McastSrcIP   netip.Addr   `json:"mcast_src_ip,omitzero"`

	TrackInterfaces []TrackRef `json:"track_interface,omitempty"`
	TrackScripts    []TrackRef `json:"track_script,omitempty"`
	TrackFiles      []TrackRef `json:"track_file,omitempty"`

	NotifyMaster *Script `json:"notify_master,omitempty"`
	NotifyBackup *Script `json:"notify_backup,omitempty"`
	NotifyFault  *Script `json:"notify_fault,omitempty"`
	NotifyStop   *Script `json:"notify_stop,omitempty"`
	Notify       *Script `json:"notify,omitempty"`
	SMTPAlert    bool    `json:"smtp_alert,omitempty"`

	GarpMasterDelay  time.Duration `json:"garp_master_delay,omitempty"`
	GarpMasterRepeat int           `json:"garp_master_repeat,omitempty"`
	GarpRefresh      time.Duration `json:"garp_master_refresh,omitempty"`
	UseVMAC          bool          `json:"use_vmac,omitempty"`
}

// VIP is one virtual_ipaddress line:
// `IP[/len] [brd IP] [dev IF] [scope S] [label IF:x]`.
type VIP struct {
	Prefix    netip.Prefix `json:"prefix"`
	Broadcast netip.Addr   `json:"brd,omitzero"`
	Dev       string       `json:"dev,omitempty"`
	Scope     string       `json:"scope,omitempty"`
	Label     string       `json:"label,omitempty"`
}

// TrackRef refers to a tracked object (interface, vrrp_script, file) with
// an optional weight; Weight 0 means a failure puts the instance in FAULT.
type TrackRef struct {
	Name    string `json:"name"`
	Weight  int    `json:"weight,omitempty"`
	Reverse bool   `json:"reverse,omitempty"`
}

// VRRPScript is a vrrp_script block.
type VRRPScript struct {
	Name     string        `json:"name"`
	Script   Script        `json:"script"`
	Interval time.Duration `json:"interval"` // default 1 s
	Timeout  time.Duration `json:"timeout"`  // default = interval
	Weight   int           `json:"weight,omitempty"`
	Reverse  bool          `json:"reverse,omitempty"`
	Rise     int           `json:"rise"` // default 1
	Fall     int           `json:"fall"` // default 1
	InitFail bool          `json:"init_fail,omitempty"`
}

// VRRPSyncGroup makes instances change state together.
type VRRPSyncGroup struct {
	Name         string     `json:"name"`
	Group        []string   `json:"group"`
	TrackScripts []TrackRef `json:"track_script,omitempty"`
	NotifyMaster *Script    `json:"notify_master,omitempty"`
	NotifyBackup *Script    `json:"notify_backup,omitempty"`
	NotifyFault  *Script    `json:"notify_fault,omitempty"`
	NotifyStop   *Script    `json:"notify_stop,omitempty"`
	Notify       *Script    `json:"notify,omitempty"`
	SMTPAlert    bool       `json:"smtp_alert,omitempty"`
}
