package netns

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// nodeYAML is a version 2 instance with PASS authentication (1 s
// adverts, keepalived's defaults otherwise) plus extra instance keys.
func nodeYAML(l *lab, prio int, extra string) string {
	return fmt.Sprintf(`global:
  vrrp_garp_master_delay: 1s
  vrrp_garp_master_repeat: 3
vrrp_instances:
  - name: VI_1
    interface: eth0
    virtual_router_id: 51
    priority: %d
    advert_int: 1s
    auth_type: PASS
    auth_pass: "1111"
    virtual_ipaddress: [%s/24 dev eth0 label eth0:1]
%s`, prio, l.vip(), extra)
}

// Election, gratuitous ARP on the wire, and the link-cut failover:
// the backup takes the VIP within 3*advert_int + skew (keepalived.md
// section 7: 3.611 s measured for keepalived).
func TestElectionGARPAndLinkCut(t *testing.T) {
	l := newLab(t, 211, map[string]int{"a": 1, "b": 2, "c": 10})
	capC := l.capture("c")
	a := l.startNode("a", nodeYAML(l, 150, ""))
	b := l.startNode("b", nodeYAML(l, 100, ""))
	a.waitState(vrrp.StateMaster, 6*time.Second)
	b.waitState(vrrp.StateBackup, time.Second)
	time.Sleep(1500 * time.Millisecond) // the delayed GARP round
	if !l.hasAddr("a", l.vip()) || l.hasAddr("b", l.vip()) {
		t.Fatalf("VIP on a: %v, on b: %v; want only a", l.hasAddr("a", l.vip()), l.hasAddr("b", l.vip()))
	}
	if out := l.ip(l.ns("a"), "-o", "addr", "show", "dev", "eth0"); !containsAll(out, "eth0:1", l.vip()+"/24") {
		t.Errorf("VIP without its label: %s", out)
	}
	garps := capC.garps(netip.MustParseAddr(l.vip()))
	// vrrp_garp_master_repeat 3 at takeover and 3 more after 1 s.
	if len(garps) != 6 {
		t.Errorf("%d gratuitous ARPs for the VIP seen, want 6", len(garps))
	}
	for _, m := range garps {
		if m.String() != l.macOf("a") {
			t.Errorf("gratuitous ARP from %s, want a's MAC %s", m, l.macOf("a"))
		}
	}
	for _, ad := range capC.adverts() {
		if ad.ttl != vrrp.TTL || ad.src != l.addr("a") || ad.prio != 150 || string(ad.adv.AuthData[:4]) != "1111" {
			t.Fatalf("advert on the wire: TTL %d from %s prio %d auth %q", ad.ttl, ad.src, ad.prio, ad.adv.AuthData)
		}
	}

	l.cut("a")
	b.waitState(vrrp.StateMaster, 5*time.Second)
	a.waitState(vrrp.StateFault, 2*time.Second)
	if !waitFor(time.Second, func() bool { return l.hasAddr("b", l.vip()) && !l.hasAddr("a", l.vip()) }) {
		t.Errorf("after the cut: VIP on a %v, on b %v", l.hasAddr("a", l.vip()), l.hasAddr("b", l.vip()))
	}
	d, ok := gap(capC.adverts(), l.addr("a"), -1, l.addr("b"))
	want := vrrp.MasterDown(2, 100, time.Second)
	if !ok || d < want-300*time.Millisecond || d > want+400*time.Millisecond {
		t.Errorf("failover took %s (found %v), want about %s", d, ok, want)
	}
	if len(capC.garps(netip.MustParseAddr(l.vip()))) < 9 {
		t.Error("no gratuitous ARP from b after the takeover")
	}
}

// Graceful stop: the master sends priority 0, the backup takes over
// within Skew_Time (0.609 s; keepalived 0.618 s), and no VIP is left.
func TestGracefulStop(t *testing.T) {
	l := newLab(t, 212, map[string]int{"a": 1, "b": 2, "c": 10})
	capC := l.capture("c")
	a := l.startNode("a", nodeYAML(l, 150, ""))
	b := l.startNode("b", nodeYAML(l, 100, ""))
	a.waitState(vrrp.StateMaster, 6*time.Second)
	time.Sleep(500 * time.Millisecond)
	a.stop()
	if l.hasAddr("a", l.vip()) {
		t.Error("the stopped node left its VIP behind")
	}
	b.waitState(vrrp.StateMaster, 2*time.Second)
	d, ok := gap(capC.adverts(), l.addr("a"), 0, l.addr("b"))
	skew := vrrp.Skew(2, 100, time.Second)
	if !ok || d < skew-100*time.Millisecond || d > skew+300*time.Millisecond {
		t.Errorf("priority 0 to takeover: %s (found %v), want about %s", d, ok, skew)
	}
}

