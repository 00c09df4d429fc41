package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

func TestReadRequest_RFC9112(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   request
		errIs  error
		errSub string
	}{
		{name: "1.1 keep-alive by default (RFC 9112 §9.3)",
			in:   "GET /1k HTTP/1.1\r\nHost: x\r\n\r\n",
			want: request{method: "GET", target: "/1k", minor: 1}},
		{name: "1.1 Connection: close",
			in:   "GET /0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			want: request{method: "GET", target: "/0", minor: 1, close: true}},
		{name: "connection options are a case-insensitive list",
			in:   "GET /0 HTTP/1.1\r\nCONNECTION: Upgrade, CLOSE\r\n\r\n",
			want: request{method: "GET", target: "/0", minor: 1, close: true}},
		{name: "1.0 closes by default",
			in:   "GET /0 HTTP/1.0\r\n\r\n",
			want: request{method: "GET", target: "/0", close: true}},
		{name: "1.0 keep-alive on request",
			in:   "GET /0 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			want: request{method: "GET", target: "/0", keepAlive: true}},
		{name: "bare LF line ends (RFC 9112 §2.2)",
			in:   "GET /0 HTTP/1.1\nHost: x\n\n",
			want: request{method: "GET", target: "/0", minor: 1}},
		{name: "one leading empty line is ignored (RFC 9112 §2.2)",
			in:   "\r\nGET /0 HTTP/1.1\r\n\r\n",
			want: request{method: "GET", target: "/0", minor: 1}},
		{name: "content-length with blanks",
			in:   "POST /0 HTTP/1.1\r\nContent-Length:  5 \r\n\r\nhello",
			want: request{method: "POST", target: "/0", minor: 1, contentLength: 5}},
		{name: "equal repeated content-length",
			in:   "POST /0 HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
			want: request{method: "POST", target: "/0", minor: 1, contentLength: 5}},
		{name: "conflicting content-length (RFC 9112 §6.3)",
			in: "POST /0 HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", errSub: "content-length"},
		{name: "negative content-length",
			in: "POST /0 HTTP/1.1\r\nContent-Length: -1\r\n\r\n", errSub: "content-length"},
		{name: "transfer-encoding refused",
			in: "POST /0 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", errIs: errChunked},
		{name: "HTTP/2 preface is not HTTP/1.x",
			in: "PRI * HTTP/2.0\r\n\r\n", errSub: "version"},
		{name: "request line without target",
			in: "GET HTTP/1.1\r\n\r\n", errSub: "request line"},
		{name: "space before the colon (RFC 9112 §5.1)",
			in: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", errSub: "header"},
		{name: "head cut short",
			in: "GET / HTTP/1.1\r\nHost: x\r\n", errIs: io.ErrUnexpectedEOF},
		{name: "closed between requests", in: "", errIs: io.EOF},
		{name: "line longer than the buffer",
			in: "GET /" + strings.Repeat("a", 5000) + " HTTP/1.1\r\n\r\n", errIs: errHeadTooLarge},
		{name: "too many headers",
			in: "GET / HTTP/1.1\r\n" + strings.Repeat("A: b\r\n", maxHeaders+1) + "\r\n", errSub: "header lines"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readRequest(bufio.NewReaderSize(strings.NewReader(tc.in), 4096))
			switch {
			case tc.errIs != nil:
				if !errors.Is(err, tc.errIs) {
					t.Fatalf("err %v, want %v", err, tc.errIs)
				}
			case tc.errSub != "":
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.errSub)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "512", want: 512},
		{in: "1k", want: 1024},
		{in: "16K", want: 16384},
		{in: "1m", want: 1 << 20},
		{in: "64m", want: 64 << 20},
		{in: "65m", bad: true},
		{in: "k", bad: true},
		{in: "-1", bad: true},
		{in: "1g", bad: true},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func startServer(t *testing.T) string {
	t.Helper()
	s, err := newServer([]string{"0", "1k"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listenLoopback("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.serve(ln) }()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:0"} {
		if ln, err := listenLoopback(addr); err == nil {
			ln.Close()
			t.Errorf("listenLoopback(%q) accepted a non-loopback address", addr)
		}
	}
}

// A real HTTP client gets the sizes it asks for over one kept-alive
// connection, as the proxies under test do.
func TestServeKeepAliveWithNetHTTP(t *testing.T) {
	addr := startServer(t)
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	reused := 0
	for i, tc := range []struct {
		path string
		size int
		code int
	}{{"/1k", 1024, 200}, {"/0", 0, 200}, {"/1k?x=1", 1024, 200}} {
		req, _ := http.NewRequest("GET", "http://"+addr+tc.path, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) {
				if ci.Reused {
					reused++
				}
			},
		}))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || len(b) != tc.size || resp.ContentLength != int64(tc.size) {
			t.Fatalf("request %d %s: %d, %d bytes (Content-Length %d); want %d, %d bytes",
				i, tc.path, resp.StatusCode, len(b), resp.ContentLength, tc.code, tc.size)
		}
	}
	if reused != 2 {
		t.Fatalf("%d of 2 later requests reused the connection", reused)
	}
	resp, err := c.Get("http://" + addr + "/2k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unknown size: %d, want 404", resp.StatusCode)
	}
}

// Pipelined requests get their responses in order, and "Connection: close"
// ends the connection after its response.
func TestServePipelinedThenClose(t *testing.T) {
	addr := startServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = io.WriteString(c, "GET /0 HTTP/1.1\r\nHost: a\r\n\r\n"+
		"HEAD /1k HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /1k HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"+
		"GET /0 HTTP/1.1\r\nHost: a\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(c) // ends when the server closes
	if err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n" +
		strings.Repeat("x", 1024)
	if string(all) != want {
		t.Fatalf("got\n%q\nwant\n%q", all, want)
	}
}

func TestServeHTTP10(t *testing.T) {
	addr := startServer(t)
	for _, tc := range []struct {
		req, wantConn string
		closes        bool
	}{
		{"GET /0 HTTP/1.0\r\n\r\n", "Connection: close", true},
		{"GET /0 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "Connection: keep-alive", false},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.WriteString(c, tc.req)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// net/http moves "Connection: close" into resp.Close.
		if got := "Connection: " + resp.Header.Get("Connection"); resp.Close != tc.closes || (!tc.closes && got != tc.wantConn) {
			t.Errorf("%q: %s (close %v), want %s", tc.req, got, resp.Close, tc.wantConn)
		}
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = br.ReadByte()
		var ne net.Error
		timedOut := errors.As(err, &ne) && ne.Timeout()
		if tc.closes == timedOut {
			t.Errorf("%q: after the response, read gave %v; want closed=%v", tc.req, err, tc.closes)
		}
		c.Close()
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("GET /1k HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("GET /0 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /0 HTTP/1.1\r\n\r\n"))
	f.Add([]byte("POST /0 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("\nGET / HTTP/1.1\nTransfer-Encoding: chunked\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(in)), 256)
		for range 8 {
			req, err := readRequest(r)
			if err != nil {
				return
			}
			if req.method == "" || req.target == "" || strings.ContainsAny(req.method+req.target, " \r\n") {
				t.Fatalf("accepted a malformed request line: %+v", req)
			}
			if req.minor != 0 && req.minor != 1 {
				t.Fatalf("minor version %d", req.minor)
			}
			if req.contentLength < 0 || (req.keepAlive && req.close) {
				t.Fatalf("inconsistent request %+v", req)
			}
			if _, err := io.CopyN(io.Discard, r, req.contentLength); err != nil {
				return
			}
		}
	})
}
