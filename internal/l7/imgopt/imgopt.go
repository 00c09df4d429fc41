// Package imgopt re-encodes JPEG and PNG responses on their way to the
// client when the result is smaller: nginx's image_filter
// (src/http/modules/ngx_http_image_filter_module.c: "image_filter resize",
// image_filter_jpeg_quality 75, image_filter_buffer) done in pure Go with
// image/jpeg, image/png and golang.org/x/image/draw.
//
// A response is considered when it is a 200 to GET with no
// Content-Encoding, no "Cache-Control: no-transform", an image/jpeg or
// image/png type (or none, or application/octet-stream) whose first bytes
// are really a JPEG or a PNG, a body between MinSize and MaxSize, and a
// client whose Accept admits the type (no Accept admits everything). Such
// a response carries "Vary: Accept". It is decoded (at most MaxPixels
// pixels), optionally scaled down to ?w=&h= (proportionally, never up,
// bounded by MaxWidth and MaxHeight, as "image_filter resize" does) and
// re-encoded (JPEG at the configured quality, PNG at
// png.BestCompression). The new body is sent when it is smaller or was
// resized; otherwise the original goes out unchanged. A transformed body
// gets its own Content-Length and a weak ETag.
//
// Results are cached in a byte-bounded LRU keyed by the SHA-256 of the
// upstream body and the parameters: the exact upstream representation,
// whatever its URL, ETag or caching headers say. Images that do not
// shrink are remembered too, so they are not decoded again.
//
// WebP is not produced: golang.org/x/image/webp only decodes, and the
// only cgo-free encoder found (github.com/gen2brain/webp) runs libwebp
// compiled to WebAssembly under a wazero runtime, not a maintained Go
// encoder; AVIF is in the same state.
package imgopt

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/image/draw"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Defaults of config.ImageCompression.
const (
	DefaultMinSize     = 10 << 10
	DefaultMaxSize     = 8 << 20
	DefaultJPEGQuality = 75
	DefaultCacheSize   = 64 << 20
	// MaxPixels bounds what is decoded, against decompression bombs
	// (64 MiB as RGBA).
	MaxPixels = 16 << 20
)

// Stats are the filter's counters; one Stats may serve many filters.
type Stats struct {
	Considered   atomic.Uint64 // responses buffered for re-encoding
	Recompressed atomic.Uint64 // sent re-encoded (resized or not)
	Resized      atomic.Uint64
	Untouched    atomic.Uint64 // considered, sent as they came
	CacheHits    atomic.Uint64
	BytesIn      atomic.Uint64 // upstream bytes of re-encoded responses
	BytesOut     atomic.Uint64 // bytes sent for them
	BytesSaved   atomic.Uint64 // BytesIn − BytesOut of recompressed (not resized) ones
}

// Filter is a location's image recompression.
type Filter struct {
	cfg   config.ImageCompression
	cache *Cache
	stats *Stats
}

// New returns a filter with cfg's defaults filled in. cache may be shared
// (nil: a new one of cfg.CacheSize); stats may be nil.
func New(cfg config.ImageCompression, cache *Cache, stats *Stats) *Filter {
	cfg = WithDefaults(cfg)
	if cache == nil {
		cache = NewCache(cfg.CacheSize)
	}
	if stats == nil {
		stats = new(Stats)
	}
	return &Filter{cfg: cfg, cache: cache, stats: stats}
}

