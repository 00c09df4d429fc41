package keepalived

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Checkers: check_api.c install_checkers_keyword and the check_*.c files.

const (
	// smtpDefaultHelo is SMTP_DEFAULT_HELO (check_smtp.h).
	smtpDefaultHelo = "smtpchecker.keepalived.org"
	// dnsDefaultRetry, dnsDefaultType and dnsDefaultName are check_dns.h's.
	dnsDefaultRetry = 3
	dnsDefaultType  = "SOA"
	dnsDefaultName  = "."
	// httpStatusMin and httpStatusMax bound status_code (check_http.h).
	httpStatusMin = 100
	httpStatusMax = 599
)

// dnsTypes is check_dns.c DNS_TYPE.
var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"}

func checkerKeywords() []*keyword {
	return join([]*keyword{
		block("MISC_CHECK", 0, newChecker(config.CheckMisc), miscEnd, join(commonKeywords(false), []*keyword{
			kw("misc_path", -1, func(c *cmd) {
				ws, ok := c.quoted()
				if !ok {
					return
				}
				c.used = len(ws) - 1
				if len(ws) < 2 || strings.TrimSpace(ws[1]) == "" {
					return
				}
				c.chk().misc = &config.Script{Command: ws[1]}
				c.fullPath(ws[1])
				c.st().scripts++
				if len(ws) > 2 {
					c.used = 1
					c.err("keepalived runs only %q: put the script and its arguments in quotes, as in misc_path \"%s\"", ws[1], strings.Join(ws[1:], " "))
				}
			}),
			kw("misc_timeout", 1, func(c *cmd) {
				s, ok := c.arg(1)
				if !ok {
					return
				}
				n, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32/timerHz, true)
				if !tOK {
					c.warn("Invalid misc_timeout value '%s'", s)
				}
				if ok {
					c.chk().miscTimeout = time.Duration(n) * time.Second
				}
			}),
			kw("misc_dynamic", 0, func(c *cmd) {
				for _, o := range c.rs().checks {
					if o.typ == config.CheckMisc && o.miscDynamic && o != c.chk() {
						c.warn("Warning - more than one dynamic misc checker per real server will cause problems")
						break
					}
				}
				c.chk().miscDynamic = true
			}),
			kw("user", 2, func(c *cmd) {
				if !c.has(1) {
					c.warn("No user specified for misc checker script %s", scriptCmd(c.chk().misc))
					return
				}
				c.chk().miscUser = c.args[1]
				if c.has(2) {
					c.chk().miscGroup = c.args[2]
				}
			}),
		})...),
		block("SMTP_CHECK", 0, newChecker(config.CheckSMTP), smtpEnd, join([]*keyword{
			kw("helo_name", 1, func(c *cmd) {
				if !c.has(1) {
					c.warn("SMTP_CHECK helo name missing")
					return
				}
				c.chk().helo = c.args[1]
			}),
		}, commonKeywords(true), []*keyword{
			block("host", 0, smtpHostStart, smtpHostEnd, commonKeywords(true)...),
		})...),
		block("TCP_CHECK", 0, newChecker(config.CheckTCP), connEnd, commonKeywords(true)...),
		httpChecker("HTTP_GET", config.CheckHTTP),
		httpChecker("SSL_GET", config.CheckSSL),
		block("DNS_CHECK", 0, newChecker(config.CheckDNS), dnsEnd, join(commonKeywords(true), []*keyword{
			kw("type", 1, func(c *cmd) {
				s, ok := c.arg(1)
				if !ok {
					return
				}
				for _, t := range dnsTypes {
					if strings.EqualFold(t, s) {
						c.chk().dnsType = t
						return
					}
				}
				c.warn("Unknown DNS check type %s - ignoring", s)
			}),
			kw("name", 1, func(c *cmd) {
				s, ok := c.arg(1)
				if !ok {
					return
				}
				if c.chk().dnsName != "" {
					c.warn("DNS_CHECK name already specified - ignoring")
					return
				}
				if (strings.HasPrefix(s, ".") && s != ".") || strings.Contains(s, "..") {
					c.warn("DNS_CHECK name '%s' has empty label - ignoring", s)
					return
				}
				c.chk().dnsName = s
			}),
		})...),
		block("UDP_CHECK", 0, newChecker(config.CheckUDP), udpEnd, join(commonKeywords(true), []*keyword{
			kw("payload", -1, func(c *cmd) {
				if !c.has(1) {
					c.warn("UDP_CHECK payload requires a payload")
					return
				}
				b, _, err := config.ParseHexPattern(strings.Join(c.args[1:], " "), false)
				if err != nil || len(b) == 0 {
					c.warn("Invalid hex string for UDP_CHECK payload")
					return
				}
				c.chk().payload = b
			}),
			kw("require_reply", -1, func(c *cmd) {
				k := c.chk()
				k.requireReply = true
				if !c.has(1) {
					return
				}
				s := strings.Join(c.args[1:], " ")
				if b, _, err := config.ParseHexPattern(s, true); err != nil || len(b) == 0 {
					c.warn("Invalid hex string for UDP_CHECK reply")
					return
				}
				k.reply = s
			}),
			kw("min_reply_length", 1, func(c *cmd) { c.replyLen(&c.chk().minLen, "min") }),
			kw("max_reply_length", 1, func(c *cmd) { c.replyLen(&c.chk().maxLen, "max") }),
		})...),
		block("PING_CHECK", 0, newChecker(config.CheckPing), connEnd, commonKeywords(true)...),
		block("FILE_CHECK", 0, newChecker(config.CheckFile), fileEnd,
			kw("track_file", 1, func(c *cmd) {
				s, ok := c.arg(1)
				if !ok {
					return
				}
				if !c.st().hasTrackFile(s) {
					c.warn("track_file %s not found", s)
					return
				}
				c.chk().trackFile = s
			}),
			kw("weight", 2, func(c *cmd) {
				k := c.chk()
				s, ok := c.arg(1)
				if !ok {
					c.warn("track file weight missing")
					return
				}
				n, ok, tOK := c.readInt(s, -ipvsWeightLimit, ipvsWeightLimit, true)
				if !tOK {
					c.warn("weight for track file must be in [%d..%d] inclusive. Ignoring...", -ipvsWeightLimit, ipvsWeightLimit)
				}
				if !ok {
					return
				}
				k.fileWeight, k.fileWSet = int(n), true
				if c.has(2) {
					switch c.args[2] {
					case "reverse":
						k.fileReverse = true
					case "noreverse":
						k.fileReverse = false
					default:
						c.warn("unknown track file weight option %s - ignoring", c.args[2])
					}
				}
			}),
		),
	}, ignBlock("BFD_CHECK"))
}

