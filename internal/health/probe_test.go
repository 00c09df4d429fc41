package health

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/notify"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func probe(t *testing.T, c config.Check, target netip.AddrPort, opt ProbeOptions) Result {
	t.Helper()
	p, err := NewProber(c, target, opt)
	if err != nil {
		t.Fatalf("NewProber: %v", err)
	}
	return p.Probe(t.Context())
}

func wantOK(t *testing.T, r Result) {
	t.Helper()
	if !r.OK {
		t.Fatalf("probe failed: %v", r.Err)
	}
}

func wantErr(t *testing.T, r Result, target error, text string) {
	t.Helper()
	if r.OK {
		t.Fatalf("probe succeeded, want failure %v", target)
	}
	if !errors.Is(r.Err, target) {
		t.Fatalf("err = %v, want one wrapping %v", r.Err, target)
	}
	if text != "" && !strings.Contains(r.Err.Error(), text) {
		t.Fatalf("err = %q, want it to mention %q", r.Err, text)
	}
}

// TCP_CHECK (check_tcp.c tcp_check_thread): success is connect(); a
// refused connection and a connect timeout are distinct failures.
func TestTCPCheck(t *testing.T) {
	srv := newRawServer(t, "tcp", "127.0.0.1:0", func(string) string { return "" })
	wantOK(t, probe(t, tcpCheck(time.Second), srv.addr(), ProbeOptions{}))
	wantErr(t, probe(t, tcpCheck(time.Second), closedPort(t, "tcp"), ProbeOptions{}), ErrRefused, "connection refused")

	inNetns(t, func() {
		start := time.Now()
		p, _ := NewProber(tcpCheck(300*time.Millisecond), ap(blackhole+":80"), ProbeOptions{})
		r := p.Probe(context.Background())
		if r.OK || !errors.Is(r.Err, ErrTimeout) {
			t.Errorf("blackhole: %v, want a timeout", r.Err)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
			t.Errorf("blackhole probe took %s, want about connect_timeout (300ms)", d)
		}
	})
}

// connect_ip/connect_port replace the target; bindto/bind_port set the
// source (check_api.c co_ip_handler ... co_srcport_handler).
func TestConnectAndBindOptions(t *testing.T) {
	from := make(chan netip.AddrPort, 1)
	srvAddr := lineServer(t, func(c net.Conn) { from <- c.RemoteAddr().(*net.TCPAddr).AddrPort() })
	src := closedPort(t, "tcp")
	c := tcpCheck(time.Second)
	c.ConnectIP = srvAddr.Addr()
	c.ConnectPort = srvAddr.Port()
	c.BindTo = netip.MustParseAddr("127.0.0.1")
	c.BindPort = src.Port()
	wantOK(t, probe(t, c, ap("192.0.2.1:1"), ProbeOptions{})) // the target is never contacted
	if got := <-from; got != src {
		t.Fatalf("server saw the check from %v, want bindto:bind_port %v", got, src)
	}
}

// bind_if is SO_BINDTODEVICE and fwmark is SO_MARK: checked inside a
// namespace whose policy rule prohibits packets marked 7, so only a probe
// that really carries the mark is refused by routing.
func TestBindIfAndFwmark(t *testing.T) {
	c := tcpCheck(time.Second)
	c.BindIf = "lo"
	srv := newRawServer(t, "tcp", "127.0.0.1:0", func(string) string { return "" })
	wantOK(t, probe(t, c, srv.addr(), ProbeOptions{}))
	c.BindIf = "no-such-if0"
	if r := probe(t, c, srv.addr(), ProbeOptions{}); r.OK || !strings.Contains(r.Err.Error(), "bind_if no-such-if0") {
		t.Fatalf("bind_if to a missing interface: %v", r.Err)
	}

	inNetns(t, func() {
		c := tcpCheck(300 * time.Millisecond)
		c.FWMark = 7
		p, _ := NewProber(c, ap(blackhole+":80"), ProbeOptions{})
		r := p.Probe(context.Background())
		if r.OK || !errors.Is(r.Err, syscall.EACCES) {
			t.Errorf("marked probe: %v, want EACCES from the prohibit rule", r.Err)
		}
		c.FWMark = 0
		p, _ = NewProber(c, ap(blackhole+":80"), ProbeOptions{})
		if r := p.Probe(context.Background()); !errors.Is(r.Err, ErrTimeout) {
			t.Errorf("unmarked probe: %v, want a timeout (the rule must not match)", r.Err)
		}
	})
}

