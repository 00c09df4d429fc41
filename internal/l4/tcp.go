package l4

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/conntab"
	"github.com/fulcrumlb/fulcrum/internal/proxyproto"
)

// The TCP data path is an event loop per CPU, as nginx and HAProxy run
// theirs: each loop owns an epoll set with its share of the connections
// and moves bytes with non-blocking read/write, or splice(2) once a flow is
// bulk (pumpFlow). A goroutine pair per
// connection on Go's net package cost about a third more CPU per proxied
// connection than nginx stream (two goroutines, Go's netpoll registration
// and removal of both sockets, getsockname/getpeername, deadline timers;
// docs/performance.md), and 16 KiB or more of stack per idle connection.
//
// The loop parks in Go's scheduler, not in a blocking epoll_wait: its epoll
// descriptor is itself registered with Go's netpoller (an epoll set is
// pollable), so a loop never holds an OS thread while idle and other
// goroutines keep their P even with GOMAXPROCS=1.

const (
	// Epoll event tags (EpollEvent.Pad) that are not connections; a
	// connection's tag is its generation<<1 | side, never negative.
	tagListener = -1
	tagWake     = -2

	sideClient = 0 // relay.fd index; also direction "in" (client -> real server)
	sideReal   = 1 // and direction "out" (real server -> client)

	// pipeSize is asked for every pipe, as Go's splice does: one splice
	// call can then move up to 1 MiB of a bulk transfer.
	pipeSize = 1 << 20
	// copySize is the loop's copy buffer: a read that fills it makes the
	// flow bulk (spliced), as nginx stream's proxy_buffer_size is 16k.
	copySize = 32 << 10
	// maxIdlePipes bounds the pipes a loop keeps for reuse.
	maxIdlePipes = 64
	// acceptBatch bounds the accepts per listener event; the listener is
	// level-triggered, so what is left is reported again.
	acceptBatch = 64
	// pumpBudget bounds the splice calls per direction per turn, so one bulk
	// transfer cannot starve the loop's other connections.
	pumpBudget = 16
)

type pipe struct{ r, w int }

// loop is one relay event loop. Everything below mu is owned by the loop's
// goroutine; other goroutines reach it only through post.
type loop struct {
	p    *Plane
	epfd int
	wake int // eventfd: posted commands are waiting
	file *os.File
	rc   syscall.RawConn

	mu      sync.Mutex
	cmds    []func()
	pending bool // wake has been written and not yet drained
	stopped bool

	events    []unix.EpollEvent
	buf       []byte   // copy buffer of the flows that are not bulk
	relays    []*relay // by slot
	freeSlots []int32
	gen       uint32
	pipes     []pipe
	dialing   []*relay // FIFO in dial order, hence in deadline order
	again     []*relay // ran out of pumpBudget with work left
	listeners map[int32]*service
	paused    []int32 // listeners taken out after an accept error
	quit      bool
}

func newLoop(p *Plane) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	l := &loop{p: p, epfd: epfd, events: make([]unix.EpollEvent, 128), buf: make([]byte, copySize), listeners: map[int32]*service{}}
	l.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(l.wake), Pad: tagWake}
	if err := epollCtl(epfd, unix.EPOLL_CTL_ADD, l.wake, &ev); err != nil {
		l.closeFds()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	// A non-blocking descriptor is one os.File hands to Go's netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		l.closeFds()
		return nil, os.NewSyscallError("fcntl", err)
	}
	l.file = os.NewFile(uintptr(epfd), "l4-relay-epoll")
	if l.rc, err = l.file.SyscallConn(); err != nil {
		l.closeFds()
		return nil, err
	}
	return l, nil
}

func (l *loop) closeFds() {
	unix.Close(l.wake)
	if l.file != nil {
		_ = l.file.Close()
	} else {
		unix.Close(l.epfd)
	}
}

// post queues fn to run on the loop's goroutine. It reports false when the
// loop has stopped (fn is then dropped).
func (l *loop) post(fn func()) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.cmds = append(l.cmds, fn)
	kick := !l.pending
	l.pending = true
	l.mu.Unlock()
	if kick {
		one := [8]byte{1}
		_, _ = write(l.wake, one[:])
	}
	return true
}