func (c *cmd) chk() *checker {
	if k := c.st().curChk; k != nil {
		return k
	}
	return &checker{co: conn{connTo: unset}}
}

// url is the url{} block being read.
func (c *cmd) url() *config.CheckURL {
	if u := c.st().curURL; u != nil {
		return u
	}
	return &config.CheckURL{}
}

// newChecker is queue_checker with each type's defaults: retry 1
// (MISC_CHECK 0, DNS_CHECK 3) and delay_before_retry 1 s (HTTP_GET and
// SSL_GET 3 s, DNS_CHECK the delay_loop).
func newChecker(t config.CheckType) func(*cmd) {
	return func(c *cmd) {
		k := &checker{at: c.at, typ: t, retry: unset, defRetry: 1, dbr: unset, defDBR: time.Second,
			delayLoop: unset, warmup: unset, alpha: unset, co: conn{connTo: unset}, minLen: 0, maxLen: math.MaxUint8}
		switch t {
		case config.CheckMisc:
			k.defRetry = 0
		case config.CheckDNS:
			k.defRetry, k.defDBR = dnsDefaultRetry, 0
		case config.CheckHTTP, config.CheckSSL:
			k.defDBR = 3 * time.Second
		}
		c.st().curChk = k
	}
}

// finish adds the current checker to its real server.
func (p *pass) finish() *checker {
	k := p.st.curChk
	p.st.curChk = nil
	if k == nil || p.st.curRS == nil {
		return nil
	}
	p.st.curRS.checks = append(p.st.curRS.checks, k)
	return k
}

// connEnd checks the connection options (check_conn_opts).
func connEnd(p *pass) {
	if k := p.finish(); k != nil {
		p.checkConn(k)
	}
}

func (p *pass) checkConn(k *checker) {
	dst := k.co.connectIP
	if !dst.IsValid() && p.st.curRS != nil {
		dst = p.st.curRS.addr
	}
	if dst.Is6() && dst.IsLinkLocalUnicast() && k.co.bindIf == "" {
		p.sink.warnf(p.here(), "Checker link local address %s requires a bind_if", dst)
		k.dropped = true
	}
}

