package vrrp_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
	"github.com/fulcrumlb/fulcrum/internal/vrrp/vrrptest"
)

// These tests run whole Nodes on an in-memory LAN inside a synctest
// bubble: time is fake and advances only when every goroutine is blocked,
// so every expected instant below is exact (to the microsecond the timer
// arithmetic uses), derived from RFC 5798 section 6 and keepalived's
// include/vrrp.h timer macros.

const vip = "10.200.0.100"

// instance returns a normalised version 2 instance (what the config
// package hands over after defaults), VRID 51 on eth0 with one VIP.
func instance(prio uint8, mods ...func(*config.VRRPInstance)) config.VRRPInstance {
	vi := config.VRRPInstance{
		Name: "VI_1", State: "BACKUP", Interface: "eth0", VRID: 51, Priority: prio,
		AdvertInt: time.Second, Version: 2, AuthType: "PASS", AuthPass: "1111",
		VIPs: []config.VIP{{Prefix: netip.MustParsePrefix(vip + "/24"), Label: "eth0:1"}},
	}
	for _, m := range mods {
		m(&vi)
	}
	return vi
}

func cfgOf(vis ...config.VRRPInstance) *config.Config {
	return &config.Config{VRRPInstances: vis}
}

// peer is one running Node.
type peer struct {
	t       *testing.T
	node    *vrrp.Node
	fx      *vrrptest.Recorder
	host    *vrrptest.Host
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	changes []vrrp.StateChange
}

func start(t *testing.T, lan *vrrptest.LAN, addr string, cfg *config.Config, scripts vrrp.ScriptRunner) *peer {
	t.Helper()
	p := &peer{t: t, fx: vrrptest.NewRecorder(), host: lan.Host(addr), done: make(chan struct{})}
	p.node = vrrp.New(vrrp.Options{
		Transport: p.host, Effects: p.fx, Scripts: scripts,
		OnChange: func(c vrrp.StateChange) {
			p.mu.Lock()
			p.changes = append(p.changes, c)
			p.mu.Unlock()
		},
	})
	if err := p.node.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		defer close(p.done)
		p.node.Run(ctx)
	}()
	t.Cleanup(p.stop)
	synctest.Wait()
	return p
}

// stop stops the node gracefully and waits for it.
func (p *peer) stop() {
	p.cancel()
	<-p.done
}

func (p *peer) status() vrrp.InstanceStatus {
	p.t.Helper()
	st := p.node.Status()
	if len(st) != 1 {
		p.t.Fatalf("%d instances, want 1", len(st))
	}
	return st[0]
}

func (p *peer) state() vrrp.State { return p.status().State }

func (p *peer) wantState(want vrrp.State, when string) {
	p.t.Helper()
	if got := p.state(); got != want {
		p.t.Fatalf("%s: %s is %s, want %s", when, p.host.Addr4, got, want)
	}
}

// lastTo returns the time of the last transition into state s.
func (p *peer) lastTo(s vrrp.State) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.changes) - 1; i >= 0; i-- {
		if p.changes[i].To == s {
			return p.changes[i].Time
		}
	}
	return time.Time{}
}

func (p *peer) hasVIP() bool {
	return slices.Contains(p.fx.Addresses(), netip.MustParsePrefix(vip+"/24"))
}

// sleep advances the fake clock by d and lets everything settle.
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

const us = time.Microsecond