// postWait runs fn on the loop's goroutine and waits for it. Never call it
// from the loop itself.
func (l *loop) postWait(fn func()) {
	done := make(chan struct{})
	if l.post(func() { fn(); close(done) }) {
		<-done
	}
}

func (l *loop) run() {
	defer l.p.wg.Done()
	var n int
	wait := func(uintptr) bool {
		n = epollPoll(l.epfd, l.events)
		return n > 0 || len(l.again) > 0
	}
	for !l.quit {
		if err := l.rc.Read(wait); err != nil {
			l.p.log.Error("relay loop stopped", "err", err)
			break
		}
		for i := range n {
			l.dispatch(&l.events[i])
		}
		if len(l.again) > 0 {
			again := l.again
			l.again = nil
			for _, r := range again {
				r.queued = false
				if r.state == stateRelaying {
					r.pump()
				}
			}
		}
	}
	// Commands posted after the shutdown still run: someone may wait for
	// one (a stats sample, a listener's removal).
	l.mu.Lock()
	l.stopped = true
	left := l.cmds
	l.cmds = nil
	l.mu.Unlock()
	for _, fn := range left {
		fn()
	}
	l.closeFds()
}

func (l *loop) dispatch(ev *unix.EpollEvent) {
	switch ev.Pad {
	case tagWake:
		var buf [8]byte
		_, _ = read(l.wake, buf[:])
		l.mu.Lock()
		cmds := l.cmds
		l.cmds = nil
		l.pending = false
		l.mu.Unlock()
		for _, fn := range cmds {
			fn()
		}
	case tagListener:
		l.accept(ev.Fd)
	default:
		if int(ev.Fd) >= len(l.relays) {
			return
		}
		// An event of a connection that ended earlier in the same batch
		// (its descriptors were closed) finds its slot empty or reused.
		r := l.relays[ev.Fd]
		if r == nil || r.gen != uint32(ev.Pad)>>1 {
			return
		}
		r.event(int(ev.Pad&1), ev.Events)
	}
}

// addListener makes the loop accept on fd. EPOLLEXCLUSIVE wakes one loop
// per incoming connection instead of all of them.
func (l *loop) addListener(fd int32, s *service) {
	l.listeners[fd] = s
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: fd, Pad: tagListener}
	if err := epollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		l.p.log.Error("cannot watch listener", "service", s.key.String(), "err", err)
	}
}

func (l *loop) removeListener(fd int32) {
	delete(l.listeners, fd)
	l.paused = slices.DeleteFunc(l.paused, func(p int32) bool { return p == fd })
	_ = epollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
}

// accept takes the waiting connections of one listener. After an error
// other than the connection having gone already (EMFILE, ENFILE, ENOBUFS...)
// the listener is taken out of the loop until the next housekeeping pass,
// as nginx disables its accept events for a while, instead of spinning.
func (l *loop) accept(fd int32) {
	s := l.listeners[fd]
	if s == nil {
		return
	}
	for range acceptBatch {
		nfd, peer, err := accept4(int(fd))
		switch {
		case err == nil:
			l.open(s, nfd, peer)
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
		default:
			s.p.log.Warn("accept failed", "service", s.key.String(), "err", err, "retry_in", sweepInterval)
			_ = epollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
			l.paused = append(l.paused, fd)
			return
		}
	}
}

// housekeeping runs once per sweep: dials past their deadline fail and
// paused listeners are watched again.
func (l *loop) housekeeping(now time.Time) {
	for len(l.dialing) > 0 {
		r := l.dialing[0]
		if r.state == stateDialing && now.Before(r.deadline) {
			break
		}
		l.dialing[0] = nil
		l.dialing = l.dialing[1:]
		if r.state == stateDialing {
			r.dialFailed(errors.New("i/o timeout"))
		}
	}
	paused := l.paused
	l.paused = nil
	for _, fd := range paused {
		if s := l.listeners[fd]; s != nil {
			l.addListener(fd, s)
		}
	}
}

