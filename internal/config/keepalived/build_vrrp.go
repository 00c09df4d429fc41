package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// vrrp builds the VRRP part of the model with the checks and defaults of
// vrrp.c vrrp_complete_instance.
func (b *builder) vrrp(c *config.Config, st *state, g *globalDefs) {
	for _, s := range st.vscripts {
		vs := config.VRRPScript{
			Name:     s.name,
			Script:   *s.script,
			Interval: s.interval,
			Timeout:  s.timeout,
			Weight:   s.weight,
			Reverse:  s.reverse,
			Rise:     s.rise,
			Fall:     s.fall,
			InitFail: s.initFail,
		}
		vs.Script.User, vs.Script.Group = s.user, s.group
		if vs.Timeout == 0 {
			// vrrp_script_thread: no timeout means the interval.
			vs.Timeout = vs.Interval
		}
		b.keys[fmt.Sprintf("vrrp_scripts[%d]", len(c.VRRPScripts))] = s.at
		c.VRRPScripts = append(c.VRRPScripts, vs)
	}
	for _, v := range st.vrrps {
		if inst, ok := b.instance(v, g); ok {
			b.keys[fmt.Sprintf("vrrp_instances[%d]", len(c.VRRPInstances))] = v.at
			c.VRRPInstances = append(c.VRRPInstances, inst)
		}
	}
	b.duplicateVRIDs(c)
	b.syncWeights(c, st)
	for _, sg := range st.syncs {
		out := config.VRRPSyncGroup{
			Name:         sg.name,
			NotifyMaster: sg.notifyMaster,
			NotifyBackup: sg.notifyBackup,
			NotifyFault:  sg.notifyFault,
			NotifyStop:   sg.notifyStop,
			Notify:       sg.notify,
			SMTPAlert:    sg.smtpAlert,
		}
		for _, m := range sg.group {
			if !slices.ContainsFunc(c.VRRPInstances, func(i config.VRRPInstance) bool { return i.Name == m }) {
				b.sink.warnf(sg.at, "Virtual router %s specified in sync group %s doesn't exist - ignoring", m, sg.name)
				continue
			}
			out.Group = append(out.Group, m)
		}
		for _, t := range sg.trackScr {
			out.TrackScripts = append(out.TrackScripts, t.ref)
		}
		if len(out.Group) == 0 {
			continue
		}
		b.keys[fmt.Sprintf("vrrp_sync_groups[%d]", len(c.VRRPSyncGroups))] = sg.at
		c.VRRPSyncGroups = append(c.VRRPSyncGroups, out)
	}
}