// Startup as BACKUP waits Master_Down_Interval = 3*1 s + (256-100)/256 s
// = 3.609375 s before taking over (RFC 5798 section 6.4.1; keepalived.md
// section 7 measured 3.62 s).
func TestStartupWaitsMasterDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		t0 := time.Now()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(100)), nil)
		a.wantState(vrrp.StateBackup, "at start")
		if a.hasVIP() {
			t.Fatal("backup holds the VIP")
		}
		sleep(3609375*us - time.Nanosecond)
		a.wantState(vrrp.StateBackup, "just before MDI")
		sleep(time.Nanosecond)
		a.wantState(vrrp.StateMaster, "at MDI")
		if got := a.lastTo(vrrp.StateMaster).Sub(t0); got != 3609375*us {
			t.Errorf("became master after %s, want 3.609375s", got)
		}
		if !a.hasVIP() {
			t.Error("master lacks the VIP")
		}
		if n := a.fx.Announced(netip.MustParseAddr(vip)); n != 5 {
			t.Errorf("%d gratuitous ARPs at takeover, want vrrp_garp_master_repeat 5", n)
		}
		// vrrp_garp_master_delay 5 s: a second round of 5.
		sleep(5 * time.Second)
		if n := a.fx.Announced(netip.MustParseAddr(vip)); n != 10 {
			t.Errorf("%d gratuitous ARPs 5 s after takeover, want 10", n)
		}
		// One advert per second while master.
		sent := a.status().Sent
		sleep(3 * time.Second)
		if got := a.status().Sent - sent; got != 3 {
			t.Errorf("%d adverts in 3 s, want 3", got)
		}
	})
}

// The address owner (priority 255) goes MASTER at once (RFC 5798 section
// 6.4.1) and sends an advert immediately.
func TestOwnerIsMasterAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(255, func(vi *config.VRRPInstance) { vi.State = "MASTER" })), nil)
		a.wantState(vrrp.StateMaster, "at start")
		if st := a.status(); st.Sent != 1 || !a.hasVIP() {
			t.Errorf("sent %d adverts, VIP %v; want 1 advert and the VIP", st.Sent, a.hasVIP())
		}
	})
}

// state MASTER below 255 still waits in BACKUP (keepalived.md section 1,
// keepalived behaviour 1; vrrp_scheduler.c vrrp_init_state).
func TestStateMasterStillWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(150, func(vi *config.VRRPInstance) { vi.State = "MASTER" })), nil)
		a.wantState(vrrp.StateBackup, "at start")
		sleep(3414062 * us)
		a.wantState(vrrp.StateMaster, "after MDI at priority 150")
	})
}

// Preemption: a higher-priority node joining discards the master's
// lower-priority adverts, takes over when its own down timer expires
// (3.414062 s at priority 150; keepalived.md measured 3.44 s), and the
// old master yields on its first advert.
func TestPreemption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(100)), nil)
		sleep(5 * time.Second)
		a.wantState(vrrp.StateMaster, "alone")
		tb := time.Now()
		b := start(t, lan, "10.200.0.2", cfgOf(instance(150)), nil)
		sleep(3414062*us - time.Nanosecond)
		b.wantState(vrrp.StateBackup, "before its MDI")
		a.wantState(vrrp.StateMaster, "before B's MDI")
		if r := b.status().Received; r < 3 {
			t.Errorf("B received %d adverts, want the 3 it discarded", r)
		}
		sleep(time.Nanosecond)
		b.wantState(vrrp.StateMaster, "at its MDI")
		a.wantState(vrrp.StateBackup, "after B's first advert")
		if got := b.lastTo(vrrp.StateMaster).Sub(tb); got != 3414062*us {
			t.Errorf("B took over after %s, want 3.414062s", got)
		}
		if a.hasVIP() || !b.hasVIP() {
			t.Errorf("VIP on A %v, on B %v; want only B", a.hasVIP(), b.hasVIP())
		}
		if st := a.status(); st.MasterAddr != netip.MustParseAddr("10.200.0.2") || st.MasterPriority != 150 {
			t.Errorf("A sees master %s prio %d", st.MasterAddr, st.MasterPriority)
		}
		// A backup receiving the higher advert keeps waiting: it never
		// takes over while B advertises.
		sleep(20 * time.Second)
		a.wantState(vrrp.StateBackup, "20 s later")
	})
}

