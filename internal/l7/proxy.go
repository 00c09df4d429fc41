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
	"github.com/fulcrumlb/fulcrum/internal/l7/compress"
	"github.com/fulcrumlb/fulcrum/internal/l7/flood"
	"github.com/fulcrumlb/fulcrum/internal/l7/imgopt"
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
	// Wait blocks a request that limit_req delays for d, or until ctx
	// ends (then returning its error); nil uses a timer. Tests pair it
	// with Now.
	Wait func(ctx context.Context, d time.Duration) error
	// SynCookiesPath is read at start to report the kernel's SYN cookie
	// setting; empty is /proc/sys/net/ipv4/tcp_syncookies.
	SynCookiesPath string
}

// Proxy is the L7 reverse proxy. Apply installs configurations; the
// listeners, upstream groups and counters that do not change survive.
type Proxy struct {
	opt Options
	log *slog.Logger
	now func() time.Time
	rp  *httputil.ReverseProxy
	// buffers copy response bodies (ReverseProxy's and the direct path's).
	buffers *bufferPool
	// noDirect sends every request through ReverseProxy (tests compare
	// the two paths).
	noDirect atomic.Bool
	// noFast sends every connection to net/http (tests compare).
	noFast atomic.Bool

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

	// Shared by every location and kept across reloads: encoder pools
	// and the compression and image counters.
	cpools compress.Pools
	cstats compress.Stats
	istats imgopt.Stats
	// synCookies is net.ipv4.tcp_syncookies at start (-1: unknown).
	synCookies int
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
	p.checkSynCookies()
	p.buffers = newBufferPool()
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      roundTripper{},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.proxyError,
		BufferPool:     p.buffers,
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
	for _, f := range snap.commit {
		f()
	}
	snap.commit = nil
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
	// At once, so that every response after Apply returns says
	// "Connection: close".
	inst.draining.Store(true)
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
			FloodRefused: l.flooded.Load(),
		})
	}
	p.mu.Unlock()
	for _, s := range snap.servers {
		ss := ServerStatus{Names: s.names, Listen: s.listen, Counters: s.stats.snapshot()}
		for _, l := range s.locs {
			ss.Locations = append(ss.Locations, LocationStatus{Match: l.match, Counters: l.stats.snapshot(),
				RefererRejected: l.stats.refererRejected.Load(), SecureLinkRejected: l.stats.secureRejected.Load()})
		}
		st.Servers = append(st.Servers, ss)
	}
	p.extrasStatus(&st, snap)
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

// checkSynCookies reads net.ipv4.tcp_syncookies and says whether the
// kernel's SYN cookies protect the listening sockets: Fulcrum relies on
// them against SYN floods (flood package; reliability.md §2.4).
func (p *Proxy) checkSynCookies() {
	path := p.opt.SynCookiesPath
	if path == "" {
		path = flood.SynCookiesPath
	}
	n, err := flood.SynCookies(path)
	p.synCookies = n
	switch {
	case err != nil:
		p.log.Warn("l7: cannot read the kernel's SYN cookie setting; SYN flood protection unknown", "path", path, "err", err)
	case n == 1 || n == 2:
		p.log.Info("l7: kernel SYN cookies are on: SYN floods are absorbed by the kernel", "tcp_syncookies", n)
	default:
		p.log.Warn("l7: kernel SYN cookies are off: set net.ipv4.tcp_syncookies=1 for SYN flood protection", "tcp_syncookies", n)
	}
}

// extrasStatus reports the limit zones, compression, images and flood
// defence.
func (p *Proxy) extrasStatus(st *Status, snap *snapshot) {
	names := make([]string, 0, len(snap.reqZones))
	for n := range snap.reqZones {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		zs := snap.reqZones[n].zone.Stats()
		st.LimitReqZones = append(st.LimitReqZones, LimitZoneStatus{Name: n, Entries: zs.Entries, Bytes: zs.Bytes,
			Size: snap.reqZones[n].zone.Size(), Passed: zs.Passed, Delayed: zs.Delayed, Rejected: zs.Rejected})
	}
	names = names[:0]
	for n := range snap.connZones {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		zs := snap.connZones[n].zone.Stats()
		st.LimitConnZones = append(st.LimitConnZones, LimitZoneStatus{Name: n, Entries: zs.Entries, Bytes: zs.Bytes,
			Size: snap.connZones[n].zone.Size(), Passed: zs.Passed, Rejected: zs.Rejected})
	}
	for _, cs := range p.cstats.Snapshot() {
		st.Compression = append(st.Compression, CompressionStatus{Codec: cs.Codec, Responses: cs.Responses, BytesIn: cs.BytesIn, BytesOut: cs.BytesOut})
	}
	is := &p.istats
	st.Images = ImageStatus{
		Considered: is.Considered.Load(), Recompressed: is.Recompressed.Load(), Resized: is.Resized.Load(),
		Untouched: is.Untouched.Load(), CacheHits: is.CacheHits.Load(), BytesIn: is.BytesIn.Load(),
		BytesOut: is.BytesOut.Load(), BytesSaved: is.BytesSaved.Load(),
	}
	for _, c := range snap.imgCaches {
		st.Images.CacheEntries += c.Len()
		st.Images.CacheBytes += c.Bytes()
	}
	st.Flood.SynCookies = p.synCookies
	if fc := snap.flood; fc != nil {
		fs := fc.lim.Stats()
		st.Flood.Enabled = true
		st.Flood.Sources, st.Flood.Active = fs.Sources, fs.Active
		st.Flood.RejectedRate, st.Flood.RejectedConns, st.Flood.FirstByteTimeouts = fs.Rate, fs.Conns, fs.FirstByte
	}
}
