package notify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// smtpServer is a minimal SMTP server that records what clients send.
type smtpServer struct {
	ln        net.Listener
	rcptReply string // reply to RCPT TO (default "250 ok")
	silent    bool   // accept but never greet

	mu       sync.Mutex
	sessions []string // client bytes, one entry per finished session
	closed   int      // connections the client closed
}

func startSMTP(t *testing.T, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, rcptReply: "250 ok"}
	if configure != nil {
		configure(s)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) addr() netip.AddrPort {
	return s.ln.Addr().(*net.TCPAddr).AddrPort()
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	var rec bytes.Buffer
	defer func() {
		s.mu.Lock()
		s.sessions = append(s.sessions, rec.String())
		s.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	if s.silent {
		_, _ = r.ReadString('\n') // returns when the client gives up
		s.mu.Lock()
		s.closed++
		s.mu.Unlock()
		return
	}
	reply := func(l string) { _, _ = c.Write([]byte(l + "\r\n")) }
	reply("220 mx.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		rec.WriteString(line)
		verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
		switch {
		case verb == "EHLO" || verb == "HELO":
			reply("250 mx.test")
		case strings.HasPrefix(verb, "MAIL"):
			reply("250 ok")
		case strings.HasPrefix(verb, "RCPT"):
			reply(s.rcptReply)
		case verb == "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				rec.WriteString(l)
				if l == ".\r\n" {
					break
				}
			}
			reply("250 queued")
		case verb == "QUIT":
			reply("221 bye")
			return
		default:
			reply("500 what?")
		}
	}
}

func (s *smtpServer) session(t *testing.T, i int) string {
	t.Helper()
	waitFor(t, 5*time.Second, "an SMTP session", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.sessions) > i
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[i]
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

func mailGlobal(srv *smtpServer) config.Global {
	return config.Global{
		RouterID:              "lb1",
		NotificationEmail:     []string{"ops@example.com", "Second Admin <admin2@example.com>"},
		NotificationEmailFrom: "lb1@example.com",
		SMTPServer:            srv.addr(),
		SMTPHeloName:          "lb1.example.com",
		SMTPConnectTimeout:    2 * time.Second,
	}
}

// The whole dialogue, byte for byte, for a real server alert.
func TestMailDialogue(t *testing.T) {
	srv := startSMTP(t, nil)
	n, logs := newTestNotifier(t, mailGlobal(srv))
	vs := config.ServiceKey{Protocol: config.TCP, Address: netip.MustParseAddrPort("10.0.0.1:80")}
	ev := RealServerEvent(vs, netip.MustParseAddrPort("10.0.0.2:8080"), true, "=> TCP CHECK succeed on service <=")
	ev.Email = true
	ev.Time = time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	n.Notify(ev)

	got := srv.session(t, 0)
	checkGolden(t, "smtp_dialogue.golden", []byte(got))

	// The parts keepalived fixes (smtp.h, smtp.c), asserted directly too.
	for _, want := range []string{
		"EHLO lb1.example.com\r\n",
		"MAIL FROM:<lb1@example.com>\r\n",
		"RCPT TO:<ops@example.com>\r\nRCPT TO:<admin2@example.com>\r\nDATA\r\n",
		"Date: Tue, 04 Mar 2025 05:06:07 +0100\r\n",
		"Subject: [lb1] Realserver [10.0.0.2]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - UP\r\n",
		"To: <ops@example.com>, \"Second Admin\" <admin2@example.com>\r\n",
		"\r\n\r\n=> TCP CHECK succeed on service <=\r\n",
		"\r\n.\r\nQUIT\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("dialogue lacks %q", want)
		}
	}
	waitFor(t, 2*time.Second, "the sent log line", func() bool { return strings.Contains(logs.String(), "smtp alert sent") })
}

func TestMailMessageIsSafe(t *testing.T) {
	srv := startSMTP(t, nil)
	n, _ := newTestNotifier(t, mailGlobal(srv))
	err := n.mail.send(context.Background(), time.Unix(0, 0), "x\r\nBcc: victim@example.com", "line one\n.hidden\nline three")
	if err != nil {
		t.Fatal(err)
	}
	got := srv.session(t, 0)
	if strings.Contains(got, "\r\nBcc:") {
		t.Errorf("subject injected a header:\n%s", got)
	}
	// Bare LFs become CRLF and a leading dot is doubled (RFC 5321 4.5.2).
	if !strings.Contains(got, "line one\r\n..hidden\r\nline three\r\n") {
		t.Errorf("body not normalised and dot-stuffed:\n%s", got)
	}
}

func TestMailNonASCIISubjectIsEncoded(t *testing.T) {
	srv := startSMTP(t, nil)
	n, _ := newTestNotifier(t, mailGlobal(srv))
	if err := n.mail.send(context.Background(), time.Unix(0, 0), "état", "b"); err != nil {
		t.Fatal(err)
	}
	if got := srv.session(t, 0); !strings.Contains(got, "Subject: =?utf-8?q?=C3=A9tat?=\r\n") {
		t.Errorf("subject not RFC 2047 encoded:\n%s", got)
	}
}

func TestMailRejectedRecipient(t *testing.T) {
	srv := startSMTP(t, func(s *smtpServer) { s.rcptReply = "550 no such user" })
	n, _ := newTestNotifier(t, mailGlobal(srv))
	err := n.mail.send(context.Background(), time.Now(), "s", "b")
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("send = %v, want the 550", err)
	}
	if got := srv.session(t, 0); strings.Contains(got, "DATA") {
		t.Errorf("DATA sent after a rejected recipient:\n%s", got)
	}
}

// smtp_connect_timeout also bounds each read (smtp.c smtp_read_thread).
func TestMailSilentServerTimesOut(t *testing.T) {
	srv := startSMTP(t, func(s *smtpServer) { s.silent = true })
	g := mailGlobal(srv)
	g.SMTPConnectTimeout = 200 * time.Millisecond
	n, _ := newTestNotifier(t, g)
	start := time.Now()
	err := n.mail.send(context.Background(), time.Now(), "s", "b")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("send = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestMailConfig(t *testing.T) {
	hostname, _ := os.Hostname()
	srv := netip.MustParseAddrPort("192.0.2.1:0")
	n, _ := newTestNotifier(t, config.Global{SMTPServer: srv, NotificationEmail: []string{"a@example.com"}})
	if n.mail.addr != "192.0.2.1:25" {
		t.Errorf("addr %q, want port 25", n.mail.addr)
	}
	if n.mail.helo != hostname && hostname != "" {
		t.Errorf("helo %q, want the host name %q", n.mail.helo, hostname)
	}
	if n.mail.from.Address != "fulcrum@"+hostname {
		t.Errorf("from %q, want fulcrum@%s", n.mail.from.Address, hostname)
	}
	if n.mail.timeout != 30*time.Second {
		t.Errorf("timeout %v, want 30s", n.mail.timeout)
	}
	if n.routerID != hostname {
		t.Errorf("router id %q, want the host name", n.routerID)
	}

	// No recipient: no mail sink (smtp.c smtp_alert returns early).
	n2, _ := newTestNotifier(t, config.Global{SMTPServer: srv})
	if n2.mailQ != nil {
		t.Error("mail enabled without recipients")
	}
	for _, g := range []config.Global{
		{NotificationEmail: []string{"not an address"}},
		{NotificationEmailFrom: "@@"},
		{SMTPHeloName: "a\r\nb"},
	} {
		if _, err := New(Options{Global: g, LookupUser: withoutKeepalivedScript}); err == nil {
			t.Errorf("New(%+v) accepted a bad mail setting", g)
		}
	}
}
