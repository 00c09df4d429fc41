package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// validHAModel is validModel with health checks, notifications and a VRRP
// pair of instances, built in Go as the keepalived adapter would.
func validHAModel() *Config {
	c := validModel()
	c.Global = Global{
		RouterID:          "lb1",
		NotificationEmail: []string{"ops@example.com"},
		SMTPServer:        netip.MustParseAddrPort("192.0.2.25:25"),
	}
	s := &c.Services[0]
	s.Health = ServiceHealth{Quorum: 1, QuorumDown: &Script{Command: "/bin/page"}, SMTPAlert: true}
	chk := Check{Type: CheckHTTP, URLs: []CheckURL{{Path: "/healthz", StatusCodes: []StatusRange{{200, 299}}}}}
	ResolveCheckDefaults(&chk, 0)
	s.Reals[0].Health = RealHealth{InhibitOnFailure: true, Checks: []Check{chk}}
	c.VRRPScripts = []VRRPScript{{Name: "chk", Script: Script{Command: "/bin/true"}, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Weight: -20}}
	c.VRRPInstances = []VRRPInstance{{
		Name: "VI_1", State: "BACKUP", Interface: "eth0", VRID: 51, Priority: 150,
		AdvertInt: time.Second, Version: 2, AuthType: "PASS", AuthPass: "secret",
		VIPs:         []VIP{{Prefix: netip.MustParsePrefix("10.0.0.1/24"), Dev: "eth0", Label: "eth0:1"}},
		TrackScripts: []TrackRef{{Name: "chk"}},
	}, {
		Name: "VI_2", State: "BACKUP", Interface: "eth0", VRID: 52, Priority: 100,
		AdvertInt: time.Second, Version: 3,
		VIPs:         []VIP{{Prefix: netip.MustParsePrefix("2001:db8::1/64")}},
		UnicastPeers: []netip.Addr{netip.MustParseAddr("2001:db8::2")},
	}}
	c.VRRPSyncGroups = []VRRPSyncGroup{{Name: "G", Group: []string{"VI_1", "VI_2"}}}
	return c
}

