package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// defaultMaxReply is check_udp.c udp_check_handler's max_reply_len
// default (UINT8_MAX).
const defaultMaxReply = 255

// udpProber is UDP_CHECK (check_udp.c): send the payload on a connected
// socket, then wait connect_timeout. An ICMP error (port unreachable)
// fails; silence succeeds unless a reply is required; a reply must fit the
// length bounds and match require_reply where X nibbles are wildcards.
type udpProber struct {
	co           connOpts
	payload      []byte
	requireReply bool
	reply, mask  []byte
	minLen       int
	maxLen       int
}

func newUDPProber(c config.Check, co connOpts) (*udpProber, error) {
	p := &udpProber{co: co, payload: c.Payload, minLen: c.MinReplyLength, maxLen: c.MaxReplyLength}
	if p.maxLen <= 0 {
		p.maxLen = defaultMaxReply
	}
	// The model has no bare "require_reply" flag: a reply is required when
	// a pattern or a length bound is given.
	p.requireReply = c.RequireReply != "" || c.MinReplyLength > 0 || c.MaxReplyLength > 0
	if c.RequireReply != "" {
		var err error
		p.reply, p.mask, err = config.ParseHexPattern(c.RequireReply, true)
		if err != nil {
			return nil, fmt.Errorf("require_reply: %w", err)
		}
	}
	return p, nil
}

func (p *udpProber) Probe(ctx context.Context) Result {
	conn, done, err := p.co.dial(ctx, "udp")
	if err != nil {
		return fail(err)
	}
	defer done()
	op := "udp " + p.co.dst.String()
	conn.SetWriteDeadline(p.co.deadline())
	if _, err := conn.Write(p.payload); err != nil {
		return fail(classifyUDP(op+": send", err))
	}
	buf := make([]byte, p.maxLen+1)
	conn.SetReadDeadline(p.co.deadline())
	n, err := conn.Read(buf)
	if err != nil {
		var ne net.Error
		if (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, os.ErrDeadlineExceeded) {
			// udp_socket_state: a read timeout is success unless
			// require_reply is set.
			if !p.requireReply {
				return Result{OK: true}
			}
			return fail(fmt.Errorf("%s: %w: no reply within %s", op, ErrTimeout, p.co.timeout))
		}
		return fail(classifyUDP(op, err))
	}
	if p.requireReply {
		if err := p.check(buf[:n]); err != nil {
			return fail(fmt.Errorf("%s: %w", op, err))
		}
	}
	return Result{OK: true}
}

// check is check_udp.c check_udp_reply: the length must lie in
// [min, max]; then only min(len, pattern length) octets are compared.
func (p *udpProber) check(got []byte) error {
	if len(got) < p.minLen || len(got) > p.maxLen {
		return fmt.Errorf("%w: reply length %d outside %d..%d", ErrReply, len(got), p.minLen, p.maxLen)
	}
	if !MatchHexPattern(got, p.reply, p.mask) {
		return fmt.Errorf("%w: reply % x does not match the required pattern", ErrReply, got)
	}
	return nil
}

func classifyUDP(op string, err error) error {
	err = classify(op, err)
	if errors.Is(err, ErrRefused) {
		return fmt.Errorf("%s: %w: icmp port unreachable", op, ErrUnreachable)
	}
	return err
}

// MatchHexPattern compares got with a pattern from config.ParseHexPattern:
// only the first min(len(got), len(data)) octets count, and mask bits are
// wildcards (check_udp.c check_udp_reply).
func MatchHexPattern(got, data, mask []byte) bool {
	n := min(len(got), len(data))
	for i := range n {
		m := byte(0xff)
		if mask != nil {
			m = ^mask[i]
		}
		if (got[i]^data[i])&m != 0 {
			return false
		}
	}
	return true
}
