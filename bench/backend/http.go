package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxHeaders bounds the header lines of one request; HAProxy's
// tune.http.maxhdr default (101) is of the same order.
const maxHeaders = 100

// errHeadTooLarge is returned when a request line or header line does not
// fit the connection's read buffer.
var errHeadTooLarge = errors.New("request head line too long")

// request is what the backend needs from an HTTP/1.x request head.
type request struct {
	method, target string
	// minor is the HTTP/1.x minor version: 0 or 1.
	minor int
	// close is true when the connection must close after the response
	// (RFC 9112 §9.3: "Connection: close", or HTTP/1.0 without
	// "Connection: keep-alive").
	close bool
	// keepAlive is true for an HTTP/1.0 request that asked for a
	// persistent connection, which the response then confirms.
	keepAlive bool
	// contentLength is the request body's length, 0 without a body.
	contentLength int64
}

// readRequest reads one request head from r. io.EOF means the client closed
// the connection between requests. A request with Transfer-Encoding is
// refused (errChunked): the benchmark's clients never send bodies that
// way, and a backend that guessed would desynchronise the connection.
func readRequest(r *bufio.Reader) (request, error) {
	var req request
	line, err := readLine(r)
	if err != nil {
		return req, err
	}
	// RFC 9112 §2.2: a server SHOULD ignore at least one empty line before
	// the request line.
	if len(line) == 0 {
		if line, err = readLine(r); err != nil {
			return req, err
		}
	}
	if err := req.parseRequestLine(line); err != nil {
		return req, err
	}
	sawConnClose, sawKeepAlive, sawLength := false, false, false
	for n := 0; ; n++ {
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return req, err
		}
		if len(line) == 0 {
			break
		}
		if n == maxHeaders {
			return req, fmt.Errorf("more than %d header lines", maxHeaders)
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return req, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.Trim(value, " \t")
		switch {
		case asciiEqualFold(name, "connection"):
			for tok := range bytes.SplitSeq(value, []byte{','}) {
				tok = bytes.Trim(tok, " \t")
				if asciiEqualFold(tok, "close") {
					sawConnClose = true
				} else if asciiEqualFold(tok, "keep-alive") {
					sawKeepAlive = true
				}
			}
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.ParseInt(string(value), 10, 64)
			// RFC 9112 §6.3: an invalid or conflicting Content-Length is
			// unrecoverable framing.
			if err != nil || n < 0 || (sawLength && n != req.contentLength) {
				return req, fmt.Errorf("bad content-length %q", value)
			}
			req.contentLength, sawLength = n, true
		case asciiEqualFold(name, "transfer-encoding"):
			return req, errChunked
		}
	}
	if req.minor == 0 {
		req.close = !sawKeepAlive || sawConnClose
		req.keepAlive = !req.close
	} else {
		req.close = sawConnClose
	}
	return req, nil
}

// errChunked refuses a request body sent with Transfer-Encoding.
var errChunked = errors.New("transfer-encoding is not supported")

// parseRequestLine reads "METHOD SP request-target SP HTTP/1.x"
// (RFC 9112 §3).
func (req *request) parseRequestLine(line []byte) error {
	method, rest, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 || hasCTL(method) || hasCTL(target) {
		return fmt.Errorf("malformed request line %q", line)
	}
	switch string(version) {
	case "HTTP/1.1":
		req.minor = 1
	case "HTTP/1.0":
		req.minor = 0
	default:
		return fmt.Errorf("unsupported version %q", version)
	}
	req.method, req.target = string(method), string(target)
	return nil
}

// hasCTL reports a control character or DEL, which neither a method
// (a token) nor a request-target may hold (RFC 9110 §5.6.2, RFC 3986).
func hasCTL(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c == 0x7f {
			return true
		}
	}
	return false
}

// readLine returns one line without its CRLF (or bare LF, which RFC 9112
// §2.2 lets a recipient accept). The slice is only valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errHeadTooLarge
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// asciiEqualFold compares b with the lower-case ASCII string s, ignoring
// case: header names and the connection options are case-insensitive.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// parseSize reads a body size as the benchmark names it in a path:
// "0", "512", "1k", "16k", "1m" (k = 1024 bytes).
func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case len(s) > 1 && (s[len(s)-1] == 'k' || s[len(s)-1] == 'K'):
		mult, s = 1<<10, s[:len(s)-1]
	case len(s) > 1 && (s[len(s)-1] == 'm' || s[len(s)-1] == 'M'):
		mult, s = 1<<20, s[:len(s)-1]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > (64<<20)/mult {
		return 0, fmt.Errorf("bad size %q: want a number of bytes up to 64m, with an optional k or m", s)
	}
	return n * mult, nil
}
