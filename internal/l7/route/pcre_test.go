package route

import (
	"errors"
	"reflect"
	"testing"
)

// PCRE semantics (pcre2pattern(3), byte mode as nginx compiles) that RE2
// spells differently.
func TestRegexPCRESemantics(t *testing.T) {
	tests := []struct {
		pattern  string
		caseless bool
		subject  string
		want     []string // nil: no match
	}{
		// "$" and \Z also match before a final newline.
		{`\.php$`, false, "/a.php\n", []string{".php"}},
		{`\.php$`, false, "/a.php\nb", nil},
		{`\.php\Z`, false, "/a.php\n", []string{".php"}},
		{`\.php\z`, false, "/a.php\n", nil},
		{`[$]`, false, "a$", []string{"$"}},
		{`\$`, false, "a$", []string{"$"}},
		// "." is one byte: é is two.
		{`^/(.)$`, false, "/\xc3\xa9", nil},
		{`^/(..)$`, false, "/\xc3\xa9", []string{"/\xc3\xa9", "\xc3\xa9"}},
		{`^/(\xc3)`, false, "/\xc3\xa9", []string{"/\xc3", "\xc3"}},
		{"^/\xc3\xa9$", false, "/\xc3\xa9", []string{"/\xc3\xa9"}},
		{`^/[^/]$`, false, "/\xff", []string{"/\xff"}},
		// \s has VT; \h, \v, \R, \N, \e.
		{`a\sb`, false, "a\vb", []string{"a\vb"}},
		{`a[\s]b`, false, "a\vb", []string{"a\vb"}},
		{`a\hb`, false, "a\tb", []string{"a\tb"}},
		{`a\vb`, false, "a\nb", []string{"a\nb"}},
		{`a\Rb`, false, "a\r\nb", []string{"a\r\nb"}},
		{`a\Nb`, false, "a\nb", nil},
		{`\e`, false, "\x1b", []string{"\x1b"}},
		{`\cA`, false, "\x01", []string{"\x01"}},
		// Comments, quoting, named groups, classes.
		{`a(?#comment)b`, false, "ab", []string{"ab"}},
		{`\Q.*\E`, false, "a.*", []string{".*"}},
		{`(?'n'x)`, false, "x", []string{"x", "x"}},
		{`(?<n>x)(?P<m>y)`, false, "xy", []string{"xy", "x", "y"}},
		{`[]a]+`, false, "]a", []string{"]a"}},
		{`[[:digit:]]+`, false, "a12", []string{"12"}},
		{`a{2}`, false, "aa", []string{"aa"}},
		{`a{,2}`, false, "a{,2}", []string{"a{,2}"}}, // PCRE2 10.42: literal
		{`a+?`, false, "aa", []string{"a"}},
		// ~* is ASCII-caseless.
		{`\.JPG$`, true, "/x.jpg", []string{".jpg"}},
		{`(?i)abc`, false, "ABC", []string{"ABC"}},
	}
	for _, tt := range tests {
		re, err := compileRegex(tt.pattern, tt.caseless)
		if err != nil {
			t.Errorf("%q: %v", tt.pattern, err)
			continue
		}
		got := re.FindSubmatch(tt.subject)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q on %q = %q, want %q", tt.pattern, tt.subject, got, tt.want)
		}
		if re.MatchString(tt.subject) != (tt.want != nil) {
			t.Errorf("%q on %q: MatchString disagrees", tt.pattern, tt.subject)
		}
	}
}

// What RE2 cannot do is named in the error.
func TestRegexUnsupported(t *testing.T) {
	tests := []struct{ pattern, construct string }{
		{`(a)\1`, `a backreference (\1)`},
		{`(a)\g1`, `a backreference or subroutine call (\g)`},
		{`(?<x>a)\k<x>`, `a named backreference (\k)`},
		{`(?P<x>a)(?P=x)`, "a named backreference (?P=name)"},
		{`a(?=b)`, "a lookahead assertion"},
		{`a(?!b)`, "a lookahead assertion"},
		{`(?<=a)b`, "a lookbehind assertion"},
		{`(?<!a)b`, "a lookbehind assertion"},
		{`(?>a)`, "an atomic group"},
		{`a*+`, "a possessive quantifier"},
		{`a?+`, "a possessive quantifier"},
		{`a{2,3}+`, "a possessive quantifier"},
		{`(?R)`, "a recursion or subroutine call"},
		{`(a)(?1)`, "a recursion or subroutine call"},
		{`(?&n)`, "a recursion or subroutine call"},
		{`(?(1)a|b)`, "a conditional group"},
		{`(?|a|b)`, "a branch reset group"},
		{`(?C1)`, "a callout"},
		{`(*UTF8)a`, "a backtracking control verb or start option (*...)"},
		{`a\Kb`, `a match-start reset (\K)`},
		{`\Ga`, `the \G anchor`},
		{`\X`, `an extended grapheme cluster (\X)`},
		{`(?x) a`, "extended mode (?x)"},
		{`[\H]`, `\H inside a character class`},
	}
	for _, tt := range tests {
		_, err := compileRegex(tt.pattern, false)
		var ue *UnsupportedRegexError
		if !errors.As(err, &ue) || ue.Construct != tt.construct {
			t.Errorf("%q: %v, want construct %q", tt.pattern, err, tt.construct)
		}
	}
}
