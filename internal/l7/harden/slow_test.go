package harden

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// slowClient opens a connection, sends head (if any), then trickles drip,
// one byte every interval, until stop; it records when the server closed
// the connection and what it answered.
type slowClient struct {
	closedAt atomic.Int64 // ns since start; 0 = still open
	answer   atomic.Value // string: first bytes the server sent
}

func runSlow(t *testing.T, addr, head, drip string, interval time.Duration, start time.Time, stop <-chan struct{}, wg *sync.WaitGroup) *slowClient {
	t.Helper()
	sc := &slowClient{}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer c.Close()
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := c.Write([]byte{drip[i%len(drip)]}); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 512)
		var got []byte
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				sc.answer.Store(string(got))
				sc.closedAt.Store(int64(time.Since(start)))
				return
			}
		}
	}()
	return sc
}

// slowAttack holds n slow connections against addr for hold while a
// normal client keeps making requests; it returns how many slow
// connections were still open at the end, how many of them got a 408,
// and the benign client's result.
func slowAttack(t *testing.T, addr string, n int, head, drip string, interval, hold time.Duration) (open, got408 int, latest time.Duration, benignOK, benignFailed int) {
	t.Helper()
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	clients := make([]*slowClient, n)
	for i := range clients {
		clients[i] = runSlow(t, addr, head, drip, interval, start, stop, &wg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hold)
	defer cancel()
	for ctx.Err() == nil {
		st, err := get(ctx, addr, "/benign")
		switch {
		case ctx.Err() != nil:
		case err != nil || st != 200:
			benignFailed++
		default:
			benignOK++
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range clients {
		at := c.closedAt.Load()
		if at == 0 {
			open++
			continue
		}
		latest = max(latest, time.Duration(at))
		if a, _ := c.answer.Load().(string); strings.HasPrefix(a, "HTTP/1.1 408 ") {
			got408++
		}
	}
	close(stop)
	wg.Wait()
	return open, got408, latest, benignOK, benignFailed
}

// TestSlowloris (reliability.md T5): connections that send a header byte at
// a time are held by a default net/http server, and closed by the hardened
// stack within HeaderTimeout plus slack, while a normal client is served
// throughout.
func TestSlowloris(t *testing.T) {
	const n = 40
	const headerTimeout = 300 * time.Millisecond
	const slack = 700 * time.Millisecond
	be := newBackend(t)
	head := "GET /slowloris HTTP/1.1\r\nHost: fulcrum.test\r\n"
	drip := "X-Slow: 1\r\n"
	lim := config.HTTPLimits{HeaderTimeout: headerTimeout}
	for _, tc := range []struct {
		name     string
		addr     string
		hardened bool
		want408  bool
	}{
		{"plain", startPlain(t, proxyFor(be)), false, false},
		// net/http's ReadHeaderTimeout (ServerTimeouts) runs from the
		// start of the read and usually fires first: a silent close, as
		// nginx does on client_header_timeout.
		{"hardened", startHardened(t, proxyFor(be), lim, Options{}), true, false},
		// Listener alone, on a server without timeouts: the vetter's own
		// HeaderTimeout from the first byte, answered with 408.
		{"listener only", startWith(t, proxyFor(be), func(ln net.Listener) net.Listener { return Listener(ln, lim) }), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open, got408, latest, ok, failed := slowAttack(t, tc.addr, n, head, drip, 50*time.Millisecond, headerTimeout+slack)
			if ok == 0 || failed != 0 {
				t.Errorf("normal client: %d ok, %d failed", ok, failed)
			}
			if tc.hardened {
				if open != 0 {
					t.Errorf("%d of %d slowloris connections still open after %v", open, n, headerTimeout+slack)
				}
				if tc.want408 && got408 != n {
					t.Errorf("%d of %d got a 408", got408, n)
				}
				t.Logf("all closed by %v; %d got a 408", latest, got408)
				return
			}
			if open != n {
				t.Errorf("plain server closed %d slowloris connections; it has no header timeout", n-open)
			}
		})
	}
	if got := be.requests("/slowloris"); len(got) != 0 {
		t.Errorf("%d slowloris requests reached the backend", len(got))
	}
}

// TestSlowBody: bodies that stall (no byte for longer than BodyTimeout)
// or trickle (a byte just inside BodyTimeout, below the minimum rate) are
// cut with 408 by the hardened stack and held by the plain one.
func TestSlowBody(t *testing.T) {
	const n = 10
	const bodyTimeout = 300 * time.Millisecond
	be := newBackend(t)
	head := "POST /slowbody HTTP/1.1\r\nHost: fulcrum.test\r\nContent-Length: 100000\r\n\r\nx"
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{
		{"stall", time.Hour},
		{"trickle", 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, st := range []struct {
				name     string
				addr     string
				hardened bool
			}{
				{"plain", startPlain(t, proxyFor(be)), false},
				{"hardened", startHardened(t, proxyFor(be), config.HTTPLimits{BodyTimeout: bodyTimeout, MaxBodyBytes: -1}, Options{}), true},
			} {
				t.Run(st.name, func(t *testing.T) {
					open, got408, latest, ok, failed := slowAttack(t, st.addr, n, head, "y", tc.interval, bodyTimeout+700*time.Millisecond)
					if ok == 0 || failed != 0 {
						t.Errorf("normal client: %d ok, %d failed", ok, failed)
					}
					if !st.hardened {
						if open != n {
							t.Errorf("plain server closed %d slow bodies; it has no body timeout", n-open)
						}
						return
					}
					if open != 0 || got408 != n {
						t.Errorf("%d of %d slow bodies still open, %d got 408", open, n, got408)
					}
					t.Logf("all closed by %v", latest)
				})
			}
		})
	}
}