func (b *builder) instance(v *vrrpInst, g *globalDefs) (config.VRRPInstance, bool) {
	warn := func(format string, args ...any) {
		b.sink.warnf(v.at, "(%s) "+format, append([]any{v.name}, args...)...)
	}
	if v.iface == "" {
		// vrrp_complete_instance: an instance needs an interface
		// (unicast without link-local addresses aside).
		b.sink.errorf(v.at, "(%s) Unknown interface!", v.name)
		return config.VRRPInstance{}, false
	}
	if v.vrid == 0 {
		b.sink.errorf(v.at, "(%s) the virtual router id must be set", v.name)
		return config.VRRPInstance{}, false
	}
	out := config.VRRPInstance{
		Name:             v.name,
		Interface:        v.iface,
		VRID:             uint8(v.vrid),
		VIPs:             v.vips,
		ExcludedVIPs:     v.evips,
		Routes:           v.routes,
		Nopreempt:        v.nopreempt,
		PreemptDelay:     v.preemptDelay,
		UnicastSrcIP:     v.unicastSrc,
		UnicastPeers:     v.peers,
		McastSrcIP:       v.mcastSrc,
		NotifyMaster:     v.notifyMaster,
		NotifyBackup:     v.notifyBackup,
		NotifyFault:      v.notifyFault,
		NotifyStop:       v.notifyStop,
		Notify:           v.notify,
		UseVMAC:          v.useVMAC,
		SMTPAlert:        resolveAlert(v.smtpAlert, g.smtpAlertVRRP, g.smtpAlert, false),
		GarpMasterDelay:  5 * time.Second,
		GarpMasterRepeat: 5,
	}
	// Priority and state decide each other: MASTER without a priority
	// is the address owner (255), and 255 without a state is MASTER.
	out.State = v.state
	switch {
	case v.priority != 0:
		out.Priority = uint8(v.priority)
	case v.state == "MASTER":
		out.Priority = vrrpPrioOwner
	default:
		out.Priority = vrrpPrioDefault
	}
	if out.State == "" {
		out.State = "BACKUP"
		if out.Priority == vrrpPrioOwner {
			out.State = "MASTER"
		}
	}
	out.Version = v.version
	if out.Version == 0 {
		out.Version = 2
		if g.vrrpVersion != 0 {
			out.Version = g.vrrpVersion
		}
		if v.family == 6 {
			out.Version = 3
		}
	} else if out.Version == 2 && v.family == 6 {
		b.sink.warnf(v.versionAt, "(%s) VRRP version 2 is IPv4 only (RFC 3768): IPv6 addresses need version 3; keepalived 2.2.7 keeps version 2 because it was set before the first IPv6 address", v.name)
	}

	// Authentication, for VRRP version 2 only.
	out.AuthType, out.AuthPass = v.authType, v.authPass
	if out.AuthType != "" {
		switch {
		case out.Version == 3:
			warn("VRRP version 3 does not support authentication. Ignoring.")
			out.AuthType, out.AuthPass = "", ""
		case g.vrrpStrict:
			warn("Strict mode does not support authentication. Ignoring.")
			out.AuthType, out.AuthPass = "", ""
		case out.AuthPass == "":
			warn("Authentication specified but no password given. Ignoring")
			out.AuthType = ""
		case out.AuthType == "AH" && v.family == 6:
			warn("Cannot use AH authentication with IPv6. ignoring")
			out.AuthType, out.AuthPass = "", ""
		case out.AuthType == "AH" && out.State == "MASTER":
			warn("Initial state master is incompatible with AH authentication - clearing")
			out.State = "BACKUP"
		}
	} else if out.AuthPass != "" {
		b.sink.warnf(v.authAt, "(%s) auth_pass without auth_type: keepalived uses no authentication", v.name)
		out.AuthPass = ""
	}

	if len(out.VIPs) == 0 {
		warn("No VIP specified; at least one is sensible")
	}
	if v.unicast && len(v.peers) == 0 {
		warn("A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration.")
		if !out.McastSrcIP.IsValid() {
			out.McastSrcIP = out.UnicastSrcIP
		}
		out.UnicastSrcIP = netip.Addr{}
	}

	// Preemption.
	if out.Nopreempt && out.Priority == vrrpPrioOwner {
		warn("nopreempt is incompatible with priority %d. resetting nopreempt", vrrpPrioOwner)
		out.Nopreempt = false
	}
	if out.Nopreempt && out.State == "MASTER" {
		b.sink.warnf(v.nopreemptAt, "(%s) Warning - nopreempt will not work with initial state MASTER - clearing", v.name)
		out.Nopreempt = false
	}
	if out.PreemptDelay > 0 && out.State == "MASTER" {
		warn("Warning - preempt delay will not work with initial state MASTER - clearing")
		out.PreemptDelay = 0
	}
	if out.PreemptDelay > 0 && out.Nopreempt {
		warn("preempt_delay is incompatible with nopreempt mode - resetting")
		out.PreemptDelay = 0
	}

	// Advertisement interval: whole seconds for version 2, centiseconds
	// for version 3.
	out.AdvertInt = time.Second
	if v.advert > 0 {
		out.AdvertInt = v.advert
	}
	secs := func(d time.Duration) float64 { return d.Seconds() }
	if out.Version == 2 {
		if out.AdvertInt > 255*time.Second {
			warn("VRRPv2 advertisement interval %.2fs is out of range. Must be less than %ds. Setting to %ds", secs(out.AdvertInt), 255, 255)
			out.AdvertInt = 255 * time.Second
		} else if out.AdvertInt%time.Second != 0 {
			b.sink.warnf(v.advertAt, "(%s) VRRPv2 advertisement interval %fs must be an integer. rounding", v.name, secs(out.AdvertInt))
			out.AdvertInt = max((out.AdvertInt+time.Second/2)/time.Second*time.Second, time.Second)
		}
	} else {
		const cs = 10 * time.Millisecond
		if out.AdvertInt > 4095*cs {
			warn("VRRPv3 advertisement interval %.2fs is out of range. Must be less than %.2fs. Setting to %.2fs", secs(out.AdvertInt), 40.95, 40.95)
			out.AdvertInt = 4095 * cs
		} else if out.AdvertInt%cs != 0 {
			b.sink.warnf(v.advertAt, "(%s) VRRPv3 advertisement interval %fs must be in units of 10ms - rounding", v.name, secs(out.AdvertInt))
			out.AdvertInt = max((out.AdvertInt+cs/2)/cs*cs, cs)
		}
	}

	// Accept mode: keepalived's default is on, unless vrrp_strict.
	out.Accept = !g.vrrpStrict
	if v.accept != unset {
		out.Accept = v.accept == 1
	}

	for _, t := range v.trackIf {
		if t.ref.Name == out.Interface {
			b.sink.warnf(t.at, "(%s) Ignoring track_interface %s since own interface", v.name, t.ref.Name)
			continue
		}
		out.TrackInterfaces = append(out.TrackInterfaces, t.ref)
	}
	for _, t := range v.trackScr {
		out.TrackScripts = append(out.TrackScripts, t.ref)
	}
	for _, t := range v.trackFile {
		out.TrackFiles = append(out.TrackFiles, t.ref)
	}

	if g.garpDelay != unset {
		out.GarpMasterDelay = g.garpDelay
	}
	if v.garpDelay != unset {
		out.GarpMasterDelay = v.garpDelay
	}
	if g.garpRep != unset {
		out.GarpMasterRepeat = g.garpRep
	}
	if v.garpRep != unset {
		out.GarpMasterRepeat = v.garpRep
	}
	if g.garpRefresh != unset {
		out.GarpRefresh = g.garpRefresh
	}
	if v.garpRefresh != unset {
		out.GarpRefresh = v.garpRefresh
	}
	return out, true
}

