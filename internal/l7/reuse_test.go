package l7

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Header maps (headerPool) and the fast front's requests
// (fastRequestPool) are recycled: requests on one kept-alive connection,
// one after another and pipelined, and the responses to them must each
// carry their own fields only, on the direct path and through
// ReverseProxy.
func TestReusedHeadersDoNotLeak(t *testing.T) {
	for _, direct := range []bool{true, false} {
		t.Run(fmt.Sprint("direct=", direct), func(t *testing.T) { testReusedHeaders(t, direct) })
	}
}

func testReusedHeaders(t *testing.T, direct bool) {
	up := newRawUpstream(t, func(w io.Writer, r *http.Request, n int) bool {
		tag := r.Header.Get("X-Tag")
		_, _ = fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Resp-%s: %s\r\n", tag, tag)
		if tag == "1" {
			_, _ = io.WriteString(w, "Set-Cookie: only=1\r\n")
		}
		_, _ = io.WriteString(w, "\r\nok")
		return true
	})
	addr := freeAddr(t, "127.0.0.1")
	p := startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up"}},
		config.Upstream{Name: "up", Servers: servers(up.addr)}))
	p.noDirect.Store(!direct)
	req := func(tag string) string {
		s := "GET /t" + tag + " HTTP/1.1\r\nHost: h" + tag + ".example\r\nX-Tag: " + tag + "\r\nX-Only-" + tag + ": v\r\n"
		if tag == "1" {
			s += "Cookie: c=1\r\nAccept: */*\r\n"
		}
		return s + "\r\n"
	}
	check := func(resps []*http.Response, tags []string) {
		t.Helper()
		for i, resp := range resps {
			tag := tags[i]
			for k := range resp.Header {
				if strings.HasPrefix(k, "X-Resp-") && k != "X-Resp-"+tag {
					t.Errorf("response %s carries %s", tag, k)
				}
			}
			if resp.Header.Get("X-Resp-"+tag) != tag {
				t.Errorf("response %s lacks X-Resp-%s: %v", tag, tag, resp.Header)
			}
			if _, ok := resp.Header["Set-Cookie"]; ok != (tag == "1") {
				t.Errorf("response %s: Set-Cookie %v", tag, resp.Header["Set-Cookie"])
			}
		}
	}
	// One by one on a connection, then pipelined on another.
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	tags := []string{"1", "2", "3", "4"}
	var seq []*http.Response
	for _, tag := range tags {
		if _, err := io.WriteString(c, req(tag)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		seq = append(seq, resp)
	}
	check(seq, tags)
	ptags := []string{"5", "1", "6", "7", "8"}
	var raw strings.Builder
	for _, tag := range ptags {
		raw.WriteString(req(tag))
	}
	resps, _, _ := exchange(t, addr, raw.String(), len(ptags))
	check(resps, ptags)

	up.mu.Lock()
	defer up.mu.Unlock()
	for i, r := range up.reqs {
		tag := r.Header.Get("X-Tag")
		if r.URL.Path != "/t"+tag || r.Header.Get("X-Forwarded-Host") != "h"+tag+".example" {
			t.Errorf("upstream request %d: %s, X-Forwarded-Host %q with X-Tag %q", i+1, r.URL.Path, r.Header.Get("X-Forwarded-Host"), tag)
		}
		for k := range r.Header {
			if strings.HasPrefix(k, "X-Only-") && k != "X-Only-"+tag {
				t.Errorf("upstream request %s carries %s", tag, k)
			}
		}
		if _, ok := r.Header["Cookie"]; ok != (tag == "1") {
			t.Errorf("upstream request %s: Cookie %v", tag, r.Header["Cookie"])
		}
		if _, ok := r.Header["Accept"]; ok != (tag == "1") {
			t.Errorf("upstream request %s: Accept %v", tag, r.Header["Accept"])
		}
	}
}