// commonKeywords is install_checker_common_keywords.
func commonKeywords(connection bool) []*keyword {
	var kws []*keyword
	if connection {
		kws = append(kws,
			kw("connect_ip", 1, func(c *cmd) {
				k := c.chk()
				s, ok := c.arg(1)
				if !ok {
					return
				}
				a, err := netip.ParseAddr(s)
				if err != nil {
					c.warn("Invalid connect_ip address %s - ignoring", s)
					return
				}
				a = a.Unmap()
				if k.co.bindTo.IsValid() && k.co.bindTo.Is6() != a.Is6() {
					c.warn("connect_ip address %s does not match address family of bindto - skipping", s)
					return
				}
				k.co.connectIP = a
			}),
			kw("connect_port", 1, func(c *cmd) {
				if n, ok := c.port("Invalid checker connect_port '%s'"); ok {
					c.chk().co.connectPort = n
				}
			}),
			kw("bindto", 1, func(c *cmd) {
				k := c.chk()
				s, ok := c.arg(1)
				if !ok {
					return
				}
				a, err := netip.ParseAddr(s)
				if err != nil {
					c.warn("Invalid bindto address %s - ignoring", s)
					return
				}
				a = a.Unmap()
				if k.co.connectIP.IsValid() && k.co.connectIP.Is6() != a.Is6() {
					c.warn("bindto address %s does not match address family of connect_ip - skipping", s)
					return
				}
				k.co.bindTo = a
			}),
			kw("bind_port", 1, func(c *cmd) {
				if n, ok := c.port("Invalid checker bind_port '%s'"); ok {
					c.chk().co.bindPort = n
				}
			}),
			kw("bind_if", 1, func(c *cmd) {
				s, ok := c.arg(1)
				if !ok {
					return
				}
				if len(s) >= ifNameSize {
					c.warn("Interface name %s is too long - ignoring", s)
					return
				}
				c.chk().co.bindIf = s
			}),
			kw("connect_timeout", 1, func(c *cmd) {
				if d, ok := c.timer(1, math.MaxUint32, "connect_timeout %s invalid - ignoring"); ok {
					c.chk().co.connTo = d
				}
			}),
			kw("fwmark", 1, func(c *cmd) {
				s, ok := c.arg(1)
				if !ok {
					return
				}
				n, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32, true)
				if !tOK {
					c.warn("Invalid fwmark connection value '%s'", s)
				}
				if ok {
					c.chk().co.fwmark = uint32(n)
				}
			}),
		)
	}
	return append(kws,
		kw("retry", 1, func(c *cmd) {
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32, true)
			if !tOK {
				c.warn("Invalid retry connection value '%s'", s)
			}
			if ok {
				c.chk().retry = int(min(n, math.MaxInt32))
			}
		}),
		kw("delay_before_retry", 1, func(c *cmd) {
			if d, ok := c.timer(0, 0, "Invalid delay_before_retry connection value '%s'"); ok {
				c.chk().dbr = d
			}
		}),
		kw("warmup", 1, func(c *cmd) {
			if d, ok := c.timer(0, 0, "Invalid warmup connection value '%s'"); ok {
				c.chk().warmup = d
			}
		}),
		kw("delay_loop", 1, func(c *cmd) {
			if d, ok := c.timer(1, 0, "delay_loop '%s' is invalid - ignoring"); ok {
				c.chk().delayLoop = d
			}
		}),
		kw("alpha", 1, func(c *cmd) {
			if b, ok := c.flag("Invalid alpha parameter %s"); ok {
				c.chk().alpha = b2i(b)
			}
		}),
		kw("log_all_failures", 1, (*cmd).ignored),
	)
}

func (c *cmd) port(bad string) (uint16, bool) {
	s, ok := c.arg(1)
	if !ok {
		return 0, false
	}
	n, ok, tOK := c.readUnsigned(s, 1, 65535, true)
	if !tOK {
		c.warn(bad, s)
	}
	return uint16(n), ok
}

// HTTP_GET and SSL_GET (check_http.c install_http_ssl_check_keyword).

