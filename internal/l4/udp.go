package l4

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/conntab"
	"github.com/fulcrumlb/fulcrum/internal/proxyproto"
)

const (
	maxDatagram = 65535
	// hdrRoom is kept free in front of each received datagram so a PROXY
	// v2 header (16 + 36 bytes at most) can be prepended without a copy.
	hdrRoom = 64
)

var replyBufs = sync.Pool{New: func() any { b := make([]byte, maxDatagram); return &b }}

// udpService relays the datagrams of one UDP virtual service. Every client
// address:port is a flow with its own connected socket towards the real
// server; replies on that socket go back to the client through the
// service socket, so they leave from VIP:port.
type udpService struct {
	s    *service
	conn *net.UDPConn

	mu     sync.Mutex
	closed bool
	flows  map[netip.AddrPort]*udpFlow
	ops    map[opsKey]*udpFlow // one-packet scheduling: sockets per client and dest
}

type opsKey struct{ client, dest netip.AddrPort }

type udpFlow struct {
	u      *udpService
	client netip.AddrPort
	di     *destInfo
	up     *net.UDPConn
	entry  *conntab.Entry // nil for one-packet sockets
	hdr    []byte         // PROXY v2 header sent before every datagram
	ops    bool
	closed atomic.Bool
	// lastSeen (one-packet sockets, which have no entry) is the plane
	// clock's UnixNano at the last datagram.
	lastSeen atomic.Int64
}

func newUDPService(s *service, c *net.UDPConn) *udpService {
	return &udpService{s: s, conn: c, flows: map[netip.AddrPort]*udpFlow{}, ops: map[opsKey]*udpFlow{}}
}

func (u *udpService) readLoop() {
	defer u.s.p.wg.Done()
	buf := make([]byte, hdrRoom+maxDatagram)
	for {
		n, client, err := u.conn.ReadFromUDPAddrPort(buf[hdrRoom:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) || u.isClosed() {
				return
			}
			continue
		}
		client = unmap(client)
		c := u.s.cfg.Load()
		if c.onePacket {
			u.onePacket(c, client, buf, n)
			continue
		}
		u.relay(c, client, buf, n)
	}
}

func (u *udpService) isClosed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

// relay sends one client datagram along its flow, creating the flow (and
// scheduling) on the first datagram.
func (u *udpService) relay(c *svcCfg, client netip.AddrPort, buf []byte, n int) {
	u.mu.Lock()
	f := u.flows[client]
	u.mu.Unlock()
	if f != nil && f.di != c.sorry && !f.di.d.Available() {
		// The real server was removed. IPVS (expire_nodest_conn=0) would
		// drop the datagrams until the entry times out; a relay can do
		// better and reschedule at once, like expire_nodest_conn=1.
		u.s.p.table.Expire(f.entry)
		f = nil
	}
	for range 2 {
		if f == nil {
			if f = u.newFlow(c, client); f == nil {
				return // no real server: the kernel sends ICMP port unreachable, we drop
			}
		}
		if f.send(buf, n) == nil || !f.closed.Load() {
			return
		}
		f = nil // the flow expired under us: schedule again once
	}
}

func (u *udpService) newFlow(c *svcCfg, client netip.AddrPort) *udpFlow {
	s := u.s
	p := s.p
	di, ct, ok := s.schedule(c, client)
	if !ok {
		return nil
	}
	f, err := u.dialFlow(c, client, di)
	if err != nil {
		p.log.Debug("real server socket", "service", s.key.String(), "dest", di.dial.String(), "err", err)
		return nil
	}
	e, err := p.table.Insert(conntab.Params{
		Key:  conntab.Key{Proto: conntab.ProtoUDP, Client: client, Virtual: s.vip},
		Dest: di.dial, DestRef: di.d, OnExpire: f.close,
	})
	if err != nil {
		_ = f.up.Close()
		return nil
	}
	f.entry = e
	if ct != nil {
		e.SetControl(ct)
	}
	s.stats.AddConn()
	di.stats.AddConn()
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		p.table.Expire(e)
		return nil
	}
	u.flows[client] = f
	p.wg.Add(1)
	u.mu.Unlock()
	go f.replyLoop()
	return f
}

func (u *udpService) dialFlow(c *svcCfg, client netip.AddrPort, di *destInfo) (*udpFlow, error) {
	up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(di.dial))
	if err != nil {
		return nil, err
	}
	f := &udpFlow{u: u, client: client, di: di, up: up}
	if c.proxy == 2 {
		f.hdr = proxyproto.AppendV2(nil, proxyproto.TransportDgram, client, u.s.vip)
	}
	return f, nil
}

