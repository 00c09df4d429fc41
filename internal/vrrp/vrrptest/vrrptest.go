// Package vrrptest has in-memory doubles for the VRRP engine's outside
// world: a LAN that carries adverts between Nodes (a vrrp.Transport per
// host), a recording vrrp.Effects, and a scripted vrrp.ScriptRunner. They
// use only channels and mutexes, so Nodes built on them run inside a
// testing/synctest bubble with a fake clock.
package vrrptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// Frame is one advert seen on the LAN.
type Frame struct {
	Time time.Time
	vrrp.Packet
}

// LAN is one broadcast segment.
type LAN struct {
	mu     sync.Mutex
	hosts  []*Host
	frames []Frame
	// drop, when set, decides whether a packet from src to the host with
	// local address to is lost (partitions).
	drop func(src, to netip.Addr) bool
}

// NewLAN returns an empty segment.
func NewLAN() *LAN { return &LAN{} }

// Host is a machine on the LAN with one address per family; it is the
// vrrp.Transport of that machine's Node.
type Host struct {
	lan    *LAN
	Addr4  netip.Addr
	Addr6  netip.Addr
	mu     sync.Mutex
	linkUp bool
	conns  []*conn
}

// Host adds a machine with addresses a (IPv4 and/or IPv6 link-local).
func (l *LAN) Host(addrs ...string) *Host {
	h := &Host{lan: l, linkUp: true}
	for _, s := range addrs {
		a := netip.MustParseAddr(s)
		if a.Is4() {
			h.Addr4 = a
		} else {
			h.Addr6 = a
		}
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	return h
}

// SetLink cuts (false) or restores (true) the host's cable: nothing is
// sent or received while it is cut.
func (h *Host) SetLink(up bool) {
	h.mu.Lock()
	h.linkUp = up
	h.mu.Unlock()
}

func (h *Host) up() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.linkUp
}

// Partition makes packets between the two groups of hosts disappear;
// Heal undoes it.
func (l *LAN) Partition(a, b []*Host) {
	in := func(hs []*Host, addr netip.Addr) bool {
		return slices.ContainsFunc(hs, func(h *Host) bool { return h.Addr4 == addr || h.Addr6 == addr })
	}
	l.mu.Lock()
	l.drop = func(src, to netip.Addr) bool {
		return (in(a, src) && in(b, to)) || (in(b, src) && in(a, to))
	}
	l.mu.Unlock()
}

// Heal ends a partition.
func (l *LAN) Heal() {
	l.mu.Lock()
	l.drop = nil
	l.mu.Unlock()
}

// Frames returns every advert sent so far.
func (l *LAN) Frames() []Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.frames)
}

// Inject delivers a packet as if some host had sent it (spoofing tests);
// p.TTL is delivered as is.
func (l *LAN) Inject(p vrrp.Packet) {
	l.deliver(nil, p)
}

func (l *LAN) deliver(from *conn, p vrrp.Packet) {
	l.mu.Lock()
	l.frames = append(l.frames, Frame{Time: time.Now(), Packet: p})
	drop := l.drop
	var targets []*conn
	for _, h := range l.hosts {
		if from != nil && h == from.host {
			continue
		}
		if !h.up() {
			continue
		}
		h.mu.Lock()
		for _, c := range h.conns {
			if c.cfg.IPv6 != (p.Src.Is6() && !p.Src.Is4In6()) {
				continue
			}
			multicast := p.Dst == vrrp.Group4 || p.Dst == vrrp.Group6
			if (multicast && !c.cfg.Unicast) || p.Dst == c.local {
				if drop == nil || !drop(p.Src, c.local) {
					targets = append(targets, c)
				}
			}
		}
		h.mu.Unlock()
	}
	l.mu.Unlock()
	for _, c := range targets {
		q := p
		q.Payload = slices.Clone(p.Payload)
		select {
		case c.in <- q:
		case <-c.closed:
		default: // a full receive queue drops, as a socket buffer would
		}
	}
}

// Open implements vrrp.Transport.
func (h *Host) Open(ctx context.Context, cfg vrrp.ConnConfig) (vrrp.Conn, error) {
	local := cfg.Src
	if !local.IsValid() {
		local = h.Addr4
		if cfg.IPv6 {
			local = h.Addr6
		}
	}
	if !local.IsValid() {
		return nil, fmt.Errorf("vrrptest: host has no address for %s", cfg.Interface)
	}
	c := &conn{host: h, cfg: cfg, local: local, in: make(chan vrrp.Packet, 64), closed: make(chan struct{})}
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	return c, nil
}

type conn struct {
	host   *Host
	cfg    vrrp.ConnConfig
	local  netip.Addr
	in     chan vrrp.Packet
	once   sync.Once
	closed chan struct{}
}

func (c *conn) Send(msg []byte, dst netip.Addr) error {
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	if !c.host.up() {
		return errors.New("vrrptest: link down")
	}
	c.host.lan.deliver(c, vrrp.Packet{Src: c.local, Dst: dst, TTL: vrrp.TTL, Payload: slices.Clone(msg)})
	return nil
}

