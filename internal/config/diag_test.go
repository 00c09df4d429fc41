package config

import (
	"errors"
	"testing"
)

func TestDiagnosticString(t *testing.T) {
	tests := []struct {
		name string
		d    Diagnostic
		want string
	}{
		{"everything", Diagnostic{File: "f.yaml", Line: 3, Column: 5, Key: "services[0].reals[1].weight", Message: "bad"}, "f.yaml:3: services[0].reals[1].weight: bad"},
		{"warning", Diagnostic{File: "f.yaml", Line: 3, Key: "admin.listen", Severity: Warning, Message: "risky"}, "warning: f.yaml:3: admin.listen: risky"},
		{"no line", Diagnostic{File: "f.yaml", Message: "reading config: no such file or directory"}, "f.yaml: reading config: no such file or directory"},
		{"no file", Diagnostic{Line: 7, Key: "timeouts.tcp", Message: "bad"}, "line 7: timeouts.tcp: bad"},
		{"key only", Diagnostic{Key: "services[2].scheduler", Message: "unknown"}, "services[2].scheduler: unknown"},
		{"message only", Diagnostic{Message: "no configuration"}, "no configuration"},
		{"warning without position", Diagnostic{Key: "admin.token_file", Severity: Warning, Message: "unused"}, "warning: admin.token_file: unused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := tt.d.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSeverityString(t *testing.T) {
	if Error.String() != "error" || Warning.String() != "warning" {
		t.Errorf("got %q, %q", Error, Warning)
	}
	var zero Diagnostic
	if zero.Severity != Error {
		t.Error("a zero Diagnostic must be an error, so that forgetting the severity never lets a bad config through")
	}
}

func TestDiagnosticsErr(t *testing.T) {
	warn := Diagnostic{File: "f", Line: 1, Key: "admin.listen", Severity: Warning, Message: "w"}
	e1 := Diagnostic{File: "f", Line: 2, Key: "a", Message: "first"}
	e2 := Diagnostic{File: "f", Line: 9, Key: "b", Message: "second"}

	if err := (Diagnostics{}).Err(); err != nil {
		t.Errorf("no diagnostics: Err() = %v", err)
	}
	if err := (Diagnostics{warn}).Err(); err != nil {
		t.Errorf("only warnings: Err() = %v, want nil", err)
	}
	err := Diagnostics{e1, warn, e2}.Err()
	if err == nil {
		t.Fatal("errors present: Err() = nil")
	}
	if want := "f:2: a: first\nf:9: b: second"; err.Error() != want {
		t.Errorf("Err().Error() = %q, want %q (all errors, one per line, no warnings)", err.Error(), want)
	}
	var d Diagnostic
	if !errors.As(err, &d) || d != e1 {
		t.Errorf("errors.As gave %+v, want the first error %+v", d, e1)
	}
	if got, want := (Diagnostics{warn, e1}).String(), "warning: f:1: admin.listen: w\nf:2: a: first"; got != want {
		t.Errorf("Diagnostics.String() = %q, want %q", got, want)
	}
}