func httpOK(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// The request bytes are keepalived's request_template
// ("GET %s HTTP/1.%d\r\nUser-Agent: KeepAliveClient\r\n%sHost: %s%s\r\n\r\n")
// with the http_protocol and virtualhost rules of http_request_thread.
func TestHTTPRequestBytes(t *testing.T) {
	srv := newRawServer(t, "tcp", "127.0.0.1:0", func(string) string { return httpOK("ok") })
	var srv6 *rawServer
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		srv6 = newRawServer(t, "tcp", "[::1]:0", func(string) string { return httpOK("ok") })
	}
	cases := []struct {
		name     string
		protocol string
		vhost    string
		urlVhost string
		v6       bool
	}{
		{name: "default 1.0"},
		{name: "1.0C adds Connection close", protocol: "1.0C"},
		{name: "1.1 adds Connection close", protocol: "1.1"},
		{name: "checker virtualhost, no port", vhost: "www.example.com"},
		{name: "url virtualhost wins", vhost: "www.example.com", urlVhost: "api.example.com"},
		{name: "IPv6 literal in brackets", v6: true},
	}
	var golden strings.Builder
	for _, tc := range cases {
		s := srv
		if tc.v6 {
			if srv6 == nil {
				t.Logf("%s: no IPv6 loopback, skipped", tc.name)
				continue
			}
			s = srv6
		}
		c := config.Check{Type: config.CheckHTTP, ConnectTimeout: time.Second, HTTPProtocol: tc.protocol, Virtualhost: tc.vhost,
			URLs: []config.CheckURL{{Path: "/health?x=1", Virtualhost: tc.urlVhost}}}
		before := len(s.requests())
		wantOK(t, probe(t, c, s.addr(), ProbeOptions{}))
		req := s.requests()[before]
		// The port varies between runs: write it as PORT in the golden file.
		req = strings.ReplaceAll(req, fmt.Sprint(s.addr().Port()), "PORT")
		fmt.Fprintf(&golden, "== %s\n%q\n", tc.name, req)
	}
	path := filepath.Join("testdata", "http_requests.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if golden.String() != string(want) {
		t.Fatalf("requests differ from %s:\n%s\nwant:\n%s", path, golden.String(), want)
	}
	// The golden file itself is checked against the template here, so an
	// -update cannot silently accept a wrong request.
	for _, line := range []string{
		`"GET /health?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:PORT\r\n\r\n"`,
		`"GET /health?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: 127.0.0.1:PORT\r\n\r\n"`,
		`"GET /health?x=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: 127.0.0.1:PORT\r\n\r\n"`,
		`"GET /health?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: www.example.com\r\n\r\n"`,
		`"GET /health?x=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: api.example.com\r\n\r\n"`,
	} {
		if !strings.Contains(string(want), line) {
			t.Errorf("golden file lacks keepalived's request %s", line)
		}
	}
	if srv6 != nil && !strings.Contains(string(want), `Host: [::1]:PORT\r\n`) {
		t.Errorf("golden file lacks the bracketed IPv6 Host")
	}
}

