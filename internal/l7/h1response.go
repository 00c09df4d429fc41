package l7

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// readResponse reads an HTTP/1.x response head from br and frames its
// body as net/http's ReadResponse does (transfer.go readTransfer, RFC 9112
// §6.3), with less work per field: interned names, no textproto reader.
// The framing rules: no body for HEAD, 1xx, 204 and 304; "chunked" as the
// only transfer coding (anything else is refused, and a Content-Length
// beside it ignored and removed); otherwise one Content-Length, several
// only if they agree; otherwise the body runs to the connection's close.
// Obsolete line folding is unfolded with a space (§5.2). Errors that are
// not I/O errors say "malformed HTTP response" (classify: invalid_header).
// The response is built in x when the caller has one (h1Exchange), else
// allocated.
func readResponse(br *bufio.Reader, req *http.Request, x *h1Exchange) (*http.Response, error) {
	line, err := readLine(br)
	if err != nil {
		return nil, err
	}
	var resp *http.Response
	if x != nil {
		x.resp = http.Response{Request: req}
		resp = &x.resp
	} else {
		resp = &http.Response{Request: req}
	}
	s, ok := statusLines[string(line)]
	if !ok {
		s = string(line)
	}
	proto, status, ok := strings.Cut(s, " ")
	if !ok {
		return nil, malformed("status line", line)
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok || major != 1 {
		return nil, malformed("protocol version", line)
	}
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = proto, major, minor
	code, _, _ := strings.Cut(strings.TrimLeft(status, " "), " ")
	if len(code) != 3 {
		return nil, malformed("status code", line)
	}
	resp.StatusCode, err = strconv.Atoi(code)
	if err != nil || resp.StatusCode < 100 {
		return nil, malformed("status code", line)
	}
	resp.Status = strings.TrimLeft(status, " ")
	h := getHeader() // the direct path gives it back (forwardDirect)
	resp.Header = h
	if err := readFields(br, h, false); err != nil {
		return nil, err
	}
	if err := frame(br, resp, req, x); err != nil {
		return nil, err
	}
	return resp, nil
}

func malformed(what string, b []byte) error {
	if len(b) > 64 {
		b = b[:64]
	}
	return fmt.Errorf("malformed HTTP response: %s %q", what, b)
}

// readLine reads a line without its CRLF (a bare LF ends one too, as
// textproto accepts in responses).
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Longer than the buffer: gather it (the connection bounds the
		// whole head, maxResponseHeaderBytes).
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readFields reads header (or trailer) fields up to the empty line. When
// the whole section is buffered (the usual case) it becomes one string
// whose substrings are the values; otherwise it is read line by line.
func readFields(br *bufio.Reader, h http.Header, trailer bool) error {
	f := fieldReader{h: h, trailer: trailer}
	buf, _ := br.Peek(br.Buffered())
	if len(buf) >= 2 && buf[0] == '\r' && buf[1] == '\n' {
		_, _ = br.Discard(2) // no fields
		return nil
	}
	if end := bytes.Index(buf, crlfcrlf); end >= 0 {
		blk := string(buf[:end+2])
		if !strings.Contains(blk, "\n\n") && strings.Count(blk, "\n") == strings.Count(blk, "\r\n") {
			_, _ = br.Discard(end + 4)
			f.vals = make([]string, 0, strings.Count(blk, "\n")) // one per line at most
			for blk != "" {
				line, rest, _ := strings.Cut(blk, "\r\n")
				blk = rest
				if err := f.field(line); err != nil {
					return err
				}
			}
			return nil
		}
	}
	for {
		line, err := readLine(br)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if err := f.field(string(line)); err != nil {
			return err
		}
	}
}

// fieldReader adds field lines to h; the value slices share arrays.
type fieldReader struct {
	h       http.Header
	trailer bool
	lastKey string
	vals    []string
}

func (f *fieldReader) field(line string) error {
	if line == "" {
		return malformed("header line", nil)
	}
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold: part of the previous field's value.
		vv := f.h[f.lastKey]
		if f.lastKey == "" || len(vv) == 0 || !fieldValue(line) {
			return malformed("header line", []byte(line))
		}
		vv[len(vv)-1] += " " + strings.Trim(line, " \t")
		return nil
	}
	colon := strings.IndexByte(line, ':')
	if colon <= 0 || !fastName(line[:colon]) || !fieldValue(line[colon+1:]) {
		return malformed("header line", []byte(line))
	}
	key := responseKey(line[:colon])
	if f.trailer && !httpguts.ValidTrailerHeader(key) {
		return nil
	}
	v := strings.Trim(line[colon+1:], " \t")
	f.lastKey = key
	if cur, ok := f.h[key]; ok {
		f.h[key] = append(cur, v)
		return nil
	}
	if len(f.vals) == cap(f.vals) {
		f.vals = make([]string, 0, 8)
	}
	f.vals = append(f.vals, v)
	n := len(f.vals)
	f.h[key] = f.vals[n-1 : n : n]
	return nil
}

// fieldValue: no control characters but HTAB (RFC 9110 §5.5); obs-text
// passes, as net/http lets it.
func fieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// frame sets the body, ContentLength, Close, TransferEncoding and the
// announced trailers.
func frame(br *bufio.Reader, resp *http.Response, req *http.Request, x *h1Exchange) error {
	h := resp.Header
	resp.Close = shouldClose(resp.ProtoMajor, resp.ProtoMinor, h)
	code := resp.StatusCode
	noBody := req.Method == http.MethodHead || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified

	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return fmt.Errorf("malformed HTTP response: unsupported transfer encoding %q", te)
		}
		if resp.ProtoMajor == 1 && resp.ProtoMinor == 0 {
			return fmt.Errorf("malformed HTTP response: transfer encoding in HTTP/1.0")
		}
		delete(h, "Transfer-Encoding")
		delete(h, "Content-Length") // RFC 9112 §6.3 item 3
		chunked = true
		resp.TransferEncoding = []string{"chunked"}
	}
	length := int64(-1)
	if cl := h["Content-Length"]; len(cl) > 0 && !chunked {
		for _, v := range cl[1:] {
			if strings.TrimSpace(v) != strings.TrimSpace(cl[0]) {
				return fmt.Errorf("malformed HTTP response: several Content-Length values %q", cl)
			}
		}
		n, err := strconv.ParseUint(strings.TrimSpace(cl[0]), 10, 63)
		if err != nil {
			return fmt.Errorf("malformed HTTP response: bad Content-Length %q", cl[0])
		}
		length = int64(n)
		if len(cl) > 1 {
			h["Content-Length"] = cl[:1]
		}
	}
	if tr := h["Trailer"]; len(tr) > 0 && chunked {
		resp.Trailer = http.Header{}
		for _, v := range tr {
			for _, k := range splitComma(v) {
				k = http.CanonicalHeaderKey(k)
				if !httpguts.ValidTrailerHeader(k) {
					return fmt.Errorf("malformed HTTP response: bad trailer key %q", k)
				}
				resp.Trailer[k] = nil
			}
		}
		delete(h, "Trailer")
	}
	switch {
	case noBody:
		resp.ContentLength = 0
		if req.Method == http.MethodHead && length >= 0 {
			resp.ContentLength = length
		}
		resp.Body = http.NoBody
		resp.TransferEncoding = nil
	case chunked:
		resp.ContentLength = -1
		resp.Body = &chunkedBody{br: br, r: httputil.NewChunkedReader(br), resp: resp}
	case length == 0:
		resp.ContentLength = 0
		resp.Body = http.NoBody
	case length > 0:
		resp.ContentLength = length
		if x != nil {
			x.length = lengthBody{br: br, left: length}
			resp.Body = &x.length
		} else {
			resp.Body = &lengthBody{br: br, left: length}
		}
	default:
		resp.ContentLength = -1
		resp.Close = true
		resp.Body = &closeBody{br: br}
	}
	return nil
}

