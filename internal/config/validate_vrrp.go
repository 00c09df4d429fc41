package config

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Validation of the global block and of VRRP, held to keepalived's
// vrrp_parser.c and vrrp.c (vrrp_complete_instance) and to RFC 3768 and
// RFC 5798.

const (
	// DefaultVRRPPriority is VRRP_PRIO_DFL; 255 (VRRP_PRIO_OWNER) means
	// the address owner.
	DefaultVRRPPriority = 100
	// DefaultAdvertInt is VRRP_ADVER_DFL, 1 s.
	DefaultAdvertInt = time.Second
	// DefaultVRRPVersion is keepalived's vrrp_version default; IPv6
	// instances always speak version 3.
	DefaultVRRPVersion = 2
	// DefaultVRRPScriptInterval is vrrp_script's interval default; its
	// timeout defaults to the interval, rise and fall to 1.
	DefaultVRRPScriptInterval = time.Second
	// MaxPreemptDelay is TIMER_MAX_SEC, the bound vrrp_parser.c
	// vrrp_preempt_delay_handler puts on preempt_delay.
	MaxPreemptDelay = 1000 * time.Second
	// maxAuthPass is the size of a VRRPv2 packet's authentication data;
	// vrrp_auth_pass_handler truncates a longer password.
	maxAuthPass = 8
	// maxTrackWeight bounds tracker weights (vrrp_track.c, vrrp_parser.c
	// vrrp_vscript_weight_handler: -253..253), so that a priority moved by
	// a tracker stays in 1..254.
	maxTrackWeight = 253
)

// nameSpaceMsg refuses names a keepalived.conf could not write either:
// its parser splits words at white space.
const nameSpaceMsg = "%q contains white space: a name is one word, as in keepalived.conf"

// vipScopes are the address scopes iproute2 names (rt_scopes); a number
// 0..255 is also accepted.
var vipScopes = []string{"global", "site", "link", "host", "nowhere"}

// normalizeVRRP fills the VRRP defaults the model can express without
// ambiguity: zero is not a valid priority, interval, version, rise or fall,
// so it stands for "the default".
func normalizeVRRP(c *Config) {
	if len(c.Global.NotificationEmail) == 0 {
		c.Global.NotificationEmail = nil
	}
	if len(c.VRRPInstances) == 0 {
		c.VRRPInstances = nil
	}
	for i := range c.VRRPInstances {
		vi := &c.VRRPInstances[i]
		upper(&vi.State)
		if vi.State == "" {
			vi.State = "BACKUP"
		}
		upper(&vi.AuthType)
		if vi.Priority == 0 {
			vi.Priority = DefaultVRRPPriority
		}
		if vi.AdvertInt == 0 {
			vi.AdvertInt = DefaultAdvertInt
		}
		if vi.Version == 0 {
			// vrrp.c vrrp_complete_instance: IPv6 means version 3,
			// otherwise global vrrp_version.
			switch {
			case vi.family() == "IPv6":
				vi.Version = 3
			case c.Global.VRRPVersion != 0:
				vi.Version = c.Global.VRRPVersion
			default:
				vi.Version = DefaultVRRPVersion
			}
		}
		nilIfEmpty(&vi.VIPs)
		nilIfEmpty(&vi.ExcludedVIPs)
		nilIfEmpty(&vi.Routes)
		nilIfEmpty(&vi.UnicastPeers)
		nilIfEmpty(&vi.TrackInterfaces)
		nilIfEmpty(&vi.TrackScripts)
		nilIfEmpty(&vi.TrackFiles)
	}
	if len(c.VRRPScripts) == 0 {
		c.VRRPScripts = nil
	}
	for i := range c.VRRPScripts {
		s := &c.VRRPScripts[i]
		if s.Interval == 0 {
			s.Interval = DefaultVRRPScriptInterval
		}
		if s.Timeout == 0 {
			s.Timeout = s.Interval
		}
		if s.Rise == 0 {
			s.Rise = 1
		}
		if s.Fall == 0 {
			s.Fall = 1
		}
	}
	if len(c.VRRPSyncGroups) == 0 {
		c.VRRPSyncGroups = nil
	}
	for i := range c.VRRPSyncGroups {
		nilIfEmpty(&c.VRRPSyncGroups[i].Group)
		nilIfEmpty(&c.VRRPSyncGroups[i].TrackScripts)
	}
}

