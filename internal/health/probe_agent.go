package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// maxAgentLine bounds what an agent may send before its line ends.
const maxAgentLine = 1024

// agentProber is HAProxy's agent-check (src/tcpcheck.c
// tcpcheck_agent_expect_reply): connect to the agent port, read one line
// and apply its words. States persist between replies as in HAProxy: a
// "drain" holds until "ready", a weight until the next weight. The
// operational state (up; down, fail, stopped) and the administrative state
// (ready, drain, maint) combine: the check passes while up and not in
// maint; drain passes with weight 0; "NN%" sets the weight to the
// configured weight × NN / 100.
//
// One divergence: HAProxy does not count a failure to reach the agent
// against the server, because its regular health check tests
// connectivity. Here the agent may be the only check, so failing to
// connect or read fails the check.
type agentProber struct {
	co   connOpts
	base int32

	mu     sync.Mutex
	down   bool
	admin  string // "ready", "drain" or "maint"
	pct    int64
	hasPct bool
}

func newAgentProber(c config.Check, co connOpts, opt ProbeOptions) (*agentProber, error) {
	if c.AgentPort == 0 {
		return nil, errors.New("agent check has no agent_port")
	}
	co.dst = netip.AddrPortFrom(co.dst.Addr(), c.AgentPort)
	return &agentProber{co: co, base: opt.Weight, admin: "ready"}, nil
}

func (p *agentProber) Probe(ctx context.Context) Result {
	conn, done, err := p.co.dial(ctx, "tcp")
	if err != nil {
		return fail(err)
	}
	defer done()
	op := "agent " + p.co.dst.String()
	var (
		buf  = make([]byte, 256)
		data []byte
	)
	for {
		conn.SetReadDeadline(p.co.deadline())
		n, rerr := conn.Read(buf)
		data = append(data, buf[:n]...)
		if bytes.ContainsAny(data, "\r\n") {
			break
		}
		if len(data) > maxAgentLine {
			return fail(fmt.Errorf("%s: %w: line longer than %d bytes", op, ErrReply, maxAgentLine))
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				// "Ignoring incomplete line from agent": the states stay.
				return p.verdict(op, fmt.Errorf("%s: ignoring incomplete line %q", op, data))
			}
			return fail(classify(op, rerr))
		}
	}
	reply := ParseAgentLine(string(data))
	p.mu.Lock()
	if reply.Health != "" {
		p.down = reply.Health != "up"
	}
	if reply.Admin != "" {
		p.admin = reply.Admin
	}
	if reply.HasWeight {
		p.pct, p.hasPct = reply.WeightPct, true
	}
	p.mu.Unlock()
	var note error
	if reply.Unknown != "" {
		note = fmt.Errorf("%s: agent reports an error: %s", op, reply.Unknown)
	}
	return p.verdict(op, note)
}

func (p *agentProber) verdict(op string, note error) Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.down:
		return fail(fmt.Errorf("%s: %w", op, ErrAgentDown))
	case p.admin == "maint":
		return fail(fmt.Errorf("%s: %w", op, ErrAgentMaint))
	case p.admin == "drain":
		return Result{OK: true, Err: note, Weight: weightPtr(0)}
	case p.hasPct:
		return Result{OK: true, Err: note, Weight: weightPtr(clampInt32(mulSat(int64(p.base), p.pct) / 100))}
	}
	return Result{OK: true, Err: note}
}

// AgentReply is what one agent line says; empty fields were not said.
type AgentReply struct {
	Health      string // "up" or "down" (down, fail, stopped)
	Admin       string // "ready", "drain" or "maint"
	WeightPct   int64
	HasWeight   bool
	Description string // text after '#'
	Unknown     string // the first word that was not understood
}

// ParseAgentLine parses an agent reply as tcpcheck_agent_expect_reply:
// the line ends at the first CR or LF; words are separated by spaces,
// tabs or commas and compared case-insensitively; '#' starts a
// description; a word that starts with a digit and contains '%' is a
// weight; maxconn:N is accepted and ignored; when a category repeats, the
// last word wins.
func ParseAgentLine(s string) AgentReply {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	var r AgentReply
	for len(s) > 0 {
		c := s[0]
		if c == ' ' || c == '\t' || c == ',' {
			s = s[1:]
			continue
		}
		if c == '#' {
			r.Description = strings.TrimLeft(s[1:], " \t")
			break
		}
		end := strings.IndexAny(s, " \t,")
		if end < 0 {
			end = len(s)
		}
		w := s[:end]
		s = s[end:]
		switch lw := strings.ToLower(w); {
		case lw == "up":
			r.Health = "up"
		case lw == "down" || lw == "fail" || lw == "stopped":
			r.Health = "down"
		case lw == "ready" || lw == "drain" || lw == "maint":
			r.Admin = lw
		case w[0] >= '0' && w[0] <= '9' && strings.Contains(w, "%"):
			// server_parse_weight_change_request: digits then '%'.
			if v, ok := parsePercent(w); ok {
				r.WeightPct, r.HasWeight = v, true
			} else if r.Unknown == "" {
				r.Unknown = w
			}
		case strings.HasPrefix(lw, "maxconn:"):
		default:
			if r.Unknown == "" {
				r.Unknown = w
			}
		}
	}
	return r
}

func parsePercent(w string) (int64, bool) {
	i := strings.IndexByte(w, '%')
	if i != len(w)-1 {
		return 0, false
	}
	v := atoi(w[:i])
	for _, c := range w[:i] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	return v, true
}