func httpChecker(name string, t config.CheckType) *keyword {
	url := []*keyword{
		kw("path", 1, func(c *cmd) {
			if s, ok := c.arg(1); ok {
				c.url().Path = s
			}
		}),
		kw("digest", 1, func(c *cmd) {
			u := c.url()
			s, ok := c.arg(1)
			if !ok {
				return
			}
			if u.Digest != "" {
				c.warn("Digest '%s' is a duplicate", s)
				return
			}
			if len(s) != 32 {
				c.warn("digest '%s' character length should be %d rather than %d", s, 32, len(s))
				return
			}
			if _, err := hex.DecodeString(s); err != nil {
				c.warn("Unable to interpret hex digit in '%s'", s)
				return
			}
			u.Digest = strings.ToLower(s)
		}),
		kw("status_code", -1, func(c *cmd) {
			u := c.url()
			for _, s := range c.args[1:] {
				r, ok := statusRange(s)
				if !ok {
					c.warn("Invalid HTTP_GET status code '%s'", s)
					continue
				}
				u.StatusCodes = append(u.StatusCodes, r)
			}
		}),
		kw("virtualhost", 1, func(c *cmd) {
			if !c.has(1) {
				c.warn("Missing HTTP_GET virtualhost name")
				return
			}
			c.url().Virtualhost = c.args[1]
		}),
		kw("regex", 1, func(c *cmd) {
			ws, ok := c.quoted()
			if !ok {
				return
			}
			c.used = -1
			if len(ws) != 2 {
				c.warn("regex missing or too many fields")
				return
			}
			c.url().Regex = ws[1]
		}),
		kw("regex_no_match", 0, func(c *cmd) { c.url().RegexNoMatch = true }),
		kw("regex_options", -1, (*cmd).ignored),
		kw("regex_min_offset", 1, (*cmd).ignored),
		kw("regex_max_offset", 1, (*cmd).ignored),
		kw("regex_stack", 2, (*cmd).ignored),
	}
	urlStart := func(c *cmd) {
		k := c.chk()
		k.urls = append(k.urls, config.CheckURL{})
		k.urlAt = append(k.urlAt, c.at)
		c.st().curURL = &k.urls[len(k.urls)-1]
	}
	urlEnd := func(p *pass) {
		k := p.st.curChk
		u := p.st.curURL
		p.st.curURL = nil
		if k == nil || u == nil {
			return
		}
		at := p.here()
		if u.Path == "" {
			p.sink.warnf(at, "HTTP/SSL_GET checker url has no path - ignoring")
			k.urls, k.urlAt = k.urls[:len(k.urls)-1], k.urlAt[:len(k.urlAt)-1]
			return
		}
		if u.RegexNoMatch && u.Regex == "" {
			p.sink.warnf(at, "regex parameters specified without regex")
			u.RegexNoMatch = false
		}
		if len(u.StatusCodes) == 0 {
			// url_check: 200-299 unless status_code says otherwise.
			u.StatusCodes = []config.StatusRange{{From: 200, To: 299}}
		}
	}
	end := func(p *pass) {
		k := p.finish()
		if k == nil {
			return
		}
		if len(k.urls) == 0 {
			p.sink.warnf(p.here(), "HTTP/SSL_GET checker has no urls specified - ignoring")
			k.dropped = true
			return
		}
		p.checkConn(k)
	}
	return block(name, 0, newChecker(t), end, join(commonKeywords(true), []*keyword{
		kw("nb_get_retry", 1, func(c *cmd) {
			c.warn("nb_get_retry is deprecated - please use 'retry'")
			s, ok := c.arg(1)
			if !ok {
				return
			}
			n, ok, tOK := c.readUnsigned(s, 0, math.MaxUint32, true)
			if !tOK {
				c.warn("Invalid nb_get_retry value '%s'", s)
			}
			if ok {
				c.chk().retry = int(min(n, math.MaxInt32))
			}
		}),
		kw("virtualhost", 1, func(c *cmd) {
			if !c.has(1) {
				c.warn("HTTP_GET virtualhost name missing")
				return
			}
			c.chk().virtualhost = c.args[1]
		}),
		kw("http_protocol", 1, func(c *cmd) {
			if !c.has(1) {
				c.warn("Missing http_protocol version")
				return
			}
			switch s := c.args[1]; s {
			case "1.0", "1.1":
				c.chk().httpProto = s
			case "1.0C", "1.0c":
				c.chk().httpProto = "1.0C"
			default:
				c.warn("Invalid http_protocol version %s", s)
			}
		}),
		kw("enable_sni", 1, func(c *cmd) {
			if b, ok := c.flag("Invalid enable_sni parameter %s"); ok {
				c.chk().enableSNI = b
			}
		}),
		kw("fast_recovery", 1, func(c *cmd) {
			if b, ok := c.flag("Invalid fast_recovery parameter %s"); ok {
				c.chk().fastRecovery = b
			}
		}),
		// sni_name and tls_compliant come from later keepalived
		// releases; 2.2.7 reports them as unknown.
		kw("sni_name", 1, func(c *cmd) {
			c.warn("Unknown keyword 'sni_name' (keepalived 2.2.7 does not know it and ignores it; fulcrum uses it as later keepalived releases do)")
			if s, ok := c.arg(1); ok {
				c.chk().sniName = s
			}
		}),
		kw("tls_compliant", 1, func(c *cmd) {
			c.warn("Unknown keyword 'tls_compliant' (keepalived 2.2.7 does not know it and ignores it; fulcrum uses it as later keepalived releases do)")
			if b, ok := c.flag("Invalid tls_compliant parameter %s"); ok {
				c.chk().tlsCompliant = b
			}
		}),
		block("url", 0, urlStart, urlEnd, url...),
	})...)
}

