package config

import (
	"errors"
	"fmt"
	"time"
)

// Checker defaults, from keepalived's check_api.c (queue_checker and the
// resolution in update_checker_activity's caller), check_http.c
// (http_get_handler), check_misc.c (misc_check_handler), check_dns.c
// (dns_check_handler) and check_udp.c (udp_check_handler).
const (
	// DefaultDelayLoop is KEEPALIVED_DEFAULT_DELAY: 60 s between checks.
	DefaultDelayLoop = 60 * time.Second
	// DefaultConnectTimeout is queue_checker's connection_to of 5 s.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultRetry is queue_checker's default_retry; MISC_CHECK uses 0
	// and DNS_CHECK DNS_DEFAULT_RETRY (3).
	DefaultRetry     = 1
	DefaultMiscRetry = 0
	DefaultDNSRetry  = 3
	// DefaultDelayBeforeRetry is queue_checker's 1 s; HTTP_GET and SSL_GET
	// use 3 s, DNS_CHECK the check's delay_loop.
	DefaultDelayBeforeRetry     = time.Second
	DefaultHTTPDelayBeforeRetry = 3 * time.Second
	// DefaultMaxReplyLength is UDP_CHECK's max_reply_len (UINT8_MAX).
	DefaultMaxReplyLength = 255
	// DefaultHTTPProtocol is what HTTP_GET sends without http_protocol.
	DefaultHTTPProtocol = "1.0"
	// DefaultDNSType and DefaultDNSName are DNS_DEFAULT_TYPE (SOA) and
	// DNS_DEFAULT_NAME (the root).
	DefaultDNSType = "SOA"
	DefaultDNSName = "."
	// DefaultRise and DefaultFall are HAProxy's (server "rise 2 fall 3"),
	// used when a check gives only one of them.
	DefaultRise = 2
	DefaultFall = 3
)

// CheckFieldsSet records which of a Check's defaultable fields its input
// gave explicitly. Zero is meaningful for some of them (retry 0, warmup 0,
// max_reply_length 0), so a zero value alone cannot say "unset".
type CheckFieldsSet uint16

const (
	SetDelayLoop CheckFieldsSet = 1 << iota
	SetConnectTimeout
	SetRetry
	SetDelayBeforeRetry
	SetWarmup
	SetMiscTimeout
	SetMaxReplyLength
)

// Has reports whether every field in f is set.
func (s CheckFieldsSet) Has(f CheckFieldsSet) bool { return s&f == f }

