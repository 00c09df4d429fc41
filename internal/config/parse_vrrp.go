package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// This file decodes the global block and the VRRP sections of the native
// YAML: vrrp_instances, vrrp_scripts and vrrp_sync_groups.

// DefaultSMTPPort is the port of a smtp_server given without one
// (keepalived.conf(5): `smtp_server IP [PORT]`, port 25 by default).
const DefaultSMTPPort = 25

func (d *decoder) global(n *yaml.Node, path string, g *Global) {
	d.mapping(n, path, []field{
		{"router_id", func(v *yaml.Node, p string) { d.str(v, p, &g.RouterID) }},
		{"notification_email", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				var s string
				d.str(item, ip, &s)
				g.NotificationEmail = append(g.NotificationEmail, s)
			})
		}},
		{"notification_email_from", func(v *yaml.Node, p string) { d.str(v, p, &g.NotificationEmailFrom) }},
		{"smtp_server", func(v *yaml.Node, p string) { d.smtpServer(v, p, &g.SMTPServer) }},
		{"smtp_helo_name", func(v *yaml.Node, p string) { d.str(v, p, &g.SMTPHeloName) }},
		{"smtp_connect_timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &g.SMTPConnectTimeout) }},
		{"webhook", func(v *yaml.Node, p string) { d.str(v, p, &g.Webhook) }},
		{"enable_script_security", func(v *yaml.Node, p string) { d.boolean(v, p, &g.EnableScriptSecurity) }},
		{"script_user", func(v *yaml.Node, p string) { d.str(v, p, &g.ScriptUser) }},
		{"script_group", func(v *yaml.Node, p string) { d.str(v, p, &g.ScriptGroup) }},
		{"vrrp_version", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 2, 3); ok {
				g.VRRPVersion = int(i)
			}
		}},
		{"vrrp_garp_master_delay", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &g.VRRPGarpMasterDelay) }},
		{"vrrp_garp_master_repeat", func(v *yaml.Node, p string) { d.positiveInt(v, p, &g.VRRPGarpMasterRepeat) }},
		{"vrrp_garp_master_refresh", func(v *yaml.Node, p string) { d.duration(v, p, &g.VRRPGarpRefresh) }},
		{"vrrp_garp_master_refresh_repeat", func(v *yaml.Node, p string) { d.positiveInt(v, p, &g.VRRPGarpRefreshRep) }},
		{"vrrp_strict", func(v *yaml.Node, p string) { d.boolean(v, p, &g.VRRPStrict) }},
	})
}

// smtpServer reads "IP", "IP:PORT", "[IPv6]:PORT" or keepalived's
// "IP PORT"; the port defaults to 25.
func (d *decoder) smtpServer(n *yaml.Node, path string, out *netip.AddrPort) {
	if n = d.scalar(n, path, "an IP address with an optional port", "!!str"); n == nil {
		return
	}
	s := n.Value
	if ap, err := netip.ParseAddrPort(s); err == nil {
		*out = ap
		return
	}
	host, port, hasPort := strings.Cut(s, " ")
	a, err := netip.ParseAddr(host)
	p := uint64(DefaultSMTPPort)
	if err == nil && hasPort {
		p, err = strconv.ParseUint(strings.TrimSpace(port), 10, 16)
	}
	if err != nil {
		d.errorf(n, path, "invalid smtp_server %q: want an IP address with an optional port, like 192.0.2.25, 192.0.2.25:2525 or [2001:db8::25]:25", s)
		return
	}
	*out = netip.AddrPortFrom(a, uint16(p))
}

// positiveDuration is a duration whose zero the model reads as "the
// default", so an explicit zero is refused rather than silently replaced.
func (d *decoder) positiveDuration(n *yaml.Node, path string, out *time.Duration) {
	var v time.Duration
	d.duration(n, path, &v)
	if d.bad[path] {
		return
	}
	if v <= 0 {
		d.errorf(n, path, "%s must be more than 0 (leave the key out for the default)", formatDuration(v))
		return
	}
	*out = v
}

