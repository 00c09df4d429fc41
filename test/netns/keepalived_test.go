package netns

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// Interop with Debian's keepalived (2.2.7 in the lab of keepalived.md
// section 7, whose recipe this follows: -n -l -D -P, separate -p/-r pid
// files, enable_script_security with script_user root). Our node and
// keepalived share VRID 51; each in turn is the master, then stops
// gracefully, and the other must take over within Skew_Time.

func keepalivedConf(l *lab, version, prio int, vip string) string {
	auth := ""
	if version == 2 {
		auth = "    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n"
	}
	return fmt.Sprintf(`global_defs {
    router_id ka_%d
    enable_script_security
    script_user root
    vrrp_version %d
    vrrp_garp_master_delay 1
    vrrp_garp_master_repeat 3
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int 1
%s    virtual_ipaddress {
        %s
    }
}
`, prio, version, prio, auth, vip)
}

func ourConf(l *lab, version, prio int, vip string) string {
	auth := "    auth_type: PASS\n    auth_pass: \"1111\"\n"
	if version == 3 {
		auth = ""
	}
	return fmt.Sprintf(`vrrp_instances:
  - name: VI_1
    interface: eth0
    virtual_router_id: 51
    version: %d
    priority: %d
    advert_int: 1s
%s    virtual_ipaddress: [%s]
`, version, prio, auth, vip)
}

// startKeepalived runs keepalived's VRRP process in host's namespace.
func (l *lab) startKeepalived(host, conf string) *daemon {
	l.t.Helper()
	path := filepath.Join(l.dir, host+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.ns(host), "keepalived", "-n", "-l", "-D", "-P",
		"-f", path, "-p", filepath.Join(l.dir, host+".pid"), "-r", filepath.Join(l.dir, host+"-vrrp.pid"))
	return l.start("keepalived-"+host, cmd, false)
}

// keepalivedState reads keepalived's log for its latest state.
func keepalivedState(d *daemon) string {
	out := d.output()
	i := strings.LastIndex(out, "Entering ")
	if i < 0 {
		return ""
	}
	f := strings.Fields(out[i+len("Entering "):])
	return f[0]
}

func TestKeepalivedInterop(t *testing.T) {
	requireLab(t)
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("keepalived is not installed (apt-get install keepalived)")
	}
	for i, tc := range []struct {
		version   int
		v6        bool
		ourMaster bool
	}{
		{2, false, true}, {2, false, false}, {3, false, true}, {3, false, false}, {3, true, true}, {3, true, false},
	} {
		fam := ""
		if tc.v6 {
			fam = "ipv6/"
		}
		name := fmt.Sprintf("v%d/%skeepalived_master", tc.version, fam)
		if tc.ourMaster {
			name = fmt.Sprintf("v%d/%sfulcrum_master", tc.version, fam)
		}
		t.Run(name, func(t *testing.T) {
			l := newLab(t, 216+i, map[string]int{"a": 1, "b": 2, "c": 10})
			capC := l.capture("c")
			ourPrio, kaPrio := 100, 150
			if tc.ourMaster {
				ourPrio, kaPrio = 150, 100
			}
			vip, vipLen, addrA, addrB := l.vip(), "/24", l.addr("a"), l.addr("b")
			if tc.v6 {
				vip, vipLen, addrA, addrB = l.vip6(), "/64", l.linkLocal("a"), l.linkLocal("b")
			}
			ours := l.startNode("a", ourConf(l, tc.version, ourPrio, vip+vipLen))
			ka := l.startKeepalived("b", keepalivedConf(l, tc.version, kaPrio, vip+vipLen))
			master, backup, masterAddr, backupAddr := "a", "b", addrA, addrB
			if !tc.ourMaster {
				master, backup, masterAddr, backupAddr = "b", "a", addrB, addrA
			}
			// The master-to-be takes over after its down timer (3.414 s at
			// 150); the other hears it and stays BACKUP.
			if !waitFor(7*time.Second, func() bool { return l.hasAddr(master, vip) }) {
				t.Fatalf("the priority 150 node (%s) never took the VIP\n%s", master, ka.output())
			}
			time.Sleep(2 * time.Second)
			if l.hasAddr(backup, vip) {
				t.Fatalf("both nodes hold the VIP: the backup does not accept the master's adverts")
			}
			if tc.ourMaster {
				ours.waitState(vrrp.StateMaster, time.Second)
				if s := keepalivedState(ka); s != "BACKUP" {
					t.Fatalf("keepalived is %q, want BACKUP", s)
				}
			} else {
				ours.waitState(vrrp.StateBackup, time.Second)
				if s := keepalivedState(ka); s != "MASTER" {
					t.Fatalf("keepalived is %q, want MASTER", s)
				}
			}
			// Graceful stop of the master: priority 0, takeover after skew.
			if tc.ourMaster {
				ours.stop()
			} else {
				ka.stop()
			}
			if !waitFor(3*time.Second, func() bool { return l.hasAddr(backup, vip) }) {
				t.Fatalf("the backup (%s) did not take over", backup)
			}
			if l.hasAddr(master, vip) {
				t.Error("the stopped master left its VIP behind")
			}
			d, ok := gap(capC.adverts(), masterAddr, 0, backupAddr)
			skew := vrrp.Skew(tc.version, 100, time.Second)
			if !ok || d < skew-100*time.Millisecond || d > skew+400*time.Millisecond {
				t.Errorf("priority 0 to the backup's first advert: %s (found %v), want about %s", d, ok, skew)
			}
			t.Logf("takeover %s after the priority 0 advert (skew %s)", d, skew)
			if testing.Verbose() {
				t.Logf("keepalived log:\n%s\nour log:\n%s", ka.output(), ours.output())
				for _, ad := range capC.adverts() {
					t.Logf("%s %s prio %d", ad.at.Format("15:04:05.000000"), ad.src, ad.prio)
				}
			}
			if !tc.ourMaster {
				ours.waitState(vrrp.StateMaster, time.Second)
			}
			for _, ad := range capC.adverts() {
				if int(ad.adv.Version) != tc.version {
					t.Fatalf("version %d advert from %s", ad.adv.Version, ad.src)
				}
			}
			if lo := strings.ToLower(ka.output()); strings.Contains(lo, "bogus") || strings.Contains(lo, "invalid") || strings.Contains(lo, "mismatch") {
				t.Errorf("keepalived complained about our adverts:\n%s", ka.output())
			}
		})
	}
}
