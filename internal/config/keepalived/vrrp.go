package keepalived

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// VRRP keywords: vrrp_parser.c init_vrrp_keywords.

const (
	vrrpPrioDefault = 100 // VRRP_PRIO_DFL
	vrrpPrioOwner   = 255 // VRRP_PRIO_OWNER
	ifNameSize      = 16  // IFNAMSIZ, with the NUL
	// timerMaxSec bounds preempt_delay (TIMER_MAX_SEC).
	timerMaxSec = 1000
)

func vrrpRoots() []*keyword {
	return join(
		[]*keyword{
			block("vrrp_sync_group", 1, syncGroupStart, syncGroupEnd, syncGroupKeywords()...),
			block("vrrp_instance", 1, vrrpStart, vrrpEnd, vrrpKeywords()...),
			block("vrrp_script", 1, vscriptStart, vscriptEnd, vscriptKeywords()...),
		},
		ignBlock("track_group", "garp_group", "vrrp_track_process"),
		ignValues("static_ipaddress", "static_routes", "static_rules", "linkbeat_interfaces", "interface_up_down_delays"),
	)
}

func vrrpStart(c *cmd) {
	if len(c.args) != 2 {
		c.err("vrrp_instance must have a name")
		c.skipBlock = true
		return
	}
	for _, v := range c.st().vrrps {
		if v.name == c.args[1] {
			c.err("vrrp instance %s already defined", c.args[1])
			c.skipBlock = true
			return
		}
	}
	c.st().curVRRP = &vrrpInst{at: c.at, name: c.args[1], accept: unset, smtpAlert: unset,
		garpDelay: unset, garpRep: unset, garpRefresh: unset}
}

func vrrpEnd(p *pass) {
	v := p.st.curVRRP
	if v == nil {
		return
	}
	p.st.curVRRP = nil
	p.st.vrrps = append(p.st.vrrps, v)
}

// vrrp is the instance being read. Keywords of an instance keepalived
// refused (and did not skip) go to a throwaway one.
func (c *cmd) vrrp() *vrrpInst {
	if v := c.st().curVRRP; v != nil {
		return v
	}
	return &vrrpInst{accept: unset, smtpAlert: unset, garpDelay: unset, garpRep: unset, garpRefresh: unset}
}