// Each way an HTTP check can fail gives its own error (check_http.c
// http_handle_response: no data, status, digest, regex, in that order).
func TestHTTPCheckFailures(t *testing.T) {
	const body = "hello, keepalived\n"
	responses := map[string]string{
		"/ok":      httpOK(body),
		"/503":     "HTTP/1.0 503 Service Unavailable\r\n\r\nbusy",
		"/302":     "HTTP/1.0 302 Found\r\nLocation: /\r\n\r\n",
		"/nohead":  "HTTP/1.0 200 OK\r\nServer: x",
		"/trailer": "HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n" + body + "EXTRA BYTES",
	}
	srv := newRawServer(t, "tcp", "127.0.0.1:0", func(req string) string {
		path := strings.Fields(req)[1]
		return responses[path]
	})
	check := func(u config.CheckURL) config.Check {
		return config.Check{Type: config.CheckHTTP, ConnectTimeout: time.Second, URLs: []config.CheckURL{u}}
	}
	good := md5hex(body)
	bad := md5hex("something else")

	cases := []struct {
		name string
		url  config.CheckURL
		err  error
		text string
	}{
		{"status in default range", config.CheckURL{Path: "/ok"}, nil, ""},
		{"wrong status", config.CheckURL{Path: "/503"}, ErrStatus, "unexpected status 503"},
		{"status outside listed ranges", config.CheckURL{Path: "/302", StatusCodes: []config.StatusRange{{From: 200, To: 299}}}, ErrStatus, "302"},
		{"status in listed range", config.CheckURL{Path: "/302", StatusCodes: []config.StatusRange{{From: 200, To: 200}, {From: 300, To: 399}}}, nil, ""},
		{"503 accepted when listed", config.CheckURL{Path: "/503", StatusCodes: []config.StatusRange{{From: 503, To: 503}}}, nil, ""},
		{"digest matches genhash", config.CheckURL{Path: "/ok", Digest: good}, nil, ""},
		{"wrong digest", config.CheckURL{Path: "/ok", Digest: bad}, ErrDigest, good},
		{"digest covers Content-Length bytes only", config.CheckURL{Path: "/trailer", Digest: good}, nil, ""},
		{"regex matches", config.CheckURL{Path: "/ok", Regex: `keep[a-z]+ed`}, nil, ""},
		{"regex does not match", config.CheckURL{Path: "/ok", Regex: `^nginx`}, ErrRegex, "does not match"},
		{"regex_no_match with a match", config.CheckURL{Path: "/ok", Regex: `hello`, RegexNoMatch: true}, ErrRegex, "regex_no_match"},
		{"regex_no_match without a match", config.CheckURL{Path: "/ok", Regex: `error`, RegexNoMatch: true}, nil, ""},
		{"no complete head", config.CheckURL{Path: "/nohead"}, ErrNoResponse, "response head"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := probe(t, check(tc.url), srv.addr(), ProbeOptions{})
			if tc.err == nil {
				wantOK(t, r)
			} else {
				wantErr(t, r, tc.err, tc.text)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		wantErr(t, probe(t, check(config.CheckURL{Path: "/"}), closedPort(t, "tcp"), ProbeOptions{}), ErrRefused, "")
	})
	t.Run("server never answers", func(t *testing.T) {
		// A server that accepts and stays silent: the read times out after
		// connect_timeout (http_response_thread THREAD_READ_TIMEOUT).
		addr := lineServer(t, func(c net.Conn) { c.Read(make([]byte, 1024)); time.Sleep(time.Second) })
		c := check(config.CheckURL{Path: "/"})
		c.ConnectTimeout = 200 * time.Millisecond
		wantErr(t, probe(t, c, addr, ProbeOptions{}), ErrTimeout, "GET /")
	})
	t.Run("invalid digest in config", func(t *testing.T) {
		if _, err := NewProber(check(config.CheckURL{Path: "/", Digest: "abc"}), srv.addr(), ProbeOptions{}); err == nil {
			t.Fatal("a 3-digit digest was accepted")
		}
	})
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rs.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"rs.test"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// SSL_GET speaks the same request over TLS, does not verify the
// certificate, and sends SNI only with enable_sni (check_ssl.c ssl_connect).
func TestSSLCheck(t *testing.T) {
	cert := selfSigned(t)
	sni := make(chan string, 10)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) { sni <- h.ServerName; return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1024)
				var req []byte
				for !strings.Contains(string(req), "\r\n\r\n") {
					n, err := c.Read(buf)
					req = append(req, buf[:n]...)
					if err != nil {
						return
					}
				}
				status := "200 OK"
				if !strings.HasPrefix(string(req), "GET /secure HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n") {
					status = "400 Bad Request"
				}
				fmt.Fprintf(c, "HTTP/1.0 %s\r\n\r\nsecret", status)
			}()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	c := config.Check{Type: config.CheckSSL, ConnectTimeout: time.Second, Virtualhost: "rs.test",
		URLs: []config.CheckURL{{Path: "/secure", Digest: md5hex("secret")}}}
	wantOK(t, probe(t, c, addr, ProbeOptions{}))
	if got := <-sni; got != "" {
		t.Fatalf("SNI %q sent without enable_sni", got)
	}
	c.EnableSNI = true
	wantOK(t, probe(t, c, addr, ProbeOptions{}))
	if got := <-sni; got != "rs.test" {
		t.Fatalf("SNI = %q, want the virtualhost rs.test", got)
	}
	c.SNIName = "other.test"
	wantOK(t, probe(t, c, addr, ProbeOptions{}))
	if got := <-sni; got != "other.test" {
		t.Fatalf("SNI = %q, want sni_name other.test", got)
	}
	// A plain HTTP server fails the TLS handshake.
	plain := newRawServer(t, "tcp", "127.0.0.1:0", func(string) string { return httpOK("x") })
	if r := probe(t, c, plain.addr(), ProbeOptions{}); r.OK || !strings.Contains(r.Err.Error(), "tls handshake") {
		t.Fatalf("TLS against plain HTTP: %v", r.Err)
	}
}

