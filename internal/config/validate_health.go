package config

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Validation of health checking: checks are held to what keepalived's
// check_*.c parsers accept, and to what a Fulcrum checker can run.

// dnsTypes are the query types DNS_CHECK knows (check_dns.c DNS_TYPE).
var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"}

// httpProtocols are HTTP_GET's http_protocol values (check_http.c).
var httpProtocols = []string{"1.0", "1.0C", "1.1"}

// checkField is a Check setting that only some checker types take.
type checkField struct {
	name    string
	set     func(c *Check) bool
	applies func(t CheckType) bool
}

func isType(ts ...CheckType) func(CheckType) bool {
	return func(t CheckType) bool { return slices.Contains(ts, t) }
}

// checkFields lists the settings whose presence depends on the type, so
// that a setting given to a checker that ignores it is reported instead
// of silently doing nothing.
var checkFields = []checkField{
	{"delay_loop", func(c *Check) bool { return c.DelayLoop != 0 }, checkTimed},
	{"retry", func(c *Check) bool { return c.Retry != 0 }, checkTimed},
	{"delay_before_retry", func(c *Check) bool { return c.DelayBeforeRetry != 0 }, checkTimed},
	{"warmup", func(c *Check) bool { return c.Warmup != 0 }, checkTimed},
	{"rise", func(c *Check) bool { return c.Rise != 0 }, checkTimed},
	{"fall", func(c *Check) bool { return c.Fall != 0 }, checkTimed},
	{"connect_timeout", func(c *Check) bool { return c.ConnectTimeout != 0 }, checkConnects},
	{"connect_ip", func(c *Check) bool { return c.ConnectIP.IsValid() }, checkConnects},
	{"connect_port", func(c *Check) bool { return c.ConnectPort != 0 }, isType(CheckHTTP, CheckSSL, CheckTCP, CheckUDP, CheckDNS, CheckSMTP)},
	{"bindto", func(c *Check) bool { return c.BindTo.IsValid() }, checkConnects},
	{"bind_port", func(c *Check) bool { return c.BindPort != 0 }, isType(CheckHTTP, CheckSSL, CheckTCP, CheckUDP, CheckDNS, CheckSMTP, CheckAgent)},
	{"bind_if", func(c *Check) bool { return c.BindIf != "" }, checkConnects},
	{"fwmark", func(c *Check) bool { return c.FWMark != 0 }, checkConnects},
	{"urls", func(c *Check) bool { return len(c.URLs) != 0 }, isType(CheckHTTP, CheckSSL)},
	{"http_protocol", func(c *Check) bool { return c.HTTPProtocol != "" }, isType(CheckHTTP, CheckSSL)},
	{"virtualhost", func(c *Check) bool { return c.Virtualhost != "" }, isType(CheckHTTP, CheckSSL)},
	{"fast_recovery", func(c *Check) bool { return c.FastRecovery }, isType(CheckHTTP, CheckSSL)},
	{"enable_sni", func(c *Check) bool { return c.EnableSNI }, isType(CheckSSL)},
	{"sni_name", func(c *Check) bool { return c.SNIName != "" }, isType(CheckSSL)},
	{"tls_compliant", func(c *Check) bool { return c.TLSCompliant }, isType(CheckSSL)},
	{"misc_path", func(c *Check) bool { return c.MiscPath != nil }, isType(CheckMisc)},
	{"misc_timeout", func(c *Check) bool { return c.MiscTimeout != 0 }, isType(CheckMisc)},
	{"misc_dynamic", func(c *Check) bool { return c.MiscDynamic }, isType(CheckMisc)},
	{"payload", func(c *Check) bool { return len(c.Payload) != 0 }, isType(CheckUDP)},
	{"require_reply", func(c *Check) bool { return c.RequireReply != "" }, isType(CheckUDP)},
	{"min_reply_length", func(c *Check) bool { return c.MinReplyLength != 0 }, isType(CheckUDP)},
	{"max_reply_length", func(c *Check) bool { return c.MaxReplyLength != 0 }, isType(CheckUDP)},
	{"dns_type", func(c *Check) bool { return c.DNSType != "" }, isType(CheckDNS)},
	{"dns_name", func(c *Check) bool { return c.DNSName != "" }, isType(CheckDNS)},
	{"helo_name", func(c *Check) bool { return c.HeloName != "" }, isType(CheckSMTP)},
	{"file", func(c *Check) bool { return c.File != "" }, isType(CheckFile)},
	{"file_dynamic", func(c *Check) bool { return c.FileDynamic }, isType(CheckFile)},
	{"file_weight", func(c *Check) bool { return c.FileWeight != 0 }, isType(CheckFile)},
	{"file_reverse", func(c *Check) bool { return c.FileReverse }, isType(CheckFile)},
	{"agent_port", func(c *Check) bool { return c.AgentPort != 0 }, isType(CheckAgent)},
}