// nopreempt: the higher-priority node stays BACKUP while a lower-priority
// master advertises (keepalived nopreempt, state BACKUP).
func TestNopreempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(100)), nil)
		sleep(5 * time.Second)
		b := start(t, lan, "10.200.0.2", cfgOf(instance(150, func(vi *config.VRRPInstance) { vi.Nopreempt = true })), nil)
		sleep(30 * time.Second)
		b.wantState(vrrp.StateBackup, "30 s with nopreempt")
		a.wantState(vrrp.StateMaster, "30 s with a nopreempt peer")
		// It still takes over when the master goes away.
		a.stop()
		sleep(Skew(150))
		b.wantState(vrrp.StateMaster, "after the master's priority 0")
	})
}

// Skew returns Skew_Time for a version 2 priority.
func Skew(prio uint8) time.Duration { return vrrp.Skew(2, prio, time.Second) }

// preempt_delay (keepalived vrrp_state_backup): lower-priority adverts are
// accepted until the delay has run from the first one, then discarded,
// and the down timer runs out. A master since 3.609375 s advertises at
// 10.609375, 11.609375, ...; B starts at 10 s, so the first advert starts
// the 5 s delay at 10.609375; the one at 15.609375 is the first discarded,
// and B takes over at 14.609375 + 3.414062 = 18.023437 s.
func TestPreemptDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		t0 := time.Now()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(100)), nil)
		sleep(10 * time.Second)
		b := start(t, lan, "10.200.0.2", cfgOf(instance(150, func(vi *config.VRRPInstance) { vi.PreemptDelay = 5 * time.Second })), nil)
		sleep(8 * time.Second)
		b.wantState(vrrp.StateBackup, "18 s")
		a.wantState(vrrp.StateMaster, "18 s")
		sleep(time.Second)
		b.wantState(vrrp.StateMaster, "19 s")
		if got := b.lastTo(vrrp.StateMaster).Sub(t0); got != 18023437*us {
			t.Errorf("B took over at %s, want 18.023437s", got)
		}
	})
}

// A master that stops sends priority 0; the backup takes over after
// Skew_Time only (0.609375 s at priority 100; keepalived.md measured
// 0.618 s), and the stopped node keeps no address.
func TestPriorityZeroSkewTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(150)), nil)
		b := start(t, lan, "10.200.0.2", cfgOf(instance(100)), nil)
		sleep(5 * time.Second)
		a.wantState(vrrp.StateMaster, "5 s")
		b.wantState(vrrp.StateBackup, "5 s")
		ts := time.Now()
		a.stop()
		synctest.Wait()
		if a.hasVIP() || len(a.fx.Addresses()) != 0 {
			t.Errorf("stopped node keeps %v", a.fx.Addresses())
		}
		frames := lan.Frames()
		last := frames[len(frames)-1]
		adv, err := vrrp.Decode(last.Payload, last.Src, last.Dst)
		if err != nil || adv.Priority != 0 || last.Src != a.host.Addr4 {
			t.Fatalf("last advert %+v from %s (%v), want priority 0 from A", adv, last.Src, err)
		}
		if st := b.status(); st.PriorityZeroReceived != 1 {
			t.Errorf("B counted %d priority 0 adverts", st.PriorityZeroReceived)
		}
		sleep(609375*us - time.Nanosecond)
		b.wantState(vrrp.StateBackup, "just before skew")
		sleep(time.Nanosecond)
		b.wantState(vrrp.StateMaster, "at skew")
		if got := b.lastTo(vrrp.StateMaster).Sub(ts); got != 609375*us {
			t.Errorf("takeover %s after the stop, want 0.609375s", got)
		}
	})
}