// shouldClose is net/http's rule (transfer.go shouldClose): HTTP/1.0
// closes unless it says keep-alive; HTTP/1.1 closes when it says close,
// and then the Connection field goes.
func shouldClose(major, minor int, h http.Header) bool {
	conn := h["Connection"]
	hasClose := httpguts.HeaderValuesContainsToken(conn, "close")
	if major == 1 && minor == 0 {
		return hasClose || !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	}
	if hasClose {
		delete(h, "Connection")
	}
	return hasClose
}

// lengthBody is a Content-Length body; ending early is an error.
type lengthBody struct {
	br   *bufio.Reader
	left int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if b.left == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }

// closeBody runs to the end of the connection.
type closeBody struct{ br *bufio.Reader }

func (b *closeBody) Read(p []byte) (int, error) { return b.br.Read(p) }
func (b *closeBody) Close() error               { return nil }

// chunkedBody decodes chunks, then reads the trailer section into
// resp.Trailer.
type chunkedBody struct {
	br   *bufio.Reader
	r    io.Reader
	resp *http.Response
	done bool
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		// The trailer section: at least its CRLF (net/http's readTrailer).
		if buf, perr := b.br.Peek(2); len(buf) < 2 {
			if perr == io.EOF {
				perr = io.ErrUnexpectedEOF
			}
			return n, perr
		} else if buf[0] == '\r' && buf[1] == '\n' {
			_, _ = b.br.Discard(2)
			b.done = true
			return n, io.EOF
		}
		// Fields must end with a CRLF CRLF within the buffer, as net/http
		// demands (seeUpcomingDoubleCRLF): no unbounded trailer.
		if !upcomingDoubleCRLF(b.br) {
			return n, errors.New("malformed HTTP response: trailer without its end")
		}
		t := http.Header{}
		if terr := readFields(b.br, t, true); terr != nil {
			return n, terr
		}
		if len(t) > 0 {
			if b.resp.Trailer == nil {
				b.resp.Trailer = http.Header{}
			}
			for k, v := range t {
				b.resp.Trailer[k] = v
			}
		}
		b.done = true
	}
	return n, err
}