func (c *conn) Recv() (vrrp.Packet, error) {
	select {
	case p := <-c.in:
		return p, nil
	case <-c.closed:
		return vrrp.Packet{}, net.ErrClosed
	}
}

func (c *conn) LocalAddr() netip.Addr { return c.local }

func (c *conn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		h := c.host
		h.mu.Lock()
		h.conns = slices.DeleteFunc(h.conns, func(x *conn) bool { return x == c })
		h.mu.Unlock()
	})
	return nil
}

// Recorder is a vrrp.Effects that records what it is asked to do and
// keeps the resulting set of addresses. Links are up unless SetLink says
// otherwise.
type Recorder struct {
	mu    sync.Mutex
	calls []string
	addrs map[netip.Prefix]string // prefix -> link
	down  map[string]bool
	vmacs map[string]bool
	ann   map[netip.Addr]int
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{addrs: map[netip.Prefix]string{}, down: map[string]bool{}, vmacs: map[string]bool{}, ann: map[netip.Addr]int{}}
}

func (r *Recorder) log(format string, args ...any) {
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

// AddAddress implements vrrp.Effects.
func (r *Recorder) AddAddress(_ context.Context, a vrrp.Address) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("add %s dev %s label %s", a.Prefix, a.Link, a.Label)
	r.addrs[a.Prefix] = a.Link
	return nil
}

// DelAddress implements vrrp.Effects.
func (r *Recorder) DelAddress(_ context.Context, a vrrp.Address) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.addrs[a.Prefix]; ok {
		r.log("del %s dev %s", a.Prefix, a.Link)
		delete(r.addrs, a.Prefix)
	}
	return nil
}

// AddRoute implements vrrp.Effects.
func (r *Recorder) AddRoute(_ context.Context, rt vrrp.Route) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("route add %s", rt.Original)
	return nil
}

// DelRoute implements vrrp.Effects.
func (r *Recorder) DelRoute(_ context.Context, rt vrrp.Route) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log("route del %s", rt.Original)
	return nil
}

// Announce implements vrrp.Effects.
func (r *Recorder) Announce(_ context.Context, link string, addrs []netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range addrs {
		r.ann[a]++
	}
	r.log("announce %s %v", link, addrs)
	return nil
}

// AddVMAC implements vrrp.Effects.
func (r *Recorder) AddVMAC(_ context.Context, v vrrp.VMAC) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vmacs[v.Name] = true
	r.log("vmac add %s on %s mac %s", v.Name, v.Parent, net.HardwareAddr(v.MAC[:]))
	return nil
}

// DelVMAC implements vrrp.Effects.
func (r *Recorder) DelVMAC(_ context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vmacs[name] {
		delete(r.vmacs, name)
		r.log("vmac del %s", name)
	}
	return nil
}

// LinkUp implements vrrp.Effects.
func (r *Recorder) LinkUp(name string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.down[name], nil
}

// SetLink sets the state LinkUp reports for name.
func (r *Recorder) SetLink(name string, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down[name] = !up
}

// Addresses returns the addresses currently set, sorted.
func (r *Recorder) Addresses() []netip.Prefix {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]netip.Prefix, 0, len(r.addrs))
	for p := range r.addrs {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// Announced returns how many announcements addr got.
func (r *Recorder) Announced(addr netip.Addr) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ann[addr]
}

// Calls returns the log of calls, one line each.
func (r *Recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// VMACs returns the VMAC interfaces that exist.
func (r *Recorder) VMACs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.vmacs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Scripts is a vrrp.ScriptRunner whose scripts succeed or fail as told:
// a command's result is the next of its queued results, then its
// default (success unless SetFailing).
type Scripts struct {
	mu      sync.Mutex
	queue   map[string][]bool
	failing map[string]bool
	runs    map[string]int
}

// NewScripts returns a runner where every script succeeds.
func NewScripts() *Scripts {
	return &Scripts{queue: map[string][]bool{}, failing: map[string]bool{}, runs: map[string]int{}}
}

// Queue appends results for command (true = exit 0).
func (s *Scripts) Queue(command string, results ...bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue[command] = append(s.queue[command], results...)
}

// SetFailing sets the default result of command.
func (s *Scripts) SetFailing(command string, failing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[command] = failing
}

// Runs counts the runs of command.
func (s *Scripts) Runs(command string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[command]
}

// RunScript implements vrrp.ScriptRunner.
func (s *Scripts) RunScript(ctx context.Context, sc *config.Script, args []string, timeout time.Duration) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := strings.TrimSpace(sc.Command)
	s.runs[cmd]++
	ok := !s.failing[cmd]
	if q := s.queue[cmd]; len(q) > 0 {
		ok, s.queue[cmd] = q[0], q[1:]
	}
	if ok {
		return 0, nil
	}
	return 1, nil
}
