package config

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestResolveCheckDefaults checks the defaults of every checker type
// against keepalived's: check_api.c queue_checker (delay_loop 60 s via
// KEEPALIVED_DEFAULT_DELAY, connect_timeout 5 s, retry 1, delay_before_retry
// 1 s, warmup = delay_loop), check_http.c http_get_handler (3 s before a
// retry), check_misc.c (retry 0, the script's timeout = delay_loop),
// check_dns.c (retry 3, delay_before_retry = delay_loop, SOA for "."),
// check_udp.c (max_reply_length 255).
func TestResolveCheckDefaults(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name string
		in   Check
		set  CheckFieldsSet
		want Check
	}{
		{"tcp_check", Check{Type: CheckTCP}, 0,
			Check{Type: CheckTCP, DelayLoop: 60 * s, ConnectTimeout: 5 * s, Retry: 1, DelayBeforeRetry: s, Warmup: 60 * s}},
		{"http_get waits 3s before a retry", Check{Type: CheckHTTP}, 0,
			Check{Type: CheckHTTP, DelayLoop: 60 * s, ConnectTimeout: 5 * s, Retry: 1, DelayBeforeRetry: 3 * s, Warmup: 60 * s, HTTPProtocol: "1.0"}},
		{"ssl_get as http_get", Check{Type: CheckSSL}, 0,
			Check{Type: CheckSSL, DelayLoop: 60 * s, ConnectTimeout: 5 * s, Retry: 1, DelayBeforeRetry: 3 * s, Warmup: 60 * s, HTTPProtocol: "1.0"}},
		{"misc_check: no retry, no connection, timeout = delay_loop", Check{Type: CheckMisc, DelayLoop: 7 * s}, SetDelayLoop,
			Check{Type: CheckMisc, DelayLoop: 7 * s, Retry: 0, DelayBeforeRetry: s, Warmup: 7 * s, MiscTimeout: 7 * s}},
		{"dns_check: retry 3, delay_before_retry = delay_loop", Check{Type: CheckDNS, DelayLoop: 10 * s}, SetDelayLoop,
			Check{Type: CheckDNS, DelayLoop: 10 * s, ConnectTimeout: 5 * s, Retry: 3, DelayBeforeRetry: 10 * s, Warmup: 10 * s, DNSType: "SOA", DNSName: "."}},
		{"udp_check: replies up to 255 bytes", Check{Type: CheckUDP}, 0,
			Check{Type: CheckUDP, DelayLoop: 60 * s, ConnectTimeout: 5 * s, Retry: 1, DelayBeforeRetry: s, Warmup: 60 * s, MaxReplyLength: 255}},
		{"udp_check: an explicit max_reply_length 0 stays", Check{Type: CheckUDP}, SetMaxReplyLength,
			Check{Type: CheckUDP, DelayLoop: 60 * s, ConnectTimeout: 5 * s, Retry: 1, DelayBeforeRetry: s, Warmup: 60 * s}},
		{"file_check has no timing", Check{Type: CheckFile, File: "/f"}, 0, Check{Type: CheckFile, File: "/f"}},
		{"explicit zeros stay", Check{Type: CheckTCP}, SetRetry | SetWarmup | SetDelayBeforeRetry,
			Check{Type: CheckTCP, DelayLoop: 60 * s, ConnectTimeout: 5 * s}},
		{"explicit values stay", Check{Type: CheckSMTP, DelayLoop: 3 * s, ConnectTimeout: 2 * s, Retry: 4, DelayBeforeRetry: 5 * s, Warmup: 6 * s}, SetDelayLoop | SetConnectTimeout | SetRetry | SetDelayBeforeRetry | SetWarmup,
			Check{Type: CheckSMTP, DelayLoop: 3 * s, ConnectTimeout: 2 * s, Retry: 4, DelayBeforeRetry: 5 * s, Warmup: 6 * s}},
		{"rise/fall: HAProxy's other default, no retry rule", Check{Type: CheckAgent, Fall: 5, AgentPort: 1}, 0,
			Check{Type: CheckAgent, DelayLoop: 60 * s, ConnectTimeout: 5 * s, Warmup: 60 * s, Rise: 2, Fall: 5, AgentPort: 1}},
		{"rise only", Check{Type: CheckPing, Rise: 1}, 0,
			Check{Type: CheckPing, DelayLoop: 60 * s, ConnectTimeout: 5 * s, Warmup: 60 * s, Rise: 1, Fall: 3}},
		{"names already given stay", Check{Type: CheckDNS, DNSType: "MX", DNSName: "example.com"}, 0,
			Check{Type: CheckDNS, DelayLoop: 60 * s, ConnectTimeout: 5 * s, Retry: 3, DelayBeforeRetry: 60 * s, Warmup: 60 * s, DNSType: "MX", DNSName: "example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			ResolveCheckDefaults(&c, tt.set)
			if !reflect.DeepEqual(c, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", c, tt.want)
			}
			again := c
			ResolveCheckDefaults(&again, ^CheckFieldsSet(0))
			if !reflect.DeepEqual(again, c) {
				t.Errorf("resolving a resolved check with every field set changed it:\n%+v\n%+v", again, c)
			}
		})
	}
}

