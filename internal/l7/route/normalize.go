package route

import (
	"errors"
	"fmt"
)

// ErrBadRequest marks every input nginx answers with "400 Bad Request":
// an invalid request-target, an invalid Host. Test with errors.Is.
var ErrBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}

// URI is a request-target parsed the way nginx parses it. The field names
// follow ngx_http_request_t.
type URI struct {
	// Raw is the target exactly as received, path and query and fragment
	// (r->unparsed_uri); for the absolute form it starts at the path.
	Raw string
	// RawValid is false when the target had no path ("http://h?x"), in
	// which case nginx never forwards Raw (r->valid_unparsed_uri).
	RawValid bool
	// Path is the normalized path used for location matching (r->uri).
	Path string
	// Args is the query string without "?" and without any "#fragment"
	// (r->args).
	Args string
	// Host is the authority of an absolute-form target, without port,
	// empty for the origin form. nginx prefers it over the Host header.
	Host string
	// Quoted reports a "%" in the path part (r->quoted_uri): nginx then
	// re-escapes the path it sends upstream.
	Quoted bool
	// Plus reports a "+" (raw or %2B) in the path part (r->plus_in_uri).
	Plus bool
}

// Normalize parses a request-target with merge_slashes on (the nginx
// default) and returns the path nginx matches locations against and the
// query string. err wraps ErrBadRequest when nginx would answer 400.
func Normalize(rawURI string) (path string, args string, err error) {
	u, err := ParseURI(rawURI, true)
	if err != nil {
		return "", "", err
	}
	return u.Path, u.Args, nil
}

// ParseURI parses a request-target (origin form "/p?q" or absolute form
// "http://h:p/p?q") as ngx_http_parse_request_line followed by
// ngx_http_parse_complex_uri (src/http/ngx_http_parse.c) do.
// mergeSlashes is the merge_slashes directive (default on).
func ParseURI(raw string, mergeSlashes bool) (URI, error) {
	// The request line parser refuses control characters and, since
	// nginx 1.21.1, spaces anywhere in the target, query included.
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= 0x20 || c == 0x7f {
			return URI{}, badRequest("control character or space at offset %d in request target", i)
		}
	}
	if raw == "" {
		return URI{}, badRequest("empty request target")
	}
	u := URI{RawValid: true}
	target := raw
	emptyPath := false
	if raw[0] != '/' {
		rest, host, empty, err := splitAbsolute(raw)
		if err != nil {
			return URI{}, err
		}
		u.Host = host
		target = rest
		emptyPath = empty
		u.RawValid = !empty
	}
	u.Raw = target
	if emptyPath {
		// "http://h?x": nginx writes a "/" of its own before parsing
		// (r->empty_path_in_uri) and never forwards the original.
		target = "/" + target
	}
	if err := u.parseComplex(target, mergeSlashes); err != nil {
		return URI{}, err
	}
	return u, nil
}

// splitAbsolute strips "scheme://host[:port]" as the sw_schema … sw_port
// states of ngx_http_parse_request_line do. It returns what follows the
// authority; empty reports a target with no path ("http://h?q").
func splitAbsolute(raw string) (rest, host string, empty bool, err error) {
	i := 0
	c := raw[0] | 0x20
	if c < 'a' || c > 'z' {
		return "", "", false, badRequest("request target must start with \"/\" or a scheme")
	}
	for i < len(raw) {
		c := raw[i]
		l := c | 0x20
		if (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' {
			i++
			continue
		}
		break
	}
	if len(raw) < i+3 || raw[i:i+3] != "://" {
		return "", "", false, badRequest("invalid scheme in request target")
	}
	i += 3
	hostStart := i
	if i < len(raw) && raw[i] == '[' {
		for i < len(raw) && raw[i] != ']' {
			i++
		}
		if i == len(raw) {
			return "", "", false, badRequest("unterminated IP literal in request target")
		}
		i++
	} else {
		for i < len(raw) {
			c := raw[i]
			l := c | 0x20
			if (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' {
				i++
				continue
			}
			break
		}
	}
	host = raw[hostStart:i]
	if i < len(raw) && raw[i] == ':' {
		i++
		for i < len(raw) && raw[i] >= '0' && raw[i] <= '9' {
			i++
		}
	}
	switch {
	case i == len(raw):
		// "GET http://h HTTP/1.1": nginx uses the "/" of "://".
		return "/", host, false, nil
	case raw[i] == '/':
		return raw[i:], host, false, nil
	case raw[i] == '?':
		return raw[i:], host, true, nil
	}
	return "", "", false, badRequest("invalid character %q after host in request target", raw[i])
}

