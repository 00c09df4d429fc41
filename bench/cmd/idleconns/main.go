// Command idleconns opens N keep-alive HTTP/1.1 connections to a proxy,
// sends one request on each and reads its response, then keeps them all
// open and idle until it is told to stop (SIGTERM, SIGINT or -hold). The
// benchmark reads the proxy's RSS before and after to get the memory one
// idle client connection costs.
//
// When all connections are ready it prints "ready N" on stdout; failures
// are counted and printed too ("failed K: first error").
//
//	idleconns -addr 127.0.0.1:8080 -n 10000 -path /0
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "proxy address (loopback)")
	n := flag.Int("n", 10000, "connections to open")
	path := flag.String("path", "/0", "request path")
	parallel := flag.Int("parallel", 64, "connections opened at once")
	hold := flag.Duration("hold", 10*time.Minute, "how long to keep the connections at most")
	flag.Parse()

	if host, _, err := net.SplitHostPort(*addr); err != nil || !isLoopback(host) {
		fmt.Fprintf(os.Stderr, "idleconns: %s is not a loopback address\n", *addr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	conns, failed, firstErr := open(ctx, *addr, *path, *n, *parallel)
	fmt.Printf("ready %d\n", len(conns))
	if failed > 0 {
		fmt.Printf("failed %d: %v\n", failed, firstErr)
	}
	select {
	case <-ctx.Done():
	case <-time.After(*hold):
	}
	for _, c := range conns {
		c.Close()
	}
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// open dials n connections, parallel at a time, each doing one request.
func open(ctx context.Context, addr, path string, n, parallel int) (conns []net.Conn, failed int, firstErr error) {
	var mu sync.Mutex
	work := make(chan struct{})
	var wg sync.WaitGroup
	for range max(parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				c, err := oneRequest(ctx, addr, path)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	for range n {
		if ctx.Err() != nil {
			break
		}
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	return conns, failed, firstErr
}

// oneRequest connects, sends a GET and reads the whole response, leaving
// the connection open and idle.
func oneRequest(ctx context.Context, addr, path string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path); err != nil {
		c.Close()
		return nil, err
	}
	// The reader is dropped afterwards: only the socket stays.
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && (resp.StatusCode != 200 || resp.Close) {
		err = fmt.Errorf("status %d, close %v: not a kept-alive 200", resp.StatusCode, resp.Close)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
