// Command backend is the benchmark's real server: a small HTTP/1.1 server
// that answers GET /SIZE (for example /0, /1k) with a fixed body of that
// many bytes, with keep-alive and pipelining. Every proxy in the benchmark
// talks to the same backends, so the backend's cost is the same for all.
//
// It is deliberately not net/http: the load generator and the backends
// share one CPU in the harness, and every cycle the backend saves goes to
// the load generator, so the proxy under test, not the client side, is
// what runs out of CPU first. The responses are built once at start.
//
//	backend -listen 127.0.0.1:9001 -sizes 0,1k
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to listen on (loopback only)")
	sizes := flag.String("sizes", "0,1k,16k", "comma-separated body sizes served at /SIZE")
	flag.Parse()
	srv, err := newServer(strings.Split(*sizes, ","))
	if err != nil {
		log.Fatalf("backend: %v", err)
	}
	ln, err := listenLoopback(*listen)
	if err != nil {
		log.Fatalf("backend: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); ln.Close() }()
	fmt.Printf("backend listening on %s\n", ln.Addr())
	if err := srv.serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Fatalf("backend: %v", err)
	}
}

// listenLoopback listens on addr, refusing any address that is not a
// loopback one: the benchmark never serves anything off the machine.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s: the benchmark backend only listens on a loopback address", addr)
	}
	return net.Listen("tcp", addr)
}

// server holds the prebuilt responses, by request path.
type server struct {
	keepAlive map[string][]byte // HTTP/1.1 response, connection kept
	closing   map[string][]byte // the same with "Connection: close"
	ka10      map[string][]byte // HTTP/1.0 keep-alive response
}

func newServer(sizes []string) (*server, error) {
	s := &server{keepAlive: map[string][]byte{}, closing: map[string][]byte{}, ka10: map[string][]byte{}}
	for _, name := range sizes {
		name = strings.TrimSpace(name)
		n, err := parseSize(name)
		if err != nil {
			return nil, err
		}
		body := strings.Repeat("x", n)
		path := "/" + name
		s.keepAlive[path] = response(200, "", body)
		s.closing[path] = response(200, "Connection: close\r\n", body)
		s.ka10[path] = response(200, "Connection: keep-alive\r\n", body)
	}
	return s, nil
}

func response(code int, extra, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s",
		code, statusText(code), len(body), extra, body)
	return []byte(b.String())
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	}
	return strconv.Itoa(code)
}

// serve accepts connections until ln is closed. Open connections are not
// waited for: the process exits with them, as a benchmark backend may.
func (s *server) serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go s.serveConn(c)
	}
}

// serveConn answers requests on c until the client closes or asks to.
// Responses to pipelined requests are flushed together once no further
// request is already buffered.
func (s *server) serveConn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	w := bufio.NewWriterSize(c, 8192)
	for {
		req, err := readRequest(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				code := 400
				switch {
				case errors.Is(err, errHeadTooLarge):
					code = 431
				case errors.Is(err, errChunked):
					code = 501
				}
				_, _ = w.Write(response(code, "Connection: close\r\n", err.Error()+"\n"))
				_ = w.Flush()
			}
			return
		}
		if req.contentLength > 0 {
			if _, err := io.CopyN(io.Discard, r, req.contentLength); err != nil {
				return
			}
		}
		resp, ok := s.pick(req)
		if _, err := w.Write(resp); err != nil {
			return
		}
		if req.close || !ok {
			_ = w.Flush()
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// pick returns the response for req; ok is false when the connection
// must close after it.
func (s *server) pick(req request) (resp []byte, ok bool) {
	if req.method != "GET" && req.method != "HEAD" {
		return response(405, "Connection: close\r\nAllow: GET, HEAD\r\n", ""), false
	}
	path := req.target
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	ka, found := s.keepAlive[path]
	if !found {
		return response(404, "Connection: close\r\n", "no such size\n"), false
	}
	switch {
	case req.close:
		resp = s.closing[path]
	case req.minor == 0:
		resp = s.ka10[path]
	default:
		resp = ka
	}
	if req.method == "HEAD" {
		resp = resp[:len(resp)-bodyLen(resp)]
	}
	return resp, true
}

// bodyLen is the length of the body of a prebuilt response.
func bodyLen(resp []byte) int {
	i := bytes.Index(resp, []byte("\r\n\r\n"))
	return len(resp) - i - 4
}
