package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Reloads under load drop nothing: clients keep sending HTTP requests (kept
// alive and fresh) and opening L4 connections while the config is
// reloaded again and again (reliability.md T3).
func TestReloadsUnderLoadDropNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	ip := "127.0.20.1"
	httpPort, l4Port := freePort(t, ip), freePort(t, ip)
	a := startHTTPBackend(t, "a", fmt.Sprintf("127.0.20.11:%d", freePort(t, "127.0.20.11")))
	b := startHTTPBackend(t, "b", fmt.Sprintf("127.0.20.12:%d", freePort(t, "127.0.20.12")))
	tb := tcpBackends(t, "20", "x")[0]
	conf := func(wa int) string {
		return fmt.Sprintf(`services:
  - protocol: tcp
    address: %s:%d
    scheduler: wrr
    reals: [{address: %s, weight: %d}]
http:
  servers:
    - listen: ["%s:%d"]
      locations: [{match: /, proxy_pass: "http://up"}]
  upstreams:
    - name: up
      servers: ["%s weight=%d", "%s"]
`, ip, l4Port, tb.addr, wa, ip, httpPort, a.addr, wa, b.addr)
	}
	n := start(t, conf(1))

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err)
	}
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half the clients keep connections alive, half open a new one per request.
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: i%2 == 0}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(fmt.Sprintf("http://%s:%d/", ip, httpPort))
				if err != nil {
					fail(err)
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					fail(fmt.Errorf("status %d, %v", resp.StatusCode, err))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if w, err := who(fmt.Sprintf("%s:%d", ip, l4Port), ""); err != nil || w != "x" {
				fail(fmt.Errorf("L4: %q %v", w, err))
				continue
			}
			ok.Add(1)
		}
	}()
	for i := range 12 {
		n.writeConfig(conf(1 + i%3))
		if out, errOut, code := n.fulcrum("", "reload"); code != 0 {
			t.Fatalf("reload %d: %d %s%s", i, code, out, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across 12 reloads; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	if ok.Load() < 100 {
		t.Fatalf("only %d requests completed; the load did not run", ok.Load())
	}
	t.Logf("%d requests and connections, 0 failed, across 12 reloads", ok.Load())
}