func checkTypeList() string {
	names := make([]string, len(CheckTypes))
	for i, t := range CheckTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

func (v *validator) serviceHealth(p string, s *Service) {
	h := &s.Health
	hp := p + ".health"
	v.script(hp+".quorum_up", h.QuorumUp)
	v.script(hp+".quorum_down", h.QuorumDown)
	if h.SMTPAlert {
		v.smtpAlert(hp + ".smtp_alert")
	}
	if h.SorryServerInhibit && !s.SorryServer.IsValid() {
		v.warnf(hp+".sorry_server_inhibit", "has no effect: the service has no sorry_server")
	}
	// ipwrapper.c: quorum is gained at sum >= quorum + hysteresis and lost
	// at sum == 0 or sum < quorum - hysteresis, sum being the weights of
	// the alive real servers. Quorum 0 in the model is the default, 1.
	quorum := uint64(max(h.Quorum, 1))
	hyst := uint64(h.Hysteresis)
	if h.Hysteresis != 0 && hyst >= quorum {
		v.warnf(hp+".hysteresis", "%d is not below quorum %d: quorum is lost only when no real server is alive", h.Hysteresis, quorum)
	}
	var total uint64
	dynamic := false
	for _, r := range s.Reals {
		total += uint64(max(r.Weight, 0))
		for _, c := range r.Health.Checks {
			dynamic = dynamic || c.MiscDynamic || c.FileDynamic || c.FileWeight != 0
		}
	}
	// Only a quorum the config sets is checked: the default of 1 against
	// all-quiescent (weight 0) real servers is an ordinary ipvsadm table.
	if (h.Quorum != 0 || h.Hysteresis != 0) && !dynamic && len(s.Reals) > 0 && quorum+hyst > total {
		key := hp + ".quorum"
		if h.Quorum == 0 {
			key = hp + ".hysteresis"
		}
		v.warnf(key, "quorum %d + hysteresis %d exceeds the sum of the real servers' weights (%d): the service never gains quorum", quorum, hyst, total)
	}
}

func (v *validator) realHealth(rp string, r *Real) {
	h := &r.Health
	hp := rp + ".health"
	v.script(hp+".notify_up", h.NotifyUp)
	v.script(hp+".notify_down", h.NotifyDown)
	if h.SMTPAlert {
		v.smtpAlert(hp + ".smtp_alert")
	}
	dynamic := -1
	for k := range h.Checks {
		cp := fmt.Sprintf("%s.checks[%d]", hp, k)
		c := &h.Checks[k]
		v.check(cp, r, c)
		if c.Type == CheckMisc && c.MiscDynamic {
			if dynamic >= 0 {
				// check_misc.c misc_dynamic_handler.
				v.warnf(cp+".misc_dynamic", "more than one dynamic misc_check on a real server (also checks[%d]): their weights overwrite each other", dynamic)
			} else {
				dynamic = k
			}
		}
	}
}

func (v *validator) check(cp string, r *Real, c *Check) {
	switch {
	case c.Type == "":
		v.errorf(cp+".type", "missing: want one of %s", checkTypeList())
		return
	case slices.Contains(CheckTypes, c.Type):
	case slices.Contains(CheckTypes, CheckType(strings.ToLower(string(c.Type)))):
		v.errorf(cp+".type", "unknown check type %q: types are lower case (%s)", c.Type, strings.ToLower(string(c.Type)))
		return
	default:
		v.errorf(cp+".type", "unknown check type %q: want one of %s", c.Type, checkTypeList())
		return
	}
	for _, f := range checkFields {
		if f.set(c) && !f.applies(c.Type) {
			v.errorf(cp+"."+f.name, "does not apply to a %s", c.Type)
		}
	}
	if checkTimed(c.Type) {
		v.checkTiming(cp, c)
	}
	if checkConnects(c.Type) {
		v.checkConnection(cp, r, c)
	}
	switch c.Type {
	case CheckHTTP, CheckSSL:
		v.checkHTTP(cp, c)
	case CheckMisc:
		if c.MiscPath == nil {
			// check_misc.c misc_end_handler: "No script path has been
			// specified for MISC_CHECKER - skipping".
			v.errorf(cp+".misc_path", "missing: a misc_check runs this script")
		} else {
			v.script(cp+".misc_path", c.MiscPath)
		}
		if c.MiscTimeout <= 0 {
			v.errorf(cp+".misc_timeout", "%s must be more than 0 (leave it out for delay_loop)", formatDuration(c.MiscTimeout))
		}
	case CheckUDP:
		if c.RequireReply != "" {
			if _, _, err := ParseHexPattern(c.RequireReply, true); err != nil {
				v.errorf(cp+".require_reply", "%v (hex octets, x for a wildcard nibble)", err)
			}
		}
		for _, l := range []struct {
			name string
			n    int
		}{{"min_reply_length", c.MinReplyLength}, {"max_reply_length", c.MaxReplyLength}} {
			if l.n < 0 || l.n > math.MaxUint16 {
				v.errorf(cp+"."+l.name, "%d is out of range 0..%d", l.n, math.MaxUint16)
			}
		}
		if c.MinReplyLength > c.MaxReplyLength {
			// check_udp.c udp_check_end_handler.
			v.warnf(cp+".min_reply_length", "%d is more than max_reply_length %d: the check always fails", c.MinReplyLength, c.MaxReplyLength)
		}
	case CheckDNS:
		if !slices.Contains(dnsTypes, c.DNSType) {
			v.errorf(cp+".dns_type", "unknown DNS query type %q: want one of %s", c.DNSType, strings.Join(dnsTypes, ", "))
		}
		if msg := dnsNameProblem(c.DNSName); msg != "" {
			v.errorf(cp+".dns_name", "%q %s", c.DNSName, msg)
		}
	case CheckSMTP:
		if hasSpace(c.HeloName) {
			v.errorf(cp+".helo_name", "%q contains white space or control characters", c.HeloName)
		}
	case CheckFile:
		if c.File == "" {
			// check_file.c file_end_handler: "FILE_CHECK has no
			// track_file specified".
			v.errorf(cp+".file", "missing: a file_check follows this file")
		}
		if c.FileWeight < -math.MaxInt32 || c.FileWeight > math.MaxInt32 {
			v.errorf(cp+".file_weight", "%d is out of range %d..%d", c.FileWeight, -math.MaxInt32, math.MaxInt32)
		}
	case CheckAgent:
		if c.AgentPort == 0 {
			v.errorf(cp+".agent_port", "missing: an agent check asks the agent on this port")
		}
	}
}

// checkTiming holds the timing to the ranges of check_api.c's keyword
// handlers: delay_loop and connect_timeout at least 1 unit, the others
// not negative.
func (v *validator) checkTiming(cp string, c *Check) {
	if c.DelayLoop <= 0 {
		v.errorf(cp+".delay_loop", "%s must be more than 0", formatDuration(c.DelayLoop))
	}
	if c.Retry < 0 {
		v.errorf(cp+".retry", "%d is negative", c.Retry)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"delay_before_retry", c.DelayBeforeRetry}, {"warmup", c.Warmup}} {
		if d.v < 0 {
			v.errorf(cp+"."+d.name, "%s is negative", formatDuration(d.v))
		}
	}
	switch {
	case c.Rise < 0:
		v.errorf(cp+".rise", "%d is negative", c.Rise)
	case c.Fall < 0:
		v.errorf(cp+".fall", "%d is negative", c.Fall)
	case c.Rise == 0 && c.Fall != 0:
		v.errorf(cp+".rise", "missing: rise and fall go together (fall is %d)", c.Fall)
	case c.Fall == 0 && c.Rise != 0:
		v.errorf(cp+".fall", "missing: rise and fall go together (rise is %d)", c.Rise)
	case c.Rise != 0:
		// The model: with rise and fall, checks run every delay_loop.
		if c.Retry != 0 {
			v.errorf(cp+".retry", "does not apply with rise and fall, which replace keepalived's retry rule")
		}
		if c.DelayBeforeRetry != 0 {
			v.errorf(cp+".delay_before_retry", "does not apply with rise and fall: every check is delay_loop apart")
		}
	}
}