// positiveInt is an integer whose zero the model reads as "the default".
func (d *decoder) positiveInt(n *yaml.Node, path string, out *int) {
	if i, ok := d.integer(n, path, 1, math.MaxInt32); ok {
		*out = int(i)
	}
}

func (d *decoder) vrrpInstance(n *yaml.Node, path string) VRRPInstance {
	var vi VRRPInstance
	scripts := func(out **Script) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) { *out = d.script(v, p) }
	}
	vips := func(out *[]VIP) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			// A VIP that did not decode still takes its place, so that
			// the indices in later diagnostics name the right line.
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				vip, _ := d.vip(item, ip)
				*out = append(*out, vip)
			})
		}
	}
	d.mapping(n, path, []field{
		{"name", func(v *yaml.Node, p string) { d.str(v, p, &vi.Name) }},
		{"state", func(v *yaml.Node, p string) {
			d.str(v, p, &vi.State)
			if vi.State == "" && !d.bad[p] {
				d.errorf(v, p, "empty: want MASTER or BACKUP (leave the key out for BACKUP)")
			}
		}},
		{"interface", func(v *yaml.Node, p string) { d.str(v, p, &vi.Interface) }},
		{"virtual_router_id", func(v *yaml.Node, p string) {
			// vrrp_parser.c vrrp_vrid_handler: 1..255.
			if i, ok := d.integer(v, p, 1, 255); ok {
				vi.VRID = uint8(i)
			}
		}},
		{"priority", func(v *yaml.Node, p string) {
			// vrrp_parser.c vrrp_prio_handler: 1..VRRP_PRIO_OWNER (255).
			if i, ok := d.integer(v, p, 1, 255); ok {
				vi.Priority = uint8(i)
			}
		}},
		{"advert_int", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &vi.AdvertInt) }},
		{"version", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 2, 3); ok {
				vi.Version = int(i)
			}
		}},
		{"auth_type", func(v *yaml.Node, p string) { d.str(v, p, &vi.AuthType) }},
		{"auth_pass", func(v *yaml.Node, p string) {
			// An unquoted 1111, keepalived's favourite password, is a YAML
			// integer; its text is meant.
			if v = d.scalar(v, p, "a string", "!!str", "!!int"); v != nil {
				vi.AuthPass = v.Value
			}
		}},
		{"virtual_ipaddress", vips(&vi.VIPs)},
		{"virtual_ipaddress_excluded", vips(&vi.ExcludedVIPs)},
		{"virtual_routes", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				var s string
				d.str(item, ip, &s)
				vi.Routes = append(vi.Routes, s)
			})
		}},
		{"nopreempt", func(v *yaml.Node, p string) { d.boolean(v, p, &vi.Nopreempt) }},
		{"preempt_delay", func(v *yaml.Node, p string) { d.duration(v, p, &vi.PreemptDelay) }},
		{"accept", func(v *yaml.Node, p string) { d.boolean(v, p, &vi.Accept) }},
		{"unicast_src_ip", func(v *yaml.Node, p string) { d.addr(v, p, &vi.UnicastSrcIP) }},
		{"unicast_peer", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				var a netip.Addr
				d.addr(item, ip, &a)
				vi.UnicastPeers = append(vi.UnicastPeers, a)
			})
		}},
		{"mcast_src_ip", func(v *yaml.Node, p string) { d.addr(v, p, &vi.McastSrcIP) }},
		{"track_interface", func(v *yaml.Node, p string) { vi.TrackInterfaces = d.trackRefs(v, p) }},
		{"track_script", func(v *yaml.Node, p string) { vi.TrackScripts = d.trackRefs(v, p) }},
		{"track_file", func(v *yaml.Node, p string) { vi.TrackFiles = d.trackRefs(v, p) }},
		{"notify_master", scripts(&vi.NotifyMaster)},
		{"notify_backup", scripts(&vi.NotifyBackup)},
		{"notify_fault", scripts(&vi.NotifyFault)},
		{"notify_stop", scripts(&vi.NotifyStop)},
		{"notify", scripts(&vi.Notify)},
		{"smtp_alert", func(v *yaml.Node, p string) { d.boolean(v, p, &vi.SMTPAlert) }},
		{"garp_master_delay", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &vi.GarpMasterDelay) }},
		{"garp_master_repeat", func(v *yaml.Node, p string) { d.positiveInt(v, p, &vi.GarpMasterRepeat) }},
		{"garp_master_refresh", func(v *yaml.Node, p string) { d.duration(v, p, &vi.GarpRefresh) }},
		{"use_vmac", func(v *yaml.Node, p string) { d.boolean(v, p, &vi.UseVMAC) }},
	})
	return vi
}

