package nginx

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// pos is where a directive came from; seq orders directives across
// included files, so diagnostics come out in reading order.
type pos struct {
	file string
	line int
	seq  int
}

// diagSink collects diagnostics, each once.
type diagSink struct {
	ds   []sinkDiag
	seen map[sinkKey]bool
	seq  int
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

func (s *diagSink) add(p pos, sev config.Severity, key, msg string) {
	k := sinkKey{p.file, p.line, sev, msg}
	if s.seen == nil {
		s.seen = map[sinkKey]bool{}
	}
	if s.seen[k] {
		return
	}
	s.seen[k] = true
	if p.seq == 0 {
		s.seq++
		p.seq = s.seq
	}
	s.ds = append(s.ds, sinkDiag{d: config.Diagnostic{File: p.file, Line: p.line, Key: key, Severity: sev, Message: msg}, seq: p.seq})
}

func (s *diagSink) errorf(p pos, format string, args ...any) {
	s.add(p, config.Error, "", fmt.Sprintf(format, args...))
}

func (s *diagSink) warnf(p pos, format string, args ...any) {
	s.add(p, config.Warning, "", fmt.Sprintf(format, args...))
}

func (s *diagSink) hasErrors() bool {
	return slices.ContainsFunc(s.ds, func(d sinkDiag) bool { return d.d.Severity == config.Error })
}

// sorted returns the diagnostics in reading order; those without a line
// come last, in the order they were found.
func (s *diagSink) sorted() config.Diagnostics {
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
		out[i] = d.d
	}
	return out
}
