package imgopt

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// photo is a w×h picture with gradients and mild noise, like a photograph.
func photo(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(8))
			img.Set(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y)*127/(w+h)) + n, 255})
		}
	}
	return img
}

// BigJPEG encodes a photo at quality 100, which quality 75 beats.
func BigJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, photo(w, h), &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// PNGAt encodes a flat-ish picture at the given zlib level.
func PNGAt(t testing.TB, w, h int, level png.CompressionLevel) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x / 8), uint8(y / 8), 80, 255})
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: level}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func serve(t testing.TB, f *Filter, method, query string, reqHdr, hdr http.Header, body []byte) result {
	t.Helper()
	req := httptest.NewRequest(method, "/img?"+query, nil)
	for k, v := range reqHdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	w := f.Wrap(rec, req, query)
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(200)
	for b := body; len(b) > 0; {
		n := min(len(b), 32<<10)
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		b = b[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return result{rec.Code, rec.Result().Header, rec.Body.Bytes()}
}

func dims(t testing.TB, b []byte) (int, int, string) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("does not decode: %v", err)
	}
	return cfg.Width, cfg.Height, format
}

func TestRecompressJPEG(t *testing.T) {
	stats := new(Stats)
	f := New(config.ImageCompression{}, nil, stats)
	orig := BigJPEG(t, 640, 480)
	hdr := http.Header{"Content-Type": {"image/jpeg"}, "Content-Length": {strconv.Itoa(len(orig))}, "Etag": {`"v1"`}}
	r := serve(t, f, "GET", "", nil, hdr, orig)
	if len(r.body) >= len(orig) {
		t.Fatalf("%d bytes became %d", len(orig), len(r.body))
	}
	if w, h, format := dims(t, r.body); w != 640 || h != 480 || format != "jpeg" {
		t.Errorf("got %dx%d %s", w, h, format)
	}
	if r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) || r.header.Get("Etag") != `W/"v1"` || r.header.Get("Vary") != "Accept" {
		t.Errorf("headers %v", r.header)
	}
	if got, want := stats.BytesSaved.Load(), uint64(len(orig)-len(r.body)); got != want {
		t.Errorf("bytes saved %d, want %d", got, want)
	}
	// The second time comes from the cache, byte for byte.
	r2 := serve(t, f, "GET", "", nil, hdr.Clone(), orig)
	if !bytes.Equal(r2.body, r.body) || stats.CacheHits.Load() != 1 || f.Cache().Len() != 1 {
		t.Errorf("cache: hits %d len %d", stats.CacheHits.Load(), f.Cache().Len())
	}
}

// TestRecompressUntouched: what passes unchanged.
func TestRecompressUntouched(t *testing.T) {
	f := New(config.ImageCompression{Resize: true}, nil, nil)
	jpg := BigJPEG(t, 320, 240)
	best := PNGAt(t, 320, 240, png.BestCompression)
	jh := http.Header{"Content-Type": {"image/jpeg"}}
	tests := []struct {
		name   string
		method string
		req    http.Header
		hdr    http.Header
		body   []byte
	}{
		{"client accepts only PNG", "GET", http.Header{"Accept": {"image/png, image/*;q=0"}}, jh, jpg},
		{"client refuses images", "GET", http.Header{"Accept": {"text/html"}}, jh, jpg},
		{"would grow", "GET", nil, http.Header{"Content-Type": {"image/png"}}, best},
		{"HEAD", "HEAD", nil, jh, jpg},
		{"encoded", "GET", nil, http.Header{"Content-Type": {"image/jpeg"}, "Content-Encoding": {"gzip"}}, jpg},
		{"no-transform", "GET", nil, http.Header{"Content-Type": {"image/jpeg"}, "Cache-Control": {"no-transform"}}, jpg},
		{"too small", "GET", nil, jh, jpg[:5000]},
		{"type lies", "GET", nil, http.Header{"Content-Type": {"image/png"}}, jpg},
		{"not an image", "GET", nil, http.Header{"Content-Type": {"text/html"}}, bytes.Repeat([]byte("x"), 20000)},
		{"garbage", "GET", nil, http.Header{"Content-Type": {"image/jpeg"}}, append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte("x"), 20000)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := serve(t, f, tc.method, "", tc.req, tc.hdr.Clone(), tc.body)
			if !bytes.Equal(r.body, tc.body) {
				t.Errorf("body changed: %d -> %d bytes", len(tc.body), len(r.body))
			}
		})
	}
	// Larger than MaxSize: passed through as it streams.
	small := New(config.ImageCompression{MaxSize: 20000}, nil, nil)
	if r := serve(t, small, "GET", "", nil, jh.Clone(), jpg); !bytes.Equal(r.body, jpg) {
		t.Error("body above MaxSize changed")
	}
	// A JPEG without a type is recognised by its signature.
	if r := serve(t, f, "GET", "", nil, http.Header{}, jpg); len(r.body) >= len(jpg) || r.header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("untyped JPEG: %d bytes, type %q", len(r.body), r.header.Get("Content-Type"))
	}
}