// WithDefaults fills the zero fields of cfg.
func WithDefaults(cfg config.ImageCompression) config.ImageCompression {
	if cfg.MinSize <= 0 {
		cfg.MinSize = DefaultMinSize
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.JPEGQuality <= 0 {
		cfg.JPEGQuality = DefaultJPEGQuality
	}
	cfg.JPEGQuality = min(cfg.JPEGQuality, 100)
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	return cfg
}

// Cache returns the filter's cache.
func (f *Filter) Cache() *Cache { return f.cache }

// params are the resize box requested (0: no bound).
type params struct{ w, h int }

func (f *Filter) params(rawQuery string) params {
	var p params
	if !f.cfg.Resize || rawQuery == "" {
		return p
	}
	q, _ := url.ParseQuery(rawQuery)
	dim := func(name string, bound int) int {
		n, err := strconv.Atoi(q.Get(name))
		if err != nil || n <= 0 {
			return 0
		}
		if bound > 0 {
			n = min(n, bound)
		}
		return n
	}
	p.w = dim("w", f.cfg.MaxWidth)
	p.h = dim("h", f.cfg.MaxHeight)
	return p
}

// Writer holds an image response back until it is complete.
type Writer struct {
	f      *Filter
	rw     http.ResponseWriter
	accept string
	get    bool
	p      params
	state  uint8
	status int
	ctype  string // "" until known
	buf    bytes.Buffer
}

const (
	stUndecided uint8 = iota
	stPass
	stBuffer
)

// Wrap returns the writer for a response to r; rawQuery holds the
// request's arguments (?w=&h=).
func (f *Filter) Wrap(rw http.ResponseWriter, r *http.Request, rawQuery string) *Writer {
	return &Writer{f: f, rw: rw, accept: strings.Join(r.Header["Accept"], ","), get: r.Method == http.MethodGet, p: f.params(rawQuery)}
}

// Header is the response's header.
func (w *Writer) Header() http.Header { return w.rw.Header() }

// Unwrap gives http.ResponseController the underlying writer.
func (w *Writer) Unwrap() http.ResponseWriter { return w.rw }

func imageType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// WriteHeader decides whether the body is held for re-encoding.
func (w *Writer) WriteHeader(code int) {
	if w.state != stUndecided {
		return
	}
	if code < 200 {
		w.rw.WriteHeader(code)
		return
	}
	w.status = code
	h := w.rw.Header()
	ct := imageType(h.Get("Content-Type"))
	typeOK := ct == "image/jpeg" || ct == "image/png" || ct == "" || ct == "application/octet-stream"
	cl := int64(-1)
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			cl = n
		}
	}
	if code != http.StatusOK || !w.get || !typeOK || h.Get("Content-Encoding") != "" || noTransform(h["Cache-Control"]) ||
		(cl >= 0 && (cl < w.f.cfg.MinSize || cl > w.f.cfg.MaxSize)) || h.Get("Content-Range") != "" {
		w.pass()
		return
	}
	if ct == "image/jpeg" || ct == "image/png" {
		w.ctype = ct
	}
	w.state = stBuffer
	if cl > 0 {
		w.buf.Grow(int(cl))
	}
}

func (w *Writer) pass() {
	w.state = stPass
	w.rw.WriteHeader(w.status)
}

// Write holds the body, or passes it on once it exceeds MaxSize.
func (w *Writer) Write(b []byte) (int, error) {
	if w.state == stUndecided {
		w.WriteHeader(http.StatusOK)
	}
	if w.state != stBuffer {
		return w.rw.Write(b)
	}
	if int64(w.buf.Len()+len(b)) > w.f.cfg.MaxSize {
		w.pass()
		if _, err := w.rw.Write(w.buf.Bytes()); err != nil {
			return 0, err
		}
		w.buf = bytes.Buffer{}
		return w.rw.Write(b)
	}
	return w.buf.Write(b)
}

// Flush passes flushes on, except while an image is held.
func (w *Writer) Flush() {
	if w.state == stPass {
		_ = http.NewResponseController(w.rw).Flush()
	}
}

// Close re-encodes a held image and sends the result or the original.
func (w *Writer) Close() error {
	if w.state != stBuffer {
		return nil
	}
	w.state = stPass
	orig := w.buf.Bytes()
	out, ctype, resized := w.transform(orig)
	h := w.rw.Header()
	if out == nil {
		w.f.stats.Untouched.Add(1)
		h.Set("Content-Length", strconv.Itoa(len(orig)))
		w.rw.WriteHeader(w.status)
		_, err := w.rw.Write(orig)
		return err
	}
	st := w.f.stats
	st.Recompressed.Add(1)
	st.BytesIn.Add(uint64(len(orig)))
	st.BytesOut.Add(uint64(len(out)))
	if resized {
		st.Resized.Add(1)
	} else {
		st.BytesSaved.Add(uint64(len(orig) - len(out)))
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(out)))
	h.Del("Accept-Ranges")
	weakETag(h)
	w.rw.WriteHeader(w.status)
	_, err := w.rw.Write(out)
	return err
}

// transform returns the body to send instead of orig, or nil.
func (w *Writer) transform(orig []byte) (out []byte, ctype string, resized bool) {
	if int64(len(orig)) < w.f.cfg.MinSize {
		return nil, "", false
	}
	sniffed := sniff(orig)
	if sniffed == "" || (w.ctype != "" && w.ctype != sniffed) {
		return nil, "", false
	}
	addVary(w.rw.Header(), "Accept")
	if !accepts(w.accept, sniffed) {
		return nil, "", false
	}
	w.f.stats.Considered.Add(1)
	key := cacheKey{sum: sha256.Sum256(orig), p: w.p, q: w.f.cfg.JPEGQuality}
	if e, ok := w.f.cache.get(key); ok {
		w.f.stats.CacheHits.Add(1)
		if e.data == nil {
			return nil, "", false
		}
		return e.data, sniffed, e.resized
	}
	out, resized = w.encode(orig, sniffed)
	if out != nil && !resized && len(out) >= len(orig) {
		out = nil
	}
	w.f.cache.put(key, out, resized)
	return out, sniffed, resized
}