// Preemption when a higher priority joins, and nopreempt.
func TestPreemptAndNopreempt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		subnet    int
		extra     string
		aTakesOff bool
	}{
		{"preempt", 213, "", true},
		{"nopreempt", 214, "    nopreempt: true\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, tc.subnet, map[string]int{"a": 1, "b": 2})
			b := l.startNode("b", nodeYAML(l, 100, ""))
			b.waitState(vrrp.StateMaster, 5*time.Second)
			start := time.Now()
			a := l.startNode("a", nodeYAML(l, 150, tc.extra))
			a.waitState(vrrp.StateBackup, 2*time.Second)
			if tc.aTakesOff {
				a.waitState(vrrp.StateMaster, 5*time.Second)
				b.waitState(vrrp.StateBackup, time.Second)
				if d := time.Since(start); d < 3*time.Second {
					t.Errorf("took over after %s, before its down timer", d)
				}
				return
			}
			time.Sleep(6 * time.Second)
			if a.state() != vrrp.StateBackup || b.state() != vrrp.StateMaster {
				t.Errorf("with nopreempt: a %s, b %s", a.state(), b.state())
			}
		})
	}
}

// A healed partition ends with exactly one master and one VIP.
func TestHealedPartition(t *testing.T) {
	l := newLab(t, 215, map[string]int{"a": 1, "b": 2})
	a := l.startNode("a", nodeYAML(l, 150, ""))
	b := l.startNode("b", nodeYAML(l, 100, ""))
	a.waitState(vrrp.StateMaster, 6*time.Second)
	l.isolate("a")
	b.waitState(vrrp.StateMaster, 5*time.Second)
	if a.state() != vrrp.StateMaster {
		t.Fatalf("partitioned a is %s", a.state())
	}
	l.rejoin("a")
	b.waitState(vrrp.StateBackup, 3*time.Second)
	time.Sleep(time.Second)
	if a.state() != vrrp.StateMaster || !l.hasAddr("a", l.vip()) || l.hasAddr("b", l.vip()) {
		t.Errorf("after healing: a %s (VIP %v), b %s (VIP %v)", a.state(), l.hasAddr("a", l.vip()), b.state(), l.hasAddr("b", l.vip()))
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// Version 3 over IPv6: adverts from the link-local address to ff02::12
// with hop limit 255, the VIP announced by unsolicited NA, and a graceful
// handover.
func TestIPv6(t *testing.T) {
	l := newLab(t, 220, map[string]int{"a": 1, "b": 2, "c": 10})
	capC := l.capture("c")
	conf := func(prio int) string {
		return fmt.Sprintf(`vrrp_instances:
  - name: VI_6
    interface: eth0
    virtual_router_id: 53
    priority: %d
    advert_int: 500ms
    virtual_ipaddress: [%s/64]
`, prio, l.vip6())
	}
	a := l.startNode("a", conf(150))
	b := l.startNode("b", conf(100))
	a.waitState(vrrp.StateMaster, 4*time.Second)
	b.waitState(vrrp.StateBackup, time.Second)
	if !l.hasAddr("a", l.vip6()) || l.hasAddr("b", l.vip6()) {
		t.Fatalf("VIP on a %v, on b %v", l.hasAddr("a", l.vip6()), l.hasAddr("b", l.vip6()))
	}
	ads := capC.adverts()
	if len(ads) == 0 {
		t.Fatal("no advert seen")
	}
	for _, ad := range ads {
		if ad.src != l.linkLocal("a") || ad.ttl != 255 || ad.adv.Version != 3 || ad.adv.Interval != 50 {
			t.Fatalf("advert from %s hop limit %d version %d interval %d cs", ad.src, ad.ttl, ad.adv.Version, ad.adv.Interval)
		}
	}
	nas := capC.unsolicitedNAs(netip.MustParseAddr(l.vip6()))
	if len(nas) == 0 || nas[0].String() != l.macOf("a") {
		t.Errorf("unsolicited NAs %v, want some from a's MAC %s", nas, l.macOf("a"))
	}
	a.stop()
	b.waitState(vrrp.StateMaster, 2*time.Second)
	if l.hasAddr("a", l.vip6()) || !l.hasAddr("b", l.vip6()) {
		t.Errorf("after the handover: VIP on a %v, on b %v", l.hasAddr("a", l.vip6()), l.hasAddr("b", l.vip6()))
	}
	d, ok := gap(capC.adverts(), l.linkLocal("a"), 0, l.linkLocal("b"))
	skew := vrrp.Skew(3, 100, 500*time.Millisecond)
	if !ok || d < skew-100*time.Millisecond || d > skew+300*time.Millisecond {
		t.Errorf("priority 0 to takeover: %s (found %v), want about %s", d, ok, skew)
	}
}
