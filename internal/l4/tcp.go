package l4

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/conntab"
	"github.com/fulcrumlb/fulcrum/internal/proxyproto"
)

// acceptLoop accepts client connections until the listener is closed.
// Transient errors (EMFILE, ENFILE...) back off like net/http's server
// instead of spinning.
func (s *service) acceptLoop(ln *net.TCPListener) {
	defer s.p.wg.Done()
	var delay time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.p.log.Warn("accept failed", "service", s.key.String(), "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.p.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		s.p.wg.Add(1)
		go s.serveTCP(c)
	}
}

// resetClose closes c with SO_LINGER 0, so the peer gets a RST.
func resetClose(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// serveTCP proxies one accepted connection. The socket events map to the
// kernel's NAT state table (see doc.go).
func (s *service) serveTCP(client *net.TCPConn) {
	p := s.p
	defer p.wg.Done()
	caddr := addrPort(client.RemoteAddr())
	cfg := s.cfg.Load()
	di, ct, ok := s.schedule(cfg, caddr)
	if !ok {
		// IPVS answers ICMP port unreachable from ip_vs_leave; a proxy has
		// already completed the handshake, so it resets the connection.
		resetClose(client)
		return
	}
	tc := &tcpConn{p: p, svc: s, dest: di, client: client}
	e, err := p.table.Insert(conntab.Params{
		Key:  conntab.Key{Proto: conntab.ProtoTCP, Client: caddr, Virtual: s.vip},
		Dest: di.dial, DestRef: di.d, OnExpire: tc.abort,
	})
	if err != nil {
		p.log.Debug("connection refused", "service", s.key.String(), "client", caddr.String(), "err", err)
		resetClose(client)
		return
	}
	tc.entry = e
	if ct != nil {
		e.SetControl(ct)
	}
	s.stats.AddConn()
	di.stats.AddConn()
	e.Event(conntab.DirInput, conntab.FlagSYN) // the client's SYN: SYN_RECV, inactive
	if !p.live.add(tc) {
		e.Event(conntab.DirInput, conntab.FlagRST)
		resetClose(client)
		return
	}

	d := net.Dialer{Timeout: p.opt.DialTimeout, KeepAlive: -1} // no probes: see listen
	conn, err := d.DialContext(p.ctx, "tcp", di.dial.String())
	if err != nil {
		// The real server refused or never answered: as if it had sent a
		// RST (OUTPUT rst in SYN_RECV -> CLOSE).
		p.log.Debug("real server unreachable", "service", s.key.String(), "dest", di.dial.String(), "err", err)
		e.Event(conntab.DirOutput, conntab.FlagRST)
		tc.abort()
		tc.finish(0, 0)
		return
	}
	up := conn.(*net.TCPConn)
	tc.mu.Lock()
	aborted := tc.aborted
	tc.up = up
	tc.mu.Unlock()
	if aborted {
		resetClose(up)
		tc.finish(0, 0)
		return
	}
	if cfg.proxy != 0 {
		var hdr []byte
		if cfg.proxy == 1 {
			hdr = proxyproto.AppendV1(make([]byte, 0, proxyproto.MaxV1Len), caddr, s.vip)
		} else {
			hdr = proxyproto.AppendV2(make([]byte, 0, 52), proxyproto.TransportStream, caddr, s.vip)
		}
		if _, err := up.Write(hdr); err != nil {
			e.Event(conntab.DirOutput, conntab.FlagRST)
			tc.abort()
			tc.finish(0, 0)
			return
		}
	}
	e.Event(conntab.DirOutput, conntab.FlagSYN) // the real server's SYN+ACK
	e.Event(conntab.DirInput, conntab.FlagACK)  // the client's ACK: ESTABLISHED, active

	// Both directions are io.Copy between two *net.TCPConn, which Linux
	// serves with splice(2) (TCPConn.ReadFrom -> spliceFrom): no user-space
	// copy, no wrapper on the hot path.
	// The side that finishes last settles the byte counters before its
	// state event, so whoever sees the final state also sees final counters.
	var (
		mu         sync.Mutex
		inN, outN  int64
		finishedBy int
	)
	// ended reports whether the other direction had already ended: then
	// finish closes both sockets at once, and the close sends the FIN that
	// a CloseWrite would (nothing is left unread on either socket, so no
	// RST), one shutdown(2) per connection cheaper.
	ended := func(n int64, in bool) (last bool) {
		mu.Lock()
		if in {
			inN = n
		} else {
			outN = n
		}
		finishedBy++
		last = finishedBy == 2
		i, o := inN, outN
		mu.Unlock()
		if last {
			tc.settle(i, o)
		}
		return last
	}
	done := make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(done)
		n, err := io.Copy(client, up)
		last := ended(n, false)
		if err != nil {
			e.Event(conntab.DirOutput, conntab.FlagRST)
			tc.abort()
			return
		}
		e.Event(conntab.DirOutput, conntab.FlagFIN) // the real server closed first: FIN_WAIT
		if !last {
			_ = client.CloseWrite()
		}
	}()
	n, err := io.Copy(up, client)
	last := ended(n, true)
	if err != nil {
		e.Event(conntab.DirInput, conntab.FlagRST)
		tc.abort()
	} else {
		e.Event(conntab.DirInput, conntab.FlagFIN) // the client closed first: CLOSE_WAIT
		if !last {
			_ = up.CloseWrite()
		}
	}
	<-done
	tc.finish(inN, outN)
}

