package harden

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The reference parser: what Go's own HTTP/1 server makes of a byte
// stream, request by request (net/http server.go conn.readRequest on top of
// http.ReadRequest, then the body read to its end). The vetter must never
// accept a request this rejects, and must frame every request it accepts
// the same way.

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// referenceEnds returns the offsets at which net/http would finish each
// complete request of data, up to the first one it refuses (or the end).
func referenceEnds(data []byte) (ends []int, err error) {
	cr := &countingReader{r: bytes.NewReader(data)}
	// net/http reads requests through a 4 KiB bufio.Reader (server.go
	// newBufioReader); limits such as the trailer size depend on it.
	br := bufio.NewReaderSize(cr, 4096)
	lastPost := false
	for {
		if lastPost {
			// server.go readRequest: "tolerance for old buggy clients".
			peek, _ := br.Peek(4)
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			_, _ = br.Discard(n)
		}
		start := cr.n - br.Buffered()
		req, err := http.ReadRequest(br)
		if err != nil {
			return ends, err
		}
		// ReadRequest drops Host from the header map; net/http's server
		// checks it before that (server.go readRequest). The head is
		// exactly what ReadRequest consumed: reparse it for the Host lines.
		head := textproto.NewReader(bufio.NewReader(bytes.NewReader(data[start : cr.n-br.Buffered()])))
		if _, err := head.ReadLine(); err != nil {
			return ends, err
		}
		mh, err := head.ReadMIMEHeader()
		if err != nil {
			return ends, err
		}
		if hosts, ok := mh["Host"]; ok {
			req.Header["Host"] = hosts
		}
		if err := serverChecks(req); err != nil {
			return ends, err
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return ends, err
		}
		ends = append(ends, cr.n-br.Buffered())
		lastPost = req.Method == "POST"
	}
}

// serverChecks are the checks net/http's server adds to http.ReadRequest
// (server.go conn.readRequest, http1ServerSupportsRequest).
func serverChecks(req *http.Request) error {
	if req.ProtoMajor != 1 {
		return errors.New("unsupported protocol version")
	}
	hosts, haveHost := req.Header["Host"]
	if req.ProtoAtLeast(1, 1) && (!haveHost || len(hosts) == 0) && req.Method != "CONNECT" {
		return errors.New("missing required Host header")
	}
	if len(hosts) > 1 {
		return errors.New("too many Host headers")
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return errors.New("malformed Host header")
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return errors.New("invalid header name")
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return errors.New("invalid header value")
			}
		}
	}
	return nil
}

// vetEnds runs the vetter over data in pieces of the given sizes (cycled;
// nil: byte by byte) and reports where each complete request ended, how
// many bytes were released and how vetting ended.
func vetEnds(data []byte, lim limits, split []int) (ends []int, released int, vd verdict, rej rejection) {
	var v vetter
	var q reqQueue
	v.init(lim, true)
	off := 0
	for k := 0; off < len(data); k++ {
		size := 1
		if len(split) > 0 {
			size = max(1, split[k%len(split)])
		}
		chunk := data[off:min(len(data), off+size)]
		before := v.done
		n, d := v.feed(chunk, &q)
		if v.done != before && size == 1 {
			ends = append(ends, off+n)
		}
		released += n
		off += len(chunk)
		if d != vOK {
			return ends, released, d, v.rej
		}
	}
	return ends, released, vOK, rejection{}
}

// defaultTestLimits are the package defaults.
var defaultTestLimits = limits{
	maxHeaderBytes: DefaultMaxHeaderBytes,
	maxHeaders:     DefaultMaxHeaders,
	maxBody:        DefaultMaxBodyBytes,
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
