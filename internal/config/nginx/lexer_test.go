package nginx

import (
	"slices"
	"strings"
	"testing"
)

// TestReadToken checks ngx_conf_read_token's splitting on small inputs.
func TestReadToken(t *testing.T) {
	tests := []struct {
		name, in string
		want     [][]string
		err      string
	}{
		{"words", "a b c;", [][]string{{"a", "b", "c"}}, ""},
		{"block", "http {\n}\n", [][]string{{"http"}}, ""},
		{"double quotes", `a "b c" "d\"e";`, [][]string{{"a", "b c", `d"e`}}, ""},
		{"single quotes", `a 'b "c"' 'd\'e';`, [][]string{{"a", `b "c"`, "d'e"}}, ""},
		{"escapes", `a "\t\r\n\\\x";`, [][]string{{"a", "\t\r\n\\\\x"}}, ""},
		{"escaped blank", `a b\ c;`, [][]string{{"a", `b\ c`}}, ""},
		{"comment", "# c\na b; # d\n", [][]string{{"a", "b"}}, ""},
		{"hash inside a word", "a b#c;", [][]string{{"a", "b#c"}}, ""},
		{"variable braces", "a ${b}c x${y};", [][]string{{"a", "${b}c", "x${y}"}}, ""},
		{"paren after quote", `if ($a = "b") {}`, [][]string{{"if", "($a", "=", "b", ")"}}, ""},
		{"text after quote", `a "b"c;`, nil, `unexpected "c"`},
		{"semicolon first", ";", nil, `unexpected ";"`},
		{"brace in directive", "a }", nil, `unexpected "}"`},
		{"unterminated", "a b", nil, `unexpected end of file, expecting ";" or "}"`},
		{"unterminated quote", `a "b`, nil, `unexpected end of file, expecting ";" or "}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &diagSink{}
			lx := newLexer("t.conf", []byte(tt.in), sink)
			var got [][]string
			for {
				words, res := lx.readToken()
				if res == tokError || res == tokFileDone {
					break
				}
				if len(words) > 0 {
					got = append(got, words)
				}
			}
			ds := sink.sorted()
			if tt.err != "" {
				if len(ds) != 1 || ds[0].Message != tt.err {
					t.Fatalf("diagnostics %v, want %q", ds, tt.err)
				}
				return
			}
			if len(ds) != 0 {
				t.Fatalf("diagnostics: %v", ds)
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal[[]string]) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadTokenBuffer checks NGX_CONF_BUFFER: a parameter of 4 KiB
// cannot be read when the file goes on, one just shorter can, wherever it
// starts; the error names the line it started on.
func TestReadTokenBuffer(t *testing.T) {
	for _, pad := range []int{0, 1, 4000} {
		prefix := strings.Repeat("#\n", pad/2)
		ok := prefix + "a " + strings.Repeat("x", confBuffer-1) + ";\nb;\n"
		r := &reader{opts: &Options{}, sink: &diagSink{}}
		if r.parseFile("t.conf", []byte(ok), 0); r.failed {
			t.Errorf("pad %d: a %d-byte parameter refused: %v", pad, confBuffer-1, r.sink.sorted())
		}
		long := prefix + "a " + strings.Repeat("x", confBuffer) + ";\nb;\n"
		r = &reader{opts: &Options{}, sink: &diagSink{}}
		r.parseFile("t.conf", []byte(long), 0)
		ds := r.sink.sorted()
		if len(ds) != 1 || !strings.HasPrefix(ds[0].Message, `too long parameter "xxxxxxxxxx..." started`) || ds[0].Line != pad/2+1 {
			t.Errorf("pad %d: a %d-byte parameter gave %v", pad, confBuffer, ds)
		}
	}
}
