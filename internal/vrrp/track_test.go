package vrrp_test

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/notify"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrptest"
)

func (p *peer) statusOf(name string) vrrp.InstanceStatus {
	p.t.Helper()
	for _, st := range p.node.Status() {
		if st.Name == name {
			return st
		}
	}
	p.t.Fatalf("no instance %s", name)
	return vrrp.InstanceStatus{}
}

// track_script with keepalived's counter (keepalived.md section 2): with
// rise 2 and fall 2 the first result decides, two consecutive failures
// make a good script bad, two consecutive successes make it good again;
// a negative weight is subtracted while bad. The lower effective priority
// lets the peer preempt.
func TestTrackScriptMovesPriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		scripts := vrrptest.NewScripts()
		cfg := cfgOf(instance(150, func(vi *config.VRRPInstance) {
			vi.TrackScripts = []config.TrackRef{{Name: "chk"}}
		}))
		cfg.VRRPScripts = []config.VRRPScript{{Name: "chk", Script: config.Script{Command: "/bin/chk"},
			Interval: time.Second, Timeout: time.Second, Weight: -60, Rise: 2, Fall: 2}}
		a := start(t, lan, "10.200.0.1", cfg, scripts)
		b := start(t, lan, "10.200.0.2", cfgOf(instance(100)), nil)
		sleep(5 * time.Second)
		a.wantState(vrrp.StateMaster, "5 s")
		if got := a.status().EffectivePriority; got != 150 {
			t.Fatalf("effective priority %d with a good script", got)
		}
		// Runs happen at whole seconds; the next is at 6 s.
		scripts.SetFailing("/bin/chk", true)
		sleep(time.Second)
		if got := a.status().EffectivePriority; got != 150 {
			t.Fatalf("effective priority %d after one failure, want 150 (fall 2)", got)
		}
		sleep(time.Second)
		if got := a.status().EffectivePriority; got != 90 {
			t.Fatalf("effective priority %d after two failures, want 150-60", got)
		}
		sleep(vrrp.MasterDown(2, 100, time.Second))
		b.wantState(vrrp.StateMaster, "B preempted the weakened master")
		a.wantState(vrrp.StateBackup, "A yielded")
		// Recovery: one success is not enough with rise 2.
		scripts.SetFailing("/bin/chk", false)
		sleep(time.Second)
		if got := a.status().EffectivePriority; got != 90 {
			t.Fatalf("effective priority %d after one success, want 90 (rise 2)", got)
		}
		sleep(time.Second)
		if got := a.status().EffectivePriority; got != 150 {
			t.Fatalf("effective priority %d after two successes", got)
		}
		sleep(vrrp.MasterDown(2, 150, time.Second))
		a.wantState(vrrp.StateMaster, "A preempted back")
		if n := scripts.Runs("/bin/chk"); n < 10 {
			t.Errorf("script ran %d times", n)
		}
	})
}

// A weight-0 tracker puts the instance in FAULT (keepalived.md section 2),
// and the address owner's priority never moves with weights.
func TestTrackerFaultAndOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(
			instance(255, func(vi *config.VRRPInstance) {
				vi.State = "MASTER"
				vi.TrackInterfaces = []config.TrackRef{{Name: "eth1", Weight: -50}}
			}),
			instance(100, func(vi *config.VRRPInstance) {
				vi.Name, vi.VRID = "VI_2", 52
				vi.VIPs = []config.VIP{{Prefix: netip.MustParsePrefix("10.200.0.101/24")}}
				vi.TrackInterfaces = []config.TrackRef{{Name: "eth1"}}
			})), nil)
		a.fx.SetLink("eth1", false)
		sleep(vrrp.DefaultPoll)
		if st := a.statusOf("VI_1"); st.EffectivePriority != 255 || st.State != vrrp.StateMaster {
			t.Errorf("owner: priority %d state %s", st.EffectivePriority, st.State)
		}
		if st := a.statusOf("VI_2"); st.State != vrrp.StateFault {
			t.Errorf("VI_2 with eth1 down is %s, want FAULT", st.State)
		}
		a.fx.SetLink("eth1", true)
		sleep(vrrp.DefaultPoll)
		if st := a.statusOf("VI_2"); st.State != vrrp.StateBackup {
			t.Errorf("VI_2 after eth1 came back is %s, want BACKUP", st.State)
		}
		if st := a.statusOf("VI_2"); st.Transitions[len(st.Transitions)-1].Reason != "fault cleared" {
			t.Errorf("last transition %+v", st.Transitions[len(st.Transitions)-1])
		}
	})
}

