package health

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// smtpDefaultHelo is check_smtp.h SMTP_DEFAULT_HELO.
const smtpDefaultHelo = "smtpchecker.keepalived.org"

// smtpBuffMax is check_smtp.h SMTP_BUFF_MAX.
const smtpBuffMax = 512

// smtpProber is SMTP_CHECK (check_smtp.c smtp_engine_thread): read the
// banner and require 220, send "HELO <name>", require 250, send "QUIT"
// and read one more line, whatever it says.
type smtpProber struct {
	co   connOpts
	helo string
}

func newSMTPProber(c config.Check, co connOpts) *smtpProber {
	h := c.HeloName
	if h == "" {
		h = smtpDefaultHelo
	}
	return &smtpProber{co: co, helo: h}
}

func (p *smtpProber) Probe(ctx context.Context) Result {
	conn, done, err := p.co.dial(ctx, "tcp")
	if err != nil {
		return fail(err)
	}
	defer done()
	op := "smtp " + p.co.dst.String()
	steps := []struct {
		send string
		want int
		what string
	}{
		{"", 220, "greeting banner"},
		{"HELO " + p.helo + "\r\n", 250, "HELO response"},
		{"QUIT\r\n", -1, "QUIT response"},
	}
	for _, s := range steps {
		if s.send != "" {
			conn.SetWriteDeadline(p.co.deadline())
			if _, err := io.WriteString(conn, s.send); err != nil {
				return fail(classify(op+": write", err))
			}
		}
		line, err := p.readLine(conn)
		if err != nil {
			return fail(classify(op+": read "+s.what, err))
		}
		if s.want >= 0 {
			if got := smtpStatus(line); got != s.want {
				return fail(fmt.Errorf("%s: %w: bad %s %q, want %d", op, ErrReply, s.what, line, s.want))
			}
		}
	}
	return Result{OK: true}
}

// readLine is smtp_get_line_cb: read into a 512-byte buffer until it holds
// a newline (a full buffer is wrapped by clearing it) and return what
// precedes the first newline; whatever follows in the same reads is
// dropped, as keepalived clears the buffer before each line.
func (p *smtpProber) readLine(conn net.Conn) (string, error) {
	buf := make([]byte, smtpBuffMax)
	n := 0
	for {
		if n >= smtpBuffMax-1 {
			n = 0
		}
		conn.SetReadDeadline(p.co.deadline())
		r, err := conn.Read(buf[n : smtpBuffMax-1])
		n += r
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return string(buf[:i]), nil
		}
		if err != nil {
			if err == io.EOF {
				return "", fmt.Errorf("%w: connection closed", ErrNoResponse)
			}
			return "", err
		}
	}
}

// smtpStatus is check_smtp.c smtp_get_status: exactly three digits,
// followed by the end of the line or a space; anything else is -1. The
// line keeps its '\r', so "220\r" is not a valid status, as in keepalived.
func smtpStatus(line string) int {
	if len(line) < 3 {
		return -1
	}
	for i := range 3 {
		if line[i] < '0' || line[i] > '9' {
			return -1
		}
	}
	if len(line) > 3 && line[3] != ' ' {
		return -1
	}
	return int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
}
