package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// This file decodes the health-checking parts of the native YAML: the
// service-level health block with its check_defaults, the real-server
// health block with its checks, and scripts.

// checkDefaults is a service's health.check_defaults: values the checks of
// its real servers inherit when they leave them out (keepalived lets a
// virtual_server give them to every checker below it).
type checkDefaults struct {
	c   Check
	set CheckFieldsSet
	key map[CheckFieldsSet]string // where each set value was written
}

// serviceHealth decodes a service's health block.
func (d *decoder) serviceHealth(n *yaml.Node, path string, h *ServiceHealth, defs *checkDefaults) {
	d.mapping(n, path, []field{
		{"quorum", func(v *yaml.Node, p string) {
			// check_parser.c quorum_handler: 1..UINT_MAX. 0 would read
			// as "unset" in the model, so it is refused here.
			if i, ok := d.integer(v, p, 1, math.MaxUint32); ok {
				h.Quorum = uint32(i)
			}
		}},
		{"hysteresis", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxUint32); ok {
				h.Hysteresis = uint32(i)
			}
		}},
		{"quorum_up", func(v *yaml.Node, p string) { h.QuorumUp = d.script(v, p) }},
		{"quorum_down", func(v *yaml.Node, p string) { h.QuorumDown = d.script(v, p) }},
		{"alpha", func(v *yaml.Node, p string) { d.boolean(v, p, &h.Alpha) }},
		{"omega", func(v *yaml.Node, p string) { d.boolean(v, p, &h.Omega) }},
		{"ha_suspend", func(v *yaml.Node, p string) { d.boolean(v, p, &h.HASuspend) }},
		{"sorry_server_inhibit", func(v *yaml.Node, p string) { d.boolean(v, p, &h.SorryServerInhibit) }},
		{"smtp_alert", func(v *yaml.Node, p string) { d.boolean(v, p, &h.SMTPAlert) }},
		{"check_defaults", func(v *yaml.Node, p string) { d.checkDefaults(v, p, defs) }},
	})
}

// checkDefaults decodes health.check_defaults. Its values are checked here,
// where they are written: a check that inherits one has no key of its own
// for a diagnostic to point at.
func (d *decoder) checkDefaults(n *yaml.Node, path string, defs *checkDefaults) {
	defs.key = map[CheckFieldsSet]string{}
	mark := func(f CheckFieldsSet, p string) {
		if !d.bad[p] {
			defs.set |= f
			defs.key[f] = p
		}
	}
	// timing decodes a duration that must be positive, or at least not
	// negative (check_api.c: delay_loop and connect_timeout at least 1).
	timing := func(f CheckFieldsSet, out *time.Duration, positive bool) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			d.duration(v, p, out)
			switch {
			case d.bad[p]:
			case positive && *out <= 0:
				d.errorf(v, p, "%s must be more than 0", formatDuration(*out))
			case *out < 0:
				d.errorf(v, p, "%s is negative", formatDuration(*out))
			}
			mark(f, p)
		}
	}
	var delayKey string
	delay := func(v *yaml.Node, p string) {
		if delayKey != "" {
			d.report(v, p, "%s and %s are the same setting; give one", lastSegment(delayKey), lastSegment(p))
			return
		}
		delayKey = p
		timing(SetDelayLoop, &defs.c.DelayLoop, true)(v, p)
	}
	d.mapping(n, path, []field{
		{"delay_loop", delay},
		{"interval", delay},
		{"connect_timeout", timing(SetConnectTimeout, &defs.c.ConnectTimeout, true)},
		{"retry", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				defs.c.Retry = int(i)
			}
			mark(SetRetry, p)
		}},
		{"delay_before_retry", timing(SetDelayBeforeRetry, &defs.c.DelayBeforeRetry, false)},
		{"warmup", timing(SetWarmup, &defs.c.Warmup, false)},
	})
}

func lastSegment(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}

