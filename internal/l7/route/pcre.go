package route

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Regex is a PCRE pattern (as nginx compiles it for location, rewrite and
// server_name) translated to Go's RE2 with nginx's byte semantics.
//
// nginx runs PCRE without the UTF flag, so "." matches one byte and \xHH
// means a byte. Go matches runes; translatePCRE writes every non-ASCII byte
// of the pattern as the rune of the same value, and match maps the subject
// the same way (Latin-1 style) when it has non-ASCII bytes, so both sides
// count bytes. The one remaining difference: Go's (?i) folds Latin-1
// letters (é/É), PCRE's default C-locale tables fold ASCII only.
type Regex struct {
	src string
	re  *regexp.Regexp
	// eol lists the groups translatePCRE added for "$" and \Z; they
	// hold the final newline, which PCRE's zero-width "$" does not take.
	eol []int
}

// CompileRegex compiles a pattern in the PCRE dialect nginx
// configurations use (for the proxy's own rules); caseless is
// NGX_REGEX_CASELESS (~*). Constructs RE2 lacks fail with
// *UnsupportedRegexError.
func CompileRegex(pattern string, caseless bool) (*Regex, error) {
	return compileRegex(pattern, caseless)
}

// compileRegex compiles a PCRE pattern; caseless is the ~* / NGX_REGEX_CASELESS
// option.
func compileRegex(pattern string, caseless bool) (*Regex, error) {
	tr, eol, err := translatePCRE(pattern)
	if err != nil {
		return nil, err
	}
	if caseless {
		tr = "(?i)" + tr
	}
	re, err := regexp.Compile(tr)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	return &Regex{src: pattern, re: re, eol: eol}, nil
}

// String returns the PCRE source.
func (r *Regex) String() string { return r.src }

// NumSubexp is the number of capturing groups of the PCRE pattern.
func (r *Regex) NumSubexp() int { return r.re.NumSubexp() - len(r.eol) }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// latin1 maps each byte to the rune of the same value.
func latin1(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// unlatin1 undoes latin1.
func unlatin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		b = append(b, byte(r))
	}
	return string(b)
}

// MatchString reports whether the subject matches (no captures, no
// allocation for ASCII subjects).
func (r *Regex) MatchString(s string) bool {
	if isASCII(s) {
		return r.re.MatchString(s)
	}
	return r.re.MatchString(latin1(s))
}

// FindSubmatch returns $0..$n, or nil when there is no match. Groups that
// did not participate are "" (nginx copies nothing for them).
func (r *Regex) FindSubmatch(s string) []string {
	subj := s
	ascii := isASCII(s)
	if !ascii {
		subj = latin1(s)
	}
	idx := r.re.FindStringSubmatchIndex(subj)
	if idx == nil {
		return nil
	}
	// Where a "$" took the final newline, PCRE's match ends before it.
	cut := len(subj)
	for _, g := range r.eol {
		if idx[2*g] >= 0 && idx[2*g+1] > idx[2*g] {
			cut = idx[2*g]
		}
	}
	caps := make([]string, 0, len(idx)/2-len(r.eol))
	e := 0
	for i := 0; i < len(idx)/2; i++ {
		if e < len(r.eol) && r.eol[e] == i {
			e++
			continue
		}
		lo, hi := idx[2*i], idx[2*i+1]
		if lo < 0 {
			caps = append(caps, "")
			continue
		}
		if hi > cut {
			hi = max(lo, cut)
		}
		c := subj[lo:hi]
		if !ascii {
			c = unlatin1(c)
		}
		caps = append(caps, c)
	}
	return caps
}

// UnsupportedRegexError names a PCRE construct RE2 cannot express.
type UnsupportedRegexError struct {
	Pattern   string
	Construct string
	Offset    int
}

func (e *UnsupportedRegexError) Error() string {
	return fmt.Sprintf("regex %q uses %s at offset %d, which Go's RE2 engine does not support", e.Pattern, e.Construct, e.Offset)
}