func (v *validator) checkConnection(cp string, r *Real, c *Check) {
	if checkConnects(c.Type) && c.ConnectTimeout <= 0 {
		v.errorf(cp+".connect_timeout", "%s must be more than 0", formatDuration(c.ConnectTimeout))
	}
	dst := r.Address.Addr()
	if c.ConnectIP.IsValid() {
		dst = c.ConnectIP
		switch {
		case c.ConnectIP.Zone() != "":
			v.errorf(cp+".connect_ip", "%s has an IPv6 zone; give the interface in bind_if", c.ConnectIP)
		case c.ConnectIP.IsUnspecified():
			v.errorf(cp+".connect_ip", "%s is the unspecified address", c.ConnectIP)
		}
	}
	if c.BindTo.IsValid() {
		switch {
		case c.BindTo.Zone() != "":
			v.errorf(cp+".bindto", "%s has an IPv6 zone; give the interface in bind_if", c.BindTo)
		case dst.IsValid() && c.BindTo.Is4() != dst.Is4():
			// check_api.c co_srcip_handler: "bindto address %s does not
			// match address family of connect_ip".
			v.errorf(cp+".bindto", "%s does not match the address family of %s", c.BindTo, dst)
		}
	}
	if c.BindIf != "" {
		if msg := ifNameProblem(c.BindIf); msg != "" {
			v.errorf(cp+".bind_if", "%q %s", c.BindIf, msg)
		}
	} else if dst.Is6() && dst.IsLinkLocalUnicast() {
		// check_api.c check_conn_opts: "Checker link local address %s
		// requires a bind_if".
		v.errorf(cp+".bind_if", "missing: the link-local destination %s needs an interface", dst)
	}
}