func vrrpKeywords() []*keyword {
	return join([]*keyword{
		kw("state", 1, func(c *cmd) {
			v := c.vrrp()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			switch s {
			case "MASTER":
				v.state = s
			case "BACKUP":
				if v.state == "MASTER" {
					c.warn("(%s) state previously set as MASTER - ignoring BACKUP", v.name)
					return
				}
				v.state = s
			default:
				c.warn("(%s) unknown state '%s', defaulting to BACKUP", v.name, s)
				v.state = "BACKUP"
			}
			v.stateAt = c.at
		}),
		kw("interface", 1, func(c *cmd) {
			v := c.vrrp()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			if len(s) >= ifNameSize {
				c.warn("Interface name '%s' too long - ignoring", s)
				return
			}
			if s == "lo" {
				c.err("(%s) cannot use a loopback interface (%s) for vrrp - ignoring", v.name, s)
				return
			}
			if f := c.p.opts().InterfaceExists; f != nil && !f(s) {
				c.err("WARNING - interface %s for vrrp_instance %s doesn't exist (keepalived stops: \"Non-existent interface specified in configuration\")", s, v.name)
			}
			v.iface, v.ifaceAt = s, c.at
		}),
		kw("virtual_router_id", 1, func(c *cmd) {
			v := c.vrrp()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, _ := c.readUnsigned(s, 1, 255, false)
			if !ok {
				c.err("(%s): VRID '%s' not valid - must be between 1 & 255", v.name, s)
				return
			}
			v.vrid = int(n)
		}),
		kw("priority", 1, func(c *cmd) {
			v := c.vrrp()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, _ := c.readUnsigned(s, 1, vrrpPrioOwner, false)
			if !ok {
				c.warn("(%s) Priority not valid! must be between 1 & %d. Using default %d", v.name, vrrpPrioOwner, vrrpPrioDefault)
				n = vrrpPrioDefault
			}
			v.priority = int(n)
		}),
		kw("advert_int", 1, func(c *cmd) {
			v := c.vrrp()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readDecimal(s, timerHz/100, 255*timerHz, timerHzDigits, true)
			if !tOK || n == 0 {
				c.warn("(%s) Advert interval (%s) not valid! Must be > 0 - ignoring", v.name, s)
			}
			if ok && n > 0 {
				v.advert, v.advertAt = usec(n), c.at
			}
		}),
		kw("version", 1, func(c *cmd) {
			v := c.vrrp()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readInt(s, 2, 3, true)
			if !tOK {
				c.warn("(%s): Version must be either 2 or 3", v.name)
			}
			if !ok {
				return
			}
			if (v.version != 0 && v.version != int(n)) || (n == 2 && v.family == 6) {
				c.warn("(%s) vrrp_version %d conflicts with configured or deduced version %d; ignoring.", v.name, n, v.version)
				return
			}
			v.version, v.versionAt = int(n), c.at
		}),
		block("authentication", 0, func(c *cmd) {
			v := c.vrrp()
			v.authSeen, v.authAt = true, c.at
		}, nil,
			kw("auth_type", 1, func(c *cmd) {
				v := c.vrrp()
				s, ok := c.arg(1)
				if !ok {
					return
				}
				switch s {
				case "AH", "PASS":
					v.authType = s
				default:
					c.warn("(%s) unknown authentication type '%s'", v.name, s)
				}
				// "authentication { auth_type PASS auth_pass 1111 }"
				// on one line: one keyword per line, the rest is lost.
				for i := 2; i < len(c.args); i++ {
					if c.args[i] == "auth_pass" {
						v.authLost, v.authLostAt = strings.Join(c.args[i:], " "), c.at
						c.used = -1
						c.err("(%s) %q follows auth_type on the same line: keepalived reads one keyword per line, so the password is lost and the instance runs without authentication; put auth_pass on a line of its own", v.name, v.authLost)
						break
					}
				}
			}),
			kw("auth_pass", 1, func(c *cmd) {
				v := c.vrrp()
				s, ok := c.arg(1)
				if !ok {
					return
				}
				if len(s) > 8 {
					c.warn("Truncating auth_pass to 8 characters")
					s = s[:8]
				}
				v.authPass = s
			}),
		),
		kw("virtual_ipaddress", 0, func(c *cmd) { c.vips(&c.vrrp().vips) }),
		kw("virtual_ipaddress_excluded", 0, func(c *cmd) { c.vips(&c.vrrp().evips) }),
		kw("virtual_routes", 0, func(c *cmd) {
			v := c.vrrp()
			c.valueBlock(func(_ pos, ws []string) { v.routes = append(v.routes, strings.Join(ws, " ")) })
		}),
		kw("nopreempt", 0, func(c *cmd) { c.vrrp().nopreempt, c.vrrp().nopreemptAt = true, c.at }),
		kw("preempt", 0, func(c *cmd) { c.vrrp().nopreempt = false }),
		kw("preempt_delay", 1, func(c *cmd) {
			v := c.vrrp()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readDecimal(s, 0, timerMaxSec*timerHz, timerHzDigits, true)
			if !tOK {
				c.warn("(%s) Preempt_delay not valid! must be between 0-%d", v.name, timerMaxSec)
			}
			if !ok {
				n = 0
			}
			v.preemptDelay, v.preemptDelayAt = usec(n), c.at
		}),
		kw("accept", 0, func(c *cmd) { c.vrrp().accept = 1 }),
		kw("no_accept", 0, func(c *cmd) { c.vrrp().accept = 0 }),
		kw("unicast_src_ip", 1, func(c *cmd) {
			v := c.vrrp()
			v.unicast, v.unicastAt = true, c.at
			if a, ok := c.srcIP(); ok {
				v.unicastSrc = a
			}
		}),
		kw("mcast_src_ip", 1, func(c *cmd) {
			if a, ok := c.srcIP(); ok {
				c.vrrp().mcastSrc = a
			}
		}),
		kw("unicast_peer", 0, func(c *cmd) {
			v := c.vrrp()
			v.unicast, v.unicastAt = true, c.at
			c.valueBlock(func(at pos, ws []string) { c.peer(at, ws) })
		}),
		kw("track_interface", 0, func(c *cmd) { c.tracks("track_interface", &c.vrrp().trackIf) }),
		kw("track_script", 0, func(c *cmd) { c.tracks("track_script", &c.vrrp().trackScr) }),
		kw("track_file", 0, func(c *cmd) { c.tracks("track_file", &c.vrrp().trackFile) }),
		kw("notify_master", -1, func(c *cmd) { c.notify(&c.vrrp().notifyMaster, c.vrrp().name) }),
		kw("notify_backup", -1, func(c *cmd) { c.notify(&c.vrrp().notifyBackup, c.vrrp().name) }),
		kw("notify_fault", -1, func(c *cmd) { c.notify(&c.vrrp().notifyFault, c.vrrp().name) }),
		kw("notify_stop", -1, func(c *cmd) { c.notify(&c.vrrp().notifyStop, c.vrrp().name) }),
		kw("notify", -1, func(c *cmd) { c.notify(&c.vrrp().notify, c.vrrp().name) }),
		kw("smtp_alert", 1, func(c *cmd) {
			if b, ok := c.flag("Invalid vrrp_instance smtp_alert parameter %s"); ok {
				c.vrrp().smtpAlert = b2i(b)
			}
		}),
		kw("garp_master_delay", 1, func(c *cmd) {
			v := c.vrrp()
			if d, ok := c.seconds(1, "("+v.name+"): garp_master_delay '%s' invalid - ignoring"); ok {
				v.garpDelay = d
			}
		}),
		kw("garp_master_repeat", 1, func(c *cmd) {
			v := c.vrrp()
			if n, ok := c.repeats(1, "("+v.name+"): garp_master_repeat '%s' invalid - ignoring", "("+v.name+"): garp_master_repeat must be greater than 0, setting to 1"); ok {
				v.garpRep = n
			}
		}),
		kw("garp_master_refresh", 1, func(c *cmd) {
			v := c.vrrp()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32, true)
			if !tOK {
				c.warn("(%s): Invalid garp_master_refresh '%s' - ignoring", v.name, s)
			}
			if !ok {
				n = 0
			}
			v.garpRefresh = time.Duration(n) * time.Second
		}),
		kw("use_vmac", 2, func(c *cmd) { c.vrrp().useVMAC = true }),
	},
		ign("use_vmac_addr", "vmac_xmit_base", "use_ipvlan", "unicast_fault_no_peer", "check_unicast_src",
			"old_unicast_checksum", "native_ipv6", "vrf", "dont_track_primary", "track_process", "track_bfd",
			"mcast_dst_ip", "track_src_ip", "unicast_ttl", "no_virtual_ipaddress", "promote_secondaries",
			"linkbeat_use_polling", "v3_checksum_as_v2", "skip_check_adv_addr", "strict_mode", "debug",
			"notify_deleted", "notify_master_rx_lower_pri", "notify_priority_changes", "lvs_sync_daemon_interface",
			"garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat", "down_timer_adverts",
			"timer_expired_backup", "garp_extra_if", "vmac_garp_intvl", "lower_prio_no_advert",
			"higher_prio_send_advert", "kernel_rx_buf_size"),
		ignValues("virtual_rules"),
	)
}

