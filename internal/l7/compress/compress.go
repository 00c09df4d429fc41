// Package compress compresses HTTP responses on the fly with gzip, zstd or
// brotli, negotiated by Accept-Encoding q-values, with the rules of
// nginx's gzip filter (src/http/modules/ngx_http_gzip_filter_module.c,
// ngx_http_gzip_header_filter; ngx_http_core_module.c, ngx_http_gzip_ok)
// and what RFC 9110/9111 require of a transforming proxy:
//
//   - only 200, 403 and 404 responses are compressed, never a HEAD
//     response, nor one already carrying a Content-Encoding, nor one whose
//     Content-Length is below the minimum length (default 20, nginx's
//     gzip_min_length); when the length is unknown, up to that many bytes
//     are held back to decide, unless the upstream flushes first;
//   - only listed types (text/html always, nginx's gzip_types) and never
//     already-compressed ones (image, audio, video, archives, fonts,
//     application/octet-stream; image/svg+xml is text and may be listed);
//   - never a response with "Cache-Control: no-transform" (RFC 9111
//     §5.2.2.6), nor for HTTP/1.0 clients (gzip_http_version 1.1);
//   - requests carrying Via come from another proxy: not compressed
//     unless Proxied is "any" (gzip_proxied off, nginx's default);
//   - a compressible response gets "Vary: Accept-Encoding" whether or not
//     this client's response is compressed; a compressed one loses
//     Content-Length and Accept-Ranges, and its strong ETag becomes weak
//     (ngx_http_weak_etag; an unquoted ETag is dropped);
//   - streaming works: Flush (net/http's ResponseController, as
//     httputil.ReverseProxy uses for Server-Sent Events and bodies of
//     unknown length) flushes the encoder first.
//
// Encoders and writers come from pools, so a steady stream of responses
// allocates (almost) nothing. klauspost's gzhttp was considered and not
// used: it has no brotli, keeps strong ETags and knows no Via rule.
package compress

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Defaults.
const (
	// DefaultMinLength is nginx's gzip_min_length.
	DefaultMinLength = 20
	// DefaultGzipLevel is nginx's gzip_comp_level.
	DefaultGzipLevel = 1
	// DefaultBrotliLevel is ngx_brotli's brotli_comp_level.
	DefaultBrotliLevel = 6
	// DefaultZstdLevel is zstd's own default.
	DefaultZstdLevel = 3
	// zstdWindow bounds an encoder's memory; web responses rarely need a
	// longer window.
	zstdWindow = 1 << 20
)

// Stats count what was compressed, per codec. It is safe for concurrent
// use and may be shared by many policies.
type Stats struct {
	c [numCodecs]codecStats
}

type codecStats struct {
	responses, in, out atomic.Uint64
}

// CodecStats are one codec's totals.
type CodecStats struct {
	Codec     string
	Responses uint64
	BytesIn   uint64 // uncompressed bytes taken
	BytesOut  uint64 // compressed bytes sent
}

// Snapshot returns the totals of gzip, zstd and brotli.
func (s *Stats) Snapshot() []CodecStats {
	out := make([]CodecStats, 0, numCodecs-1)
	for _, c := range []Codec{Gzip, Zstd, Brotli} {
		cs := &s.c[c]
		out = append(out, CodecStats{Codec: c.String(), Responses: cs.responses.Load(), BytesIn: cs.in.Load(), BytesOut: cs.out.Load()})
	}
	return out
}

// Pools holds encoders and writers for reuse across responses, policies
// and reloads. The zero value is ready to use.
type Pools struct {
	enc     [numCodecs][23]sync.Pool
	writers sync.Pool
	bufs    sync.Pool
}

type encoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(io.Writer)
}

type zstdEncoder struct{ *zstd.Encoder }

func (z zstdEncoder) Reset(w io.Writer) { z.Encoder.Reset(w) }

func (p *Pools) get(c Codec, level int, w io.Writer) (encoder, error) {
	if e, ok := p.enc[c][level].Get().(encoder); ok {
		e.Reset(w)
		return e, nil
	}
	switch c {
	case Gzip:
		return gzip.NewWriterLevel(w, level)
	case Zstd:
		e, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow), zstd.WithLowerEncoderMem(true))
		if err != nil {
			return nil, err
		}
		return zstdEncoder{e}, nil
	case Brotli:
		return brotli.NewWriterLevel(w, level), nil
	}
	return nil, fmt.Errorf("no encoder for %v", c)
}

