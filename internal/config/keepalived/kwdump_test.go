package keepalived

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// keywordConfig writes a keepalived.conf that uses every keyword of the
// tables once, each where it belongs, for checking that keepalived knows
// them all.
func keywordConfig() string {
	var b strings.Builder
	var walk func(kws []*keyword, depth int)
	walk = func(kws []*keyword, depth int) {
		ind := strings.Repeat("  ", depth)
		for _, k := range kws {
			if risky(k.name, depth) {
				continue
			}
			arg := " 1"
			switch k.name {
			case "user", "script_user":
				arg = " root"
			case "vrrp_instance", "vrrp_script", "vrrp_sync_group", "track_file", "vrrp_track_file", "virtual_server_group":
				arg = fmt.Sprintf(" kw%d", depth)
			case "virtual_server":
				arg = " 192.0.2.1 80"
			case "real_server":
				arg = " 10.0.0.1 80"
			case "interface":
				arg = " eth0"
			}
			switch {
			case k.sub != nil:
				fmt.Fprintf(&b, "%s%s%s {\n", ind, k.name, arg)
				walk(k.sub, depth+1)
				fmt.Fprintf(&b, "%s}\n", ind)
			case k.skips:
				fmt.Fprintf(&b, "%s%s {\n%s}\n", ind, k.name, ind)
			case k.name == "virtual_server_group":
				fmt.Fprintf(&b, "%s%s g {\n%s  192.0.2.1 80\n%s}\n", ind, k.name, ind, ind)
			case slices.Contains(valueBlockKeywords, k.name) && !(k.name == "track_file" && depth > 2):
				fmt.Fprintf(&b, "%s%s {\n%s  1\n%s}\n", ind, k.name, ind, ind)
			default:
				fmt.Fprintf(&b, "%s%s%s\n", ind, k.name, arg)
			}
		}
	}
	walk(rootKeywords(), 0)
	return b.String()
}

// valueBlockKeywords open a block of values, not of keywords.
var valueBlockKeywords = []string{"notification_email", "virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes",
	"virtual_rules", "unicast_peer", "track_interface", "track_script", "track_file", "group", "virtual_server_group",
	"static_ipaddress", "static_routes", "static_rules", "linkbeat_interfaces", "interface_up_down_delays", "track_process", "track_bfd"}

// risky keywords change how keepalived runs (namespaces, pid files,
// process settings, files it writes) and are left out of the test file.
func risky(name string, depth int) bool {
	if depth == 0 && (name == "instance" || name == "child_wait_time" || name == "use_pid_dir") {
		return true
	}
	for _, s := range []string{"namespace", "pid", "umask", "tmp_config", "reload", "startup", "shutdown", "process_name",
		"process_names", "snmp", "dbus", "fifo", "rlimit", "priority", "cpu_affinity", "no_swap", "random_seed", "include_check"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// TestKeepalivedKnowsOurKeywords writes a file that uses every keyword of
// the tables and checks that keepalived -t knows each one, so that a typo
// in the tables cannot make Parse accept what keepalived rejects. Only
// sni_name and tls_compliant are expected to be unknown to 2.2.7.
func TestKeepalivedKnowsOurKeywords(t *testing.T) {
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("keepalived is not on PATH; skipping")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace with eth0")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8)")
	}
	conf := filepath.Join(t.TempDir(), "keywords.conf")
	if err := os.WriteFile(conf, []byte(keywordConfig()), 0o644); err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("fulcrum-kw-%d", os.Getpid())
	// The file is nonsense beyond its keywords and 2.2.7 may crash on it
	// after reading it; runKeepalived keeps what it logged.
	msgs := runKeepalived(t, bin, ns, conf, []string{"eth0"})
	if len(msgs) == 0 {
		t.Fatal("keepalived -t printed nothing")
	}
	for _, m := range msgs {
		if !strings.Contains(m.text, "nknown keyword") {
			continue
		}
		if strings.Contains(m.text, "'sni_name'") || strings.Contains(m.text, "'tls_compliant'") {
			continue
		}
		t.Errorf("line %d: keepalived: %s", m.line, m.text)
	}
}