// srcIP reads the address of unicast_src_ip or mcast_src_ip.
func (c *cmd) srcIP() (netip.Addr, bool) {
	v := c.vrrp()
	s, ok := c.arg(1)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		c.warn("Configuration error: VRRP instance[%s] malformed src address[%s]. Skipping...", v.name, s)
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if !c.family(v, a) {
		c.warn("Configuration error: VRRP instance[%s] and src address[%s] MUST be of the same family !!! Skipping...", v.name, s)
		return netip.Addr{}, false
	}
	return a, true
}

// family records the address family of an instance from its first
// address and reports whether a matches it.
func (c *cmd) family(v *vrrpInst, a netip.Addr) bool {
	f := 4
	if a.Is6() {
		f = 6
	}
	if v.family == 0 {
		v.family = f
	}
	return v.family == f
}

// peer is one unicast_peer line: "IP [min_ttl N] [max_ttl N]".
func (c *cmd) peer(at pos, ws []string) {
	v := c.vrrp()
	a, err := netip.ParseAddr(ws[0])
	if err != nil {
		c.p.sink.warnf(at, "Configuration error: VRRP instance[%s] malformed unicast peer address[%s]. Skipping...", v.name, ws[0])
		return
	}
	a = a.Unmap()
	if !c.family(v, a) {
		c.p.sink.warnf(at, "(%s): address family must match VRRP instance [%s] - ignoring", v.name, ws[0])
		return
	}
	for i := 1; i < len(ws); i++ {
		switch ws[i] {
		case "min_ttl", "max_ttl":
			if i+1 >= len(ws) {
				c.p.sink.warnf(at, "(%s) %s is missing a value", v.name, ws[i])
				continue
			}
			i++
		default:
			// Reported once; the peer is kept (vrrp_data.c).
			c.p.sink.warnf(at, "(%s) unknown unicast_peer option %s", v.name, ws[i])
			i = len(ws)
		}
	}
	v.peers = append(v.peers, a)
}