func (p *Pools) put(c Codec, level int, e encoder) {
	e.Reset(io.Discard)
	p.enc[c][level].Put(e)
}

// Policy is a location's compression settings.
type Policy struct {
	offered    []Codec
	level      [numCodecs]int
	minLen     int64
	types      map[string]bool
	anyType    bool
	prefixes   []string // "text/*" entries, as "text/"
	proxiedAny bool
	pools      *Pools
	stats      *Stats
}

// New compiles a location's compression settings. pools and stats may be
// shared; nil ones are made.
func New(cfg config.Compression, pools *Pools, stats *Stats) (*Policy, error) {
	if pools == nil {
		pools = new(Pools)
	}
	if stats == nil {
		stats = new(Stats)
	}
	p := &Policy{pools: pools, stats: stats, minLen: int64(cfg.MinLength), types: map[string]bool{"text/html": true}}
	if cfg.MinLength < 0 {
		return nil, errors.New("compression: negative min_length")
	}
	if cfg.MinLength == 0 {
		p.minLen = DefaultMinLength
	}
	if cfg.Zstd {
		p.offered = append(p.offered, Zstd)
	}
	if cfg.Brotli {
		p.offered = append(p.offered, Brotli)
	}
	if cfg.Gzip {
		p.offered = append(p.offered, Gzip)
	}
	if len(p.offered) == 0 {
		return nil, errors.New("compression: no codec enabled (gzip, zstd, brotli)")
	}
	// Level is in each codec's own scale, clamped to it.
	lv := cfg.Level
	p.level[Gzip], p.level[Zstd], p.level[Brotli] = DefaultGzipLevel, DefaultZstdLevel, DefaultBrotliLevel
	if lv != 0 {
		p.level[Gzip] = min(max(lv, gzip.BestSpeed), gzip.BestCompression)
		p.level[Zstd] = min(max(lv, 1), 22)
		p.level[Brotli] = min(max(lv, 0), brotli.BestCompression)
	}
	switch strings.ToLower(cfg.Proxied) {
	case "", "off":
	case "any":
		p.proxiedAny = true
	default:
		return nil, fmt.Errorf("compression: proxied %q: only \"off\" and \"any\" are supported", cfg.Proxied)
	}
	for _, t := range cfg.Types {
		t = strings.ToLower(strings.TrimSpace(t))
		switch {
		case t == "*":
			p.anyType = true
		case strings.HasSuffix(t, "/*") && len(t) > 2:
			p.prefixes = append(p.prefixes, t[:len(t)-1])
		case strings.IndexByte(t, '/') > 0:
			p.types[t] = true
		default:
			return nil, fmt.Errorf("compression: invalid type %q", t)
		}
	}
	return p, nil
}

// Codecs are the codings the policy offers, in preference order.
func (p *Policy) Codecs() []Codec { return p.offered }

// mediaType is the lower-cased type/subtype of a Content-Type value.
func mediaType(ct string) string {
	if i := indexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = trimOWS(ct)
	for i := 0; i < len(ct); i++ {
		if 'A' <= ct[i] && ct[i] <= 'Z' {
			return strings.ToLower(ct)
		}
	}
	return ct
}

// Incompressible reports types that are compressed already (or are
// opaque bytes): they are never compressed, whatever Types says.
func Incompressible(mt string) bool {
	switch {
	case mt == "image/svg+xml":
		return false
	case strings.HasPrefix(mt, "image/"), strings.HasPrefix(mt, "video/"), strings.HasPrefix(mt, "audio/"):
		return true
	case strings.HasPrefix(mt, "font/woff"):
		return true
	}
	switch mt {
	case "application/octet-stream", "application/zip", "application/gzip", "application/x-gzip",
		"application/zstd", "application/x-zstd", "application/x-bzip2", "application/x-xz",
		"application/x-7z-compressed", "application/x-rar-compressed", "application/vnd.rar",
		"application/x-brotli", "application/pdf", "application/x-compress":
		return true
	}
	return false
}

// typeOK is ngx_http_test_content_type against the policy's types.
func (p *Policy) typeOK(ct string) bool {
	mt := mediaType(ct)
	if mt == "" || Incompressible(mt) {
		return false
	}
	if p.anyType || p.types[mt] {
		return true
	}
	for _, pre := range p.prefixes {
		if strings.HasPrefix(mt, pre) {
			return true
		}
	}
	return false
}
