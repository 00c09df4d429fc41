// Package flood is accept-time defence against connection floods: per
// source address a token bucket of new connections, a cap on concurrent
// connections, and a deadline for the first byte, all decided before any
// protocol is parsed. A Limiter works on any net.Listener, so the L4
// plane can adopt it as the HTTP listeners do.
//
// SYN floods themselves are left to the kernel: a listening socket in
// userspace gets SYN cookies (net.ipv4.tcp_syncookies, 1 = when the
// backlog overflows, the default, 2 = always) and only completed
// handshakes reach Accept (reliability.md §2.4: 200/200 requests served
// under an 85 kpps spoofed flood). SynCookies reads the setting so the
// proxy can say at start whether that protection is on.
//
// Sources are IPv4 addresses and IPv6 /64 networks (one host commonly
// owns a whole /64). Memory is bounded: at most MaxSources sources are
// tracked, the least recently seen forgotten first; a forgotten source
// starts again with a full bucket.
package flood

import (
	"container/list"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults.
const (
	DefaultFirstByteTimeout = 10 * time.Second
	DefaultMaxSources       = 65536
)

// Reason says why a connection was refused or closed.
type Reason uint8

// Reasons.
const (
	None      Reason = iota
	Rate             // the source's new-connection bucket was empty
	Conns            // the source had MaxConnsPerSource connections open
	FirstByte        // closed: nothing received within FirstByteTimeout
	numReasons
)

var reasonNames = [numReasons]string{None: "", Rate: "rate", Conns: "conns", FirstByte: "first_byte_timeout"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Options configure a Limiter.
type Options struct {
	// ConnRate new connections per second per source with ConnBurst
	// (default: max(1, ConnRate)); 0 disables the bucket.
	ConnRate  float64
	ConnBurst int
	// MaxConnsPerSource concurrent connections; 0 disables the cap.
	MaxConnsPerSource int
	// FirstByteTimeout closes connections that send nothing (default
	// 10 s; negative disables).
	FirstByteTimeout time.Duration
	// Exempt sources are never limited.
	Exempt []netip.Prefix
	// MaxSources bounds the table (default 65536).
	MaxSources int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Limiter decides which connections are accepted. It is safe for
// concurrent use.
type Limiter struct {
	opt   Options
	burst float64

	mu      sync.Mutex
	sources map[netip.Prefix]*list.Element
	lru     *list.List

	counts [numReasons]atomic.Uint64
	active atomic.Int64
}

type source struct {
	key    netip.Prefix
	tokens float64
	last   time.Time
	conns  int
}

// New returns a limiter.
func New(opt Options) *Limiter {
	if opt.FirstByteTimeout == 0 {
		opt.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if opt.MaxSources <= 0 {
		opt.MaxSources = DefaultMaxSources
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	l := &Limiter{opt: opt, sources: map[netip.Prefix]*list.Element{}, lru: list.New()}
	l.burst = float64(opt.ConnBurst)
	if l.burst <= 0 {
		l.burst = max(1, opt.ConnRate)
	}
	return l
}

// Options returns the limiter's options with defaults filled in.
func (l *Limiter) Options() Options { return l.opt }

func sourceKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p
	}
	return netip.PrefixFrom(a, a.BitLen())
}

func (l *Limiter) exempt(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l.opt.Exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Admit decides on a new connection from src. When it returns None, the
// caller owns a slot that Release(src) gives back.
func (l *Limiter) Admit(src netip.Addr) Reason {
	if !src.IsValid() || l.exempt(src) || (l.opt.ConnRate <= 0 && l.opt.MaxConnsPerSource <= 0) {
		l.active.Add(1)
		return None
	}
	now := l.opt.Now()
	key := sourceKey(src)
	l.mu.Lock()
	defer l.mu.Unlock()
	var s *source
	if el, ok := l.sources[key]; ok {
		l.lru.MoveToFront(el)
		s = el.Value.(*source)
	} else {
		for len(l.sources) >= l.opt.MaxSources {
			l.evict()
		}
		s = &source{key: key, tokens: l.burst, last: now}
		l.sources[key] = l.lru.PushFront(s)
	}
	if l.opt.MaxConnsPerSource > 0 && s.conns >= l.opt.MaxConnsPerSource {
		l.counts[Conns].Add(1)
		return Conns
	}
	if l.opt.ConnRate > 0 {
		if d := now.Sub(s.last); d > 0 {
			s.tokens = min(l.burst, s.tokens+d.Seconds()*l.opt.ConnRate)
		}
		s.last = now
		if s.tokens < 1 {
			l.counts[Rate].Add(1)
			return Rate
		}
		s.tokens--
	}
	s.conns++
	l.active.Add(1)
	return None
}

// evict forgets the least recently seen source, preferring one without
// open connections among the oldest few.
func (l *Limiter) evict() {
	el := l.lru.Back()
	for i, e := 0, el; i < 8 && e != nil; i, e = i+1, e.Prev() {
		if e.Value.(*source).conns == 0 {
			el = e
			break
		}
	}
	l.lru.Remove(el)
	delete(l.sources, el.Value.(*source).key)
}

// Release gives back the slot of a connection from src that Admit
// accepted.
func (l *Limiter) Release(src netip.Addr) {
	l.active.Add(-1)
	if !src.IsValid() || l.exempt(src) || l.opt.MaxConnsPerSource <= 0 && l.opt.ConnRate <= 0 {
		return
	}
	key := sourceKey(src)
	l.mu.Lock()
	if el, ok := l.sources[key]; ok {
		if s := el.Value.(*source); s.conns > 0 {
			s.conns--
		}
	}
	l.mu.Unlock()
}

// Stats are a limiter's counters.
type Stats struct {
	Sources   int    // tracked
	Active    int64  // connections admitted and open
	Rate      uint64 // refused: rate
	Conns     uint64 // refused: concurrent cap
	FirstByte uint64 // closed: first-byte timeout
}

// Stats returns the counters.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	n := len(l.sources)
	l.mu.Unlock()
	return Stats{Sources: n, Active: l.active.Load(), Rate: l.counts[Rate].Load(), Conns: l.counts[Conns].Load(), FirstByte: l.counts[FirstByte].Load()}
}

// Conn wraps an admitted connection: its slot is released when it is
// closed, and unless its source is exempt it is closed when nothing
// arrives within the first-byte timeout.
func (l *Limiter) Conn(c net.Conn, src netip.Addr) net.Conn {
	fc := &conn{Conn: c, l: l, src: src}
	if d := l.opt.FirstByteTimeout; d > 0 && !l.exempt(src) {
		fc.timer = time.AfterFunc(d, fc.firstByteExpired)
	}
	return fc
}

type conn struct {
	net.Conn
	l      *Limiter
	src    netip.Addr
	timer  *time.Timer
	got    atomic.Bool
	closed atomic.Bool
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.got.Load() && c.got.CompareAndSwap(false, true) && c.timer != nil {
		c.timer.Stop()
	}
	return n, err
}

func (c *conn) firstByteExpired() {
	if c.got.Load() || c.closed.Load() {
		return
	}
	c.l.counts[FirstByte].Add(1)
	_ = c.Close()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		if c.timer != nil {
			c.timer.Stop()
		}
		c.l.Release(c.src)
	}
	return err
}

// Refuse closes a refused connection at once with a reset, so neither
// side keeps it in TIME_WAIT.
func Refuse(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// Listener applies the limiter to every connection ln accepts: refused
// ones are reset and never returned.
func (l *Limiter) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := AddrOf(c.RemoteAddr())
		if ln.l.Admit(src) != None {
			Refuse(c)
			continue
		}
		return ln.l.Conn(c, src), nil
	}
}

// AddrOf is the IP of a TCP address.
func AddrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// SynCookiesPath is where Linux exposes net.ipv4.tcp_syncookies.
const SynCookiesPath = "/proc/sys/net/ipv4/tcp_syncookies"

// SynCookies reads net.ipv4.tcp_syncookies from path (SynCookiesPath on
// Linux): 0 off, 1 on when the SYN backlog overflows, 2 always.
func SynCookies(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1, err
	}
	return n, nil
}
