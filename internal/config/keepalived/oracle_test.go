package keepalived

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// TestKeepalivedAgrees runs keepalived -t (keepalived --config-test) on
// every golden file and checks that each problem keepalived reports is
// also reported by Parse, on the same line, with keepalived's words. As
// root it runs keepalived in a network namespace of its own that has the
// interfaces the file names (veth pairs), so that keepalived does not
// complain about this host's interfaces; the namespace is removed after.
func TestKeepalivedAgrees(t *testing.T) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("keepalived is not on PATH (Debian: apt-get install keepalived); skipping the comparison with keepalived -t")
	}
	ns := ""
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("ip"); err == nil {
			ns = fmt.Sprintf("fulcrum-kat-%d", os.Getpid())
		}
	}
	for _, g := range goldenFiles(t) {
		name := strings.TrimSuffix(filepath.Base(g.Path), ".conf")
		t.Run(name, func(t *testing.T) {
			if why := oracleSkipFile(g.Input); why != "" {
				t.Skip(why)
			}
			dir := t.TempDir()
			// The included files are found relative to the file.
			if err := os.CopyFS(filepath.Join(dir, "inc"), os.DirFS(filepath.Join("testdata", "inc"))); err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(dir, filepath.Base(g.Path))
			if err := os.WriteFile(conf, g.Input, 0o644); err != nil {
				t.Fatal(err)
			}
			c, ours := parse(conf, g.Input, goldenOpts())
			theirs := runKeepalived(t, bin, ns, conf, interfacesOf(c))
			skip := oracleSkips(g.Input)
			for _, m := range theirs {
				if ignoredOracleMessage(m.text) || slices.ContainsFunc(skip, func(s string) bool { return strings.Contains(m.text, s) }) {
					continue
				}
				if !slices.ContainsFunc(ours, func(d config.Diagnostic) bool { return sameProblem(m, d) }) {
					where := "(no line)"
					if m.line > 0 {
						where = fmt.Sprintf("line %d", m.line)
					}
					t.Errorf("keepalived reports %s: %q; fulcrum does not:\n%s", where, m.text, ours)
				}
			}
		})
	}
}

type oracleMsg struct {
	line int
	text string
}

var oracleLine = regexp.MustCompile(`^\((?:[^:()]*: )?Line (\d+)\) (.*)$`)

// runKeepalived runs keepalived -t on conf and returns what it prints,
// without repeats (each of keepalived's processes reports the lines it
// reads).
func runKeepalived(t *testing.T, bin, ns, conf string, ifaces []string) []oracleMsg {
	t.Helper()
	out := filepath.Join(t.TempDir(), "keepalived-t.log")
	args := []string{"--config-test=" + out, "-i", goldenOpts().ConfigID, "-f", conf}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if ns != "" {
		setupNetns(t, ns, ifaces)
		cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	// keepalived -t exits non-zero when it finds problems.
	if err := cmd.Run(); err != nil && ctx.Err() != nil {
		t.Fatalf("keepalived -t did not finish: %v (mark the file with # oracle-skip-file: WHY if keepalived cannot read it)", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("keepalived -t wrote no log: %v", err)
	}
	var msgs []oracleMsg
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		m := oracleMsg{text: sc.Text()}
		if p := oracleLine.FindStringSubmatch(m.text); p != nil {
			m.line, _ = strconv.Atoi(p[1])
			m.text = p[2]
		}
		if m.text != "" && !slices.Contains(msgs, m) {
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// setupNetns creates the namespace with a veth pair for each interface;
// it is deleted when the test ends.
func setupNetns(t *testing.T, ns string, ifaces []string) {
	t.Helper()
	run := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run("-n", ns, "link", "set", "lo", "up")
	for i, name := range ifaces {
		run("-n", ns, "link", "add", name, "type", "veth", "peer", "name", fmt.Sprintf("katpeer%d", i))
		run("-n", ns, "link", "set", name, "up")
	}
}

// interfacesOf lists the interfaces a model refers to.
func interfacesOf(c *config.Config) []string {
	var out []string
	add := func(s string) {
		if s != "" && s != "lo" && len(s) < ifNameSize && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, v := range c.VRRPInstances {
		add(v.Interface)
		for _, vip := range append(slices.Clone(v.VIPs), v.ExcludedVIPs...) {
			add(vip.Dev)
		}
		for _, tr := range v.TrackInterfaces {
			add(tr.Name)
		}
	}
	for _, s := range c.Services {
		for _, r := range s.Reals {
			for _, ch := range r.Health.Checks {
				add(ch.BindIf)
			}
		}
	}
	return out
}

// oracleSkips reads the "# oracle-skip: TEXT" comments of a golden file:
// keepalived messages containing TEXT are where fulcrum deliberately
// parts from keepalived 2.2.7 (an extension it does not have).
func oracleSkips(input []byte) []string {
	var out []string
	for _, l := range strings.Split(string(input), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), "# oracle-skip:"); ok {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

// oracleSkipFile reads a "# oracle-skip-file: WHY" comment: a golden
// file keepalived cannot be run on.
func oracleSkipFile(input []byte) string {
	for _, l := range strings.Split(string(input), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(l), "# oracle-skip-file:"); ok {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// ignoredOracleMessage is keepalived output that depends on this host,
// not on the file.
func ignoredOracleMessage(s string) bool {
	for _, p := range []string{
		"Non-existent interface specified in configuration",
		"Script user 'keepalived_script' does not exist",
		"Unable to set default user for",
		"Failed to set default user",
	} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// sameProblem reports whether our diagnostic d says what keepalived's
// message m says: the same line and keepalived's words in ours.
func sameProblem(m oracleMsg, d config.Diagnostic) bool {
	if m.line > 0 && d.Line != m.line {
		return false
	}
	return strings.Contains(d.Message, m.text)
}
