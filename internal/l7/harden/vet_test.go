package harden

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// vetCase is one input to the vetter: want 0 means every request in it is
// accepted (requests complete requests), else the status of the refusal.
type vetCase struct {
	name     string
	in       string
	want     int
	requests int // complete requests accepted before the end or the refusal
	lim      *limits
}

func host(s string) string { return strings.Replace(s, "\n\n", "\nHost: a\n\n", 1) }

var vetCases = []vetCase{
	// Accepted, with net/http's framing (checked against referenceEnds).
	{name: "get", in: crlf("GET / HTTP/1.1\nHost: a\n\n"), requests: 1},
	{name: "pipelined", in: crlf("GET /1 HTTP/1.1\nHost: a\n\nGET /2 HTTP/1.1\nHost: a\n\nHEAD /3 HTTP/1.1\nHost: a\n\n"), requests: 3},
	{name: "content-length body", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\nhelloGET / HTTP/1.1\nHost: a\n\n"), requests: 2},
	{name: "content-length leading zeros", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 003\n\nabc"), requests: 1},
	{name: "chunked", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n"), requests: 1},
	{name: "chunked uppercase hex and ext", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: Chunked\n\nA;name=val;q=\"x\\\"y\"\n0123456789\n00\n\n"), requests: 1},
	{name: "chunked trailer", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n1\nx\n0\nX-Sum: 1\nX-Other: 2\n\nGET / HTTP/1.1\nHost: a\n\n"), requests: 2},
	{name: "http/1.0 without host", in: crlf("GET / HTTP/1.0\n\n"), requests: 1},
	{name: "http/1.2 is http/1.x", in: crlf("GET / HTTP/1.2\nHost: a\n\n"), requests: 1},
	{name: "options asterisk", in: crlf("OPTIONS * HTTP/1.1\nHost: a\n\n"), requests: 1},
	{name: "connect authority", in: crlf("CONNECT a.example:443 HTTP/1.1\nHost: a.example:443\n\n"), requests: 1},
	{name: "connect ipv6", in: crlf("CONNECT [2001:db8::1]:443 HTTP/1.1\nHost: [2001:db8::1]:443\n\n"), requests: 1},
	{name: "absolute form", in: crlf("GET http://a.example:8080/x?y=1 HTTP/1.1\nHost: a\n\n"), requests: 1},
	{name: "absolute form no path", in: crlf("GET https://a.example HTTP/1.1\nHost: a\n\n"), requests: 1},
	{name: "absolute ipv6", in: crlf("GET http://[::1]:8080/ HTTP/1.1\nHost: a\n\n"), requests: 1},
	{name: "query with percent and utf8", in: crlf("GET /caf\xc3\xa9?q=%zz&a=b HTTP/1.1\nHost: a\n\n"), requests: 1},
	{name: "crlf after post", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 1\n\nx\nGET / HTTP/1.1\nHost: a\n\n"), requests: 2},

	{name: "host with port and underscore", in: crlf("GET / HTTP/1.1\nHost: my_host.example.:8080\n\n"), requests: 1},
	{name: "obs-text and tab in value", in: crlf("GET / HTTP/1.1\nHost: a\nX: \xff\tb \n\n"), requests: 1},
	{name: "P that is not a preface", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 0\n\n"), requests: 1},

	// Framing (RFC 9112 §6).
	{name: "CL and TE", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 6\nTransfer-Encoding: chunked\n\n0\n\nG"), want: 400},
	{name: "TE and CL", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nContent-Length: 6\n\n0\n\nG"), want: 400},
	{name: "duplicate CL same value", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 3\nContent-Length: 3\n\nabc"), want: 400},
	{name: "duplicate CL different", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 3\nContent-Length: 4\n\nabcd"), want: 400},
	{name: "CL list", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 3, 3\n\nabc"), want: 400},
	{name: "CL plus", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: +3\n\nabc"), want: 400},
	{name: "CL empty", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length:\n\n"), want: 400},
	{name: "CL huge", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 99999999999999999999\n\n"), want: 400},
	{name: "space before colon", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length : 3\n\nabc"), want: 400},
	{name: "TE gzip", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip\n\n"), want: 400},
	{name: "TE xchunked", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: xchunked\n\n"), want: 400},
	{name: "TE chunked twice", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked, chunked\n\n"), want: 400},
	{name: "TE chunked not last", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked, gzip\n\n"), want: 400},
	{name: "TE gzip then chunked", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip, chunked\n\n"), want: 501},
	{name: "TE two lines", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked\n\n"), want: 400},
	{name: "TE gzip line then chunked line", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: gzip\nTransfer-Encoding: chunked\n\n"), want: 400},
	{name: "TE with parameter", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked;x=1\n\n"), want: 400},
	{name: "TE trailing comma", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked,\n\n"), want: 400},
	{name: "TE in HTTP/1.0", in: crlf("POST / HTTP/1.0\nTransfer-Encoding: chunked\n\n0\n\n"), want: 400},
	{name: "body over limit", in: crlf("POST / HTTP/1.1\nHost: a\nContent-Length: 1048577\n\n"), want: 413},
	{name: "chunked over limit", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n8\n12345678\n3\nabc"), want: 413, lim: &limits{maxHeaderBytes: 1024, maxHeaders: 10, maxBody: 10}},

	// Chunked syntax (RFC 9112 §7.1; CVE-2025-22871 for bare LF).
	{name: "chunk size not hex", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\nzz\n"), want: 400},
	{name: "chunk size negative", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n-1\n"), want: 400},
	{name: "chunk size 0x", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n0x1\nx\n0\n\n"), want: 400},
	{name: "chunk size leading space", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n 1\nx\n0\n\n"), want: 400},
	{name: "chunk size trailing space", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n1 \nx\n0\n\n"), want: 400},
	{name: "chunk size overflow", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n1ffffffffffffffff\n"), want: 400},
	{name: "chunk size bare LF", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n") + "1\nx\r\n0\r\n\r\n", want: 400},
	{name: "chunk ext bare LF", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n") + "1;a\nx\r\n0\r\n\r\n", want: 400},
	{name: "chunk ext bad", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n1;=x\nx\n0\n\n"), want: 400},
	{name: "chunk data without CRLF", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n1\nxy\n0\n\n"), want: 400},
	{name: "chunk data bare LF", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n") + "1\r\nx\n0\r\n\r\n", want: 400},
	{name: "chunk line too long", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n1;a=" + strings.Repeat("b", 2000) + "\nx\n0\n\n"), want: 400},
	{name: "chunk overhead", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n" + strings.Repeat("1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nx\n", 200)), want: 400},
	{name: "trailer too large", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n0\nX: " + strings.Repeat("a", 3000) + "\n\n"), want: 431},
	{name: "trailer obs-fold", in: crlf("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n0\nX: a\n b\n\n"), want: 400},

	// Field syntax (RFC 9112 §2.2, §5).
	{name: "obs-fold", in: crlf("GET / HTTP/1.1\nHost: a\nX: a\n b\n\n"), want: 400},
	{name: "space before first field", in: crlf("GET / HTTP/1.1\n Host: a\n\n"), want: 400},
	{name: "bare LF head", in: "GET / HTTP/1.1\nHost: a\n\n", want: 400},
	{name: "bare LF field", in: "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", want: 400},
	{name: "bare LF end", in: "GET / HTTP/1.1\r\nHost: a\r\n\n", want: 400},
	{name: "bare CR value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", want: 400},
	{name: "NUL value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", want: 400},
	{name: "DEL value", in: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", want: 400},
	{name: "empty name", in: crlf("GET / HTTP/1.1\nHost: a\n: b\n\n"), want: 400},
	{name: "bad name", in: crlf("GET / HTTP/1.1\nHost: a\nX(y): b\n\n"), want: 400},
	{name: "missing host", in: crlf("GET / HTTP/1.1\nX: a\n\n"), want: 400},
	{name: "duplicate host", in: crlf("GET / HTTP/1.1\nHost: a\nHost: b\n\n"), want: 400},
	{name: "empty host", in: crlf("GET / HTTP/1.1\nHost:\n\n"), want: 400},
	{name: "host slash", in: crlf("GET / HTTP/1.1\nHost: a/b\n\n"), want: 400},
	{name: "host double dot", in: crlf("GET / HTTP/1.1\nHost: a..b\n\n"), want: 400},
	{name: "host bad port", in: crlf("GET / HTTP/1.1\nHost: a:99999\n\n"), want: 400},
	{name: "host at", in: crlf("GET / HTTP/1.1\nHost: u@a\n\n"), want: 400},
	{name: "too many fields", in: "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", 100) + "\r\n", want: 431},
	{name: "head too large", in: "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("y", 33<<10) + "\r\n\r\n", want: 431},
	{name: "target too long", in: "GET /" + strings.Repeat("y", 33<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", want: 414},

	// Request line (RFC 9112 §3).
	{name: "NUL in target", in: crlf("GET /a\x00b HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "tab in target", in: crlf("GET /a\tb HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "two spaces", in: crlf("GET  / HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "space in target", in: crlf("GET /a b HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "fragment", in: crlf("GET /a#b HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "bad escape", in: crlf("GET /a%zz HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "truncated escape", in: crlf("GET /a%2 HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "http/0.9", in: crlf("GET /\n\n"), want: 400},
	{name: "http/2.0 on h1", in: crlf("GET / HTTP/2.0\nHost: a\n\n"), want: 505},
	{name: "lowercase version", in: crlf("GET / http/1.1\nHost: a\n\n"), want: 400},
	{name: "leading CRLF without post", in: crlf("\nGET / HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "bad method", in: crlf("G(T / HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "asterisk with GET", in: crlf("GET * HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "relative target", in: crlf("GET admin HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "ftp scheme", in: crlf("GET ftp://a/ HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "userinfo", in: crlf("GET http://u@a/ HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "empty authority", in: crlf("GET http:///x HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "connect without port", in: crlf("CONNECT a.example HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "connect origin form", in: crlf("CONNECT /x HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "ipv6 zone", in: crlf("GET http://[fe80::1%25eth0]/ HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "ipv4 in brackets", in: crlf("GET http://[1.2.3.4]/ HTTP/1.1\nHost: a\n\n"), want: 400},
	{name: "second request bad", in: crlf("GET /ok HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\nHost: a\nHost: b\n\n"), want: 400, requests: 1},
}

// TestVetTable checks each input fed byte by byte, in random pieces and
// whole: same verdict, and for accepted requests the same framing as
// net/http (referenceEnds). For refusals, what was released must not let
// net/http complete the refused request.
func TestVetTable(t *testing.T) {
	for _, tc := range vetCases {
		t.Run(tc.name, func(t *testing.T) {
			lim := defaultTestLimits
			if tc.lim != nil {
				lim = *tc.lim
			}
			data := []byte(tc.in)
			ends, released, vd, rej := vetEnds(data, lim, nil)
			if tc.want == 0 {
				if vd != vOK {
					t.Fatalf("refused with %d %s; want accepted", rej.status, rej.reason)
				}
				if released != len(data) {
					t.Fatalf("released %d of %d bytes", released, len(data))
				}
			} else {
				if vd != vReject || rej.status != tc.want {
					t.Fatalf("verdict %d status %d (%s); want refusal %d", vd, rej.status, rej.reason, tc.want)
				}
				if rej.reason == "" {
					t.Error("refusal without a reason")
				}
			}
			if len(ends) != tc.requests {
				t.Fatalf("completed %d requests %v; want %d", len(ends), ends, tc.requests)
			}
			ref, _ := referenceEnds(data)
			if len(ref) < len(ends) || !slices.Equal(ref[:len(ends)], ends) {
				t.Fatalf("framing differs from net/http: vetter %v, net/http %v", ends, ref)
			}
			if tc.want != 0 {
				if refReleased, _ := referenceEnds(data[:released]); len(refReleased) > len(ends) {
					t.Fatalf("released %d bytes let net/http complete %d requests; vetter accepted %d", released, len(refReleased), len(ends))
				}
			}
			// Splitting the input anywhere must not change the verdict.
			rng := rand.New(rand.NewPCG(uint64(len(data)), 7))
			for range 20 {
				split := []int{1 + rng.IntN(7), 1 + rng.IntN(300), 1 + rng.IntN(3)}
				_, rel2, vd2, rej2 := vetEnds(data, lim, split)
				if vd2 != vd || rej2 != rej || rel2 != released {
					t.Fatalf("split %v: verdict %d %+v released %d; byte by byte: %d %+v %d", split, vd2, rej2, rel2, vd, rej, released)
				}
			}
			_, rel3, vd3, rej3 := vetEnds(data, lim, []int{len(data)})
			if vd3 != vd || rej3 != rej || rel3 != released {
				t.Fatalf("whole: verdict %d %+v released %d; byte by byte: %d %+v %d", vd3, rej3, rel3, vd, rej, released)
			}
		})
	}
}

func TestVetH2Preface(t *testing.T) {
	data := []byte(h2Preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00")
	// vetEnds stops feeding at the verdict, so everything fed by then is
	// released: the preface byte by byte, the whole input at once.
	for split, want := range map[int]int{1: len(h2Preface), 4: len(h2Preface), len(data): len(data)} {
		_, released, vd, _ := vetEnds(data, defaultTestLimits, []int{split})
		if vd != vPassthrough || released != want {
			t.Fatalf("split %d: verdict %d released %d; want passthrough of %d bytes", split, vd, released, want)
		}
	}
	// A preface only after a first request is just a bad HTTP/1 request.
	data = []byte(crlf("GET / HTTP/1.1\nHost: a\n\n") + h2Preface)
	if _, _, vd, rej := vetEnds(data, defaultTestLimits, nil); vd != vReject || rej.status != 400 {
		t.Fatalf("late preface: verdict %d %+v; want 400 (PRI is no OPTIONS)", vd, rej)
	}
	// Diverging after "PRI * HTTP/2.0\r\n" is vetted as HTTP/1 from the start.
	data = []byte("PRI * HTTP/2.0\r\n\r\nXX")
	if _, _, vd, rej := vetEnds(data, defaultTestLimits, nil); vd != vReject || rej.status != 400 {
		t.Fatalf("broken preface: verdict %d %+v; want 400 (PRI is no OPTIONS)", vd, rej)
	}
}

func TestVetQueueFlags(t *testing.T) {
	var v vetter
	var q reqQueue
	v.init(defaultTestLimits, false)
	in := crlf("GET / HTTP/1.1\nHost: a\n\nHEAD / HTTP/1.1\nHost: a\n\nCONNECT a:1 HTTP/1.1\nHost: a:1\n\n")
	if _, vd := v.feed([]byte(in), &q); vd != vOK {
		t.Fatalf("verdict %d %+v", vd, v.rej)
	}
	var got []uint8
	for q.len() > 0 {
		f, _ := q.front()
		got = append(got, f)
		q.pop()
	}
	if want := []uint8{0, reqHEAD, reqCONNECT}; !slices.Equal(got, want) {
		t.Fatalf("queue %v; want %v", got, want)
	}
}
