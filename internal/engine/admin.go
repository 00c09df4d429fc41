package engine

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/api"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/health"
	"github.com/fulcrumlb/fulcrum/internal/l4"
	"github.com/fulcrumlb/fulcrum/internal/l7"
	"github.com/fulcrumlb/fulcrum/internal/sched"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// The admin operations translate ipvsadm-style requests into changes of the
// one config model and apply them like any other config change. Changes made
// this way live until the next file reload, as with ipvsadm under keepalived.

func (e *Engine) AddService(ctx context.Context, s api.Service) error {
	svc, err := serviceFromAPI(s)
	if err != nil {
		return err
	}
	return e.mutate(ctx, func(c *config.Config) error {
		if c.Find(svc.ServiceKey) >= 0 {
			return api.Errorf(api.CodeServiceExists, "service %s already exists", svc.ServiceKey)
		}
		svc.Reals = nil
		c.Services = append(c.Services, svc)
		return nil
	})
}

func (e *Engine) EditService(ctx context.Context, s api.Service) error {
	svc, err := serviceFromAPI(s)
	if err != nil {
		return err
	}
	return e.mutate(ctx, func(c *config.Config) error {
		i := c.Find(svc.ServiceKey)
		if i < 0 {
			return api.Errorf(api.CodeNoService, "no such service %s", svc.ServiceKey)
		}
		svc.Reals = c.Services[i].Reals
		c.Services[i] = svc
		return nil
	})
}

func (e *Engine) DeleteService(ctx context.Context, k api.ServiceKey) error {
	key, err := keyFromAPI(k)
	if err != nil {
		return err
	}
	return e.mutate(ctx, func(c *config.Config) error {
		i := c.Find(key)
		if i < 0 {
			return api.Errorf(api.CodeNoService, "no such service %s", key)
		}
		c.Services = slices.Delete(c.Services, i, i+1)
		return nil
	})
}

func (e *Engine) Clear(ctx context.Context) error {
	return e.mutate(ctx, func(c *config.Config) error {
		c.Services = nil
		return nil
	})
}

func (e *Engine) AddReal(ctx context.Context, k api.ServiceKey, r api.Real) error {
	return e.withReal(ctx, k, r, func(s *config.Service, i int, real config.Real) error {
		if i >= 0 {
			return api.Errorf(api.CodeDestExists, "destination %s already exists in %s", real.Address, s.ServiceKey)
		}
		s.Reals = append(s.Reals, real)
		return nil
	})
}

func (e *Engine) EditReal(ctx context.Context, k api.ServiceKey, r api.Real) error {
	return e.withReal(ctx, k, r, func(s *config.Service, i int, real config.Real) error {
		if i < 0 {
			return api.Errorf(api.CodeNoDest, "no such destination %s in %s", real.Address, s.ServiceKey)
		}
		s.Reals[i] = real
		return nil
	})
}

func (e *Engine) DeleteReal(ctx context.Context, k api.ServiceKey, address string) error {
	return e.withReal(ctx, k, api.Real{Address: address}, func(s *config.Service, i int, real config.Real) error {
		if i < 0 {
			return api.Errorf(api.CodeNoDest, "no such destination %s in %s", real.Address, s.ServiceKey)
		}
		s.Reals = slices.Delete(s.Reals, i, i+1)
		return nil
	})
}

func (e *Engine) withReal(ctx context.Context, k api.ServiceKey, r api.Real, fn func(s *config.Service, i int, real config.Real) error) error {
	key, err := keyFromAPI(k)
	if err != nil {
		return err
	}
	real, err := realFromAPI(r)
	if err != nil {
		return err
	}
	return e.mutate(ctx, func(c *config.Config) error {
		si := c.Find(key)
		if si < 0 {
			return api.Errorf(api.CodeNoService, "no such service %s", key)
		}
		s := &c.Services[si]
		return fn(s, s.FindReal(real.Address), real)
	})
}

func (e *Engine) Zero(ctx context.Context, k *api.ServiceKey) error {
	if k == nil {
		e.planes.zero(nil)
		return nil
	}
	key, err := keyFromAPI(*k)
	if err != nil {
		return err
	}
	if e.cur.Load().Find(key) < 0 {
		return api.Errorf(api.CodeNoService, "no such service %s", key)
	}
	e.planes.zero(&key)
	return nil
}

func (e *Engine) Timeouts(ctx context.Context) (api.Timeouts, error) {
	t := e.cur.Load().Timeouts
	return api.Timeouts{TCP: secs(t.TCP), TCPFin: secs(t.TCPFin), UDP: secs(t.UDP)}, nil
}