// TestResolvedChecksValidate resolves the smallest check of each type, as
// an adapter would, and expects Validate to accept it: the defaults are
// valid and only touch fields the type takes.
func TestResolvedChecksValidate(t *testing.T) {
	required := map[CheckType]func(c *Check){
		CheckHTTP:  func(c *Check) { c.URLs = []CheckURL{{Path: "/"}} },
		CheckSSL:   func(c *Check) { c.URLs = []CheckURL{{Path: "/"}} },
		CheckMisc:  func(c *Check) { c.MiscPath = &Script{Command: "/bin/true"} },
		CheckFile:  func(c *Check) { c.File = "/run/w" },
		CheckAgent: func(c *Check) { c.AgentPort = 9999 },
	}
	for _, typ := range CheckTypes {
		t.Run(string(typ), func(t *testing.T) {
			c := Check{Type: typ}
			if f := required[typ]; f != nil {
				f(&c)
			}
			ResolveCheckDefaults(&c, 0)
			m := validModel()
			m.Services[0].Reals[0].Health.Checks = []Check{c}
			if ds := Validate(m); len(ds) != 0 {
				t.Fatalf("diagnostics for a resolved %s:\n%s", typ, ds)
			}
		})
	}
}

func TestCheckDefaultsInheritance(t *testing.T) {
	const in = `
services:
  - protocol: tcp
    address: 10.0.0.1:80
    reals:
      - address: 10.0.0.2:80
        health:
          checks:
            - {type: http_get, urls: [/], delay_loop: 7s}
            - {type: misc_check, misc_path: /bin/true}
            - {type: tcp_check, rise: 3, fall: 2}
            - {type: file_check, file: /run/w}
    health:   # after the reals: applied once the service is read
      check_defaults: {interval: 4s, connect_timeout: 3s, retry: 0, delay_before_retry: 2s, warmup: 1s}
`
	c, ds := Parse("inherit.yaml", []byte(in))
	if err := ds.Err(); err != nil {
		t.Fatal(err)
	}
	checks := c.Services[0].Reals[0].Health.Checks
	want := []Check{
		// The check's own delay_loop wins; the rest is inherited.
		{Type: CheckHTTP, URLs: []CheckURL{{Path: "/"}}, DelayLoop: 7 * time.Second, ConnectTimeout: 3 * time.Second, DelayBeforeRetry: 2 * time.Second, Warmup: time.Second, HTTPProtocol: "1.0"},
		// No connection: connect_timeout is not inherited.
		{Type: CheckMisc, MiscPath: &Script{Command: "/bin/true"}, DelayLoop: 4 * time.Second, DelayBeforeRetry: 2 * time.Second, Warmup: time.Second, MiscTimeout: 4 * time.Second},
		// rise/fall replace retry and delay_before_retry.
		{Type: CheckTCP, Rise: 3, Fall: 2, DelayLoop: 4 * time.Second, ConnectTimeout: 3 * time.Second, Warmup: time.Second},
		// No timing at all.
		{Type: CheckFile, File: "/run/w"},
	}
	if !reflect.DeepEqual(checks, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", checks, want)
	}
}