// complex-URI parser states, named after ngx_http_parse_complex_uri.
const (
	swUsual = iota
	swSlash
	swDot
	swDotDot
	swQuoted
	swQuotedSecond
)

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c|0x20 >= 'a' && c|0x20 <= 'f':
		return c | 0x20 - 'a' + 10, true
	}
	return 0, false
}

// parseComplex is ngx_http_parse_complex_uri: it decodes %XX once,
// resolves "." and ".." segments, merges slashes and splits off the query.
// Decoded "%", "#" and "?" stay literal; any other decoded byte is then
// treated like the raw byte, so "%2e%2e" is "..", "%2F" is "/". A ".." above
// the root, a bad or truncated escape and %00 are errors (400).
func (u *URI) parseComplex(s string, mergeSlashes bool) error {
	out := make([]byte, 0, len(s))
	state, quotedState := swUsual, swUsual
	var decoded byte
	i := 0
	// popSegment drops "/.." and the segment before it; nginx walks back
	// from the byte before "/.." to the previous "/".
	popSegment := func() error {
		j := len(out) - 4
		for j >= 0 && out[j] != '/' {
			j--
		}
		if j < 0 {
			return badRequest("\"..\" above the root in %q", s)
		}
		out = out[:j+1]
		return nil
	}
	for i < len(s) {
		ch := s[i]
		i++
	reprocess:
		switch state {
		case swUsual:
			switch ch {
			case '/':
				state = swSlash
				out = append(out, ch)
			case '%':
				quotedState, state = state, swQuoted
			case '?':
				u.Args = cutFragment(s[i:])
				u.Path = string(out)
				return nil
			case '#':
				u.Path = string(out)
				return nil
			case '+':
				u.Plus = true
				out = append(out, ch)
			default:
				out = append(out, ch)
			}
		case swSlash:
			switch ch {
			case '/':
				if !mergeSlashes {
					out = append(out, ch)
				}
			case '.':
				state = swDot
				out = append(out, ch)
			case '%':
				quotedState, state = state, swQuoted
			case '?':
				u.Args = cutFragment(s[i:])
				u.Path = string(out)
				return nil
			case '#':
				u.Path = string(out)
				return nil
			case '+':
				u.Plus = true
				state = swUsual
				out = append(out, ch)
			default:
				state = swUsual
				out = append(out, ch)
			}
		case swDot:
			switch ch {
			case '/':
				state = swSlash
				out = out[:len(out)-1]
			case '.':
				state = swDotDot
				out = append(out, ch)
			case '%':
				quotedState, state = state, swQuoted
			case '?':
				u.Args = cutFragment(s[i:])
				u.Path = string(out[:len(out)-1])
				return nil
			case '#':
				u.Path = string(out[:len(out)-1])
				return nil
			case '+':
				u.Plus = true
				state = swUsual
				out = append(out, ch)
			default:
				state = swUsual
				out = append(out, ch)
			}
		case swDotDot:
			switch ch {
			case '/', '?', '#':
				if err := popSegment(); err != nil {
					return err
				}
				if ch == '?' {
					u.Args = cutFragment(s[i:])
					u.Path = string(out)
					return nil
				}
				if ch == '#' {
					u.Path = string(out)
					return nil
				}
				state = swSlash
			case '%':
				quotedState, state = state, swQuoted
			case '+':
				u.Plus = true
				state = swUsual
				out = append(out, ch)
			default:
				state = swUsual
				out = append(out, ch)
			}
		case swQuoted:
			u.Quoted = true
			v, ok := hexVal(ch)
			if !ok {
				return badRequest("invalid %%-escape in %q", s)
			}
			decoded = v
			state = swQuotedSecond
		case swQuotedSecond:
			v, ok := hexVal(ch)
			if !ok {
				return badRequest("invalid %%-escape in %q", s)
			}
			letter := ch > '9'
			ch = decoded<<4 + v
			switch {
			case !letter && (ch == '%' || ch == '#'):
				state = swUsual
				out = append(out, ch)
				continue
			case !letter && ch == 0:
				return badRequest("%%00 in %q", s)
			case letter && ch == '?':
				state = swUsual
				out = append(out, ch)
				continue
			case letter && ch == '+':
				u.Plus = true
			}
			state = quotedState
			goto reprocess
		}
	}
	switch state {
	case swQuoted, swQuotedSecond:
		return badRequest("truncated %%-escape in %q", s)
	case swDot:
		out = out[:len(out)-1]
	case swDotDot:
		if err := popSegment(); err != nil {
			return err
		}
	}
	u.Path = string(out)
	return nil
}

// cutFragment returns the query up to the first "#", as the "args:" tail
// of ngx_http_parse_complex_uri does.
func cutFragment(q string) string {
	for i := 0; i < len(q); i++ {
		if q[i] == '#' {
			return q[:i]
		}
	}
	return q
}