// Equal priorities: the higher primary address wins (RFC 5798 section
// 6.4.3). Both start together, both time out together, and the one with
// the lower address yields to the other's advert.
func TestEqualPriorityHigherAddressWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(100)), nil)
		b := start(t, lan, "10.200.0.2", cfgOf(instance(100)), nil)
		sleep(10 * time.Second)
		a.wantState(vrrp.StateBackup, "10 s")
		b.wantState(vrrp.StateMaster, "10 s")
		if st := a.status(); st.MasterAddr != b.host.Addr4 {
			t.Errorf("A sees master %s", st.MasterAddr)
		}
	})
}

// Version 3: a backup learns the master's advertisement interval
// (RFC 5798 section 6.4.2) and times out on it: 3*0.5 s + (256-100)*50/256
// cs = 1.804687 s after the master's last advert.
func TestV3LearnsMasterInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		v3 := func(prio uint8, ival time.Duration) config.VRRPInstance {
			return instance(prio, func(vi *config.VRRPInstance) {
				vi.Version, vi.AuthType, vi.AuthPass, vi.AdvertInt = 3, "", "", ival
				vi.UnicastPeers = nil
			})
		}
		a := start(t, lan, "10.200.0.1", cfgOf(v3(200, 500*time.Millisecond)), nil)
		sleep(4 * time.Second)
		a.wantState(vrrp.StateMaster, "alone")
		b := start(t, lan, "10.200.0.2", cfgOf(v3(100, time.Second)), nil)
		sleep(2 * time.Second)
		if got := b.status().MasterAdvertInt; got != 500*time.Millisecond {
			t.Fatalf("B's master advert interval is %s, want 500ms", got)
		}
		// Cut A's cable right after an advert: A adverts at 3.218750 +
		// k*0.5 s (MDI at priority 200 with 500 ms: 1.5 s + 0.109375 s).
		frames := lan.Frames()
		lastAdvert := frames[len(frames)-1].Time
		a.host.SetLink(false)
		sleep(1804687*us - time.Since(lastAdvert) - time.Nanosecond)
		b.wantState(vrrp.StateBackup, "just before the learned MDI")
		sleep(time.Nanosecond)
		b.wantState(vrrp.StateMaster, "at the learned MDI")
	})
}

// A master whose own interface loses carrier goes to FAULT: it tries to
// send priority 0, drops its addresses, and the backup takes over within
// Master_Down_Interval (keepalived.md section 7, link cut).
func TestLinkCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(150)), nil)
		b := start(t, lan, "10.200.0.2", cfgOf(instance(100)), nil)
		sleep(5 * time.Second)
		a.wantState(vrrp.StateMaster, "5 s")
		a.host.SetLink(false)
		a.fx.SetLink("eth0", false)
		sleep(vrrp.DefaultPoll)
		a.wantState(vrrp.StateFault, "after the cut")
		if a.hasVIP() {
			t.Error("FAULT node keeps the VIP")
		}
		sleep(vrrp.MasterDown(2, 100, time.Second))
		b.wantState(vrrp.StateMaster, "one MDI after the cut")
		// Restore: A comes back as BACKUP, preempts (150 > 100) after
		// its own down timer, and B yields.
		a.host.SetLink(true)
		a.fx.SetLink("eth0", true)
		sleep(vrrp.DefaultPoll)
		a.wantState(vrrp.StateBackup, "after the restore")
		sleep(vrrp.MasterDown(2, 150, time.Second))
		a.wantState(vrrp.StateMaster, "one MDI after the restore")
		b.wantState(vrrp.StateBackup, "after A preempted")
	})
}

// A healed partition ends with exactly one master: both are masters while
// cut off from each other; the first advert across decides.
func TestHealedPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(150)), nil)
		b := start(t, lan, "10.200.0.2", cfgOf(instance(100)), nil)
		sleep(5 * time.Second)
		lan.Partition([]*vrrptest.Host{a.host}, []*vrrptest.Host{b.host})
		sleep(5 * time.Second)
		a.wantState(vrrp.StateMaster, "partitioned")
		b.wantState(vrrp.StateMaster, "partitioned")
		lan.Heal()
		sleep(1100 * time.Millisecond)
		a.wantState(vrrp.StateMaster, "healed")
		b.wantState(vrrp.StateBackup, "healed")
		if b.hasVIP() {
			t.Error("the loser keeps the VIP")
		}
	})
}

