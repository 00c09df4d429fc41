package realserver

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inFreshNS runs fn (which must not call t.Fatal: it is not the test
// goroutine) on a thread in a new network namespace with a veth
// pair (eth0 and its peer), and throws the namespace away afterwards.
func inFreshNS(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, sysctls, XDP)")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the namespace
		ns, err := netns.New()
		if err != nil {
			t.Error(err)
			return
		}
		defer ns.Close()
		la := netlink.NewLinkAttrs()
		la.Name = "eth0"
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "peer0"}); err != nil {
			t.Error(err)
			return
		}
		fn()
	}()
	<-done
}

type snapshot struct {
	sysctls map[string]string
	lo      []string
	xdp     bool
}

func snap(t *testing.T, o *Options) snapshot {
	t.Helper()
	s := snapshot{sysctls: map[string]string{}}
	for _, kv := range o.sysctls() {
		v, err := o.readSysctl(kv[0])
		if err != nil {
			t.Error(err)
		}
		s.sysctls[kv[0]] = v
	}
	lo, _ := netlink.LinkByName("lo")
	as, _ := netlink.AddrList(lo, netlink.FAMILY_V4)
	for _, a := range as {
		s.lo = append(s.lo, a.IPNet.String())
	}
	lk, _ := netlink.LinkByName("eth0")
	s.xdp = lk.Attrs().Xdp != nil && lk.Attrs().Xdp.Attached
	return s
}

func equal(a, b snapshot) bool {
	if a.xdp != b.xdp || len(a.lo) != len(b.lo) || len(a.sysctls) != len(b.sysctls) {
		return false
	}
	for i := range a.lo {
		if a.lo[i] != b.lo[i] {
			return false
		}
	}
	for k, v := range a.sysctls {
		if b.sysctls[k] != v {
			return false
		}
	}
	return true
}

// Up sets the VIP on lo, the ARP sysctls on all and the interface and (tun)
// attaches the decapsulator; a second Up changes nothing, not even the
// state file; Down restores the previous values and removes everything.
func TestUpIsIdempotentAndDownRestores(t *testing.T) {
	for _, mode := range []Mode{DR, TUN} {
		t.Run(string(mode), func(t *testing.T) {
			dir := t.TempDir()
			inFreshNS(t, func() {
				o := Options{VIPs: []netip.Addr{netip.MustParseAddr("10.9.0.100"), netip.MustParseAddr("10.9.0.101")}, Mode: mode, Dev: "eth0", StateDir: dir}
				// A previous value that is not the kernel default must come back.
				if err := o.writeSysctl("net/ipv4/conf/eth0/arp_announce", "1"); err != nil {
					t.Error(err)
					return
				}
				before := snap(t, &o)
				if err := Up(context.Background(), o); err != nil {
					t.Error(err)
					return
				}
				up := snap(t, &o)
				for _, kv := range o.sysctls() {
					if up.sysctls[kv[0]] != kv[1] {
						t.Errorf("%s = %s after up, want %s", kv[0], up.sysctls[kv[0]], kv[1])
					}
				}
				if len(up.lo) != 2 || up.lo[0] != "10.9.0.100/32" || up.lo[1] != "10.9.0.101/32" {
					t.Errorf("lo addresses %v", up.lo)
				}
				if up.xdp != (mode == TUN) {
					t.Errorf("xdp attached=%v in mode %s", up.xdp, mode)
				}
				st1, _ := os.ReadFile(filepath.Join(dir, "state.json"))
				if err := Up(context.Background(), o); err != nil {
					t.Error(err)
					return
				}
				st2, _ := os.ReadFile(filepath.Join(dir, "state.json"))
				if again := snap(t, &o); !equal(up, again) || string(st1) != string(st2) {
					t.Errorf("second up changed state:\n%+v\n%+v\n%s\n%s", up, again, st1, st2)
				}
				if err := Down(context.Background(), o); err != nil {
					t.Error(err)
					return
				}
				if after := snap(t, &o); !equal(before, after) {
					t.Errorf("down did not restore:\nbefore %+v\nafter  %+v", before, after)
				}
				if _, err := os.Stat(filepath.Join(dir, "state.json")); !os.IsNotExist(err) {
					t.Errorf("state file left: %v", err)
				}
			})
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	v := []netip.Addr{netip.MustParseAddr("10.9.0.100")}
	for name, o := range map[string]Options{
		"no mode":    {VIPs: v},
		"bad mode":   {VIPs: v, Mode: "nat"},
		"no vip":     {Mode: DR},
		"ipv6":       {VIPs: []netip.Addr{netip.MustParseAddr("fd00::1")}, Mode: DR},
		"tun no dev": {VIPs: v, Mode: TUN},
		"dev path":   {VIPs: v, Mode: DR, Dev: "../all"},
	} {
		if err := o.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (&Options{VIPs: v, Mode: DR}).validate(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}
