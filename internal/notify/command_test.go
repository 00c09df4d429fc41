package notify

import (
	"errors"
	"slices"
	"testing"
)

// The cases follow keepalived's parser.c alloc_strvec_quoted_escaped and
// the examples of keepalived.conf(5) "Quoted strings".
func TestSplitCommand(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"plain words", "/bin/echo a  b", []string{"/bin/echo", "a", "b"}},
		{"all keepalived white space separates", "a\tb\fc\nd\re\vf g", []string{"a", "b", "c", "d", "e", "f", "g"}},
		{"leading and trailing space", "  a b \t", []string{"a", "b"}},
		// keepalived.conf(5): 'abcd" efg h jkl "mnop' is one string.
		{"man: quote inside a word", `abcd" efg h jkl "mnop`, []string{"abcd efg h jkl mnop"}},
		// keepalived.conf(5): 'abcd "efg h jkl" mnop' is three strings.
		{"man: quoted word", `abcd "efg h jkl" mnop`, []string{"abcd", "efg h jkl", "mnop"}},
		{"single quote keeps double quote", `'a "b" c'`, []string{`a "b" c`}},
		{"double quote keeps single quote", `"it's"`, []string{"it's"}},
		{"escapes work inside single quotes", `'it\'s'`, []string{"it's"}},
		{"escaped space joins words", `a\ b`, []string{"a b"}},
		{"escaped quote is literal", `\"a`, []string{`"a`}},
		{"empty quoted word", `a "" b`, []string{"a", "", "b"}},
		{"empty quoted word at the end", `/bin/check ""`, []string{"/bin/check", ""}},
		{"no shell expansion", `/bin/check 'single $x' $HOME *`, []string{"/bin/check", "single $x", "$HOME", "*"}},
		{"escaped quote inside double quotes", `"q\"uote"`, []string{`q"uote`}},
		{"adjacent quotes concatenate", `a""b''c`, []string{"abc"}},
		{"named escapes", `\a\b\E\f\n\r\t\v`, []string{"\a\b\x1b\f\n\r\t\v"}},
		{"octal, 1 to 3 digits", `\101\1018\7`, []string{"AA8\x07"}},
		{"octal keeps the low byte", `\777`, []string{"\xff"}},
		{"hex", `\x41\x6a`, []string{"Aj"}},
		// parser.c reads every hex digit and keeps the last byte.
		{"hex consumes all digits", `\x4142`, []string{"B"}},
		{"\\x without a digit is x", `\xg`, []string{"xg"}},
		{"control character", `\cA\c[`, []string{"\x01\x1b"}},
		{"\\c at the end is c", `a\c`, []string{"ac"}},
		{"other escapes are the character", `\q\\`, []string{`q\`}},
		{"non-ASCII passes through", "été 'ça va'", []string{"été", "ça va"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitCommand(tt.in)
			if err != nil {
				t.Fatalf("SplitCommand(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("SplitCommand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// keepalived splits a notify line twice: notify_script_init re-reads the
// whole line with quotes and escapes (the config adapter's job), then
// set_script_params_array splits the script string, word 1, again (ours).
// So escapes are decoded twice. keepalived.conf(5)'s notify_master example
// claims the first parameter is ' spaces\x20file ', but by the code the
// second pass decodes \x20f, greedily, to 0x20f and keeps the byte 0x0f;
// we follow the code.
func TestSplitCommandTwoPasses(t *testing.T) {
	line := `notify_master "/etc/keepalived/notify_event.sh ' spaces\\x20f\x69le ' '\"s p a c e \"' SG1.low master" user group`
	outer, err := SplitCommand(line)
	if err != nil || len(outer) != 4 {
		t.Fatalf("line: %q, %v", outer, err)
	}
	if want := `/etc/keepalived/notify_event.sh ' spaces\x20file ' '"s p a c e "' SG1.low master`; outer[1] != want {
		t.Fatalf("script string %q, want %q", outer[1], want)
	}
	got, err := SplitCommand(outer[1])
	want := []string{"/etc/keepalived/notify_event.sh", " spaces\x0file ", `"s p a c e "`, "SG1.low", "master"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("argv %q, %v; want %q", got, err, want)
	}
}

func TestSplitCommandErrors(t *testing.T) {
	for _, in := range []string{
		"",         // keepalived: "Unable to parse script"
		" \t\n",    // no word
		`"abc`,     // missing terminating "
		`a 'b`,     // missing terminating '
		`abc\`,     // missing escape char at end
		`a\0b`,     // NUL: keepalived truncates, we refuse
		`a\x00`,    // NUL via hex
		`'\x100'`,  // low byte of 0x100 is NUL
		`\c@`,      // control-@ is NUL
		"a\x00b",   // a raw NUL byte
		`"a" "b\"`, // escaped closing quote leaves the quote open
		`'a\'`,     // same in single quotes
	} {
		if got, err := SplitCommand(in); !errors.Is(err, ErrCommand) {
			t.Errorf("SplitCommand(%q) = %q, %v; want ErrCommand", in, got, err)
		}
	}
}

func TestJoinCommandRoundTrip(t *testing.T) {
	for _, words := range [][]string{
		{"/bin/true"},
		{"/x", ""},
		{"/x", "a b", `it's`, `back\slash`, `"q"`, "tab\there", "nl\n"},
		{"/x", "\x01\xff", "été"},
	} {
		line := JoinCommand(words)
		got, err := SplitCommand(line)
		if err != nil || !slices.Equal(got, words) {
			t.Errorf("SplitCommand(JoinCommand(%q)) = %q, %v (line %q)", words, got, err, line)
		}
	}
	if got := JoinCommand([]string{"/bin/echo", "a"}); got != "/bin/echo a" {
		t.Errorf("plain words are quoted: %q", got)
	}
}

func TestIsFileTest(t *testing.T) {
	for in, want := range map[string]bool{
		"</etc/hosts":   true,
		"< \t/etc/host": true,
		"<etc":          false,
		"/bin/true":     false,
		">/tmp/x":       false,
	} {
		if got := isFileTest(in); got != want {
			t.Errorf("isFileTest(%q) = %v, want %v", in, got, want)
		}
	}
}

func BenchmarkSplitCommand(b *testing.B) {
	const line = `/etc/keepalived/notify.sh 'a b' "c\td" \x41 plain words here`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SplitCommand(line); err != nil {
			b.Fatal(err)
		}
	}
}