// A track_file's number times its weight moves the priority; with weight
// 0 any non-zero number is a FAULT (vrrp_track.c).
func TestTrackFile(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		f := dir + "/prio"
		writeFile(t, f, "2\n")
		a := start(t, lan, "10.200.0.1", cfgOf(instance(100, func(vi *config.VRRPInstance) {
			vi.TrackFiles = []config.TrackRef{{Name: f, Weight: -10}}
		})), nil)
		sleep(vrrp.DefaultPoll)
		if got := a.status().EffectivePriority; got != 80 {
			t.Errorf("priority %d with 2 x -10, want 80", got)
		}
		writeFile(t, f, "0")
		sleep(vrrp.DefaultPoll)
		if got := a.status().EffectivePriority; got != 100 {
			t.Errorf("priority %d with 0, want 100", got)
		}
	})
}

// sync group: a member whose own tracker fails takes the whole group to
// FAULT, and the group comes back together (vrrp_sync.c).
func TestSyncGroupFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		two := func(prio uint8) *config.Config {
			c := cfgOf(
				instance(prio),
				instance(prio, func(vi *config.VRRPInstance) {
					vi.Name, vi.VRID = "VI_2", 52
					vi.VIPs = []config.VIP{{Prefix: netip.MustParsePrefix("10.200.0.101/24")}}
					vi.TrackInterfaces = []config.TrackRef{{Name: "eth1"}}
				}))
			c.VRRPSyncGroups = []config.VRRPSyncGroup{{Name: "G", Group: []string{"VI_1", "VI_2"}}}
			return c
		}
		a := start(t, lan, "10.200.0.1", two(150), nil)
		b := start(t, lan, "10.200.0.2", two(100), nil)
		sleep(5 * time.Second)
		for _, n := range []string{"VI_1", "VI_2"} {
			if a.statusOf(n).State != vrrp.StateMaster || b.statusOf(n).State != vrrp.StateBackup {
				t.Fatalf("%s: A %s B %s", n, a.statusOf(n).State, b.statusOf(n).State)
			}
		}
		a.fx.SetLink("eth1", false)
		sleep(vrrp.DefaultPoll)
		for _, n := range []string{"VI_1", "VI_2"} {
			if st := a.statusOf(n).State; st != vrrp.StateFault {
				t.Errorf("A %s is %s, want FAULT with the group", n, st)
			}
		}
		sleep(time.Second)
		for _, n := range []string{"VI_1", "VI_2"} {
			if st := b.statusOf(n).State; st != vrrp.StateMaster {
				t.Errorf("B %s is %s after A's priority 0, want MASTER", n, st)
			}
		}
		a.fx.SetLink("eth1", true)
		sleep(vrrp.DefaultPoll + vrrp.MasterDown(2, 150, time.Second))
		for _, n := range []string{"VI_1", "VI_2"} {
			if a.statusOf(n).State != vrrp.StateMaster || b.statusOf(n).State != vrrp.StateBackup {
				t.Errorf("after recovery %s: A %s B %s", n, a.statusOf(n).State, b.statusOf(n).State)
			}
		}
	})
}

type recNotifier struct {
	mu  sync.Mutex
	evs []notify.Event
}