func (v *validator) checkHTTP(cp string, c *Check) {
	if len(c.URLs) == 0 {
		// check_http.c http_get_check: "HTTP/SSL_GET checker has no urls
		// specified - ignoring".
		v.errorf(cp+".urls", "missing: an %s check needs at least one url", c.Type)
	}
	if !slices.Contains(httpProtocols, c.HTTPProtocol) {
		v.errorf(cp+".http_protocol", "unknown HTTP protocol %q: want 1.0, 1.0C or 1.1", c.HTTPProtocol)
	}
	if hasSpace(c.Virtualhost) {
		v.errorf(cp+".virtualhost", "%q contains white space or control characters", c.Virtualhost)
	}
	if hasSpace(c.SNIName) {
		v.errorf(cp+".sni_name", "%q contains white space or control characters", c.SNIName)
	}
	for i, u := range c.URLs {
		up := fmt.Sprintf("%s.urls[%d]", cp, i)
		switch {
		case u.Path == "":
			v.errorf(up+".path", "missing: the path to request, like /health")
		case hasSpace(u.Path):
			// It goes into the request line: GET <path> HTTP/1.0.
			v.errorf(up+".path", "%q contains white space or control characters", u.Path)
		}
		if u.Digest != "" && !isHex(u.Digest, 32) {
			// check_http.c digest_handler: 2 * MD5_DIGEST_LENGTH hex digits.
			v.errorf(up+".digest", "%q is not an MD5 digest: want 32 hex digits, as genhash prints", u.Digest)
		}
		for j, sr := range u.StatusCodes {
			// check_http.c status_code_handler: HTTP_STATUS_CODE_MIN..MAX
			// (100..599) and min <= max.
			sp := fmt.Sprintf("%s.status_codes[%d]", up, j)
			switch {
			case sr.From < 100 || sr.From > 599 || sr.To < 100 || sr.To > 599:
				v.errorf(sp, "%s is out of range 100..599", sr)
			case sr.From > sr.To:
				v.errorf(sp, "%s is an empty range: %d is more than %d", sr, sr.From, sr.To)
			}
		}
		if hasSpace(u.Virtualhost) {
			v.errorf(up+".virtualhost", "%q contains white space or control characters", u.Virtualhost)
		}
		if u.Regex != "" {
			if _, err := regexp.Compile(u.Regex); err != nil {
				// keepalived uses PCRE2; a Fulcrum checker runs RE2.
				v.errorf(up+".regex", "invalid regular expression (RE2 syntax): %v", err)
			}
		} else if u.RegexNoMatch {
			v.errorf(up+".regex_no_match", "needs a regex")
		}
	}
}