// nilIfEmpty and upper write only when they change something: Normalize
// may run on a copy whose lists still share elements with a published
// config (Clone is shallow below Reals), and an unchanged normalised
// config must not be written to while others read it.
func nilIfEmpty[T any](s *[]T) {
	if *s != nil && len(*s) == 0 {
		*s = nil
	}
}

func upper(s *string) {
	if u := strings.ToUpper(*s); u != *s {
		*s = u
	}
}

// family is the instance's address family: that of its first VIP, else of
// its unicast or multicast source, else of its first peer; IPv4 when
// nothing says (vrrp.c: "Default to IPv4").
func (vi *VRRPInstance) family() string {
	for _, a := range []netip.Addr{vipAddr(vi.VIPs), vi.UnicastSrcIP, vi.McastSrcIP, firstAddr(vi.UnicastPeers)} {
		if a.IsValid() {
			return addrFamilyName(a)
		}
	}
	return "IPv4"
}

func vipAddr(vs []VIP) netip.Addr {
	if len(vs) == 0 {
		return netip.Addr{}
	}
	return vs[0].Prefix.Addr()
}

func firstAddr(as []netip.Addr) netip.Addr {
	if len(as) == 0 {
		return netip.Addr{}
	}
	return as[0]
}

func (v *validator) global(g *Global) {
	if g.SMTPServer.IsValid() {
		a := g.SMTPServer.Addr()
		switch {
		case a.IsUnspecified() || a.IsMulticast():
			v.errorf("global.smtp_server", "%s is not a unicast address", a)
		case a.Zone() != "":
			v.errorf("global.smtp_server", "%s has an IPv6 zone", a)
		case g.SMTPServer.Port() == 0:
			v.errorf("global.smtp_server", "port 0: leave the port out for %d", DefaultSMTPPort)
		}
	}
	for i, e := range g.NotificationEmail {
		if msg := emailProblem(e); msg != "" {
			v.errorf(fmt.Sprintf("global.notification_email[%d]", i), "%q %s", e, msg)
		}
	}
	if g.NotificationEmailFrom != "" {
		if msg := emailProblem(g.NotificationEmailFrom); msg != "" {
			v.errorf("global.notification_email_from", "%q %s", g.NotificationEmailFrom, msg)
		}
	}
	if len(g.NotificationEmail) > 0 && !g.SMTPServer.IsValid() {
		v.warnf("global.notification_email", "no mail is sent: global.smtp_server is not set")
	}
	if g.SMTPConnectTimeout < 0 {
		v.errorf("global.smtp_connect_timeout", "%s is negative", formatDuration(g.SMTPConnectTimeout))
	}
	if hasSpace(g.SMTPHeloName) {
		v.errorf("global.smtp_helo_name", "%q contains white space or control characters", g.SMTPHeloName)
	}
	if g.Webhook != "" {
		u, err := url.Parse(g.Webhook)
		switch {
		case err != nil:
			v.errorf("global.webhook", "invalid URL %q: %v", g.Webhook, unwrapURL(err))
		case u.Scheme != "http" && u.Scheme != "https":
			v.errorf("global.webhook", "%q is not an http or https URL", g.Webhook)
		case u.Host == "":
			v.errorf("global.webhook", "%q has no host", g.Webhook)
		}
	}
	if g.EnableScriptSecurity && g.ScriptUser == "" {
		// keepalived falls back to user keepalived_script, else root, and
		// scripts silently stop running when that user is missing (issues
		// #2184, #586). A keepalived.conf may rely on the fallback, so
		// this is a warning; native configs should name the user.
		v.warnf("global.script_user", "not set with enable_script_security: scripts run as keepalived_script if that user exists, else as root; name the user here")
	}
	if g.ScriptGroup != "" && g.ScriptUser == "" {
		v.errorf("global.script_group", "a group needs script_user")
	}
	switch g.VRRPVersion {
	case 0, 2, 3:
	default:
		v.errorf("global.vrrp_version", "%d is not a VRRP version: want 2 or 3", g.VRRPVersion)
	}
	v.nonNegative("global.vrrp_garp_master_delay", g.VRRPGarpMasterDelay)
	v.nonNegative("global.vrrp_garp_master_refresh", g.VRRPGarpRefresh)
	v.nonNegativeInt("global.vrrp_garp_master_repeat", g.VRRPGarpMasterRepeat)
	v.nonNegativeInt("global.vrrp_garp_master_refresh_repeat", g.VRRPGarpRefreshRep)
}

func unwrapURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// emailProblem accepts a bare address (local@domain), as keepalived puts
// it in the SMTP envelope.
func emailProblem(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "is not an e-mail address like ops@example.com"
	}
	return ""
}

func (v *validator) nonNegative(key string, d time.Duration) {
	if d < 0 {
		v.errorf(key, "%s is negative", formatDuration(d))
	}
}

func (v *validator) nonNegativeInt(key string, n int) {
	if n < 0 {
		v.errorf(key, "%d is negative", n)
	}
}

// vrrp checks the instances, scripts and sync groups together: names
// refer to each other.
func (v *validator) vrrp(c *Config) {
	scripts := map[string]int{}
	for i := range c.VRRPScripts {
		v.vrrpScript(fmt.Sprintf("vrrp_scripts[%d]", i), &c.VRRPScripts[i], scripts, i)
	}
	used := map[string]bool{}
	names := map[string]int{}
	type vridKey struct {
		iface  string
		vrid   uint8
		family string
	}
	vrids := map[vridKey]int{}
	vips := map[netip.Addr]string{}
	for i := range c.VRRPInstances {
		p := fmt.Sprintf("vrrp_instances[%d]", i)
		vi := &c.VRRPInstances[i]
		v.vrrpName(p, vi.Name, "an instance needs a name", "instance", "vrrp_instances", names, i)
		v.vrrpInstance(p, vi, scripts, used, vips)
		if vi.VRID != 0 {
			// RFC 5798 section 5.2.3: a VRID names one virtual router on a
			// LAN, for each address family.
			k := vridKey{vi.Interface, vi.VRID, vi.family()}
			if j, dup := vrids[k]; dup {
				where := "interface " + k.iface
				if k.iface == "" {
					where = "no interface"
				}
				v.errorf(p+".virtual_router_id", "VRID %d is already used by vrrp_instances[%d] on %s for %s", vi.VRID, j, where, k.family)
			} else {
				vrids[k] = i
			}
		}
	}
	groups := map[string]int{}
	member := map[string]int{} // instance name -> index of its sync group
	for i := range c.VRRPSyncGroups {
		p := fmt.Sprintf("vrrp_sync_groups[%d]", i)
		g := &c.VRRPSyncGroups[i]
		v.vrrpName(p, g.Name, "a sync group needs a name", "sync group", "vrrp_sync_groups", groups, i)
		if len(g.Group) == 0 {
			v.errorf(p+".group", "missing: a sync group lists the instances that change state together")
		}
		for j, m := range g.Group {
			mp := fmt.Sprintf("%s.group[%d]", p, j)
			k, ok := names[m]
			gi, in := member[m]
			switch {
			case !ok:
				v.errorf(mp, "no vrrp_instance is named %q", m)
			case in && gi == i:
				v.errorf(mp, "instance %q is listed twice", m)
			case in:
				v.errorf(mp, "instance %q is already in vrrp_sync_groups[%d]: an instance belongs to one group", m, gi)
			default:
				member[m] = i
				// vrrp.c vrrp_complete_instance: in a sync group, weighted
				// trackers are ignored (unless sgroup_tracking_weight).
				vi := &c.VRRPInstances[k]
				for _, t := range []struct {
					name string
					refs []TrackRef
				}{{"track_interface", vi.TrackInterfaces}, {"track_script", vi.TrackScripts}, {"track_file", vi.TrackFiles}} {
					for ti, ref := range t.refs {
						if ref.Weight != 0 {
							v.warnf(fmt.Sprintf("vrrp_instances[%d].%s[%d]", k, t.name, ti), "weight %d is ignored: the instance is in sync group %q, whose members fail together", ref.Weight, g.Name)
						}
					}
				}
			}
		}
		v.trackScripts(p, g.TrackScripts, scripts, used)
		for _, s := range []struct {
			name string
			s    *Script
		}{{"notify_master", g.NotifyMaster}, {"notify_backup", g.NotifyBackup}, {"notify_fault", g.NotifyFault}, {"notify_stop", g.NotifyStop}, {"notify", g.Notify}} {
			v.script(p+"."+s.name, s.s)
		}
		if g.SMTPAlert {
			v.smtpAlert(p + ".smtp_alert")
		}
	}
	for i, s := range c.VRRPScripts {
		if s.Name != "" && !used[s.Name] {
			v.warnf(fmt.Sprintf("vrrp_scripts[%d].name", i), "vrrp_script %q is not tracked by any instance or sync group", s.Name)
		}
	}
}