func writeScript(t *testing.T, body string) *config.Script {
	t.Helper()
	p := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &config.Script{Command: p}
}

// MISC_CHECK exit codes (check_misc.c misc_check_child_thread): 0 passes,
// 1 fails; with misc_dynamic 2..255 pass and set the weight to exit-2;
// without it they fail.
func TestMiscCheck(t *testing.T) {
	cases := []struct {
		exit    int
		dynamic bool
		ok      bool
		weight  int32
	}{
		{0, false, true, -1},
		{1, false, false, -1},
		{2, false, false, -1},
		{0, true, true, -1},
		{1, true, false, -1},
		{2, true, true, 0},
		{12, true, true, 10},
		{255, true, true, 253},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("exit %d dynamic %v", tc.exit, tc.dynamic), func(t *testing.T) {
			c := config.Check{Type: config.CheckMisc, MiscPath: writeScript(t, fmt.Sprintf("exit %d", tc.exit)),
				MiscTimeout: 5 * time.Second, MiscDynamic: tc.dynamic}
			r := probe(t, c, ap("127.0.0.1:80"), ProbeOptions{RunScript: scriptRunner(t)})
			if r.OK != tc.ok {
				t.Fatalf("ok = %v (%v), want %v", r.OK, r.Err, tc.ok)
			}
			if !tc.ok {
				wantErr(t, r, ErrExitStatus, fmt.Sprintf("exit status %d", tc.exit))
			}
			switch {
			case tc.weight < 0 && r.Weight != nil:
				t.Fatalf("weight %d set, want none", *r.Weight)
			case tc.weight >= 0 && (r.Weight == nil || *r.Weight != tc.weight):
				t.Fatalf("weight = %v, want %d", r.Weight, tc.weight)
			}
		})
	}
}

// misc_timeout: SIGTERM at the timeout, SIGKILL two seconds later, and a
// script stopped that way fails.
func TestMiscTimeout(t *testing.T) {
	opt := ProbeOptions{RunScript: scriptRunner(t)}
	start := time.Now()
	c := config.Check{Type: config.CheckMisc, MiscPath: writeScript(t, "sleep 10"), MiscTimeout: 200 * time.Millisecond}
	r := probe(t, c, ap("127.0.0.1:80"), opt)
	wantErr(t, r, ErrExitStatus, "timed out")
	wantErr(t, r, notify.ErrTimeout, "")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("SIGTERM should have ended it at 200ms, took %s", d)
	}

	start = time.Now()
	c.MiscPath = writeScript(t, "trap '' TERM\nsleep 10 &\nwait; sleep 10")
	r = probe(t, c, ap("127.0.0.1:80"), opt)
	wantErr(t, r, ErrExitStatus, "timed out")
	wantErr(t, r, notify.ErrTimeout, "")
	if d := time.Since(start); d < 2*time.Second || d > 5*time.Second {
		t.Fatalf("a script ignoring SIGTERM should be killed 2s after the timeout, took %s", d)
	}
}