// realHealth decodes a real server's health block. It returns, for each
// check, which defaultable fields the check gave itself.
func (d *decoder) realHealth(n *yaml.Node, path string, h *RealHealth) []CheckFieldsSet {
	var sets []CheckFieldsSet
	d.mapping(n, path, []field{
		{"inhibit_on_failure", func(v *yaml.Node, p string) { d.boolean(v, p, &h.InhibitOnFailure) }},
		{"notify_up", func(v *yaml.Node, p string) { h.NotifyUp = d.script(v, p) }},
		{"notify_down", func(v *yaml.Node, p string) { h.NotifyDown = d.script(v, p) }},
		{"smtp_alert", func(v *yaml.Node, p string) { d.boolean(v, p, &h.SMTPAlert) }},
		{"checks", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				c, set := d.check(item, ip)
				h.Checks = append(h.Checks, c)
				sets = append(sets, set)
			})
		}},
	})
	return sets
}

// resolveChecks gives the checks of a service's real servers the values of
// check_defaults they leave out, then the checker type's defaults, so that
// every Check carries the values that apply to it.
func (d *decoder) resolveChecks(path string, s *Service, sets [][]CheckFieldsSet, defs *checkDefaults) {
	inherit := []struct {
		f     CheckFieldsSet
		name  string
		apply func(dst *Check)
		use   func(t CheckType) bool
	}{
		{SetDelayLoop, "delay_loop", func(c *Check) { c.DelayLoop = defs.c.DelayLoop }, checkTimed},
		{SetConnectTimeout, "connect_timeout", func(c *Check) { c.ConnectTimeout = defs.c.ConnectTimeout }, checkConnects},
		{SetRetry, "retry", func(c *Check) { c.Retry = defs.c.Retry }, checkTimed},
		{SetDelayBeforeRetry, "delay_before_retry", func(c *Check) { c.DelayBeforeRetry = defs.c.DelayBeforeRetry }, checkTimed},
		{SetWarmup, "warmup", func(c *Check) { c.Warmup = defs.c.Warmup }, checkTimed},
	}
	for j := range s.Reals {
		for k := range s.Reals[j].Health.Checks {
			c := &s.Reals[j].Health.Checks[k]
			var set CheckFieldsSet
			if j < len(sets) && k < len(sets[j]) {
				set = sets[j][k]
			}
			cp := path + ".reals[" + strconv.Itoa(j) + "].health.checks[" + strconv.Itoa(k) + "]"
			for _, in := range inherit {
				if set.Has(in.f) || !defs.set.Has(in.f) || !in.use(c.Type) {
					continue
				}
				// rise/fall replace retry and delay_before_retry, so
				// defaults for those do not apply to them.
				if (in.f == SetRetry || in.f == SetDelayBeforeRetry) && (c.Rise != 0 || c.Fall != 0) {
					continue
				}
				in.apply(c)
				set |= in.f
				d.origin[join(cp, in.name)] = defs.key[in.f]
			}
			ResolveCheckDefaults(c, set)
		}
	}
}

