package config

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestDefault(t *testing.T) {
	c := Default()
	if ds := Validate(c); len(ds) != 0 {
		t.Fatalf("the embedded default has diagnostics:\n%s", ds)
	}
	if _, ds := Parse("", defaultYAML); len(ds) != 0 {
		t.Fatalf("default.yaml has diagnostics:\n%s", ds)
	}
	if c.Source != "" {
		t.Errorf("Source = %q, want empty for the embedded default", c.Source)
	}
	if c.Admin.Socket != DefaultAdminSocket || c.Timeouts != DefaultTimeouts {
		t.Errorf("admin %+v timeouts %+v, want the default socket and kernel timeouts", c.Admin, c.Timeouts)
	}
	checkRoundTrip(t, "", c)

	// The demo the brief describes: three HTTP backends behind a wrr TCP
	// service weighted 3:2:1, two UDP echo backends behind an rr service.
	ap := netip.MustParseAddrPort
	wantBackends := []DemoBackend{
		{"web-1", TCP, ap("127.0.0.1:9001")},
		{"web-2", TCP, ap("127.0.0.1:9002")},
		{"web-3", TCP, ap("127.0.0.1:9003")},
		{"echo-1", UDP, ap("127.0.0.1:9101")},
		{"echo-2", UDP, ap("127.0.0.1:9102")},
	}
	if c.Demo == nil || len(c.Demo.Backends) != len(wantBackends) {
		t.Fatalf("demo = %+v, want %d backends", c.Demo, len(wantBackends))
	}
	for i, b := range wantBackends {
		if c.Demo.Backends[i] != b {
			t.Errorf("demo.backends[%d] = %+v, want %+v", i, c.Demo.Backends[i], b)
		}
	}
	wantServices := []struct {
		key     ServiceKey
		sched   string
		reals   []string
		weights []int32
	}{
		{ServiceKey{Protocol: TCP, Address: ap("127.0.0.1:8080")}, "wrr", []string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"}, []int32{3, 2, 1}},
		{ServiceKey{Protocol: UDP, Address: ap("127.0.0.1:8053")}, "rr", []string{"127.0.0.1:9101", "127.0.0.1:9102"}, []int32{1, 1}},
	}
	if len(c.Services) != len(wantServices) {
		t.Fatalf("%d services, want %d", len(c.Services), len(wantServices))
	}
	for i, w := range wantServices {
		s := c.Services[i]
		if s.ServiceKey != w.key || s.Scheduler != w.sched || s.Persistence != nil || len(s.Reals) != len(w.reals) {
			t.Errorf("services[%d] = %s %s with %d reals, want %s %s with %d", i, s.ServiceKey, s.Scheduler, len(s.Reals), w.key, w.sched, len(w.reals))
			continue
		}
		for j, r := range s.Reals {
			if r.Address != ap(w.reals[j]) || r.Weight != w.weights[j] || r.Forward != Masq {
				t.Errorf("services[%d].reals[%d] = %+v, want %s weight %d masq", i, j, r, w.reals[j], w.weights[j])
			}
		}
	}
}

func TestDefaultIsACopy(t *testing.T) {
	a := Default()
	a.Services[0].Reals[0].Weight = 99
	a.Demo.Backends[0].Name = "changed"
	b := Default()
	if b.Services[0].Reals[0].Weight == 99 || b.Demo.Backends[0].Name == "changed" {
		t.Error("Default returned shared state")
	}
	y := DefaultYAML()
	y[0] = '!'
	if bytes.Equal(y, defaultYAML) {
		t.Error("DefaultYAML returned the embedded bytes themselves")
	}
}