// statusRange reads "200" or "200-299" within 100-599.
func statusRange(s string) (config.StatusRange, bool) {
	lo, hi, isRange := strings.Cut(s, "-")
	from, err1 := strconv.Atoi(lo)
	to, err2 := from, error(nil)
	if isRange {
		to, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || from < httpStatusMin || to > httpStatusMax || from > to {
		return config.StatusRange{}, false
	}
	return config.StatusRange{From: from, To: to}, true
}

func (c *cmd) replyLen(dst *int, what string) {
	s, ok := c.arg(1)
	if !ok {
		return
	}
	n, ok, _ := c.readUnsigned(s, 0, math.MaxUint16, false)
	if !ok {
		c.warn("UDP_CHECK %s length %s not valid - must be between 0 & %d", what, s, math.MaxUint16)
		return
	}
	*dst = int(n)
}

func udpEnd(p *pass) {
	k := p.finish()
	if k == nil {
		return
	}
	p.checkConn(k)
	if k.minLen > k.maxLen {
		p.sink.warnf(p.here(), "UDP_CHECK min_reply length %d > max_reply_length %d - will always fail", k.minLen, k.maxLen)
	}
}

func dnsEnd(p *pass) {
	k := p.finish()
	if k == nil {
		return
	}
	p.checkConn(k)
	if k.dnsType == "" {
		k.dnsType = dnsDefaultType
	}
	if k.dnsName == "" {
		k.dnsName = dnsDefaultName
	}
}

func miscEnd(p *pass) {
	k := p.finish()
	if k == nil {
		return
	}
	if k.misc == nil {
		p.sink.warnf(p.here(), "No script path has been specified for MISC_CHECKER - skipping")
		k.dropped = true
		return
	}
	if k.miscUser != "" {
		k.misc.User, k.misc.Group = k.miscUser, k.miscGroup
	}
}

func fileEnd(p *pass) {
	k := p.finish()
	if k == nil {
		return
	}
	if k.trackFile == "" {
		p.sink.warnf(p.here(), "FILE_CHECK has no track_file specified - ignoring")
		k.dropped = true
	}
}

// SMTP_CHECK: each deprecated host{} block is a connection of its own;
// keepalived makes one checker per connection, sharing the SMTP_CHECK's
// other settings (check_smtp.c smtp_check_end_handler). The keywords of a
// host block other than the connection ones set the SMTP_CHECK's.

func smtpHostStart(c *cmd) {
	k := c.chk()
	c.warn("The SMTP_CHECK host block is deprecated. Please define additional checkers.")
	k.savedCo = k.co
}

func smtpHostEnd(p *pass) {
	k := p.st.curChk
	if k == nil {
		return
	}
	host := k.co
	k.co = k.savedCo
	probe := checker{at: k.at, co: host}
	p.checkConn(&probe)
	if !probe.dropped {
		k.hosts = append(k.hosts, host)
	}
}

func smtpEnd(p *pass) {
	k := p.st.curChk
	if k == nil {
		return
	}
	if k.helo == "" {
		k.helo = smtpDefaultHelo
	}
	cos := k.hosts
	if k.co.set() || len(cos) == 0 {
		cos = append(cos, k.co)
	}
	k.hosts = nil
	p.st.curChk = nil
	if p.st.curRS == nil {
		return
	}
	for _, co := range cos {
		n := *k
		n.co = co
		p.checkConn(&n)
		p.st.curRS.checks = append(p.st.curRS.checks, &n)
	}
}

func scriptCmd(s *config.Script) string {
	if s == nil {
		return "(null)"
	}
	return s.Command
}