// check decodes one entry of a real server's health.checks.
func (d *decoder) check(n *yaml.Node, path string) (Check, CheckFieldsSet) {
	var c Check
	var set CheckFieldsSet
	mark := func(f CheckFieldsSet, p string) {
		if !d.bad[p] {
			set |= f
		}
	}
	dur := func(f CheckFieldsSet, out *time.Duration) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			d.duration(v, p, out)
			mark(f, p)
		}
	}
	var delayKey string
	var retryKeys []string // retry, delay_before_retry: keepalived's rule
	var retryNodes []*yaml.Node
	delay := func(v *yaml.Node, p string) {
		if delayKey != "" {
			d.report(v, p, "%s and %s are the same setting; give one", lastSegment(delayKey), lastSegment(p))
			return
		}
		delayKey = p
		d.duration(v, p, &c.DelayLoop)
		mark(SetDelayLoop, p)
		if lastSegment(p) != "delay_loop" {
			d.origin[join(path, "delay_loop")] = p
		}
	}
	port := func(out *uint16) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 1, math.MaxUint16); ok {
				*out = uint16(i)
			}
		}
	}
	count := func(out *int, lo, hi int64) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, lo, hi); ok {
				*out = int(i)
			}
		}
	}
	str := func(out *string) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) { d.str(v, p, out) }
	}
	flag := func(out *bool) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) { d.boolean(v, p, out) }
	}
	addr := func(out *netip.Addr) func(*yaml.Node, string) {
		return func(v *yaml.Node, p string) { d.addr(v, p, out) }
	}
	d.mapping(n, path, []field{
		{"type", func(v *yaml.Node, p string) {
			var s string
			d.str(v, p, &s)
			c.Type = CheckType(s)
		}},
		{"delay_loop", delay},
		{"interval", delay},
		{"connect_timeout", dur(SetConnectTimeout, &c.ConnectTimeout)},
		{"retry", func(v *yaml.Node, p string) {
			retryKeys, retryNodes = append(retryKeys, p), append(retryNodes, v)
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				c.Retry = int(i)
			}
			mark(SetRetry, p)
		}},
		{"delay_before_retry", func(v *yaml.Node, p string) {
			retryKeys, retryNodes = append(retryKeys, p), append(retryNodes, v)
			dur(SetDelayBeforeRetry, &c.DelayBeforeRetry)(v, p)
		}},
		{"warmup", dur(SetWarmup, &c.Warmup)},
		// rise and fall are at least 1; 0 would read as "unset".
		{"rise", count(&c.Rise, 1, math.MaxInt32)},
		{"fall", count(&c.Fall, 1, math.MaxInt32)},
		{"connect_ip", addr(&c.ConnectIP)},
		{"connect_port", port(&c.ConnectPort)},
		{"bindto", addr(&c.BindTo)},
		{"bind_port", port(&c.BindPort)},
		{"bind_if", str(&c.BindIf)},
		{"fwmark", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxUint32); ok {
				c.FWMark = uint32(i)
			}
		}},
		{"urls", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				c.URLs = append(c.URLs, d.checkURL(item, ip))
			})
		}},
		{"http_protocol", func(v *yaml.Node, p string) {
			// An unquoted 1.1 or 1.0 is a YAML float; its text is meant.
			if v = d.scalar(v, p, `a string like "1.1"`, "!!str", "!!float"); v != nil {
				c.HTTPProtocol = v.Value
			}
		}},
		{"virtualhost", str(&c.Virtualhost)},
		{"fast_recovery", flag(&c.FastRecovery)},
		{"enable_sni", flag(&c.EnableSNI)},
		{"sni_name", str(&c.SNIName)},
		{"tls_compliant", flag(&c.TLSCompliant)},
		{"misc_path", func(v *yaml.Node, p string) { c.MiscPath = d.script(v, p) }},
		{"misc_timeout", dur(SetMiscTimeout, &c.MiscTimeout)},
		{"misc_dynamic", flag(&c.MiscDynamic)},
		{"payload", func(v *yaml.Node, p string) {
			if text, ok := d.hexText(v, p); ok {
				data, _, err := ParseHexPattern(text, false)
				if err != nil {
					d.errorf(v, p, "%v (keepalived UDP_CHECK payload: hex octets, spaces allowed)", err)
					return
				}
				c.Payload = data
			}
		}},
		{"require_reply", func(v *yaml.Node, p string) {
			if text, ok := d.hexText(v, p); ok {
				c.RequireReply = text
			}
		}},
		{"min_reply_length", count(&c.MinReplyLength, 0, math.MaxUint16)},
		{"max_reply_length", func(v *yaml.Node, p string) {
			count(&c.MaxReplyLength, 0, math.MaxUint16)(v, p)
			mark(SetMaxReplyLength, p)
		}},
		{"dns_type", str(&c.DNSType)},
		{"dns_name", str(&c.DNSName)},
		{"helo_name", str(&c.HeloName)},
		{"file", str(&c.File)},
		{"file_dynamic", flag(&c.FileDynamic)},
		{"file_weight", count(&c.FileWeight, -math.MaxInt32, math.MaxInt32)},
		{"file_reverse", flag(&c.FileReverse)},
		{"agent_port", port(&c.AgentPort)},
	})
	if c.Rise != 0 || c.Fall != 0 {
		for i, k := range retryKeys {
			if !d.bad[k] {
				d.errorf(retryNodes[i], k, "%s is keepalived's rule (down after retry+1 failures spaced delay_before_retry, up after one success); rise and fall replace it, so give one or the other", lastSegment(k))
			}
		}
	}
	return c, set
}

// hexText reads a hex string. An unquoted run of digits is a YAML
// integer; its text is what was meant.
func (d *decoder) hexText(n *yaml.Node, path string) (string, bool) {
	if n = d.scalar(n, path, "a hex string", "!!str", "!!int"); n == nil {
		return "", false
	}
	return n.Value, true
}

