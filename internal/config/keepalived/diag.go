package keepalived

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// pos is where a line of the configuration came from. seq orders lines
// across included files, so diagnostics come out in reading order.
type pos struct {
	file string
	line int
	seq  int
}

// diagSink collects diagnostics. Both parsing passes (see parse.go) report
// problems of the lines they share, so identical diagnostics are kept once.
type diagSink struct {
	ds   []sinkDiag
	seen map[sinkKey]bool
}

type sinkDiag struct {
	d   config.Diagnostic
	seq int
}

type sinkKey struct {
	file string
	line int
	sev  config.Severity
	msg  string
}

// add records a diagnostic and returns its index, or -1 when the same
// one was already recorded.
func (s *diagSink) add(p pos, sev config.Severity, key, msg string) int {
	k := sinkKey{p.file, p.line, sev, msg}
	if s.seen == nil {
		s.seen = map[sinkKey]bool{}
	}
	if s.seen[k] {
		return -1
	}
	s.seen[k] = true
	s.ds = append(s.ds, sinkDiag{d: config.Diagnostic{File: p.file, Line: p.line, Key: key, Severity: sev, Message: msg}, seq: p.seq})
	return len(s.ds) - 1
}

func (s *diagSink) errorf(p pos, format string, args ...any) {
	s.add(p, config.Error, "", fmt.Sprintf(format, args...))
}

func (s *diagSink) warnf(p pos, format string, args ...any) {
	s.add(p, config.Warning, "", fmt.Sprintf(format, args...))
}

// sorted returns the diagnostics in reading order; those without a line
// (whole-file problems) keep the order they were found in after the rest.
func (s *diagSink) sorted(strict bool) config.Diagnostics {
	ds := slices.Clone(s.ds)
	key := func(d sinkDiag) int {
		if d.d.Line == 0 {
			return math.MaxInt
		}
		return d.seq
	}
	slices.SortStableFunc(ds, func(a, b sinkDiag) int { return cmp.Compare(key(a), key(b)) })
	out := make(config.Diagnostics, len(ds))
	for i, d := range ds {
		if strict && d.d.Severity == config.Warning {
			d.d.Severity = config.Error
		}
		out[i] = d.d
	}
	return out
}
