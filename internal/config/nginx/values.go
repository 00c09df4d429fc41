package nginx

import (
	"math"
	"strings"
	"time"
)

// nginx's value syntax (src/core/ngx_parse.c, ngx_string.c), read the way
// nginx reads it so that what nginx refuses is refused here too.

// atoi is ngx_atoi: decimal digits only, no sign, no overflow.
func atoi(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseSize is ngx_parse_size (k and m, either case) when offset is false
// and ngx_parse_offset (k, m and g) when it is true.
func parseSize(s string, offset bool) (int64, bool) {
	if s == "" {
		return 0, false
	}
	scale := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		scale = 1 << 10
	case 'm', 'M':
		scale = 1 << 20
	case 'g', 'G':
		if !offset {
			return 0, false
		}
		scale = 1 << 30
	}
	if scale != 1 {
		s = s[:len(s)-1]
	}
	n, ok := atoi(s)
	if !ok || n > math.MaxInt64/scale {
		return 0, false
	}
	return n * scale, true
}

// parseTime is ngx_parse_time: numbers with units, largest first ("1h
// 30m", "1d12h"), a bare number being seconds. isSec counts seconds and
// takes y and M; otherwise it counts milliseconds, takes ms and not y or
// M. The result is a duration either way.
func parseTime(s string, isSec bool) (time.Duration, bool) {
	const (
		stStart = iota
		stYear
		stMonth
		stWeek
		stDay
		stHour
		stMin
		stSec
		stMsec
		stLast
	)
	const maxInt = math.MaxInt64
	step := stMonth
	if isSec {
		step = stStart
	}
	var value, total int64
	valid := false
	for i := 0; i < len(s); {
		c := s[i]
		i++
		if c >= '0' && c <= '9' {
			if value > (maxInt-int64(c-'0'))/10 {
				return 0, false
			}
			value = value*10 + int64(c-'0')
			valid = true
			continue
		}
		// Each unit must come after the larger ones; y is first or not
		// at all.
		var next int
		var scale int64
		switch c {
		case 'y':
			if step > stStart {
				return 0, false
			}
			next, scale = stYear, 365*24*3600
		case 'M':
			next, scale = stMonth, 30*24*3600
		case 'w':
			next, scale = stWeek, 7*24*3600
		case 'd':
			next, scale = stDay, 24*3600
		case 'h':
			next, scale = stHour, 3600
		case 'm':
			if i < len(s) && s[i] == 's' {
				i++
				next, scale = stMsec, 1
				if isSec {
					return 0, false
				}
				break
			}
			next, scale = stMin, 60
		case 's', ' ':
			next, scale = stSec, 1
		default:
			return 0, false
		}
		if c != 'y' && step >= next {
			return 0, false
		}
		step = next
		if c == ' ' {
			step = stLast
		}
		limit := maxInt / scale
		if step != stMsec && !isSec {
			scale *= 1000
			limit /= 1000
		}
		if value > limit {
			return 0, false
		}
		value *= scale
		if total > maxInt-value {
			return 0, false
		}
		total += value
		value = 0
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	if !valid {
		return 0, false
	}
	if !isSec {
		if value > maxInt/1000 {
			return 0, false
		}
		value *= 1000
	}
	if total > maxInt-value {
		return 0, false
	}
	total += value
	unit := time.Millisecond
	if isSec {
		unit = time.Second
	}
	if total > maxInt/int64(unit) {
		// nginx takes it; no duration is longer.
		return time.Duration(maxInt), true
	}
	return time.Duration(total) * unit, true
}

// onOff reads on/off as ngx_conf_set_flag_slot does (case-insensitive).
func onOff(s string) (on, ok bool) {
	switch strings.ToLower(s) {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	return false, false
}
