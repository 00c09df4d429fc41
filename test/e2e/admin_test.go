package e2e

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `fulcrum adm -S -n | fulcrum adm -R` round-trips exactly (ipvsadm-save / ipvsadm-restore).
func TestSaveRestoreRoundTrip(t *testing.T) {
	n := start(t, emptyConfig)
	vip1, vip2 := vipAddr(t, "10"), vipAddr(t, "10")
	n.adm("-A", "-t", vip1, "-s", "wrr", "-p", "120", "-M", "255.255.255.0")
	n.adm("-a", "-t", vip1, "-r", "127.0.10.11:8080", "-m", "-w", "3")
	n.adm("-a", "-t", vip1, "-r", "127.0.10.12:8080", "-m", "-w", "0")
	n.adm("-A", "-u", vip2, "-s", "sh", "-b", "sh-port")
	n.adm("-a", "-u", vip2, "-r", "127.0.10.13:53", "-m", "-w", "5")
	saved := n.adm("-S", "-n")
	for _, want := range []string{
		"-A -t " + vip1 + " -s wrr -p 120 -M 255.255.255.0",
		"-a -t " + vip1 + " -r 127.0.10.11:8080 -m -w 3",
		"-a -t " + vip1 + " -r 127.0.10.12:8080 -m -w 0",
		"-A -u " + vip2 + " -s sh -b sh-port",
		"-a -u " + vip2 + " -r 127.0.10.13:53 -m -w 5",
	} {
		if !strings.Contains(saved, want+"\n") {
			t.Errorf("-S -n output lacks line %q:\n%s", want, saved)
		}
	}
	n.adm("-C")
	if out := n.adm("-S", "-n"); out != "" {
		t.Fatalf("after -C, -S -n printed:\n%s", out)
	}
	if o, e, code := n.fulcrum(saved, "adm", "-R"); code != 0 {
		t.Fatalf("-R failed (%d): %s%s", code, o, e)
	}
	if again := n.adm("-S", "-n"); again != saved {
		t.Fatalf("round trip differs:\nbefore:\n%s\nafter:\n%s", saved, again)
	}
}

func TestTimeoutsListingAndSet(t *testing.T) {
	n := start(t, emptyConfig)
	if out := n.adm("-L", "--timeout"); out != "Timeout (tcp tcpfin udp): 900 120 300\n" {
		t.Fatalf("-L --timeout = %q", out)
	}
	n.adm("--set", "100", "0", "50")
	if out := n.adm("-L", "--timeout"); out != "Timeout (tcp tcpfin udp): 100 120 50\n" {
		t.Fatalf("after --set 100 0 50 (0 keeps the value): %q", out)
	}
}

// The proxy data plane cannot route (-g) or tunnel (-i): say so, never substitute silently.
func TestUnsupportedForwardingIsAnError(t *testing.T) {
	n := start(t, emptyConfig)
	vip := vipAddr(t, "11")
	n.adm("-A", "-t", vip)
	for _, flag := range []string{"-g", "-i"} {
		out, errOut, code := n.fulcrum("", "adm", "-a", "-t", vip, "-r", "127.0.11.11:80", flag)
		if code == 0 {
			t.Fatalf("adm -a %s succeeded on the proxy data plane: %s", flag, out)
		}
		if !strings.Contains(errOut, "xdp") {
			t.Errorf("adm -a %s: error should say the xdp data plane is needed, got %q", flag, errOut)
		}
	}
	if out := n.adm("-Ln"); strings.Contains(out, "127.0.11.11") {
		t.Fatalf("a rejected real server appears in the table:\n%s", out)
	}
	n.adm("-a", "-t", vip, "-r", "127.0.11.11:80")
	if out := n.adm("-Ln"); !regexp.MustCompile(`->\s+127\.0\.11\.11:80\s+Masq\s+1\s`).MatchString(out) {
		t.Fatalf("without -g/-i/-m the real server must show the method really used (Masq):\n%s", out)
	}
}

func yamlService(vip string, weights map[string]int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "services:\n  - protocol: tcp\n    address: %s\n    scheduler: rr\n    reals:\n", vip)
	for addr, w := range weights {
		fmt.Fprintf(&b, "      - address: %s\n        weight: %d\n", addr, w)
	}
	return b.String()
}

// A broken file is rejected by `fulcrum reload` and by SIGHUP with file:line:key; the old config keeps serving.
func TestBrokenReloadKeepsServing(t *testing.T) {
	vip := vipAddr(t, "12")
	bs := tcpBackends(t, "12", "A")
	n := start(t, yamlService(vip, map[string]int{bs[0].addr: 1}))
	if w, err := who(vip, ""); err != nil || w != "A" {
		t.Fatalf("before reload: %q %v", w, err)
	}
	n.writeConfig(yamlService(vip, map[string]int{bs[0].addr: 1}) + "        wieght: 3\n")
	out, errOut, code := n.fulcrum("", "reload")
	if code != 1 {
		t.Fatalf("reload of a broken file: exit %d, want 1 (%s%s)", code, out, errOut)
	}
	loc := regexp.MustCompile(regexp.QuoteMeta(n.config) + `:8:.*wieght`)
	if !loc.MatchString(errOut) {
		t.Fatalf("reload error must name file:line:key, got:\n%s", errOut)
	}
	if w, err := who(vip, ""); err != nil || w != "A" {
		t.Fatalf("after a rejected reload the service must keep serving: %q %v", w, err)
	}
	_ = n.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, func() error {
		if !loc.MatchString(n.out.String()) {
			return fmt.Errorf("SIGHUP with a broken file should log file:line:key; log:\n%s", n.out)
		}
		return nil
	})
	if w, err := who(vip, ""); err != nil || w != "A" {
		t.Fatalf("after SIGHUP with a broken file: %q %v", w, err)
	}
	metrics := n.httpGet("/metrics")
	if !strings.Contains(metrics, "fulcrum_config_reload_failures_total 2") {
		t.Fatalf("metrics should count 2 failed reloads:\n%s", grep(metrics, "reload"))
	}
}

