package compress

import (
	"net/http"
	"strconv"
	"strings"
)

// Writer compresses one response. Get one with Policy.Wrap, hand it to
// the handler, then call Close when the handler returned normally and
// Release in every case (a deferred call).
type Writer struct {
	p      *Policy
	rw     http.ResponseWriter
	codec  Codec
	head   bool
	refuse bool // the client may not get a compressed body (Via, HTTP/1.0)

	state  uint8
	status int
	buf    *[]byte
	enc    encoder
	out    counter
	in     int64
}

const (
	stUndecided uint8 = iota
	stPass
	stBuffer
	stCompress
)

// counter counts the compressed bytes written to the client.
type counter struct {
	w http.ResponseWriter
	n int64
}

func (c *counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// Wrap returns the writer for a response to r through rw.
func (p *Policy) Wrap(rw http.ResponseWriter, r *http.Request) *Writer {
	w, _ := p.pools.writers.Get().(*Writer)
	if w == nil {
		w = new(Writer)
	}
	*w = Writer{p: p, rw: rw, head: r.Method == http.MethodHead}
	w.out.w = rw
	w.codec = Negotiate(headerValue(r.Header, "Accept-Encoding"), p.offered)
	// ngx_http_gzip_ok: gzip_http_version 1.1, gzip_proxied.
	w.refuse = !r.ProtoAtLeast(1, 1) || (!p.proxiedAny && len(r.Header["Via"]) > 0)
	return w
}

// headerValue joins a header's lines as one list.
func headerValue(h http.Header, name string) string {
	vs := h[name]
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, ",")
}

// Codec is the coding this writer would use (Identity when none).
func (w *Writer) Codec() Codec { return w.codec }

// Header is the response's header.
func (w *Writer) Header() http.Header { return w.rw.Header() }

// Unwrap lets http.ResponseController reach the underlying writer
// (Hijack, deadlines).
func (w *Writer) Unwrap() http.ResponseWriter { return w.rw }

// WriteHeader decides, as ngx_http_gzip_header_filter does, whether the
// body is compressed.
func (w *Writer) WriteHeader(code int) {
	if w.state != stUndecided {
		return
	}
	if code < 200 {
		// 1xx informational responses pass.
		w.rw.WriteHeader(code)
		return
	}
	w.status = code
	h := w.rw.Header()
	cl := int64(-1)
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			cl = n
		}
	}
	eligible := (code == http.StatusOK || code == http.StatusForbidden || code == http.StatusNotFound) &&
		!w.head && h.Get("Content-Encoding") == "" && !(cl >= 0 && cl < w.p.minLen) &&
		!noTransform(h["Cache-Control"]) && w.p.typeOK(h.Get("Content-Type"))
	if !eligible {
		w.pass()
		return
	}
	addVary(h)
	if w.codec == Identity || w.refuse {
		w.pass()
		return
	}
	if cl < 0 {
		w.state = stBuffer
		w.buf = w.getBuf()
		return
	}
	w.start()
}

func (w *Writer) pass() {
	w.state = stPass
	w.rw.WriteHeader(w.status)
}

// start begins the compressed body: the header filter's edits, then the
// status line.
func (w *Writer) start() {
	enc, err := w.p.pools.get(w.codec, w.p.level[w.codec], &w.out)
	if err != nil {
		w.pass()
		return
	}
	w.enc = enc
	h := w.rw.Header()
	// Shared one-element values: full, so an append elsewhere copies.
	h["Content-Encoding"] = encodingValues[w.codec][:1:1]
	h.Del("Content-Length")
	h.Del("Accept-Ranges")
	weakETag(h)
	w.state = stCompress
	w.p.stats.c[w.codec].responses.Add(1)
	w.rw.WriteHeader(w.status)
}

// Write takes body bytes.
func (w *Writer) Write(b []byte) (int, error) {
	if w.state == stUndecided {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case stBuffer:
		*w.buf = append(*w.buf, b...)
		if int64(len(*w.buf)) < w.p.minLen {
			return len(b), nil
		}
		if err := w.startBuffered(); err != nil {
			return 0, err
		}
		return len(b), nil
	case stCompress:
		n, err := w.enc.Write(b)
		w.in += int64(n)
		return n, err
	}
	return w.rw.Write(b)
}