// The script runner is injected (the engine wires script security in).
func TestMiscInjectedRunner(t *testing.T) {
	var gotTimeout time.Duration
	run := func(_ context.Context, s *config.Script, timeout time.Duration) (int, error) {
		gotTimeout = timeout
		if s.Command != "/usr/local/bin/check --fast" {
			return 1, nil
		}
		return 7, nil
	}
	c := config.Check{Type: config.CheckMisc, MiscPath: &config.Script{Command: "/usr/local/bin/check --fast"},
		MiscDynamic: true, DelayLoop: 6 * time.Second}
	r := probe(t, c, ap("127.0.0.1:80"), ProbeOptions{RunScript: run})
	if !r.OK || r.Weight == nil || *r.Weight != 5 {
		t.Fatalf("result %+v, want OK with weight 5", r)
	}
	if gotTimeout != 6*time.Second {
		t.Fatalf("timeout = %s, want delay_loop when misc_timeout is unset", gotTimeout)
	}
	run = func(context.Context, *config.Script, time.Duration) (int, error) {
		return -1, errors.New("unsafe permissions")
	}
	wantErr(t, probe(t, c, ap("127.0.0.1:80"), ProbeOptions{RunScript: run}), ErrExitStatus, "unsafe permissions")

	// The injected runner is the only way to run a script.
	if _, err := NewProber(c, ap("127.0.0.1:80"), ProbeOptions{}); err == nil || !strings.Contains(err.Error(), "misc_check needs a script runner") {
		t.Fatalf("NewProber without a runner: %v, want the missing runner reported", err)
	}
}

func udpResponder(t *testing.T, reply func(req []byte) []byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := reply(buf[:n]); out != nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// UDP_CHECK (check_udp.c): payload out, optional reply checked against
// require_reply with X wildcards and length bounds; silence is success
// unless a reply is required; ICMP port unreachable fails.
func TestUDPCheck(t *testing.T) {
	payloads := make(chan string, 100)
	echo := udpResponder(t, func(req []byte) []byte {
		payloads <- string(req)
		return []byte{0xde, 0xad, 0xbe, 0xef, 0x01}
	})
	silent := udpResponder(t, func([]byte) []byte { return nil })
	c := func(reply string, minLen, maxLen int) config.Check {
		return config.Check{Type: config.CheckUDP, ConnectTimeout: 200 * time.Millisecond, Payload: []byte("ping"),
			RequireReply: reply, MinReplyLength: minLen, MaxReplyLength: maxLen}
	}
	cases := []struct {
		name   string
		check  config.Check
		target netip.AddrPort
		err    error
		text   string
	}{
		{"reply, none required", c("", 0, 0), echo, nil, ""},
		{"silence, none required", c("", 0, 0), silent, nil, ""},
		{"silence, reply required", c("de ad", 0, 0), silent, ErrTimeout, "no reply"},
		{"exact pattern", c("deadbeef01", 0, 0), echo, nil, ""},
		{"wildcard nibbles", c("dXad XXef", 0, 0), echo, nil, ""},
		{"pattern longer than reply compares the reply's length", c("deadbeef01ffff", 0, 0), echo, nil, ""},
		{"mismatch", c("de ad be ee", 0, 0), echo, ErrReply, "does not match"},
		{"too short", c("de", 6, 0), echo, ErrReply, "length 5 outside 6..255"},
		{"too long", c("de", 0, 4), echo, ErrReply, "length 5 outside 0..4"},
		{"port unreachable", c("", 0, 0), closedPort(t, "udp"), ErrUnreachable, "icmp port unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := probe(t, tc.check, tc.target, ProbeOptions{})
			if tc.err == nil {
				wantOK(t, r)
			} else {
				wantErr(t, r, tc.err, tc.text)
			}
		})
	}
	if got := <-payloads; got != "ping" {
		t.Fatalf("responder got payload %q, want %q", got, "ping")
	}
}

