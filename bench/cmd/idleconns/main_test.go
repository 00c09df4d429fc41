package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// open leaves every connection open and idle after one full response, so
// the server holds n idle keep-alive connections.
func TestOpenKeepsIdleConnections(t *testing.T) {
	var idle, requests atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write([]byte(strings.Repeat("x", 100)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateIdle {
			idle.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	conns, failed, err := open(t.Context(), srv.Listener.Addr().String(), "/0", 50, 8)
	if failed != 0 || err != nil || len(conns) != 50 {
		t.Fatalf("%d connections, %d failed: %v", len(conns), failed, err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for idle.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if idle.Load() != 50 || requests.Load() != 50 {
		t.Fatalf("server: %d idle connections after %d requests, want 50 and 50", idle.Load(), requests.Load())
	}
}

// A response that is not a kept-alive 200 is a failure, not a connection.
func TestOpenCountsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(503)
	}))
	defer srv.Close()
	conns, failed, err := open(t.Context(), srv.Listener.Addr().String(), "/0", 5, 2)
	if len(conns) != 0 || failed != 5 || err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("%d connections, %d failed: %v", len(conns), failed, err)
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": true, "::1": true, "127.1.2.3": true, "0.0.0.0": false, "10.0.0.1": false, "localhost": false} {
		if isLoopback(host) != want {
			t.Errorf("isLoopback(%q) = %v", host, !want)
		}
	}
}