// tracks reads a track_interface, track_script or track_file block:
// "NAME [weight N [reverse|noreverse]]" per line (vrrp_track.c).
func (c *cmd) tracks(kind string, out *[]trackRef) {
	name := ""
	if v := c.st().curVRRP; v != nil {
		name = v.name
	} else if g := c.st().curSync; g != nil {
		name = g.name
	}
	c.valueBlock(func(at pos, ws []string) {
		r := trackRef{at: at, ref: config.TrackRef{Name: ws[0]}}
		switch kind {
		case "track_script":
			// The vrrp_script must come first in the file
			// (vrrp_track.c alloc_track_script).
			if !c.st().hasScript(ws[0]) {
				c.p.sink.errorf(at, "(%s) track script %s not found, ignoring...", name, ws[0])
				return
			}
		case "track_file":
			if !c.st().hasTrackFile(ws[0]) {
				c.p.sink.errorf(at, "(%s) track file %s not found, ignoring...", name, ws[0])
				return
			}
		case "track_interface":
			if f := c.p.opts().InterfaceExists; f != nil && !f(ws[0]) {
				c.p.sink.errorf(at, "(%s) tracked interface %s doesn't exist", name, ws[0])
				return
			}
		}
		for _, e := range *out {
			if e.ref.Name == ws[0] {
				c.p.sink.warnf(at, "(%s) duplicate %s %s - ignoring", name, kind, ws[0])
				return
			}
		}
		if len(ws) > 1 {
			if ws[1] != "weight" {
				c.p.sink.warnf(at, "(%s) unknown %s %s option %s - ignoring", name, kind, ws[0], ws[1])
				return
			}
			if len(ws) == 2 {
				c.p.sink.warnf(at, "(%s) weight without value specified for %s %s - ignoring", name, kind, ws[0])
				return
			}
			lim := int64(253)
			if kind == "track_file" {
				lim = 254
			}
			sub := &cmd{p: c.p, at: at, lastDiag: -1, used: -2}
			w, ok, _ := sub.readInt(ws[2], -lim, lim, true)
			if !ok {
				c.p.sink.warnf(at, "(%s) weight for %s %s must be between [-%d..%d] inclusive. Ignoring...", name, kind, ws[0], lim, lim)
				return
			}
			r.ref.Weight = int(w)
			if len(ws) > 3 {
				switch ws[3] {
				case "reverse":
					r.ref.Reverse = true
				case "noreverse":
				default:
					c.p.sink.warnf(at, "(%s) unknown %s %s weight option %s - ignoring", name, kind, ws[0], ws[3])
					return
				}
			}
			if len(ws) > 4 {
				c.p.sink.warnf(at, "keepalived ignores the words after %q: %q", strings.Join(ws[:4], " "), strings.Join(ws[4:], " "))
			}
		}
		*out = append(*out, r)
	})
}

// notify reads a notify script; a second one is ignored.
func (c *cmd) notify(dst **config.Script, owner string) {
	if *dst != nil {
		arg := ""
		if c.has(1) {
			arg = c.args[1]
		}
		c.warn("(%s) %s script already specified - ignoring %s", owner, c.args[0], arg)
		return
	}
	*dst = c.script()
}

