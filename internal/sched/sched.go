package sched

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Service flags relevant to scheduling (include/uapi/linux/ip_vs.h).
const (
	FlagSched1 uint32 = 0x0008 // IP_VS_SVC_F_SCHED1: sh-fallback, mh-fallback
	FlagSched2 uint32 = 0x0010 // IP_VS_SVC_F_SCHED2: sh-port, mh-port
	FlagSched3 uint32 = 0x0020 // IP_VS_SVC_F_SCHED3
)

// Key describes the packet that opens a new connection: what the
// hashing schedulers (dh, sh, mh, lblc, lblcr) look at. Addresses of an IPv4
// service should be plain IPv4 (not IPv4-mapped IPv6): the hashes fold
// 16-byte addresses the way the kernel folds AF_INET6 ones.
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
// destination list (rr, wrr, dh, sh, mh): it is called after every add,
// delete or edit of a dest (the kernel's add_dest/del_dest/upd_dest hooks)
// with the new list in kernel order, and once right after creation (the
// kernel's init_service). Such schedulers pick from the list they were last
// given, not from the one passed to Schedule, so that a pick never mixes two
// generations of the list. Callers that use a scheduler without Service must
// call DestsChanged on every change; before the first call the scheduler
// initialises itself from the list passed to Schedule.
type DestsChanger interface {
	DestsChanged(dests []*Dest)
}

// destLimiter is implemented by schedulers that cannot hold more than a
// number of dests (mh: ip_vs_mh_reassign fails with EINVAL past its table
// size).
type destLimiter interface {
	maxDests() int
}

// flagsSetter is implemented by schedulers that read service flags at
// schedule time (sh, mh): ip_vs_edit_service changes svc->flags without
// re-initialising a scheduler that stays the same.
type flagsSetter interface {
	setFlags(flags uint32)
}

// Factory builds a scheduler for a service with the given service flags.
type Factory func(flags uint32, opt Options) Scheduler

// Options carries injectable dependencies of schedulers.
type Options struct {
	// Rand, if set, is the random source of "twos" (returns a value in [0, n)).
	// The default is a math/rand/v2 PCG private to the scheduler.
	Rand func(n uint32) uint32
	// Now, if set, is the clock of "lblc" and "lblcr" (cache expiry and
	// garbage collection). The default is time.Now.
	Now func() time.Time
	// Expiration is how long an unused lblc/lblcr cache entry is kept by the
	// full check, and how long an lblcr server set must stay unmodified before
	// its busiest member is dropped: the sysctls lblc_expiration and
	// lblcr_expiration (ipvs-sysctl.rst). Zero means the kernel default, 24 h.
	Expiration time.Duration
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
		return nil, fmt.Errorf("%w %q", ErrUnknownScheduler, name)
	}
	return f(flags, opt), nil
}

// Errors returned by Service, mirroring the kernel's errno for ipvsadm.
var (
	ErrDestExists       = errors.New("destination already exists")                     // EEXIST
	ErrNoSuchDest       = errors.New("no such destination")                            // ENOENT
	ErrBadWeight        = errors.New("weight out of range")                            // ERANGE (ip_vs_add_dest, ip_vs_edit_dest)
	ErrBadThreshold     = errors.New("lower threshold is higher than upper threshold") // ERANGE
	ErrTooManyDests     = errors.New("too many destinations")                          // EINVAL (mh)
	ErrUnknownScheduler = errors.New("unknown scheduler")                              // ENOENT (ip_vs_scheduler_get)
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
	// counters, like the kernel's dest trash (ip_vs_trash_get_dest). Dests
	// with nothing bound to them are dropped from it, as the kernel frees
	// trash entries whose only reference is the trash.
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

// SetScheduler sets the scheduler and service flags (ipvsadm -E). A different
// scheduler starts from its initial state, as the kernel's init_service does;
// naming the current scheduler again only changes the flags and keeps its
// state (cursor, tables, caches), like ip_vs_edit_service.
func (s *Service) SetScheduler(name string, flags uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.sched.Load(); b != nil && b.s.Name() == name {
		s.flags = flags
		if f, ok := b.s.(flagsSetter); ok {
			f.setFlags(flags)
		}
		return nil
	}
	sc, err := New(name, flags, s.opt)
	if err != nil {
		return err
	}
	cur := s.Dests()
	if l, ok := sc.(destLimiter); ok && len(cur) > l.maxDests() {
		return fmt.Errorf("scheduler %s with %d destinations: %w", name, len(cur), ErrTooManyDests)
	}
	s.flags = flags
	if c, ok := sc.(DestsChanger); ok {
		c.DestsChanged(cur)
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

// checkDest validates weight and thresholds as ip_vs_add_dest and
// ip_vs_edit_dest do before touching anything.
func checkDest(weight int32, upper, lower uint32) error {
	if weight < 0 {
		return ErrBadWeight
	}
	if lower > upper {
		return ErrBadThreshold
	}
	return nil
}

// AddDest inserts a dest at the head of the list, as __ip_vs_update_dest's
// list_add_rcu does, so the most recently added dest comes first.
func (s *Service) AddDest(a netip.AddrPort, weight int32, upper, lower uint32) (*Dest, error) {
	if err := checkDest(weight, upper, lower); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.Dests()
	for _, d := range old {
		if d.Addr == a {
			return nil, ErrDestExists
		}
	}
	if l, ok := s.sched.Load().s.(destLimiter); ok && len(old)+1 > l.maxDests() {
		return nil, fmt.Errorf("scheduler %s holds at most %d destinations: %w",
			s.sched.Load().s.Name(), l.maxDests(), ErrTooManyDests)
	}
	d := s.trash[a]
	if d != nil {
		delete(s.trash, a)
	} else {
		d = &Dest{Addr: a}
	}
	d.set(weight, upper, lower, true)
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
	if err := checkDest(weight, upper, lower); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.Dests()
	for _, d := range cur {
		if d.Addr == a {
			d.set(weight, upper, lower, false)
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
			s.pruneTrash()
			s.trash[a] = d
			s.publish(n)
			return nil
		}
	}
	return ErrNoSuchDest
}

// pruneTrash forgets removed dests that nothing is bound to any more (the
// kernel's ip_vs_dest_trash_expire frees those), so the trash stays bounded
// by the dests that still carry connections. Called with s.mu held.
func (s *Service) pruneTrash() {
	for a, d := range s.trash {
		if d.idle() {
			delete(s.trash, a)
		}
	}
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