// tcpConn is one live proxied TCP connection.
type tcpConn struct {
	p      *Plane
	svc    *service
	dest   *destInfo
	client *net.TCPConn
	entry  *conntab.Entry
	id     uint64

	mu      sync.Mutex
	up      *net.TCPConn
	aborted bool
	done    bool
	settled bool
	// What was already added to the counters: tcpi_segs_in and
	// tcpi_bytes_received of the client socket (in) and of the real
	// server socket (out).
	inSegs, outSegs   uint32
	inBytes, outBytes uint64
}

// abort resets both sockets. It is the entry's expiry callback: an entry
// that times out takes its proxied connection with it, as IPVS would drop
// the packets of a connection it no longer knows.
func (c *tcpConn) abort() {
	c.mu.Lock()
	if c.aborted || c.done {
		c.mu.Unlock()
		return
	}
	c.aborted = true
	up := c.up
	c.mu.Unlock()
	resetClose(c.client)
	if up != nil {
		resetClose(up)
	}
}

// sample adds what the kernel counted on both sockets since the last
// sample and re-arms the entry's timer when anything moved. Reading
// TCP_INFO does not interfere with splice.
func (c *tcpConn) sample() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	var inP, outP uint32
	var inB, outB uint64
	// tcpi_bytes_received counts the peer's FIN as one byte (it advances
	// rcv_nxt), so a sample reports one byte less; finish settles the exact
	// payload from io.Copy. The counters never go backwards.
	if segs, bytes, ok := tcpInfo(c.client); ok {
		inP, c.inSegs = segs-c.inSegs, segs
		if bytes > c.inBytes+1 {
			inB, c.inBytes = bytes-1-c.inBytes, bytes-1
		}
	}
	if c.up != nil {
		if segs, bytes, ok := tcpInfo(c.up); ok {
			outP, c.outSegs = segs-c.outSegs, segs
			if bytes > c.outBytes+1 {
				outB, c.outBytes = bytes-1-c.outBytes, bytes-1
			}
		}
	}
	if inP|outP == 0 && inB|outB == 0 {
		return
	}
	c.svc.stats.AddIn(uint64(inP), inB)
	c.svc.stats.AddOut(uint64(outP), outB)
	c.dest.stats.AddIn(uint64(inP), inB)
	c.dest.stats.AddOut(uint64(outP), outB)
	c.entry.Touch()
}

// finish takes a last sample, settles the byte counters with what io.Copy
// moved (in case a sample was missed), closes both sockets and forgets the
// connection. The entry stays in the table in its final state.
func (c *tcpConn) finish(inN, outN int64) {
	c.settle(inN, outN)
	c.mu.Lock()
	c.done = true
	up := c.up
	c.mu.Unlock()
	_ = c.client.Close()
	if up != nil {
		_ = up.Close()
	}
	c.p.live.remove(c)
	// The entry outlives the connection (TIME_WAIT and the like) and
	// must not keep it: nothing is left to abort.
	c.entry.Release()
}

// settle takes a last sample and tops the byte counters up to what io.Copy
// moved; only the first call does anything (the last direction to end
// settles, then finish would again: two TCP_INFO reads per connection).
func (c *tcpConn) settle(inN, outN int64) {
	c.mu.Lock()
	if c.settled {
		c.mu.Unlock()
		return
	}
	c.settled = true
	c.mu.Unlock()
	c.sample()
	c.mu.Lock()
	var inB, outB uint64
	if uint64(inN) > c.inBytes {
		inB, c.inBytes = uint64(inN)-c.inBytes, uint64(inN)
	}
	if uint64(outN) > c.outBytes {
		outB, c.outBytes = uint64(outN)-c.outBytes, uint64(outN)
	}
	c.mu.Unlock()
	c.svc.stats.AddIn(0, inB)
	c.svc.stats.AddOut(0, outB)
	c.dest.stats.AddIn(0, inB)
	c.dest.stats.AddOut(0, outB)
}

const liveShards = 32

// liveSet holds the live proxied TCP connections for sampling and Close.
type liveSet struct {
	next   atomic.Uint64
	shards [liveShards]struct {
		mu     sync.Mutex
		closed bool
		m      map[*tcpConn]struct{}
	}
}

func (l *liveSet) init() {
	for i := range l.shards {
		l.shards[i].m = map[*tcpConn]struct{}{}
	}
}

// add registers c; it fails once the set is closed.
func (l *liveSet) add(c *tcpConn) bool {
	c.id = l.next.Add(1)
	sh := &l.shards[c.id%liveShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return false
	}
	sh.m[c] = struct{}{}
	return true
}

func (l *liveSet) remove(c *tcpConn) {
	sh := &l.shards[c.id%liveShards]
	sh.mu.Lock()
	delete(sh.m, c)
	sh.mu.Unlock()
}

func (l *liveSet) each(f func(*tcpConn)) {
	var batch []*tcpConn
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		batch = batch[:0]
		for c := range sh.m {
			batch = append(batch, c)
		}
		sh.mu.Unlock()
		for _, c := range batch {
			f(c)
		}
	}
}

// closeAll refuses new connections and aborts the live ones.
func (l *liveSet) closeAll() {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		sh.closed = true
		batch := make([]*tcpConn, 0, len(sh.m))
		for c := range sh.m {
			batch = append(batch, c)
		}
		sh.mu.Unlock()
		for _, c := range batch {
			c.abort()
		}
	}
}
