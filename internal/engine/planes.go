package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l4"
	"github.com/fulcrumlb/fulcrum/internal/xdp"
)

// planes gives each virtual service to a data plane — the userspace proxy
// (l4) or the kernel's XDP program — as data_plane says, and keeps both in
// step: an apply is all-or-nothing across them.
type planes struct {
	log         *slog.Logger
	connTabBits int

	proxy *l4.Plane

	mu        sync.Mutex // guards the kernel plane's life; applies are serialised by the engine anyway
	kernel    *xdp.Plane // nil until a config needs it
	kernelKey string     // interfaces and mode it was attached with
	probed    bool
	probeErr  error // why this host cannot run XDP, once probed

	// kernelServices is the set of services the kernel plane serves, for
	// the API's Forward column; substituted the real servers proxied as NAT
	// although configured for route or tunnel.
	kernelServices atomic.Pointer[map[config.ServiceKey]bool]
	lastKernel     []config.Service
}

func newPlanes(log *slog.Logger, connTabBits int) *planes {
	p := &planes{log: log, connTabBits: connTabBits, proxy: l4.New(l4.Options{Logger: log, ConnTabBits: connTabBits})}
	empty := map[config.ServiceKey]bool{}
	p.kernelServices.Store(&empty)
	return p
}

// xdpInterfaces are where the kernel plane attaches: xdp.interfaces, or
// with data_plane auto the VRRP instances' interfaces.
func xdpInterfaces(cfg *config.Config) []string {
	if len(cfg.XDP.Interfaces) > 0 {
		return cfg.XDP.Interfaces
	}
	if cfg.DataPlane != config.DataPlaneAuto {
		return nil
	}
	var out []string
	for _, v := range cfg.VRRPInstances {
		if v.Interface != "" && !slices.Contains(out, v.Interface) {
			out = append(out, v.Interface)
		}
	}
	return out
}

func needsKernel(s config.Service) bool {
	return slices.ContainsFunc(s.Reals, func(r config.Real) bool { return r.Forward == config.Route || r.Forward == config.Tunnel })
}

// kernelFor returns a kernel plane attached as cfg asks, creating or
// re-creating it when the interfaces changed. Called with p.mu held.
func (p *planes) kernelFor(cfg *config.Config) (*xdp.Plane, error) {
	ifaces := xdpInterfaces(cfg)
	if len(ifaces) == 0 {
		return nil, errors.New("no interface to attach XDP to: set xdp.interfaces")
	}
	if !p.probed {
		p.probed, p.probeErr = true, xdp.Supported()
	}
	if p.probeErr != nil {
		return nil, fmt.Errorf("this host cannot run the XDP data plane: %w", p.probeErr)
	}
	key := strings.Join(ifaces, ",") + "/" + cfg.XDP.Mode
	if p.kernel != nil && p.kernelKey == key {
		return p.kernel, nil
	}
	k, err := xdp.New(xdp.Options{Logger: p.log, Interfaces: ifaces, Mode: xdp.AttachMode(cfg.XDP.Mode), ConnTabBits: p.connTabBits})
	if err != nil {
		return nil, fmt.Errorf("starting the XDP data plane on %s: %w", strings.Join(ifaces, ", "), err)
	}
	if p.kernel != nil {
		_ = p.kernel.Close()
	}
	p.kernel, p.kernelKey, p.lastKernel = k, key, nil
	return k, nil
}

// apply serves svcs (already health-adjusted) on the planes cfg chooses.
// It returns the real servers it proxies as NAT although they were
// configured for route or tunnel (data_plane auto without XDP).
func (p *planes) apply(ctx context.Context, cfg *config.Config, svcs []config.Service) (substituted []config.Service, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var proxySvcs, kernelSvcs []config.Service
	switch cfg.DataPlane {
	case config.DataPlaneXDP:
		kernelSvcs = svcs
	case config.DataPlaneAuto:
		for _, s := range svcs {
			if needsKernel(s) {
				kernelSvcs = append(kernelSvcs, s)
			} else {
				proxySvcs = append(proxySvcs, s)
			}
		}
	default:
		proxySvcs = svcs
	}
	var k *xdp.Plane
	if len(kernelSvcs) > 0 {
		k, err = p.kernelFor(cfg)
		if err != nil && cfg.DataPlane == config.DataPlaneXDP {
			return nil, err
		}
		if err != nil {
			// auto: what this host can do is proxy them, as NAT.
			p.log.Warn("data_plane auto: no XDP here, proxying route/tunnel services as NAT", "reason", err)
			for _, s := range kernelSvcs {
				substituted = append(substituted, s)
				proxySvcs = append(proxySvcs, asMasq(s))
			}
			kernelSvcs = nil
		}
	}
	if k == nil && p.kernel != nil {
		k = p.kernel // it may still serve services that must now go away
	}
	prevKernel := p.lastKernel
	if k != nil {
		if err := k.Apply(ctx, kernelSvcs, cfg.Timeouts); err != nil {
			return nil, fmt.Errorf("xdp: %w", err)
		}
	}
	if err := p.proxy.Apply(ctx, proxySvcs, cfg.Timeouts); err != nil {
		if k != nil {
			if rerr := k.Apply(ctx, prevKernel, cfg.Timeouts); rerr != nil {
				p.log.Error("restoring the XDP data plane", "err", rerr)
			}
		}
		return nil, err
	}
	p.lastKernel = kernelSvcs
	on := map[config.ServiceKey]bool{}
	for _, s := range kernelSvcs {
		on[s.ServiceKey] = true
	}
	p.kernelServices.Store(&on)
	return substituted, nil
}

// asMasq returns s with every real server forwarded as NAT.
func asMasq(s config.Service) config.Service {
	s.Reals = slices.Clone(s.Reals)
	for i := range s.Reals {
		s.Reals[i].Forward = config.Masq
	}
	return s
}

// onKernel reports whether the kernel plane serves k.
func (p *planes) onKernel(k config.ServiceKey) bool { return (*p.kernelServices.Load())[k] }

func (p *planes) kernelPlane() *xdp.Plane {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kernel
}

func (p *planes) status() []l4.ServiceStatus {
	out := p.proxy.Status()
	if k := p.kernelPlane(); k != nil {
		out = append(out, k.Status()...)
	}
	return out
}

func (p *planes) conns() []l4.ConnStatus {
	out := p.proxy.Conns()
	if k := p.kernelPlane(); k != nil {
		out = append(out, k.Conns()...)
	}
	return out
}

func (p *planes) zero(key *config.ServiceKey) {
	p.proxy.Zero(key)
	if k := p.kernelPlane(); k != nil {
		k.Zero(key)
	}
}

// name is what Info reports: "proxy", "xdp" or "proxy+xdp".
func (p *planes) name() string {
	if p.kernelPlane() == nil {
		return "proxy"
	}
	if len(*p.kernelServices.Load()) > 0 && len(p.proxy.Status()) == 0 {
		return "xdp"
	}
	return "proxy+xdp"
}

func (p *planes) close() error {
	err := p.proxy.Close()
	if k := p.kernelPlane(); k != nil {
		err = errors.Join(err, k.Close())
	}
	return err
}