// SetTimeouts is ipvsadm --set: a zero value keeps the current timeout.
func (e *Engine) SetTimeouts(ctx context.Context, t api.Timeouts) error {
	if t.TCP < 0 || t.TCPFin < 0 || t.UDP < 0 {
		return api.Errorf(api.CodeInvalid, "timeouts must not be negative")
	}
	return e.mutate(ctx, func(c *config.Config) error {
		set := func(d *time.Duration, v int) {
			if v > 0 {
				*d = time.Duration(v) * time.Second
			}
		}
		set(&c.Timeouts.TCP, t.TCP)
		set(&c.Timeouts.TCPFin, t.TCPFin)
		set(&c.Timeouts.UDP, t.UDP)
		return nil
	})
}

func secs(d time.Duration) int { return int(d / time.Second) }

// Services implements api.Admin: the published config joined with the data
// plane's live counters. Reals are in the data plane's list order.
func (e *Engine) Services(ctx context.Context) ([]api.Service, error) {
	cfg := e.cur.Load()
	status := map[config.ServiceKey]l4.ServiceStatus{}
	for _, st := range e.planes.status() {
		status[st.Key] = st
	}
	healthOf := map[config.ServiceKey]*health.ServiceStatus{}
	for _, h := range e.health.Status() {
		healthOf[h.Service] = &h
	}
	out := make([]api.Service, 0, len(cfg.Services))
	for _, s := range cfg.Services {
		a := serviceToAPI(s)
		a.Health = healthOf[s.ServiceKey]
		st, ok := status[s.ServiceKey]
		if !ok {
			out = append(out, a)
			continue
		}
		a.Stats = api.Stats(st.Stats)
		a.Rates = api.Rates(st.Rates)
		a.Reals = a.Reals[:0]
		for _, d := range st.Dests {
			r := api.Real{
				Address:      d.Addr.String(),
				Weight:       d.Weight,
				ActiveConns:  uint32(max(d.ActiveConns, 0)),
				InactConns:   uint32(max(d.InactConns, 0)),
				PersistConns: uint32(max(d.PersistConns, 0)),
				Overloaded:   d.Overloaded,
				Stats:        api.Stats(d.Stats),
				Rates:        api.Rates(d.Rates),
				Forward:      "Masq",
			}
			if i := s.FindReal(d.Addr); i >= 0 {
				cr := s.Reals[i]
				// What really happens: the proxy only forwards as NAT.
				if e.planes.onKernel(s.ServiceKey) || cfg.DataPlane != config.DataPlaneAuto {
					r.Forward = forwardName(cr.Forward)
				}
				r.UpperThreshold, r.LowerThreshold = cr.UpperThreshold, cr.LowerThreshold
			}
			a.Reals = append(a.Reals, r)
		}
		out = append(out, a)
	}
	return out, nil
}

// HTTP implements api.StatusReader.
func (e *Engine) HTTP(ctx context.Context) (l7.Status, error) { return e.proxy.Status(), nil }

// VRRP implements api.StatusReader.
func (e *Engine) VRRP(ctx context.Context) ([]vrrp.InstanceStatus, error) {
	return e.vrrp.Status(), nil
}

// Conns implements api.Admin.
func (e *Engine) Conns(ctx context.Context) ([]api.Conn, error) {
	cs := e.planes.conns()
	out := make([]api.Conn, 0, len(cs))
	for _, c := range cs {
		p := strings.ToUpper(string(c.Protocol))
		if p == "" {
			p = "IP"
		}
		out = append(out, api.Conn{
			Protocol:  p,
			Client:    c.Client.String(),
			Virtual:   c.Virtual.String(),
			Dest:      c.Dest.String(),
			State:     c.State,
			ExpiresMs: c.Expires.Milliseconds(),
			Template:  c.Template,
		})
	}
	return out, nil
}

func forwardName(f config.Forward) string {
	switch f {
	case config.Route:
		return "Route"
	case config.Tunnel:
		return "Tunnel"
	}
	return "Masq"
}

func keyFromAPI(k api.ServiceKey) (config.ServiceKey, error) {
	if k.FWMark != 0 {
		if k.Protocol != "" || k.Address != "" {
			return config.ServiceKey{}, api.Errorf(api.CodeInvalid, "a fwmark service has no protocol or address")
		}
		return config.ServiceKey{FWMark: k.FWMark, IPv6: k.IPv6}, nil
	}
	p := config.Protocol(strings.ToLower(k.Protocol))
	if p != config.TCP && p != config.UDP {
		return config.ServiceKey{}, api.Errorf(api.CodeInvalid, "unknown protocol %q (want tcp or udp)", k.Protocol)
	}
	a, err := netip.ParseAddrPort(k.Address)
	if err != nil {
		return config.ServiceKey{}, api.Errorf(api.CodeInvalid, "bad service address %q: %v", k.Address, err)
	}
	return config.ServiceKey{Protocol: p, Address: a}, nil
}

