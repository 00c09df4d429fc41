package keepalived

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
)

// The lexer turns keepalived.conf text into the lines keepalived's keyword
// parser sees, as lib/parser.c read_line does: comments are removed
// (decomment), "include" pulls in other files, "@id" lines are kept or
// dropped, "$NAME=value" defines parameters that "$NAME" and "${NAME}"
// expand, "~SEQ(...)" and "~LST(...)" repeat a line, and every '{' and '}'
// outside double quotes ends up on a line of its own. Each line keeps the
// file and line number it came from, through includes and expansions.

// line is one logical line of the configuration.
type line struct {
	pos  pos
	text string
}

// Limits that keep a hostile or broken file from making the lexer work
// without end; keepalived has none of them and loops forever on
// "$A=$A" or "include" of itself.
const (
	maxIncludeDepth   = 32
	maxLines          = 1 << 18 // lines produced, after ~SEQ expansion
	maxSubstitutions  = 1000    // $NAME expansions in one line
	maxLineLen        = 1 << 16 // bytes in a line after expansion
	maxTotalFileBytes = 16 << 20
	// keepalivedMaxLine is what fgets(buf, MAXBUF) reads at once.
	keepalivedMaxLine = 1023
)

var errTooMuch = errors.New("configuration too large")

// srcFile is an open configuration file on the include stack.
type srcFile struct {
	name   string
	lines  []string
	next   int
	lineNo int
}

// definition is a $NAME=value parameter. Built-ins compute their value.
type definition struct {
	name      string
	value     string
	multiline bool
	fn        func(params string, at pos) string
	maxParams int
}

// sequence is an active ~SEQ or ~LST: it sets its variables and yields
// its text once per value.
type sequence struct {
	at     pos
	text   string
	hex    bool
	vars   []string   // ~SEQ has one, ~LST one or more
	values [][]string // ~LST value sets
	next   int64      // ~SEQ
	step   int64
	last   int64
	nextV  int // ~LST
}

type lexer struct {
	opts  *Options
	fsys  FS
	diags *diagSink

	stack     []*srcFile
	defs      []*definition
	seqs      []*sequence
	residue   *line
	multi     []string   // remaining lines of a multi-line parameter expansion
	multiPos  pos        // where that expansion was triggered
	mstack    [][]string // expansions interrupted by a nested one
	mSeqDepth int
	pending   *definition // multi-line $NAME=... definition being read
	depth     int         // '{' minus '}' seen, for "Extra '}' found"

	cur    pos // position of the raw line being processed
	seq    int
	nlines int
	bytes  int
	fatal  error
	out    []line
}

// lex reads the configuration file name with contents data and every file
// it includes.
func lex(name string, data []byte, opts *Options, fsys FS, diags *diagSink) []line {
	lx := &lexer{opts: opts, fsys: fsys, diags: diags}
	lx.builtins()
	lx.push(name, data)
	for {
		l, ok := lx.readLine()
		if !ok {
			break
		}
		lx.out = append(lx.out, l)
		if len(lx.out) > maxLines {
			lx.fatal = fmt.Errorf("%w: more than %d lines after expansion", errTooMuch, maxLines)
			break
		}
	}
	if lx.fatal != nil {
		diags.errorf(lx.cur, "%v", lx.fatal)
		return lx.out
	}
	if lx.depth > 0 {
		// init_data: reported once the whole file has been read.
		diags.errorf(pos{file: name}, "There are %d missing '}'s or extra '{'s", lx.depth)
	}
	return lx.out
}

