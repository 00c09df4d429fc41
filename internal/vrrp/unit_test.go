package vrrp

import (
	"net/netip"
	"testing"
)

// TestScriptCounter follows keepalived's vrrp_script rule
// (vrrp_scheduler.c; keepalived.md section 2) run by run.
func TestScriptCounter(t *testing.T) {
	const I, B, G = trackInit, trackBad, trackGood
	tests := []struct {
		name       string
		rise, fall int
		initFail   bool
		runs       string // s = success, f = failure
		states     []int  // state after each run
	}{
		{"first success decides", 2, 2, false, "s", []int{G}},
		{"first failure decides", 2, 2, false, "f", []int{B}},
		{"fall 2 needs two failures", 2, 2, false, "sffs", []int{G, G, B, B}},
		{"rise 2 needs two successes", 2, 2, false, "fsfss", []int{B, B, B, B, G}},
		{"fall 3 counts down from the top", 1, 3, false, "sfffs", []int{G, G, G, B, G}},
		{"a success in between restarts the fall count", 2, 3, false, "sffsfff", []int{G, G, G, G, G, G, B}},
		{"rise 1 fall 1 flips every time", 1, 1, false, "sfsf", []int{G, B, G, B}},
		{"init_fail needs rise successes", 3, 1, true, "sss", []int{B, B, G}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newScriptCounter(tt.rise, tt.fall, tt.initFail)
			want := I
			if tt.initFail {
				want = B
			}
			if c.state != want {
				t.Fatalf("initial state %d", c.state)
			}
			for i, r := range tt.runs {
				c.observe(r == 's')
				if c.state != tt.states[i] {
					t.Fatalf("after run %d (%c): state %d, want %d (result %d)", i+1, r, c.state, tt.states[i], c.result)
				}
				if c.result < 0 || c.result > tt.rise+tt.fall-1 {
					t.Fatalf("result %d out of range", c.result)
				}
			}
		})
	}
}

func TestTrackEffect(t *testing.T) {
	refs := []trackRef{
		{key: "if:eth1", name: "eth1", kind: kindLink, weight: 10},
		{key: "script:a", name: "a", kind: kindScript, weight: -20},
		{key: "script:r", name: "r", kind: kindScript, weight: -5, reverse: true},
		{key: "file:f", name: "f", kind: kindFile, weight: 3},
	}
	tests := []struct {
		values map[string]int
		delta  int
	}{
		{map[string]int{}, 10 + 0 - 5 + 0}, // unknown = good; reverse of good = bad
		{map[string]int{"if:eth1": trackBad, "script:a": trackBad, "script:r": trackBad, "file:f": 2}, -20 + 6},
		{map[string]int{"if:eth1": trackGood, "script:a": trackGood, "script:r": trackGood, "file:f": -1}, 10 - 5 - 3},
	}
	for i, tt := range tests {
		fault, delta := trackEffect(refs, tt.values)
		if fault != "" || delta != tt.delta {
			t.Errorf("case %d: fault %q delta %d, want %d", i, fault, delta, tt.delta)
		}
	}
	fault, _ := trackEffect([]trackRef{{key: "script:x", name: "x", kind: kindScript}}, map[string]int{"script:x": trackBad})
	if fault != "track_script x failed" {
		t.Errorf("weight 0 bad script: fault %q", fault)
	}
	for _, tt := range []struct {
		base  uint8
		delta int
		want  uint8
	}{{100, 200, 254}, {100, -200, 1}, {255, -100, 255}, {100, -20, 80}} {
		if got := effectivePriority(tt.base, tt.delta); got != tt.want {
			t.Errorf("effectivePriority(%d, %d) = %d, want %d", tt.base, tt.delta, got, tt.want)
		}
	}
}

func TestParseRoute(t *testing.T) {
	tests := []struct {
		in   string
		want Route
		err  bool
	}{
		{in: "192.0.2.0/24 dev eth1", want: Route{Dst: netip.MustParsePrefix("192.0.2.0/24"), Dev: "eth1"}},
		{in: "src 10.0.0.1 to 192.0.2.0/24 via 10.0.0.254 table 100 metric 5", want: Route{
			Dst: netip.MustParsePrefix("192.0.2.0/24"), Src: netip.MustParseAddr("10.0.0.1"),
			Via: netip.MustParseAddr("10.0.0.254"), Dev: "eth0", Table: 100, Metric: 5}},
		{in: "default gw 10.0.0.254", want: Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("10.0.0.254"), Dev: "eth0"}},
		{in: "default via fd00::1", want: Route{Dst: netip.MustParsePrefix("::/0"), Via: netip.MustParseAddr("fd00::1"), Dev: "eth0"}},
		{in: "blackhole 198.51.100.0/24", want: Route{Dst: netip.MustParsePrefix("198.51.100.0/24"), Type: "blackhole"}},
		{in: "192.0.2.7", want: Route{Dst: netip.MustParsePrefix("192.0.2.7/32"), Dev: "eth0"}},
		{in: "192.0.2.1/24 dev eth1 no_track", want: Route{Dst: netip.MustParsePrefix("192.0.2.0/24"), Dev: "eth1"}},
		{in: "", err: true},
		{in: "192.0.2.0/24 mtu 1400", err: true},
		{in: "192.0.2.0/24 via fd00::1", err: true},
		{in: "192.0.2.0/24 table x", err: true},
		{in: "via 10.0.0.1", err: true},
	}
	for _, tt := range tests {
		got, err := ParseRoute(tt.in, "eth0")
		if tt.err {
			if err == nil {
				t.Errorf("%q: no error", tt.in)
			}
			continue
		}
		tt.want.Original = tt.in
		if err != nil || got != tt.want {
			t.Errorf("%q: %+v, %v\nwant %+v", tt.in, got, err, tt.want)
		}
	}
}