func (w *Writer) encode(orig []byte, ctype string) ([]byte, bool) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(orig))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, false
	}
	var img image.Image
	if ctype == "image/jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(orig))
	} else {
		img, err = png.Decode(bytes.NewReader(orig))
	}
	if err != nil {
		return nil, false
	}
	resized := false
	if nw, nh, ok := fit(cfg.Width, cfg.Height, w.p); ok {
		dst := image.NewRGBA(image.Rect(0, 0, nw, nh))
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
		img, resized = dst, true
	}
	var b bytes.Buffer
	b.Grow(len(orig) / 2)
	if ctype == "image/jpeg" {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: w.f.cfg.JPEGQuality})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img)
	}
	if err != nil {
		return nil, false
	}
	return b.Bytes(), resized
}

// fit is "image_filter resize": the largest size within the box that
// keeps the proportions, never larger than the image.
func fit(w, h int, p params) (nw, nh int, ok bool) {
	if p.w == 0 && p.h == 0 {
		return w, h, false
	}
	scale := 1.0
	if p.w > 0 && p.w < w {
		scale = float64(p.w) / float64(w)
	}
	if p.h > 0 && p.h < h {
		scale = min(scale, float64(p.h)/float64(h))
	}
	if scale >= 1 {
		return w, h, false
	}
	nw = max(1, int(float64(w)*scale+0.5))
	nh = max(1, int(float64(h)*scale+0.5))
	if p.w > 0 {
		nw = min(nw, p.w)
	}
	if p.h > 0 {
		nh = min(nh, p.h)
	}
	return nw, nh, true
}

// sniff names the format by its signature.
func sniff(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "image/jpeg"
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return "image/png"
	}
	return ""
}

// accepts reports whether an Accept value admits the media type: the
// type itself, "image/*" or "*/*" with q > 0; an empty Accept admits all.
func accepts(accept, mt string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	best := -1.0
	specificity := -1
	for _, item := range strings.Split(accept, ",") {
		fields := strings.Split(item, ";")
		r := strings.ToLower(strings.TrimSpace(fields[0]))
		spec := -1
		switch {
		case r == mt:
			spec = 2
		case r == "image/*":
			spec = 1
		case r == "*/*":
			spec = 0
		}
		if spec < 0 {
			continue
		}
		q := 1.0
		for _, f := range fields[1:] {
			f = strings.TrimSpace(f)
			if len(f) > 2 && (f[0] == 'q' || f[0] == 'Q') && f[1] == '=' {
				v, err := strconv.ParseFloat(f[2:], 64)
				if err != nil {
					v = 0
				}
				q = v
			}
		}
		// The most specific range decides (RFC 9110 §12.5.1).
		if spec > specificity || (spec == specificity && q > best) {
			specificity, best = spec, q
		}
	}
	return best > 0
}

func noTransform(cc []string) bool {
	for _, v := range cc {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-transform") {
				return true
			}
		}
	}
	return false
}

func addVary(h http.Header, field string) {
	for _, v := range h["Vary"] {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, field) {
				return
			}
		}
	}
	h.Add("Vary", field)
}

// weakETag is ngx_http_weak_etag.
func weakETag(h http.Header) {
	v := h.Get("Etag")
	switch {
	case v == "":
	case len(v) > 2 && strings.HasPrefix(v, "W/"):
	case v[0] != '"':
		h.Del("Etag")
	default:
		h.Set("Etag", "W/"+v)
	}
}

// Cache is a byte-bounded LRU of re-encoded images. It is safe for
// concurrent use.
type Cache struct {
	max int64

	mu    sync.Mutex
	used  int64
	ll    *list.List
	items map[cacheKey]*list.Element
}

type cacheKey struct {
	sum [sha256.Size]byte
	p   params
	q   int
}

type cacheEntry struct {
	key     cacheKey
	data    []byte // nil: re-encoding does not pay
	resized bool
}

// entryOverhead approximates what an entry costs beyond its data.
const entryOverhead = 128

// NewCache returns a cache of at most maxBytes.
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, ll: list.New(), items: map[cacheKey]*list.Element{}}
}

func (c *Cache) get(k cacheKey) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*cacheEntry), true
}

func (c *Cache) put(k cacheKey, data []byte, resized bool) {
	cost := int64(len(data)) + entryOverhead
	if cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.ll.MoveToFront(el)
		return
	}
	for c.used+cost > c.max {
		el := c.ll.Back()
		e := el.Value.(*cacheEntry)
		c.ll.Remove(el)
		delete(c.items, e.key)
		c.used -= int64(len(e.data)) + entryOverhead
	}
	c.items[k] = c.ll.PushFront(&cacheEntry{key: k, data: data, resized: resized})
	c.used += cost
}

// Len and Bytes report the cache's size.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Bytes is the cache's accounted size.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
