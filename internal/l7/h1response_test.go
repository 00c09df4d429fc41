package l7

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// FuzzReadResponse: a response readResponse accepts, net/http's
// ReadResponse reads the same way: status, header fields, body, trailers
// and whether the connection closes.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 3\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		req, _ := http.NewRequest(method, "http://x/", nil)
		ours, err := readResponse(bufio.NewReader(bytes.NewReader(raw)), req, nil)
		if err != nil {
			return
		}
		ob, oerr := io.ReadAll(ours.Body)
		theirs, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), req)
		if err != nil {
			if ours.Header["Content-Length"] == nil || oerr != nil {
				return // both refuse in the end, or net/http is stricter up front
			}
			t.Fatalf("%q: readResponse accepted it, net/http: %v", raw, err)
		}
		tb, terr := io.ReadAll(theirs.Body)
		if (oerr == nil) != (terr == nil) {
			if oerr != nil {
				return // stricter on the body: fine
			}
			t.Fatalf("%q: body error: ours none, net/http %v", raw, terr)
		}
		if oerr != nil {
			return
		}
		if ours.StatusCode != theirs.StatusCode || !bytes.Equal(ob, tb) || ours.Close != theirs.Close ||
			headerString(ours.Header) != headerString(theirs.Header) || headerString(ours.Trailer) != headerString(theirs.Trailer) ||
			(ours.ContentLength != theirs.ContentLength && bodyAllowed(ours.StatusCode) && !head) {
			t.Fatalf("%q:\nours   %d cl %d close %v %q\n%s\ntrailer %v\nnet/http %d cl %d close %v %q\n%s\ntrailer %v", raw,
				ours.StatusCode, ours.ContentLength, ours.Close, ob, headerString(ours.Header), ours.Trailer,
				theirs.StatusCode, theirs.ContentLength, theirs.Close, tb, headerString(theirs.Header), theirs.Trailer)
		}
	})
}
