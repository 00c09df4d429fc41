package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A TCP_CHECK takes a killed real server out of service (weight 0 with
// inhibit_on_failure, keepalived ipvswrapper.c) and puts it back after one
// success; `fulcrum adm --health`, -Ln and the metrics show it.
func TestHealthCheckDrivesTheTable(t *testing.T) {
	vip := vipAddr(t, "16")
	a := tcpBackends(t, "16", "A")[0]
	bAddr := fmt.Sprintf("127.0.16.12:%d", freePort(t, "127.0.16.12"))
	bl, err := net.Listen("tcp", bAddr)
	if err != nil {
		t.Fatal(err)
	}
	serveName(bl, "B")
	// notify_down runs keepalived-style: the script gets no arguments of its own here.
	dir := t.TempDir()
	marker := filepath.Join(dir, "down.txt")
	script := filepath.Join(dir, "notify-down.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := start(t, fmt.Sprintf(`services:
  - protocol: tcp
    address: %s
    scheduler: rr
    health:
      check_defaults: {delay_loop: 1s, connect_timeout: 1s, retry: 1, delay_before_retry: 1s, warmup: 0}
    reals:
      - address: %s
        health: {checks: [{type: tcp_check}]}
      - address: %s
        health:
          inhibit_on_failure: true
          notify_down: "%s B-down"
          checks: [{type: tcp_check}]
`, vip, a.addr, bAddr, script))
	rowB := regexp.MustCompile(`->\s+` + regexp.QuoteMeta(bAddr) + `\s+Masq\s+(\d+)\s`)
	weightB := func() string {
		m := rowB.FindStringSubmatch(n.adm("-Ln"))
		if m == nil {
			return "absent"
		}
		return m[1]
	}
	eventually(t, func() error {
		if h := n.adm("--health"); !regexp.MustCompile(regexp.QuoteMeta(bAddr) + `\s+UP\s+1\s`).MatchString(h) {
			return fmt.Errorf("B should be UP after its first check:\n%s", h)
		}
		return nil
	})

	bl.Close() // kill B: connects are refused now
	killed := time.Now()
	eventually(t, func() error {
		if w := weightB(); w != "0" {
			return fmt.Errorf("B weight %s, want 0 (inhibit_on_failure)", w)
		}
		return nil
	})
	// retry 1: two failed attempts, delay_before_retry 1 s apart, after at most one delay_loop.
	if took := time.Since(killed); took > 5*time.Second {
		t.Errorf("B marked down after %v; keepalived needs at most delay_loop + retry*delay_before_retry + slack", took)
	}
	h := n.adm("--health")
	if !regexp.MustCompile(regexp.QuoteMeta(bAddr)+`\s+DOWN\s+0\s`).MatchString(h) || !strings.Contains(h, "refused") {
		t.Fatalf("--health should show B DOWN with a refused connection:\n%s", h)
	}
	for range 4 {
		if w, err := who(vip, ""); err != nil || w != "A" {
			t.Fatalf("with B down every new connection must go to A: %q %v", w, err)
		}
	}
	eventually(t, func() error {
		if b, err := os.ReadFile(marker); err != nil || strings.TrimSpace(string(b)) != "B-down" {
			return fmt.Errorf("notify_down did not run with its argument: %q %v\n%s", b, err, n.out)
		}
		return nil
	})
	if m := n.httpGet("/metrics"); !strings.Contains(m, `fulcrum_real_healthy{real="`+bAddr+`",service="tcp/`+vip+`"} 0`) {
		t.Fatalf("metrics should say B is unhealthy:\n%s", grep(m, "healthy"))
	}

	bl2, err := net.Listen("tcp", bAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer bl2.Close()
	serveName(bl2, "B")
	eventually(t, func() error {
		if w := weightB(); w != "1" {
			return fmt.Errorf("B weight %s after it came back, want 1", w)
		}
		return nil
	})
	if h := n.adm("--health"); !regexp.MustCompile(regexp.QuoteMeta(bAddr) + `\s+UP\s+1\s`).MatchString(h) {
		t.Fatalf("B should be UP again:\n%s", h)
	}
}

func serveName(l net.Listener, name string) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", name)
			c.Close()
		}
	}()
}