// TestParseHexPattern follows keepalived's read_hex_str and hex_val
// (lib/utils.c).
func TestParseHexPattern(t *testing.T) {
	tests := []struct {
		in         string
		wildcards  bool
		data, mask string // hex; "" mask = nil
		err        bool
	}{
		{in: "0102", data: "0102"},
		{in: "01 02 0a", data: "01020a"},
		{in: " 1 23\t45 ", data: "012345"}, // a lone digit before a space is an octet
		{in: "123", data: "1203"},          // and so is one at the end
		{in: "AbCd", data: "abcd"},
		{in: "1\t2", err: true}, // read_hex_str ends an octet early only at a space
		{in: "0x01", err: true},
		{in: "", err: true},
		{in: "   ", err: true},
		{in: "0g", err: true},
		{in: "zz", err: true}, // a bad first nibble too
		// read_hex_str uses 0xff as its "bad character" mark and tests it
		// after the loop, so it refuses any string whose last octet is ff;
		// that is a sentinel collision, not a rule, and we accept them.
		{in: "00 ff", data: "00ff"},
		{in: "FF", data: "ff"},
		{in: "0X", wildcards: true, data: "00", mask: "0f"},
		{in: "x1 Xx", wildcards: true, data: "0100", mask: "f0ff"},
		{in: "01", wildcards: true, data: "01"},
		{in: "X", wildcards: true, data: "00", mask: "0f"}, // a lone wildcard nibble is an octet
		{in: "xX 1x", wildcards: true, data: "0010", mask: "ff0f"},
		{in: "d\tX", wildcards: true, err: true}, // a tab right after a nibble is a bad character
		{in: "0x", err: true},                    // x is a wildcard only in require_reply
	}
	for _, tt := range tests {
		data, mask, err := ParseHexPattern(tt.in, tt.wildcards)
		if tt.err {
			if err == nil {
				t.Errorf("%q: no error, got %x", tt.in, data)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if hex.EncodeToString(data) != tt.data || hex.EncodeToString(mask) != tt.mask || (tt.mask == "") != (mask == nil) {
			t.Errorf("%q: got %x mask %x, want %s mask %s", tt.in, data, mask, tt.data, tt.mask)
		}
	}
}

// FuzzParseHexPattern checks that the hex reader never panics, that a mask
// comes only with wildcards and matches the data's length, that an octet
// takes one or two characters, that wildcards change nothing in a string
// without x or X, and that data written back as hex reads the same.
func FuzzParseHexPattern(f *testing.F) {
	for _, s := range []string{"0102", "1 23", "0X", "x1 Xx", "", "0g", "ff\t00", "deadbeef", "dX ad", "x", "\t", "ab\tcd", "zz"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, wildcards bool) {
		data, mask, err := ParseHexPattern(s, wildcards)
		if !strings.ContainsAny(s, "xX") {
			d2, m2, err2 := ParseHexPattern(s, !wildcards)
			if (err == nil) != (err2 == nil) || !bytes.Equal(d2, data) || m2 != nil || mask != nil {
				t.Fatalf("%q: wildcards %v gave %x %x %v, %v gave %x %x %v", s, wildcards, data, mask, err, !wildcards, d2, m2, err2)
			}
		}
		if err != nil {
			if data != nil || mask != nil {
				t.Fatalf("%q: data with an error", s)
			}
			return
		}
		if len(data) == 0 || mask != nil && (!wildcards || len(mask) != len(data)) {
			t.Fatalf("%q: data %x mask %x", s, data, mask)
		}
		if n := len(strings.Join(strings.Fields(s), "")); len(data) > n {
			t.Fatalf("%q: %d octets from %d characters", s, len(data), n)
		}
		back, _, err := ParseHexPattern(hex.EncodeToString(data), false)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%q: %x does not read back: %x, %v", s, data, back, err)
		}
	})
}

// TestMarshalLeavesInputAlone: Marshal normalises a copy, so nothing it
// changes (case, empty lists, VRRP defaults) may reach the caller's model.
func TestMarshalLeavesInputAlone(t *testing.T) {
	c := validModel()
	c.Services[0].Reals[0].Health.Checks = []Check{{Type: CheckDNS, DNSType: "mx", URLs: []CheckURL{}}}
	c.VRRPInstances = []VRRPInstance{{Name: "VI", State: "master", VRID: 1, Interface: "eth0", VIPs: []VIP{}}}
	c.VRRPScripts = []VRRPScript{{Name: "s", Script: Script{Command: "x"}}}
	before := c.Clone()
	cloneExtensions(before)
	if _, err := Marshal(c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, before) {
		t.Errorf("Marshal modified its argument:\n%+v\n%+v", c.VRRPInstances, before.VRRPInstances)
	}
}

func TestCloneExtensionsIsDeep(t *testing.T) {
	c, ds := Parse("", []byte(`
services:
  - protocol: tcp
    address: 10.0.0.1:80
    health: {quorum_up: /bin/up}
    reals:
      - address: 10.0.0.2:80
        health:
          notify_up: /bin/up
          checks: [{type: http_get, urls: [{path: /, status_codes: [200]}]}]
global: {notification_email: [a@example.com]}
vrrp_scripts: [{name: s, script: /bin/true}]
vrrp_instances:
  - {name: VI, interface: eth0, virtual_router_id: 1, auth_type: PASS, auth_pass: x,
     virtual_ipaddress: [10.0.0.9], track_script: [s], notify: /bin/n, unicast_peer: [10.0.0.3]}
vrrp_sync_groups: [{name: G, group: [VI], notify: /bin/g}]
`))
	if err := ds.Err(); err != nil {
		t.Fatal(err)
	}
	orig := c.Clone()
	cloneExtensions(orig)
	n := c.Clone()
	cloneExtensions(n)
	// Change everything reachable through the copy.
	n.Services[0].Health.QuorumUp.Command = "changed"
	r := &n.Services[0].Reals[0]
	r.Health.NotifyUp.Command = "changed"
	r.Health.Checks[0].URLs[0].StatusCodes[0].From = 500
	r.Health.Checks[0].URLs[0].Path = "/changed"
	n.Global.NotificationEmail[0] = "changed"
	vi := &n.VRRPInstances[0]
	vi.VIPs[0].Dev, vi.TrackScripts[0].Name, vi.Notify.Command, vi.UnicastPeers[0] = "x", "x", "x", netip.Addr{}
	n.VRRPSyncGroups[0].Group[0], n.VRRPSyncGroups[0].Notify.Command = "x", "x"
	n.VRRPScripts[0].Name = "x"
	if !reflect.DeepEqual(c, orig) {
		t.Error("a change to the copy reached the original")
	}
}