// open starts relaying an accepted connection: schedule, enter it in the
// connection table, connect to the real server without waiting.
func (l *loop) open(s *service, cfd int, caddr netip.AddrPort) {
	p := s.p
	cfg := s.cfg.Load()
	di, ct, ok := s.schedule(cfg, caddr)
	if !ok {
		// IPVS answers ICMP port unreachable from ip_vs_leave; a proxy has
		// already completed the handshake, so it resets the connection.
		resetFd(cfd)
		return
	}
	r := &relay{l: l, svc: s, dest: di, fd: [2]int{cfd, -1}, state: stateDialing}
	e, err := p.table.Insert(conntab.Params{
		Key:  conntab.Key{Proto: conntab.ProtoTCP, Client: caddr, Virtual: s.vip},
		Dest: di.dial, DestRef: di.d, OnExpire: r.expired,
	})
	if err != nil {
		p.log.Debug("connection refused", "service", s.key.String(), "client", caddr.String(), "err", err)
		resetFd(cfd)
		return
	}
	r.entry = e
	if ct != nil {
		e.SetControl(ct)
	}
	s.stats.AddConn()
	di.stats.AddConn()
	e.Event(conntab.DirInput, conntab.FlagSYN) // the client's SYN: SYN_RECV, inactive
	l.place(r)
	if cfg.proxy != 0 {
		if cfg.proxy == 1 {
			r.header = proxyproto.AppendV1(make([]byte, 0, proxyproto.MaxV1Len), caddr, s.vip)
		} else {
			r.header = proxyproto.AppendV2(make([]byte, 0, 52), proxyproto.TransportStream, caddr, s.vip)
		}
	}
	_ = setsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	ufd, err := dialNonblock(di.dial)
	if err != nil {
		r.dialFailed(err)
		return
	}
	r.fd[sideReal] = ufd
	// Both sockets are watched from now on; edge-triggered ADD reports
	// what is already pending. The client's bytes wait in its socket until
	// the real server has answered.
	for side := range 2 {
		ev := unix.EpollEvent{
			Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
			Fd:     r.slot, Pad: int32(r.gen<<1) | int32(side),
		}
		if err := epollCtl(l.epfd, unix.EPOLL_CTL_ADD, r.fd[side], &ev); err != nil {
			r.dialFailed(os.NewSyscallError("epoll_ctl", err))
			return
		}
	}
	r.deadline = time.Now().Add(p.opt.DialTimeout)
	l.dialing = append(l.dialing, r)
}

// place gives r a slot and a generation (its epoll tag).
func (l *loop) place(r *relay) {
	l.gen = (l.gen + 1) & (1<<30 - 1)
	r.gen = l.gen
	if n := len(l.freeSlots); n > 0 {
		r.slot = l.freeSlots[n-1]
		l.freeSlots = l.freeSlots[:n-1]
		l.relays[r.slot] = r
		return
	}
	r.slot = int32(len(l.relays))
	l.relays = append(l.relays, r)
}

func (l *loop) getPipe() (pipe, error) {
	if n := len(l.pipes); n > 0 {
		pp := l.pipes[n-1]
		l.pipes = l.pipes[:n-1]
		return pp, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return pipe{}, os.NewSyscallError("pipe2", err)
	}
	// Best effort: without it the pipe holds 64 KiB and bulk transfers
	// take more calls.
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize)
	return pipe{r: fds[0], w: fds[1]}, nil
}

// putPipe keeps an empty pipe for reuse.
func (l *loop) putPipe(pp pipe) {
	if len(l.pipes) < maxIdlePipes {
		l.pipes = append(l.pipes, pp)
		return
	}
	closePipe(pp)
}

func closePipe(pp pipe) {
	closeFd(pp.r)
	closeFd(pp.w)
}

// shutdown ends the loop: every live connection is reset (Plane.Close).
func (l *loop) shutdown() {
	for _, r := range l.relays {
		if r != nil {
			r.abort()
		}
	}
	for fd := range l.listeners {
		l.removeListener(fd)
	}
	for _, pp := range l.pipes {
		closePipe(pp)
	}
	l.pipes = nil
	l.quit = true
}