// vips reads a virtual_ipaddress block (vrrp_ipaddress.c
// alloc_ipaddress): "IP[/len] [dev IF] [scope S] [brd IP|+|-] [label L]
// [peer IP] [home] [-nodad] ..." per line.
func (c *cmd) vips(out *[]config.VIP) {
	v := c.vrrp()
	c.valueBlock(func(at pos, ws []string) {
		vip, ok := c.vip(at, ws)
		if !ok {
			return
		}
		if !c.family(v, vip.Prefix.Addr()) {
			c.p.sink.warnf(at, "(%s): address family must match VRRP instance [%s] - ignoring", v.name, ws[0])
			return
		}
		*out = append(*out, vip)
	})
}

func (c *cmd) vip(at pos, ws []string) (config.VIP, bool) {
	warn := func(format string, args ...any) { c.p.sink.warnf(at, format, args...) }
	var vip config.VIP
	addrS, plen := ws[0], -1
	v6 := strings.Contains(addrS, ":")
	maxLen := 32
	if v6 {
		maxLen = 128
	}
	if i := strings.IndexByte(addrS, '/'); i >= 0 {
		sub := &cmd{p: c.p, at: at, lastDiag: -1, used: -2}
		n, ok, _ := sub.readUnsigned(addrS[i+1:], 0, uint64(maxLen), true)
		if !ok {
			warn("Invalid address prefix len %s for address %s - using %d", addrS[i+1:], addrS, maxLen)
		} else {
			plen = int(n)
		}
		addrS = addrS[:i]
	}
	a, err := netip.ParseAddr(addrS)
	if err != nil || a.Is6() != v6 || a.Zone() != "" {
		warn("VRRP parsed invalid IP %s. skipping IP...", ws[0])
		return vip, false
	}
	if plen < 0 {
		plen = maxLen
	}
	brd := ""
	peer := false
	for i := 1; i < len(ws); i++ {
		opt := ws[i]
		needs := map[string]bool{"dev": true, "scope": true, "broadcast": true, "brd": true, "label": true, "peer": true, "preferred_lft": true}
		if needs[opt] && i+1 >= len(ws) {
			warn("No %s parameter specified for %s", opt, ws[0])
			return vip, false
		}
		switch opt {
		case "dev":
			i++
			if vip.Dev != "" {
				warn("Cannot specify ipaddress device more than once for %s", ws[0])
				return vip, false
			}
			if f := c.p.opts().InterfaceExists; f != nil && !f(ws[i]) {
				c.p.sink.errorf(at, "WARNING - interface %s for ip address %s doesn't exist", ws[i], ws[0])
				return vip, false
			}
			vip.Dev = ws[i]
		case "scope":
			i++
			if !validScope(ws[i]) {
				warn("Invalid scope '%s' specified for %s - ignoring", ws[i], ws[0])
				continue
			}
			vip.Scope = ws[i]
		case "broadcast", "brd":
			i++
			if v6 {
				warn("VRRP is trying to assign a broadcast %s to the IPv6 address %s !!?? WTF... skipping VIP...", ws[i], ws[0])
				return vip, false
			}
			brd = ws[i]
			if brd != "+" && brd != "-" {
				b, err := netip.ParseAddr(brd)
				if err != nil || !b.Is4() {
					warn("VRRP is trying to assign invalid broadcast %s. skipping VIP...", ws[i])
					return vip, false
				}
				vip.Broadcast = b
			}
		case "label":
			i++
			vip.Label = ws[i]
			if len(vip.Label) >= ifNameSize {
				vip.Label = vip.Label[:ifNameSize-1]
			}
		case "peer":
			i++
			peer = true
			warn("the peer address of %s is not used by fulcrum", ws[0])
		case "preferred_lft":
			i++
		case "home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac":
		default:
			warn("Unknown configuration entry '%s' for ip address - ignoring", opt)
			if strings.HasPrefix(opt, "//") {
				warn("'//' is not a comment in keepalived.conf: comments start with '#' or '!'")
			}
		}
	}
	if v6 {
		if vip.Scope != "" {
			warn("Cannot specify scope for IPv6 addresses (%s) - ignoring scope", ws[0])
			vip.Scope = ""
		}
		if vip.Label != "" {
			warn("Cannot specify label for IPv6 addresses (%s) - ignoring label", ws[0])
			vip.Label = ""
		}
	}
	if brd == "+" || brd == "-" {
		switch {
		case peer:
			warn("Cannot specify broadcast and peer addresses - ignoring broadcast address")
		case plen > 30:
			warn("Address prefix length %d too long for broadcast", plen)
		default:
			vip.Broadcast = broadcast(a, plen, brd == "+")
		}
	}
	vip.Prefix = netip.PrefixFrom(a, plen)
	return vip, true
}