// duplicateVRIDs reports two instances with one VRID on one interface and
// address family: they would take each other's advertisements.
func (b *builder) duplicateVRIDs(c *config.Config) {
	type key struct {
		iface string
		vrid  uint8
		v6    bool
	}
	seen := map[key]string{}
	for i, inst := range c.VRRPInstances {
		v6 := false
		if len(inst.VIPs) > 0 {
			v6 = inst.VIPs[0].Prefix.Addr().Is6()
		}
		k := key{inst.Interface, inst.VRID, v6}
		if other, dup := seen[k]; dup {
			fam := "IPv4"
			if v6 {
				fam = "IPv6"
			}
			b.sink.errorf(b.keys[fmt.Sprintf("vrrp_instances[%d]", i)], "%s and %s both use VRID %d with %s on interface %s", other, inst.Name, inst.VRID, fam, inst.Interface)
			continue
		}
		seen[k] = inst.Name
	}
}

// syncWeights clears the weights of the trackers of sync group members,
// as vrrp_sync.c does: a sync group moves its members together, so a
// tracker can only put them in FAULT.
func (b *builder) syncWeights(c *config.Config, st *state) {
	inGroup := map[string]bool{}
	for _, g := range st.syncs {
		for _, m := range g.group {
			inGroup[m] = true
		}
	}
	for i := range c.VRRPInstances {
		inst := &c.VRRPInstances[i]
		if !inGroup[inst.Name] {
			continue
		}
		at := b.keys[fmt.Sprintf("vrrp_instances[%d]", i)]
		for j := range inst.TrackInterfaces {
			if t := &inst.TrackInterfaces[j]; t.Weight != 0 {
				b.sink.warnf(at, "(%s) ignoring %s tracked interface weight due to SYNC group", inst.Name, t.Name)
				t.Weight, t.Reverse = 0, false
			}
		}
		for j := range inst.TrackScripts {
			t := &inst.TrackScripts[j]
			w := t.Weight
			if w == 0 {
				for _, s := range c.VRRPScripts {
					if s.Name == t.Name {
						w = s.Weight
					}
				}
			}
			if w != 0 {
				b.sink.warnf(at, "(%s) ignoring tracked script %s with weights due to SYNC group", inst.Name, t.Name)
				t.Weight, t.Reverse = 0, false
			}
		}
		for j := range inst.TrackFiles {
			if t := &inst.TrackFiles[j]; t.Weight != 0 {
				b.sink.warnf(at, "(%s) ignoring weight from tracked file %s due to SYNC group. specify weight 0", inst.Name, t.Name)
				t.Weight, t.Reverse = 0, false
			}
		}
	}
}