type relayState uint8

const (
	stateDialing relayState = iota
	stateRelaying
	stateDone
)

// flow is one direction of a relay: bytes read from one socket into a
// pipe and written from it to the other.
type flow struct {
	pending  []byte // copied bytes the destination has not taken yet
	pipe     pipe
	buffered int   // bytes in the pipe; it is held only while > 0
	n        int64 // bytes read so far
	bulk     bool  // moved by splice
	eof      bool
	ended    bool
}

// relay is one proxied TCP connection. All of it belongs to its loop.
type relay struct {
	l     *loop
	svc   *service
	dest  *destInfo
	entry *conntab.Entry

	slot     int32
	gen      uint32
	state    relayState
	queued   bool   // on l.again
	fd       [2]int // by side; -1 once closed
	readable [2]bool
	writable [2]bool
	rdhup    [2]bool // the peer's FIN has arrived: read on to the end
	flows    [2]flow // by direction: flows[sideClient] is client -> real server
	header   []byte  // PROXY protocol header still to send
	deadline time.Time

	settled bool
	// What was already added to the counters: tcpi_segs_in and
	// tcpi_bytes_received of the client socket (in) and of the real
	// server socket (out).
	inSegs, outSegs   uint32
	inBytes, outBytes uint64
}

// dirOf maps a direction to the connection table's: the client's bytes are
// INPUT, the real server's OUTPUT.
func dirOf(d int) conntab.Dir {
	if d == sideClient {
		return conntab.DirInput
	}
	return conntab.DirOutput
}

func (r *relay) event(side int, ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r.readable[side] = true
	}
	if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r.rdhup[side] = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r.writable[side] = true
	}
	switch r.state {
	case stateDialing:
		if side == sideReal && r.writable[sideReal] {
			r.connected(ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0)
		}
	case stateRelaying:
		r.pump()
	}
}