// dnsResponder answers like a tiny authoritative server and records the
// queries; rcode and a decoy (wrong ID first) are configurable.
func dnsResponder(t *testing.T, rcode byte, queries chan<- []byte) netip.AddrPort {
	return udpResponder(t, func(q []byte) []byte {
		if queries != nil {
			queries <- append([]byte(nil), q...)
		}
		if len(q) < 12 {
			return nil
		}
		resp := append([]byte(nil), q...)
		resp[2] |= 0x80 // QR
		resp[3] = resp[3]&0xf0 | rcode
		return resp
	})
}

// DNS_CHECK (check_dns.c): query with RD for Name/Type IN; success is a
// reply with the same ID, QR set and RCODE 0.
func TestDNSCheck(t *testing.T) {
	queries := make(chan []byte, 10)
	ok := dnsResponder(t, 0, queries)
	c := config.Check{Type: config.CheckDNS, ConnectTimeout: 300 * time.Millisecond}
	wantOK(t, probe(t, c, ok, ProbeOptions{}))
	q := <-queries
	// Default query: type SOA (6) for the root, class IN, RD set, one
	// question (dns_make_query).
	want := []byte{0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1}
	if string(q[2:]) != string(want) {
		t.Fatalf("query % x, want id + % x", q, want)
	}
	c.DNSType, c.DNSName = "aaaa", "www.example.com."
	wantOK(t, probe(t, c, ok, ProbeOptions{}))
	q = <-queries
	if got, want := q[12:], "\x03www\x07example\x03com\x00\x00\x1c\x00\x01"; string(got) != want {
		t.Fatalf("question % x, want % x", got, want)
	}

	wantErr(t, probe(t, c, dnsResponder(t, 2, nil), ProbeOptions{}), ErrDNSRcode, "rcode 2")
	wantErr(t, probe(t, c, udpResponder(t, func([]byte) []byte { return nil }), ProbeOptions{}), ErrTimeout, "no answer")
	wantErr(t, probe(t, c, closedPort(t, "udp"), ProbeOptions{}), ErrUnreachable, "")

	// Datagrams that are not our answer are skipped: a short one, a wrong
	// ID and a query echo (no QR) before the real answer.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		pc.WriteTo([]byte{1, 2, 3}, from)
		wrong := append([]byte(nil), q...)
		wrong[0] ^= 0xff
		wrong[2] |= 0x80
		pc.WriteTo(wrong, from)
		pc.WriteTo(q, from)
		right := append([]byte(nil), q...)
		right[2] |= 0x80
		pc.WriteTo(right, from)
	}()
	wantOK(t, probe(t, c, pc.LocalAddr().(*net.UDPAddr).AddrPort(), ProbeOptions{}))

	if _, err := NewProber(config.Check{Type: config.CheckDNS, DNSName: "a..b"}, ok, ProbeOptions{}); err == nil {
		t.Fatal("a name with an empty label was accepted")
	}
	if _, err := NewProber(config.Check{Type: config.CheckDNS, DNSType: "PTR"}, ok, ProbeOptions{}); err == nil {
		t.Fatal("a type outside check_dns.c DNS_TYPE was accepted")
	}
}