// vip decodes one virtual_ipaddress entry: keepalived's line
// `IP[/len] [brd IP] [dev IF] [scope S] [label IF:x]`, or a mapping of
// prefix, brd, dev, scope and label.
func (d *decoder) vip(n *yaml.Node, path string) (VIP, bool) {
	var v VIP
	r := d.resolve(n)
	if r == nil {
		return v, false
	}
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		words := strings.Fields(r.Value)
		if len(words) == 0 {
			d.errorf(r, path, "empty address")
			return v, false
		}
		p, err := parseVIPPrefix(words[0])
		if err != nil {
			d.errorf(r, path, "%s", err.Error())
			return v, false
		}
		v.Prefix = p
		seen := map[string]bool{}
		for i := 1; i < len(words); i += 2 {
			opt := words[i]
			if i+1 >= len(words) {
				d.errorf(r, path, "%q needs a value", opt)
				return v, false
			}
			if seen[opt] {
				d.errorf(r, path, "%q is given twice", opt)
				return v, false
			}
			seen[opt] = true
			val := words[i+1]
			switch opt {
			case "brd":
				a, err := netip.ParseAddr(val)
				if err != nil {
					d.errorf(r, path, "invalid brd address %q", val)
					return v, false
				}
				v.Broadcast = a
			case "dev":
				v.Dev = val
			case "scope":
				v.Scope = val
			case "label":
				v.Label = val
			default:
				d.errorf(r, path, "unsupported option %q: want brd, dev, scope or label after the address", opt)
				return v, false
			}
		}
		return v, true
	}
	if r.Kind != yaml.MappingNode {
		d.errorf(r, path, `expected an address like "192.0.2.10/24 dev eth0" or a mapping, got %s`, describe(r))
		return v, false
	}
	d.mapping(r, path, []field{
		{"prefix", func(n *yaml.Node, p string) {
			if n = d.scalar(n, p, "an address like 192.0.2.10/24", "!!str"); n == nil {
				return
			}
			pf, err := parseVIPPrefix(n.Value)
			if err != nil {
				d.errorf(n, p, "%s", err.Error())
				return
			}
			v.Prefix = pf
		}},
		{"brd", func(n *yaml.Node, p string) { d.addr(n, p, &v.Broadcast) }},
		{"dev", func(n *yaml.Node, p string) { d.str(n, p, &v.Dev) }},
		{"scope", func(n *yaml.Node, p string) { d.str(n, p, &v.Scope) }},
		{"label", func(n *yaml.Node, p string) { d.str(n, p, &v.Label) }},
	})
	return v, true
}

type vipError string

func (e vipError) Error() string { return string(e) }

// parseVIPPrefix reads IP or IP/len; without a length the address is a
// host address (/32 or /128), as keepalived's parse_ipaddress assumes.
// The host bits are kept: a VIP is an interface address, not a network.
func parseVIPPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, vipError("invalid address " + strconv.Quote(s) + ": want IP or IP/prefix-length")
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, vipError("invalid address " + strconv.Quote(s) + ": want IP or IP/prefix-length")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// trackRefs decodes a track_interface, track_script or track_file list.
// Each item is a name, keepalived's `NAME [weight N [reverse|noreverse]]`,
// or a mapping of name, weight and reverse.
func (d *decoder) trackRefs(n *yaml.Node, path string) []TrackRef {
	var out []TrackRef
	d.sequence(n, path, func(item *yaml.Node, ip string) {
		r := d.resolve(item)
		if r == nil {
			return
		}
		// An entry that did not decode still takes its place.
		if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
			t, _ := d.trackRefString(r, ip)
			out = append(out, t)
			return
		}
		if r.Kind != yaml.MappingNode {
			d.errorf(r, ip, `expected a name like "chk_nginx weight -20" or a mapping of name, weight and reverse, got %s`, describe(r))
			out = append(out, TrackRef{})
			return
		}
		var t TrackRef
		d.mapping(r, ip, []field{
			{"name", func(v *yaml.Node, p string) { d.str(v, p, &t.Name) }},
			{"weight", func(v *yaml.Node, p string) {
				if i, ok := d.integer(v, p, math.MinInt32, math.MaxInt32); ok {
					t.Weight = int(i)
				}
			}},
			{"reverse", func(v *yaml.Node, p string) { d.boolean(v, p, &t.Reverse) }},
		})
		out = append(out, t)
	})
	return out
}