// broadcast is the address with the host bits set (+) or cleared (-).
func broadcast(a netip.Addr, plen int, set bool) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	mask := uint32(0xffffffff) >> plen
	if set {
		v |= mask
	} else {
		v &^= mask
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// validScope accepts the names of /etc/iproute2/rt_scopes and numbers.
func validScope(s string) bool {
	switch s {
	case "global", "site", "link", "host", "nowhere":
		return true
	}
	n, err := strconv.ParseUint(s, 0, 8)
	return err == nil && n <= 255
}

// VRRP scripts.

func vscriptStart(c *cmd) {
	name, ok := c.arg(1)
	if !ok {
		return
	}
	c.st().curScript = &vrrpScript{at: c.at, name: name, interval: time.Second, rise: 1, fall: 1}
}

func vscriptEnd(p *pass) {
	s := p.st.curScript
	if s == nil {
		return
	}
	p.st.curScript = nil
	if s.script == nil {
		p.sink.warnf(p.here(), "No script set for vrrp_script %s - removing", s.name)
		return
	}
	p.st.vscripts = append(p.st.vscripts, s)
}

func vscriptKeywords() []*keyword {
	cur := func(c *cmd) *vrrpScript {
		if s := c.st().curScript; s != nil {
			return s
		}
		return &vrrpScript{}
	}
	return []*keyword{
		kw("script", 1, func(c *cmd) {
			ws, ok := c.quoted()
			if !ok {
				return
			}
			c.used = len(ws) - 1
			if len(ws) < 2 || strings.TrimSpace(ws[1]) == "" {
				return
			}
			cur(c).script = &config.Script{Command: ws[1]}
			c.fullPath(ws[1])
			c.st().scripts++
			if len(ws) > 2 {
				c.used = -1
				c.err("keepalived runs only %q: put the script and its arguments in quotes, as in script \"%s\"", ws[1], strings.Join(ws[1:], " "))
			}
		}),
		kw("interval", 1, func(c *cmd) {
			s := cur(c)
			v, ok := c.scriptSeconds(s.name, "interval", "(%s): vrrp script interval '%s' must be between 1 and %d - ignoring")
			if ok {
				s.interval = v
			}
		}),
		kw("timeout", 1, func(c *cmd) {
			s := cur(c)
			v, ok := c.scriptSeconds(s.name, "timeout", "(%s): vrrp script timeout '%s' invalid - ignoring")
			if ok {
				s.timeout = v
			}
		}),
		kw("weight", 2, func(c *cmd) {
			s := cur(c)
			a, ok := c.arg(1)
			if !ok {
				return
			}
			w, _, tOK := c.readInt(a, -253, 253, true)
			if !tOK {
				c.warn("vrrp_script %s weight %s must be in [-253, 253]", s.name, a)
			}
			// vrrp_vscript_weight_handler keeps the value even when
			// it reported it.
			s.weight = int(w)
			if c.has(2) {
				if c.args[2] == "reverse" {
					s.reverse = true
				} else {
					c.warn("vrrp_script %s unknown weight option %s", s.name, c.args[2])
				}
			}
		}),
		kw("rise", 1, func(c *cmd) { c.riseFall(&cur(c).rise, cur(c).name, "rise") }),
		kw("fall", 1, func(c *cmd) { c.riseFall(&cur(c).fall, cur(c).name, "fall") }),
		kw("user", 2, func(c *cmd) {
			s := cur(c)
			if u, ok := c.arg(1); ok {
				s.user = u
			}
			if c.has(2) {
				s.group = c.args[2]
			}
		}),
		kw("init_fail", 0, func(c *cmd) { cur(c).initFail = true }),
	}
}

// scriptSeconds reads a vrrp_script interval or timeout, where 0 becomes 1.
func (c *cmd) scriptSeconds(name, what, bad string) (time.Duration, bool) {
	s, ok := c.arg(1)
	if !ok {
		return 0, false
	}
	n, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32/timerHz, true)
	if !tOK {
		if what == "interval" {
			c.warn(bad, name, s, math.MaxUint32/timerHz)
		} else {
			c.warn(bad, name, s)
		}
	}
	if !ok {
		return 0, false
	}
	if n == 0 {
		c.warn("(%s): vrrp script %s must be greater than 0, setting to 1", name, what)
		n = 1
	}
	return time.Duration(n) * time.Second, true
}

