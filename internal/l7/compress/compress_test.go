package compress

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// TestNegotiate: RFC 9110 §12.5.3 with the server preferring zstd, br,
// gzip on equal q.
func TestNegotiate(t *testing.T) {
	all := []Codec{Zstd, Brotli, Gzip}
	tests := []struct {
		ae      string
		offered []Codec
		want    Codec
	}{
		{"", all, Identity},
		{"gzip", all, Gzip},
		{"GZIP", all, Gzip},
		{"x-gzip", all, Gzip},
		{"gzip, deflate, br, zstd", all, Zstd},
		{"gzip, deflate, br", all, Brotli},
		{"gzip;q=1.0, br;q=0.8", all, Gzip},
		{"gzip;q=0.5, zstd;q=0.9, br;q=0.9", all, Zstd},
		{"br;q=0.9, zstd;q=0.9", []Codec{Brotli, Gzip}, Brotli},
		{"gzip;q=0", all, Identity},
		{"gzip; q=0.000", all, Identity},
		{"*", all, Zstd},
		{"*;q=0.5, gzip;q=0.8", all, Gzip},
		{"*;q=0.9, zstd;q=0", all, Brotli},
		{"*;q=0", all, Identity},
		{"identity", all, Identity},
		{"gzip;q=0.5, identity", all, Identity},
		{"gzip, identity;q=0.5", all, Gzip},
		{"deflate", all, Identity},
		{"gzip", []Codec{Zstd}, Identity},
		{"gzip;q=2", all, Identity},      // invalid qvalue refuses
		{"gzip;q=abc", all, Identity},    // ditto
		{"gzip;q=0.1234", all, Identity}, // more than 3 decimals
		{"gzip;level=1;q=0.3, br;q=0.2", all, Gzip},
		{" , gzip ;q=0.7 ,, br;q=0.6", all, Gzip},
		{"gzip;q=0, gzip;q=0.5", all, Gzip}, // the higher of repeated entries
	}
	for _, tc := range tests {
		if got := Negotiate(tc.ae, tc.offered); got != tc.want {
			t.Errorf("Negotiate(%q, %v) = %v, want %v", tc.ae, tc.offered, got, tc.want)
		}
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"gzip", "br;q=0.5,*", "*;q=0", "identity;q=1, zstd;q=0.999", ";;,,q="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ae string) {
		c := Negotiate(ae, []Codec{Zstd, Brotli, Gzip})
		if c >= numCodecs {
			t.Fatalf("codec %d", c)
		}
		// A coding the client did not mention, and no "*": never chosen.
		if c != Identity && !strings.Contains(ae, "*") && !strings.Contains(strings.ToLower(ae), c.String()) {
			t.Errorf("%q chose %v", ae, c)
		}
	})
}

func decodeBody(t testing.TB, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "":
		return b
	default:
		t.Fatalf("unknown encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", enc, err)
	}
	return out
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// run passes one response through a policy's writer.
func run(t testing.TB, p *Policy, req *http.Request, status int, hdr http.Header, body []byte) resp {
	t.Helper()
	rec := httptest.NewRecorder()
	w := p.Wrap(rec, req)
	defer w.Release()
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	for len(body) > 0 {
		n := min(len(body), 1000)
		if _, err := w.Write(body[:n]); err != nil {
			t.Fatal(err)
		}
		body = body[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return resp{rec.Code, rec.Result().Header, rec.Body.Bytes()}
}

func mustPolicy(t testing.TB, cfg config.Compression) *Policy {
	t.Helper()
	p, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func htmlBody(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "<p class=\"row\">line %d of a page that compresses well</p>\n", i)
	}
	return b.Bytes()[:n]
}

// TestCompressRoundTrip: what is sent decodes to the original, with the
// header edits of ngx_http_gzip_header_filter.
func TestCompressRoundTrip(t *testing.T) {
	p := mustPolicy(t, config.Compression{Gzip: true, Zstd: true, Brotli: true})
	body := htmlBody(100_000)
	for _, ae := range []string{"gzip", "zstd", "br"} {
		t.Run(ae, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept-Encoding", ae)
			hdr := http.Header{"Content-Type": {"text/html; charset=utf-8"}, "Content-Length": {fmt.Sprint(len(body))},
				"Etag": {`"abc"`}, "Accept-Ranges": {"bytes"}, "Vary": {"Cookie"}}
			r := run(t, p, req, 200, hdr, body)
			if got := r.header.Get("Content-Encoding"); got != ae {
				t.Fatalf("Content-Encoding %q", got)
			}
			if !bytes.Equal(decodeBody(t, ae, r.body), body) {
				t.Fatal("decoded body differs")
			}
			if len(r.body) >= len(body)/3 {
				t.Errorf("%d bytes compressed to %d", len(body), len(r.body))
			}
			if r.header.Get("Content-Length") != "" || r.header.Get("Accept-Ranges") != "" {
				t.Errorf("Content-Length %q Accept-Ranges %q kept", r.header.Get("Content-Length"), r.header.Get("Accept-Ranges"))
			}
			if got := r.header.Get("Etag"); got != `W/"abc"` {
				t.Errorf("ETag %q", got)
			}
			if got := r.header.Values("Vary"); fmt.Sprint(got) != "[Cookie Accept-Encoding]" {
				t.Errorf("Vary %q", got)
			}
		})
	}
	st := p.stats.Snapshot()
	for _, cs := range st {
		if cs.Responses != 1 || cs.BytesIn != uint64(len(body)) || cs.BytesOut == 0 || cs.BytesOut >= cs.BytesIn {
			t.Errorf("stats %+v", cs)
		}
	}
}

