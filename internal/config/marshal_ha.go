package config

import (
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The file* types below mirror the YAML schema of health checking, the
// global block and VRRP, for writing only. Marshal writes canonical keys
// (delay_loop, never its alias interval), every value a check resolved,
// and the short forms where they say everything: a script with neither
// user nor group as its command string, a url with only a path as that
// path, a VIP and a tracker as keepalived's one-line syntax.

type fileServiceHealth struct {
	Quorum             uint32 `yaml:"quorum,omitempty"`
	Hysteresis         uint32 `yaml:"hysteresis,omitempty"`
	QuorumUp           any    `yaml:"quorum_up,omitempty"`
	QuorumDown         any    `yaml:"quorum_down,omitempty"`
	Alpha              bool   `yaml:"alpha,omitempty"`
	Omega              bool   `yaml:"omega,omitempty"`
	HASuspend          bool   `yaml:"ha_suspend,omitempty"`
	SorryServerInhibit bool   `yaml:"sorry_server_inhibit,omitempty"`
	SMTPAlert          bool   `yaml:"smtp_alert,omitempty"`
}

type fileRealHealth struct {
	InhibitOnFailure bool        `yaml:"inhibit_on_failure,omitempty"`
	NotifyUp         any         `yaml:"notify_up,omitempty"`
	NotifyDown       any         `yaml:"notify_down,omitempty"`
	SMTPAlert        bool        `yaml:"smtp_alert,omitempty"`
	Checks           []fileCheck `yaml:"checks,omitempty"`
}

type fileCheck struct {
	Type             string `yaml:"type"`
	DelayLoop        string `yaml:"delay_loop,omitempty"`
	ConnectTimeout   string `yaml:"connect_timeout,omitempty"`
	Retry            *int   `yaml:"retry,omitempty"`
	DelayBeforeRetry string `yaml:"delay_before_retry,omitempty"`
	Warmup           string `yaml:"warmup,omitempty"`
	Rise             int    `yaml:"rise,omitempty"`
	Fall             int    `yaml:"fall,omitempty"`

	ConnectIP   string `yaml:"connect_ip,omitempty"`
	ConnectPort uint16 `yaml:"connect_port,omitempty"`
	BindTo      string `yaml:"bindto,omitempty"`
	BindPort    uint16 `yaml:"bind_port,omitempty"`
	BindIf      string `yaml:"bind_if,omitempty"`
	FWMark      uint32 `yaml:"fwmark,omitempty"`

	URLs         []any  `yaml:"urls,omitempty"`
	HTTPProtocol string `yaml:"http_protocol,omitempty"`
	Virtualhost  string `yaml:"virtualhost,omitempty"`
	FastRecovery bool   `yaml:"fast_recovery,omitempty"`
	EnableSNI    bool   `yaml:"enable_sni,omitempty"`
	SNIName      string `yaml:"sni_name,omitempty"`
	TLSCompliant bool   `yaml:"tls_compliant,omitempty"`

	MiscPath    any    `yaml:"misc_path,omitempty"`
	MiscTimeout string `yaml:"misc_timeout,omitempty"`
	MiscDynamic bool   `yaml:"misc_dynamic,omitempty"`

	Payload        string `yaml:"payload,omitempty"`
	RequireReply   string `yaml:"require_reply,omitempty"`
	MinReplyLength int    `yaml:"min_reply_length,omitempty"`
	MaxReplyLength *int   `yaml:"max_reply_length,omitempty"`

	DNSType  string `yaml:"dns_type,omitempty"`
	DNSName  string `yaml:"dns_name,omitempty"`
	HeloName string `yaml:"helo_name,omitempty"`

	File        string `yaml:"file,omitempty"`
	FileDynamic bool   `yaml:"file_dynamic,omitempty"`
	FileWeight  int    `yaml:"file_weight,omitempty"`
	FileReverse bool   `yaml:"file_reverse,omitempty"`

	AgentPort uint16 `yaml:"agent_port,omitempty"`
}

type fileURL struct {
	Path         string `yaml:"path"`
	Digest       string `yaml:"digest,omitempty"`
	StatusCodes  []any  `yaml:"status_codes,omitempty,flow"`
	Virtualhost  string `yaml:"virtualhost,omitempty"`
	Regex        string `yaml:"regex,omitempty"`
	RegexNoMatch bool   `yaml:"regex_no_match,omitempty"`
}

type fileScript struct {
	Command string `yaml:"command"`
	User    string `yaml:"user,omitempty"`
	Group   string `yaml:"group,omitempty"`
}

type fileGlobal struct {
	RouterID              string   `yaml:"router_id,omitempty"`
	NotificationEmail     []string `yaml:"notification_email,omitempty"`
	NotificationEmailFrom string   `yaml:"notification_email_from,omitempty"`
	SMTPServer            string   `yaml:"smtp_server,omitempty"`
	SMTPHeloName          string   `yaml:"smtp_helo_name,omitempty"`
	SMTPConnectTimeout    string   `yaml:"smtp_connect_timeout,omitempty"`
	Webhook               string   `yaml:"webhook,omitempty"`
	EnableScriptSecurity  bool     `yaml:"enable_script_security,omitempty"`
	ScriptUser            string   `yaml:"script_user,omitempty"`
	ScriptGroup           string   `yaml:"script_group,omitempty"`
	VRRPVersion           int      `yaml:"vrrp_version,omitempty"`
	VRRPGarpMasterDelay   string   `yaml:"vrrp_garp_master_delay,omitempty"`
	VRRPGarpMasterRepeat  int      `yaml:"vrrp_garp_master_repeat,omitempty"`
	VRRPGarpRefresh       string   `yaml:"vrrp_garp_master_refresh,omitempty"`
	VRRPGarpRefreshRep    int      `yaml:"vrrp_garp_master_refresh_repeat,omitempty"`
	VRRPStrict            bool     `yaml:"vrrp_strict,omitempty"`
}

type fileVRRPInstance struct {
	Name      string `yaml:"name"`
	State     string `yaml:"state"`
	Interface string `yaml:"interface,omitempty"`
	VRID      uint8  `yaml:"virtual_router_id"`
	Priority  uint8  `yaml:"priority"`
	AdvertInt string `yaml:"advert_int"`
	Version   int    `yaml:"version"`

	AuthType string `yaml:"auth_type,omitempty"`
	AuthPass string `yaml:"auth_pass,omitempty"`

	VIPs         []string `yaml:"virtual_ipaddress,omitempty"`
	ExcludedVIPs []string `yaml:"virtual_ipaddress_excluded,omitempty"`
	Routes       []string `yaml:"virtual_routes,omitempty"`

	Nopreempt    bool   `yaml:"nopreempt,omitempty"`
	PreemptDelay string `yaml:"preempt_delay,omitempty"`
	Accept       bool   `yaml:"accept,omitempty"`

	UnicastSrcIP string   `yaml:"unicast_src_ip,omitempty"`
	UnicastPeers []string `yaml:"unicast_peer,omitempty,flow"`
	McastSrcIP   string   `yaml:"mcast_src_ip,omitempty"`

	TrackInterfaces []any `yaml:"track_interface,omitempty"`
	TrackScripts    []any `yaml:"track_script,omitempty"`
	TrackFiles      []any `yaml:"track_file,omitempty"`

	NotifyMaster any  `yaml:"notify_master,omitempty"`
	NotifyBackup any  `yaml:"notify_backup,omitempty"`
	NotifyFault  any  `yaml:"notify_fault,omitempty"`
	NotifyStop   any  `yaml:"notify_stop,omitempty"`
	Notify       any  `yaml:"notify,omitempty"`
	SMTPAlert    bool `yaml:"smtp_alert,omitempty"`

	GarpMasterDelay  string `yaml:"garp_master_delay,omitempty"`
	GarpMasterRepeat int    `yaml:"garp_master_repeat,omitempty"`
	GarpRefresh      string `yaml:"garp_master_refresh,omitempty"`
	UseVMAC          bool   `yaml:"use_vmac,omitempty"`
}

type fileTrackRef struct {
	Name    string `yaml:"name"`
	Weight  int    `yaml:"weight,omitempty"`
	Reverse bool   `yaml:"reverse,omitempty"`
}

type fileVRRPScript struct {
	Name     string `yaml:"name"`
	Script   any    `yaml:"script"`
	Interval string `yaml:"interval"`
	Timeout  string `yaml:"timeout"`
	Weight   int    `yaml:"weight,omitempty"`
	Reverse  bool   `yaml:"reverse,omitempty"`
	Rise     int    `yaml:"rise"`
	Fall     int    `yaml:"fall"`
	InitFail bool   `yaml:"init_fail,omitempty"`
}

type fileVRRPSyncGroup struct {
	Name         string   `yaml:"name"`
	Group        []string `yaml:"group,flow"`
	TrackScripts []any    `yaml:"track_script,omitempty"`
	NotifyMaster any      `yaml:"notify_master,omitempty"`
	NotifyBackup any      `yaml:"notify_backup,omitempty"`
	NotifyFault  any      `yaml:"notify_fault,omitempty"`
	NotifyStop   any      `yaml:"notify_stop,omitempty"`
	Notify       any      `yaml:"notify,omitempty"`
	SMTPAlert    bool     `yaml:"smtp_alert,omitempty"`
}

// marshalScript writes a script as its command string when it has no
// credentials. A nil interface, not a typed nil, keeps omitempty working.
func marshalScript(s *Script) any {
	switch {
	case s == nil:
		return nil
	case s.User == "" && s.Group == "":
		return s.Command
	default:
		return fileScript{Command: s.Command, User: s.User, Group: s.Group}
	}
}

// durationIf writes d when the field applies (always) or is set anyway.
func durationIf(d time.Duration, always bool) string {
	if !always && d == 0 {
		return ""
	}
	return formatDuration(d)
}

func nonZeroDuration(d time.Duration) string { return durationIf(d, false) }

func marshalServiceHealth(h ServiceHealth) *fileServiceHealth {
	if h == (ServiceHealth{}) {
		return nil
	}
	return &fileServiceHealth{
		Quorum:             h.Quorum,
		Hysteresis:         h.Hysteresis,
		QuorumUp:           marshalScript(h.QuorumUp),
		QuorumDown:         marshalScript(h.QuorumDown),
		Alpha:              h.Alpha,
		Omega:              h.Omega,
		HASuspend:          h.HASuspend,
		SorryServerInhibit: h.SorryServerInhibit,
		SMTPAlert:          h.SMTPAlert,
	}
}

func marshalRealHealth(h RealHealth) *fileRealHealth {
	if reflect.ValueOf(h).IsZero() {
		return nil
	}
	f := &fileRealHealth{
		InhibitOnFailure: h.InhibitOnFailure,
		NotifyUp:         marshalScript(h.NotifyUp),
		NotifyDown:       marshalScript(h.NotifyDown),
		SMTPAlert:        h.SMTPAlert,
	}
	for i := range h.Checks {
		f.Checks = append(f.Checks, marshalCheck(&h.Checks[i]))
	}
	return f
}

// marshalCheck writes every field that applies to the check's type, zero
// or not, so that Parse reads back exactly these values rather than
// filling defaults; other fields only when they are set.
func marshalCheck(c *Check) fileCheck {
	timed, connects := checkTimed(c.Type), checkConnects(c.Type)
	f := fileCheck{
		Type:             string(c.Type),
		DelayLoop:        durationIf(c.DelayLoop, timed),
		ConnectTimeout:   durationIf(c.ConnectTimeout, connects),
		DelayBeforeRetry: durationIf(c.DelayBeforeRetry, timed),
		Warmup:           durationIf(c.Warmup, timed),
		Rise:             c.Rise,
		Fall:             c.Fall,
		ConnectIP:        addrString(c.ConnectIP),
		ConnectPort:      c.ConnectPort,
		BindTo:           addrString(c.BindTo),
		BindPort:         c.BindPort,
		BindIf:           c.BindIf,
		FWMark:           c.FWMark,
		HTTPProtocol:     c.HTTPProtocol,
		Virtualhost:      c.Virtualhost,
		FastRecovery:     c.FastRecovery,
		EnableSNI:        c.EnableSNI,
		SNIName:          c.SNIName,
		TLSCompliant:     c.TLSCompliant,
		MiscPath:         marshalScript(c.MiscPath),
		MiscTimeout:      durationIf(c.MiscTimeout, c.Type == CheckMisc),
		MiscDynamic:      c.MiscDynamic,
		RequireReply:     c.RequireReply,
		MinReplyLength:   c.MinReplyLength,
		DNSType:          c.DNSType,
		DNSName:          c.DNSName,
		HeloName:         c.HeloName,
		File:             c.File,
		FileDynamic:      c.FileDynamic,
		FileWeight:       c.FileWeight,
		FileReverse:      c.FileReverse,
		AgentPort:        c.AgentPort,
	}
	// With rise and fall, retry and delay_before_retry do not apply
	// (Parse refuses them together).
	if riseFall := c.Rise != 0 || c.Fall != 0; riseFall {
		f.DelayBeforeRetry = durationIf(c.DelayBeforeRetry, false)
	} else if timed {
		f.Retry = &c.Retry
	}
	if c.Retry != 0 {
		f.Retry = &c.Retry
	}
	if c.Type == CheckUDP || c.MaxReplyLength != 0 {
		f.MaxReplyLength = &c.MaxReplyLength
	}
	if len(c.Payload) > 0 {
		f.Payload = hex.EncodeToString(c.Payload)
	}
	for _, u := range c.URLs {
		if u.Path != "" && urlIsPathOnly(u) {
			f.URLs = append(f.URLs, u.Path)
			continue
		}
		fu := fileURL{Path: u.Path, Digest: u.Digest, Virtualhost: u.Virtualhost, Regex: u.Regex, RegexNoMatch: u.RegexNoMatch}
		for _, r := range u.StatusCodes {
			if r.From == r.To {
				fu.StatusCodes = append(fu.StatusCodes, r.From)
			} else {
				fu.StatusCodes = append(fu.StatusCodes, r.String())
			}
		}
		f.URLs = append(f.URLs, fu)
	}
	return f
}

func urlIsPathOnly(u CheckURL) bool {
	return u.Digest == "" && len(u.StatusCodes) == 0 && u.Virtualhost == "" && u.Regex == "" && !u.RegexNoMatch
}

func marshalGlobal(g Global) *fileGlobal {
	if reflect.ValueOf(g).IsZero() {
		return nil
	}
	return &fileGlobal{
		RouterID:              g.RouterID,
		NotificationEmail:     g.NotificationEmail,
		NotificationEmailFrom: g.NotificationEmailFrom,
		SMTPServer:            addrString(g.SMTPServer),
		SMTPHeloName:          g.SMTPHeloName,
		SMTPConnectTimeout:    nonZeroDuration(g.SMTPConnectTimeout),
		Webhook:               g.Webhook,
		EnableScriptSecurity:  g.EnableScriptSecurity,
		ScriptUser:            g.ScriptUser,
		ScriptGroup:           g.ScriptGroup,
		VRRPVersion:           g.VRRPVersion,
		VRRPGarpMasterDelay:   nonZeroDuration(g.VRRPGarpMasterDelay),
		VRRPGarpMasterRepeat:  g.VRRPGarpMasterRepeat,
		VRRPGarpRefresh:       nonZeroDuration(g.VRRPGarpRefresh),
		VRRPGarpRefreshRep:    g.VRRPGarpRefreshRep,
		VRRPStrict:            g.VRRPStrict,
	}
}

func marshalVRRPInstance(vi *VRRPInstance) fileVRRPInstance {
	f := fileVRRPInstance{
		Name:             vi.Name,
		State:            vi.State,
		Interface:        vi.Interface,
		VRID:             vi.VRID,
		Priority:         vi.Priority,
		AdvertInt:        formatDuration(vi.AdvertInt),
		Version:          vi.Version,
		AuthType:         vi.AuthType,
		AuthPass:         vi.AuthPass,
		Routes:           vi.Routes,
		Nopreempt:        vi.Nopreempt,
		PreemptDelay:     nonZeroDuration(vi.PreemptDelay),
		Accept:           vi.Accept,
		UnicastSrcIP:     addrString(vi.UnicastSrcIP),
		McastSrcIP:       addrString(vi.McastSrcIP),
		TrackInterfaces:  marshalTrackRefs(vi.TrackInterfaces),
		TrackScripts:     marshalTrackRefs(vi.TrackScripts),
		TrackFiles:       marshalTrackRefs(vi.TrackFiles),
		NotifyMaster:     marshalScript(vi.NotifyMaster),
		NotifyBackup:     marshalScript(vi.NotifyBackup),
		NotifyFault:      marshalScript(vi.NotifyFault),
		NotifyStop:       marshalScript(vi.NotifyStop),
		Notify:           marshalScript(vi.Notify),
		SMTPAlert:        vi.SMTPAlert,
		GarpMasterDelay:  nonZeroDuration(vi.GarpMasterDelay),
		GarpMasterRepeat: vi.GarpMasterRepeat,
		GarpRefresh:      nonZeroDuration(vi.GarpRefresh),
		UseVMAC:          vi.UseVMAC,
	}
	for _, x := range vi.VIPs {
		f.VIPs = append(f.VIPs, vipString(x))
	}
	for _, x := range vi.ExcludedVIPs {
		f.ExcludedVIPs = append(f.ExcludedVIPs, vipString(x))
	}
	for _, a := range vi.UnicastPeers {
		f.UnicastPeers = append(f.UnicastPeers, addrString(a))
	}
	return f
}

// vipString writes a VIP as keepalived's virtual_ipaddress line.
func vipString(x VIP) string {
	var b strings.Builder
	b.WriteString(addrString(x.Prefix))
	for _, o := range []struct{ k, v string }{{"brd", addrString(x.Broadcast)}, {"dev", x.Dev}, {"scope", x.Scope}, {"label", x.Label}} {
		if o.v != "" {
			b.WriteString(" " + o.k + " " + o.v)
		}
	}
	return b.String()
}

// marshalTrackRefs writes each tracker as keepalived's one-line form,
// `NAME [weight N] [reverse]`, unless its name would not survive that.
func marshalTrackRefs(refs []TrackRef) []any {
	var out []any
	for _, t := range refs {
		if t.Name == "" || len(strings.Fields(t.Name)) != 1 || t.Name != strings.TrimSpace(t.Name) || t.Name == "weight" {
			out = append(out, fileTrackRef{Name: t.Name, Weight: t.Weight, Reverse: t.Reverse})
			continue
		}
		s := t.Name
		if t.Weight != 0 || t.Reverse {
			s += " weight " + strconv.Itoa(t.Weight)
		}
		if t.Reverse {
			s += " reverse"
		}
		out = append(out, s)
	}
	return out
}

func marshalVRRPScript(s *VRRPScript) fileVRRPScript {
	return fileVRRPScript{
		Name:     s.Name,
		Script:   marshalScript(&s.Script),
		Interval: formatDuration(s.Interval),
		Timeout:  formatDuration(s.Timeout),
		Weight:   s.Weight,
		Reverse:  s.Reverse,
		Rise:     s.Rise,
		Fall:     s.Fall,
		InitFail: s.InitFail,
	}
}

func marshalVRRPSyncGroup(g *VRRPSyncGroup) fileVRRPSyncGroup {
	return fileVRRPSyncGroup{
		Name:         g.Name,
		Group:        g.Group,
		TrackScripts: marshalTrackRefs(g.TrackScripts),
		NotifyMaster: marshalScript(g.NotifyMaster),
		NotifyBackup: marshalScript(g.NotifyBackup),
		NotifyFault:  marshalScript(g.NotifyFault),
		NotifyStop:   marshalScript(g.NotifyStop),
		Notify:       marshalScript(g.Notify),
		SMTPAlert:    g.SMTPAlert,
	}
}
