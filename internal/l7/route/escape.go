package route

import "strings"

// escapeSet is a 256-bit set of bytes that must be %-escaped.
type escapeSet [8]uint32

func (s *escapeSet) has(c byte) bool { return s[c>>5]&(1<<(c&0x1f)) != 0 }

func newEscapeSet(extra string) escapeSet {
	var s escapeSet
	add := func(c byte) { s[c>>5] |= 1 << (c & 0x1f) }
	// Per RFC 3986 §2, control bytes, DEL and all non-ASCII bytes are
	// never allowed raw (ngx_escape_uri, src/core/ngx_string.c).
	for c := 0; c < 0x20; c++ {
		add(byte(c))
	}
	for c := 0x7f; c < 0x100; c++ {
		add(byte(c))
	}
	for i := 0; i < len(extra); i++ {
		add(extra[i])
	}
	return s
}

var (
	// escURI is NGX_ESCAPE_URI: space and the bytes RFC 3986 forbids
	// (" < > \ ^ ` { | }) plus "#", "%" and "?", which would change the
	// meaning of a path.
	escURI = newEscapeSet(" \"#%<>?\\^`{|}")
	// escArgs is NGX_ESCAPE_ARGS: escURI plus "&", "+" and ";", used for
	// rewrite captures that land in a query string.
	escArgs = newEscapeSet(" \"#%&+;<>?\\^`{|}")
)

const upperHex = "0123456789ABCDEF"

func escapeWith(set *escapeSet, s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if set.has(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if set.has(c) {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// EscapeURI escapes a decoded path the way nginx does before sending it
// upstream or in a Location header (ngx_escape_uri with NGX_ESCAPE_URI,
// uppercase hex).
func EscapeURI(s string) string { return escapeWith(&escURI, s) }

// escapeArgs is ngx_escape_uri with NGX_ESCAPE_ARGS.
func escapeArgs(s string) string { return escapeWith(&escArgs, s) }

// unescapeRedirect is ngx_unescape_uri with NGX_UNESCAPE_REDIRECT, which
// ngx_http_script_regex_end_code applies to a rewritten redirect: up to
// the first literal "?" (or a decoded one), %XX is decoded when the byte
// is in 0x26..0x7e and kept otherwise; a malformed escape loses its "%"
// (and, after one hex digit, the digit and the next byte too). The rest
// after "?" is copied as is.
func unescapeRedirect(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	state := swUsual
	var decoded byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch state {
		case swUsual:
			if ch == '?' {
				b = append(b, s[i:]...)
				return string(b)
			}
			if ch == '%' {
				state = swQuoted
				continue
			}
			b = append(b, ch)
		case swQuoted:
			v, ok := hexVal(ch)
			if !ok {
				state = swUsual
				b = append(b, ch)
				continue
			}
			decoded = v
			state = swQuotedSecond
		case swQuotedSecond:
			state = swUsual
			v, ok := hexVal(ch)
			if !ok {
				continue
			}
			letter := ch > '9'
			c := decoded<<4 + v
			if letter && c == '?' {
				b = append(b, '?')
				b = append(b, s[i+1:]...)
				return string(b)
			}
			if c > '%' && c < 0x7f {
				b = append(b, c)
				continue
			}
			b = append(b, '%', s[i-1], ch)
		}
	}
	return string(b)
}
