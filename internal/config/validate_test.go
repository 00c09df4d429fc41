package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// validModel is a small valid config built in Go, as the admin API or the
// ipvsadm front end would build one.
func validModel() *Config {
	return &Config{
		Admin:    Admin{Socket: DefaultAdminSocket},
		Timeouts: DefaultTimeouts,
		Services: []Service{{
			ServiceKey: ServiceKey{Protocol: TCP, Address: netip.MustParseAddrPort("10.0.0.1:80")},
			Scheduler:  "wlc",
			Reals: []Real{
				{Address: netip.MustParseAddrPort("192.168.1.2:80"), Weight: 1, Forward: Masq},
				{Address: netip.MustParseAddrPort("192.168.1.3:80"), Weight: 0, Forward: Route},
			},
		}},
	}
}

// TestValidateModel checks Validate on models from a non-file source: keys
// are schema paths, and no file or line is known.
// validateCase is one change to a valid model and the one diagnostic
// Validate must then report.
type validateCase struct {
	name   string
	mutate func(c *Config)
	key    string // "" = valid: no diagnostic at all
	sev    Severity
	msg    string // substring of the message
}

// runValidateCases applies each case to a fresh model from valid and
// checks that Validate reports exactly the diagnostic expected, with no
// file position (Validate works on a model, not on a file).
func runValidateCases(t *testing.T, valid func() *Config, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(c)
			ds := Validate(c)
			if tt.key == "" {
				if len(ds) != 0 {
					t.Fatalf("want no diagnostics, got:\n%s", ds)
				}
				return
			}
			if len(ds) != 1 {
				t.Fatalf("want one diagnostic for %s, got:\n%s", tt.key, ds)
			}
			d := ds[0]
			if d.Key != tt.key || d.Severity != tt.sev || !strings.Contains(d.Message, tt.msg) {
				t.Errorf("got %s (severity %s), want key %s, severity %s, message containing %q", d, d.Severity, tt.key, tt.sev, tt.msg)
			}
			if d.File != "" || d.Line != 0 || d.Column != 0 {
				t.Errorf("Validate must not invent positions: %+v", d)
			}
		})
	}
}

func TestValidateModel(t *testing.T) {
	tests := []validateCase{
		{"valid", func(*Config) {}, "", Error, ""},
		{"engine's empty config", func(c *Config) { *c = Config{Timeouts: DefaultTimeouts} }, "", Error, ""},
		{"weight below zero (ip_vs_add_dest ERANGE)", func(c *Config) { c.Services[0].Reals[0].Weight = -1 }, "services[0].reals[0].weight", Error, "out of range"},
		{"zero timeout (ipvsadm --set 0 keeps the old value)", func(c *Config) { c.Timeouts.UDP = 0 }, "timeouts.udp", Error, "0 is not allowed"},
		{"timeout above MAX_TIMEOUT", func(c *Config) { c.Timeouts.TCP = MaxTimeout + time.Second }, "timeouts.tcp", Error, "out of range"},
		{"timeout at MAX_TIMEOUT", func(c *Config) { c.Timeouts.TCP = MaxTimeout }, "", Error, ""},
		{"sub-second timeout", func(c *Config) { c.Timeouts.TCPFin = 1500 * time.Millisecond }, "timeouts.tcpfin", Error, "whole number of seconds"},
		{"unnormalised scheduler", func(c *Config) { c.Services[0].Scheduler = "" }, "services[0].scheduler", Error, "missing"},
		{"unnormalised forward", func(c *Config) { c.Services[0].Reals[1].Forward = "" }, "services[0].reals[1].forward", Error, "missing"},
		{"fwmark with protocol", func(c *Config) {
			c.Services[0].FWMark, c.Services[0].Address = 1, netip.AddrPort{}
		}, "services[0].protocol", Error, "fwmark"},
		{"threshold above INT_MAX (ipvsadm -x)", func(c *Config) { c.Services[0].Reals[0].UpperThreshold = MaxThreshold + 1 }, "services[0].reals[0].upper_threshold", Error, "out of range"},
		{"lower above upper (ip_vs_add_dest ERANGE)", func(c *Config) {
			c.Services[0].Reals[0].UpperThreshold, c.Services[0].Reals[0].LowerThreshold = 10, 11
		}, "services[0].reals[0].lower_threshold", Error, "higher than upper"},
		{"lower equal to upper", func(c *Config) {
			c.Services[0].Reals[0].UpperThreshold, c.Services[0].Reals[0].LowerThreshold = 10, 10
		}, "", Error, ""},
		{"persistence without prefix on IPv6 fwmark", func(c *Config) {
			c.Services[0].ServiceKey = ServiceKey{FWMark: 3, IPv6: true}
			c.Services[0].Reals = nil
			c.Services[0].Persistence = &Persistence{Timeout: time.Minute}
		}, "services[0].persistence.netmask", Error, "illegal ipv6 netmask"},
		{"persistence /0 on IPv4", func(c *Config) { c.Services[0].Persistence = &Persistence{Timeout: time.Minute} }, "services[0].persistence.netmask", Warning, "/0"},
		{"persistence timeout of 0", func(c *Config) { c.Services[0].Persistence = &Persistence{PrefixBits: 32} }, "services[0].persistence.timeout", Error, "out of range"},
		{"IPv4-mapped real in an IPv4 service", func(c *Config) {
			c.Services[0].Reals[0].Address = netip.MustParseAddrPort("[::ffff:192.168.1.2]:80")
		}, "services[0].reals[0].address", Error, "different address family"},
		{"nil demo backends list is fine", func(c *Config) { c.Demo = &Demo{} }, "", Error, ""},
		{"demo backend without protocol", func(c *Config) {
			c.Demo = &Demo{Backends: []DemoBackend{{Name: "x", Address: netip.MustParseAddrPort("127.0.0.1:1")}}}
		}, "demo.backends[0].protocol", Error, "missing"},
		{"admin socket relative", func(c *Config) { c.Admin.Socket = "admin.sock" }, "admin.socket", Error, "absolute"},
		{"admin listen on loopback v6", func(c *Config) { c.Admin.Listen, c.Admin.TokenFile = "[::1]:9099", "/t" }, "", Error, ""},
		{"admin listen on localhost", func(c *Config) { c.Admin.Listen, c.Admin.TokenFile = "localhost:9099", "/t" }, "", Error, ""},
		{"admin listen on a host name", func(c *Config) { c.Admin.Listen, c.Admin.TokenFile = "lb1.example:9099", "/t" }, "admin.listen", Warning, "not a loopback"},
		{"admin listen named port", func(c *Config) { c.Admin.Listen, c.Admin.TokenFile = "127.0.0.1:http", "/t" }, "admin.listen", Error, "not a number"},
	}
	runValidateCases(t, validModel, tests)
}