// advert encodes a version 2 advert as another router would send it.
func advert(t *testing.T, src string, mod func(*vrrp.Advert)) vrrp.Packet {
	t.Helper()
	a := vrrp.Advert{Version: 2, VRID: 51, Priority: 100, Interval: 1, AuthType: vrrp.AuthPass,
		AuthData: [8]byte{'1', '1', '1', '1'}, Addrs: []netip.Addr{netip.MustParseAddr(vip)}}
	if mod != nil {
		mod(&a)
	}
	from := netip.MustParseAddr(src)
	b, err := a.Encode(nil, from, vrrp.Group4)
	if err != nil {
		t.Fatal(err)
	}
	return vrrp.Packet{Src: from, Dst: vrrp.Group4, TTL: vrrp.TTL, Payload: b}
}

// A master answers a lower-priority advert with one of its own at once
// (RFC 9568 and keepalived's default, vrrp_state_master_rx), and answers a
// priority 0 advert at once too (RFC 5798 section 6.4.3).
func TestMasterAnswersAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(150)), nil)
		sleep(5 * time.Second)
		for _, prio := range []uint8{100, 0} {
			sent := a.status().Sent
			lan.Inject(advert(t, "10.200.0.3", func(ad *vrrp.Advert) { ad.Priority = prio }))
			synctest.Wait()
			if got := a.status().Sent - sent; got != 1 {
				t.Errorf("priority %d advert: A sent %d adverts at once, want 1", prio, got)
			}
			a.wantState(vrrp.StateMaster, "after a lower advert")
		}
	})
}

// Every rejection reason is counted, and none of the rejected adverts
// moves the state machine: each would depose the master (priority 254)
// if it were accepted (keepalived vrrp.c vrrp_in_chk; reliability.md
// section 2.5: a TTL 64 spoof must be ignored).
func TestRejectedAdvertsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		a := start(t, lan, "10.200.0.1", cfgOf(instance(150)), nil)
		sleep(5 * time.Second)
		high := func(ad *vrrp.Advert) { ad.Priority = 254 }
		tests := []struct {
			reason vrrp.Reason
			pkt    vrrp.Packet
		}{
			{vrrp.ReasonTTL, func() vrrp.Packet { p := advert(t, "10.200.0.3", high); p.TTL = 64; return p }()},
			{vrrp.ReasonChecksum, func() vrrp.Packet { p := advert(t, "10.200.0.3", high); p.Payload[6] ^= 0xff; return p }()},
			{vrrp.ReasonLength, func() vrrp.Packet { p := advert(t, "10.200.0.3", high); p.Payload = p.Payload[:12]; return p }()},
			{vrrp.ReasonVersion, advert(t, "10.200.0.3", func(ad *vrrp.Advert) { high(ad); ad.Version, ad.Interval = 3, 100 })},
			{vrrp.ReasonVRID, advert(t, "10.200.0.3", func(ad *vrrp.Advert) { high(ad); ad.VRID = 52 })},
			{vrrp.ReasonAuthType, advert(t, "10.200.0.3", func(ad *vrrp.Advert) { high(ad); ad.AuthType = vrrp.AuthNone })},
			{vrrp.ReasonAuth, advert(t, "10.200.0.3", func(ad *vrrp.Advert) { high(ad); ad.AuthData[0] = '2' })},
			{vrrp.ReasonInterval, advert(t, "10.200.0.3", func(ad *vrrp.Advert) { high(ad); ad.Interval = 2 })},
			{vrrp.ReasonOwnAdvert, advert(t, "10.200.0.1", high)},
		}
		for _, tt := range tests {
			lan.Inject(tt.pkt)
			synctest.Wait()
			if got := a.status().Rejected[tt.reason]; got != 1 {
				t.Errorf("%s: counted %d, want 1", tt.reason, got)
			}
		}
		a.wantState(vrrp.StateMaster, "after the rejected adverts")
		// The same advert, correct, deposes it.
		lan.Inject(advert(t, "10.200.0.3", high))
		synctest.Wait()
		a.wantState(vrrp.StateBackup, "after a valid higher advert")
		// A different VIP list is counted but accepted (keepalived 2.x).
		lan.Inject(advert(t, "10.200.0.3", func(ad *vrrp.Advert) { high(ad); ad.Addrs = nil }))
		synctest.Wait()
		if st := a.status(); st.AddressListErrors != 1 || st.Received < 2 {
			t.Errorf("address list errors %d, received %d", st.AddressListErrors, st.Received)
		}
	})
}