// String formats a status range as keepalived writes it: 200 or 200-299.
func (r StatusRange) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// script checks a script setting; a nil script is not set.
func (v *validator) script(key string, s *Script) {
	if s == nil {
		return
	}
	if strings.TrimSpace(s.Command) == "" {
		v.errorf(key, "empty command")
	}
	if s.Group != "" && s.User == "" {
		// keepalived: `script [user [group]]`.
		v.errorf(key+".group", "a group needs a user")
	}
}

// smtpAlert records a setting that asks for e-mail; Validate warns once
// when e-mail cannot be sent.
func (v *validator) smtpAlert(key string) {
	if v.firstSMTPAlert == "" {
		v.firstSMTPAlert = key
	}
}

func hasSpace(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(s[i])) {
			return false
		}
	}
	return true
}

// dnsNameProblem checks a query name as check_dns.c dns_name_handler does
// (no empty label; "." alone is the root), plus the wire format's limits
// (RFC 1035 section 2.3.4: labels of 63 octets, names of 255).
func dnsNameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case name == ".":
		return ""
	case hasSpace(name):
		return "contains white space or control characters"
	case len(name) > 253:
		return "is longer than 253 characters"
	}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		switch {
		case l == "":
			return "has an empty label"
		case len(l) > 63:
			return "has a label longer than 63 characters"
		}
	}
	return ""
}

// ifNameProblem checks an interface name as the kernel's dev_valid_name
// does: 1..15 bytes (IFNAMSIZ 16 with the NUL), no '/', ':' or white
// space, not "." or "..". A label (eth0:1) is checked by labelProblem.
func ifNameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > 15:
		return "is longer than 15 bytes (IFNAMSIZ)"
	case name == "." || name == "..":
		return "is not an interface name"
	case strings.ContainsAny(name, "/:") || hasSpace(name):
		return "contains '/', ':' or white space"
	}
	return ""
}

// addrFamilyName names an address's family for messages.
func addrFamilyName(a netip.Addr) string { return family(a.Is6()) }