func serviceFromAPI(s api.Service) (config.Service, error) {
	key, err := keyFromAPI(s.ServiceKey)
	if err != nil {
		return config.Service{}, err
	}
	svc := config.Service{
		ServiceKey:    key,
		Scheduler:     s.Scheduler,
		SchedFlags:    slices.Clone(s.SchedFlags),
		OnePacket:     s.OnePacket,
		ProxyProtocol: s.ProxyProtocol,
	}
	if svc.Scheduler == "" {
		svc.Scheduler = config.DefaultScheduler
	}
	if !sched.Known(svc.Scheduler) {
		// The kernel answers ENOENT, which ipvsadm prints as "Scheduler or
		// persistence engine not found" (libipvs ipvs_strerror).
		return config.Service{}, api.Errorf(api.CodeNoDest, "scheduler %q not found", svc.Scheduler)
	}
	if s.SorryServer != "" {
		if svc.SorryServer, err = netip.ParseAddrPort(s.SorryServer); err != nil {
			return config.Service{}, api.Errorf(api.CodeInvalid, "bad sorry server %q: %v", s.SorryServer, err)
		}
	}
	if s.Persistent {
		v6 := key.IPv6 || (key.FWMark == 0 && key.Address.Addr().Is6())
		bits, err := maskBits(s.Netmask, v6)
		if err != nil {
			return config.Service{}, err
		}
		t := time.Duration(s.Timeout) * time.Second
		if s.Timeout == 0 {
			t = config.DefaultPersistenceTimeout
		}
		svc.Persistence = &config.Persistence{Timeout: t, PrefixBits: bits}
	}
	return svc, nil
}

// maskBits turns ipvsadm's -M value (dotted IPv4 mask, or a prefix length)
// into a prefix length.
func maskBits(m string, v6 bool) (int, error) {
	if m == "" {
		if v6 {
			return 128, nil
		}
		return 32, nil
	}
	if strings.Contains(m, ".") {
		a, err := netip.ParseAddr(m)
		if err != nil || !a.Is4() {
			return 0, api.Errorf(api.CodeInvalid, "illegal virtual server persistent mask specified")
		}
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		n := 0
		for v&0x80000000 != 0 {
			n++
			v <<= 1
		}
		if v != 0 {
			return 0, api.Errorf(api.CodeInvalid, "illegal virtual server persistent mask specified")
		}
		return n, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(m, "/"))
	if err != nil || n < 0 || (v6 && n > 128) || (!v6 && n > 32) {
		return 0, api.Errorf(api.CodeInvalid, "illegal virtual server persistent mask specified")
	}
	return n, nil
}

func serviceToAPI(s config.Service) api.Service {
	a := api.Service{
		Scheduler:     s.Scheduler,
		SchedFlags:    slices.Clone(s.SchedFlags),
		OnePacket:     s.OnePacket,
		ProxyProtocol: s.ProxyProtocol,
	}
	if s.FWMark != 0 {
		a.ServiceKey = api.ServiceKey{FWMark: s.FWMark, IPv6: s.IPv6}
	} else {
		a.ServiceKey = api.ServiceKey{Protocol: string(s.Protocol), Address: s.Address.String()}
	}
	if s.SorryServer.IsValid() {
		a.SorryServer = s.SorryServer.String()
	}
	if p := s.Persistence; p != nil {
		a.Persistent = true
		a.Timeout = uint32(p.Timeout / time.Second)
		v6 := s.IPv6 || (s.FWMark == 0 && s.Address.Addr().Is6())
		if v6 {
			a.Netmask = strconv.Itoa(p.PrefixBits)
		} else {
			var v uint32
			if p.PrefixBits > 0 {
				v = ^uint32(0) << (32 - p.PrefixBits)
			}
			a.Netmask = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
		}
	}
	for _, r := range s.Reals {
		a.Reals = append(a.Reals, api.Real{
			Address: r.Address.String(), Forward: forwardName(r.Forward), Weight: r.Weight,
			UpperThreshold: r.UpperThreshold, LowerThreshold: r.LowerThreshold,
		})
	}
	return a
}

func realFromAPI(r api.Real) (config.Real, error) {
	a, err := netip.ParseAddrPort(r.Address)
	if err != nil {
		return config.Real{}, api.Errorf(api.CodeInvalid, "bad real server address %q: %v", r.Address, err)
	}
	real := config.Real{Address: a, Weight: r.Weight, UpperThreshold: r.UpperThreshold, LowerThreshold: r.LowerThreshold}
	switch strings.ToLower(r.Forward) {
	case "", "masq", "m":
		// The proxy data plane's only method; ipvsadm's own default (-g)
		// is only applied when asked for explicitly.
		real.Forward = config.Masq
	case "route", "g", "dr":
		real.Forward = config.Route
	case "tunnel", "i", "tun":
		real.Forward = config.Tunnel
	default:
		return config.Real{}, api.Errorf(api.CodeInvalid, "unknown forwarding method %q", r.Forward)
	}
	return real, nil
}
