package keepalived

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// mapFS serves includes from memory; names are relative slash paths.
type mapFS struct{ m fstest.MapFS }

func (f mapFS) Glob(pattern string) ([]string, error) { return fs.Glob(f.m, path.Clean(pattern)) }
func (f mapFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(f.m, path.Clean(name)) }
func (f mapFS) ReadFile(name string) ([]byte, error)  { return fs.ReadFile(f.m, path.Clean(name)) }

func lexString(t *testing.T, src string, files fstest.MapFS) ([]line, config.Diagnostics) {
	t.Helper()
	opts := goldenOpts()
	opts.FS = mapFS{files}
	sink := &diagSink{}
	lines := lex("main.conf", []byte(src), &opts, opts.FS, sink)
	return lines, sink.sorted(false)
}

func texts(lines []line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

func TestDecomment(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  priority 100  ", "priority 100"},
		{"priority 100 # comment", "priority 100"},
		{"priority 100 ! comment", "priority 100"},
		{`script "/bin/check # not a comment"`, `script "/bin/check # not a comment"`},
		{`script "/bin/check" # a comment`, `script "/bin/check"`},
		{`router_id a\#b`, `router_id a#b`},
		{`router_id a\!b`, `router_id a!b`},
		{`$X=line one \`, `$X=line one\`},
		{`$X=line one    \`, `$X=line one\`},
		{`"quoted \# stays"`, `"quoted \# stays"`},
		{"# whole line", ""},
		{"state MASTER // node04 BACKUP", "state MASTER // node04 BACKUP"},
	}
	for _, tt := range tests {
		lx := &lexer{diags: &diagSink{}}
		if got := lx.decomment(tt.in); got != tt.want {
			t.Errorf("decomment(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"virtual_server 10.0.0.1 80", []string{"virtual_server", "10.0.0.1", "80"}, true},
		{`notify "/bin/x a b" root`, []string{"notify", "/bin/x a b", "root"}, true},
		{`router_id 'a b'`, []string{"router_id", "'a", "b'"}, true}, // single quotes are not quotes
		{`virtual_router_id 5"1"`, []string{"virtual_router_id", "5", "1"}, true},
		{`weight ""`, []string{"weight", ""}, true},
		{`label "unterminated`, []string{"label"}, false},
		{"  \t ", nil, true},
	}
	for _, tt := range tests {
		got, ok := words(tt.in)
		if !slices.Equal(got, tt.want) || ok != tt.ok {
			t.Errorf("words(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestQuotedWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{`misc_path "/bin/check --port 80" nobody`, []string{"misc_path", "/bin/check --port 80", "nobody"}, false},
		{`script '/bin/a "b"'`, []string{"script", `/bin/a "b"`}, false},
		{`notify a\ b`, []string{"notify", "a b"}, false},
		{`x "tab\there" \x41\102\cA`, []string{"x", "tab\there", "AB\x01"}, false},
		{`x "open`, nil, true},
		{`x ends\`, nil, true},
	}
	for _, tt := range tests {
		got, err := quotedWords(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("quotedWords(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestExpandBraces(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a.conf", []string{"a.conf"}},
		{"{a,b}.conf", []string{"a.conf", "b.conf"}},
		{"x{1,2}y{a,b}", []string{"x1ya", "x1yb", "x2ya", "x2yb"}},
		{"{a,{b,c}}d", []string{"ad", "bd", "cd"}},
		{"unclosed{a,b", []string{"unclosed{a,b"}},
		{`esc\{a,b}`, []string{`esc\{a,b}`}},
	}
	for _, tt := range tests {
		if got := expandBraces(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("expandBraces(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestLexSplitsBraces checks read_line's brace handling: every '{' and
// '}' outside quotes on a line of its own, keeping the line number.
func TestLexSplitsBraces(t *testing.T) {
	src := "vrrp_instance V {\n  virtual_ipaddress { 10.0.0.1 }\n  label \"a{b}\"\n}\n{\n"
	lines, ds := lexString(t, src, nil)
	want := []string{"vrrp_instance V", "{", "virtual_ipaddress", "{", "10.0.0.1", "}", `label "a{b}"`, "}", "{"}
	if got := texts(lines); !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	wantLine := []int{1, 1, 2, 2, 2, 2, 3, 4, 5}
	for i, l := range lines {
		if l.pos.line != wantLine[i] {
			t.Errorf("line %q at %d, want %d", l.text, l.pos.line, wantLine[i])
		}
	}
	// The '{' of line 5 is never closed.
	if len(ds) != 1 || !strings.Contains(ds[0].Message, "There are 1 missing '}'s or extra '{'s") {
		t.Errorf("diagnostics %v", ds)
	}
}

func TestLexPreprocessor(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
		diag string
	}{
		{"definition and both reference forms", "$A=1.2.3.4\n$P=80\nvs $A ${P}\n", []string{"vs 1.2.3.4 80"}, ""},
		{"reference glued to text needs braces", "$A=x\nr $Ay ${A}y\n", []string{"r $Ay xy"}, ""},
		{"undefined is kept", "a $NOPE b\n", []string{"a $NOPE b"}, ""},
		{"redefinition", "$A=1\n$A=2\na $A\n", []string{"a 2"}, ""},
		{"space before = is not a definition", "$A =1\n", []string{"$A =1"}, ""},
		{"multi-line definition", "$M=one \\\n two \\\n three\nx\n$M\n", []string{"x", "one", "two", "three"}, ""},
		{"multi-line only at the end of a line", "$M=a \\\n b\nk $M z\n", []string{"k $M z"}, ""},
		{"blank line ends a multi-line definition", "$M=a \\\n\nb\n$M\n", []string{"b", "a"}, ""},
		{"config id", "@lb1 yes\n@lb2 no\n@^lb1 no\n@^lb2 yes2\n@lb1\n", []string{"yes", "yes2"}, ""},
		{"builtins", "h ${_HASH}x\nb \"${_BANG}\"\ni $_INSTANCE\nr ${_RANDOM 5 9}\n", []string{"h", `b "!"`, "i lb1", "r 5"}, ""},
		{"environment", "v ${_ENV VIP}\n", []string{"v 192.0.2.80"}, "keepalived 2.2.7 does not know ${_ENV}"},
		{"self reference stops", "$A=$A\nx $A\n", nil, "does not end"},
		{"seq", "~SEQ(i, 1, 2, 5) r $i\n", []string{"r 1", "r 3", "r 5"}, ""},
		{"seq short form counts down", "~SEQ(i, 3, 1) r $i\n", []string{"r 3", "r 2", "r 1"}, ""},
		{"seq hex", "~SEQx(i, 9, 11) r $i\n", []string{"r 9", "r a", "r b"}, ""},
		{"bad seq", "~SEQ(i, 1, 0, 5) r $i\n", nil, "Invalid ~SEQ values"},
		{"lst", "~LST(h, a, b) host $h\n", []string{"host a", "host b"}, ""},
		{"lst of sets", "~LST({ip, w}, {1.1.1.1, 2}, {2.2.2.2}) rs $ip w$w\n", []string{"rs 1.1.1.1 w2", "rs 2.2.2.2 w"}, ""},
		{"escaped comment is cut by keepalived's second pass", "router_id a\\#b\n", []string{"router_id a"}, "ignore everything from the escaped"},
		{"unterminated quote", "x \"a\n", []string{`x "a`}, "Unterminated quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, ds := lexString(t, tt.src, nil)
			if got := texts(lines); !slices.Equal(got, tt.want) {
				t.Errorf("lines %q, want %q", got, tt.want)
			}
			if tt.diag == "" && len(ds) > 0 {
				t.Errorf("unexpected diagnostics: %v", ds)
			}
			if tt.diag != "" && !strings.Contains(ds.String(), tt.diag) {
				t.Errorf("diagnostics %q do not mention %q", ds, tt.diag)
			}
		})
	}
}

func TestLexIncludes(t *testing.T) {
	files := fstest.MapFS{
		"inc/a.conf":     {Data: []byte("a1\na2\n"), Mode: 0o644},
		"inc/b.conf":     {Data: []byte("b1\ninclude sub/c.conf\n"), Mode: 0o644},
		"inc/sub/c.conf": {Data: []byte("c1\n"), Mode: 0o644},
		"inc/exec.conf":  {Data: []byte("never\n"), Mode: 0o755},
		"inc/dir.conf":   {Mode: fs.ModeDir | 0o755},
		"loop/self.conf": {Data: []byte("s1\ninclude self.conf\n"), Mode: 0o644},
		"deep/next.conf": {Data: []byte("include next.conf\n"), Mode: 0o644},
	}
	tests := []struct {
		name string
		src  string
		want []string
		diag string
	}{
		{"glob in order, nested relative to the includer", "x\ninclude inc/*.conf\ny\n", []string{"x", "a1", "a2", "b1", "c1", "y"}, "is not a regular non-executable file"},
		{"brace alternatives in order", "include inc/{b,a}.conf\n", []string{"b1", "c1", "a1", "a2"}, ""},
		{"a missing named file", "include inc/none.conf\n", nil, "Config files missing 'inc/none.conf'."},
		{"a wildcard without a match is fine", "include inc/*.none\n", nil, ""},
		{"includew reports a wildcard without a match", "includew inc/*.none\n", nil, "No config files matched"},
		{"a partly missing brace list", "include inc/{a,none}.conf\n", []string{"a1", "a2"}, "Some config files missing"},
		{"includeb refuses a partly missing brace list", "includeb inc/{a,none}.conf\n", nil, "Some config files missing"},
		{"a directory", "include inc/dir.conf\n", nil, "is a directory"},
		{"a file including itself", "include loop/self.conf\n", []string{"s1"}, "includes itself"},
		{"a quoted name is not unquoted", "include \"inc/a.conf\"\n", nil, `Config files missing '"inc/a.conf"'.`},
		{"a word starting with include", "included x\n", []string{"included x"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, ds := lexString(t, tt.src, files)
			if got := texts(lines); !slices.Equal(got, tt.want) {
				t.Errorf("lines %q, want %q", got, tt.want)
			}
			if tt.diag == "" && len(ds) > 0 {
				t.Errorf("unexpected diagnostics: %v", ds)
			}
			if tt.diag != "" && !strings.Contains(ds.String(), tt.diag) {
				t.Errorf("diagnostics %q do not mention %q", ds, tt.diag)
			}
		})
	}
	// Positions follow the included files.
	lines, _ := lexString(t, "x\ninclude inc/b.conf\n", files)
	if got := lines[2].pos; got.file != "inc/sub/c.conf" || got.line != 1 {
		t.Errorf("c1 comes from %s:%d, want inc/sub/c.conf:1", got.file, got.line)
	}
}

func TestLexLimits(t *testing.T) {
	_, ds := lexString(t, "~SEQ(i, 1, 100000000) x $i\n", nil)
	if !strings.Contains(ds.String(), "more than") {
		t.Errorf("a huge ~SEQ is not stopped: %v", ds)
	}
	_, ds = lexString(t, "$A=${A}${A}\nx $A\n", nil)
	if ds.Err() == nil {
		t.Errorf("a growing definition is not stopped: %v", ds)
	}
}