// TestCompressSkips: responses that are passed untouched, and whether
// they still get Vary (only compressible ones do, as gzip_vary is set
// before ngx_http_gzip_ok is asked).
func TestCompressSkips(t *testing.T) {
	p := mustPolicy(t, config.Compression{Gzip: true, Types: []string{"application/json", "image/png", "text/*"}})
	body := htmlBody(5000)
	html := http.Header{"Content-Type": {"text/html"}}
	tests := []struct {
		name   string
		method string
		proto  string
		reqHdr http.Header
		status int
		hdr    http.Header
		vary   bool
		enc    string
	}{
		{"compressed", "GET", "", nil, 200, html, true, "gzip"},
		{"403 compressed", "GET", "", nil, 403, html, true, "gzip"},
		{"404 compressed", "GET", "", nil, 404, html, true, "gzip"},
		{"listed type", "GET", "", nil, 200, http.Header{"Content-Type": {"application/json"}}, true, "gzip"},
		{"text/* prefix", "GET", "", nil, 200, http.Header{"Content-Type": {"text/css"}}, true, "gzip"},
		{"HEAD", "HEAD", "", nil, 200, html, false, ""},
		{"500", "GET", "", nil, 500, html, false, ""},
		{"206", "GET", "", nil, 206, http.Header{"Content-Type": {"text/html"}, "Content-Range": {"bytes 0-9/100"}}, false, ""},
		{"no-transform", "GET", "", nil, 200, http.Header{"Content-Type": {"text/html"}, "Cache-Control": {"public, No-Transform"}}, false, ""},
		{"already encoded", "GET", "", nil, 200, http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"gzip"}}, false, ""},
		{"image never", "GET", "", nil, 200, http.Header{"Content-Type": {"image/png"}}, false, ""},
		{"octet-stream never", "GET", "", nil, 200, http.Header{"Content-Type": {"application/octet-stream"}}, false, ""},
		{"unlisted type", "GET", "", nil, 200, http.Header{"Content-Type": {"application/xml"}}, false, ""},
		{"no type", "GET", "", nil, 200, http.Header{}, false, ""},
		{"short Content-Length", "GET", "", nil, 200, http.Header{"Content-Type": {"text/html"}, "Content-Length": {"19"}}, false, ""},
		{"client refuses", "GET", "", http.Header{"Accept-Encoding": {"gzip;q=0"}}, 200, html, true, ""},
		{"no Accept-Encoding", "GET", "", http.Header{"Accept-Encoding": nil}, 200, html, true, ""},
		{"Via: gzip_proxied off", "GET", "", http.Header{"Via": {"1.1 cache"}}, 200, html, true, ""},
		{"HTTP/1.0", "GET", "HTTP/1.0", nil, 200, html, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/", nil)
			if tc.proto != "" {
				req.Proto, req.ProtoMajor, req.ProtoMinor = tc.proto, 1, 0
			}
			req.Header.Set("Accept-Encoding", "gzip")
			for k, v := range tc.reqHdr {
				req.Header[k] = v
			}
			hdr := tc.hdr.Clone()
			b := body
			if cl := hdr.Get("Content-Length"); cl != "" {
				b = body[:19]
			}
			r := run(t, p, req, tc.status, hdr, b)
			if got := r.header.Get("Content-Encoding"); got != tc.enc && !(tc.name == "already encoded" && got == "gzip") {
				t.Errorf("Content-Encoding %q, want %q", got, tc.enc)
			}
			hasVary := strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Accept-Encoding")
			if hasVary != tc.vary {
				t.Errorf("Vary %q, want Accept-Encoding: %v", r.header.Values("Vary"), tc.vary)
			}
			if tc.enc == "" && tc.name != "already encoded" && !bytes.Equal(r.body, b) {
				t.Errorf("body changed")
			}
			if r.status != tc.status {
				t.Errorf("status %d", r.status)
			}
		})
	}
	// "any" compresses requests that came through another proxy.
	pa := mustPolicy(t, config.Compression{Gzip: true, Proxied: "any"})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("Via", "1.1 cache")
	if r := run(t, pa, req, 200, html.Clone(), body); r.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("proxied any: Content-Encoding %q", r.header.Get("Content-Encoding"))
	}
}

