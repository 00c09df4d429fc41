package nginx

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
)

// stmt is one directive as ngx_conf_read_token delivers it: its name and
// arguments (quotes removed, \" \' \\ \t \r \n unescaped), and its block
// when it ended with "{".
type stmt struct {
	name string
	args []string
	// file and line are where nginx reports the directive: the line of
	// the ";" or "{" that ended it (cf->conf_file->line when the handler
	// runs).
	file string
	line int
	// block holds the directives between "{" and "}"; hasBlock tells an
	// empty block from none.
	block    []*stmt
	hasBlock bool
	// end is the line of the closing "}".
	end int
	// seq is the reading order across files.
	seq int
}

func (s *stmt) at() pos { return pos{file: s.file, line: s.line, seq: s.seq} }

// tokenResult is what readToken ended with, as NGX_OK,
// NGX_CONF_BLOCK_START, NGX_CONF_BLOCK_DONE and NGX_CONF_FILE_DONE.
type tokenResult int

const (
	tokDirective tokenResult = iota // ";"
	tokBlockStart
	tokBlockDone
	tokFileDone
	tokError
)

// confBuffer is NGX_CONF_BUFFER: a parameter (or comment) that fills the
// whole read buffer is refused.
const confBuffer = 4096

// lexer reads one file as ngx_conf_read_token does, byte for byte.
type lexer struct {
	file string
	data []byte
	pos  int
	line int
	// bufEnd is where the bytes nginx has read into its 4 KiB buffer
	// end; when a token reaches it with more to read, the buffer holds
	// the token from its start, so a token of 4 KiB cannot grow.
	bufEnd int
	sink   *diagSink
}

