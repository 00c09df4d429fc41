package l7

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/wstest"
)

func page(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "<li>item %d: the quick brown fox jumps over the lazy dog</li>\n", i)
	}
	return b.Bytes()[:n]
}

func decodeAs(t *testing.T, enc string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	default:
		return body
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", enc, err)
	}
	return out
}

// compressionSetup: a backend with an HTML page (Content-Length, strong
// ETag), JSON, a body it gzipped itself, and an event stream; a location
// compressing with all three codecs.
func compressionSetup(t *testing.T) (*Proxy, *http.Client, []byte, chan struct{}) {
	html := page(50_000)
	var pre bytes.Buffer
	zw := gzip.NewWriter(&pre)
	_, _ = zw.Write(html)
	_ = zw.Close()
	next := make(chan struct{})
	be := newBackend(t, "one")
	be.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		h := w.Header()
		switch r.URL.Path {
		case "/page.html":
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Length", strconv.Itoa(len(html)))
			h.Set("ETag", `"v1"`)
			_, _ = w.Write(html)
		case "/data.json":
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(html)
		case "/pre":
			h.Set("Content-Type", "text/html")
			h.Set("Content-Encoding", "gzip")
			h.Set("Content-Length", strconv.Itoa(pre.Len()))
			_, _ = w.Write(pre.Bytes())
		case "/events":
			h.Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: event %d\n\n", i)
				http.NewResponseController(w).Flush()
				if i < 2 {
					select {
					case <-next:
					case <-time.After(5 * time.Second):
						return true
					}
				}
			}
		default:
			return false
		}
		return true
	})
	addr := freeAddr(t, "127.0.0.1")
	p := startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr,
		Compression: &config.Compression{Gzip: true, Zstd: true, Brotli: true, Types: []string{"application/json", "text/event-stream"}}}}))
	return p, client(addr), html, next
}

// TestCompressionThroughProxy: every codec decodes to what the upstream
// sent, with Vary, a weak ETag and no Content-Length.
func TestCompressionThroughProxy(t *testing.T) {
	p, hc, html, _ := compressionSetup(t)
	for _, enc := range []string{"gzip", "zstd", "br"} {
		for _, path := range []string{"/page.html", "/data.json"} {
			resp, body := get(t, hc, "GET", "http://x"+path, http.Header{"Accept-Encoding": {enc}}, "")
			if resp.Header.Get("Content-Encoding") != enc {
				t.Errorf("%s %s: Content-Encoding %q", enc, path, resp.Header.Get("Content-Encoding"))
				continue
			}
			if !bytes.Equal(decodeAs(t, enc, []byte(body)), html) {
				t.Errorf("%s %s: decoded body differs", enc, path)
			}
			if len(body) > len(html)/4 {
				t.Errorf("%s %s: %d bytes for %d", enc, path, len(body), len(html))
			}
			// The original length is gone; net/http may state the
			// compressed one when the whole body fits its buffer.
			if resp.Header.Get("Vary") != "Accept-Encoding" || (resp.ContentLength != -1 && resp.ContentLength != int64(len(body))) {
				t.Errorf("%s %s: Vary %q, length %d", enc, path, resp.Header.Get("Vary"), resp.ContentLength)
			}
			if path == "/page.html" && resp.Header.Get("Etag") != `W/"v1"` {
				t.Errorf("ETag %q, want W/\"v1\"", resp.Header.Get("Etag"))
			}
		}
	}
	// A client that accepts nothing gets the original with its length and
	// strong ETag, and still the Vary.
	resp, body := get(t, hc, "GET", "http://x/page.html", nil, "")
	if resp.Header.Get("Content-Encoding") != "" || body != string(html) || resp.ContentLength != int64(len(html)) ||
		resp.Header.Get("Etag") != `"v1"` || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("identity: CE %q len %d ETag %q Vary %q", resp.Header.Get("Content-Encoding"), resp.ContentLength, resp.Header.Get("Etag"), resp.Header.Get("Vary"))
	}
	st := p.Status().Compression
	if len(st) != 3 {
		t.Fatalf("compression status %+v", st)
	}
	for _, cs := range st {
		if cs.Responses != 2 || cs.BytesIn != 2*uint64(len(html)) || cs.BytesOut == 0 || cs.BytesOut > cs.BytesIn/4 {
			t.Errorf("%+v", cs)
		}
	}
}

