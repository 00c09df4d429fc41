package notify

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// mailer sends one SMTP alert per event, as keepalived's smtp.c does.
type mailer struct {
	addr    string // host:port; "" when mail is off
	helo    string
	from    *mail.Address
	to      []*mail.Address
	timeout time.Duration
}

// configure applies global_defs: smtp_server (port 25 by default),
// smtp_helo_name and notification_email_from (defaults: the host name and
// fulcrum@hostname, after keepalived's keepalived@hostname),
// smtp_connect_timeout (30 s). Mail is off unless both a server and at
// least one recipient are set (smtp.c smtp_alert).
func (m *mailer) configure(g config.Global, hostname string) error {
	for _, s := range g.NotificationEmail {
		a, err := parseAddress("notification_email", s)
		if err != nil {
			return err
		}
		m.to = append(m.to, a)
	}
	if hostname == "" {
		hostname = "localhost" // keepalived's HELO fallback before it used the host name
	}
	from := g.NotificationEmailFrom
	if from == "" {
		from = "fulcrum@" + hostname
	}
	a, err := parseAddress("notification_email_from", from)
	if err != nil {
		return err
	}
	m.from = a
	m.helo = g.SMTPHeloName
	if m.helo == "" {
		m.helo = hostname
	}
	if strings.ContainsAny(m.helo, "\r\n") {
		return fmt.Errorf("notify: smtp_helo_name %q contains a line break", m.helo)
	}
	m.timeout = g.SMTPConnectTimeout
	if m.timeout <= 0 {
		m.timeout = DefaultSMTPConnectTimeout
	}
	if !g.SMTPServer.IsValid() || len(m.to) == 0 {
		return nil
	}
	port := g.SMTPServer.Port()
	if port == 0 {
		port = DefaultSMTPPort
	}
	m.addr = netip.AddrPortFrom(g.SMTPServer.Addr(), port).String()
	return nil
}

func (m *mailer) enabled() bool { return m.addr != "" }

// send runs the SMTP dialogue. keepalived's smtp.c speaks HELO, MAIL,
// RCPT per recipient, DATA, the message, QUIT, with smtp_connect_timeout
// bounding the connect and every read and write; net/smtp does the same
// but greets with EHLO first and falls back to HELO.
func (m *mailer) send(ctx context.Context, date time.Time, subject, body string) error {
	d := net.Dialer{Timeout: m.timeout}
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("smtp: connect: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	host, _, _ := net.SplitHostPort(m.addr)
	c, err := smtp.NewClient(&idleConn{Conn: conn, timeout: m.timeout}, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(m.helo); err != nil {
		return fmt.Errorf("smtp: HELO: %w", err)
	}
	if err := c.Mail(m.from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	for _, a := range m.to {
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("smtp: RCPT TO <%s>: %w", a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(m.message(date, subject, body)); err != nil {
		return fmt.Errorf("smtp: message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: end of data: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp: QUIT: %w", err)
	}
	return nil
}

// message renders the mail: keepalived's headers in its order (smtp.h
// SMTP_HEADERS_CMD: Date, From, Subject, X-Mailer, To), plus MIME headers so
// UTF-8 survives, a blank line and the body. net/smtp's DATA writer does
// the CRLF conversion and dot-stuffing.
func (m *mailer) message(date time.Time, subject, body string) []byte {
	to := make([]string, len(m.to))
	for i, a := range m.to {
		to[i] = a.String()
	}
	var b bytes.Buffer
	// keepalived formats with strftime "%a, %d %b %Y %H:%M:%S %z".
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\r\n", m.from.String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", sanitizeHeader(subject)))
	b.WriteString("X-Mailer: Fulcrum\r\n")
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(body)
	b.WriteString("\r\n")
	return b.Bytes()
}

// idleConn bounds every read and write, like keepalived's per-step
// smtp_connect_timeout, so a server that stops answering cannot hold the
// mail worker.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
