package netns

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seed's architecture with the real binary: a client, two Fulcrum
// nodes sharing a VIP by VRRP (from one keepalived.conf each, as the seed
// does with keepalived), and a real server. The master proxies client
// connections to the real server; when it stops, the backup takes the VIP
// and the next connections go through it.

const (
	backendEnv = "FULCRUM_NETNS_BACKEND" // "addr name": a TCP server that writes its name
)

var (
	fulcrumOnce sync.Once
	fulcrumBin  string
	fulcrumErr  error
)

// fulcrumBinary builds the fulcrum command once per test run.
func fulcrumBinary(t *testing.T) string {
	t.Helper()
	fulcrumOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fulcrum-netns-")
		if err != nil {
			fulcrumErr = err
			return
		}
		fulcrumBin = filepath.Join(dir, "fulcrum")
		out, err := exec.Command("go", "build", "-o", fulcrumBin, "github.com/fulcrumlb/fulcrum/cmd/fulcrum").CombinedOutput()
		if err != nil {
			fulcrumErr = fmt.Errorf("building fulcrum: %v\n%s", err, out)
		}
	})
	if fulcrumErr != nil {
		t.Fatal(fulcrumErr)
	}
	return fulcrumBin
}

// runBackend serves "name\n" to every connection on addr (the test binary
// re-executed inside the real server's namespace).
func runBackend(spec string) int {
	addr, name, _ := strings.Cut(spec, " ")
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return 0
		}
		fmt.Fprintf(c, "%s\n", name)
		c.Close()
	}
}

func seedConf(l *lab, state string, prio int) string {
	return fmt.Sprintf(`! the seed's keepalived.conf, on a lab network
global_defs {
   router_id %[1]s
}
vrrp_instance VI_1 {
    state %[1]s
    interface eth0
    virtual_router_id 51
    priority %[2]d
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        %[3]s/24 dev eth0 label eth0:3
    }
}
virtual_server %[3]s 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server %[4]s 8080 {
        weight 1
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
`, state, prio, l.vip(), l.addr("rs"))
}

func TestFulcrumPairServesThroughVIP(t *testing.T) {
	bin := fulcrumBinary(t)
	l := newLab(t, 231, map[string]int{"lb1": 1, "lb2": 2, "rs": 3, "cli": 10})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	be := exec.Command("ip", "netns", "exec", l.ns("rs"), exe, "-test.run=^$")
	be.Env = append(os.Environ(), backendEnv+"="+l.addr("rs").String()+":8080 rs")
	l.start("backend", be, false)

	startFulcrum := func(host, state string, prio int) *daemon {
		conf := filepath.Join(l.dir, host+"-keepalived.conf")
		if err := os.WriteFile(conf, []byte(seedConf(l, state, prio)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ip", "netns", "exec", l.ns(host), bin, "run", "-c", conf,
			"--admin-socket", filepath.Join(l.dir, host+".sock"))
		return l.start("fulcrum-"+host, cmd, false)
	}
	lb1 := startFulcrum("lb1", "MASTER", 150)
	lb2 := startFulcrum("lb2", "BACKUP", 100)

	// keepalived semantics: a MASTER below 255 still waits Master_Down_Interval (3.41 s at 150).
	if !waitFor(8*time.Second, func() bool { return l.hasAddr("lb1", l.vip()) }) {
		t.Fatalf("lb1 never took the VIP\n%s", lb1.output())
	}
	if l.hasAddr("lb2", l.vip()) {
		t.Fatal("both nodes hold the VIP")
	}
	// The client reaches the real server through the VIP (proxied by lb1).
	if got := clientFetch(t, l, l.vip()+":80"); got != "rs" {
		t.Fatalf("through the VIP on lb1: got %q", got)
	}
	if !strings.Contains(admLn(t, bin, filepath.Join(l.dir, "lb1.sock")), l.addr("rs").String()+":8080") {
		t.Fatalf("lb1's table lacks the real server")
	}

	lb1.stop() // graceful: priority-0 advert, VIP removed
	if !waitFor(3*time.Second, func() bool { return l.hasAddr("lb2", l.vip()) }) {
		t.Fatalf("lb2 did not take the VIP after lb1 stopped\n%s", lb2.output())
	}
	if l.hasAddr("lb1", l.vip()) {
		t.Fatal("lb1 kept the VIP after a graceful stop")
	}
	if got := clientFetch(t, l, l.vip()+":80"); got != "rs" {
		t.Fatalf("through the VIP on lb2: got %q", got)
	}
}

// clientFetch connects from the client namespace and returns the first
// line the server sent.
func clientFetch(t *testing.T, l *lab, addr string) string {
	t.Helper()
	exe, _ := os.Executable()
	var last string
	ok := waitFor(5*time.Second, func() bool {
		cmd := exec.Command("ip", "netns", "exec", l.ns("cli"), exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), fetchEnv+"="+addr)
		out, err := cmd.Output()
		last = strings.TrimSpace(string(out))
		return err == nil && last != ""
	})
	if !ok {
		t.Fatalf("no answer from %s in the client namespace (last %q)", addr, last)
	}
	return last
}

const fetchEnv = "FULCRUM_NETNS_FETCH" // "addr": print the first line a TCP server sends

func runFetch(addr string) int {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(line)
	return 0
}

func admLn(t *testing.T, bin, sock string) string {
	t.Helper()
	cmd := exec.Command(bin, "adm", "-Ln")
	cmd.Env = append(os.Environ(), "FULCRUM_ADMIN="+sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fulcrum adm -Ln: %v\n%s", err, out)
	}
	return string(out)
}