func newLexer(file string, data []byte, sink *diagSink) *lexer {
	return &lexer{file: file, data: data, line: 1, bufEnd: min(len(data), confBuffer), sink: sink}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// readToken reads one directive's words, up to ";", "{" or "}", or the
// end of the file. Errors are reported with nginx's wording.
func (lx *lexer) readToken() ([]string, tokenResult) {
	var (
		words                    []string
		needSpace, sharpComment  bool
		quoted, sQuoted, dQuoted bool
		variable                 bool
		lastSpace                = true
		start                    = lx.pos
		startLine                = lx.line
	)
	for {
		if lx.pos >= lx.bufEnd {
			if lx.pos >= len(lx.data) {
				if len(words) > 0 || !lastSpace {
					lx.sink.errorf(lx.at(), "unexpected end of file, expecting \";\" or \"}\"")
					return words, tokError
				}
				return words, tokFileDone
			}
			if lx.pos-start == confBuffer {
				at := pos{file: lx.file, line: startLine}
				switch {
				case dQuoted:
					lx.sink.errorf(at, "too long parameter, probably missing terminating \"\"\" character")
				case sQuoted:
					lx.sink.errorf(at, "too long parameter, probably missing terminating \"'\" character")
				default:
					lx.sink.errorf(at, "too long parameter \"%s...\" started", lx.data[start:start+10])
				}
				return words, tokError
			}
			lx.bufEnd = min(len(lx.data), start+confBuffer)
		}
		ch := lx.data[lx.pos]
		lx.pos++
		if ch == '\n' {
			lx.line++
			sharpComment = false
		}
		if sharpComment {
			continue
		}
		if quoted {
			quoted = false
			continue
		}
		if needSpace {
			switch {
			case isSpace(ch):
				lastSpace, needSpace = true, false
				continue
			case ch == ';':
				return words, tokDirective
			case ch == '{':
				return words, tokBlockStart
			case ch == ')':
				lastSpace, needSpace = true, false
			default:
				lx.sink.errorf(lx.at(), "unexpected \"%c\"", ch)
				return words, tokError
			}
		}
		if lastSpace {
			if isSpace(ch) {
				continue
			}
			start, startLine = lx.pos-1, lx.line
			switch ch {
			case ';', '{':
				if len(words) == 0 {
					lx.sink.errorf(lx.at(), "unexpected \"%c\"", ch)
					return words, tokError
				}
				if ch == '{' {
					return words, tokBlockStart
				}
				return words, tokDirective
			case '}':
				if len(words) != 0 {
					lx.sink.errorf(lx.at(), "unexpected \"}\"")
					return words, tokError
				}
				return words, tokBlockDone
			case '#':
				sharpComment = true
				continue
			case '\\':
				quoted, lastSpace = true, false
				continue
			case '"':
				start++
				dQuoted, lastSpace = true, false
				continue
			case '\'':
				start++
				sQuoted, lastSpace = true, false
				continue
			case '$':
				// "${name}" may start a word: its "{" does not open a
				// block.
				variable, lastSpace = true, false
				continue
			default:
				lastSpace = false
			}
			continue
		}
		if ch == '{' && variable {
			continue
		}
		variable = false
		if ch == '\\' {
			quoted = true
			continue
		}
		if ch == '$' {
			variable = true
			continue
		}
		found := false
		switch {
		case dQuoted:
			if ch == '"' {
				dQuoted, needSpace, found = false, true, true
			}
		case sQuoted:
			if ch == '\'' {
				sQuoted, needSpace, found = false, true, true
			}
		case isSpace(ch) || ch == ';' || ch == '{':
			lastSpace, found = true, true
		}
		if found {
			words = append(words, unescape(lx.data[start:lx.pos-1]))
			switch ch {
			case ';':
				return words, tokDirective
			case '{':
				return words, tokBlockStart
			}
		}
	}
}

func (lx *lexer) at() pos { return pos{file: lx.file, line: lx.line} }

// unescape turns \" \' \\ into the character and \t \r \n into tab, CR
// and LF; any other backslash stays, as in ngx_conf_read_token.
func unescape(b []byte) string {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case '"', '\'', '\\':
				i++
			case 't':
				out = append(out, '\t')
				i++
				continue
			case 'r':
				out = append(out, '\r')
				i++
				continue
			case 'n':
				out = append(out, '\n')
				i++
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}

// maxIncludeDepth bounds nested includes; nginx has no bound and fails
// with "Too many open files" once an include loop exhausts them.
const maxIncludeDepth = 32

// maxTotalBytes bounds what a configuration reads across its includes.
const maxTotalBytes = 64 << 20

// reader builds the directive tree of a configuration and the files it
// includes (ngx_conf_parse and ngx_conf_include).
type reader struct {
	opts  *Options
	sink  *diagSink
	fsys  FS
	total int
	// failed stops the reading at the first syntax error, as nginx
	// stops; the tree read so far is kept.
	failed bool
}

// parseFile reads a whole file: directives up to its end; a "}" without
// its "{" is an error (ngx_conf_parse of type parse_file).
func (r *reader) parseFile(file string, data []byte, depth int) []*stmt {
	r.total += len(data)
	lx := newLexer(file, data, r.sink)
	out, res := r.parseBlock(lx, depth)
	if res == tokBlockDone {
		r.sink.errorf(lx.at(), "unexpected \"}\"")
		r.failed = true
	}
	return out
}

// parseBlock reads directives until "}" or the end of the file.
func (r *reader) parseBlock(lx *lexer, depth int) ([]*stmt, tokenResult) {
	var out []*stmt
	for !r.failed {
		words, res := lx.readToken()
		switch res {
		case tokError:
			r.failed = true
			return out, res
		case tokBlockDone, tokFileDone:
			return out, res
		}
		r.sink.seq++
		s := &stmt{name: words[0], args: words[1:], file: lx.file, line: lx.line, seq: r.sink.seq}
		if res == tokBlockStart {
			s.hasBlock = true
			var end tokenResult
			s.block, end = r.parseBlock(lx, depth)
			s.end = lx.line
			if end == tokFileDone {
				r.sink.errorf(lx.at(), "unexpected end of file, expecting \"}\"")
				r.failed = true
			}
			out = append(out, s)
			continue
		}
		if s.name == "include" && len(s.args) == 1 {
			out = append(out, r.include(s, depth)...)
			continue
		}
		out = append(out, s)
	}
	return out, tokError
}

// include reads the files an include names, relative to the
// configuration prefix (ngx_conf_full_name with conf_prefix), a glob
// naming any number of files in lexical order.
func (r *reader) include(s *stmt, depth int) []*stmt {
	at := s.at()
	name := s.args[0]
	if !filepath.IsAbs(name) {
		name = filepath.Join(r.opts.prefix(), name)
	}
	if depth >= maxIncludeDepth {
		r.sink.errorf(at, "include nested more than %d deep: %q includes itself?", maxIncludeDepth, name)
		r.failed = true
		return nil
	}
	files := []string{name}
	if strings.ContainsAny(name, "*?[") {
		var err error
		if files, err = r.fsys.Glob(name); err != nil {
			r.sink.errorf(at, "glob() %q failed (%v)", name, err)
			r.failed = true
			return nil
		}
		files = visible(name, files)
	}
	var out []*stmt
	for _, f := range files {
		data, err := r.fsys.ReadFile(f)
		if err != nil {
			r.sink.errorf(at, "open() %q failed (%s)", f, errnoText(err))
			r.failed = true
			return out
		}
		if r.total+len(data) > maxTotalBytes {
			r.sink.errorf(at, "the configuration and its includes are larger than %d MiB", maxTotalBytes>>20)
			r.failed = true
			return out
		}
		out = append(out, r.parseFile(f, data, depth+1)...)
		if r.failed {
			return out
		}
	}
	return out
}

// visible drops what glob(3) without GLOB_PERIOD would not match: names
// starting with "." unless the pattern's own name does.
func visible(pattern string, files []string) []string {
	if strings.HasPrefix(filepath.Base(pattern), ".") {
		return files
	}
	out := files[:0:0]
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), ".") {
			out = append(out, f)
		}
	}
	return out
}

// errnoText writes an error as nginx does after a failed call: "(2: No
// such file or directory)" without the parentheses, glibc's strerror
// wording.
func errnoText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var en syscall.Errno
	if !errors.As(err, &en) {
		return err.Error()
	}
	if s, ok := strerror[en]; ok {
		return fmt.Sprintf("%d: %s", int(en), s)
	}
	msg := en.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return fmt.Sprintf("%d: %s", int(en), msg)
}

// strerror is glibc's wording of the errors an include meets.
var strerror = map[syscall.Errno]string{
	syscall.ENOENT:       "No such file or directory",
	syscall.EACCES:       "Permission denied",
	syscall.ENOTDIR:      "Not a directory",
	syscall.EISDIR:       "Is a directory",
	syscall.ELOOP:        "Too many levels of symbolic links",
	syscall.ENAMETOOLONG: "File name too long",
	syscall.EMFILE:       "Too many open files",
}
