package ipvsadm

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

// HealthFlag is Fulcrum's extension to the ipvsadm command line: a listing
// of what the health checkers think of every configured real server,
// including those a failure took out of the table (ipvsadm has no such
// view; keepalived only logs it).
const HealthFlag = "--health"

// WriteHealth prints the health listing, one block per service with
// checks, in the order the services are configured.
func WriteHealth(w io.Writer, svcs []api.Service) error {
	var b strings.Builder
	b.WriteString("Prot LocalAddress:Port Quorum\n")
	b.WriteString("  -> RemoteAddress:Port           State     Weight Since                Checks\n")
	for _, s := range svcs {
		h := s.Health
		if h == nil {
			continue
		}
		proto := "TCP "
		addr := s.Address
		switch {
		case s.FWMark != 0:
			proto, addr = "FWM ", fmt.Sprint(s.FWMark)
		case s.Protocol == "udp":
			proto = "UDP "
		}
		q := "down"
		if h.QuorumUp {
			q = "up"
		}
		fmt.Fprintf(&b, "%s %s %s (alive weight %d, quorum %d, hysteresis %d)", proto, addr, q, h.AliveWeight, h.Quorum, h.Hysteresis)
		if h.SorryActive {
			b.WriteString(" sorry server active")
		}
		if h.Suspended {
			b.WriteString(" checks suspended (ha_suspend)")
		}
		b.WriteByte('\n')
		inTable := map[string]int32{}
		for _, r := range s.Reals {
			inTable[r.Address] = r.Weight
		}
		for _, r := range h.Reals {
			// The weight the table really holds: 0 for an inhibited
			// failure, "-" for a server a failure removed.
			weight := "-"
			if w, ok := inTable[r.Address.String()]; ok {
				weight = fmt.Sprint(w)
			}
			since := "-"
			if !r.Since.IsZero() {
				since = r.Since.Local().Format(time.DateTime)
			}
			var checks []string
			for _, c := range r.Checks {
				st := "down"
				switch {
				case !c.HasRun:
					st = "pending"
				case c.Up:
					st = "up"
				}
				checks = append(checks, strings.ToUpper(string(c.Type))+":"+st)
			}
			if len(checks) == 0 {
				checks = []string{"-"}
			}
			fmt.Fprintf(&b, "  -> %-28s %-9s %-6s %-20s %s\n", r.Address.String(), strings.ToUpper(string(r.State)),
				weight, since, strings.Join(checks, ","))
			if r.LastError != "" {
				fmt.Fprintf(&b, "     last error: %s\n", r.LastError)
			}
			for _, t := range r.Transitions {
				fmt.Fprintf(&b, "     %s %-4s %s\n", t.Time.Local().Format(time.DateTime), strings.ToUpper(string(t.State)), t.Reason)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
