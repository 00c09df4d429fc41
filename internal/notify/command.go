package notify

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCommand marks a script command line that cannot be split into argv.
var ErrCommand = errors.New("bad script command line")

// whiteSpace is keepalived's word separator set (parser.c WHITE_SPACE_STR).
const whiteSpace = " \t\f\n\r\v"

// SplitCommand splits a script string into argv the way keepalived does
// before it execs a script (notify.c set_script_params_array, which calls
// parser.c alloc_strvec_quoted_escaped). No shell is involved:
//
//   - words are separated by unquoted " \t\f\n\r\v";
//   - '...' and "..." group text, and quotes may start or end mid-word
//     (abc"d e"f is the one word "abcd ef");
//   - backslash escapes are decoded everywhere, inside either kind of quote
//     too: \a \b \E \f \n \r \t \v, \cC (control-C), \NNN (1-3 octal
//     digits), \xH... and \C for any other C (so \\ \' \" and "\ " are
//     literal characters);
//   - \x consumes every hex digit that follows and keeps the low byte, as
//     parser.c does (keepalived.conf(5) says "up to two", the code does not).
//
// Unlike keepalived, which reports an error and drops the script, or
// silently truncates a word at a decoded NUL byte, every problem here is an
// error wrapping ErrCommand: an unterminated quote, a trailing backslash, a
// NUL byte (no exec'd argument can hold one) or an empty command.
func SplitCommand(s string) ([]string, error) {
	var (
		words []string
		word  []byte
	)
	i := 0
	for i < len(s) {
		for i < len(s) && strings.IndexByte(whiteSpace, s[i]) >= 0 {
			i++
		}
		if i == len(s) {
			break
		}
		word = word[:0]
		var quote byte
	word:
		for i < len(s) {
			c := s[i]
			switch {
			case c == 0:
				return nil, fmt.Errorf("%w: NUL byte at offset %d", ErrCommand, i)
			case c == '\\':
				i++
				if i == len(s) {
					return nil, fmt.Errorf("%w: %q ends with a backslash", ErrCommand, s)
				}
				var b byte
				b, i = unescape(s, i)
				if b == 0 {
					return nil, fmt.Errorf("%w: escape decodes to a NUL byte in %q", ErrCommand, s)
				}
				word = append(word, b)
			case quote != 0 && c == quote:
				quote = 0
				i++
			case quote != 0:
				word = append(word, c)
				i++
			case c == '\'' || c == '"':
				quote = c
				i++
			case strings.IndexByte(whiteSpace, c) >= 0:
				break word
			default:
				word = append(word, c)
				i++
			}
		}
		if quote != 0 {
			return nil, fmt.Errorf("%w: %q is missing a terminating %c", ErrCommand, s, quote)
		}
		words = append(words, string(word))
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: empty command", ErrCommand)
	}
	return words, nil
}

// unescape decodes the escape whose first character (after the backslash)
// is s[i]; it returns the byte and the index just past the escape. Byte
// arithmetic mirrors parser.c, where the result is a char: \x4142 and \777
// keep their low eight bits.
func unescape(s string, i int) (byte, int) {
	c := s[i]
	switch {
	case c == 'x' && i+1 < len(s) && hexVal(s[i+1]) >= 0:
		var b byte
		for i++; i < len(s) && hexVal(s[i]) >= 0; i++ {
			b = b<<4 | byte(hexVal(s[i]))
		}
		return b, i
	case c == 'c' && i+1 < len(s):
		return s[i+1] & 0x1f, i + 2
	case c >= '0' && c <= '7':
		b := c - '0'
		i++
		for n := 0; n < 2 && i < len(s) && s[i] >= '0' && s[i] <= '7'; n++ {
			b = b<<3 + (s[i] - '0')
			i++
		}
		return b, i
	}
	switch c {
	case 'a':
		c = '\a'
	case 'b':
		c = '\b'
	case 'E':
		c = 0x1b
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'v':
		c = '\v'
	}
	return c, i + 1
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// JoinCommand is the inverse of SplitCommand: it quotes words so that
// SplitCommand(JoinCommand(w)) == w for any words without NUL bytes. Plain
// words are left alone; others are single-quoted with \ and ' escaped
// (keepalived decodes escapes inside single quotes).
func JoinCommand(words []string) string {
	var b strings.Builder
	for n, w := range words {
		if n > 0 {
			b.WriteByte(' ')
		}
		if w != "" && !strings.ContainsAny(w, whiteSpace+`'"\`) {
			b.WriteString(w)
			continue
		}
		b.WriteByte('\'')
		for i := 0; i < len(w); i++ {
			if w[i] == '\'' || w[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(w[i])
		}
		b.WriteByte('\'')
	}
	return b.String()
}

// shellQuote quotes a word for /bin/sh (POSIX single quotes).
func shellQuote(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
