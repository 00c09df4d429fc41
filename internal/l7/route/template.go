package route

import (
	"fmt"
	"strings"
)

// Parts of a compiled value, after ngx_http_script_compile.
const (
	partLiteral = iota
	partCapture
	partVar
	partArgs // the first "?" of a rewrite replacement: args start here
)

type part struct {
	kind int
	lit  string // literal text or variable name
	n    int    // capture number
}

// template is a value with $1..$9 captures and $variables.
type template struct {
	parts     []part
	args      bool // the source contains "?" (sc->args)
	variables bool // the source contains "$" (ngx_http_script_variables_count)
}

func isVarByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_'
}

// compileTemplate splits s as ngx_http_script_compile does. With
// compileArgs the first "?" becomes a partArgs marker (rewrite to a URI);
// without it "?" stays literal (redirects, return text).
func compileTemplate(s string, compileArgs bool) (*template, error) {
	t := &template{variables: strings.IndexByte(s, '$') >= 0}
	for i := 0; i < len(s); {
		if s[i] == '$' {
			i++
			if i == len(s) {
				return nil, fmt.Errorf("invalid variable name in %q", s)
			}
			if s[i] >= '1' && s[i] <= '9' {
				t.parts = append(t.parts, part{kind: partCapture, n: int(s[i] - '0')})
				i++
				continue
			}
			bracket := s[i] == '{'
			if bracket {
				i++
			}
			start := i
			for i < len(s) && isVarByte(s[i]) {
				i++
			}
			name := s[start:i]
			if bracket {
				if i == len(s) || s[i] != '}' {
					return nil, fmt.Errorf("the closing bracket in %q variable is missing", name)
				}
				i++
			}
			if name == "" {
				return nil, fmt.Errorf("invalid variable name in %q", s)
			}
			if name[0] >= '0' && name[0] <= '9' {
				// Only "$1".."$9" are captures; "${1}" is a variable
				// named "1", which nginx does not know.
				return nil, fmt.Errorf("unknown %q variable", name)
			}
			t.parts = append(t.parts, part{kind: partVar, lit: name})
			continue
		}
		if s[i] == '?' && compileArgs {
			t.args = true
			compileArgs = false
			t.parts = append(t.parts, part{kind: partArgs})
			i++
			continue
		}
		start := i
		for i < len(s) && s[i] != '$' {
			if s[i] == '?' {
				t.args = true
				if compileArgs {
					break
				}
			}
			i++
		}
		t.parts = append(t.parts, part{kind: partLiteral, lit: s[start:i]})
	}
	return t, nil
}

// expand evaluates the template. quote is e->quote (redirects): captures
// in a quoted context or after the args marker are escaped with
// NGX_ESCAPE_ARGS when the request URI had "%" or "+"
// (ngx_http_script_copy_capture_code). It returns the value and the offset
// where args start (-1 without a marker).
func (t *template) expand(st *State, caps []string, quote bool) (string, int) {
	var b strings.Builder
	argsAt := -1
	escape := st.Quoted || st.Plus
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral:
			b.WriteString(p.lit)
		case partCapture:
			if p.n >= len(caps) {
				continue
			}
			if (argsAt >= 0 || quote) && escape {
				b.WriteString(escapeArgs(caps[p.n]))
			} else {
				b.WriteString(caps[p.n])
			}
		case partVar:
			b.WriteString(st.variable(p.lit))
		case partArgs:
			argsAt = b.Len()
		}
	}
	return b.String(), argsAt
}