// TestCompressionNegotiationThroughProxy: q-values choose the coding.
func TestCompressionNegotiationThroughProxy(t *testing.T) {
	_, hc, html, _ := compressionSetup(t)
	tests := []struct{ ae, want string }{
		{"gzip, deflate, br, zstd", "zstd"},
		{"gzip, deflate, br", "br"},
		{"br;q=0.5, gzip;q=0.9", "gzip"},
		{"zstd;q=0, *", "br"},
		{"*;q=0", ""},
		{"gzip;q=0.4, identity;q=0.5", ""},
		{"deflate", ""},
	}
	for _, tc := range tests {
		resp, body := get(t, hc, "GET", "http://x/page.html", http.Header{"Accept-Encoding": {tc.ae}}, "")
		if got := resp.Header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.ae, got, tc.want)
		}
		if !bytes.Equal(decodeAs(t, resp.Header.Get("Content-Encoding"), []byte(body)), html) {
			t.Errorf("%q: body differs", tc.ae)
		}
	}
}

// TestNoDoubleCompression: a body the upstream encoded passes as it is.
func TestNoDoubleCompression(t *testing.T) {
	_, hc, html, _ := compressionSetup(t)
	resp, body := get(t, hc, "GET", "http://x/pre", http.Header{"Accept-Encoding": {"gzip, br, zstd"}}, "")
	if ce := resp.Header.Values("Content-Encoding"); len(ce) != 1 || ce[0] != "gzip" {
		t.Fatalf("Content-Encoding %q", ce)
	}
	if !bytes.Equal(decodeAs(t, "gzip", []byte(body)), html) {
		t.Error("body is not the upstream's gzip")
	}
}

// TestCompressedEventStream: Server-Sent Events stay a stream when
// compressed: each event can be decoded before the upstream sends the
// next.
func TestCompressedEventStream(t *testing.T) {
	_, hc, _, next := compressionSetup(t)
	for _, enc := range []string{"gzip", "zstd", "br"} {
		t.Run(enc, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://x/events", nil)
			req.Header.Set("Accept-Encoding", enc)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Content-Encoding") != enc {
				t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
			}
			var r io.Reader
			switch enc {
			case "gzip":
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				r = zr
			case "zstd":
				zr, err := zstd.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				r = zr
			case "br":
				r = brotli.NewReader(resp.Body)
			}
			br := bufio.NewReader(r)
			for i := range 3 {
				line, err := br.ReadString('\n')
				if err != nil || line != fmt.Sprintf("data: event %d\n", i) {
					t.Fatalf("event %d: %q %v", i, line, err)
				}
				_, _ = br.ReadString('\n')
				if i < 2 {
					next <- struct{}{} // the upstream sends the next one only now
				}
			}
		})
	}
}

