package vrrp

import (
	"fmt"
	"net/netip"
	"reflect"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// keepalived's defaults for announcements (global_data.c, keepalived.conf(5)
// vrrp_garp_master_delay / _repeat / _refresh_repeat).
const (
	defaultGarpDelay         = 5 * time.Second
	defaultGarpRepeat        = 5
	defaultGarpRefreshRepeat = 1
)

// settings is everything one instance runs from, derived from the config
// once; two instances with equal settings are the same instance, so Apply
// leaves them alone.
type settings struct {
	cfg   config.VRRPInstance
	group string // sync group, if any

	ipv6      bool
	version   int
	interval  time.Duration // advert_int after rounding to the wire unit
	wireInt   uint16
	authType  uint8
	authData  [AuthLen]byte
	vips      []netip.Addr // advertised addresses
	addresses []Address    // VIPs and excluded VIPs, as added
	routes    []Route
	vmac      *VMAC

	preempt      bool
	preemptDelay time.Duration

	garpDelay, garpRefresh          time.Duration
	garpRepeat, garpRefreshRepeat   int
	trackers                        []trackRef
	scripts                         map[string]config.VRRPScript
	groupNotify                     *config.VRRPSyncGroup
	notifyMaster, notifyBackup      *config.Script
	notifyFault, notifyStop, notify *config.Script
}

func (s *settings) equal(o *settings) bool { return reflect.DeepEqual(s, o) }

// owner reports the address owner (priority 255).
func (s *settings) owner() bool { return s.cfg.Priority == PriorityOwner }

// buildSettings derives every instance's settings from cfg, which the
// config package has validated (normalised defaults are assumed).
func buildSettings(c *config.Config) (map[string]*settings, error) {
	scripts := map[string]config.VRRPScript{}
	for _, s := range c.VRRPScripts {
		scripts[s.Name] = s
	}
	groupOf := map[string]*config.VRRPSyncGroup{}
	for i := range c.VRRPSyncGroups {
		g := &c.VRRPSyncGroups[i]
		for _, m := range g.Group {
			groupOf[m] = g
		}
	}
	out := map[string]*settings{}
	for _, vi := range c.VRRPInstances {
		s, err := newSettings(c.Global, vi, groupOf[vi.Name], scripts)
		if err != nil {
			return nil, fmt.Errorf("vrrp instance %s: %w", vi.Name, err)
		}
		if _, dup := out[vi.Name]; dup {
			return nil, fmt.Errorf("vrrp instance %s: defined twice", vi.Name)
		}
		out[vi.Name] = s
	}
	return out, nil
}

func newSettings(g config.Global, vi config.VRRPInstance, group *config.VRRPSyncGroup, scripts map[string]config.VRRPScript) (*settings, error) {
	s := &settings{cfg: vi, version: vi.Version}
	if s.version == 0 {
		s.version = cmpOr(g.VRRPVersion, 2)
	}
	if vi.Priority == 0 {
		s.cfg.Priority = 100
	}
	if vi.AdvertInt <= 0 {
		s.cfg.AdvertInt = time.Second
	}
	if vi.Interface == "" {
		return nil, fmt.Errorf("no interface: unicast without an interface is not supported")
	}
	if vi.VRID == 0 {
		return nil, fmt.Errorf("virtual_router_id is 0")
	}
	for _, a := range []netip.Addr{first(vi.VIPs), vi.UnicastSrcIP, vi.McastSrcIP, firstAddr(vi.UnicastPeers)} {
		if a.IsValid() {
			s.ipv6 = a.Is6() && !a.Is4In6()
			break
		}
	}
	if s.ipv6 {
		s.version = 3
	}
	s.wireInt = wireInterval(s.version, s.cfg.AdvertInt)
	s.interval = wireDuration(s.version, s.wireInt)
	if s.version == 2 && vi.AuthType != "" && vi.AuthPass != "" {
		// keepalived truncates auth_pass to the 8 bytes of the packet.
		copy(s.authData[:], vi.AuthPass)
		switch vi.AuthType {
		case "PASS":
			s.authType = AuthPass
		case "AH":
			return nil, fmt.Errorf("auth_type AH (IPsec AH, RFC 2338) is not supported: use PASS or unicast peers")
		default:
			return nil, fmt.Errorf("unknown auth_type %q", vi.AuthType)
		}
	}
	link := vi.Interface
	if vi.UseVMAC {
		name := fmt.Sprintf("vrrp.%d", vi.VRID)
		if s.ipv6 {
			name = fmt.Sprintf("vrrp6.%d", vi.VRID)
		}
		s.vmac = &VMAC{Name: name, Parent: vi.Interface, MAC: [6]byte(VirtualMAC(vi.VRID, s.ipv6))}
		link = name
	}
	for _, v := range vi.VIPs {
		a := v.Prefix.Addr()
		if a.Is6() != s.ipv6 {
			return nil, fmt.Errorf("virtual_ipaddress %s is not of the instance's family", a)
		}
		s.vips = append(s.vips, a)
		s.addresses = append(s.addresses, address(v, link))
	}
	if len(s.vips) > 255 {
		return nil, fmt.Errorf("%d virtual addresses: at most 255 fit in an advert", len(s.vips))
	}
	for _, v := range vi.ExcludedVIPs {
		s.addresses = append(s.addresses, address(v, link))
	}
	for _, r := range vi.Routes {
		rt, err := ParseRoute(r, link)
		if err != nil {
			return nil, err
		}
		s.routes = append(s.routes, rt)
	}
	// vrrp.c vrrp_complete_instance: nopreempt needs state BACKUP and is
	// meaningless for the owner; preempt_delay is ignored with state
	// MASTER or nopreempt.
	s.preempt = !vi.Nopreempt || s.owner() || vi.State == "MASTER"
	if s.preempt && vi.State != "MASTER" && !vi.Nopreempt {
		s.preemptDelay = vi.PreemptDelay
	}
	s.garpDelay = firstDur(vi.GarpMasterDelay, g.VRRPGarpMasterDelay, defaultGarpDelay)
	s.garpRepeat = cmpOr(vi.GarpMasterRepeat, g.VRRPGarpMasterRepeat, defaultGarpRepeat)
	s.garpRefresh = firstDur(vi.GarpRefresh, g.VRRPGarpRefresh, 0)
	s.garpRefreshRepeat = cmpOr(g.VRRPGarpRefreshRep, defaultGarpRefreshRepeat)

	// The instance's own interface is always tracked, weight 0 (FAULT when
	// it goes down), as keepalived does unless dont_track_primary.
	s.trackers = append(s.trackers, trackRef{key: "if:" + vi.Interface, name: vi.Interface, kind: kindLink})
	inGroup := group != nil
	// track adds a tracker. The owner's priority never changes, so its
	// weighted trackers are dropped; in a sync group members fail
	// together, so weights become 0 (vrrp.c vrrp_complete_instance,
	// without sgroup_tracking_weight).
	track := func(r trackRef) {
		switch {
		case r.weight != 0 && s.owner():
			return
		case inGroup:
			r.weight = 0
		}
		s.trackers = append(s.trackers, r)
	}
	for _, t := range vi.TrackInterfaces {
		if t.Name == vi.Interface {
			continue
		}
		track(trackRef{key: "if:" + t.Name, name: t.Name, kind: kindLink, weight: t.Weight, reverse: t.Reverse})
	}
	s.scripts = map[string]config.VRRPScript{}
	addScript := func(t config.TrackRef, groupLevel bool) error {
		sc, ok := scripts[t.Name]
		if !ok {
			return fmt.Errorf("track_script %s: no vrrp_script has that name", t.Name)
		}
		s.scripts[t.Name] = sc
		w := t.Weight
		rev := t.Reverse
		if w == 0 {
			// The track_script line's weight overrides the script's;
			// the model cannot tell "weight 0" from "no weight".
			w, rev = sc.Weight, sc.Reverse || t.Reverse
		}
		if groupLevel {
			w = 0
		}
		track(trackRef{key: "script:" + t.Name, name: t.Name, kind: kindScript, weight: w, reverse: rev})
		return nil
	}
	for _, t := range vi.TrackScripts {
		if err := addScript(t, false); err != nil {
			return nil, err
		}
	}
	for _, t := range vi.TrackFiles {
		track(trackRef{key: "file:" + t.Name, name: t.Name, kind: kindFile, weight: t.Weight, reverse: t.Reverse})
	}
	if group != nil {
		s.group = group.Name
		s.groupNotify = group
		for _, t := range group.TrackScripts {
			if err := addScript(t, true); err != nil {
				return nil, err
			}
		}
	}
	s.notifyMaster, s.notifyBackup, s.notifyFault, s.notifyStop, s.notify =
		vi.NotifyMaster, vi.NotifyBackup, vi.NotifyFault, vi.NotifyStop, vi.Notify
	return s, nil
}

func address(v config.VIP, link string) Address {
	if v.Dev != "" {
		link = v.Dev
	}
	p := v.Prefix
	if !p.IsValid() {
		p = netip.PrefixFrom(v.Prefix.Addr(), v.Prefix.Addr().BitLen())
	}
	return Address{Link: link, Prefix: p, Broadcast: v.Broadcast, Scope: v.Scope, Label: v.Label}
}

func first(vs []config.VIP) netip.Addr {
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

func cmpOr[T comparable](vals ...T) T {
	var zero T
	for _, v := range vals {
		if v != zero {
			return v
		}
	}
	return zero
}

func firstDur(vals ...time.Duration) time.Duration { return cmpOr(vals...) }