// Unicast mode: the TTL is not checked, but the sender must be a listed
// peer (stricter than keepalived without vrrp_check_unicast_src).
func TestUnicastPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lan := vrrptest.NewLAN()
		uc := func(prio uint8, peer string) config.VRRPInstance {
			return instance(prio, func(vi *config.VRRPInstance) {
				vi.UnicastPeers = []netip.Addr{netip.MustParseAddr(peer)}
			})
		}
		a := start(t, lan, "10.200.0.1", cfgOf(uc(150, "10.200.0.2")), nil)
		b := start(t, lan, "10.200.0.2", cfgOf(uc(100, "10.200.0.1")), nil)
		sleep(5 * time.Second)
		a.wantState(vrrp.StateMaster, "5 s")
		b.wantState(vrrp.StateBackup, "5 s")
		for _, f := range lan.Frames() {
			if f.Dst == vrrp.Group4 {
				t.Fatalf("multicast advert from %s in unicast mode", f.Src)
			}
		}
		p := advert(t, "10.200.0.9", func(ad *vrrp.Advert) { ad.Priority = 254 })
		p.Dst = netip.MustParseAddr("10.200.0.1")
		p.Payload = advertTo(t, p)
		lan.Inject(p)
		synctest.Wait()
		if got := a.status().Rejected[vrrp.ReasonPeer]; got != 1 {
			t.Errorf("non-peer advert counted %d times", got)
		}
		a.wantState(vrrp.StateMaster, "after a non-peer advert")
	})
}

// advertTo re-encodes p's advert for p's destination.
func advertTo(t *testing.T, p vrrp.Packet) []byte {
	a, err := vrrp.Decode(p.Payload, p.Src, vrrp.Group4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.Encode(nil, p.Src, p.Dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Safer than keepalived: an instance with neither authentication nor
// unicast peers warns at start (reliability.md section 2.5).
func TestUnauthenticatedWarning(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*config.VRRPInstance)
		warn bool
	}{
		{"PASS", func(*config.VRRPInstance) {}, false},
		{"none", func(vi *config.VRRPInstance) { vi.AuthType, vi.AuthPass = "", "" }, true},
		{"unicast", func(vi *config.VRRPInstance) {
			vi.AuthType, vi.AuthPass = "", ""
			vi.UnicastPeers = []netip.Addr{netip.MustParseAddr("10.200.0.2")}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var buf bytes.Buffer
				lan := vrrptest.NewLAN()
				node := vrrp.New(vrrp.Options{Transport: lan.Host("10.200.0.1"), Effects: vrrptest.NewRecorder(),
					Logger: slog.New(slog.NewTextHandler(&buf, nil))})
				if err := node.Apply(cfgOf(instance(100, tc.mod))); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); node.Run(ctx) }()
				synctest.Wait()
				cancel()
				<-done
				if got := strings.Contains(buf.String(), "level=WARN msg=\"VRRP adverts are not authenticated"); got != tc.warn {
					t.Errorf("warning logged %v, want %v:\n%s", got, tc.warn, buf.String())
				}
			})
		})
	}
}
