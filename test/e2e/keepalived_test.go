package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// `fulcrum run -c keepalived.conf` just works: keepalived's virtual_server
// with lb_kind DR and TCP_CHECK is served (through the proxy, as NAT, said
// loudly), and a real server that fails its check leaves the table, as
// keepalived's DEL_DEST does without inhibit_on_failure.
func TestRunsKeepalivedConf(t *testing.T) {
	vipIP := "127.0.18.1"
	port := freePort(t, vipIP)
	a := fmt.Sprintf("127.0.18.11:%d", port)
	b := fmt.Sprintf("127.0.18.12:%d", port)
	tcpBackend(t, "A", a)
	bl, err := net.Listen("tcp", b)
	if err != nil {
		t.Fatal(err)
	}
	serveName(bl, "B")
	conf := fmt.Sprintf(`! Configuration File for keepalived
global_defs {
   router_id LVS_TEST
}

virtual_server %[1]s %[2]d {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP

    real_server 127.0.18.11 %[2]d {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 127.0.18.12 %[2]d {
        weight 1
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
`, vipIP, port)
	dir := t.TempDir()
	file := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startFile(t, file)
	vip := fmt.Sprintf("%s:%d", vipIP, port)
	got := map[string]int{}
	for range 4 {
		w, err := who(vip, "")
		if err != nil {
			t.Fatal(err)
		}
		got[w]++
	}
	if got["A"] != 2 || got["B"] != 2 {
		t.Fatalf("rr over A and B reached %v", got)
	}
	ln := n.adm("-Ln")
	if !regexp.MustCompile(`->\s+` + regexp.QuoteMeta(b) + `\s+Masq\s+1\s`).MatchString(ln) {
		t.Fatalf("lb_kind DR must be shown as what really happens (Masq):\n%s", ln)
	}
	if !strings.Contains(n.out.String(), "proxied as NAT (Masq)") {
		t.Fatalf("the substitution of DR by NAT must be logged:\n%s", n.out)
	}
	bl.Close()
	eventually(t, func() error {
		if out := n.adm("-Ln"); strings.Contains(out, b) {
			return fmt.Errorf("B failed its TCP_CHECK but is still in the table:\n%s", out)
		}
		return nil
	})
	for range 3 {
		if w, err := who(vip, ""); err != nil || w != "A" {
			t.Fatalf("after B left the table: %q %v", w, err)
		}
	}
}

// startFile runs `fulcrum run -c file` with a file the test wrote itself.
func startFile(t *testing.T, file string) *node {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := startNamed(t, filepath.Base(file), string(data))
	return n
}
