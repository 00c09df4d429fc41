package route

import "strings"

// LanguageRange is one element of Accept-Language: a language range
// (RFC 4647 §2.1, "*" or 1*8ALPHA *("-" 1*8alphanum)) and its weight in
// thousandths (RFC 9110 §12.4.2 qvalue: 0..1000).
type LanguageRange struct {
	Range string
	Q     int
}

// ParseAcceptLanguage parses an Accept-Language value (RFC 9110 §12.5.4).
// Elements with an invalid range or an invalid "q" are dropped; other
// parameters are ignored; a missing q is 1 (1000). Order is kept.
func ParseAcceptLanguage(h string) []LanguageRange {
	var out []LanguageRange
	for h != "" {
		var elem string
		elem, h, _ = strings.Cut(h, ",")
		rng, params, _ := strings.Cut(elem, ";")
		rng = strings.Trim(rng, " \t")
		if rng == "" || !validRange(rng) {
			continue
		}
		q, ok := 1000, true
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			k, v, _ := strings.Cut(strings.Trim(p, " \t"), "=")
			if strings.EqualFold(strings.TrimRight(k, " \t"), "q") {
				q, ok = parseQ(strings.Trim(v, " \t"))
			}
		}
		if !ok {
			continue
		}
		out = append(out, LanguageRange{Range: rng, Q: q})
	}
	return out
}

// validRange checks RFC 4647 §2.1 language-range syntax: "*" or a
// subtag of 1-8 letters followed by "-" subtags of 1-8 letters or digits.
func validRange(r string) bool {
	if r == "*" {
		return true
	}
	for i, sub := range strings.Split(r, "-") {
		if len(sub) == 0 || len(sub) > 8 {
			return false
		}
		for j := 0; j < len(sub); j++ {
			c := sub[j]
			if !isLetter(c) && (i == 0 || c < '0' || c > '9') {
				return false
			}
		}
	}
	return true
}

// parseQ parses qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
func parseQ(s string) (int, bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' || len(s) > 5 {
		return 0, false
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		q += int(s[i]-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

// matchRank says how specifically a client range matches an offered tag:
// 3 equal, 2 the range is a prefix of the tag (RFC 4647 §3.3.1 basic
// filtering: "en" matches "en-US"), 1 the tag is a prefix of the range
// (RFC 4647 §3.4 lookup truncation: "zh-CN" falls back to "zh"), 0 "*",
// -1 no match. Comparison is case-insensitive and only at "-" boundaries.
func matchRank(rng, tag string) int {
	switch {
	case rng == "*":
		return 0
	case strings.EqualFold(rng, tag):
		return 3
	case len(rng) < len(tag) && tag[len(rng)] == '-' && strings.EqualFold(rng, tag[:len(rng)]):
		return 2
	case len(tag) < len(rng) && rng[len(tag)] == '-' && strings.EqualFold(tag, rng[:len(tag)]):
		return 1
	}
	return -1
}

// BestLanguage picks the best of the available languages for an
// Accept-Language value. Each available tag gets the q of the most
// specific range that matches it (by matchRank, then the longer range;
// among equally specific ranges the highest q), as RFC 2616 §14.4 put
// it: "the quality value of the longest language-range in the field that
// matches". q=0 means not acceptable. The highest q wins; on a tie the
// tag whose deciding range comes first in the header wins, then the
// earlier tag in available. ok is false when nothing is acceptable (the
// caller falls back to its default).
func BestLanguage(header string, available []string) (best string, ok bool) {
	ranges := ParseAcceptLanguage(header)
	bestQ, bestPos := 0, 0
	for _, tag := range available {
		rank, rlen, q, pos := -1, 0, 0, 0
		for i, r := range ranges {
			k := matchRank(r.Range, tag)
			if k < 0 {
				continue
			}
			switch {
			case k > rank || (k == rank && len(r.Range) > rlen):
				rank, rlen, q, pos = k, len(r.Range), r.Q, i
			case k == rank && len(r.Range) == rlen && r.Q > q:
				q, pos = r.Q, i
			}
		}
		if rank < 0 || q == 0 {
			continue
		}
		if !ok || q > bestQ || (q == bestQ && pos < bestPos) {
			best, bestQ, bestPos, ok = tag, q, pos, true
		}
	}
	return best, ok
}