// vrrpName checks the name of the i-th item of a VRRP list (instances,
// sync groups, scripts): given (missing says why it is needed), one word,
// and unique in the list; seen maps the names so far to their index.
func (v *validator) vrrpName(p, name, missing, kind, list string, seen map[string]int, i int) {
	switch {
	case name == "":
		v.errorf(p+".name", "missing: %s", missing)
	case hasSpace(name):
		v.errorf(p+".name", nameSpaceMsg, name)
	default:
		if j, dup := seen[name]; dup {
			v.errorf(p+".name", "duplicate %s name %q (also %s[%d])", kind, name, list, j)
		} else {
			seen[name] = i
		}
	}
}

func (v *validator) vrrpScript(p string, s *VRRPScript, names map[string]int, i int) {
	v.vrrpName(p, s.Name, "instances track a script by its name", "vrrp_script", "vrrp_scripts", names, i)
	if strings.TrimSpace(s.Script.Command) == "" {
		v.errorf(p+".script", "missing: the command to run")
	} else {
		v.script(p+".script", &s.Script)
	}
	// vrrp_parser.c: interval and timeout more than 0, rise and fall at
	// least 1, weight in -253..253.
	if s.Interval <= 0 {
		v.errorf(p+".interval", "%s must be more than 0", formatDuration(s.Interval))
	}
	if s.Timeout <= 0 {
		v.errorf(p+".timeout", "%s must be more than 0", formatDuration(s.Timeout))
	}
	if s.Rise < 1 {
		v.errorf(p+".rise", "%d is less than 1", s.Rise)
	}
	if s.Fall < 1 {
		v.errorf(p+".fall", "%d is less than 1", s.Fall)
	}
	if s.Weight < -maxTrackWeight || s.Weight > maxTrackWeight {
		v.errorf(p+".weight", "%d is out of range -%d..%d", s.Weight, maxTrackWeight, maxTrackWeight)
	}
}

func (v *validator) trackScripts(p string, refs []TrackRef, scripts map[string]int, used map[string]bool) {
	v.trackRefs(p+".track_script", refs, func(tp string, t TrackRef) {
		if _, ok := scripts[t.Name]; !ok {
			v.errorf(tp, "no vrrp_script is named %q", t.Name)
		}
		used[t.Name] = true
	})
}

// trackRefs checks a tracker list: names given once, weights in range;
// each calls check for the checks particular to its kind.
func (v *validator) trackRefs(p string, refs []TrackRef, check func(key string, t TrackRef)) {
	seen := map[string]int{}
	for j, t := range refs {
		key := fmt.Sprintf("%s[%d]", p, j)
		if t.Weight < -maxTrackWeight || t.Weight > maxTrackWeight {
			v.errorf(key, "weight %d is out of range -%d..%d", t.Weight, maxTrackWeight, maxTrackWeight)
		}
		switch k, dup := seen[t.Name]; {
		case t.Name == "":
			v.errorf(key, "missing name")
			continue
		case dup:
			v.errorf(key, "%q is listed twice (also [%d])", t.Name, k)
			continue
		}
		seen[t.Name] = j
		if check != nil {
			check(key, t)
		}
	}
}