// onePacket is ipvsadm -o: every datagram is scheduled on its own and its
// entry expires as soon as it is sent (IP_VS_CONN_F_ONE_PACKET), so it is
// counted as a connection but never listed. Replies still need a socket per
// client and real server; those live until idle for the UDP timeout.
func (u *udpService) onePacket(c *svcCfg, client netip.AddrPort, buf []byte, n int) {
	s := u.s
	p := s.p
	di, ct, ok := s.schedule(c, client)
	if !ok {
		return
	}
	e, err := p.table.Insert(conntab.Params{
		Key:  conntab.Key{Proto: conntab.ProtoUDP, Client: client, Virtual: s.vip},
		Dest: di.dial, DestRef: di.d,
	})
	if err != nil {
		return
	}
	if ct != nil {
		e.SetControl(ct)
	}
	s.stats.AddConn()
	di.stats.AddConn()
	if f := u.opsFlow(c, client, di); f != nil {
		_ = f.send(buf, n)
	}
	p.table.Expire(e)
}

func (u *udpService) opsFlow(c *svcCfg, client netip.AddrPort, di *destInfo) *udpFlow {
	k := opsKey{client: client, dest: di.dial}
	u.mu.Lock()
	f := u.ops[k]
	u.mu.Unlock()
	if f != nil && !f.closed.Load() {
		return f
	}
	f, err := u.dialFlow(c, client, di)
	if err != nil {
		return nil
	}
	f.ops = true
	f.lastSeen.Store(u.s.p.now().UnixNano())
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		_ = f.up.Close()
		return nil
	}
	if old := u.ops[k]; old != nil && !old.closed.Load() {
		u.mu.Unlock()
		_ = f.up.Close()
		return old
	}
	u.ops[k] = f
	u.s.p.wg.Add(1)
	u.mu.Unlock()
	go f.replyLoop()
	return f
}

// sweepOPS closes one-packet sockets idle for longer than the UDP timeout.
func (u *udpService) sweepOPS(now time.Time) {
	limit := now.Add(-u.s.p.table.Timeouts().UDP).UnixNano()
	var idle []*udpFlow
	u.mu.Lock()
	for _, f := range u.ops {
		if f.lastSeen.Load() < limit {
			idle = append(idle, f)
		}
	}
	u.mu.Unlock()
	for _, f := range idle {
		f.close()
	}
}

// stop closes the service socket and every flow. Flow entries stay in the
// table until they time out.
func (u *udpService) stop() {
	u.mu.Lock()
	u.closed = true
	all := make([]*udpFlow, 0, len(u.flows)+len(u.ops))
	for _, f := range u.flows {
		all = append(all, f)
	}
	for _, f := range u.ops {
		all = append(all, f)
	}
	u.mu.Unlock()
	_ = u.conn.Close()
	for _, f := range all {
		f.close()
	}
}

// close ends the flow; it is the entry's expiry callback.
func (f *udpFlow) close() {
	if f.closed.Swap(true) {
		return
	}
	u := f.u
	u.mu.Lock()
	if f.ops {
		if k := (opsKey{client: f.client, dest: f.di.dial}); u.ops[k] == f {
			delete(u.ops, k)
		}
	} else if u.flows[f.client] == f {
		delete(u.flows, f.client)
	}
	u.mu.Unlock()
	_ = f.up.Close()
}

// send forwards one datagram held in buf[hdrRoom:hdrRoom+n].
func (f *udpFlow) send(buf []byte, n int) error {
	pkt := buf[hdrRoom : hdrRoom+n]
	if len(f.hdr) > 0 {
		start := hdrRoom - len(f.hdr)
		copy(buf[start:hdrRoom], f.hdr)
		pkt = buf[start : hdrRoom+n]
	}
	_, err := f.up.Write(pkt)
	if errors.Is(err, unix.ECONNREFUSED) {
		// A queued ICMP error from an earlier datagram; this one is unsent.
		_, err = f.up.Write(pkt)
	}
	if err != nil {
		return err
	}
	f.u.s.stats.AddIn(1, uint64(n))
	f.di.stats.AddIn(1, uint64(n))
	f.touch()
	return nil
}

func (f *udpFlow) touch() {
	if f.entry != nil {
		f.entry.Touch()
	} else {
		f.lastSeen.Store(f.u.s.p.now().UnixNano())
	}
}

// replyLoop relays the real server's datagrams to the client. It waits for
// readability without holding a buffer, so an idle flow costs only its
// goroutine; a pooled buffer is taken when a datagram is there.
func (f *udpFlow) replyLoop() {
	defer f.u.s.p.wg.Done()
	rc, err := f.up.SyscallConn()
	if err != nil {
		return
	}
	for {
		var bp *[]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			b := replyBufs.Get().(*[]byte)
			for {
				n, rerr = unix.Read(int(fd), *b)
				if rerr != unix.EINTR {
					break
				}
			}
			if rerr == unix.EAGAIN {
				replyBufs.Put(b)
				return false
			}
			bp = b
			return true
		})
		if err != nil || f.closed.Load() {
			if bp != nil {
				replyBufs.Put(bp)
			}
			return
		}
		if rerr != nil || n < 0 {
			// ECONNREFUSED: the real server answered ICMP port unreachable.
			replyBufs.Put(bp)
			continue
		}
		if _, err := f.u.conn.WriteToUDPAddrPort((*bp)[:n], f.client); err == nil {
			f.u.s.stats.AddOut(1, uint64(n))
			f.di.stats.AddOut(1, uint64(n))
			f.touch()
		}
		replyBufs.Put(bp)
	}
}
