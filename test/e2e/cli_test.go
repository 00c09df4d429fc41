package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

// The binary invoked through a symlink named ipvsadm is `fulcrum adm`, and prints ipvsadm's program name.
func TestInvokedAsIpvsadm(t *testing.T) {
	n := start(t, emptyConfig)
	vip := vipAddr(t, "15")
	link := filepath.Join(t.TempDir(), "ipvsadm")
	if err := os.Symlink(binary, link); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(link, args...)
		cmd.Env = append(os.Environ(), "FULCRUM_ADMIN="+n.sock)
		return runCmd(t, cmd)
	}
	if _, e, code := run("-A", "-t", vip, "-s", "rr"); code != 0 {
		t.Fatalf("ipvsadm -A: %d %s", code, e)
	}
	out, _, _ := run("-Ln")
	if !strings.Contains(out, "TCP  "+vip+" rr") {
		t.Fatalf("ipvsadm -Ln through the symlink:\n%s", out)
	}
	// An unknown short option: ipvsadm 1.31 points to its help, naming itself by argv[0], and exits 255.
	_, e, code := run("-Q")
	if code != 255 || !strings.Contains(e, "Try `"+link+" -h' or '"+link+" --help'") {
		t.Fatalf("bad option: exit %d, stderr %q", code, e)
	}
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("services:\n  - protocol: tcp\n    address: 127.0.0.1:80\n    reals:\n      - address: 127.0.0.2:80\n"), 0o644)
	os.WriteFile(bad, []byte("services:\n  - protocol: tcp\n    address: 127.0.0.1:80\n    sheduler: rr\n    reals:\n      - address: 127.0.0.2:80\n        weight: -1\n"), 0o644)
	check := func(args ...string) (string, string, int) {
		return runCmd(t, exec.Command(binary, append([]string{"check"}, args...)...))
	}
	out, _, code := check("-c", good)
	if code != 0 || !strings.Contains(out, "scheduler: wlc") || !strings.Contains(out, "weight: 1") {
		t.Fatalf("valid file: exit %d, normalised model:\n%s", code, out)
	}
	_, errOut, code := check("-c", bad)
	if code != 1 {
		t.Fatalf("invalid file: exit %d, want 1", code)
	}
	// Every error is reported, each with file:line and the key.
	for _, want := range []string{bad + ":4:", "sheduler", bad + ":7:", "weight"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, errOut)
		}
	}
	if _, _, code := check("-c"); code != 2 {
		t.Fatalf("bad command line: exit %d, want 2", code)
	}
}

// The optional TCP admin listener requires the bearer token.
func TestAdminTCPListenerNeedsToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	n := start(t, fmt.Sprintf("admin:\n  listen: %s\n  token_file: %s\nservices: []\n", addr, tokenFile))
	eventually(t, func() error {
		if _, err := api.NewClient(addr, "").Info(t.Context()); api.CodeOf(err) != api.CodeUnauthorized {
			return fmt.Errorf("no token: %v", err)
		}
		return nil
	})
	info, err := api.NewClient(addr, "t0ken").Info(t.Context())
	if err != nil || info.IPVSVersion != "1.2.1" {
		t.Fatalf("with token: %+v %v", info, err)
	}
	// The unix socket keeps working without a token.
	if out := n.adm("-Ln"); !strings.HasPrefix(out, "IP Virtual Server version 1.2.1") {
		t.Fatalf("-Ln over the socket: %q", out)
	}
}