// startBuffered compresses what was held back.
func (w *Writer) startBuffered() error {
	w.start()
	b := *w.buf
	w.putBuf()
	if w.state == stPass {
		_, err := w.rw.Write(b)
		return err
	}
	n, err := w.enc.Write(b)
	w.in += int64(n)
	return err
}

// FlushError flushes the encoder and the connection.
func (w *Writer) FlushError() error {
	switch w.state {
	case stUndecided:
		return nil
	case stBuffer:
		// The upstream wants bytes out before the minimum length was
		// seen: a stream, compressed (nginx compresses any body of
		// unknown length).
		if err := w.startBuffered(); err != nil {
			return err
		}
	}
	if w.state == stCompress {
		if err := w.enc.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.rw).Flush()
}

// Flush is FlushError without the error.
func (w *Writer) Flush() { _ = w.FlushError() }

// Close ends the body: a body held back and shorter than the minimum
// length goes out as it is; a compressed one gets its trailer.
func (w *Writer) Close() error {
	switch w.state {
	case stBuffer:
		b := *w.buf
		h := w.rw.Header()
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.state = stPass
		w.rw.WriteHeader(w.status)
		_, err := w.rw.Write(b)
		w.putBuf()
		return err
	case stCompress:
		err := w.enc.Close()
		st := &w.p.stats.c[w.codec]
		st.in.Add(uint64(w.in))
		st.out.Add(uint64(w.out.n))
		w.p.pools.put(w.codec, w.p.level[w.codec], w.enc)
		w.enc = nil
		w.state = stPass
		return err
	}
	return nil
}

// Release returns the writer and its encoder to their pools; the writer
// must not be used afterwards.
func (w *Writer) Release() {
	if w.enc != nil {
		// Abandoned mid-body (the handler aborted): the encoder's state
		// is dropped with Reset.
		w.p.pools.put(w.codec, w.p.level[w.codec], w.enc)
	}
	if w.buf != nil {
		w.putBuf()
	}
	pools := w.p.pools
	*w = Writer{}
	pools.writers.Put(w)
}

func (w *Writer) getBuf() *[]byte {
	if b, ok := w.p.pools.bufs.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, max(w.p.minLen, 512))
	return &b
}

func (w *Writer) putBuf() {
	w.p.pools.bufs.Put(w.buf)
	w.buf = nil
}

// noTransform reports "Cache-Control: no-transform".
func noTransform(cc []string) bool {
	for _, v := range cc {
		for len(v) > 0 {
			var d string
			if i := indexByte(v, ','); i >= 0 {
				d, v = v[:i], v[i+1:]
			} else {
				d, v = v, ""
			}
			if equalFold(trimOWS(d), "no-transform") {
				return true
			}
		}
	}
	return false
}

// addVary adds Accept-Encoding to Vary unless it is there or Vary is "*".
func addVary(h http.Header) {
	vs := h["Vary"]
	for _, v := range vs {
		for len(v) > 0 {
			var f string
			if i := indexByte(v, ','); i >= 0 {
				f, v = v[:i], v[i+1:]
			} else {
				f, v = v, ""
			}
			f = trimOWS(f)
			if f == "*" || equalFold(f, "accept-encoding") {
				return
			}
		}
	}
	if len(vs) == 0 {
		h["Vary"] = varyValue[:1:1]
		return
	}
	h["Vary"] = append(vs, "Accept-Encoding")
}

// Header values set on every compressed response, shared so that setting
// them does not allocate; never modified.
var (
	encodingValues = [numCodecs][]string{Zstd: {"zstd"}, Brotli: {"br"}, Gzip: {"gzip"}}
	varyValue      = []string{"Accept-Encoding"}
)

// weakETag is ngx_http_weak_etag: a strong ETag gets "W/", a weak one is
// kept, an unquoted one is dropped.
func weakETag(h http.Header) {
	v := h.Get("Etag")
	switch {
	case v == "":
	case len(v) > 2 && v[0] == 'W' && v[1] == '/':
	case v[0] != '"':
		h.Del("Etag")
	default:
		h.Set("Etag", "W/"+v)
	}
}
