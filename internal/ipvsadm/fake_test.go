package ipvsadm

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

// fakeAdmin is a map-backed api.Admin with the kernel's semantics as the
// engine reports them: services in insertion order, reals newest first
// (list_add_rcu at the head in ip_vs_ctl.c), and the admin API's codes for
// the kernel's errnos.
type fakeAdmin struct {
	mu       sync.Mutex
	info     api.Info
	svcs     []api.Service
	conns    []api.Conn
	timeouts api.Timeouts
	// failInfo makes Info fail, as when no daemon runs.
	failInfo error
	calls    []string
}

var _ api.Admin = (*fakeAdmin)(nil)

func newFake() *fakeAdmin {
	return &fakeAdmin{
		info:     api.Info{IPVSVersion: "1.2.1", ConnTabSize: 4096, DataPlane: "proxy"},
		timeouts: api.Timeouts{TCP: 900, TCPFin: 120, UDP: 300},
	}
}

// knownScheds are ipvsadm's SCHEDULERS.
var knownScheds = strings.Split("rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh", "|")

func (f *fakeAdmin) find(k api.ServiceKey) int {
	for i := range f.svcs {
		if f.svcs[i].ServiceKey == k {
			return i
		}
	}
	return -1
}

func (f *fakeAdmin) Info(context.Context) (api.Info, error) {
	if f.failInfo != nil {
		return api.Info{}, f.failInfo
	}
	return f.info, nil
}

func (f *fakeAdmin) Services(context.Context) ([]api.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]api.Service, len(f.svcs))
	for i, s := range f.svcs {
		s.Reals = slices.Clone(s.Reals)
		s.SchedFlags = slices.Clone(s.SchedFlags)
		out[i] = s
	}
	return out, nil
}

func (f *fakeAdmin) Conns(context.Context) ([]api.Conn, error) { return slices.Clone(f.conns), nil }

func (f *fakeAdmin) record(s string) { f.calls = append(f.calls, s) }

func (f *fakeAdmin) checkService(s api.Service) error {
	if !slices.Contains(knownScheds, s.Scheduler) {
		// The kernel answers ENOENT for an unknown scheduler.
		return api.Errorf(api.CodeNoDest, "scheduler %q not found", s.Scheduler)
	}
	return nil
}

func (f *fakeAdmin) AddService(_ context.Context, s api.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("AddService " + s.Address)
	if f.find(s.ServiceKey) >= 0 {
		return api.Errorf(api.CodeServiceExists, "service exists")
	}
	if err := f.checkService(s); err != nil {
		return err
	}
	s.Reals = nil
	f.svcs = append(f.svcs, s)
	return nil
}

func (f *fakeAdmin) EditService(_ context.Context, s api.Service) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(s.ServiceKey)
	if i < 0 {
		return api.Errorf(api.CodeNoService, "no such service")
	}
	if err := f.checkService(s); err != nil {
		return err
	}
	s.Reals, s.Stats, s.Rates = f.svcs[i].Reals, f.svcs[i].Stats, f.svcs[i].Rates
	f.svcs[i] = s
	return nil
}

func (f *fakeAdmin) DeleteService(_ context.Context, k api.ServiceKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.find(k)
	if i < 0 {
		return api.Errorf(api.CodeNoService, "no such service")
	}
	f.svcs = slices.Delete(f.svcs, i, i+1)
	return nil
}

func (f *fakeAdmin) Clear(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.svcs = nil
	return nil
}

func sameAddr(a, b string) bool {
	x, err1 := netip.ParseAddrPort(a)
	y, err2 := netip.ParseAddrPort(b)
	return err1 == nil && err2 == nil && x == y
}

func (f *fakeAdmin) real(k api.ServiceKey, addr string) (int, int, error) {
	i := f.find(k)
	if i < 0 {
		return -1, -1, api.Errorf(api.CodeNoService, "no such service")
	}
	for j, r := range f.svcs[i].Reals {
		if sameAddr(r.Address, addr) {
			return i, j, nil
		}
	}
	return i, -1, nil
}

func withDefaults(r api.Real) api.Real {
	if r.Forward == "" {
		r.Forward = "Masq" // the proxy data plane's default
	}
	return r
}

func (f *fakeAdmin) AddReal(_ context.Context, k api.ServiceKey, r api.Real) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, j, err := f.real(k, r.Address)
	if err != nil {
		return err
	}
	if j >= 0 {
		return api.Errorf(api.CodeDestExists, "dest exists")
	}
	f.svcs[i].Reals = slices.Insert(f.svcs[i].Reals, 0, withDefaults(r))
	return nil
}

func (f *fakeAdmin) EditReal(_ context.Context, k api.ServiceKey, r api.Real) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, j, err := f.real(k, r.Address)
	if err != nil {
		return err
	}
	if j < 0 {
		return api.Errorf(api.CodeNoDest, "no such dest")
	}
	old := f.svcs[i].Reals[j]
	r = withDefaults(r)
	old.Forward, old.Weight, old.UpperThreshold, old.LowerThreshold = r.Forward, r.Weight, r.UpperThreshold, r.LowerThreshold
	f.svcs[i].Reals[j] = old
	return nil
}

func (f *fakeAdmin) DeleteReal(_ context.Context, k api.ServiceKey, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, j, err := f.real(k, addr)
	if err != nil {
		return err
	}
	if j < 0 {
		return api.Errorf(api.CodeNoDest, "no such dest")
	}
	f.svcs[i].Reals = slices.Delete(f.svcs[i].Reals, j, j+1)
	return nil
}

func (f *fakeAdmin) Zero(_ context.Context, k *api.ServiceKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	zero := func(s *api.Service) {
		s.Stats, s.Rates = api.Stats{}, api.Rates{}
		for j := range s.Reals {
			s.Reals[j].Stats, s.Reals[j].Rates = api.Stats{}, api.Rates{}
		}
	}
	if k == nil {
		for i := range f.svcs {
			zero(&f.svcs[i])
		}
		return nil
	}
	i := f.find(*k)
	if i < 0 {
		return api.Errorf(api.CodeNoService, "no such service")
	}
	zero(&f.svcs[i])
	return nil
}

func (f *fakeAdmin) Timeouts(context.Context) (api.Timeouts, error) { return f.timeouts, nil }

func (f *fakeAdmin) SetTimeouts(_ context.Context, t api.Timeouts) error {
	if t.TCP > 0 {
		f.timeouts.TCP = t.TCP
	}
	if t.TCPFin > 0 {
		f.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP > 0 {
		f.timeouts.UDP = t.UDP
	}
	return nil
}

func (f *fakeAdmin) Reload(context.Context) error { return nil }