func (b *chunkedBody) Close() error { return nil }

// statusLines interns the commonest status lines.
var statusLines = func() map[string]string {
	m := map[string]string{}
	for _, v := range []string{"1.1", "1.0"} {
		for _, c := range []int{200, 204, 206, 301, 302, 304, 400, 403, 404, 500, 502, 503, 504} {
			l := "HTTP/" + v + " " + strconv.Itoa(c) + " " + http.StatusText(c)
			m[l] = l
		}
	}
	return m
}()

// responseKey interns the canonical names of frequent response fields.
func responseKey(name string) string {
	if k, ok := responseKeys[name]; ok {
		return k
	}
	return http.CanonicalHeaderKey(name)
}

var responseKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Content-Type", "Content-Length", "Date", "Server", "Last-Modified", "Etag",
		"Cache-Control", "Expires", "Vary", "Set-Cookie", "Location", "Connection", "Keep-Alive",
		"Transfer-Encoding", "Trailer", "Accept-Ranges", "Age", "Content-Encoding", "Content-Language",
		"Content-Range", "Content-Disposition", "Strict-Transport-Security", "X-Content-Type-Options",
		"X-Frame-Options", "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Pragma",
		"Link", "Via", "Www-Authenticate", "Retry-After", "Alt-Svc", "X-Powered-By", "Referrer-Policy",
		"Content-Security-Policy", "X-Xss-Protection", "X-Request-Id", "Upgrade"} {
		m[k] = k
		m[toLowerASCII(k)] = k
	}
	return m
}()

func upcomingDoubleCRLF(br *bufio.Reader) bool {
	for n := 4; ; n++ {
		buf, err := br.Peek(n)
		if bytes.HasSuffix(buf, crlfcrlf) {
			return true
		}
		if err != nil {
			return false
		}
	}
}
