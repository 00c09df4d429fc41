package keepalived

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// TestKeepalivedDump starts keepalived's VRRP process (keepalived -n -l -d
// -P) on every golden file with VRRP instances, in a network namespace of
// its own, and compares the VRRP model it dumps with fulcrum's: the
// defaults, roundings and corrections keepalived applies when it runs,
// not only those keepalived -t reports. It needs root; the namespace and
// keepalived are gone when it ends.
func TestKeepalivedDump(t *testing.T) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("keepalived is not on PATH; skipping the comparison with keepalived's own model")
	}
	if _, err := exec.LookPath("ip"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and ip(8) to run keepalived in a network namespace of its own")
	}
	for _, g := range goldenFiles(t) {
		name := strings.TrimSuffix(filepath.Base(g.Path), ".conf")
		c, _ := parse(g.Path, g.Input, goldenOpts())
		if len(c.VRRPInstances) == 0 {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if why := oracleSkipFile(g.Input); why != "" {
				t.Skip(why)
			}
			dir := t.TempDir()
			if err := os.CopyFS(filepath.Join(dir, "inc"), os.DirFS(filepath.Join("testdata", "inc"))); err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(dir, filepath.Base(g.Path))
			if err := os.WriteFile(conf, g.Input, 0o644); err != nil {
				t.Fatal(err)
			}
			ns := fmt.Sprintf("fulcrum-kad-%d", os.Getpid())
			setupNetns(t, ns, interfacesOf(c))
			dump := runDump(t, bin, ns, dir, conf)
			if dump == nil {
				if _, ds := parse(conf, g.Input, goldenOpts()); ds.Err() == nil {
					t.Fatal("keepalived refused to run the file; fulcrum reports no error")
				}
				return
			}
			for _, inst := range c.VRRPInstances {
				d, ok := dump[inst.Name]
				if !ok {
					t.Errorf("keepalived has no instance %s", inst.Name)
					continue
				}
				compareInstance(t, inst, d)
			}
		})
	}
}

// runDump runs keepalived's VRRP process until it has dumped its
// configuration and returns the dump of each instance: its "Key = value"
// lines and, under "VIPs", its virtual addresses. It returns nil when
// keepalived refuses the file.
func runDump(t *testing.T, bin, ns, dir, conf string) map[string]map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, bin, "-n", "-l", "-d", "-P", "-i", goldenOpts().ConfigID,
		"-f", conf, "-p", filepath.Join(dir, "k.pid"), "-r", filepath.Join(dir, "v.pid"), "-c", filepath.Join(dir, "c.pid"))
	// keepalived stops its VRRP process on SIGTERM; the process group
	// catches whatever is left.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}()
	stamp := regexp.MustCompile(`^\w{3} \w{3} +\d+ [\d:]+ \d+: `)
	dump := map[string]map[string]string{}
	var cur map[string]string
	inTopology, inVIPs := false, false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		l := stamp.ReplaceAllString(sc.Text(), "")
		switch {
		case strings.HasPrefix(l, "------< VRRP Topology"):
			inTopology = true
			continue
		case strings.HasPrefix(l, "------<"):
			if inTopology {
				return dump
			}
			continue
		}
		if !inTopology {
			continue
		}
		if name, ok := strings.CutPrefix(l, " VRRP Instance = "); ok {
			cur = map[string]string{}
			dump[name] = cur
			continue
		}
		if cur == nil {
			continue
		}
		if strings.HasPrefix(l, "     ") && inVIPs {
			cur["VIPs"] += strings.TrimSpace(l) + "\n"
			continue
		}
		inVIPs = strings.HasPrefix(l, "   Virtual IP (")
		if k, v, ok := strings.Cut(strings.TrimSpace(l), " = "); ok {
			cur[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return nil
}

func compareInstance(t *testing.T, inst config.VRRPInstance, d map[string]string) {
	t.Helper()
	check := func(what, got, want string) {
		if got != want {
			t.Errorf("%s %s: keepalived runs with %q, fulcrum with %q", inst.Name, what, want, got)
		}
	}
	check("version", strconv.Itoa(inst.Version), d["VRRP Version"])
	check("state", inst.State, d["Wantstate"])
	check("interface", inst.Interface, d["Interface"])
	check("virtual_router_id", strconv.Itoa(int(inst.VRID)), d["Virtual Router ID"])
	check("priority", strconv.Itoa(int(inst.Priority)), d["Priority"])
	// keepalived prints a version 3 interval in milli-seconds.
	advert := fmt.Sprintf("%d sec", inst.AdvertInt/time.Second)
	if inst.Version == 3 {
		advert = fmt.Sprintf("%d milli-sec", inst.AdvertInt/time.Millisecond)
	}
	check("advert_int", advert, d["Advert interval"])
	check("accept", map[bool]string{true: "enabled", false: "disabled"}[inst.Accept], d["Accept"])
	check("preempt", map[bool]string{true: "disabled", false: "enabled"}[inst.Nopreempt], d["Preempt"])
	auth := "none"
	switch inst.AuthType {
	case "PASS":
		auth = "SIMPLE_PASSWORD"
	case "AH":
		auth = "IPSEC_AH"
	}
	if inst.Version == 2 {
		check("auth_type", auth, d["Authentication type"])
	}
	if inst.AuthType == "PASS" {
		check("auth_pass", inst.AuthPass, d["Password"])
	}
	var vips []string
	for _, v := range inst.VIPs {
		s := v.Prefix.String()
		if v.Prefix.IsSingleIP() {
			s = v.Prefix.Addr().String()
		}
		vips = append(vips, s)
	}
	var theirs []string
	for _, l := range strings.Split(strings.TrimSpace(d["VIPs"]), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			theirs = append(theirs, f[0])
		}
	}
	check("virtual_ipaddress", strings.Join(vips, " "), strings.Join(theirs, " "))
}
