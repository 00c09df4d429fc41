package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

const emptyConfig = "services: []\n"

type backend struct{ name, addr string }

func tcpBackends(t *testing.T, ip3 string, names ...string) []backend {
	t.Helper()
	var bs []backend
	for i, name := range names {
		ip := fmt.Sprintf("127.0.%s.%d", ip3, 11+i)
		b := backend{name, fmt.Sprintf("%s:%d", ip, freePort(t, ip))}
		tcpBackend(t, b.name, b.addr)
		bs = append(bs, b)
	}
	return bs
}

func vipAddr(t *testing.T, ip3 string) string {
	ip := "127.0." + ip3 + ".1"
	return fmt.Sprintf("%s:%d", ip, freePort(t, ip))
}

// TestWRRKernelSequence: `ipvsadm -A -s wrr; -a A -w4; -a B -w3; -a C -w2` gives the kernel's pick order.
// ip_vs_wrr.c: dests are listed newest first (C,B,A); after the adds cw is 1 (set by the first add, mw=4-3),
// so the first pass takes every dest with weight >= 1, then cw=4,3,2: C B A | A | B A | C B A.
func TestWRRKernelSequence(t *testing.T) {
	n := start(t, emptyConfig)
	vip := vipAddr(t, "4")
	bs := tcpBackends(t, "4", "A", "B", "C")
	n.adm("-A", "-t", vip, "-s", "wrr")
	for i, w := range []string{"4", "3", "2"} {
		n.adm("-a", "-t", vip, "-r", bs[i].addr, "-m", "-w", w)
	}
	got := strings.Join(sequence(t, vip, 9), " ")
	if want := "C B A A B A C B A"; got != want {
		t.Fatalf("wrr picks = %q, want the kernel's %q", got, want)
	}
}

// ip_vs_rr.c skips dests with weight 0; list order is newest first.
func TestRRSkipsQuiescentServer(t *testing.T) {
	n := start(t, emptyConfig)
	vip := vipAddr(t, "5")
	bs := tcpBackends(t, "5", "A", "B", "C")
	n.adm("-A", "-t", vip, "-s", "rr")
	for _, b := range bs {
		n.adm("-a", "-t", vip, "-r", b.addr, "-m")
	}
	if got, want := strings.Join(sequence(t, vip, 6), " "), "C B A C B A"; got != want {
		t.Fatalf("rr picks = %q, want %q", got, want)
	}
	n.adm("-e", "-t", vip, "-r", bs[1].addr, "-m", "-w", "0")
	got := sequence(t, vip, 6)
	for _, w := range got {
		if w == "B" {
			t.Fatalf("weight-0 server B got a new connection: %v", got)
		}
	}
	// The cursor stays on A (ip_vs_rr.c has no upd_dest hook), so the walk resumes at the list head.
	if s := strings.Join(got, " "); s != "C A C A C A" {
		t.Fatalf("rr picks with B quiesced = %q, want %q", s, "C A C A C A")
	}
}

func TestAllWeightsZeroRefusesNewConnections(t *testing.T) {
	n := start(t, emptyConfig)
	vip := vipAddr(t, "6")
	bs := tcpBackends(t, "6", "A", "B")
	n.adm("-A", "-t", vip, "-s", "wlc")
	for _, b := range bs {
		n.adm("-a", "-t", vip, "-r", b.addr, "-m", "-w", "0")
	}
	for i := range 3 {
		if w, err := who(vip, ""); err == nil {
			t.Fatalf("connection %d answered by %q although every weight is 0", i, w)
		}
	}
	out := n.adm("-Ln", "--stats")
	if !regexp.MustCompile(`(?m)^TCP\s+` + regexp.QuoteMeta(vip) + `\s+0\s`).MatchString(out) {
		t.Fatalf("refused connections must not count as scheduled:\n%s", out)
	}
}

// Persistence with netmask /24 (ip_vs_sched_persist): every client of 127.0.7.0/24 reaches one server.
func TestPersistenceKeepsNetworkOnOneServer(t *testing.T) {
	n := start(t, emptyConfig)
	vip := vipAddr(t, "7")
	bs := tcpBackends(t, "7", "A", "B", "C")
	n.adm("-A", "-t", vip, "-s", "rr", "-p", "60", "-M", "255.255.255.0")
	for _, b := range bs {
		n.adm("-a", "-t", vip, "-r", b.addr, "-m")
	}
	first := ""
	for i := 2; i < 12; i++ {
		src := fmt.Sprintf("127.0.8.%d", i)
		w, err := who(vip, src)
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = w
		}
		if w != first {
			t.Fatalf("client %s reached %s, but 127.0.8.0/24 is persistent to %s", src, w, first)
		}
	}
	conns := n.adm("-Lnc")
	if !regexp.MustCompile(`(?m)^TCP\s+\S+\s+NONE\s+127\.0\.8\.0:0\s`).MatchString(conns) {
		t.Fatalf("-Lnc should list the persistence template for 127.0.8.0/24:\n%s", conns)
	}
}

func TestUDPRoundRobin(t *testing.T) {
	n := start(t, emptyConfig)
	vip := vipAddr(t, "9")
	for i, name := range []string{"A", "B"} {
		ip := fmt.Sprintf("127.0.9.%d", 11+i)
		addr := fmt.Sprintf("%s:%d", ip, freePort(t, ip))
		udpBackend(t, name, addr)
		if i == 0 {
			n.adm("-A", "-u", vip, "-s", "rr")
		}
		n.adm("-a", "-u", vip, "-r", addr, "-m")
	}
	var got []string
	for range 4 {
		w, err := whoUDP(vip)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, w)
	}
	if s := strings.Join(got, " "); s != "B A B A" {
		t.Fatalf("UDP rr replies = %q, want %q", s, "B A B A")
	}
	out := n.adm("-Ln")
	// UDP flows are always inactive in IPVS (ip_vs_proto_udp.c has no ESTABLISHED).
	if !regexp.MustCompile(`(?m)->\s+127\.0\.9\.11:\d+\s+Masq\s+1\s+0\s+2\s*$`).MatchString(out) {
		t.Fatalf("want A with 0 active, 2 inactive UDP flows:\n%s", out)
	}
}