// translatePCRE rewrites a PCRE pattern into RE2 syntax with PCRE's
// meaning (pcre2pattern(3)):
//   - "$" and \Z match at the end or before a final newline: (?:(\n)?\z),
//     the added group listed in eol so FindSubmatch can drop it
//     (unless an (?m) flag appears; then RE2's multi-line $ is kept);
//   - \s includes VT (0x0b); \h, \H, \v, \V, \R, \N, \e, \cX get RE2
//     equivalents;
//   - bytes >= 0x80 become \x{HH} (byte semantics, see Regex);
//   - (?#comments) are dropped, (?'name'…) becomes (?P<name>…);
//   - backreferences, lookaround, atomic groups, possessive quantifiers,
//     recursion and subroutine calls, conditionals, callouts, \G, \K, \X,
//     (?x) and backtracking verbs are rejected with UnsupportedRegexError.
func translatePCRE(p string) (string, []int, error) {
	var eol []int
	groups := 0
	end := func(b *strings.Builder) {
		groups++
		eol = append(eol, groups)
		b.WriteString(`(?:(\n)?\z)`)
	}
	unsupported := func(what string, at int) error {
		return &UnsupportedRegexError{Pattern: p, Construct: what, Offset: at}
	}
	multiline := hasFlagM(p)
	var b strings.Builder
	b.Grow(len(p) + 16)
	inClass := false
	classStart := 0
	lastQuant := false // the previous token was a quantifier
	i := 0
	for i < len(p) {
		c := p[i]
		wasQuant := lastQuant
		lastQuant = false
		if c >= utf8.RuneSelf {
			fmt.Fprintf(&b, `\x{%02X}`, c)
			i++
			continue
		}
		if inClass {
			switch c {
			case '\\':
				s, n, err := translateEscape(p, i, true)
				if err != nil {
					return "", nil, err
				}
				b.WriteString(s)
				i += n
				continue
			case '[':
				// POSIX class [:alpha:] inside a class.
				if i+1 < len(p) && p[i+1] == ':' {
					if end := strings.Index(p[i+2:], ":]"); end >= 0 {
						b.WriteString(p[i : i+2+end+2])
						i += 2 + end + 2
						continue
					}
				}
				b.WriteString(`\[`)
				i++
				continue
			case ']':
				if i == classStart {
					// "]" first in a class is a literal in PCRE.
					b.WriteString(`\]`)
					i++
					continue
				}
				inClass = false
			}
			b.WriteByte(c)
			i++
			continue
		}
		switch c {
		case '\\':
			if i+1 < len(p) && p[i+1] == 'Q' {
				end := strings.Index(p[i+2:], `\E`)
				lit := p[i+2:]
				next := len(p)
				if end >= 0 {
					lit = p[i+2 : i+2+end]
					next = i + 2 + end + 2
				}
				for j := 0; j < len(lit); j++ {
					if lit[j] >= utf8.RuneSelf {
						fmt.Fprintf(&b, `\x{%02X}`, lit[j])
					} else {
						b.WriteString(regexp.QuoteMeta(lit[j : j+1]))
					}
				}
				i = next
				continue
			}
			s, n, err := translateEscape(p, i, false)
			if err != nil {
				return "", nil, err
			}
			if s == endOfSubject {
				end(&b)
			} else {
				b.WriteString(s)
			}
			i += n
		case '[':
			inClass = true
			b.WriteByte('[')
			i++
			if i < len(p) && p[i] == '^' {
				b.WriteByte('^')
				i++
			}
			classStart = i
		case '$':
			if multiline {
				b.WriteByte('$')
			} else {
				end(&b)
			}
			i++
		case '(':
			s, n, err := translateGroup(p, i, unsupported)
			if err != nil {
				return "", nil, err
			}
			if s == "(" || s == "(?P<" || strings.HasPrefix(s, "(?P<") {
				groups++
			}
			b.WriteString(s)
			i += n
		case '*', '+', '?':
			if wasQuant && c == '+' {
				return "", nil, unsupported("a possessive quantifier", i)
			}
			b.WriteByte(c)
			i++
			// "x*?" is lazy; "x*+" possessive; both follow a quantifier.
			lastQuant = c != '?' || !wasQuant
		case '{':
			if n := repeatLen(p[i:]); n > 0 {
				b.WriteString(p[i : i+n])
				i += n
				lastQuant = true
				continue
			}
			b.WriteString(`\{`)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	if inClass {
		return "", nil, fmt.Errorf("regex %q: missing terminating ] for character class", p)
	}
	return b.String(), eol, nil
}

// hasFlagM reports an inline flag group that turns on multi-line mode,
// e.g. "(?im)" or "(?sm:".
func hasFlagM(p string) bool {
	for i := 0; i+2 < len(p); i++ {
		if p[i] != '(' || p[i+1] != '?' {
			continue
		}
		for j := i + 2; j < len(p); j++ {
			c := p[j]
			if c == 'm' {
				return true
			}
			if c == '-' || c == ')' || c == ':' || !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				break
			}
		}
	}
	return false
}

// repeatLen returns the length of a PCRE counted repeat {n}, {n,}, {n,m}
// at the start of s, or 0 when "{" is a literal there.
func repeatLen(s string) int {
	i := 1
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return 0
	}
	if i < len(s) && s[i] == ',' {
		i++
		digits()
	}
	if i < len(s) && s[i] == '}' {
		return i + 1
	}
	return 0
}