// ResolveCheckDefaults fills every field of c that set does not mark as
// given with its checker type's default, as keepalived resolves a checker
// once its config is read (check_api.c: checker, then real server, then
// virtual server, then the type's default). An adapter applies its own
// levels of precedence first, marks what they gave in set, and calls this
// for the rest; the result carries every value the checker needs, and
// calling it again on the result with set = ^CheckFieldsSet(0) changes
// nothing.
//
//   - delay_loop 60 s; warmup = delay_loop; misc_timeout = delay_loop
//     (check_misc.c runs the script with the delay loop as its timeout).
//   - connect_timeout 5 s for every checker that connects (not misc_check
//     or file_check).
//   - retry 1, misc_check 0, dns_check 3.
//   - delay_before_retry 1 s, http_get/ssl_get 3 s, dns_check delay_loop.
//   - with rise/fall, retry and delay_before_retry 0: they are keepalived's
//     rule, which rise and fall replace (checks run every delay_loop).
//   - rise/fall: when only one is given the other takes HAProxy's default.
//   - http_protocol "1.0"; dns_type SOA, dns_name "."; udp_check
//     max_reply_length 255.
//
// file_check has no timing (keepalived drives it from inotify), so its
// timing fields are left alone.
func ResolveCheckDefaults(c *Check, set CheckFieldsSet) {
	if c.Type == CheckFile {
		return
	}
	if !set.Has(SetDelayLoop) {
		c.DelayLoop = DefaultDelayLoop
	}
	if checkConnects(c.Type) && !set.Has(SetConnectTimeout) {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Rise != 0 || c.Fall != 0 {
		if c.Rise == 0 {
			c.Rise = DefaultRise
		}
		if c.Fall == 0 {
			c.Fall = DefaultFall
		}
	}
	if !set.Has(SetRetry) {
		switch {
		case c.Fall > 0:
			c.Retry = 0 // rise and fall replace it
		case c.Type == CheckMisc:
			c.Retry = DefaultMiscRetry
		case c.Type == CheckDNS:
			c.Retry = DefaultDNSRetry
		default:
			c.Retry = DefaultRetry
		}
	}
	if !set.Has(SetDelayBeforeRetry) {
		switch {
		case c.Fall > 0:
			c.DelayBeforeRetry = 0 // rise/fall checks run every delay_loop
		case c.Type == CheckHTTP, c.Type == CheckSSL:
			c.DelayBeforeRetry = DefaultHTTPDelayBeforeRetry
		case c.Type == CheckDNS:
			c.DelayBeforeRetry = c.DelayLoop
		default:
			c.DelayBeforeRetry = DefaultDelayBeforeRetry
		}
	}
	if !set.Has(SetWarmup) {
		c.Warmup = c.DelayLoop
	}
	switch c.Type {
	case CheckHTTP, CheckSSL:
		if c.HTTPProtocol == "" {
			c.HTTPProtocol = DefaultHTTPProtocol
		}
	case CheckMisc:
		if !set.Has(SetMiscTimeout) {
			c.MiscTimeout = c.DelayLoop
		}
	case CheckDNS:
		if c.DNSType == "" {
			c.DNSType = DefaultDNSType
		}
		if c.DNSName == "" {
			c.DNSName = DefaultDNSName
		}
	case CheckUDP:
		if !set.Has(SetMaxReplyLength) {
			c.MaxReplyLength = DefaultMaxReplyLength
		}
	}
}

// CheckTypes lists the known checker types in documentation order.
var CheckTypes = []CheckType{CheckHTTP, CheckSSL, CheckTCP, CheckMisc, CheckUDP, CheckDNS, CheckSMTP, CheckPing, CheckFile, CheckAgent}

// checkConnects reports whether a checker type opens a socket, and so
// takes keepalived's connection keywords (install_checker_common_keywords
// with connection_keywords true). An unknown type counts as connecting so
// that its defaults are still filled; Validate reports the type.
func checkConnects(t CheckType) bool {
	return t != CheckMisc && t != CheckFile
}

// checkTimed reports whether a checker type runs on a timer.
func checkTimed(t CheckType) bool { return t != CheckFile }

// errHex is the cause of every ParseHexPattern failure.
var errHex = errors.New("invalid hex string")

// ParseHexPattern decodes a hex string the way keepalived's read_hex_str
// (lib/utils.c) reads UDP_CHECK payload and require_reply: pairs of hex
// digits, spaces or tabs between octets, and a lone digit before a space
// or the end of the string is one octet; a tab right after a digit is a bad
// character. With wildcards (require_reply), an x or X nibble matches
// anything: mask has its bits set where the reply may differ. mask is nil
// when no wildcard was used. It is the one reader of these strings: the
// parser, Validate, the keepalived adapter and health's UDP_CHECK use it.
//
// One deliberate difference: read_hex_str marks a bad character with 0xff
// and tests for it after the loop, so a string whose last octet is ff
// ("00 ff") is refused there. That is the marker colliding with data, not
// a rule, and such strings are accepted here.
func ParseHexPattern(s string, wildcards bool) (data, mask []byte, err error) {
	nibble := func(ch byte) (v, m byte, ok bool) {
		switch {
		case ch >= '0' && ch <= '9':
			return ch - '0', 0, true
		case ch >= 'a' && ch <= 'f':
			return ch - 'a' + 10, 0, true
		case ch >= 'A' && ch <= 'F':
			return ch - 'A' + 10, 0, true
		case wildcards && (ch == 'x' || ch == 'X'):
			return 0, 0x0f, true
		}
		return 0, 0, false
	}
	masked := false
	for i := 0; ; {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		v, m, ok := nibble(s[i])
		if !ok {
			return nil, nil, fmt.Errorf("%w: %q at offset %d is not a hex digit", errHex, s[i], i)
		}
		i++
		// read_hex_str only ends an octet early at a space, not a tab.
		if i < len(s) && s[i] != ' ' {
			v2, m2, ok := nibble(s[i])
			if !ok {
				return nil, nil, fmt.Errorf("%w: %q at offset %d is not a hex digit", errHex, s[i], i)
			}
			i++
			v, m = v<<4|v2, m<<4|m2
		}
		data = append(data, v)
		mask = append(mask, m)
		masked = masked || m != 0
	}
	if len(data) == 0 {
		return nil, nil, fmt.Errorf("%w: no octets", errHex)
	}
	if !masked {
		mask = nil
	}
	return data, mask, nil
}