func (d *decoder) trackRefString(n *yaml.Node, path string) (TrackRef, bool) {
	words := strings.Fields(n.Value)
	bad := func() (TrackRef, bool) {
		d.errorf(n, path, "invalid track entry %q: want NAME [weight N [reverse|noreverse]]", n.Value)
		return TrackRef{}, false
	}
	if len(words) == 0 {
		return bad()
	}
	t := TrackRef{Name: words[0]}
	rest := words[1:]
	if len(rest) > 0 {
		if rest[0] != "weight" || len(rest) < 2 {
			return bad()
		}
		w, err := strconv.ParseInt(rest[1], 10, 32)
		if err != nil {
			return bad()
		}
		t.Weight = int(w)
		rest = rest[2:]
	}
	if len(rest) > 0 {
		switch {
		case len(rest) > 1:
			return bad()
		case rest[0] == "reverse":
			t.Reverse = true
		case rest[0] != "noreverse":
			return bad()
		}
	}
	return t, true
}

func (d *decoder) vrrpScript(n *yaml.Node, path string) VRRPScript {
	var s VRRPScript
	d.mapping(n, path, []field{
		{"name", func(v *yaml.Node, p string) { d.str(v, p, &s.Name) }},
		{"script", func(v *yaml.Node, p string) {
			if sc := d.script(v, p); sc != nil {
				s.Script = *sc
			}
		}},
		{"interval", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &s.Interval) }},
		{"timeout", func(v *yaml.Node, p string) { d.positiveDuration(v, p, &s.Timeout) }},
		{"weight", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, math.MinInt32, math.MaxInt32); ok {
				s.Weight = int(i)
			}
		}},
		{"reverse", func(v *yaml.Node, p string) { d.boolean(v, p, &s.Reverse) }},
		// vrrp_parser.c vrrp_vscript_rise_handler/fall_handler: 1..INT_MAX.
		{"rise", func(v *yaml.Node, p string) { d.positiveInt(v, p, &s.Rise) }},
		{"fall", func(v *yaml.Node, p string) { d.positiveInt(v, p, &s.Fall) }},
		{"init_fail", func(v *yaml.Node, p string) { d.boolean(v, p, &s.InitFail) }},
	})
	return s
}

func (d *decoder) vrrpSyncGroup(n *yaml.Node, path string) VRRPSyncGroup {
	var g VRRPSyncGroup
	scripts := func(out **Script) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) { *out = d.script(v, p) }
	}
	d.mapping(n, path, []field{
		{"name", func(v *yaml.Node, p string) { d.str(v, p, &g.Name) }},
		{"group", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				var s string
				d.str(item, ip, &s)
				g.Group = append(g.Group, s)
			})
		}},
		{"track_script", func(v *yaml.Node, p string) { g.TrackScripts = d.trackRefs(v, p) }},
		{"notify_master", scripts(&g.NotifyMaster)},
		{"notify_backup", scripts(&g.NotifyBackup)},
		{"notify_fault", scripts(&g.NotifyFault)},
		{"notify_stop", scripts(&g.NotifyStop)},
		{"notify", scripts(&g.Notify)},
		{"smtp_alert", func(v *yaml.Node, p string) { d.boolean(v, p, &g.SMTPAlert) }},
	})
	return g
}
