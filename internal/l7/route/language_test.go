package route

import (
	"reflect"
	"testing"
)

// RFC 9110 §12.5.4 / §12.4.2 syntax.
func TestParseAcceptLanguage(t *testing.T) {
	tests := []struct {
		in   string
		want []LanguageRange
	}{
		{"", nil},
		{"en", []LanguageRange{{"en", 1000}}},
		{"zh-CN;q=0.9, en;q=0.8", []LanguageRange{{"zh-CN", 900}, {"en", 800}}},
		{"da, en-gb;q=0.8, en;q=0.7", []LanguageRange{{"da", 1000}, {"en-gb", 800}, {"en", 700}}},
		{"*;q=0.1,fr", []LanguageRange{{"*", 100}, {"fr", 1000}}},
		{" en ; Q=0.5 ", []LanguageRange{{"en", 500}}},
		{"en;q=1.000,de;q=0.001,fr;q=0", []LanguageRange{{"en", 1000}, {"de", 1}, {"fr", 0}}},
		{"sr-Latn-RS;x=1;q=0.3", []LanguageRange{{"sr-Latn-RS", 300}}},
		// Invalid elements are dropped: bad q, bad range syntax.
		{"en;q=1.5, de;q=2, fr;q=0.0001, it;q=.5, es;q=", nil},
		{"123, e_n, -en, en-, toolongtag, x-abcdefghi, ,", nil},
		{"en;q=0.5;q=0.7", []LanguageRange{{"en", 700}}},
	}
	for _, tt := range tests {
		if got := ParseAcceptLanguage(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAcceptLanguage(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// Picking the best of a configured list: q-values (RFC 9110 §12.4.2),
// RFC 4647 basic filtering plus lookup-style truncation, q=0 excludes,
// "*", ties.
func TestBestLanguage(t *testing.T) {
	tests := []struct {
		header    string
		available []string
		want      string
		ok        bool
	}{
		{"zh-CN;q=0.9, en;q=0.8", []string{"en", "zh"}, "zh", true}, // truncation: zh-CN -> zh
		{"en;q=0.8, zh-CN;q=0.9", []string{"en", "zh"}, "zh", true}, // order does not beat q
		{"en-US,en;q=0.9,de;q=0.8", []string{"de", "en"}, "en", true},
		{"en", []string{"en-US", "de"}, "en-US", true}, // basic filtering: en matches en-US
		{"en-US", []string{"en-GB"}, "", false},        // siblings do not match
		{"de;q=0, *;q=0.5", []string{"de", "fr"}, "fr", true},
		{"de;q=0", []string{"de"}, "", false}, // q=0: not acceptable
		{"*", []string{"fr", "de"}, "fr", true},
		{"*;q=0", []string{"fr"}, "", false},
		// Most specific range decides: en-GB;q=0 beats en;q=1 for en-GB.
		{"en;q=1, en-GB;q=0", []string{"en-GB", "en-US"}, "en-US", true},
		{"en-GB;q=0.2, en;q=0.9", []string{"en-GB", "fr"}, "en-GB", true},
		// Ties: the range listed first in the header wins ...
		{"fr, de", []string{"de", "fr"}, "fr", true},
		{"de;q=0.5, fr;q=0.5", []string{"fr", "de"}, "de", true},
		// ... and for the same range the earlier configured tag.
		{"*", []string{"zh", "en"}, "zh", true},
		{"en", []string{"en-US", "en-GB"}, "en-US", true},
		{"ZH-cn", []string{"zh-CN"}, "zh-CN", true}, // case-insensitive
		{"", []string{"en"}, "", false},
		{"garbage;;;", []string{"en"}, "", false},
		// Truncation is a fallback: a filtering range decides first.
		{"zh-Hant-TW;q=0.7, en;q=0.5", []string{"en", "zh-Hant"}, "zh-Hant", true},
		{"zh-Hant-TW;q=0.7, zh;q=0.3, en;q=0.5", []string{"en", "zh-Hant"}, "en", true},
	}
	for _, tt := range tests {
		got, ok := BestLanguage(tt.header, tt.available)
		if got != tt.want || ok != tt.ok {
			t.Errorf("BestLanguage(%q, %q) = %q, %v; want %q, %v", tt.header, tt.available, got, ok, tt.want, tt.ok)
		}
	}
}