// endOfSubject stands for PCRE's "$" / \Z in translateEscape's result.
const endOfSubject = "\x00eos"

// translateEscape translates the escape at p[i] ("\x"), returning the RE2
// text and how many pattern bytes it used.
func translateEscape(p string, i int, inClass bool) (string, int, error) {
	if i+1 >= len(p) {
		return "", 0, fmt.Errorf("regex %q: \\ at end of pattern", p)
	}
	c := p[i+1]
	unsupported := func(what string) (string, int, error) {
		return "", 0, &UnsupportedRegexError{Pattern: p, Construct: what, Offset: i}
	}
	class := func(in, out string) (string, int, error) {
		if inClass {
			return in, 2, nil
		}
		return out, 2, nil
	}
	switch c {
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return unsupported(fmt.Sprintf("a backreference (\\%c)", c))
	case 'g':
		return unsupported("a backreference or subroutine call (\\g)")
	case 'k':
		return unsupported("a named backreference (\\k)")
	case 'K':
		return unsupported("a match-start reset (\\K)")
	case 'G':
		return unsupported("the \\G anchor")
	case 'X':
		return unsupported("an extended grapheme cluster (\\X)")
	case 'C':
		// One code unit, i.e. any byte.
		return class(`\x00-\x{FF}`, `(?s:.)`)
	case 's':
		// PCRE2's \s includes VT since 8.34; RE2's does not.
		return class(`\t\n\x0B\f\r `, `[\t\n\x0B\f\r ]`)
	case 'S':
		if inClass {
			return `\S`, 2, nil
		}
		return `[^\t\n\x0B\f\r ]`, 2, nil
	case 'h':
		return class(`\t \x{A0}`, `[\t \x{A0}]`)
	case 'H':
		if inClass {
			return unsupported("\\H inside a character class")
		}
		return `[^\t \x{A0}]`, 2, nil
	case 'v':
		// PCRE's \v is vertical space; RE2's is the VT byte.
		return class(`\n\x0B\f\r\x{85}`, `[\n\x0B\f\r\x{85}]`)
	case 'V':
		if inClass {
			return unsupported("\\V inside a character class")
		}
		return `[^\n\x0B\f\r\x{85}]`, 2, nil
	case 'R':
		if inClass {
			return unsupported("\\R inside a character class")
		}
		return `(?:\r\n|[\n\x0B\f\r\x{85}])`, 2, nil
	case 'N':
		if inClass {
			return unsupported("\\N inside a character class")
		}
		return `[^\n]`, 2, nil
	case 'Z':
		if inClass {
			return "Z", 2, nil
		}
		return endOfSubject, 2, nil
	case 'e':
		return `\x1B`, 2, nil
	case 'c':
		if i+2 >= len(p) {
			return "", 0, fmt.Errorf("regex %q: \\c at end of pattern", p)
		}
		x := p[i+2]
		if x >= 'a' && x <= 'z' {
			x -= 'a' - 'A'
		}
		return fmt.Sprintf(`\x{%02X}`, x^0x40), 3, nil
	case 'o':
		return unsupported("an octal escape \\o{...}")
	case 'E':
		// \E without \Q is ignored by PCRE.
		return "", 2, nil
	}
	if c >= utf8.RuneSelf {
		return fmt.Sprintf(`\x{%02X}`, c), 2, nil
	}
	return p[i : i+2], 2, nil
}

