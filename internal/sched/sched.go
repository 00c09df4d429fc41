// Package sched implements every Linux IPVS scheduler with the kernel's exact
// semantics (net/netfilter/ipvs/ip_vs_*.c): destination list order, tie
// breaks, weight 0 quiescence, overload thresholds and the per-scheduler
// state kept across destination changes. It is pure: no I/O, no clock; the
// data planes (userspace proxy, XDP) feed it connection counts through Dest.
package sched

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
)

// Service flags relevant to scheduling (include/uapi/linux/ip_vs.h).
const (
	FlagSched1 uint32 = 0x0008 // IP_VS_SVC_F_SCHED1: sh-fallback, mh-fallback
	FlagSched2 uint32 = 0x0010 // IP_VS_SVC_F_SCHED2: sh-port, mh-port
	FlagSched3 uint32 = 0x0020 // IP_VS_SVC_F_SCHED3
)

// Key describes the packet that opens a new connection: what the
// hashing schedulers (dh, sh, mh, lblc, lblcr) look at.
type Key struct {
	Src     netip.Addr
	SrcPort uint16
	Dst     netip.Addr
	DstPort uint16
}

// Scheduler picks a destination for a new connection. Implementations keep
// their own state (cursor, tables) and must be safe for concurrent Schedule
// calls.
type Scheduler interface {
	// Name is the ipvsadm name, e.g. "wlc".
	Name() string
	// Schedule returns the chosen dest, or nil when none is available
	// (the kernel then answers ICMP port unreachable).
	Schedule(dests []*Dest, k *Key) *Dest
}

// DestsChanger is implemented by schedulers that keep state derived from the
// destination list (wrr, dh, sh, mh): it is called after every add, delete or
// edit of a dest (the kernel's add_dest/del_dest/upd_dest hooks) with the new
// list in kernel order.
type DestsChanger interface {
	DestsChanged(dests []*Dest)
}

// Factory builds a scheduler for a service with the given service flags.
type Factory func(flags uint32, opt Options) Scheduler

// Options carries injectable dependencies of schedulers.
type Options struct {
	// Rand, if set, is the random source of "twos" (returns a value in [0, n)).
	Rand func(n uint32) uint32
}

var registry = map[string]Factory{}

// register is called from each scheduler file's init; the registry is
// written only during package initialisation.
func register(name string, f Factory) { registry[name] = f }

// Names lists the available schedulers, sorted.
func Names() []string {
	n := make([]string, 0, len(registry))
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Known reports whether name is a scheduler.
func Known(name string) bool { _, ok := registry[name]; return ok }

// New builds the named scheduler.
func New(name string, flags uint32, opt Options) (Scheduler, error) {
	f, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown scheduler %q", name)
	}
	return f(flags, opt), nil
}

// Errors returned by Service, mirroring the kernel's errno for ipvsadm.
var (
	ErrDestExists   = errors.New("destination already exists") // EEXIST
	ErrNoSuchDest   = errors.New("no such destination")        // ENOENT
	ErrBadWeight    = errors.New("weight out of range")        // EINVAL
	ErrTooManyDests = errors.New("too many destinations")      // EINVAL (mh)
)

// Service is a virtual service's scheduling state: its destination list in
// kernel order (newest first) and its scheduler. Mutations are serialised by
// an internal lock; Schedule reads an immutable snapshot of the list.
type Service struct {
	mu    sync.Mutex
	dests atomic.Pointer[[]*Dest]
	sched atomic.Pointer[schedBox]
	flags uint32
	opt   Options
	// trash keeps removed dests so that re-adding one revives it with its
	// counters, like the kernel's dest trash (ip_vs_trash_get_dest).
	trash map[netip.AddrPort]*Dest
}

type schedBox struct{ s Scheduler }

// NewService returns a service using the named scheduler.
func NewService(scheduler string, flags uint32, opt Options) (*Service, error) {
	s := &Service{flags: flags, opt: opt, trash: map[netip.AddrPort]*Dest{}}
	empty := []*Dest{}
	s.dests.Store(&empty)
	if err := s.SetScheduler(scheduler, flags); err != nil {
		return nil, err
	}
	return s, nil
}

// SetScheduler replaces the scheduler (ipvsadm -E): the new one starts from
// its initial state, as the kernel's init_service does.
func (s *Service) SetScheduler(name string, flags uint32) error {
	sc, err := New(name, flags, s.opt)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flags = flags
	if c, ok := sc.(DestsChanger); ok {
		c.DestsChanged(s.Dests())
	}
	s.sched.Store(&schedBox{sc})
	return nil
}

// Scheduler returns the current scheduler.
func (s *Service) Scheduler() Scheduler { return s.sched.Load().s }

// Flags returns the service flags given to the scheduler.
func (s *Service) Flags() uint32 { s.mu.Lock(); defer s.mu.Unlock(); return s.flags }

// Dests returns the destination list in kernel order. The slice must not be
// modified.
func (s *Service) Dests() []*Dest { return *s.dests.Load() }

// Dest returns the dest with address a, or nil.
func (s *Service) Dest(a netip.AddrPort) *Dest {
	for _, d := range s.Dests() {
		if d.Addr == a {
			return d
		}
	}
	return nil
}

// AddDest inserts a dest at the head of the list, as __ip_vs_update_dest's
// list_add_rcu does, so the most recently added dest comes first.
func (s *Service) AddDest(a netip.AddrPort, weight int32, upper, lower uint32) (*Dest, error) {
	if weight < 0 {
		return nil, ErrBadWeight
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.Dests()
	for _, d := range old {
		if d.Addr == a {
			return nil, ErrDestExists
		}
	}
	d := s.trash[a]
	if d != nil {
		delete(s.trash, a)
	} else {
		d = &Dest{Addr: a}
	}
	d.set(weight, upper, lower)
	d.setFlag(DestAvailable)
	n := make([]*Dest, 0, len(old)+1)
	n = append(n, d)
	n = append(n, old...)
	s.publish(n)
	return d, nil
}

// EditDest changes weight and thresholds of an existing dest in place; its
// position in the list is kept.
func (s *Service) EditDest(a netip.AddrPort, weight int32, upper, lower uint32) error {
	if weight < 0 {
		return ErrBadWeight
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.Dests()
	for _, d := range cur {
		if d.Addr == a {
			d.set(weight, upper, lower)
			s.publish(append([]*Dest(nil), cur...))
			return nil
		}
	}
	return ErrNoSuchDest
}

// DelDest removes a dest; connections bound to it keep their *Dest.
func (s *Service) DelDest(a netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.Dests()
	for i, d := range cur {
		if d.Addr == a {
			n := make([]*Dest, 0, len(cur)-1)
			n = append(n, cur[:i]...)
			n = append(n, cur[i+1:]...)
			d.clearFlag(DestAvailable)
			s.trash[a] = d
			s.publish(n)
			return nil
		}
	}
	return ErrNoSuchDest
}

// publish installs a new list and lets the scheduler rebuild derived state.
// Called with s.mu held.
func (s *Service) publish(n []*Dest) {
	if b := s.sched.Load(); b != nil {
		if c, ok := b.s.(DestsChanger); ok {
			c.DestsChanged(n)
		}
	}
	s.dests.Store(&n)
}

// Schedule picks a dest for a new connection, or nil.
func (s *Service) Schedule(k *Key) *Dest {
	return s.sched.Load().s.Schedule(s.Dests(), k)
}
