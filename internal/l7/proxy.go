package l7

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httputil"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/health"
)

// Options configures a Proxy.
type Options struct {
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Health is passed to the active-check probers (script runner); the
	// weight is set per server.
	Health health.ProbeOptions
	// Now is the clock of balancing, persistence and logs; nil is
	// time.Now.
	Now func() time.Time
	// Stdout is where access_log "-" writes; nil is os.Stdout.
	Stdout io.Writer
	// DrainDelay is how long a draining server keeps answering with
	// "Connection: close" before its idle connections are closed (default
	// 1 s, reliability.md §0).
	DrainDelay time.Duration
	// DrainTimeout bounds the drain of a listener that a reload removed
	// or rebuilt (default 30 s); what is still active then is closed.
	DrainTimeout time.Duration
}

// Proxy is the L7 reverse proxy. Apply installs configurations; the
// listeners, upstream groups and counters that do not change survive.
type Proxy struct {
	opt Options
	log *slog.Logger
	now func() time.Time
	rp  *httputil.ReverseProxy

	mu        sync.Mutex // serialises Apply and Close
	closed    bool
	snap      atomic.Pointer[snapshot]
	listeners map[netip.AddrPort]*listener
	alog      atomic.Pointer[accessLog]
	drains    sync.WaitGroup
	hcCtx     context.Context
	hcCancel  context.CancelFunc

	connMu sync.Mutex
	conns  map[*trackedConn]struct{}
}

// New returns a proxy with no configuration.
func New(opt Options) *Proxy {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Stdout == nil {
		opt.Stdout = os.Stdout
	}
	if opt.DrainDelay <= 0 {
		opt.DrainDelay = time.Second
	}
	if opt.DrainTimeout <= 0 {
		opt.DrainTimeout = 30 * time.Second
	}
	p := &Proxy{
		opt:       opt,
		log:       opt.Logger,
		now:       opt.Now,
		listeners: map[netip.AddrPort]*listener{},
		conns:     map[*trackedConn]struct{}{},
	}
	p.hcCtx, p.hcCancel = context.WithCancel(context.Background())
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      roundTripper{},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.proxyError,
		BufferPool:     newBufferPool(),
		ErrorLog:       slog.NewLogLogger(opt.Logger.Handler(), slog.LevelDebug),
	}
	return p
}

// Apply installs h (nil removes everything) all or nothing: it compiles
// the configuration, loads certificates, builds changed upstream groups and
// opens new listening sockets first; any error leaves the running proxy
// untouched. Then it switches: listeners whose address is unchanged are
// kept (never closed, so a reload drops nothing, upgraded connections
// included), removed ones drain in the background, unchanged upstream
// groups keep their balancer, persistence, health and connection pools.
func (p *Proxy) Apply(ctx context.Context, h *config.HTTP) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("l7: proxy is closed")
	}
	if h == nil {
		h = &config.HTTP{}
	}
	old := p.snap.Load()
	snap, built, err := p.build(ctx, h, old)
	if err != nil {
		return fmt.Errorf("l7: %w", err)
	}
	discard := func() {
		for _, u := range built {
			u.closeIdle()
		}
	}
	// The access log is reopened only when its settings change.
	curLog := p.alog.Load()
	newLog := curLog
	var curCfg config.AccessLog
	if curLog != nil {
		curCfg = curLog.cfg
	}
	if h.AccessLog != curCfg {
		newLog, err = openAccessLog(h.AccessLog, p.opt.Stdout)
		if err != nil {
			discard()
			return fmt.Errorf("l7: %w", err)
		}
	}
	// Open the new sockets before touching anything.
	opened := map[netip.AddrPort]*listener{}
	for addr := range snap.listeners {
		if _, ok := p.listeners[addr]; ok {
			continue
		}
		ln, err := listenTCP(ctx, addr)
		if err != nil {
			for _, l := range opened {
				_ = l.ln.Close()
			}
			if newLog != curLog {
				newLog.close()
			}
			discard()
			return fmt.Errorf("l7: listen %s: %w", addr, err)
		}
		opened[addr] = &listener{p: p, addr: addr, ln: ln, acceptDone: make(chan struct{})}
	}

	// Commit: nothing below fails.
	for _, lc := range snap.listeners {
		lc.snap = snap
	}
	p.snap.Store(snap)
	if newLog != curLog {
		p.alog.Store(newLog)
		curLog.close()
	}
	trusted := make([]string, len(snap.trusted))
	for i, t := range snap.trusted {
		trusted[i] = t.String()
	}
	for addr, lc := range snap.listeners {
		key := instKey{opts: lc.opts, limits: snap.limits, guard: guardKey(lc, trusted)}
		if l, ok := opened[addr]; ok {
			l.conf.Store(lc)
			inst := l.newInst(key, lc)
			l.cur.Store(inst)
			go inst.serve()
			go l.acceptLoop()
			p.listeners[addr] = l
			continue
		}
		l := p.listeners[addr]
		l.conf.Store(lc)
		if cur := l.cur.Load(); cur.key != key {
			inst := l.newInst(key, lc)
			go inst.serve()
			l.cur.Store(inst)
			p.drain(cur)
		}
	}
	for addr, l := range p.listeners {
		if _, ok := snap.listeners[addr]; ok {
			continue
		}
		delete(p.listeners, addr)
		_ = l.ln.Close()
		p.drain(l.cur.Load())
	}
	for _, u := range built {
		u.start(p.hcCtx)
	}
	if old != nil {
		for k, u := range old.upstreams {
			if snap.upstreams[k] != u {
				u.retire()
			}
		}
	}
	return nil
}