// translateGroup translates the group opening at p[i] == '('.
func translateGroup(p string, i int, unsupported func(string, int) error) (string, int, error) {
	rest := p[i:]
	switch {
	case strings.HasPrefix(rest, "(*"):
		return "", 0, unsupported("a backtracking control verb or start option (*...)", i)
	case !strings.HasPrefix(rest, "(?"):
		return "(", 1, nil
	case strings.HasPrefix(rest, "(?#"):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return "", 0, fmt.Errorf("regex %q: missing ) after comment", p)
		}
		return "", end + 1, nil
	case strings.HasPrefix(rest, "(?="), strings.HasPrefix(rest, "(?!"):
		return "", 0, unsupported("a lookahead assertion", i)
	case strings.HasPrefix(rest, "(?<="), strings.HasPrefix(rest, "(?<!"):
		return "", 0, unsupported("a lookbehind assertion", i)
	case strings.HasPrefix(rest, "(?>"):
		return "", 0, unsupported("an atomic group", i)
	case strings.HasPrefix(rest, "(?|"):
		return "", 0, unsupported("a branch reset group", i)
	case strings.HasPrefix(rest, "(?("):
		return "", 0, unsupported("a conditional group", i)
	case strings.HasPrefix(rest, "(?C"):
		return "", 0, unsupported("a callout", i)
	case strings.HasPrefix(rest, "(?P="):
		return "", 0, unsupported("a named backreference (?P=name)", i)
	case strings.HasPrefix(rest, "(?P>"), strings.HasPrefix(rest, "(?&"),
		strings.HasPrefix(rest, "(?R"), len(rest) > 2 && (rest[2] >= '0' && rest[2] <= '9' || rest[2] == '+' || rest[2] == '-' && len(rest) > 3 && rest[3] >= '0' && rest[3] <= '9'):
		return "", 0, unsupported("a recursion or subroutine call", i)
	case strings.HasPrefix(rest, "(?'"):
		end := strings.IndexByte(rest[3:], '\'')
		if end < 0 {
			return "", 0, fmt.Errorf("regex %q: missing ' after group name", p)
		}
		return "(?P<" + rest[3:3+end] + ">", 3 + end + 1, nil
	case strings.HasPrefix(rest, "(?<"), strings.HasPrefix(rest, "(?P<"):
		return "(?P<", strings.IndexByte(rest, '<') + 1, nil
	}
	// Inline flags "(?imsU-imsU)" or "(?imsU:".
	j := 2
	for j < len(rest) && rest[j] != ')' && rest[j] != ':' {
		switch rest[j] {
		case 'i', 'm', 's', 'U', '-':
		case 'x':
			return "", 0, unsupported("extended mode (?x)", i)
		default:
			return "", 0, unsupported(fmt.Sprintf("the inline option %q", rest[j]), i)
		}
		j++
	}
	return "(?", 2, nil
}