// checkURL decodes one url of an http_get or ssl_get check: a mapping, or
// just its path.
func (d *decoder) checkURL(n *yaml.Node, path string) CheckURL {
	var u CheckURL
	if r := d.resolve(n); r != nil && r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		u.Path = r.Value
		return u
	}
	d.mapping(n, path, []field{
		{"path", func(v *yaml.Node, p string) { d.str(v, p, &u.Path) }},
		{"digest", func(v *yaml.Node, p string) {
			if text, ok := d.hexText(v, p); ok {
				u.Digest = text
			}
		}},
		{"status_codes", func(v *yaml.Node, p string) { u.StatusCodes = d.statusCodes(v, p) }},
		{"virtualhost", func(v *yaml.Node, p string) { d.str(v, p, &u.Virtualhost) }},
		{"regex", func(v *yaml.Node, p string) { d.str(v, p, &u.Regex) }},
		{"regex_no_match", func(v *yaml.Node, p string) { d.boolean(v, p, &u.RegexNoMatch) }},
	})
	return u
}

// statusCodes decodes a list of status codes and "from-to" ranges, or one
// scalar holding them separated by spaces, as keepalived's status_code
// keyword takes them (check_http.c status_code_handler).
//
// In a list each item is one code or range, so that a diagnostic's index
// names the item; a failed item still takes its place.
func (d *decoder) statusCodes(n *yaml.Node, path string) []StatusRange {
	var out []StatusRange
	want := `a status code or a range like "200-299"`
	bad := func(v *yaml.Node, p, f string) {
		d.errorf(v, p, "invalid HTTP status code %q: want a number like 200 or a range like 200-299", f)
	}
	if r := d.resolve(n); r != nil && r.Kind == yaml.ScalarNode && !isNull(r) {
		if r = d.scalar(r, path, want+", or a list of them", "!!int", "!!str"); r == nil {
			return nil
		}
		fields := strings.Fields(r.Value)
		if len(fields) == 0 {
			d.errorf(r, path, "empty status code list")
		}
		for _, f := range fields {
			sr, ok := parseStatusRange(f)
			if !ok {
				bad(r, path, f)
				return nil
			}
			out = append(out, sr)
		}
		return out
	}
	d.sequence(n, path, func(v *yaml.Node, p string) {
		var sr StatusRange
		if v = d.scalar(v, p, want, "!!int", "!!str"); v != nil {
			var ok bool
			if sr, ok = parseStatusRange(v.Value); !ok {
				bad(v, p, v.Value)
			}
		}
		out = append(out, sr)
	})
	return out
}

// parseStatusRange reads "N" or "N-M"; the range itself is Validate's.
func parseStatusRange(s string) (StatusRange, bool) {
	from, to, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(from, 10, 16)
	if err != nil {
		return StatusRange{}, false
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(to, 10, 16); err != nil {
			return StatusRange{}, false
		}
	}
	return StatusRange{From: int(a), To: int(b)}, true
}

// script decodes a script: a command string, or a mapping of command,
// user and group (keepalived: `notify_up "/path/script arg" [user [group]]`).
func (d *decoder) script(n *yaml.Node, path string) *Script {
	r := d.resolve(n)
	if r == nil {
		return nil
	}
	if r.Kind == yaml.ScalarNode && r.ShortTag() == "!!str" {
		return &Script{Command: r.Value}
	}
	if r.Kind != yaml.MappingNode {
		d.errorf(r, path, "expected a command string or a mapping of command, user and group, got %s", describe(r))
		return nil
	}
	s := &Script{}
	d.mapping(r, path, []field{
		{"command", func(v *yaml.Node, p string) { d.str(v, p, &s.Command) }},
		{"user", func(v *yaml.Node, p string) { d.str(v, p, &s.User) }},
		{"group", func(v *yaml.Node, p string) { d.str(v, p, &s.Group) }},
	})
	return s
}

// addr decodes a bare IP address.
func (d *decoder) addr(n *yaml.Node, path string, out *netip.Addr) {
	if n = d.scalar(n, path, "an IP address", "!!str"); n == nil {
		return
	}
	a, err := netip.ParseAddr(n.Value)
	if err != nil {
		d.errorf(n, path, "invalid IP address %q", n.Value)
		return
	}
	*out = a
}
