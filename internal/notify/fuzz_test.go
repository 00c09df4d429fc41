package notify

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzSplitCommand checks that the splitter never panics, that a success
// yields at least one NUL-free word, that every failure is ErrCommand, that
// without quotes, escapes or NULs the words are what lies between
// keepalived's white space, and that JoinCommand is its inverse.
func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{
		"/bin/echo a b",
		`abcd" efg h jkl "mnop`,
		`/x ' spaces\\x20f\x69le ' '\"s p a c e \"' SG1.low master`,
		`\x4142 \777 \cA \q 'it\'s'`,
		`"unterminated`,
		`trailing\`,
		"",
		"a\tb\fc\vd\n",
		"plain words, no quotes",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitCommand(s)
		if !strings.ContainsAny(s, "\"'\\\x00") {
			want := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(whiteSpace, r) })
			if len(want) == 0 && err == nil || len(want) > 0 && (err != nil || !slices.Equal(words, want)) {
				t.Fatalf("SplitCommand(%q) = %q, %v; want the blank-separated words %q", s, words, err, want)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrCommand) {
				t.Fatalf("SplitCommand(%q): error %v does not wrap ErrCommand", s, err)
			}
			return
		}
		if len(words) == 0 {
			t.Fatalf("SplitCommand(%q) returned no words and no error", s)
		}
		for _, w := range words {
			if strings.IndexByte(w, 0) >= 0 {
				t.Fatalf("SplitCommand(%q) returned a word with NUL: %q", s, w)
			}
		}
		again, err := SplitCommand(JoinCommand(words))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("round trip of %q: %q -> %q, %v", s, words, again, err)
		}
	})
}