// connected runs when the real server's socket turned writable (or failed)
// while connecting. A failed connect reports EPOLLERR (with EPOLLHUP); only
// then is SO_ERROR read for the reason, one call fewer per connection.
func (r *relay) connected(failed bool) {
	if failed {
		soerr, err := getsockoptInt(r.fd[sideReal], unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil {
			err = syscall.Errno(soerr)
			if soerr == 0 {
				err = errors.New("connection failed")
			}
		}
		r.dialFailed(err)
		return
	}
	if len(r.header) > 0 {
		// A fresh socket's send buffer takes the whole header at once.
		n, err := write(r.fd[sideReal], r.header)
		if err != nil || n != len(r.header) {
			r.entry.Event(conntab.DirOutput, conntab.FlagRST)
			r.abort()
			return
		}
		r.header = nil
	}
	r.state = stateRelaying
	r.entry.Event(conntab.DirOutput, conntab.FlagSYN) // the real server's SYN+ACK
	r.entry.Event(conntab.DirInput, conntab.FlagACK)  // the client's ACK: ESTABLISHED, active
	r.pump()
}

// dialFailed: the real server refused or never answered, as if it had sent
// a RST (OUTPUT rst in SYN_RECV -> CLOSE); the client is reset.
func (r *relay) dialFailed(err error) {
	p := r.svc.p
	p.log.Debug("real server unreachable", "service", r.svc.key.String(), "dest", r.dest.dial.String(), "err", err)
	r.entry.Event(conntab.DirOutput, conntab.FlagRST)
	r.abort()
}

// pump moves what it can in both directions.
func (r *relay) pump() {
	for d := range 2 {
		if r.state != stateRelaying {
			return
		}
		if r.pumpFlow(d) && !r.queued {
			r.queued = true
			r.l.again = append(r.l.again, r)
		}
	}
}

// pumpFlow moves direction d until a socket would block, the direction
// ends or the budget is spent; it reports whether work may be left.
//
// A flow starts by copying through the loop's buffer with read and write,
// which costs fewer and cheaper calls than splice for the small messages
// of request/response protocols: a read shorter than the buffer has
// drained the socket (TCP hands over all it holds), so no read is spent
// on EAGAIN, as nginx does with EPOLLRDHUP. A read that fills the buffer
// marks the flow as bulk, and from then on it moves by splice through a
// pipe. A pipe is only filled when empty, so EAGAIN from the reading
// splice always means the socket is drained (edge-triggered epoll needs
// that).
func (r *relay) pumpFlow(d int) bool {
	f := &r.flows[d]
	src, dst := d, 1-d
	l := r.l
	for range pumpBudget {
		if f.ended {
			return false
		}
		if len(f.pending) > 0 {
			if !r.writable[dst] {
				return false
			}
			n, err := write(r.fd[dst], f.pending)
			if !r.sent(d, err) {
				return false
			}
			if f.pending = f.pending[n:]; len(f.pending) == 0 {
				f.pending = nil // an idle connection keeps no buffer
			}
			continue
		}
		if f.buffered > 0 {
			if !r.writable[dst] {
				return false
			}
			n, err := splice(f.pipe.r, r.fd[dst], f.buffered)
			if !r.sent(d, err) {
				return false
			}
			f.buffered -= n
			if f.buffered > 0 {
				continue
			}
			l.putPipe(f.pipe)
		}
		if f.eof {
			r.end(d)
			return false
		}
		if !r.readable[src] {
			return false
		}
		if !f.bulk {
			if !r.copyOnce(d) {
				return false
			}
			continue
		}
		pp, err := l.getPipe()
		if err != nil {
			r.svc.p.log.Warn("relay without a pipe", "err", err)
			r.fail(d)
			return false
		}
		n, err := splice(r.fd[src], pp.w, pipeSize)
		switch {
		case err == unix.EAGAIN:
			l.putPipe(pp)
			r.readable[src] = false
			return false
		case err != nil:
			l.putPipe(pp)
			r.fail(d)
			return false
		case n == 0:
			l.putPipe(pp)
			f.eof = true
		default:
			f.pipe, f.buffered = pp, n
			f.n += int64(n)
		}
	}
	return true
}

// sent takes the outcome of a write to direction d's destination and
// reports whether the flow can go on: EAGAIN waits for EPOLLOUT, any other
// error fails the relay.
func (r *relay) sent(d int, err error) bool {
	switch {
	case err == unix.EAGAIN:
		r.writable[1-d] = false
		return false
	case err != nil:
		r.fail(d)
		return false
	}
	return true
}

// copyOnce reads what the source socket of direction d holds into the
// loop's buffer and writes it on; what the destination does not take is
// kept in f.pending. It reports false when the flow must wait or failed.
func (r *relay) copyOnce(d int) bool {
	f := &r.flows[d]
	src, dst := d, 1-d
	buf := r.l.buf
	n, err := read(r.fd[src], buf)
	switch {
	case err == unix.EAGAIN:
		r.readable[src] = false
		return false
	case err != nil:
		r.fail(d)
		return false
	case n == 0:
		f.eof = true
		return true
	}
	f.n += int64(n)
	if n == len(buf) {
		f.bulk = true
	} else if !r.rdhup[src] {
		// Drained; the peer's FIN, when it comes, raises a new edge.
		r.readable[src] = false
	}
	m := 0
	if r.writable[dst] {
		m, err = write(r.fd[dst], buf[:n])
		switch {
		case err == unix.EAGAIN:
			r.writable[dst] = false
			m = 0
		case err != nil:
			r.fail(d)
			return false
		}
	}
	if m < n {
		f.pending = append(f.pending[:0], buf[m:n]...)
	}
	return true
}

// end: direction d reached its end of file and forwarded everything. The
// first direction to end passes the half-close on (shutdown of the other
// socket's write side, as IPVS forwards a FIN); when the second ends, the
// close of both sockets sends the last FIN. The side that finishes last
// settles the byte counters before its state event, so whoever sees the
// final state also sees final counters.
func (r *relay) end(d int) {
	r.flows[d].ended = true
	last := r.flows[1-d].ended
	if last {
		r.settle()
	}
	// The client closed first: CLOSE_WAIT; the real server: FIN_WAIT.
	r.entry.Event(dirOf(d), conntab.FlagFIN)
	if last {
		r.finish()
		return
	}
	shutdownWrite(r.fd[1-d])
}

// fail: reading or writing direction d failed (a reset, mostly): both
// sockets are reset.
func (r *relay) fail(d int) {
	r.settle()
	r.entry.Event(dirOf(d), conntab.FlagRST)
	r.abort()
}

// abort resets both sockets and ends the relay.
func (r *relay) abort() {
	if r.state == stateDone {
		return
	}
	r.settle()
	for side, fd := range r.fd {
		if fd >= 0 {
			resetFd(fd)
			r.fd[side] = -1
		}
	}
	r.finish()
}

// expired is the entry's expiry callback: an entry that times out takes its
// proxied connection with it, as IPVS would drop the packets of a
// connection it no longer knows. It runs on the table's goroutine.
func (r *relay) expired() {
	r.l.post(func() {
		if r.state != stateDone {
			r.entry.Event(conntab.DirInput, conntab.FlagRST)
			r.abort()
		}
	})
}

// finish closes what is left open, gives back pipes and the slot, and
// forgets the connection. The entry stays in the table in its final state.
func (r *relay) finish() {
	if r.state == stateDone {
		return
	}
	r.settle()
	r.state = stateDone
	for side, fd := range r.fd {
		if fd >= 0 {
			closeFd(fd) // also leaves the epoll set
			r.fd[side] = -1
		}
	}
	for d := range r.flows {
		if f := &r.flows[d]; f.buffered > 0 {
			closePipe(f.pipe) // bytes nobody will read
			f.buffered = 0
		}
	}
	l := r.l
	l.relays[r.slot] = nil
	l.freeSlots = append(l.freeSlots, r.slot)
	// The entry outlives the connection (TIME_WAIT and the like) and must
	// not keep it: nothing is left to abort.
	r.entry.Release()
}

// sample adds what the kernel counted on both sockets since the last
// sample and re-arms the entry's timer when anything moved. Reading
// TCP_INFO does not interfere with splice.
func (r *relay) sample() {
	if r.state == stateDone {
		return
	}
	var inP, outP uint32
	var inB, outB uint64
	// tcpi_bytes_received counts the peer's FIN as one byte (it advances
	// rcv_nxt), so a sample reports one byte less; settle adds the exact
	// payload the relay moved. The counters never go backwards.
	if segs, bytes, ok := tcpInfo(r.fd[sideClient]); ok {
		inP, r.inSegs = segs-r.inSegs, segs
		if bytes > r.inBytes+1 {
			inB, r.inBytes = bytes-1-r.inBytes, bytes-1
		}
	}
	if segs, bytes, ok := tcpInfo(r.fd[sideReal]); ok {
		outP, r.outSegs = segs-r.outSegs, segs
		if bytes > r.outBytes+1 {
			outB, r.outBytes = bytes-1-r.outBytes, bytes-1
		}
	}
	if inP|outP == 0 && inB|outB == 0 {
		return
	}
	r.add(inP, inB, outP, outB)
	r.entry.Touch()
}

func (r *relay) add(inP uint32, inB uint64, outP uint32, outB uint64) {
	r.svc.stats.AddIn(uint64(inP), inB)
	r.svc.stats.AddOut(uint64(outP), outB)
	r.dest.stats.AddIn(uint64(inP), inB)
	r.dest.stats.AddOut(uint64(outP), outB)
}

// settle takes a last sample and tops the byte counters up to what the
// relay moved; only the first call does anything.
func (r *relay) settle() {
	if r.settled {
		return
	}
	r.sample()
	r.settled = true
	var inB, outB uint64
	if n := uint64(r.flows[sideClient].n); n > r.inBytes {
		inB, r.inBytes = n-r.inBytes, n
	}
	if n := uint64(r.flows[sideReal].n); n > r.outBytes {
		outB, r.outBytes = n-r.outBytes, n
	}
	r.add(0, inB, 0, outB)
}