func jpegQ100(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n := uint8((x*7 + y*13) % 9)
			img.Set(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, 90 + n, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func pngLevel(t *testing.T, w, h int, level png.CompressionLevel, noise bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	seed := uint32(1)
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(x / 4), uint8(y / 4), 60, 255}
			if noise {
				seed = seed*1664525 + 1013904223
				c.B = uint8(seed >> 24)
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: level}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestImagesThroughProxy: a large JPEG or PNG comes back smaller, decodes,
// with the same or the requested dimensions; untouched for clients that
// do not accept it and when it would grow; the bytes saved are counted.
func TestImagesThroughProxy(t *testing.T) {
	files := map[string][]byte{
		"/img/photo.jpg": jpegQ100(t, 640, 480),
		"/img/raw.png":   pngLevel(t, 400, 300, png.NoCompression, false),
		// Noise at the best level: re-encoding cannot win.
		"/img/best.png": pngLevel(t, 400, 300, png.BestCompression, true),
	}
	types := map[string]string{"/img/photo.jpg": "image/jpeg", "/img/raw.png": "image/png", "/img/best.png": "image/png"}
	be := newBackend(t, "one")
	be.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		b, ok := files[r.URL.Path]
		if !ok {
			return false
		}
		w.Header().Set("Content-Type", types[r.URL.Path])
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
		return true
	})
	addr := freeAddr(t, "127.0.0.1")
	p := startProxy(t, oneServer(addr, []config.Location{{Match: "/img/", ProxyPass: "http://" + be.addr,
		ImageCompression: &config.ImageCompression{Resize: true, MaxWidth: 1000},
		Compression:      &config.Compression{Gzip: true, Types: []string{"*"}}}}))
	hc := client(addr)
	accept := http.Header{"Accept": {"image/avif,image/webp,image/*,*/*;q=0.8"}, "Accept-Encoding": {"gzip"}}
	if len(files["/img/best.png"]) < 10<<10 {
		t.Fatalf("best.png is below the minimum size: %d bytes", len(files["/img/best.png"]))
	}
	var saved, photoSaved uint64
	for _, path := range []string{"/img/photo.jpg", "/img/raw.png"} {
		resp, body := get(t, hc, "GET", "http://x"+path, accept, "")
		orig := files[path]
		if resp.StatusCode != 200 || len(body) >= len(orig) || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: %d, %d bytes of %d, CE %q", path, resp.StatusCode, len(body), len(orig), resp.Header.Get("Content-Encoding"))
			continue
		}
		cfg, format, err := image.DecodeConfig(strings.NewReader(body))
		if err != nil || cfg.Width != map[string]int{"/img/photo.jpg": 640, "/img/raw.png": 400}[path] || "image/"+format != types[path] {
			t.Errorf("%s: %+v %s %v", path, cfg, format, err)
		}
		if resp.ContentLength != int64(len(body)) || !strings.Contains(resp.Header.Get("Vary"), "Accept") {
			t.Errorf("%s: length %d, Vary %q", path, resp.ContentLength, resp.Header.Get("Vary"))
		}
		saved += uint64(len(orig) - len(body))
		if path == "/img/photo.jpg" {
			photoSaved = uint64(len(orig) - len(body))
		}
	}
	// Resized, never up (?w=2000 is only recompressed: it saves what
	// the plain request saved).
	saved += photoSaved
	for q, want := range map[string][2]int{"?w=160": {160, 120}, "?h=48&w=9999": {64, 48}, "?w=2000": {640, 480}} {
		_, body := get(t, hc, "GET", "http://x/img/photo.jpg"+q, accept, "")
		cfg, _, err := image.DecodeConfig(strings.NewReader(body))
		if err != nil || cfg.Width != want[0] || cfg.Height != want[1] {
			t.Errorf("%s: %dx%d %v, want %v", q, cfg.Width, cfg.Height, err, want)
		}
	}
	// Untouched: a client that does not accept images, and a PNG that
	// would not shrink.
	_, body := get(t, hc, "GET", "http://x/img/photo.jpg", http.Header{"Accept": {"text/html"}}, "")
	if body != string(files["/img/photo.jpg"]) {
		t.Error("JPEG changed for a client that does not accept it")
	}
	_, body = get(t, hc, "GET", "http://x/img/best.png", accept, "")
	if body != string(files["/img/best.png"]) {
		t.Error("a PNG that would grow was changed")
	}
	st := p.Status().Images
	if st.BytesSaved != saved || st.Recompressed != 5 || st.Resized != 2 || st.Untouched != 2 || st.Considered != 6 || st.CacheEntries != 6 {
		t.Errorf("image status %+v, saved %d", st, saved)
	}
}

// TestWebSocketThroughFilters: an upgrade passes the response filters
// (they unwrap to the connection for the hijack) and a limit_conn slot is
// held for as long as the tunnel lives, as nginx holds it for the
// request.
func TestWebSocketThroughFilters(t *testing.T) {
	wsb := newBackend(t, "ws1")
	wsb.setHandler(wstest.Echo("ws1"))
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/ws", ProxyPass: "http://" + wsb.addr,
		Compression:      &config.Compression{Gzip: true, Types: []string{"*"}},
		ImageCompression: &config.ImageCompression{},
		LimitConn:        []config.LimitConn{{Zone: "c", Conn: 1}}}})
	cfg.LimitConnZones = []config.LimitConnZone{{Name: "c", Key: "$binary_remote_addr"}}
	p := startProxy(t, cfg)
	ws := wsDial(t, addr, "/ws")
	if got, err := ws.Echo("hello"); err != nil || !strings.Contains(got, "hello") {
		t.Fatalf("echo %q %v", got, err)
	}
	if z := p.Status().LimitConnZones[0]; z.Entries != 1 {
		t.Errorf("limit_conn while the tunnel is open: %+v", z)
	}
	if _, err := wstest.Dial(addr.String(), "/ws"); err == nil {
		t.Error("a second tunnel from the same address passed limit_conn 1")
	}
	ws.Close()
	eventually(t, 2*time.Second, "the slot to be freed", func() bool { return p.Status().LimitConnZones[0].Entries == 0 })
}
