package route

import (
	"errors"
	"fmt"
	"strings"
)

// Directive is one rewrite-module directive: *Rewrite, *Return or Break.
type Directive interface{ isDirective() }

// Rewrite is "rewrite regex replacement [flag]".
type Rewrite struct {
	Regex       string
	Replacement string
	Flag        string // "", "last", "break", "redirect", "permanent"
}

// Return is "return code [text]" or "return URL" (Code 0 with Text set
// means the URL form, answered with 302).
type Return struct {
	Code int
	Text string
}

// Break is the "break" directive.
type Break struct{}

func (*Rewrite) isDirective() {}
func (*Return) isDirective()  {}
func (Break) isDirective()    {}

// Script is the compiled rewrite-module code of one server or location.
type Script struct {
	ops []op
}

type op struct {
	kind int // opRewrite, opReturn, opBreak

	// rewrite (ngx_http_script_regex_code_t)
	regex    *Regex
	repl     *template
	addArgs  bool // the replacement did not end in "?"
	redirect bool
	status   int
	brk      bool // break_cycle
	last     bool // stop the script after this rewrite

	// return
	code int
	text *template
}

const (
	opRewrite = iota
	opReturn
	opBreak
)

// NewScript compiles directives as ngx_http_rewrite and
// ngx_http_rewrite_return do, with their configuration errors.
func NewScript(ds []Directive) (*Script, error) {
	s := &Script{}
	for _, d := range ds {
		switch d := d.(type) {
		case *Rewrite:
			o, err := compileRewrite(d)
			if err != nil {
				return nil, err
			}
			s.ops = append(s.ops, o)
		case *Return:
			o, err := compileReturn(d)
			if err != nil {
				return nil, err
			}
			s.ops = append(s.ops, o)
		case Break, *Break:
			s.ops = append(s.ops, op{kind: opBreak})
		default:
			return nil, fmt.Errorf("unknown rewrite directive %T", d)
		}
	}
	return s, nil
}

func compileRewrite(d *Rewrite) (op, error) {
	if d.Replacement == "" {
		return op{}, errors.New("empty replacement")
	}
	re, err := compileRegex(d.Regex, false)
	if err != nil {
		return op{}, fmt.Errorf("rewrite: %w", err)
	}
	o := op{kind: opRewrite, regex: re}
	repl := d.Replacement
	if strings.HasSuffix(repl, "?") {
		// The last "?" drops the original arguments.
		repl = repl[:len(repl)-1]
	} else {
		o.addArgs = true
	}
	if strings.HasPrefix(repl, "http://") || strings.HasPrefix(repl, "https://") || strings.HasPrefix(repl, "$scheme") {
		o.status, o.redirect, o.last = 302, true, true
	}
	switch d.Flag {
	case "":
	case "last":
		o.last = true
	case "break":
		o.brk, o.last = true, true
	case "redirect":
		o.status, o.redirect, o.last = 302, true, true
	case "permanent":
		o.status, o.redirect, o.last = 301, true, true
	default:
		return op{}, fmt.Errorf("invalid parameter %q", d.Flag)
	}
	// Redirect targets keep "?" in the value (sc.compile_args = 0).
	o.repl, err = compileTemplate(repl, !o.redirect)
	if err != nil {
		return op{}, err
	}
	return o, nil
}

func compileReturn(d *Return) (op, error) {
	o := op{kind: opReturn, code: d.Code}
	text := d.Text
	if d.Code == 0 {
		if !(strings.HasPrefix(text, "http://") || strings.HasPrefix(text, "https://") || strings.HasPrefix(text, "$scheme")) {
			return op{}, fmt.Errorf("invalid return code %q", text)
		}
		o.code = 302
	}
	if o.code < 0 || o.code > 999 {
		return op{}, fmt.Errorf("invalid return code \"%d\"", d.Code)
	}
	if text != "" {
		t, err := compileTemplate(text, false)
		if err != nil {
			return op{}, err
		}
		o.text = t
	}
	return o, nil
}

// Outcome of running a script.
type Outcome struct {
	// Status is 0 when processing goes on; else the response status
	// (a redirect, or the code of "return").
	Status int
	// Redirect is the Location header of a redirect: a rewrite redirect
	// or "return 301|302|303|307|308 URL". A value starting with "/" is
	// made absolute by nginx's header filter.
	Redirect string
	// Body is the text of "return code text" for non-redirect codes.
	Body string
	// HasBody distinguishes "return 200 ''" from "return 404" (which
	// sends nginx's error page).
	HasBody bool
}

// ErrRewriteZeroLength is nginx's "the rewritten URI has a zero length"
// (answered with 500).
var ErrRewriteZeroLength = errors.New("the rewritten URI has a zero length")

// Run executes the script against st, in order, as ngx_http_rewrite_handler
// runs the codes: a rewrite whose regex matches r->uri replaces the URI
// (and args), then the flag decides: "last" and "break" stop the script,
// "redirect" and "permanent" (or a replacement starting with http://,
// https:// or $scheme) answer 302/301, no flag goes on with the next
// directive. "return" stops with its code; "break" stops.
func (s *Script) Run(st *State) (Outcome, error) {
	if s == nil {
		return Outcome{}, nil
	}
	for i := range s.ops {
		o := &s.ops[i]
		switch o.kind {
		case opBreak:
			// ngx_http_script_break_code: a flagless rewrite before it
			// now behaves as "rewrite … break".
			if st.URIChanged {
				st.ValidLocation = false
				st.URIChanged = false
			}
			return Outcome{}, nil
		case opReturn:
			return o.runReturn(st), nil
		case opRewrite:
			caps := o.regex.FindSubmatch(st.URI)
			if caps == nil {
				st.Captures = nil
				continue
			}
			st.Captures = caps
			out, err := o.runRewrite(st, caps)
			if err != nil || out.Status != 0 {
				return out, err
			}
			if o.last {
				return Outcome{}, nil
			}
		}
	}
	return Outcome{}, nil
}

// runRewrite is ngx_http_script_regex_start_code and
// ngx_http_script_regex_end_code for a matching rewrite.
func (o *op) runRewrite(st *State, caps []string) (Outcome, error) {
	if o.redirect {
		v, _ := o.repl.expand(st, caps, true)
		v = unescapeRedirect(v)
		if o.addArgs && st.Args != "" {
			sep := "?"
			if o.repl.args {
				sep = "&"
			}
			v += sep + st.Args
		}
		return Outcome{Status: o.status, Redirect: v}, nil
	}
	st.Internal = true
	st.UnparsedValid = false
	if o.brk {
		st.ValidLocation = false
		st.URIChanged = false
	} else {
		st.URIChanged = true
	}
	v, argsAt := o.repl.expand(st, caps, false)
	uri := v
	if argsAt >= 0 {
		uri = v[:argsAt]
		args := v[argsAt:]
		if o.addArgs && st.Args != "" {
			args += "&" + st.Args
		}
		st.Args = args
	} else if !o.addArgs {
		st.Args = ""
	}
	if uri == "" {
		return Outcome{Status: 500}, ErrRewriteZeroLength
	}
	st.URI = uri
	return Outcome{}, nil
}

// runReturn is ngx_http_script_return_code with ngx_http_send_response:
// redirect codes put the text in Location, others send it as the body.
func (o *op) runReturn(st *State) Outcome {
	out := Outcome{Status: o.code}
	if o.text == nil {
		return out
	}
	v, _ := o.text.expand(st, st.Captures, false)
	switch o.code {
	case 301, 302, 303, 307, 308:
		out.Redirect = v
	default:
		out.Body = v
		out.HasBody = true
	}
	return out
}