func (r *recNotifier) Notify(ev notify.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

// Notifications: notify_<state> as the event's script, the generic notify
// script with keepalived's four extra arguments, STOP with a 1 s timeout.
func TestNotifications(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recNotifier{}
		fx := vrrptest.NewRecorder()
		lan := vrrptest.NewLAN()
		master, generic := &config.Script{Command: "/bin/m"}, &config.Script{Command: "/bin/n"}
		node := vrrp.New(vrrp.Options{Transport: lan.Host("10.200.0.1"), Effects: fx, Notifier: rec})
		if err := node.Apply(cfgOf(instance(150, func(vi *config.VRRPInstance) {
			vi.NotifyMaster, vi.Notify = master, generic
		}))); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); node.Run(ctx) }()
		sleep(4 * time.Second)
		cancel()
		<-done
		var states []string
		for _, ev := range rec.evs {
			states = append(states, ev.State)
			if ev.Kind != notify.KindVRRPInstance || ev.Object != "VI_1" {
				t.Errorf("event %+v", ev)
			}
			if len(ev.Extra) != 1 || ev.Extra[0].Script != generic ||
				!slices.Equal(ev.Extra[0].Args, []string{"INSTANCE", "VI_1", ev.State, "150"}) {
				t.Errorf("%s: generic notify call %+v", ev.State, ev.Extra)
			}
		}
		if !slices.Equal(states, []string{"BACKUP", "MASTER", "STOP"}) {
			t.Fatalf("states notified %v", states)
		}
		if rec.evs[1].Script != master || rec.evs[2].Timeout != time.Second {
			t.Errorf("MASTER script %v, STOP timeout %s", rec.evs[1].Script, rec.evs[2].Timeout)
		}
	})
}

// Apply: unchanged instances keep their state; added ones start; removed
// ones stop and take their addresses with them.
func TestApplyReconfigure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(150)), nil)
		sleep(5 * time.Second)
		a.wantState(vrrp.StateMaster, "5 s")
		vi2 := instance(100, func(vi *config.VRRPInstance) {
			vi.Name, vi.VRID = "VI_2", 52
			vi.VIPs = []config.VIP{{Prefix: netip.MustParsePrefix("10.200.0.101/24")}}
		})
		if err := a.node.Apply(cfgOf(instance(150), vi2)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		st := a.statusOf("VI_1")
		if st.State != vrrp.StateMaster || len(st.Transitions) != 2 {
			t.Errorf("VI_1 after an unrelated change: %s, %d transitions", st.State, len(st.Transitions))
		}
		if got := a.statusOf("VI_2").State; got != vrrp.StateBackup {
			t.Errorf("new VI_2 is %s", got)
		}
		if err := a.node.Apply(cfgOf(vi2)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if len(a.node.Status()) != 1 || a.hasVIP() {
			t.Errorf("after removing VI_1: %d instances, VIP held %v", len(a.node.Status()), a.hasVIP())
		}
		if a.node.MasterFor(netip.MustParseAddr(vip)) {
			t.Error("MasterFor a removed instance's VIP")
		}
		sleep(4 * time.Second)
		if !a.node.MasterFor(netip.MustParseAddr("10.200.0.101")) {
			t.Error("not MasterFor VI_2's VIP after it took over")
		}
	})
}

// use_vmac creates vrrp.VRID with 00:00:5e:00:01:VRID, puts the VIPs on
// it and removes it at stop; labels and routes reach the effects.
func TestVMACAndRoutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(255, func(vi *config.VRRPInstance) {
			vi.UseVMAC = true
			vi.VIPs[0].Label = ""
			vi.Routes = []string{"10.250.0.0/24 via 10.200.0.254"}
			vi.ExcludedVIPs = []config.VIP{{Prefix: netip.MustParsePrefix("fd00:200::100/64"), Dev: "eth0"}}
		})), nil)
		calls := a.fx.Calls()
		for _, want := range []string{
			"vmac add vrrp.51 on eth0 mac 00:00:5e:00:01:33",
			"add 10.200.0.100/24 dev vrrp.51 label ",
			"add fd00:200::100/64 dev eth0 label ",
			"route add 10.250.0.0/24 via 10.200.0.254",
			"announce vrrp.51 [10.200.0.100]",
		} {
			if !slices.Contains(calls, want) {
				t.Errorf("missing %q in %q", want, calls)
			}
		}
		a.stop()
		if v := a.fx.VMACs(); len(v) != 0 || len(a.fx.Addresses()) != 0 {
			t.Errorf("after stop: VMACs %v, addresses %v", v, a.fx.Addresses())
		}
	})
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