// Request states are recycled (requestPool): concurrent clients, some
// leaving in the middle of a response, each get the answer to their own
// request, and the upstream sees each request as it was sent. Run with
// -race, this also catches a state used after it went back to the pool.
func TestRecycledRequestsStayApart(t *testing.T) {
	up := newRawUpstream(t, func(w io.Writer, r *http.Request, _ int) bool {
		tag := r.Header.Get("X-Tag")
		body := r.URL.Path + " " + tag + " " + r.Header.Get("X-Forwarded-For")
		_, _ = fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Echo: %s\r\n\r\n%s", len(body), tag, body)
		return true
	})
	addr := proxyTo(t, up.addr)
	const workers, each = 4, 25
	errs := make(chan error, workers)
	for g := range workers {
		go func() {
			errs <- func() error {
				c, err := net.Dial("tcp", addr.String())
				if err != nil {
					return err
				}
				defer func() { c.Close() }()
				br := bufio.NewReader(c)
				for i := range each {
					tag := fmt.Sprintf("%d-%d", g, i)
					raw := "GET /p/" + tag + " HTTP/1.1\r\nHost: h" + tag + ".example\r\nX-Tag: " + tag + "\r\n\r\n"
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := io.WriteString(c, raw); err != nil {
						return err
					}
					if i%7 == 3 {
						// Leave before the answer: the request ends as a 499
						// or an aborted write, on a new connection after.
						c.Close()
						if c, err = net.Dial("tcp", addr.String()); err != nil {
							return err
						}
						br = bufio.NewReader(c)
						continue
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						return err
					}
					b, _ := io.ReadAll(resp.Body)
					if want := "/p/" + tag + " " + tag + " 127.0.0.1"; string(b) != want || resp.Header.Get("X-Echo") != tag {
						return fmt.Errorf("request %s answered %q (X-Echo %q), want %q", tag, b, resp.Header.Get("X-Echo"), want)
					}
				}
				return nil
			}()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// The direct path builds every attempt's response in the same storage
// (h1Exchange): after a retry nothing of the first response remains.
func TestRetryResponseStorageReused(t *testing.T) {
	a := newRawUpstream(t, func(w io.Writer, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 503 Service Unavailable\r\nX-First: 1\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n4\r\nbusy\r\n0\r\nX-T: a\r\n\r\n")
		return true
	})
	b := newRawUpstream(t, func(w io.Writer, _ *http.Request, _ int) bool {
		_, _ = io.WriteString(w, "HTTP/1.1 200 OK\r\nX-Second: 2\r\nContent-Length: 6\r\n\r\nsecond")
		return true
	})
	addr := freeAddr(t, "127.0.0.1")
	startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://up", NextUpstream: []string{"error", "http_503"}}},
		config.Upstream{Name: "up", Servers: servers(a.addr, b.addr)}))
	for i := range 4 {
		resps, bodies, _ := exchange(t, addr, "GET /r HTTP/1.1\r\nHost: x\r\n\r\n", 1)
		resp := resps[0]
		if resp.StatusCode != 200 || bodies[0] != "second" || resp.Header.Get("X-Second") != "2" ||
			resp.Header.Get("X-First") != "" || len(resp.Trailer) != 0 || resp.ContentLength != 6 {
			t.Fatalf("request %d: %d %q %v trailer %v length %d", i+1, resp.StatusCode, bodies[0], resp.Header, resp.Trailer, resp.ContentLength)
		}
	}
}

// peerIP takes the address from RemoteAddr when it is written there as
// netip.Addr.String writes it, and is String's result in every case.
func TestPeerIPMatchesString(t *testing.T) {
	for _, ra := range []string{"127.0.0.1:40000", "10.1.2.3:1", "[::1]:80", "[::ffff:1.2.3.4]:80",
		"[fe80::1%eth0]:8080", "[2001:DB8::1]:443", "1.2.3.4", ":1234", "", "garbage", "1.2.3.4:"} {
		rq := &request{r: &http.Request{RemoteAddr: ra}, peer: parseAddrPort(ra)}
		if got, want := rq.peerIP(), rq.peer.Addr().Unmap().String(); got != want {
			t.Errorf("RemoteAddr %q: peerIP %q, want %q", ra, got, want)
		}
	}
}
