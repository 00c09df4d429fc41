package keepalived

import (
	"fmt"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// The keyword parser is lib/parser.c process_stream. A keyword is looked
// up among those of the current block; one with sub-keywords needs a '{'
// on the next line (the lexer put it there) and is parsed recursively
// until its '}'. An unknown keyword is reported and skipped, but a block
// after it is not: its '{' is "unexpected", its lines are read as
// keywords of the current block and its '}' closes the current block.
// That is keepalived's behaviour and fulcrum keeps it, reporting the
// damage.

// passKind is the keepalived process whose view a pass reproduces.
type passKind int

const (
	// passVRRP reads vrrp_* blocks and skips virtual servers and
	// global_defs (keepalived's parent reads those).
	passVRRP passKind = iota
	// passCheck reads global_defs and virtual servers and skips vrrp_*.
	passCheck
)

// owner says which pass reads a root keyword; the other skips its block.
type owner int

const (
	ownGlobal owner = iota
	ownVRRP
	ownCheck
	ownBoth
)

// keyword is one entry of a keyword table.
type keyword struct {
	name string
	// args is how many words after the keyword are used (-1: any);
	// more are reported, since keepalived ignores them silently.
	args int
	// handle runs for the keyword line; nil for a pure block.
	handle func(c *cmd)
	// sub, when not nil, are the keywords of the block the keyword
	// opens (a keyword with a block of values reads it in handle).
	sub []*keyword
	// end runs when the block closes, unless it was skipped.
	end   func(p *pass)
	owner owner
	// skips is set for an ignored keyword whose block is skipped.
	skips bool
}

// pass is one reading of the line stream.
type pass struct {
	kind  passKind
	lines []line
	next  int
	level int
	skip  int // parser.c skip_sublevel
	sink  *diagSink
	st    *state
	// parents are the names of the blocks being read, innermost last,
	// and tables their keywords.
	parents []string
	tables  [][]*keyword
}

func runPass(lines []line, kind passKind, sink *diagSink, opts *Options) *state {
	p := &pass{kind: kind, lines: lines, sink: sink, st: newState(opts)}
	p.stream(rootKeywords(), false)
	return p.st
}

// here is the line last read: keepalived reports what a block's end
// handler finds on the line of its '}'.
func (p *pass) here() pos {
	if p.next == 0 {
		return pos{}
	}
	return p.lines[p.next-1].pos
}

func (p *pass) readLine() (line, bool) {
	if p.next >= len(p.lines) {
		return line{}, false
	}
	l := p.lines[p.next]
	p.next++
	return l, true
}

// words tokenizes a line, reporting an unmatched quote.
func (p *pass) words(l line) []string {
	ws, ok := words(l.text)
	if !ok {
		p.sink.errorf(l.pos, "Unmatched quote: '%s'", l.text)
	}
	return ws
}

func (p *pass) active(kw *keyword) bool {
	switch kw.owner {
	case ownGlobal, ownCheck:
		return p.kind == passCheck
	case ownVRRP:
		return p.kind == passVRRP
	}
	return true
}

// stream is process_stream. It reports whether the block it read was
// skipped (so its close handler must not run).
func (p *pass) stream(kws []*keyword, needBOB bool) bool {
	p.tables = append(p.tables, kws)
	defer func() { p.tables = p.tables[:len(p.tables)-1] }()
	for {
		l, ok := p.readLine()
		if !ok {
			return false
		}
		ws := p.words(l)
		if len(ws) == 0 {
			continue
		}
		str := ws[0]
		if p.skip == -1 {
			// A skipped keyword without '{' on its line: the block
			// starts here, or there is none.
			if str == "{" {
				p.skip = 1
				continue
			}
			p.skip = 0
		}
		if p.skip != 0 {
			for _, w := range ws {
				str = w
				if w == "{" {
					p.skip++
				} else if w == "}" {
					p.skip--
					if p.skip == 0 {
						break
					}
				}
			}
			if str == "}" && p.skip == 0 && p.level > 0 {
				return true
			}
			continue
		}
		if needBOB {
			needBOB = false
			if str == "{" && p.level > 0 {
				continue
			}
			p.sink.errorf(l.pos, "Missing '{' at beginning of configuration block")
		} else if str == "{" {
			p.sink.warnf(l.pos, "Unexpected '{' - ignoring")
			continue
		}
		if str == "}" && p.level > 0 {
			return false
		}
		kw := find(kws, str)
		if kw == nil {
			p.unknown(l, str)
			continue
		}
		c := &cmd{p: p, at: l.pos, raw: l.text, args: ws, kw: kw, used: -2, lastDiag: -1}
		active := p.level > 0 || p.active(kw)
		if !active {
			// An inactive root: its block belongs to the other pass.
			p.skip = -1
			continue
		}
		if kw.handle != nil {
			kw.handle(c)
			if !c.skipBlock {
				c.extra()
			}
		}
		if kw.sub != nil && c.skipBlock {
			p.skip = -1
		}
		if kw.sub != nil {
			p.level++
			p.parents = append(p.parents, kw.name)
			skipped := p.stream(kw.sub, true)
			p.parents = p.parents[:len(p.parents)-1]
			p.level--
			if !skipped && kw.end != nil {
				kw.end(p)
			}
		} else if c.skipBlock {
			p.skip = -1
		}
	}
}

func find(kws []*keyword, name string) *keyword {
	for _, kw := range kws {
		if kw.name == name {
			return kw
		}
	}
	return nil
}

// unknown reports a keyword keepalived does not know, with the damage a
// block after it does (the block is not skipped).
func (p *pass) unknown(l line, name string) {
	if name == "}" {
		// A '}' at the top level: keepalived looks it up as a keyword.
		p.sink.warnf(l.pos, "Unknown keyword '}'")
		return
	}
	msg := fmt.Sprintf("Unknown keyword '%s'", name)
	if hint := unknownHint(p.parents, name); hint != "" {
		msg += " (" + hint + ")"
	}
	opens := p.next < len(p.lines) && strings.HasPrefix(p.lines[p.next].text, "{")
	if opens && p.level > 0 {
		parent := p.parents[len(p.parents)-1]
		p.sink.errorf(l.pos, "%s; keepalived does not skip the block that follows: its lines are read as keywords of %s and its '}' ends %s early", msg, parent, parent)
		return
	}
	p.sink.warnf(l.pos, "%s", msg)
}

// cmd is the keyword line a handler works on.
type cmd struct {
	p    *pass
	at   pos
	raw  string   // the line, for keywords that re-read it quoted
	args []string // the words; args[0] is the keyword
	kw   *keyword
	// used overrides kw.args for keywords whose arity depends on the
	// values (-1: any number); -2 leaves kw.args in force.
	used      int
	skipBlock bool
	lastDiag  int // index in the sink of this line's last diagnostic, -1 if none
	failed    bool
}

func (c *cmd) st() *state { return c.p.st }

// arg returns word i, reporting a missing one as keepalived does before it
// exits (parser.c null_strvec).
func (c *cmd) arg(i int) (string, bool) {
	if i < len(c.args) {
		return c.args[i], true
	}
	if !c.failed {
		c.failed = true
		if i > 0 {
			c.err("*** Configuration line starting `%s` is missing a parameter after keyword `%s` at word position %d", c.args[0], c.args[i-1], i+1)
		} else {
			c.err("*** Configuration line is missing a parameter at word position %d", i+1)
		}
	}
	return "", false
}

func (c *cmd) has(i int) bool { return i < len(c.args) }

func (c *cmd) report(sev config.Severity, format string, args ...any) {
	c.lastDiag = c.p.sink.add(c.at, sev, "", fmt.Sprintf(format, args...))
}

// warn reports keepalived's message for a setting it ignores or corrects.
func (c *cmd) warn(format string, args ...any) { c.report(config.Warning, format, args...) }

// err reports a problem that keepalived refuses, or that leaves the model
// different from what the file says.
func (c *cmd) err(format string, args ...any) { c.report(config.Error, format, args...) }

// note adds fulcrum's explanation to the last message of this line.
func (c *cmd) note(s string) {
	if c.lastDiag >= 0 && c.lastDiag < len(c.p.sink.ds) {
		d := &c.p.sink.ds[c.lastDiag].d
		d.Message += " (" + s + ")"
	}
}

// ignored reports a keyword keepalived knows and fulcrum does not use.
func (c *cmd) ignored() {
	c.warn("'%s' is not used by fulcrum", c.args[0])
}

// extra reports words after the ones the keyword uses: keepalived ignores
// them, which hides mistakes such as "//" comments.
func (c *cmd) extra() {
	n := c.kw.args
	if c.used != -2 {
		n = c.used
	}
	if n < 0 || c.failed || len(c.args)-1 <= n {
		return
	}
	rest := c.args[1+n:]
	kept := strings.Join(c.args[:1+n], " ")
	if strings.HasPrefix(rest[0], "//") {
		c.p.sink.warnf(c.at, "'//' is not a comment in keepalived.conf: keepalived reads %q and ignores %q; comments start with '#' or '!'", kept, strings.Join(rest, " "))
		return
	}
	if tables := c.p.tables; len(tables) > 0 {
		for _, w := range rest {
			if find(tables[len(tables)-1], w) != nil {
				c.p.sink.warnf(c.at, "keepalived reads one keyword per line: it reads %q and ignores %q", kept, strings.Join(rest, " "))
				return
			}
		}
	}
	c.p.sink.warnf(c.at, "keepalived ignores the words after %q: %q", kept, strings.Join(rest, " "))
}

// valueBlock reads a block of values line by line (parser.c
// alloc_value_block), for keywords such as virtual_ipaddress whose block
// holds values rather than keywords.
func (c *cmd) valueBlock(fn func(at pos, ws []string)) {
	p := c.p
	needBOB := true
	if len(c.args) > 1 {
		if c.args[1] != "{" {
			c.warn("Block %s has extra parameters %s ...", c.args[0], c.args[1])
		}
	}
	c.used = len(c.args) - 1 // reported above, not again
	for {
		l, ok := p.readLine()
		if !ok {
			return
		}
		ws := p.words(l)
		if len(ws) == 0 {
			continue
		}
		if needBOB {
			needBOB = false
			if ws[0] == "{" {
				if len(ws) == 1 {
					continue
				}
				ws = ws[1:]
			} else {
				p.sink.warnf(l.pos, "'{' missing from beginning of block %s", c.args[0])
			}
		}
		eob := false
		if ws[len(ws)-1] == "}" {
			if len(ws) == 1 {
				// Messages about the block are reported here, as
				// keepalived does.
				c.at = l.pos
				return
			}
			eob = true
			ws = ws[:len(ws)-1]
		}
		if len(ws) > 0 {
			fn(l.pos, ws)
		}
		if eob {
			c.at = l.pos
			return
		}
	}
}

// values reads a block of values into one list of words (parser.c
// read_value_block).
func (c *cmd) values() ([]string, pos) {
	var all []string
	at := c.at
	c.valueBlock(func(p pos, ws []string) {
		if all == nil {
			at = p
		}
		all = append(all, ws...)
	})
	return all, at
}

// quoted re-reads the line with quotes and escapes (for script command
// lines) and returns its words.
func (c *cmd) quoted() ([]string, bool) {
	ws, err := quotedWords(c.raw)
	if err != nil {
		c.err("String '%s': %v", c.raw, err)
		return nil, false
	}
	return ws, true
}

// script reads "keyword 'command args' [user [group]]" as keepalived's
// notify_script_init does.
func (c *cmd) script() *config.Script {
	ws, ok := c.quoted()
	if !ok {
		return nil
	}
	c.used = -1
	if len(ws) < 2 || strings.TrimSpace(ws[1]) == "" {
		c.warn("Unable to parse script '%s' - ignoring", strings.Join(ws[1:], " "))
		return nil
	}
	s := &config.Script{Command: ws[1]}
	c.fullPath(ws[1])
	if len(ws) > 2 {
		s.User = ws[2]
	}
	if len(ws) > 3 {
		s.Group = ws[3]
	}
	if len(ws) > 4 {
		c.p.sink.warnf(c.at, "keepalived ignores the words after the script's user and group: %q", strings.Join(ws[4:], " "))
	}
	c.st().scripts++
	return s
}

// fullPath warns about a script that is not named by its full path,
// which keepalived looks for in PATH when it starts.
func (c *cmd) fullPath(command string) {
	ws, err := quotedWords(command)
	if err != nil || len(ws) == 0 || strings.HasPrefix(ws[0], "/") || strings.HasPrefix(ws[0], "<") {
		return
	}
	c.p.sink.warnf(c.at, "WARNING - script `%s` is resolved by path search. Please specify full path.", ws[0])
}

// flag reads "keyword [true|false|on|off|yes|no]" (check_true_false); bad
// is keepalived's message for a bad value, with one %s.
func (c *cmd) flag(bad string) (bool, bool) {
	if len(c.args) < 2 {
		return true, true
	}
	switch trueFalse(c.args[1]) {
	case 1:
		return true, true
	case 0:
		return false, true
	}
	c.warn(bad, c.args[1])
	return false, false
}
