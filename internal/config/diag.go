package config

import (
	"errors"
	"strconv"
	"strings"
)

// Severity tells whether a Diagnostic rejects the config or only warns.
type Severity int

const (
	// Error makes the config unusable. It is the zero value, so a
	// Diagnostic built without a severity rejects the config.
	Error Severity = iota
	// Warning marks something legal but risky; the config is still used.
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in a config input.
type Diagnostic struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based; 0 when unknown
	// Key is the dotted path of the offending setting, e.g.
	// services[0].reals[1].weight; empty for problems of the whole input.
	Key      string
	Severity Severity
	Message  string
}

// String formats d as "file:line: key: message", the form editors and
// compilers use, with a "warning: " prefix for warnings. Parts that are
// unknown are left out.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.Severity == Warning {
		b.WriteString("warning: ")
	}
	switch {
	case d.File != "" && d.Line > 0:
		b.WriteString(d.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(d.Line))
		b.WriteString(": ")
	case d.File != "":
		b.WriteString(d.File)
		b.WriteString(": ")
	case d.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(d.Line))
		b.WriteString(": ")
	}
	if d.Key != "" {
		b.WriteString(d.Key)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// Error makes a Diagnostic usable as an error, so callers can errors.As the
// result of Diagnostics.Err to reach the individual problems.
func (d Diagnostic) Error() string { return d.String() }

// Diagnostics is every problem found in one input, in input order.
type Diagnostics []Diagnostic

// Err returns nil when no diagnostic has Error severity. Otherwise its
// Error() lists every error (warnings left out), one per line.
func (ds Diagnostics) Err() error {
	var errs []error
	for _, d := range ds {
		if d.Severity == Error {
			errs = append(errs, d)
		}
	}
	return errors.Join(errs...)
}

// String lists every diagnostic, warnings included, one per line.
func (ds Diagnostics) String() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}
