package health

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// fileProber is FILE_CHECK (check_file.c with lib/track_file.c): the file
// holds a number. Unweighted, a non-zero value is a fault (with reverse, a
// zero value is). Weighted, value × weight (negated with reverse) is added
// to the real server's weight, and a product at or below INT_MIN is a
// fault. A missing or empty file reads as 0; an unparsable number is
// ignored and the previous value kept (process_track_file).
type fileProber struct {
	path    string
	mult    int64 // 0: unweighted
	reverse bool
	base    int32

	mu   sync.Mutex
	last int64
}

func newFileProber(c config.Check, opt ProbeOptions) (*fileProber, error) {
	if c.File == "" {
		return nil, errors.New("file check has no file")
	}
	p := &fileProber{path: c.File, mult: int64(c.FileWeight), reverse: c.FileReverse, base: opt.Weight}
	if p.mult == 0 && c.FileDynamic {
		// A track_file's own weight defaults to 1 (track_file.c
		// track_file_handler); "dynamic" without a weight means that.
		p.mult = 1
	}
	return p, nil
}

func (p *fileProber) Probe(context.Context) Result {
	v, note := p.read()
	if p.mult == 0 {
		fault := v != 0
		if p.reverse {
			fault = v == 0
		}
		if fault {
			return fail(fmt.Errorf("%s: %w: value %d", p.path, ErrFileFault, v))
		}
		return Result{OK: true, Err: note}
	}
	m := p.mult
	if p.reverse {
		m = -m
	}
	status := clampInt32(mulSat(v, m))
	if status == math.MinInt32 {
		return fail(fmt.Errorf("%s: %w: value %d × weight %d", p.path, ErrFileFault, v, m))
	}
	return Result{OK: true, Err: note, Weight: weightPtr(clampInt32(int64(p.base) + int64(status)))}
}

func (p *fileProber) read() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		p.last = 0
		return 0, nil
	}
	defer f.Close()
	buf := make([]byte, 127)
	n, _ := f.Read(buf)
	if n <= 0 {
		p.last = 0
		return 0, nil
	}
	v, ok := ParseTrackFileValue(buf[:n])
	if !ok {
		return p.last, fmt.Errorf("invalid number %q in %s - ignoring", buf[:n], p.path)
	}
	p.last = v
	return v, nil
}

// ParseTrackFileValue reads a number as track_file.c process_track_file
// does with strtol(buf, NULL, 0): leading blanks, an optional sign, then
// hexadecimal after 0x, octal after 0, decimal otherwise, up to the first
// character that is not a digit of that base. No digits is 0. Overflow, or
// a value outside [INT32_MIN, INT32_MAX+1], is invalid.
func ParseTrackFileValue(b []byte) (int64, bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	base := 10
	if i+1 < len(b) && b[i] == '0' && (b[i+1] == 'x' || b[i+1] == 'X') && i+2 < len(b) && digitVal(b[i+2]) < 16 {
		base = 16
		i += 2
	} else if i < len(b) && b[i] == '0' {
		base = 8
	}
	j := i
	for j < len(b) && digitVal(b[j]) < base {
		j++
	}
	if j == i {
		return 0, true
	}
	u, err := strconv.ParseUint(string(b[i:j]), base, 64)
	if err != nil || u > math.MaxInt64 {
		return 0, false // strtol: ERANGE
	}
	v := int64(u)
	if neg {
		v = -v
	}
	if v < math.MinInt32 || v > math.MaxInt32+1 {
		return 0, false
	}
	return v, true
}

func digitVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// mulSat multiplies without overflowing int64.
func mulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		if (a < 0) != (b < 0) {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return p
}

// clampInt32 is track_file.h weight_range.
func clampInt32(v int64) int32 {
	return int32(max(min(v, math.MaxInt32), math.MinInt32))
}
