package l7

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// h2cFront takes h2c upgrades on plain http2 listeners before the
// request guard sees them.
type h2cFront struct {
	inst *serverInst
	next http.Handler
}

func (h h2cFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil && isH2CUpgrade(r) && h.inst.serveH2CUpgrade(w, r) {
		return
	}
	h.next.ServeHTTP(w, r)
}

// isH2CUpgrade recognises an HTTP/1.1 request asking to switch to h2c
// (RFC 7540 §3.2): "Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings"
// and exactly one HTTP2-Settings header.
func isH2CUpgrade(r *http.Request) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	if !httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "h2c") {
		return false
	}
	return httpguts.HeaderValuesContainsToken(r.Header["Connection"], "Upgrade") &&
		len(r.Header["Http2-Settings"]) == 1
}

// serveH2CUpgrade switches the connection to HTTP/2 (net/http serves h2c
// with prior knowledge itself, but not the Upgrade form): the request body
// is read first, as RFC 7540 §3.2 requires it to be sent before the
// switch; then 101, and the request becomes stream 1 of an HTTP/2
// connection served by x/net/http2. It reports false when the request is
// to be handled as plain HTTP/1.1.
func (inst *serverInst) serveH2CUpgrade(w http.ResponseWriter, r *http.Request) bool {
	settings, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.Header.Get("Http2-Settings"), "="))
	if err != nil || len(settings)%6 != 0 {
		return false
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		limit := inst.key.limits.MaxBodyBytes
		rd := io.Reader(r.Body)
		if limit > 0 {
			rd = io.LimitReader(r.Body, limit+1)
		}
		body, err = io.ReadAll(rd)
		if err != nil || (limit > 0 && int64(len(body)) > limit) {
			return false
		}
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"); err != nil {
		_ = conn.Close()
		return true
	}
	if err := brw.Flush(); err != nil {
		_ = conn.Close()
		return true
	}
	// Stream 1 outlives this handler: detach it from the HTTP/1 request's
	// cancellation but keep its values (local address, connection).
	up := r.Clone(context.WithoutCancel(r.Context()))
	for _, h := range []string{"Upgrade", "Connection", "Http2-Settings"} {
		up.Header.Del(h)
	}
	up.Body = io.NopCloser(bytes.NewReader(body))
	up.ContentLength = int64(len(body))
	bc := &bufferedConn{Conn: conn, r: brw.Reader}
	go inst.h2s.ServeConn(bc, &http2.ServeConnOpts{
		Context:        context.WithoutCancel(r.Context()),
		BaseConfig:     inst.srv,
		Handler:        inst.handler,
		UpgradeRequest: up,
		Settings:       settings,
	})
	return true
}

// bufferedConn reads what the HTTP/1 reader already buffered (the client
// preface may be there) before the connection itself.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) {
	if c.r != nil && c.r.Buffered() > 0 {
		return c.r.Read(b)
	}
	return c.Conn.Read(b)
}
