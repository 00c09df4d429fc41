package keepalived

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
)

// Numbers are read the way lib/parser.c does, because the way it reads
// them decides what keepalived runs with: the leading digits of "5x" count
// as 5, an empty quoted string as 0. Each reader reports what
// "keepalived -t" prints and returns the value with two verdicts: ok (the
// running daemon uses the value, which for settings read with
// ignore_error it does whenever the value is in range, garbage after it
// or not) and tOK (the reader succeeds under keepalived -t; when it does
// not, the handler prints its own follow-up message, as keepalived does).

// cParse mimics strtoul/strtoull on s: leading white space, an optional
// sign, then decimal digits. rest is what follows the digits (the whole
// string when there are none); overflow reports a value beyond 64 bits.
func cParse(s string) (v uint64, neg bool, rest string, overflow bool) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	i := 0
	for i < len(t) && '0' <= t[i] && t[i] <= '9' {
		hi, lo := bits.Mul64(v, 10)
		lo, carry := bits.Add64(lo, uint64(t[i]-'0'), 0)
		if hi != 0 || carry != 0 {
			overflow = true
		}
		v = lo
		i++
	}
	if i == 0 {
		return 0, false, s, false
	}
	if overflow {
		v = math.MaxUint64
	}
	return v, neg, t[i:], overflow
}

// readUnsigned is read_unsigned_func (base 10).
func (c *cmd) readUnsigned(s string, lo, hi uint64, ignoreErr bool) (v uint64, ok, tOK bool) {
	t := strings.TrimLeft(s, " \t\f\n\r\v")
	v, neg, rest, overflow := cParse(t)
	if neg {
		// strtoul negates; a negative value never fits the range.
		v = -v
	}
	switch {
	case strings.HasPrefix(t, "-"):
		c.warn("negative number '%s'", s)
	case rest != "":
		c.warn("invalid number '%s'", s)
	case overflow || v > math.MaxUint32:
		c.warn("number '%s' outside unsigned integer range", s)
	case v < lo || v > hi:
		c.warn("number '%s' outside range [%d, %d]", s, lo, hi)
	default:
		return v, true, true
	}
	ok = ignoreErr && v >= lo && v <= hi && !overflow
	if ok {
		c.note(fmt.Sprintf("keepalived uses %d", v))
	}
	return v, ok, false
}

// readInt is read_int_func (base 10).
func (c *cmd) readInt(s string, lo, hi int64, ignoreErr bool) (v int64, ok, tOK bool) {
	u, neg, rest, overflow := cParse(s)
	v = int64(u)
	if neg {
		v = -v
	}
	out := overflow || u > math.MaxInt64 || v < math.MinInt32 || v > math.MaxInt32
	switch {
	case rest != "":
		c.warn("invalid number '%s'", s)
	case out:
		c.warn("number '%s' outside integer range", s)
	case v < lo || v > hi:
		c.warn("number '%s' outside range [%d, %d]", s, lo, hi)
	default:
		return v, true, true
	}
	ok = ignoreErr && !out && v >= lo && v <= hi
	if ok {
		c.note(fmt.Sprintf("keepalived uses %d", v))
	}
	return v, ok, false
}

// readDecimal is read_decimal_unsigned_long_func: a decimal with up to
// shift places, returned multiplied by 10^shift; more places are rounded.
func (c *cmd) readDecimal(s string, lo, hi uint64, shift int, ignoreErr bool) (v uint64, ok, tOK bool) {
	if strings.HasPrefix(s, "-") {
		c.warn("negative number '%s'", s)
		return 0, false, false
	}
	var digits string
	roundUp := false
	if i := strings.IndexByte(s, '.'); i >= 0 {
		dec := s[i+1:]
		if len(dec) > shift {
			// Reported, then rounded and accepted.
			c.warn("number '%s' has too many decimal places", s)
			roundUp = dec[shift] >= '5'
			dec = dec[:shift]
		}
		digits = s[:i] + dec + strings.Repeat("0", shift-len(dec))
	} else {
		digits = s + strings.Repeat("0", shift)
	}
	v, neg, rest, overflow := cParse(digits)
	if neg {
		v = -v
	}
	if roundUp {
		v++
	}
	scale := uint64(1)
	for range shift {
		scale *= 10
	}
	switch {
	case rest != "":
		c.warn("invalid number '%s'", s)
	case overflow:
		c.warn("number '%s' outside unsigned decimal range", s)
		return v, false, false
	case v < lo || v > hi:
		c.warn("number '%s' outside range [%d.%0*d, %d.%0*d]", s, lo/scale, shift, lo%scale, hi/scale, shift, hi%scale)
	default:
		return v, true, true
	}
	// Unlike the integer readers, this one answers the same under -t.
	ok = ignoreErr && v >= lo && v <= hi
	if ok {
		c.note(fmt.Sprintf("keepalived uses %s", fmtDecimal(v, scale, shift)))
	}
	return v, ok, ok
}

func fmtDecimal(v, scale uint64, shift int) string {
	if v%scale == 0 {
		return fmt.Sprint(v / scale)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%0*d", v/scale, shift, v%scale), "0")
}

// Timers are micro-seconds (TIMER_HZ is 1000000).
const (
	timerHz       = 1000000
	timerHzDigits = 6
	// timerMaximum is read_timer's limit when the caller gives none
	// (ULONG_MAX - 1 micro-seconds, as keepalived -t prints it).
	timerMaximum = math.MaxUint64 - 1
)

// readTimer is read_timer: seconds with up to six decimals; lo and hi
// are micro-seconds, hi 0 meaning no limit.
func (c *cmd) readTimer(s string, lo, hi uint64, ignoreErr bool) (time.Duration, bool, bool) {
	if hi == 0 {
		hi = timerMaximum
	}
	v, ok, clean := c.readDecimal(s, lo, hi, timerHzDigits, ignoreErr)
	return usec(v), ok, clean
}

// usec converts micro-seconds to a Duration, saturating.
func usec(v uint64) time.Duration {
	if v > uint64(math.MaxInt64/int64(time.Microsecond)) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(v) * time.Microsecond
}

// trueFalse is check_true_false: on/true/yes, off/false/no, else -1.
func trueFalse(s string) int {
	switch s {
	case "true", "on", "yes":
		return 1
	case "false", "off", "no":
		return 0
	}
	return -1
}
