package xdp

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seed's DR lab with the real binary: `fulcrum realserver up` on the
// real servers (the seed's real.sh), `fulcrum run` with data_plane xdp on
// the director, and `fulcrum adm` (ipvsadm) to look at it.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func fulcrumBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fulcrum-xdp-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "fulcrum")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/fulcrumlb/fulcrum/cmd/fulcrum").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("building fulcrum: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func (l *lab) exec(host string, env []string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.ns(host)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestBinaryDirectRouting(t *testing.T) {
	bin := fulcrumBinary(t)
	l := seedLab(t, 245, "10.245.0.10/24")
	state := t.TempDir()
	for _, rs := range []string{"rs1", "rs2"} {
		args := []string{bin, "realserver", "up", "--vip", l.vip().String(), "--mode", "dr", "--dev", "eth0", "--state-dir", filepath.Join(state, rs)}
		for range 2 { // idempotent: twice up is the same state
			if out, err := l.exec(rs, nil, args...); err != nil {
				t.Fatalf("realserver up on %s: %v\n%s", rs, err, out)
			}
		}
		if out := l.ip(l.ns(rs), "-o", "addr", "show", "dev", "lo"); !strings.Contains(out, l.vip().String()+"/32") {
			t.Fatalf("%s: the VIP is not on lo:\n%s", rs, out)
		}
	}

	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	conf := filepath.Join(dir, "lb.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`data_plane: xdp
xdp:
  interfaces: [eth0]
  mode: native
services:
  - protocol: tcp
    address: %s:80
    scheduler: rr
    reals:
      - {address: %s:80, forward: route}
      - {address: %s:80, forward: route}
`, l.vip(), l.addr("rs1"), l.addr("rs2"))), 0o644)
	cmd := exec.Command("ip", "netns", "exec", l.ns("lb"), bin, "run", "-c", conf, "--admin-socket", sock)
	var out strings.Builder
	var mu sync.Mutex
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, &out}, lockedWriter{&mu, &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("fulcrum output:\n%s", out.String())
			mu.Unlock()
		}
	})
	adm := func(args ...string) string {
		t.Helper()
		c := exec.Command(bin, append([]string{"adm"}, args...)...)
		c.Env = append(os.Environ(), "FULCRUM_ADMIN="+sock)
		b, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("fulcrum adm %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	if !waitFor(20*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("fulcrum did not start:\n%s", out.String())
	}

	vip := netip.AddrPortFrom(l.vip(), 80)
	var got []string
	for i := range 4 {
		var ans string
		var err error
		for try := 0; try < 3; try++ { // the first may wait for ARP
			if ans, err = l.fetch("client", vip); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("connection %d through the VIP: %v", i, err)
		}
		got = append(got, ans)
	}
	if strings.Join(got, " ") != "rs2 rs1 rs2 rs1" {
		// ip_vs_rr.c over the list rs2, rs1 (newest first).
		t.Fatalf("rr through the director: %v, want rs2 rs1 rs2 rs1", got)
	}
	if n := l.tcpSockets("lb"); n != 0 {
		t.Fatalf("the director holds %d TCP sockets; DR must not terminate TCP", n)
	}
	ln := adm("-Ln")
	for _, rs := range []string{"rs1", "rs2"} {
		if !regexp.MustCompile(`->\s+` + regexp.QuoteMeta(l.addr(rs).String()) + `:80\s+Route\s+1\s`).MatchString(ln) {
			t.Fatalf("-Ln should show %s with Route:\n%s", rs, ln)
		}
	}
	conns := adm("-Lnc")
	rows := regexp.MustCompile(`(?m)^TCP\s+\d\d:\d\d\s+(\S+)\s+`+regexp.QuoteMeta(l.addr("client").String())+`:\d+\s+`+
		regexp.QuoteMeta(vip.String())+`\s+10\.245\.0\.[23]:80$`).FindAllStringSubmatch(conns, -1)
	if len(rows) != 4 {
		t.Fatalf("-Lnc should list the 4 connections:\n%s", conns)
	}
	for _, r := range rows {
		if r[1] != "FIN_WAIT" && r[1] != "ESTABLISHED" && r[1] != "CLOSE" && r[1] != "TIME_WAIT" {
			t.Fatalf("connection in state %s:\n%s", r[1], conns)
		}
	}

	// realserver down restores what up changed.
	for _, rs := range []string{"rs1", "rs2"} {
		if out, err := l.exec(rs, nil, bin, "realserver", "down", "--state-dir", filepath.Join(state, rs)); err != nil {
			t.Fatalf("realserver down on %s: %v\n%s", rs, err, out)
		}
		if out := l.ip(l.ns(rs), "-o", "addr", "show", "dev", "lo"); strings.Contains(out, l.vip().String()+"/32") {
			t.Fatalf("%s: the VIP is still on lo after down:\n%s", rs, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