func (v *validator) vrrpInstance(p string, vi *VRRPInstance, scripts map[string]int, used map[string]bool, allVIPs map[netip.Addr]string) {
	switch vi.State {
	case "MASTER", "BACKUP":
	case "":
		v.errorf(p+".state", "missing: want MASTER or BACKUP")
	default:
		// vrrp_parser.c vrrp_state_handler falls back to BACKUP with an
		// error; a config says what it means.
		v.errorf(p+".state", "unknown state %q: want MASTER or BACKUP", vi.State)
	}
	if vi.Interface == "" {
		if len(vi.UnicastPeers) == 0 {
			v.errorf(p+".interface", "missing: the interface VRRP adverts are sent on (it may be left out only with unicast_peer)")
		}
	} else if msg := ifNameProblem(vi.Interface); msg != "" {
		v.errorf(p+".interface", "%q %s", vi.Interface, msg)
	}
	if vi.VRID == 0 {
		v.errorf(p+".virtual_router_id", "missing: a VRID in 1..255, the same on every node of this virtual router")
	}
	if vi.Priority == 0 {
		v.errorf(p+".priority", "0 is out of range 1..255 (leave it out for %d)", DefaultVRRPPriority)
	}
	fam := vi.family()
	versionOK := true
	switch vi.Version {
	case 2:
		if fam == "IPv6" {
			// RFC 3768 is IPv4 only; keepalived forces version 3.
			v.errorf(p+".version", "VRRP version 2 is IPv4 only (RFC 3768); an IPv6 instance speaks version 3")
		}
	case 3:
	default:
		v.errorf(p+".version", "%d is not a VRRP version: want 2 or 3", vi.Version)
		versionOK = false
	}
	v.advertInt(p+".advert_int", vi.AdvertInt, vi.Version, versionOK)
	v.vrrpAuth(p, vi)
	v.vips(p, ".virtual_ipaddress", vi, vi.VIPs, true, allVIPs)
	v.vips(p, ".virtual_ipaddress_excluded", vi, vi.ExcludedVIPs, false, allVIPs)
	if len(vi.VIPs) == 0 && vi.Version == 3 {
		// vrrp.c vrrp_complete_instance: "No VIP specified; at least one
		// is required" (version 3, IPv6 or strict mode).
		v.errorf(p+".virtual_ipaddress", "missing: VRRP version 3 needs at least one virtual address")
	}
	for j, r := range vi.Routes {
		if strings.TrimSpace(r) == "" {
			v.errorf(fmt.Sprintf("%s.virtual_routes[%d]", p, j), "empty route")
		}
	}
	v.preempt(p, vi)
	v.unicast(p, vi, fam)
	v.trackRefs(p+".track_interface", vi.TrackInterfaces, func(key string, t TrackRef) {
		if msg := ifNameProblem(t.Name); msg != "" {
			v.errorf(key, "%q %s", t.Name, msg)
		}
		if t.Name == vi.Interface {
			// vrrp.c vrrp_complete_instance: "Ignoring track_interface %s
			// since own interface".
			v.warnf(key, "ignored: %s is the instance's own interface, which is always tracked", t.Name)
		}
	})
	v.trackScripts(p, vi.TrackScripts, scripts, used)
	v.trackRefs(p+".track_file", vi.TrackFiles, nil)
	if vi.Priority == 255 {
		// vrrp.c vrrp_complete_instance: the address owner ignores
		// weighted trackers.
		for _, t := range []struct {
			name string
			refs []TrackRef
		}{{"track_interface", vi.TrackInterfaces}, {"track_script", vi.TrackScripts}, {"track_file", vi.TrackFiles}} {
			for j, ref := range t.refs {
				if ref.Weight != 0 {
					v.warnf(fmt.Sprintf("%s.%s[%d]", p, t.name, j), "weight %d is ignored: priority 255 is the address owner, whose priority never changes", ref.Weight)
				}
			}
		}
	}
	for _, s := range []struct {
		name string
		s    *Script
	}{{"notify_master", vi.NotifyMaster}, {"notify_backup", vi.NotifyBackup}, {"notify_fault", vi.NotifyFault}, {"notify_stop", vi.NotifyStop}, {"notify", vi.Notify}} {
		v.script(p+"."+s.name, s.s)
	}
	if vi.SMTPAlert {
		v.smtpAlert(p + ".smtp_alert")
	}
	v.nonNegative(p+".garp_master_delay", vi.GarpMasterDelay)
	v.nonNegative(p+".garp_master_refresh", vi.GarpRefresh)
	v.nonNegativeInt(p+".garp_master_repeat", vi.GarpMasterRepeat)
}