// A good reload keeps an open connection, its table entry and the counters of an unchanged service.
func TestReloadKeepsConnectionsAndCounters(t *testing.T) {
	vip := vipAddr(t, "13")
	bs := tcpBackends(t, "13", "A", "B")
	n := start(t, yamlService(vip, map[string]int{bs[0].addr: 1}))
	c, err := dialKeep(vip)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.name; got != "A" {
		t.Fatalf("first connection reached %q", got)
	}
	n.writeConfig(yamlService(vip, map[string]int{bs[0].addr: 2, bs[1].addr: 1}))
	if out, errOut, code := n.fulcrum("", "reload"); code != 0 {
		t.Fatalf("reload: %d %s%s", code, out, errOut)
	}
	if err := c.echo("still there"); err != nil {
		t.Fatalf("connection opened before the reload broke: %v", err)
	}
	stats := n.adm("-Ln", "--stats", "--exact")
	if !regexp.MustCompile(`(?m)^TCP\s+` + regexp.QuoteMeta(vip) + `\s+1\s`).MatchString(stats) {
		t.Fatalf("service counters must survive the reload (1 conn):\n%s", stats)
	}
	conns := n.adm("-Lnc")
	if !regexp.MustCompile(`(?m)^TCP\s+\S+\s+ESTABLISHED\s+\S+\s+` + regexp.QuoteMeta(vip) + `\s+` + regexp.QuoteMeta(bs[0].addr)).MatchString(conns) {
		t.Fatalf("the open connection must stay in the table as ESTABLISHED:\n%s", conns)
	}
	ln := n.adm("-Ln")
	if !regexp.MustCompile(`->\s+` + regexp.QuoteMeta(bs[0].addr) + `\s+Masq\s+2\s+1\s+0`).MatchString(ln) {
		t.Fatalf("A should show weight 2 and 1 active connection after the reload:\n%s", ln)
	}
}

func TestMetricsExposeCounters(t *testing.T) {
	vip := vipAddr(t, "14")
	bs := tcpBackends(t, "14", "A")
	n := start(t, yamlService(vip, map[string]int{bs[0].addr: 1}))
	for range 3 {
		if _, err := who(vip, ""); err != nil {
			t.Fatal(err)
		}
	}
	svc := `service="tcp/` + vip + `"`
	eventually(t, func() error {
		m := n.httpGet("/metrics")
		for _, want := range []string{
			`fulcrum_service_connections_total{` + svc + `} 3`,
			`fulcrum_real_connections_total{real="` + bs[0].addr + `",` + svc + `} 3`,
			`fulcrum_real_weight{real="` + bs[0].addr + `",` + svc + `} 1`,
			`fulcrum_config_reloads_total 0`,
		} {
			if !strings.Contains(m, want) {
				return fmt.Errorf("metrics lack %q:\n%s", want, grep(m, "fulcrum_"))
			}
		}
		return nil
	})
}

// `fulcrum run` with no config starts the demo: backends that say who they are behind a wrr service.
func TestEmbeddedDefaultDemo(t *testing.T) {
	if inUse("127.0.0.1:8080") {
		t.Skip("127.0.0.1:8080 is in use on this machine; the demo needs it")
	}
	n := start(t, "")
	got := map[string]int{}
	for range 6 {
		body, err := httpGetTCP("http://127.0.0.1:8080/")
		if err != nil {
			t.Fatal(err)
		}
		got[strings.SplitN(body, ":", 2)[0]]++
	}
	if got["web-1"] != 3 || got["web-2"] != 2 || got["web-3"] != 1 {
		t.Fatalf("6 requests through the demo wrr 3:2:1 service reached %v", got)
	}
	if !strings.Contains(n.out.String(), "fulcrum adm -Ln") {
		t.Fatalf("the demo should print what to try next:\n%s", n.out)
	}
	if w, err := whoUDP("127.0.0.1:8053"); err != nil || !strings.HasPrefix(w, "echo-") {
		t.Fatalf("demo UDP service: %q %v", w, err)
	}
	// The L7 listener: proxy_pass with a URI part rewrites the path, and routes pick by language.
	if body, err := httpGetTCP("http://127.0.0.1:8088/api/users"); err != nil || !strings.HasSuffix(strings.TrimSpace(body), "you asked for /users") {
		t.Fatalf("demo L7 /api/users: %q %v", body, err)
	}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:8088/lang/", nil)
	req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Backend"); got != "web-3" {
		t.Fatalf("a Chinese reader should reach the Chinese server web-3, reached %q", got)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var _ = os.Getpid
var _ = time.Now