// SMTP_CHECK (check_smtp.c smtp_engine_thread): 220 banner, HELO, 250, QUIT.
func TestSMTPCheck(t *testing.T) {
	smtp := func(banner, heloReply, quitReply string, helo chan<- string) netip.AddrPort {
		return lineServer(t, func(c net.Conn) {
			fmt.Fprint(c, banner)
			buf := make([]byte, 512)
			n, _ := c.Read(buf)
			if helo != nil {
				helo <- string(buf[:n])
			}
			fmt.Fprint(c, heloReply)
			c.Read(buf)
			fmt.Fprint(c, quitReply)
		})
	}
	helo := make(chan string, 1)
	c := config.Check{Type: config.CheckSMTP, ConnectTimeout: 300 * time.Millisecond}
	wantOK(t, probe(t, c, smtp("220 mx.test ESMTP\r\n", "250 hello\r\n", "221 bye\r\n", helo), ProbeOptions{}))
	if got := <-helo; got != "HELO smtpchecker.keepalived.org\r\n" {
		t.Fatalf("HELO line %q, want keepalived's SMTP_DEFAULT_HELO", got)
	}
	c.HeloName = "lb1.example.com"
	wantOK(t, probe(t, c, smtp("220 ok\r\n", "250 ok\r\n", "221 bye\r\n", helo), ProbeOptions{}))
	if got := <-helo; got != "HELO lb1.example.com\r\n" {
		t.Fatalf("HELO line %q", got)
	}
	cases := []struct {
		name               string
		banner, helo, quit string
		err                error
		text               string
	}{
		{"bad banner", "554 no service\r\n", "250 ok\r\n", "221\r\n", ErrReply, "bad greeting banner"},
		{"multi-line banner start", "220-mx.test\r\n", "250 ok\r\n", "221\r\n", ErrReply, "bad greeting banner"},
		{"status without text keeps CR", "220\r\n", "250 ok\r\n", "221\r\n", ErrReply, "bad greeting banner"},
		{"bad HELO reply", "220 ok\r\n", "501 syntax\r\n", "221\r\n", ErrReply, "bad HELO response"},
		{"no QUIT reply", "220 ok\r\n", "250 ok\r\n", "", ErrNoResponse, "read QUIT response"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, probe(t, c, smtp(tc.banner, tc.helo, tc.quit, nil), ProbeOptions{}), tc.err, tc.text)
		})
	}
	wantErr(t, probe(t, c, closedPort(t, "tcp"), ProbeOptions{}), ErrRefused, "")
	silent := lineServer(t, func(c net.Conn) { time.Sleep(time.Second) })
	wantErr(t, probe(t, c, silent, ProbeOptions{}), ErrTimeout, "read greeting banner")
}

// PING_CHECK: an echo to loopback succeeds over a datagram ICMP socket
// (ping_group_range permitting) or a raw one; inside a namespace with no
// answer it times out. A new namespace has ping_group_range "1 0", so the
// raw fallback is exercised there.
func TestPingCheck(t *testing.T) {
	c := config.Check{Type: config.CheckPing, ConnectTimeout: 300 * time.Millisecond}
	r := probe(t, c, ap("127.0.0.1:0"), ProbeOptions{})
	if !r.OK && strings.Contains(fmt.Sprint(r.Err), "icmp socket") {
		t.Skipf("no permission for ICMP sockets: %v", r.Err)
	}
	wantOK(t, r)
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		wantOK(t, probe(t, c, ap("[::1]:0"), ProbeOptions{}))
	}
	inNetns(t, func() {
		p, _ := NewProber(c, ap("127.0.0.1:0"), ProbeOptions{})
		if r := p.Probe(context.Background()); !r.OK {
			t.Errorf("ping loopback in netns (raw socket): %v", r.Err)
		}
		p, _ = NewProber(c, ap(blackhole+":0"), ProbeOptions{})
		if r := p.Probe(context.Background()); r.OK || !errors.Is(r.Err, ErrTimeout) {
			t.Errorf("ping blackhole: %v, want a timeout", r.Err)
		}
	})
}