func TestRecompressPNG(t *testing.T) {
	f := New(config.ImageCompression{}, nil, nil)
	orig := PNGAt(t, 400, 300, png.NoCompression)
	r := serve(t, f, "GET", "", nil, http.Header{"Content-Type": {"image/png"}}, orig)
	if len(r.body) >= len(orig)/2 {
		t.Fatalf("%d bytes became %d", len(orig), len(r.body))
	}
	want, _ := png.Decode(bytes.NewReader(orig))
	got, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	// Lossless: every pixel is the same.
	b := want.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r1, g1, b1, a1 := want.At(x, y).RGBA()
			r2, g2, b2, a2 := got.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				t.Fatalf("pixel %d,%d differs", x, y)
			}
		}
	}
}

// TestResize: "image_filter resize" semantics.
func TestResize(t *testing.T) {
	f := New(config.ImageCompression{Resize: true, MaxWidth: 400}, nil, nil)
	orig := BigJPEG(t, 640, 480)
	hdr := http.Header{"Content-Type": {"image/jpeg"}}
	tests := []struct {
		query string
		w, h  int
	}{
		{"w=320", 320, 240},
		{"h=120", 160, 120},
		{"w=320&h=60", 80, 60},
		{"w=5000", 400, 300}, // MaxWidth bounds the request
		{"h=4800", 640, 480}, // never upscaled
		{"w=abc", 640, 480},
	}
	for _, tc := range tests {
		r := serve(t, f, "GET", tc.query, nil, hdr.Clone(), orig)
		if w, h, _ := dims(t, r.body); w != tc.w || h != tc.h {
			t.Errorf("%s: %dx%d, want %dx%d", tc.query, w, h, tc.w, tc.h)
		}
	}
	// Without Resize, parameters are ignored.
	plain := New(config.ImageCompression{}, nil, nil)
	if w, h, _ := dims(t, serve(t, plain, "GET", "w=100", nil, hdr.Clone(), orig).body); w != 640 || h != 480 {
		t.Errorf("resized without Resize: %dx%d", w, h)
	}
}

func TestAccepts(t *testing.T) {
	tests := []struct {
		accept, mt string
		want       bool
	}{
		{"", "image/jpeg", true},
		{"*/*", "image/jpeg", true},
		{"image/*", "image/png", true},
		{"image/webp,image/*;q=0.8", "image/jpeg", true},
		{"image/png", "image/jpeg", false},
		{"image/*;q=0", "image/jpeg", false},
		{"image/jpeg;q=0, */*", "image/jpeg", false},
		{"text/html,*/*;q=0.1", "image/png", true},
	}
	for _, tc := range tests {
		if got := accepts(tc.accept, tc.mt); got != tc.want {
			t.Errorf("accepts(%q, %q) = %v", tc.accept, tc.mt, got)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	c := NewCache(3 * (1000 + entryOverhead))
	for i := range 5 {
		c.put(cacheKey{q: i}, make([]byte, 1000), false)
	}
	if c.Len() != 3 || c.Bytes() > 3*(1000+entryOverhead) {
		t.Fatalf("len %d bytes %d", c.Len(), c.Bytes())
	}
	if _, ok := c.get(cacheKey{q: 0}); ok {
		t.Error("oldest kept")
	}
	if _, ok := c.get(cacheKey{q: 4}); !ok {
		t.Error("newest dropped")
	}
}

func FuzzAccepts(f *testing.F) {
	for _, s := range []string{"", "*/*", "image/*;q=0", "image/jpeg;q=0.5, */*;q=0", ";;,q=", "IMAGE/JPEG"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		j, p := accepts(accept, "image/jpeg"), accepts(accept, "image/png")
		// A header that names neither type nor a wildcard admits nothing
		// unless it is blank.
		if strings.TrimSpace(accept) != "" && !strings.Contains(strings.ToLower(accept), "*") &&
			!strings.Contains(strings.ToLower(accept), "image/jpeg") && j {
			t.Errorf("%q admits image/jpeg", accept)
		}
		_ = p
	})
}

func FuzzParams(f *testing.F) {
	for _, s := range []string{"w=100", "w=-1&h=abc", "h=99999999999999999999", "w=1&w=2", "%zz"} {
		f.Add(s, 640, 480)
	}
	flt := New(config.ImageCompression{Resize: true, MaxWidth: 500, MaxHeight: 500}, nil, nil)
	f.Fuzz(func(t *testing.T, q string, w, h int) {
		if w <= 0 || h <= 0 || w > 1<<16 || h > 1<<16 {
			return
		}
		p := flt.params(q)
		if p.w < 0 || p.h < 0 || p.w > 500 || p.h > 500 {
			t.Fatalf("params %+v", p)
		}
		nw, nh, ok := fit(w, h, p)
		if ok && (nw > w || nh > h || nw < 1 || nh < 1 || (p.w > 0 && nw > p.w) || (p.h > 0 && nh > p.h)) {
			t.Errorf("fit(%d, %d, %+v) = %d, %d", w, h, p, nw, nh)
		}
	})
}