func (c *cmd) riseFall(dst *int, name, what string) {
	s, ok := c.arg(1)
	if !ok {
		return
	}
	n, ok, tOK := c.readUnsigned(s, 1, math.MaxInt32, true)
	if !tOK {
		c.warn("(%s): vrrp script %s value '%s' invalid, defaulting to 1", name, what, s)
	}
	if !ok {
		n = 1
	}
	*dst = int(n)
}

// Sync groups.

func syncGroupStart(c *cmd) {
	if len(c.args) != 2 {
		c.err("vrrp_sync_group must have a name - skipping")
		c.skipBlock = true
		return
	}
	for _, g := range c.st().syncs {
		if g.name == c.args[1] {
			c.err("vrrp sync group %s already defined", c.args[1])
			c.skipBlock = true
			return
		}
	}
	c.st().curSync = &syncGroup{at: c.at, name: c.args[1]}
}

func syncGroupEnd(p *pass) {
	g := p.st.curSync
	if g == nil {
		return
	}
	p.st.curSync = nil
	if len(g.group) == 0 {
		p.sink.warnf(p.here(), "Sync group %s has no members - removing", g.name)
		return
	}
	p.st.syncs = append(p.st.syncs, g)
}

func syncGroupKeywords() []*keyword {
	cur := func(c *cmd) *syncGroup {
		if g := c.st().curSync; g != nil {
			return g
		}
		return &syncGroup{}
	}
	return join([]*keyword{
		kw("group", 0, func(c *cmd) {
			g := cur(c)
			if g.groupSet {
				c.warn("Group list already specified for sync group %s", g.name)
				c.skipBlock = true
				return
			}
			g.groupSet = true
			ws, _ := c.values()
			if len(ws) == 0 {
				c.warn("Warning - sync group %s has empty group block", g.name)
			}
			g.group = ws
		}),
		kw("track_script", 0, func(c *cmd) { c.tracks("track_script", &cur(c).trackScr) }),
		kw("notify_master", -1, func(c *cmd) { c.groupNotify(&cur(c).notifyMaster) }),
		kw("notify_backup", -1, func(c *cmd) { c.groupNotify(&cur(c).notifyBackup) }),
		kw("notify_fault", -1, func(c *cmd) { c.groupNotify(&cur(c).notifyFault) }),
		kw("notify_stop", -1, func(c *cmd) { c.groupNotify(&cur(c).notifyStop) }),
		kw("notify", -1, func(c *cmd) { c.groupNotify(&cur(c).notify) }),
		kw("smtp_alert", 1, func(c *cmd) {
			if b, ok := c.flag("Invalid vrrp_group smtp_alert parameter %s"); ok {
				cur(c).smtpAlert = b
			}
		}),
		kw("global_tracking", 0, func(c *cmd) {
			c.warn("(%s) global_tracking is deprecated. Use track_interface/script/file on the sync group", cur(c).name)
		}),
	},
		ign("sync_group_tracking_weight", "notify_priority_changes"),
		ignValues("track_interface", "track_file", "track_process", "track_bfd"),
	)
}

func (c *cmd) groupNotify(dst **config.Script) {
	g := c.st().curSync
	if *dst != nil {
		arg := ""
		if c.has(1) {
			arg = c.args[1]
		}
		c.warn("vrrp group %s: %s script already specified - ignoring %s", g.name, c.args[0], arg)
		return
	}
	*dst = c.script()
}

func (p *pass) opts() *Options { return p.st.opts }