// TestCompressUnknownLength: without Content-Length, a body shorter than
// the minimum goes out as it is (with its length), a longer one is
// compressed.
func TestCompressUnknownLength(t *testing.T) {
	p := mustPolicy(t, config.Compression{Gzip: true, MinLength: 100})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	short := []byte("<p>short</p>")
	r := run(t, p, req, 200, http.Header{"Content-Type": {"text/html"}}, short)
	if r.header.Get("Content-Encoding") != "" || !bytes.Equal(r.body, short) || r.header.Get("Content-Length") != fmt.Sprint(len(short)) {
		t.Errorf("short body: %q %q %q", r.header.Get("Content-Encoding"), r.body, r.header.Get("Content-Length"))
	}
	long := htmlBody(5000)
	r = run(t, p, req, 200, http.Header{"Content-Type": {"text/html"}}, long)
	if r.header.Get("Content-Encoding") != "gzip" || !bytes.Equal(decodeBody(t, "gzip", r.body), long) {
		t.Errorf("long body not compressed")
	}
}

// TestCompressFlush: each Flush puts decodable bytes on the wire, so a
// stream (Server-Sent Events) is not held back.
func TestCompressFlush(t *testing.T) {
	p := mustPolicy(t, config.Compression{Gzip: true, Zstd: true, Brotli: true, Types: []string{"text/event-stream"}})
	for _, ae := range []string{"gzip", "zstd", "br"} {
		t.Run(ae, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept-Encoding", ae)
			rec := httptest.NewRecorder()
			w := p.Wrap(rec, req)
			defer w.Release()
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			var sent []byte
			for i := range 3 {
				ev := fmt.Appendf(nil, "data: event %d\n\n", i)
				sent = append(sent, ev...)
				_, _ = w.Write(ev)
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Fatal(err)
				}
				if !rec.Flushed {
					t.Fatal("not flushed through")
				}
				// What is on the wire so far decodes to every event sent.
				got := partialDecode(t, ae, rec.Body.Bytes())
				if !bytes.Equal(got, sent) {
					t.Fatalf("after event %d the client can read %q, want %q", i, got, sent)
				}
			}
			_ = w.Close()
		})
	}
}

// partialDecode reads what a stream decoder yields from an unfinished
// stream.
func partialDecode(t *testing.T, enc string, b []byte) []byte {
	var r io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out
		}
	}
}

func TestWeakETag(t *testing.T) {
	for in, want := range map[string]string{
		`"x"`: `W/"x"`, `W/"x"`: `W/"x"`, `x`: ``, `"`: `W/"`,
	} {
		h := http.Header{"Etag": {in}}
		weakETag(h)
		if got := h.Get("Etag"); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []config.Compression{
		{},
		{Gzip: true, Proxied: "expired"},
		{Gzip: true, Types: []string{"html"}},
		{Gzip: true, MinLength: -1},
	} {
		if _, err := New(cfg, nil, nil); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	p := mustPolicy(t, config.Compression{Gzip: true, Zstd: true, Brotli: true, Level: 99})
	if p.level[Gzip] != 9 || p.level[Zstd] != 22 || p.level[Brotli] != 11 {
		t.Errorf("levels %v", p.level)
	}
}

// nopWriter is a ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(int)             {}
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkCompress: throughput and allocations per 64 KiB HTML response
// once the pools are warm.
func BenchmarkCompress(b *testing.B) {
	body := htmlBody(64 << 10)
	for _, ae := range []string{"gzip", "zstd", "br"} {
		b.Run(ae, func(b *testing.B) {
			p := mustPolicy(b, config.Compression{Gzip: true, Zstd: true, Brotli: true})
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept-Encoding", ae)
			rw := &nopWriter{h: http.Header{}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				clear(rw.h)
				rw.h["Content-Type"] = []string{"text/html"}
				w := p.Wrap(rw, req)
				w.WriteHeader(200)
				_, _ = w.Write(body)
				_ = w.Close()
				w.Release()
			}
		})
	}
}