// drain retires a server instance in the background.
func (p *Proxy) drain(inst *serverInst) {
	p.drains.Add(1)
	go func() {
		defer p.drains.Done()
		ctx, cancel := context.WithTimeout(context.Background(), p.opt.DrainTimeout)
		defer cancel()
		_ = inst.shutdown(ctx, p.opt.DrainDelay)
	}()
}

// Close stops the proxy gracefully: listeners stop accepting; for
// Options.DrainDelay responses carry "Connection: close"; then idle
// connections are closed and requests in flight awaited until ctx ends
// (HTTP/2 connections get GOAWAY); upgraded connections (WebSockets) are
// closed last. It returns ctx's error when it had to cut connections.
func (p *Proxy) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ls := make([]*listener, 0, len(p.listeners))
	for _, l := range p.listeners {
		ls = append(ls, l)
		_ = l.ln.Close()
	}
	p.listeners = map[netip.AddrPort]*listener{}
	p.mu.Unlock()

	for _, l := range ls {
		<-l.acceptDone
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ls))
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.cur.Load().shutdown(ctx, p.opt.DrainDelay)
		}()
	}
	wg.Wait()
	// Background drains of earlier reloads end by their own timeout or
	// here, when ctx does.
	done := make(chan struct{})
	go func() { p.drains.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	p.connMu.Lock()
	rest := make([]*trackedConn, 0, len(p.conns))
	for c := range p.conns {
		rest = append(rest, c)
	}
	p.connMu.Unlock()
	for _, c := range rest {
		_ = c.Close()
	}
	p.hcCancel()
	if snap := p.snap.Load(); snap != nil {
		for _, u := range snap.upstreams {
			u.retire()
		}
	}
	if al := p.alog.Swap(nil); al != nil {
		al.close()
	}
	return errors.Join(errs...)
}

// Status reports the listeners, virtual servers (with their locations) and
// upstream groups (with their peers) of the running configuration.
func (p *Proxy) Status() Status {
	var st Status
	snap := p.snap.Load()
	if snap == nil {
		return st
	}
	p.mu.Lock()
	addrs := make([]netip.AddrPort, 0, len(p.listeners))
	for a := range p.listeners {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b netip.AddrPort) int { return a.Compare(b) })
	for _, a := range addrs {
		l := p.listeners[a]
		lc := l.conf.Load()
		st.Listeners = append(st.Listeners, ListenerStatus{
			Address: a.String(), TLS: lc.opts.tls, HTTP2: lc.opts.http2, ProxyProtocol: lc.opts.pp,
			Connections: l.conns.Load(), Accepted: l.accepted.Load(), Refused: l.refused.Load(),
		})
	}
	p.mu.Unlock()
	for _, s := range snap.servers {
		ss := ServerStatus{Names: s.names, Listen: s.listen, Counters: s.stats.snapshot()}
		for _, l := range s.locs {
			ss.Locations = append(ss.Locations, LocationStatus{Match: l.match, Counters: l.stats.snapshot()})
		}
		st.Servers = append(st.Servers, ss)
	}
	now := p.now()
	for _, k := range snap.order {
		u := snap.upstreams[k]
		us := UpstreamStatus{Name: u.name, Balance: u.bcfg.Method.String(), Counters: u.stats.snapshot(), Retries: u.retrying.Load()}
		if u.sourceSticky != nil {
			us.Sticky = u.sourceSticky.size()
		}
		for _, pe := range u.peers {
			ps := PeerStatus{
				Server: pe.name, Address: pe.host, Backup: pe.cfg.Backup, Weight: max(pe.cfg.Weight, 1),
				Counters: pe.stats.snapshot(), Fails: pe.fails.Load(), ConsecutiveFailures: pe.consec.Load(),
			}
			pe.mu.Lock()
			switch {
			case pe.cfg.Down || pe.healthDown:
				ps.State = PeerDown
			case now.Before(pe.ejectedUntil):
				ps.State = PeerEjected
				ps.EjectedUntil = pe.ejectedUntil
			default:
				ps.State = PeerUp
			}
			ps.Ejections = pe.ejections
			pe.mu.Unlock()
			for _, cs := range pe.checks {
				cs.mu.Lock()
				c := CheckStatus{Type: string(cs.cfg.Type), Up: cs.up, Probes: cs.probes, LastProbe: cs.lastAt}
				if cs.last != nil {
					c.LastError = cs.last.Error()
				}
				cs.mu.Unlock()
				ps.Checks = append(ps.Checks, c)
			}
			us.Peers = append(us.Peers, ps)
		}
		st.Upstreams = append(st.Upstreams, us)
	}
	return st
}

const copyBufSize = 32 << 10

// bufferPool is httputil.BufferPool over 32 KiB buffers, so copying a
// response allocates nothing (l7.md §4: without it ReverseProxy allocates
// 32 KiB per response). It pools array pointers: putting one in the pool
// does not allocate, as putting a slice would.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufSize]byte) }}}
}

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*[copyBufSize]byte)[:] }

func (bp *bufferPool) Put(b []byte) {
	if cap(b) < copyBufSize {
		return
	}
	bp.p.Put((*[copyBufSize]byte)(b[:copyBufSize]))
}
