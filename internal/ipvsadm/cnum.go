package ipvsadm

import (
	"math"
	"net/netip"
	"strings"
)

// This file reproduces the C library conversions ipvsadm relies on, so that
// every string ipvsadm accepts (or rejects) is accepted (or rejected) here.

// isCSpace is C's isspace() in the "C" locale.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// strtol is glibc strtol(s, &end, 10) for a 64-bit long: it skips leading
// white space, takes an optional sign, and clamps with erange set on
// overflow. end is the index of the first unparsed byte (0 when no digits).
func strtol(s string) (v int64, end int, erange bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var acc uint64
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	for i < len(s) && isDigit(s[i]) {
		d := uint64(s[i] - '0')
		if !erange {
			if acc > (limit-d)/10 {
				erange = true
			} else {
				acc = acc*10 + d
			}
		}
		i++
	}
	if i == start {
		return 0, 0, false
	}
	switch {
	case erange && neg:
		return math.MinInt64, i, true
	case erange:
		return math.MaxInt64, i, true
	case neg:
		return -int64(acc), i, false
	}
	return int64(acc), i, false
}

// stringToNumber is ipvsadm.c string_to_number(): the whole string must be
// a base-10 number within [min, max]; -1 otherwise.
func stringToNumber(s string, min, max int64) int64 {
	v, end, erange := strtol(s)
	if end == len(s) && end != 0 && !erange && min <= v && v <= max {
		return v
	}
	return -1
}

// atoi is C atoi(): (int)strtol(s, NULL, 10), truncated to 32 bits.
func atoi(s string) int32 {
	v, _, _ := strtol(s)
	return int32(v)
}

// strIsDigit is ipvsadm.c str_is_digit(): true for "" and all-digit strings.
func strIsDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// strtoul0 is strtoul(s, &end, 0) for a string that starts with a digit
// (inet_aton only calls it then): 0x-prefixed hex, 0-prefixed octal, else
// decimal. ok is false on overflow of an unsigned long.
func strtoul0(s string) (v uint64, end int, ok bool) {
	base := uint64(10)
	i := 0
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		if len(s) > 2 && hexVal(s[2]) >= 0 {
			base, i = 16, 2
		} else {
			// "0x" with no hex digit parses as "0" and stops at 'x'.
			return 0, 1, true
		}
	} else if s[0] == '0' {
		base = 8
	}
	ok = true
	for ; i < len(s); i++ {
		d := hexVal(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			ok = false
		}
		v = v*base + uint64(d)
	}
	return v, i, ok
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

// inetAton is glibc inet_aton() (resolv/inet_addr.c inet_aton_end): one to
// four dot-separated parts in C notation (0x hex, 0 octal, decimal), the
// last part filling the remaining bytes; trailing white space and anything
// after it is ignored. The result is the address in host byte order.
func inetAton(s string) (uint32, bool) {
	maxLast := [4]uint64{0xffffffff, 0xffffff, 0xffff, 0xff}
	var parts [4]byte
	n := 0
	var val uint64
	digit := false
	i := 0
	for {
		if i >= len(s) || !isDigit(s[i]) {
			return 0, false
		}
		v, end, ok := strtoul0(s[i:])
		if !ok || v > 0xffffffff {
			return 0, false
		}
		val = v
		digit = end > 0
		i += end
		if i < len(s) && s[i] == '.' {
			if n > 2 || val > 0xff {
				return 0, false
			}
			parts[n] = byte(val)
			n++
			i++
			continue
		}
		break
	}
	if i < len(s) && (s[i] >= 0x80 || !isCSpace(s[i])) {
		return 0, false
	}
	if !digit || val > maxLast[n] {
		return 0, false
	}
	word := uint32(parts[0])<<24 | uint32(parts[1])<<16 | uint32(parts[2])<<8 | uint32(parts[3])
	return word | uint32(val), true
}

// inetPton6 is inet_pton(AF_INET6, s): no zones, no brackets, and never a
// plain IPv4 address.
func inetPton6(s string) (netip.Addr, bool) {
	if !strings.Contains(s, ":") || strings.Contains(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

// inetPton4 is inet_pton(AF_INET, s): strict dotted quad.
func inetPton4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// addr4 converts a host-order IPv4 word to an address.
func addr4(w uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w)})
}

// word4 converts an IPv4 address to a host-order word.
func word4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// cString cuts s at its first NUL, as C sees a char* argument.
func cString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// truncate is strncpy(dst, s, n) into a NUL-terminated buffer: at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