// advertInt holds advert_int to vrrp_parser.c vrrp_adv_handler (0.01 s to
// 255 s) and vrrp.c vrrp_complete_instance: version 2 counts whole seconds
// below 256 and rounds anything else, version 3 centiseconds below 40.96 s.
func (v *validator) advertInt(key string, d time.Duration, version int, versionOK bool) {
	switch {
	case d < 10*time.Millisecond:
		v.errorf(key, "%s is out of range 10ms..255s", formatDuration(d))
		return
	case !versionOK:
		return
	case version == 2 && d > 255*time.Second:
		v.errorf(key, "%s is out of range 1s..255s for VRRP version 2 (an 8-bit count of seconds)", formatDuration(d))
	case version == 2 && d%time.Second != 0:
		rounded := (d + time.Second/2) / time.Second * time.Second
		v.warnf(key, "VRRP version 2 counts whole seconds: %s is rounded to %s, as keepalived does", formatDuration(d), formatDuration(max(rounded, time.Second)))
	case version == 3 && d > 4095*10*time.Millisecond:
		v.errorf(key, "%s is out of range 10ms..40.95s for VRRP version 3 (a 12-bit count of centiseconds)", formatDuration(d))
	case version == 3 && d%(10*time.Millisecond) != 0:
		v.warnf(key, "VRRP version 3 counts centiseconds: %s is rounded, as keepalived does", formatDuration(d))
	}
}

func (v *validator) vrrpAuth(p string, vi *VRRPInstance) {
	switch vi.AuthType {
	case "":
		if vi.AuthPass != "" {
			v.warnf(p+".auth_pass", "unused: auth_type is not set, so adverts are not authenticated")
		}
		return
	case "PASS", "AH":
	default:
		v.errorf(p+".auth_type", "unknown authentication type %q: want PASS or AH", vi.AuthType)
		return
	}
	if vi.Version == 3 {
		// vrrp.c vrrp_complete_instance: "VRRP version 3 does not support
		// authentication. Ignoring."
		v.warnf(p+".auth_type", "ignored: VRRP version 3 has no authentication (RFC 5798), as keepalived warns")
		return
	}
	if vi.AuthPass == "" {
		// keepalived ignores authentication without a password; here a
		// config that asks for it gets it or is refused.
		v.errorf(p+".auth_pass", "missing: auth_type %s needs a password", vi.AuthType)
	} else if len(vi.AuthPass) > maxAuthPass {
		v.warnf(p+".auth_pass", "%d bytes long: only the first %d are used (keepalived truncates auth_pass)", len(vi.AuthPass), maxAuthPass)
	}
	if vi.AuthType == "AH" && vi.State == "MASTER" && vi.Priority != 255 {
		// vrrp.c: "Initial state master is incompatible with AH
		// authentication - clearing".
		v.warnf(p+".state", "MASTER is ignored with AH authentication: the instance starts as BACKUP to learn the AH sequence number")
	}
}

// vips checks a virtual_ipaddress (one family, as keepalived requires) or
// virtual_ipaddress_excluded list (families may mix).
func (v *validator) vips(ip, list string, vi *VRRPInstance, vs []VIP, oneFamily bool, all map[netip.Addr]string) {
	seen := map[netip.Addr]int{}
	for j, x := range vs {
		key := fmt.Sprintf("%s%s[%d]", ip, list, j)
		a := x.Prefix.Addr()
		switch {
		case !x.Prefix.IsValid():
			v.errorf(key, "missing or invalid address")
			continue
		case a.Zone() != "":
			v.errorf(key, "%s has an IPv6 zone; give the interface in dev", a)
			continue
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
			v.errorf(key, "%s is not a unicast address a virtual router can own", a)
			continue
		}
		if oneFamily && j > 0 && a.Is6() != vs[0].Prefix.Addr().Is6() {
			// vrrp_ipaddress.c: every VIP of an instance MUST be of the
			// instance's family.
			v.errorf(key, "%s is %s but the instance's first address is %s: one family per instance (use virtual_ipaddress_excluded for the other)", a, addrFamilyName(a), addrFamilyName(vs[0].Prefix.Addr()))
		}
		if k, dup := seen[a]; dup {
			v.errorf(key, "duplicate address %s (also [%d])", a, k)
		} else {
			seen[a] = j
			if other, dup := all[a]; dup {
				v.errorf(key, "%s is also a virtual address of %s", a, other)
			} else {
				all[a] = ip
			}
		}
		if x.Broadcast.IsValid() && (x.Broadcast.Is6() || a.Is6()) {
			v.errorf(key, "brd %s: a broadcast address is IPv4 only", x.Broadcast)
		}
		dev := vi.Interface
		if x.Dev != "" {
			dev = x.Dev
			if msg := ifNameProblem(x.Dev); msg != "" {
				v.errorf(key, "dev %q %s", x.Dev, msg)
			}
		}
		if x.Scope != "" && !validScope(x.Scope) {
			v.errorf(key, "unknown scope %q: want %s or a number 0..255", x.Scope, strings.Join(vipScopes, ", "))
		}
		if x.Label != "" {
			switch {
			case len(x.Label) > 15 || hasSpace(x.Label):
				v.errorf(key, "label %q is longer than 15 bytes or contains white space", x.Label)
			case dev != "" && !strings.HasPrefix(x.Label, dev):
				// iproute2 ipaddress.c and vishvananda/netlink AddrAdd:
				// "label must begin with interface name".
				v.errorf(key, "label %q must begin with the interface name %s", x.Label, dev)
			}
		}
	}
}