func TestValidateNil(t *testing.T) {
	if err := Validate(nil).Err(); err == nil {
		t.Error("Validate(nil) reported no error")
	}
}

// TestValidateDoesNotModify guards the engine's use: it validates a config
// it may then publish, so Validate must only read.
func TestValidateDoesNotModify(t *testing.T) {
	c := validModel()
	c.Services[0].Scheduler = ""
	before := c.Clone()
	Validate(c)
	if !reflect.DeepEqual(c, before) {
		t.Error("Validate modified its argument")
	}
}

func TestNormalize(t *testing.T) {
	c := &Config{
		Services: []Service{{
			ServiceKey: ServiceKey{Protocol: UDP, Address: netip.MustParseAddrPort("10.0.0.1:53")},
			SchedFlags: []string{},
			Reals:      []Real{{Address: netip.MustParseAddrPort("10.0.0.2:53")}, {Address: netip.MustParseAddrPort("10.0.0.3:53"), Forward: Tunnel}},
		}},
		Demo: &Demo{Backends: []DemoBackend{}},
	}
	Normalize(c)
	s := c.Services[0]
	if s.Scheduler != DefaultScheduler {
		t.Errorf("scheduler = %q, want ipvsadm's DEF_SCHED %q", s.Scheduler, DefaultScheduler)
	}
	if s.Reals[0].Forward != Masq || s.Reals[1].Forward != Tunnel {
		t.Errorf("forward = %q, %q; want masq for the empty one and tunnel kept", s.Reals[0].Forward, s.Reals[1].Forward)
	}
	if s.SchedFlags != nil || c.Demo.Backends != nil {
		t.Error("empty lists must become nil so that equal configs compare equal")
	}
	if s.Reals[0].Weight != 0 {
		t.Error("Normalize must not touch weight: 0 is a valid (quiescent) weight")
	}
	if c.Admin.Socket != "" || c.Timeouts != (Timeouts{}) {
		t.Error("Normalize must not fill values whose zero means something or that Parse fills from absence")
	}
	Normalize(nil) // must not panic
}

func TestSchedFlagBits(t *testing.T) {
	tests := []struct {
		flags []string
		want  uint32
	}{
		{nil, 0},
		{[]string{"sh-fallback"}, sched.FlagSched1},
		{[]string{"sh-port", "flag-3"}, sched.FlagSched2 | sched.FlagSched3},
		{[]string{"mh-fallback", "mh-port"}, sched.FlagSched1 | sched.FlagSched2},
		{[]string{"flag-1", "bogus"}, sched.FlagSched1},
	}
	for _, tt := range tests {
		s := Service{SchedFlags: tt.flags}
		if got := s.SchedFlagBits(); got != tt.want {
			t.Errorf("%v: SchedFlagBits() = %#x, want %#x", tt.flags, got, tt.want)
		}
	}
}

func TestServiceKeyFamily(t *testing.T) {
	tests := []struct {
		k    ServiceKey
		v6   bool
		bits int
	}{
		{ServiceKey{Protocol: TCP, Address: netip.MustParseAddrPort("10.0.0.1:80")}, false, 32},
		{ServiceKey{Protocol: TCP, Address: netip.MustParseAddrPort("[2001:db8::1]:80")}, true, 128},
		{ServiceKey{FWMark: 1}, false, 32},
		{ServiceKey{FWMark: 1, IPv6: true}, true, 128},
	}
	for _, tt := range tests {
		if tt.k.IsIPv6() != tt.v6 || tt.k.HostBits() != tt.bits {
			t.Errorf("%s: IsIPv6 %v HostBits %d, want %v %d", tt.k, tt.k.IsIPv6(), tt.k.HostBits(), tt.v6, tt.bits)
		}
	}
}