func TestNormalizeVRRP(t *testing.T) {
	c := &Config{
		Global: Global{VRRPVersion: 3, NotificationEmail: []string{}},
		VRRPInstances: []VRRPInstance{
			{Name: "a", State: "master", AuthType: "pass", VIPs: []VIP{}},
			{Name: "b", VIPs: []VIP{{Prefix: netip.MustParsePrefix("2001:db8::1/64")}}},
		},
		VRRPScripts:    []VRRPScript{{Name: "s", Interval: 3 * time.Second}},
		VRRPSyncGroups: []VRRPSyncGroup{{Name: "g", Group: []string{}}},
	}
	Normalize(c)
	a, b := c.VRRPInstances[0], c.VRRPInstances[1]
	// vrrp_parser.c / vrrp.c: VRRP_PRIO_DFL 100, VRRP_ADVER_DFL 1 s,
	// version from global vrrp_version, BACKUP unless MASTER.
	if a.State != "MASTER" || a.AuthType != "PASS" || a.Priority != 100 || a.AdvertInt != time.Second || a.Version != 3 || a.VIPs != nil {
		t.Errorf("instance a: %+v", a)
	}
	if b.State != "BACKUP" || b.Version != 3 {
		t.Errorf("instance b: state %q version %d", b.State, b.Version)
	}
	c.Global.VRRPVersion = 0
	c.VRRPInstances[0].Version = 0
	Normalize(c)
	if c.VRRPInstances[0].Version != 2 {
		t.Errorf("IPv4 default version = %d, want 2", c.VRRPInstances[0].Version)
	}
	s := c.VRRPScripts[0]
	if s.Timeout != 3*time.Second || s.Rise != 1 || s.Fall != 1 {
		t.Errorf("script: %+v (timeout = interval, rise and fall 1)", s)
	}
	if c.Global.NotificationEmail != nil || c.VRRPSyncGroups[0].Group != nil {
		t.Error("empty lists must become nil")
	}
}

// TestDiagnosticsUnderAliases checks that a value written under an alias
// is reported under the key the file uses, on its line.
func TestDiagnosticsUnderAliases(t *testing.T) {
	in := "services:\n  - protocol: tcp\n    address: 10.0.0.1:80\n    reals:\n      - address: 10.0.0.2:80\n        health:\n          checks:\n            - type: tcp_check\n              interval: 0s\n"
	_, ds := Parse("a.yaml", []byte(in))
	if len(ds) != 1 || ds[0].Line != 9 || !strings.HasSuffix(ds[0].Key, ".checks[0].interval") {
		t.Fatalf("got %v, want one diagnostic on line 9 for checks[0].interval", ds)
	}
}

// TestNormalizeWritesNothingWhenNormalised: the engine normalises a Clone,
// whose checks and VRRP lists still share elements with the published
// config that other goroutines read. On a config that is already
// normalised Normalize must not write at all (go test -race checks this;
// without it the test still checks that nothing changed).
func TestNormalizeWritesNothingWhenNormalised(t *testing.T) {
	var c *Config
	for _, g := range goldenFiles(t) {
		if g.Name == "valid_vrrp.yaml" {
			var ds Diagnostics
			if c, ds = Parse(g.Name, g.Input); ds.Err() != nil {
				t.Fatal(ds.Err())
			}
		}
	}
	h, ds := Parse("", []byte("services: [{protocol: udp, address: 10.0.0.1:53, reals: [{address: 10.0.0.2:53, health: {checks: [{type: dns_check}, {type: ssl_get, urls: [/]}]}}]}]"))
	if ds.Err() != nil {
		t.Fatal(ds.Err())
	}
	c.Services = h.Services
	want := c.Clone()
	cloneExtensions(want)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_ = c.VRRPInstances[0].State + c.Services[0].Reals[0].Health.Checks[0].DNSType
		}
	}()
	for range 100 {
		n := c.Clone() // shallow below Reals: shares checks and VRRP lists
		Normalize(n)
	}
	<-done
	if !reflect.DeepEqual(c, want) {
		t.Error("Normalize of a copy changed the original")
	}
}