// TestValidateHAModel checks Validate on the new parts of models from a
// non-file source; each mutation must give exactly one diagnostic.
func TestValidateHAModel(t *testing.T) {
	check := func(c *Config) *Check { return &c.Services[0].Reals[0].Health.Checks[0] }
	vi := func(c *Config) *VRRPInstance { return &c.VRRPInstances[0] }
	tests := []validateCase{
		{"valid", func(*Config) {}, "", Error, ""},
		{"unresolved check (delay_loop 0)", func(c *Config) { check(c).DelayLoop = 0 }, "services[0].reals[0].health.checks[0].delay_loop", Error, "more than 0"},
		{"status code 600 (check_http.c HTTP_STATUS_CODE_MAX)", func(c *Config) {
			check(c).URLs[0].StatusCodes[0].To = 600
		}, "services[0].reals[0].health.checks[0].urls[0].status_codes[0]", Error, "100..599"},
		{"status range from > to", func(c *Config) {
			check(c).URLs[0].StatusCodes[0] = StatusRange{299, 200}
		}, "services[0].reals[0].health.checks[0].urls[0].status_codes[0]", Error, "empty range"},
		{"digest of 31 digits (2*MD5_DIGEST_LENGTH)", func(c *Config) {
			check(c).URLs[0].Digest = strings.Repeat("a", 31)
		}, "services[0].reals[0].health.checks[0].urls[0].digest", Error, "32 hex digits"},
		{"http_get without urls", func(c *Config) { check(c).URLs = nil }, "services[0].reals[0].health.checks[0].urls", Error, "at least one url"},
		{"negative retry", func(c *Config) { check(c).Retry = -1 }, "services[0].reals[0].health.checks[0].retry", Error, "negative"},
		{"misc field on http_get", func(c *Config) { check(c).MiscDynamic = true }, "services[0].reals[0].health.checks[0].misc_dynamic", Error, "does not apply"},
		{"rise without fall", func(c *Config) { check(c).Rise, check(c).Retry, check(c).DelayBeforeRetry = 2, 0, 0 }, "services[0].reals[0].health.checks[0].fall", Error, "go together"},
		{"retry with rise and fall", func(c *Config) { check(c).Rise, check(c).Fall, check(c).DelayBeforeRetry = 2, 2, 0 }, "services[0].reals[0].health.checks[0].retry", Error, "does not apply with rise"},
		{"IPv6 link-local probe without bind_if (check_conn_opts)", func(c *Config) {
			check(c).ConnectIP = netip.MustParseAddr("fe80::1")
		}, "services[0].reals[0].health.checks[0].bind_if", Error, "link-local"},
		{"script with a group and no user", func(c *Config) {
			c.Services[0].Health.QuorumDown.Group = "wheel"
		}, "services[0].health.quorum_down.group", Error, "needs a user"},
		{"quorum above the weights", func(c *Config) { c.Services[0].Health.Quorum = 5 }, "services[0].health.quorum", Warning, "never gains quorum"},
		{"smtp_alert without smtp settings", func(c *Config) { c.Global = Global{} }, "services[0].health.smtp_alert", Warning, "no mail is sent"},
		{"webhook not http", func(c *Config) { c.Global.Webhook = "file:///tmp/x" }, "global.webhook", Error, "http or https"},
		{"script security without a user", func(c *Config) { c.Global.EnableScriptSecurity = true }, "global.script_user", Warning, "keepalived_script"},
		{"global vrrp_version 4", func(c *Config) { c.Global.VRRPVersion = 4 }, "global.vrrp_version", Error, "want 2 or 3"},
		{"VRID 0", func(c *Config) { vi(c).VRID = 0 }, "vrrp_instances[0].virtual_router_id", Error, "missing"},
		{"priority 0", func(c *Config) { vi(c).Priority = 0 }, "vrrp_instances[0].priority", Error, "1..255"},
		{"unnormalised state", func(c *Config) { vi(c).State = "" }, "vrrp_instances[0].state", Error, "missing"},
		{"duplicate VRID on one interface and family", func(c *Config) {
			c.VRRPInstances[1].VIPs[0].Prefix = netip.MustParsePrefix("10.0.0.2/24")
			c.VRRPInstances[1].UnicastPeers[0] = netip.MustParseAddr("10.0.0.9")
			c.VRRPInstances[1].VRID = 51
		}, "vrrp_instances[1].virtual_router_id", Error, "already used"},
		{"same VRID, other family", func(c *Config) { c.VRRPInstances[1].VRID = 51 }, "", Error, ""},
		{"version 2 over IPv6 (RFC 3768)", func(c *Config) { c.VRRPInstances[1].Version = 2 }, "vrrp_instances[1].version", Error, "IPv4 only"},
		{"v2 advert_int of 256 s", func(c *Config) { vi(c).AdvertInt = 256 * time.Second }, "vrrp_instances[0].advert_int", Error, "1s..255s"},
		{"v2 advert_int 0.5 s is rounded", func(c *Config) { vi(c).AdvertInt = 500 * time.Millisecond }, "vrrp_instances[0].advert_int", Warning, "rounded to 1s"},
		{"auth_pass of 9 bytes is truncated", func(c *Config) { vi(c).AuthPass = "123456789" }, "vrrp_instances[0].auth_pass", Warning, "first 8"},
		{"auth on version 3 is ignored", func(c *Config) {
			c.VRRPInstances[1].AuthType, c.VRRPInstances[1].AuthPass = "PASS", "x"
		}, "vrrp_instances[1].auth_type", Warning, "ignored"},
		{"no auth and no unicast peers", func(c *Config) { vi(c).AuthType, vi(c).AuthPass = "", "" }, "vrrp_instances[0]", Warning, "spoofed advert"},
		{"VIPs of two families", func(c *Config) {
			vi(c).VIPs = append(vi(c).VIPs, VIP{Prefix: netip.MustParsePrefix("2001:db8::9/64")})
		}, "vrrp_instances[0].virtual_ipaddress[1]", Error, "one family"},
		{"label not after the interface name", func(c *Config) { vi(c).VIPs[0].Label = "eth1:1" }, "vrrp_instances[0].virtual_ipaddress[0]", Error, "must begin with"},
		{"nopreempt with MASTER is cleared", func(c *Config) { vi(c).State, vi(c).Nopreempt = "MASTER", true }, "vrrp_instances[0].nopreempt", Warning, "initial state MASTER"},
		{"peer of the other family", func(c *Config) {
			c.VRRPInstances[1].UnicastPeers[0] = netip.MustParseAddr("10.0.0.9")
		}, "vrrp_instances[1].unicast_peer[0]", Error, "IPv4 but the instance"},
		{"unknown track_script", func(c *Config) { vi(c).TrackScripts = append(vi(c).TrackScripts, TrackRef{Name: "nope"}) }, "vrrp_instances[0].track_script[1]", Error, "no vrrp_script"},
		{"weighted tracker in a sync group", func(c *Config) { vi(c).TrackScripts[0].Weight = 10 }, "vrrp_instances[0].track_script[0]", Warning, "sync group"},
		{"script weight 254", func(c *Config) { c.VRRPScripts[0].Weight = 254 }, "vrrp_scripts[0].weight", Error, "-253..253"},
		{"script rise 0 (unnormalised)", func(c *Config) { c.VRRPScripts[0].Rise = 0 }, "vrrp_scripts[0].rise", Error, "less than 1"},
		{"unused script", func(c *Config) { vi(c).TrackScripts = nil }, "vrrp_scripts[0].name", Warning, "not tracked"},
		{"sync group member unknown", func(c *Config) { c.VRRPSyncGroups[0].Group[1] = "VI_9" }, "vrrp_sync_groups[0].group[1]", Error, "no vrrp_instance"},
		{"instance in two groups", func(c *Config) {
			c.VRRPSyncGroups = append(c.VRRPSyncGroups, VRRPSyncGroup{Name: "H", Group: []string{"VI_2"}})
		}, "vrrp_sync_groups[1].group[0]", Error, "already in"},
	}
	runValidateCases(t, validHAModel, tests)
}