// FILE_CHECK (track_file.c): unweighted, non-zero is a fault (reverse:
// zero is); weighted, value × weight adjusts the weight; a missing file
// reads 0; an unparsable number keeps the last value.
func TestFileCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weight")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(weight int, reverse, dynamic bool) Prober {
		p, err := NewProber(config.Check{Type: config.CheckFile, File: path, FileWeight: weight, FileReverse: reverse,
			FileDynamic: dynamic}, ap("127.0.0.1:80"), ProbeOptions{Weight: 10})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()

	unweighted := mk(0, false, false)
	if r := unweighted.Probe(ctx); !r.OK || r.Weight != nil {
		t.Fatalf("missing file (0): %+v, want OK without weight", r)
	}
	write("1\n")
	wantErr(t, unweighted.Probe(ctx), ErrFileFault, "value 1")
	write("0")
	wantOK(t, unweighted.Probe(ctx))
	if r := mk(0, true, false).Probe(ctx); r.OK {
		t.Fatal("reverse: value 0 should be a fault")
	}

	weighted := mk(2, false, false)
	for _, tc := range []struct {
		content string
		weight  int32
	}{{"5", 20}, {"-3", 4}, {"0x10", 42}, {"010", 26}, {"  7 apples", 24}} {
		write(tc.content)
		r := weighted.Probe(ctx)
		if !r.OK || r.Weight == nil || *r.Weight != tc.weight {
			t.Fatalf("file %q weight 2: %+v, want weight %d (10 + value×2)", tc.content, r, tc.weight)
		}
	}
	write("99999999999999999999")
	r := weighted.Probe(ctx)
	if !r.OK || *r.Weight != 24 || r.Err == nil {
		t.Fatalf("overflowing value: %+v, want the previous value kept (weight 24) and a note", r)
	}
	write("4")
	if r := mk(3, true, false).Probe(ctx); *r.Weight != -2 {
		t.Fatalf("reverse weight 3 value 4: weight %d, want 10-12", *r.Weight)
	}
	if r := mk(0, false, true).Probe(ctx); *r.Weight != 14 {
		t.Fatalf("dynamic without weight: weight %d, want 10+4 (track_file weight defaults to 1)", *r.Weight)
	}
	write("-2147483648")
	wantErr(t, mk(1, false, false).Probe(ctx), ErrFileFault, "")
}

// The HAProxy agent check (tcpcheck_agent_expect_reply).
func TestAgentCheck(t *testing.T) {
	reply := make(chan string, 1)
	agent := lineServer(t, func(c net.Conn) {
		select {
		case l := <-reply:
			fmt.Fprint(c, l)
		case <-time.After(2 * time.Second):
		}
	})
	c := config.Check{Type: config.CheckAgent, ConnectTimeout: 300 * time.Millisecond, AgentPort: agent.Port()}
	p, err := NewProber(c, netip.AddrPortFrom(agent.Addr(), 80), ProbeOptions{Weight: 20})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		line   string
		ok     bool
		err    error
		weight int32 // -1: none
	}{
		{"up\n", true, nil, -1},
		{"50%\n", true, nil, 10},
		{"drain\n", true, nil, 0},
		{"75%\n", true, nil, 0}, // still draining: drain holds until ready
		{"ready\n", true, nil, 15},
		{"maint\r\n", false, ErrAgentMaint, -1},
		{"ready up 100%\n", true, nil, 20},
		{"fail # disk full\n", false, ErrAgentDown, -1},
		{"stopped\n", false, ErrAgentDown, -1},
		{"UP, 150%\n", true, nil, 30},
	}
	for i, s := range steps {
		reply <- s.line
		r := p.Probe(context.Background())
		if r.OK != s.ok || (s.err != nil && !errors.Is(r.Err, s.err)) {
			t.Fatalf("step %d %q: %+v, want ok=%v err=%v", i, s.line, r, s.ok, s.err)
		}
		if s.weight >= 0 && (r.Weight == nil || *r.Weight != s.weight) {
			t.Fatalf("step %d %q: weight %v, want %d", i, s.line, r.Weight, s.weight)
		}
		if s.weight < 0 && r.OK && r.Weight != nil {
			t.Fatalf("step %d %q: weight %d, want none", i, s.line, *r.Weight)
		}
	}
	// An incomplete line (EOF before CR/LF) changes nothing.
	reply <- "down"
	if r := p.Probe(context.Background()); !r.OK || *r.Weight != 30 || !strings.Contains(fmt.Sprint(r.Err), "incomplete") {
		t.Fatalf("incomplete line: %+v, want the previous state (up, weight 30) and a note", r)
	}
	c.AgentPort = closedPort(t, "tcp").Port()
	wantErr(t, probe(t, c, agent, ProbeOptions{}), ErrRefused, "")
	if _, err := NewProber(config.Check{Type: config.CheckAgent}, agent, ProbeOptions{}); err == nil {
		t.Fatal("an agent check without agent_port was accepted")
	}
}

func TestUnknownCheckType(t *testing.T) {
	if _, err := NewProber(config.Check{Type: "BFD_CHECK"}, ap("127.0.0.1:1"), ProbeOptions{}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("err = %v", err)
	}
}
