package harden

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// browserGET is a typical browser request head (about 500 bytes).
var browserGET = crlf("GET /static/app.js?v=1234 HTTP/1.1\n" +
	"Host: www.example.com\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\n" +
	"Accept-Language: en-US,en;q=0.5\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\n" +
	"Referer: https://www.example.com/\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\n" +
	"Connection: keep-alive\n" +
	"Sec-Fetch-Dest: script\n" +
	"Sec-Fetch-Mode: no-cors\n" +
	"Sec-Fetch-Site: same-origin\n\n")

func benchFeed(b *testing.B, data []byte) {
	var v vetter
	var q reqQueue
	v.init(defaultTestLimits, false)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, vd := v.feed(data, &q); vd != vOK {
			b.Fatalf("refused: %+v", v.rej)
		}
		for q.len() > 0 {
			q.pop()
		}
	}
}

// BenchmarkVet measures the state machine alone: ns per request head and
// allocations (none expected).
func BenchmarkVet(b *testing.B) {
	b.Run("browser GET", func(b *testing.B) { benchFeed(b, []byte(browserGET)) })
	b.Run("10 pipelined GETs", func(b *testing.B) { benchFeed(b, []byte(strings.Repeat(browserGET, 10))) })
	chunked := crlf("POST /upload HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n") +
		strings.Repeat("4000\r\n"+strings.Repeat("x", 0x4000)+"\r\n", 4) + "0\r\n\r\n"
	b.Run("64KiB chunked POST", func(b *testing.B) { benchFeed(b, []byte(chunked)) })
}

// loopConn replays one request forever and swallows writes: a net.Conn
// with no I/O cost, to measure what the wrapper adds.
type loopConn struct {
	req []byte
	off int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := copy(p, c.req[c.off:])
	c.off = (c.off + n) % len(c.req)
	return n, nil
}
func (c *loopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *loopConn) Close() error                     { return nil }
func (c *loopConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *loopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *loopConn) SetDeadline(time.Time) error      { return nil }
func (c *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (c *loopConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkConnRequest: one request read and one response written through
// a bare conn and through Conn, as net/http would (4 KiB reads).
func BenchmarkConnRequest(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
	for _, vetted := range []bool{false, true} {
		name := "bare"
		if vetted {
			name = "vetted"
		}
		b.Run(name, func(b *testing.B) {
			var c net.Conn = &loopConn{req: []byte(browserGET)}
			if vetted {
				c = Conn(c, config.HTTPLimits{})
			}
			buf := make([]byte, len(browserGET))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Write(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServer: keep-alive GETs over loopback to an http.Server, plain
// and with Listener+Handler+ServerTimeouts, to put the cost in context.
func BenchmarkServer(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	for _, hardened := range []bool{false, true} {
		name := "plain"
		if hardened {
			name = "hardened"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: h, ErrorLog: quietLog()}
			var l net.Listener = ln
			if hardened {
				srv.Handler = Handler(h, Options{MaxRequestsPerConn: -1})
				ServerTimeouts(srv, config.HTTPLimits{})
				l = Listener(ln, config.HTTPLimits{})
			}
			go func() { _ = srv.Serve(l) }()
			defer srv.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			buf := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				// The response is small and arrives in one read.
				if n, err := c.Read(buf); err != nil || n == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}
