package keepalived

import (
	"fmt"
	"strings"
)

// words splits a line into words as parser.c alloc_strvec_r does: words
// are separated by blanks, a word that starts with '"' runs to the next
// '"' and loses the quotes, and a '"' inside a word ends it. Single
// quotes are ordinary characters. ok is false for a '"' without its
// partner; the words before it are returned.
func words(s string) (ws []string, ok bool) {
	const white = " \t\f\n\r\v"
	for {
		s = strings.TrimLeft(s, white)
		if s == "" {
			return ws, true
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return ws, false
			}
			ws = append(ws, s[1:1+end])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, white+`"`)
		if end < 0 {
			end = len(s)
		}
		ws = append(ws, s[:end])
		s = s[end:]
	}
}

// quotedWords splits a line as parser.c alloc_strvec_quoted_escaped does,
// for script command lines: '"' and '\” quote, and '\' escapes (\n, \t,
// \xHH, \NNN octal, \cX control characters and the others of C).
func quotedWords(s string) ([]string, error) {
	const white = " \t\f\n\r\v"
	var ws []string
	for {
		s = strings.TrimLeft(s, white)
		if s == "" {
			return ws, nil
		}
		var w strings.Builder
		var quote byte
		for s != "" {
			c := s[0]
			switch {
			case c == '\\':
				if len(s) == 1 {
					return nil, fmt.Errorf("missing escape char at end")
				}
				r, n := unescape(s[1:])
				w.WriteByte(r)
				s = s[1+n:]
				continue
			case quote != 0 && c == quote:
				quote = 0
				s = s[1:]
				continue
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
				s = s[1:]
				continue
			case quote == 0 && strings.IndexByte(white, c) >= 0:
			default:
				w.WriteByte(c)
				s = s[1:]
				continue
			}
			break
		}
		if quote != 0 {
			return nil, fmt.Errorf("missing terminating %c", quote)
		}
		ws = append(ws, w.String())
	}
}

// unescape decodes the escape after a '\' and returns the byte and the
// number of characters it used.
func unescape(s string) (byte, int) {
	isHex := func(c byte) bool {
		return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
	}
	hexVal := func(c byte) byte {
		switch {
		case c <= '9':
			return c - '0'
		case c >= 'a':
			return c - 'a' + 10
		default:
			return c - 'A' + 10
		}
	}
	switch c := s[0]; {
	case c == 'x' && len(s) > 1 && isHex(s[1]):
		var v byte
		n := 1
		for n < len(s) && isHex(s[n]) {
			v = v<<4 | hexVal(s[n])
			n++
		}
		return v, n
	case c == 'c' && len(s) > 1:
		return s[1] & 0x1f, 2
	case '0' <= c && c <= '7':
		v := c - '0'
		n := 1
		for n < 3 && n < len(s) && '0' <= s[n] && s[n] <= '7' {
			v = v<<3 + (s[n] - '0')
			n++
		}
		return v, n
	default:
		switch c {
		case 'a':
			return '\a', 1
		case 'b':
			return '\b', 1
		case 'E':
			return 0x1b, 1
		case 'f':
			return '\f', 1
		case 'n':
			return '\n', 1
		case 'r':
			return '\r', 1
		case 't':
			return '\t', 1
		case 'v':
			return '\v', 1
		}
		return c, 1
	}
}
