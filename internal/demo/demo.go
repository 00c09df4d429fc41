// Package demo runs Fulcrum's built-in demo backends: small servers that say
// who they are, so the embedded default config works with nothing else
// installed. TCP backends speak HTTP/1.1; UDP backends echo each datagram
// prefixed with their name.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Set is a group of running demo backends.
type Set struct {
	log     *slog.Logger
	mu      sync.Mutex
	running map[config.DemoBackend]*backend
}

type backend struct {
	stop func()
	done chan struct{}
}

// NewSet returns an empty set.
func NewSet(log *slog.Logger) *Set {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Set{log: log, running: map[config.DemoBackend]*backend{}}
}

// Apply makes the set run exactly bs: new backends start (all binds happen
// before anything stops, and a bind failure changes nothing), removed ones stop.
func (s *Set) Apply(bs []config.DemoBackend) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[config.DemoBackend]bool{}
	started := map[config.DemoBackend]*backend{}
	for _, b := range bs {
		want[b] = true
		if s.running[b] != nil || started[b] != nil {
			continue
		}
		r, err := start(b, s.log)
		if err != nil {
			for _, r := range started {
				r.close()
			}
			return fmt.Errorf("starting demo backend %s (%s %s): %w", b.Name, b.Protocol, b.Address, err)
		}
		started[b] = r
	}
	for b, r := range s.running {
		if !want[b] {
			r.close()
			delete(s.running, b)
		}
	}
	for b, r := range started {
		s.running[b] = r
	}
	return nil
}

// Close stops every backend.
func (s *Set) Close() {
	_ = s.Apply(nil)
}

func (b *backend) close() {
	b.stop()
	<-b.done
}

func start(b config.DemoBackend, log *slog.Logger) (*backend, error) {
	switch b.Protocol {
	case config.TCP:
		ln, err := net.Listen("tcp", b.Address.String())
		if err != nil {
			return nil, err
		}
		srv := &http.Server{
			Handler:           Handler(b.Name, b.Address.String()),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       30 * time.Second,
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("demo backend stopped", "name", b.Name, "err", err)
			}
		}()
		stop := func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if srv.Shutdown(ctx) != nil {
				srv.Close()
			}
		}
		return &backend{stop: stop, done: done}, nil
	case config.UDP:
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(b.Address))
		if err != nil {
			return nil, err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			serveEcho(pc, b.Name)
		}()
		return &backend{stop: func() { pc.Close() }, done: done}, nil
	}
	return nil, fmt.Errorf("unknown protocol %q", b.Protocol)
}

// Handler answers every request with the backend's name, its address and
// the client address it saw, one line of plain text.
func Handler(name, addr string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s: hello from %s, you are %s, you asked for %s\n", name, addr, r.RemoteAddr, r.URL.RequestURI())
	})
}

func serveEcho(pc *net.UDPConn, name string) {
	buf := make([]byte, 64<<10)
	prefix := []byte(name + ": ")
	out := make([]byte, 0, len(buf)+len(prefix))
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		out = append(append(out[:0], prefix...), buf[:n]...)
		_, _ = pc.WriteToUDPAddrPort(out, from)
	}
}