func validScope(s string) bool {
	for _, n := range vipScopes {
		if s == n {
			return true
		}
	}
	n, err := strconv.ParseUint(s, 10, 8)
	return err == nil && n <= 255
}

// preempt applies vrrp.c vrrp_complete_instance's corrections, which
// keepalived makes with a warning.
func (v *validator) preempt(p string, vi *VRRPInstance) {
	if vi.PreemptDelay < 0 || vi.PreemptDelay > MaxPreemptDelay {
		v.errorf(p+".preempt_delay", "%s is out of range 0s..%s", formatDuration(vi.PreemptDelay), formatDuration(MaxPreemptDelay))
	}
	switch {
	case vi.Nopreempt && vi.Priority == 255:
		v.warnf(p+".nopreempt", "ignored: the address owner (priority 255) always preempts, as keepalived resets nopreempt")
	case vi.Nopreempt && vi.State == "MASTER":
		v.warnf(p+".nopreempt", "ignored with state MASTER: keepalived clears it (\"nopreempt will not work with initial state MASTER\"); use state BACKUP on every node")
	}
	switch {
	case vi.PreemptDelay > 0 && vi.State == "MASTER":
		v.warnf(p+".preempt_delay", "ignored with state MASTER, as keepalived clears it")
	case vi.PreemptDelay > 0 && vi.Nopreempt:
		v.warnf(p+".preempt_delay", "ignored with nopreempt, as keepalived resets it")
	}
}

func (v *validator) unicast(p string, vi *VRRPInstance, fam string) {
	src := vi.UnicastSrcIP
	if src.IsValid() {
		switch {
		case src.Zone() != "" || src.IsUnspecified() || src.IsMulticast():
			v.errorf(p+".unicast_src_ip", "%s is not a unicast address of this node", src)
		case addrFamilyName(src) != fam:
			// vrrp_parser.c vrrp_srcip_handler: "VRRP instance[%s] and src
			// address[%s] MUST be of the same family".
			v.errorf(p+".unicast_src_ip", "%s is %s but the instance is %s", src, addrFamilyName(src), fam)
		}
	}
	if vi.McastSrcIP.IsValid() && addrFamilyName(vi.McastSrcIP) != fam {
		v.errorf(p+".mcast_src_ip", "%s is %s but the instance is %s", vi.McastSrcIP, addrFamilyName(vi.McastSrcIP), fam)
	}
	peers := map[netip.Addr]int{}
	for j, a := range vi.UnicastPeers {
		key := fmt.Sprintf("%s.unicast_peer[%d]", p, j)
		switch {
		case !a.IsValid():
			v.errorf(key, "missing address")
		case a.IsUnspecified() || a.IsMulticast():
			v.errorf(key, "%s is not a unicast address", a)
		case addrFamilyName(a) != fam:
			v.errorf(key, "%s is %s but the instance (and unicast_src_ip) is %s", a, addrFamilyName(a), fam)
		case src.IsValid() && a == src:
			v.errorf(key, "%s is this node's own unicast_src_ip", a)
		default:
			if k, dup := peers[a]; dup {
				v.errorf(key, "duplicate peer %s (also unicast_peer[%d])", a, k)
			} else {
				peers[a] = j
			}
		}
	}
	auth := vi.AuthType != "" && vi.Version == 2
	if !auth && len(vi.UnicastPeers) == 0 {
		// reliability.md section 2.5: an unauthenticated TTL-255 advert
		// from any host on the LAN deposed the master.
		v.warnf(p, "neither authentication nor unicast_peer: a single spoofed advert can take the VIP; set auth_type and auth_pass (version 2) or list the peers in unicast_peer")
	}
}