func (lx *lexer) push(name string, data []byte) {
	lx.bytes += len(data)
	if lx.bytes > maxTotalFileBytes {
		lx.fatal = fmt.Errorf("%w: more than %d MiB in all files", errTooMuch, maxTotalFileBytes>>20)
		return
	}
	text := string(data)
	lines := strings.SplitAfter(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	lx.stack = append(lx.stack, &srcFile{name: name, lines: lines})
}

// builtins installs keepalived's standard definitions (parser.c
// set_std_definitions).
func (lx *lexer) builtins() {
	lx.defs = []*definition{
		{name: "_PWD", fn: func(_ string, at pos) string {
			d, err := filepath.Abs(filepath.Dir(at.file))
			if err != nil {
				return filepath.Dir(at.file)
			}
			return d
		}},
		{name: "_INSTANCE", fn: func(string, pos) string { return lx.opts.configID() }},
		{name: "_RANDOM", maxParams: 2, fn: lx.random},
		{name: "_HASH", value: "#"},
		{name: "_BANG", value: "!"},
	}
}

// random is ${_RANDOM [min [max]]}: a number in [min, max], default
// [0, 32767] (parser.c get_random).
func (lx *lexer) random(params string, _ pos) string {
	lo, hi := uint64(0), uint64(32767)
	f := strings.Fields(params)
	if len(f) > 0 {
		lo, _ = strconv.ParseUint(f[0], 10, 63)
	}
	if len(f) > 1 {
		hi, _ = strconv.ParseUint(f[1], 10, 63)
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if lx.opts.Random != nil {
		return strconv.FormatUint(lx.opts.Random(lo, hi), 10)
	}
	return strconv.FormatUint(lo+rand.Uint64N(hi-lo+1), 10)
}

// rawLine returns the next line of the current file with its end of line
// removed, moving to the including file at the end of an included one.
func (lx *lexer) rawLine() (string, bool) {
	for len(lx.stack) > 0 {
		f := lx.stack[len(lx.stack)-1]
		if f.next >= len(f.lines) {
			lx.stack = lx.stack[:len(lx.stack)-1]
			continue
		}
		s := f.lines[f.next]
		f.next++
		f.lineNo++
		lx.seq++
		lx.cur = pos{file: f.name, line: f.lineNo, seq: lx.seq}
		return strings.TrimRight(s, "\r\n"), true
	}
	return "", false
}

// readLine is parser.c read_line: it returns the next line the keyword
// parser sees.
func (lx *lexer) readLine() (line, bool) {
	var buf string
	var at pos
	for {
		if lx.fatal != nil {
			return line{}, false
		}
		switch {
		case lx.residue != nil:
			buf, at = lx.residue.text, lx.residue.pos
			lx.residue = nil
		case len(lx.seqs) > lx.mSeqDepth:
			buf, at = lx.seqLine()
		case lx.multi != nil:
			buf, at = lx.multi[0], lx.multiPos
			lx.multi = lx.multi[1:]
			if len(lx.multi) == 0 {
				lx.multi = nil
				if n := len(lx.mstack); n > 0 {
					lx.multi, lx.mstack = lx.mstack[n-1], lx.mstack[:n-1]
				} else {
					lx.mSeqDepth = 0
				}
			}
		default:
			var ok bool
			buf, ok = lx.nextRaw()
			if !ok {
				return line{}, false
			}
			at = lx.cur
		}

		if lx.pending != nil {
			lx.continueDefinition(buf)
			continue
		}
		if buf == "" {
			continue
		}
		buf = lx.preprocess(buf, at)
		if buf == "" || lx.include(buf, at) {
			continue
		}
		return lx.split(buf, at), true
	}
}

// nextRaw reads raw lines until one is left after removing comments. An
// empty line ends a multi-line definition (read_line).
func (lx *lexer) nextRaw() (string, bool) {
	for {
		s, ok := lx.rawLine()
		if !ok {
			return "", false
		}
		if s == "" {
			if lx.pending != nil {
				lx.endDefinition()
			}
			continue
		}
		if len(s) > maxLineLen {
			lx.diags.errorf(lx.cur, "line is %d bytes long; fulcrum reads lines of at most %d bytes", len(s), maxLineLen)
			continue
		}
		if len(s) > keepalivedMaxLine {
			lx.diags.warnf(lx.cur, "line is %d bytes long; keepalived reads lines in pieces of %d bytes and would split it", len(s), keepalivedMaxLine)
		}
		once := lx.decomment(s)
		// keepalived's parent process writes the decommented lines to a
		// copy that its VRRP and checker processes read and decomment
		// again, so an escaped '#' or '!' starts a comment after all.
		twice := lx.decomment(once)
		if twice != once {
			lx.diags.warnf(lx.cur, "%q: keepalived's VRRP and checker processes re-read the line without the '\\' and ignore everything from the escaped '#' or '!' on", strings.TrimSpace(s))
		}
		if twice != "" {
			return twice, true
		}
	}
}

// decomment is parser.c decomment: it removes leading and trailing blanks
// and everything from the first '!' or '#' outside double quotes; "\#" and
// "\!" stand for the characters themselves, and a final '\' is kept (it
// continues a $NAME= definition).
func (lx *lexer) decomment(s string) string {
	s = strings.TrimLeft(s, " \t")
	b := []byte(s)
	quote, cont := false, false
	cut := -1
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			if cut < 0 {
				quote = !quote
			}
		case '\\':
			if i+1 < len(b) {
				if !quote && (b[i+1] == '#' || b[i+1] == '!') {
					b = append(b[:i], b[i+1:]...)
				} else {
					i++
				}
				continue
			}
			b = b[:i]
			cont = true
		case '!', '#':
			if !quote && cut < 0 {
				cut = i
			}
		}
	}
	if quote {
		lx.diags.errorf(lx.cur, "Unterminated quote '%s'", string(b))
	}
	if cut >= 0 {
		b = b[:cut]
	}
	out := strings.TrimRight(string(b), " \t")
	if cont {
		out += `\`
	}
	return out
}

// continueDefinition adds a line to a multi-line $NAME=... definition: a
// line ending in '\' continues it.
func (lx *lexer) continueDefinition(buf string) {
	d := lx.pending
	more := strings.HasSuffix(buf, `\`)
	if more {
		buf = strings.TrimRight(buf[:len(buf)-1], " \t") + "\n"
	} else {
		lx.endDefinition()
	}
	if len(buf) >= 2 || (buf != "" && !more) {
		d.value += buf
	}
}

func (lx *lexer) endDefinition() {
	if lx.pending.value == "" {
		lx.pending.multiline = false
	}
	lx.pending = nil
}

// preprocess handles "@id", "$NAME=value", "~SEQ"/"~LST" and parameter
// expansion, in read_line's order; it returns "" for a line that is
// consumed.
func (lx *lexer) preprocess(buf string, at pos) string {
	subs := 0
	for {
		recheck := false
		if buf[0] == '@' {
			rest, keep := lx.conditional(buf)
			if !keep {
				return ""
			}
			buf = rest
		}
		if buf[0] == '$' && lx.define(buf, at) {
			return ""
		}
		if strings.HasPrefix(buf, "~SEQ") || strings.HasPrefix(buf, "~LST") {
			if buf[1] == 'S' {
				if !lx.addSeq(buf, at) {
					lx.diags.warnf(at, "Invalid ~SEQ specification '%s'", buf)
				}
			} else if !lx.addLst(buf, at) {
				lx.diags.warnf(at, "Invalid ~LST specification '%s'", buf)
			}
			return ""
		}
		if buf[0] == '~' {
			return buf
		}
		if strings.IndexByte(buf, '$') >= 0 {
			out, changed := lx.substitute(buf, at, &subs)
			if !changed {
				return buf
			}
			if subs > maxSubstitutions || len(out) > maxLineLen {
				lx.diags.errorf(at, "parameter expansion of %q does not end (a definition refers to itself?)", buf)
				return ""
			}
			buf = lx.decomment(out)
			if buf == "" {
				return ""
			}
			if buf[0] == '@' || strings.IndexByte(buf, '$') >= 0 {
				recheck = true
			}
		}
		if !recheck {
			return buf
		}
	}
}

// conditional handles "@ID rest" (kept when ID is the config id) and
// "@^ID rest" (kept when it is not).
func (lx *lexer) conditional(buf string) (string, bool) {
	ofs, rev := 1, false
	if len(buf) > 1 && buf[1] == '^' {
		ofs, rev = 2, true
	}
	i := strings.IndexAny(buf[ofs:], " \t")
	if i < 0 {
		return "", false
	}
	id := buf[ofs : ofs+i]
	cid := lx.opts.configID()
	if (cid != "" && id == cid) == rev {
		return "", false
	}
	rest := strings.TrimLeft(buf[ofs+i:], " \t")
	return rest, rest != ""
}

func isNameStart(c byte) bool { return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isNameChar(c byte) bool  { return isNameStart(c) || ('0' <= c && c <= '9') }

// define handles "$NAME=value" (parser.c check_definition); it reports
// whether buf was a definition.
func (lx *lexer) define(buf string, at pos) bool {
	if len(buf) < 2 || !isNameStart(buf[1]) {
		return false
	}
	i := 2
	for i < len(buf) && buf[i] != '=' {
		if !isNameChar(buf[i]) {
			return false
		}
		i++
	}
	if i >= len(buf) {
		return false
	}
	name := buf[1:i]
	value := strings.TrimLeft(buf[i+1:], " \t")
	multi := false
	if strings.HasSuffix(value, `\`) {
		value = strings.TrimRight(value[:len(value)-1], " \t")
		if value != "" {
			value += "\n"
		}
		multi = true
	}
	d := lx.lookup(name)
	if d == nil {
		d = &definition{name: name}
		lx.defs = append(lx.defs, d)
	}
	d.value, d.multiline, d.fn = value, multi, nil
	if multi {
		lx.pending = d
	}
	_ = at
	return true
}

func (lx *lexer) lookup(name string) *definition {
	for _, d := range lx.defs {
		if d.name == name {
			return d
		}
	}
	return nil
}

// reference parses what follows a '$' the way parser.c find_definition
// does: NAME ends at a blank, ',', ')' or the end of the line, and {NAME}
// may carry numeric parameters. It returns the definition, the length of
// the reference after the '$', and the parameters.
func (lx *lexer) reference(s string) (*definition, int, string) {
	braces := strings.HasPrefix(s, "{")
	name := s
	if braces {
		name = s[1:]
	}
	if name == "" || !isNameStart(name[0]) {
		return nil, 0, ""
	}
	n := 1
	for n < len(name) && isNameChar(name[n]) {
		n++
	}
	p := n
	params := ""
	if braces {
		ps, pe := -1, -1
		for p < len(name) && (name[p] == ' ' || ('0' <= name[p] && name[p] <= '9')) {
			if name[p] != ' ' {
				if ps < 0 {
					ps = p
				}
				pe = p
			}
			p++
		}
		if ps >= 0 && pe+1 != p {
			return nil, 0, ""
		}
		if p >= len(name) || name[p] != '}' {
			return nil, 0, ""
		}
		if ps >= 0 {
			params = name[ps : pe+1]
		}
	} else if p < len(name) && !strings.ContainsRune(" \t,)", rune(name[p])) {
		return nil, 0, ""
	}
	// A multi-line value can only replace a reference that ends the line.
	end := n
	if braces {
		end = p + 1
	}
	atEnd := end == len(name)
	d := lx.lookup(name[:n])
	if d == nil || (d.multiline && !atEnd) || (params != "" && d.maxParams == 0) {
		return nil, 0, ""
	}
	if braces {
		return d, 1 + p + 1, params
	}
	return d, n, params
}

// env handles "${_ENV NAME}", which keepalived 2.2.7 does not have (it
// leaves the text alone); fulcrum expands it through Options.LookupEnv.
func (lx *lexer) env(s string, at pos) (string, int, bool) {
	if !strings.HasPrefix(s, "{_ENV") || lx.opts.LookupEnv == nil {
		return "", 0, false
	}
	rest := s[len("{_ENV"):]
	trimmed := strings.TrimLeft(rest, " \t")
	if len(trimmed) == len(rest) || trimmed == "" || !isNameStart(trimmed[0]) {
		return "", 0, false
	}
	n := 1
	for n < len(trimmed) && isNameChar(trimmed[n]) {
		n++
	}
	if n >= len(trimmed) || trimmed[n] != '}' {
		return "", 0, false
	}
	name := trimmed[:n]
	v, _ := lx.opts.LookupEnv(name)
	lx.diags.warnf(at, "${_ENV %s} is expanded by fulcrum; keepalived 2.2.7 does not know ${_ENV} and keeps the text as it is", name)
	return v, len(s) - len(trimmed) + n + 1, true
}

// substitute is parser.c replace_param: every $NAME or ${NAME} with a
// definition is replaced by its value, and the replacement is scanned
// again. It reports whether anything was replaced.
func (lx *lexer) substitute(buf string, at pos, subs *int) (string, bool) {
	found := false
	cur := 0
	for {
		i := strings.IndexByte(buf[cur:], '$')
		if i < 0 {
			break
		}
		i += cur
		if i+1 >= len(buf) {
			break
		}
		if v, n, ok := lx.env(buf[i+1:], at); ok {
			buf = buf[:i] + v + buf[i+1+n:]
			found = true
			*subs++
			if *subs > maxSubstitutions || len(buf) > maxLineLen {
				return buf, found
			}
			continue
		}
		d, n, params := lx.reference(buf[i+1:])
		if d == nil {
			cur = i + 1
			continue
		}
		found = true
		*subs++
		value := d.value
		if d.fn != nil {
			value = d.fn(params, at)
		}
		repl := value
		if d.multiline {
			first, rest, _ := strings.Cut(value, "\n")
			repl = first
			if lx.multi != nil {
				lx.mstack = append(lx.mstack, lx.multi)
			}
			lx.multi = strings.Split(rest, "\n")
			lx.multiPos = at
			lx.mSeqDepth = len(lx.seqs)
		}
		buf = buf[:i] + repl + buf[i+1+n:]
		if *subs > maxSubstitutions || len(buf) > maxLineLen {
			return buf, found
		}
		if t := strings.TrimLeft(value, " \t"); strings.HasPrefix(t, "~") {
			break
		}
	}
	return buf, found
}

// addSeq parses "~SEQ(var, start, step, end) text" or "~SEQx(...)"
// (parser.c add_seq); "(var, end)" and "(var, start, end)" are short forms.
func (lx *lexer) addSeq(buf string, at pos) bool {
	p := buf[4:]
	hex := strings.HasPrefix(p, "x")
	if hex {
		p = p[1:]
	}
	p = strings.TrimLeft(p, " \t")
	if !strings.HasPrefix(p, "(") {
		return false
	}
	p = strings.TrimLeft(p[1:], " \t")
	v := strings.IndexAny(p, " \t,)")
	if v <= 0 {
		lx.diags.warnf(at, "Invalid ~SEQ definition '%s'", buf)
		return false
	}
	name := p[:v]
	p = strings.TrimLeft(p[v:], " \t")
	if p == "" || p[0] == ')' {
		lx.diags.warnf(at, "Invalid ~SEQ definition '%s'", buf)
		return false
	}
	p = p[1:]
	end := strings.IndexByte(p, ')')
	if end < 0 {
		lx.diags.warnf(at, "Invalid ~SEQ definition '%s'", buf)
		return false
	}
	args, text := p[:end], strings.TrimLeft(p[end+1:], " \t")
	if strings.IndexByte(args, '$') >= 0 {
		// The ')' stays on, as in parser.c, so a multi-line definition
		// (which only expands at the end of a line) never matches.
		subs := 0
		out, _ := lx.substitute(args+")", at, &subs)
		args = strings.TrimSuffix(out, ")")
	}
	var nums []int64
	for _, f := range strings.Split(args, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.ParseInt(f, 0, 64)
		if err != nil && f != "" {
			lx.diags.warnf(at, "Invalid ~SEQ definition '%s'", buf)
			return false
		}
		nums = append(nums, n)
	}
	s := &sequence{at: at, text: text, hex: hex, vars: []string{name}}
	switch len(nums) {
	case 1:
		s.last = nums[0]
		s.step, s.next = 1, 1
		if s.last < 1 {
			s.step = -1
		}
		if s.last < 0 {
			s.next = -1
		}
	case 2:
		s.next, s.last = nums[0], nums[1]
		s.step = 1
		if s.next > s.last {
			s.step = -1
		}
	case 3:
		s.next, s.step, s.last = nums[0], nums[1], nums[2]
		if s.step == 0 || (s.next < s.last && s.step < 0) || (s.next > s.last && s.step > 0) {
			lx.diags.warnf(at, "Invalid ~SEQ values '%s'", buf)
			return false
		}
	default:
		lx.diags.warnf(at, "Invalid ~SEQ definition '%s'", buf)
		return false
	}
	if hex && (s.next < 0 || s.last < 0) {
		lx.diags.warnf(at, "~SEQx is only valid for positive numbers '%s'", buf)
		return false
	}
	lx.seqs = append(lx.seqs, s)
	return true
}

// addLst parses "~LST(var, v1, v2, ...) text" and
// "~LST({a, b}, {1, 2}, {3, 4}) text" (parser.c add_lst).
func (lx *lexer) addLst(buf string, at pos) bool {
	p := strings.TrimLeft(buf[4:], " \t")
	if !strings.HasPrefix(p, "(") {
		return false
	}
	p = strings.TrimLeft(p[1:], " \t")
	end := ','
	if strings.HasPrefix(p, "{") {
		end = '}'
		p = strings.TrimLeft(p[1:], " \t")
	}
	var vars []string
	for {
		i := strings.IndexAny(p, " \t,}")
		if i < 0 {
			return false
		}
		vars = append(vars, p[:i])
		p = strings.TrimLeft(p[i:], " \t")
		if p == "" {
			return false
		}
		if rune(p[0]) == end {
			break
		}
		if p[0] != ',' {
			return false
		}
		p = strings.TrimLeft(p[1:], " \t")
	}
	if p[0] == '}' {
		p = strings.TrimLeft(p[1:], " \t")
	}
	if p == "" || p[0] != ',' {
		return false
	}
	p = strings.TrimLeft(p[1:], " \t")
	var sets [][]string
	for {
		vend := ','
		if strings.HasPrefix(p, "{") {
			vend = '}'
			p = strings.TrimLeft(p[1:], " \t")
		}
		var set []string
		for {
			i := strings.IndexAny(p, " \t,})")
			if i < 0 {
				return false
			}
			set = append(set, p[:i])
			p = strings.TrimLeft(p[i:], " \t")
			if p == "" {
				return false
			}
			if rune(p[0]) == vend || (p[0] == ')' && vend == ',') {
				break
			}
			if p[0] != ',' {
				return false
			}
			p = strings.TrimLeft(p[1:], " \t")
			if len(set) > len(vars)-1 {
				lx.diags.warnf(at, "~LST specification has too many values '%s'", buf)
				return false
			}
		}
		for len(set) < len(vars) {
			set = append(set, "")
		}
		sets = append(sets, set)
		if p[0] == '}' && vend == '}' {
			p = strings.TrimLeft(p[1:], " \t")
		}
		if p == "" {
			return false
		}
		if p[0] == ')' {
			break
		}
		if p[0] != ',' {
			return false
		}
		p = strings.TrimLeft(p[1:], " \t")
	}
	if len(vars) == 0 || len(sets) == 0 {
		return false
	}
	lx.seqs = append(lx.seqs, &sequence{at: at, text: strings.TrimLeft(p[1:], " \t"), vars: vars, values: sets})
	return true
}

// seqLine produces the next line of the innermost active ~SEQ or ~LST.
func (lx *lexer) seqLine() (string, pos) {
	s := lx.seqs[len(lx.seqs)-1]
	done := false
	if s.values == nil {
		v := strconv.FormatInt(s.next, 10)
		if s.hex {
			v = strconv.FormatUint(uint64(s.next), 16)
		}
		lx.set(s.vars[0], v)
		s.next += s.step
		done = (s.step > 0 && s.next > s.last) || (s.step < 0 && s.next < s.last)
	} else {
		for i, name := range s.vars {
			lx.set(name, s.values[s.nextV][i])
		}
		s.nextV++
		done = s.nextV >= len(s.values)
	}
	if done {
		lx.seqs = lx.seqs[:len(lx.seqs)-1]
	}
	return s.text, s.at
}

func (lx *lexer) set(name, value string) {
	d := lx.lookup(name)
	if d == nil {
		d = &definition{name: name}
		lx.defs = append(lx.defs, d)
	}
	d.value, d.multiline, d.fn = value, false, nil
}

// include handles "include GLOB" and its variants "includer", "includem",
// "includew", "includeb" and "includea" (parser.c check_include); it
// reports whether buf was an include.
func (lx *lexer) include(buf string, at pos) bool {
	if !strings.HasPrefix(buf, "include") || len(buf) < 8 {
		return false
	}
	var kind byte
	var p string
	switch {
	case isSpace(buf[7]):
		p = buf[8:]
	case len(buf) > 8 && isSpace(buf[8]) && strings.IndexByte("rmwba", buf[7]) >= 0:
		kind, p = buf[7], buf[9:]
	default:
		return false
	}
	pattern := strings.TrimLeft(p, " \t")
	lx.includeFiles(pattern, kind, at)
	return true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// includeFiles opens the files matching pattern, relative to the
// directory of the including file (keepalived changes into it). Brace
// alternatives are expanded in order, as glob(3) with GLOB_BRACE does.
func (lx *lexer) includeFiles(pattern string, kind byte, at pos) {
	if len(lx.stack) >= maxIncludeDepth {
		lx.diags.errorf(at, "include %q: more than %d nested includes", pattern, maxIncludeDepth)
		return
	}
	// include_t in parser.c: 'r' makes unreadable files errors, 'm' a
	// missing named file, 'w' a wildcard without a match, 'b' a missing
	// brace alternative, 'a' all of them.
	dir := filepath.Dir(at.file)
	var matches []string
	missing, wildcard := false, false
	alts := expandBraces(pattern)
	for _, alt := range alts {
		full := alt
		if !filepath.IsAbs(full) {
			full = filepath.Join(dir, full)
		}
		if hasMeta(alt) {
			wildcard = true
			m, err := lx.fsys.Glob(full)
			if err != nil {
				lx.diags.warnf(at, "Error reading config file(s): glob(\"%s\") returned %v, skipping.", pattern, err)
				continue
			}
			matches = append(matches, m...)
			continue
		}
		if _, err := lx.fsys.Stat(full); err != nil {
			missing = true
			continue
		}
		matches = append(matches, full)
	}
	// A named file that is missing is reported for every kind of
	// include (keepalived -t fails with it); a wildcard without a match
	// only for includew/includea.
	switch {
	case len(matches) == 0 && missing:
		lx.diags.errorf(at, "Config files missing '%s'.", pattern)
		return
	case len(matches) == 0 && wildcard:
		if kind == 'w' || kind == 'a' {
			lx.diags.errorf(at, "No config files matched '%s'.", pattern)
		}
		return
	case missing:
		if kind == 'b' || kind == 'a' {
			lx.diags.errorf(at, "Some config files missing: \"%s\".", pattern)
			return
		}
		lx.diags.warnf(at, "Some config files missing: \"%s\".", pattern)
	}
	report := lx.diags.warnf
	if kind != 0 {
		report = lx.diags.errorf
	}
	// The files are pushed in reverse so the first match is read first.
	var files []struct {
		name string
		data []byte
	}
	for _, m := range matches {
		st, err := lx.fsys.Stat(m)
		if err != nil {
			report(at, "Configuration file '%s' open problem (%v) - skipping", m, errors.Unwrap(err))
			continue
		}
		if st.IsDir() {
			report(at, "Configuration file '%s' is a directory - skipping", m+"/")
			continue
		}
		if !st.Mode().IsRegular() || st.Mode()&0o111 != 0 {
			report(at, "Configuration file '%s' is not a regular non-executable file - skipping", m)
			continue
		}
		if lx.onStack(m) {
			lx.diags.errorf(at, "Configuration file '%s' includes itself - skipping", m)
			continue
		}
		data, err := lx.fsys.ReadFile(m)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			report(at, "Configuration file '%s' open problem (%v) - skipping", m, err)
			continue
		}
		files = append(files, struct {
			name string
			data []byte
		}{m, data})
	}
	for i := len(files) - 1; i >= 0; i-- {
		lx.push(files[i].name, files[i].data)
	}
}

func (lx *lexer) onStack(name string) bool {
	a, err := filepath.Abs(name)
	if err != nil {
		a = name
	}
	for _, f := range lx.stack {
		b, err := filepath.Abs(f.name)
		if err != nil {
			b = f.name
		}
		if a == b {
			return true
		}
	}
	return false
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// expandBraces expands {a,b} alternatives, nested ones too, left to
// right, as GLOB_BRACE does. A pattern without a complete brace group is
// returned as is.
func expandBraces(s string) []string {
	open := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			open = i
		}
		if open >= 0 {
			break
		}
	}
	if open < 0 {
		return []string{s}
	}
	depth := 0
	var parts []string
	start := open + 1
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case ',':
			if depth == 1 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		case '}':
			depth--
			if depth == 0 {
				parts = append(parts, s[start:i])
				var out []string
				for _, p := range parts {
					for _, rest := range expandBraces(s[i+1:]) {
						out = append(out, expandBraces(s[:open]+p+rest)...)
					}
				}
				return out
			}
		}
	}
	return []string{s}
}

// split puts a '{' or '}' outside double quotes on a line of its own and
// keeps the rest for the next call (read_line), counting the braces to
// find a '}' without its '{'.
func (lx *lexer) split(buf string, at pos) line {
	i := 0
	if buf[0] != '{' && buf[0] != '}' {
		i = -1
		for j := 0; j < len(buf); j++ {
			c := buf[j]
			if c == '"' {
				k := strings.IndexByte(buf[j+1:], '"')
				if k < 0 {
					break
				}
				j += k + 1
				continue
			}
			if c == '{' || c == '}' {
				i = j
				break
			}
		}
	}
	if i >= 0 {
		skip := 0
		if i == 0 {
			skip = 1 + len(buf[1:]) - len(strings.TrimLeft(buf[1:], " \t"))
		}
		if rest := strings.TrimRight(buf[i+skip:], " \t"); rest != "" {
			lx.residue = &line{pos: at, text: rest}
			buf = buf[:i+skip]
		}
	}
	buf = strings.TrimRight(buf, " \t")
	switch buf {
	case "{":
		lx.depth++
	case "}":
		lx.depth--
		if lx.depth < 0 {
			lx.diags.warnf(at, "Extra '}' found")
			lx.depth = 0
		}
	}
	return line{pos: at, text: buf}
}
