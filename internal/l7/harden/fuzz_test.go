package harden

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"slices"
	"testing"
)

// FuzzVet checks the request vetter against net/http's own parser
// (referenceEnds): it must never panic, never complete a request that
// net/http refuses or frames differently, never release bytes that let
// net/http complete a request it refused, and give the same verdict
// however the input is split.
func FuzzVet(f *testing.F) {
	for _, tc := range vetCases {
		f.Add([]byte(tc.in), uint8(0))
	}
	f.Add([]byte(h2Preface+"junk"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		lim := limits{maxHeaderBytes: 4096, maxHeaders: 20, maxBody: 1 << 16}
		ends, released, vd, rej := vetEnds(data, lim, nil)
		if released > len(data) {
			t.Fatalf("released %d of %d bytes", released, len(data))
		}
		if vd == vReject && (rej.status < 400 || rej.reason == "") {
			t.Fatalf("refusal without status or reason: %+v", rej)
		}
		if vd != vPassthrough {
			ref, _ := referenceEnds(data)
			if len(ref) < len(ends) || !slices.Equal(ref[:len(ends)], ends) {
				t.Fatalf("framing differs from net/http on %q: vetter %v, net/http %v", data, ends, ref)
			}
			if vd == vReject {
				if refReleased, _ := referenceEnds(data[:released]); len(refReleased) > len(ends) {
					t.Fatalf("released %d bytes of %q let net/http complete %d requests; vetter accepted %d", released, data, len(refReleased), len(ends))
				}
			}
		}
		pieces := []int{int(split%13) + 1, int(split/13) + 1}
		_, rel2, vd2, rej2 := vetEnds(data, lim, pieces)
		if vd2 != vd || rej2 != rej {
			t.Fatalf("split %v: verdict %d %+v; byte by byte %d %+v", pieces, vd2, rej2, vd, rej)
		}
		if vd != vPassthrough && rel2 != released {
			t.Fatalf("split %v: released %d; byte by byte %d", pieces, rel2, released)
		}
	})
}

// trackerEnds feeds a response stream byte by byte to the tracker, for
// requests that are all GETs, and reports where each final response ended.
func trackerEnds(data []byte) (ends []int, st respState) {
	var t tracker
	var q reqQueue
	for range 64 {
		q.push(0)
	}
	for i := range data {
		before := t.done
		t.scan(data[i:i+1], &q)
		if t.done != before {
			ends = append(ends, i+1)
		}
	}
	return ends, t.st
}

// referenceResponseEnds is where net/http's client (http.ReadResponse)
// finishes each final response to a GET.
func referenceResponseEnds(data []byte) []int {
	cr := &countingReader{r: bytes.NewReader(data)}
	br := bufio.NewReader(cr)
	req, _ := http.NewRequest("GET", "http://a/", nil)
	var ends []int
	for {
		res, err := http.ReadResponse(br, req)
		if err != nil {
			return ends
		}
		if res.StatusCode == 101 {
			return ends
		}
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			return ends
		}
		if res.StatusCode >= 200 {
			ends = append(ends, cr.n-br.Buffered())
		}
		if res.Close && res.ContentLength < 0 && !slices.Contains(res.TransferEncoding, "chunked") {
			return ends
		}
	}
}

// FuzzTracker checks the response tracker: no panic, and every response
// end it reports is where net/http's client ends that response too.
func FuzzTracker(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nok\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00",
		"HTTP/1.0 200 OK\r\n\r\nclose-delimited",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ends, _ := trackerEnds(data)
		ref := referenceResponseEnds(data)
		n := min(len(ends), len(ref))
		if !slices.Equal(ends[:n], ref[:n]) {
			t.Fatalf("tracker ends %v, net/http %v on %q", ends, ref, data)
		}
		if len(ends) > len(ref) {
			// The tracker may only run ahead where net/http gave up on a
			// malformed response, never on one it read completely.
			if bad := referenceResponseEnds(data[:ends[len(ref)]]); len(bad) > len(ref) {
				t.Fatalf("tracker ends %v, net/http %v on %q", ends, ref, data)
			}
		}
	})
}
