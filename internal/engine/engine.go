// Package engine owns a Fulcrum node's mutable state. One goroutine (Run)
// applies every change — file reloads, admin API calls, ipvsadm commands —
// in the same way: build the next config model, validate it fully, let the
// data plane diff and apply it (all-or-nothing), then publish it with an
// atomic swap. Readers never lock: they load the published snapshot.
package engine

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/api"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/config/adapt"
	"github.com/fulcrumlb/fulcrum/internal/demo"
	"github.com/fulcrumlb/fulcrum/internal/health"
	"github.com/fulcrumlb/fulcrum/internal/l4"
	"github.com/fulcrumlb/fulcrum/internal/l7"
	"github.com/fulcrumlb/fulcrum/internal/notify"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
	"github.com/fulcrumlb/fulcrum/internal/xdp"
)

// Options configures an Engine.
type Options struct {
	// ConfigPath is the file reloads re-read; "" means the config came from
	// elsewhere (the embedded default) and cannot be reloaded from disk.
	ConfigPath string
	Version    string
	Logger     *slog.Logger
	// ConnTabBits sizes the connection table the way ip_vs.conn_tab_bits does.
	ConnTabBits int
	// Load reads ConfigPath on reload; default adapt.Load (any format).
	Load func(path string) (*config.Config, config.Diagnostics)
}

// Engine is the owner of the running configuration.
type Engine struct {
	opt    Options
	log    *slog.Logger
	planes *planes
	proxy  *l7.Proxy
	demo   *demo.Set
	health *health.Manager
	vrrp   *vrrp.Node
	ops    chan op

	// notifier is replaced when the global notification settings change.
	notifier atomic.Pointer[notify.Notifier]

	cur     atomic.Pointer[config.Config]
	started time.Time

	reloads        atomic.Uint64
	reloadFailures atomic.Uint64
	lastReloadErr  atomic.Pointer[string]
	lastReloadAt   atomic.Int64
}

type op struct {
	fn   func(ctx context.Context) error
	ctx  context.Context
	done chan error
}

var _ api.Admin = (*Engine)(nil)

// New builds an engine and applies the initial config; on error nothing is
// left running.
func New(ctx context.Context, initial *config.Config, opt Options) (*Engine, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		opt:     opt,
		log:     log,
		planes:  newPlanes(log, opt.ConnTabBits),
		demo:    demo.NewSet(log),
		ops:     make(chan op),
		started: time.Now(),
	}
	e.health = health.NewManager(health.Options{Logger: log, OnEvent: e.onHealthEvent, RunScript: e.scriptRunner})
	e.proxy = l7.New(l7.Options{Logger: log, Health: health.ProbeOptions{RunScript: e.scriptRunner}})
	e.vrrp = vrrp.New(vrrp.Options{Logger: log, Notifier: vrrpNotifier{e}, Scripts: vrrpNotifier{e}, OnChange: e.onVRRPChange})
	empty := &config.Config{Timeouts: config.DefaultTimeouts}
	e.cur.Store(empty)
	if err := e.apply(ctx, initial); err != nil {
		e.shutdown()
		return nil, err
	}
	e.reloads.Store(0)
	return e, nil
}

// Run serves change requests and health changes until ctx ends, then
// stops VRRP (priority-0 adverts, VIPs removed), the checkers (omega
// notifications), the data plane and the notifier, in that order.
func (e *Engine) Run(ctx context.Context) {
	vctx, stopVRRP := context.WithCancel(context.Background())
	vdone := make(chan struct{})
	go func() {
		defer close(vdone)
		if err := e.vrrp.Run(vctx); err != nil {
			e.log.Error("VRRP stopped", "err", err)
		}
	}()
	hctx, stopHealth := context.WithCancel(context.Background())
	hdone := make(chan struct{})
	go func() { defer close(hdone); e.health.Run(hctx) }()

	defer func() {
		stopVRRP()
		<-vdone
		stopHealth()
		<-hdone
		e.shutdown()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-e.ops:
			o.done <- o.fn(o.ctx)
		case <-e.health.Changed():
			e.refresh(ctx)
		}
	}
}

// refresh re-applies the published config with the current health state:
// a checker took a real server down or up, or quorum changed.
func (e *Engine) refresh(ctx context.Context) {
	cur := e.cur.Load()
	if _, err := e.planes.apply(ctx, cur, e.health.Effective(cur)); err != nil {
		e.log.Error("applying health changes", "err", err)
	}
}

func (e *Engine) shutdown() {
	pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := e.proxy.Close(pctx); err != nil {
		e.log.Warn("closing the HTTP proxy", "err", err)
	}
	cancel()
	if err := e.planes.close(); err != nil {
		e.log.Warn("closing the data planes", "err", err)
	}
	e.demo.Close()
	if n := e.notifier.Load(); n != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	}
}

// Config returns the published config. It must not be modified.
func (e *Engine) Config() *config.Config { return e.cur.Load() }

// exec runs fn on the owner goroutine and waits for its result.
func (e *Engine) exec(ctx context.Context, fn func(ctx context.Context) error) error {
	o := op{fn: fn, ctx: ctx, done: make(chan error, 1)}
	select {
	case e.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// mutate applies fn to a copy of the current config and applies the result.
func (e *Engine) mutate(ctx context.Context, fn func(c *config.Config) error) error {
	return e.exec(ctx, func(ctx context.Context) error {
		next := e.cur.Load().Clone()
		if err := fn(next); err != nil {
			return err
		}
		return e.apply(ctx, next)
	})
}

// apply validates next, applies it to the demo backends and the data plane,
// and publishes it. On any error the running state is left as it was.
// Called only from the owner goroutine (or New, before Run starts).
func (e *Engine) apply(ctx context.Context, next *config.Config) error {
	err := e.tryApply(ctx, next)
	if err != nil {
		e.reloadFailures.Add(1)
		msg := err.Error()
		e.lastReloadErr.Store(&msg)
		e.log.Error("configuration rejected; the running configuration is unchanged", "err", err)
		return err
	}
	e.reloads.Add(1)
	e.lastReloadAt.Store(time.Now().UnixNano())
	e.lastReloadErr.Store(nil)
	return nil
}

func (e *Engine) tryApply(ctx context.Context, next *config.Config) error {
	config.Normalize(next)
	if ds := config.Validate(next); ds.Err() != nil {
		return &api.Error{Code: api.CodeInvalid, Message: ds.Err().Error()}
	}
	prev := e.cur.Load()

	// Notifications: a new notifier when the global settings change; every
	// script is vetted before anything is applied.
	n, newNotifier := e.notifier.Load(), false
	if n == nil || !reflect.DeepEqual(prev.Global, next.Global) {
		var err error
		if n, err = notify.New(notify.Options{Global: next.Global, Logger: e.log}); err != nil {
			return &api.Error{Code: api.CodeInvalid, Message: err.Error()}
		}
		newNotifier = true
	}
	if err := checkScripts(n, next); err != nil {
		return &api.Error{Code: api.CodeConfigRejected, Message: err.Error()}
	}

	// The checkers learn the new config first: the data plane gets the
	// configured services with their health applied.
	e.health.Apply(next)
	undo := func() {
		e.health.Apply(prev)
		if rerr := e.demo.Apply(demoBackends(prev)); rerr != nil {
			e.log.Error("restoring demo backends", "err", rerr)
		}
	}
	if err := e.demo.Apply(demoBackends(next)); err != nil {
		e.health.Apply(prev)
		return &api.Error{Code: api.CodeConfigRejected, Message: err.Error()}
	}
	substituted, err := e.planes.apply(ctx, next, e.health.Effective(next))
	if err != nil {
		undo()
		code := api.CodeConfigRejected
		if errors.Is(err, l4.ErrUnsupported) || errors.Is(err, xdp.ErrUnsupported) {
			code = api.CodeUnsupported
		}
		return &api.Error{Code: code, Message: err.Error()}
	}
	undoPlane := func() {
		if _, rerr := e.planes.apply(ctx, prev, e.health.Effective(prev)); rerr != nil {
			e.log.Error("restoring the data plane", "err", rerr)
		}
	}
	if err := e.proxy.Apply(ctx, next.HTTP); err != nil {
		undo()
		undoPlane()
		return &api.Error{Code: api.CodeConfigRejected, Message: "http: " + err.Error()}
	}
	if err := e.vrrp.Apply(next); err != nil {
		undo()
		undoPlane()
		if rerr := e.proxy.Apply(ctx, prev.HTTP); rerr != nil {
			e.log.Error("restoring the HTTP proxy", "err", rerr)
		}
		return &api.Error{Code: api.CodeConfigRejected, Message: "vrrp: " + err.Error()}
	}
	if prev.Admin != next.Admin && prev.Source != "" {
		e.log.Warn("admin listener settings changed; they take effect at the next restart")
	}
	if newNotifier {
		if old := e.notifier.Swap(n); old != nil {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = old.Close(ctx)
			}()
		}
	}
	e.warnSubstitutedForwarding(substituted)
	e.cur.Store(next)
	e.health.SetHAState(e.isMaster())
	return nil
}

func demoBackends(c *config.Config) []config.DemoBackend {
	if c.Demo == nil {
		return nil
	}
	return c.Demo.Backends
}

// ReloadFile re-reads the config file. A file with errors leaves the
// running config untouched; the error names file:line:key.
func (e *Engine) ReloadFile(ctx context.Context) error {
	if e.opt.ConfigPath == "" {
		return api.Errorf(api.CodeInvalid, "no config file to reload: fulcrum is running its embedded default config (start it with -c FILE)")
	}
	return e.exec(ctx, func(ctx context.Context) error {
		load := e.opt.Load
		if load == nil {
			load = adapt.Load
		}
		next, ds := load(e.opt.ConfigPath)
		for _, d := range ds {
			if d.Severity == config.Warning {
				e.log.Warn("config", "diagnostic", d.String())
			}
		}
		if err := ds.Err(); err != nil {
			e.reloadFailures.Add(1)
			msg := err.Error()
			e.lastReloadErr.Store(&msg)
			e.log.Error("reload rejected; the running configuration is unchanged", "file", e.opt.ConfigPath, "err", strings.ReplaceAll(msg, "\n", "; "))
			return &api.Error{Code: api.CodeConfigRejected, Message: msg}
		}
		if err := e.apply(ctx, next); err != nil {
			return err
		}
		e.log.Info("configuration reloaded", "file", e.opt.ConfigPath, "services", len(next.Services))
		return nil
	})
}

// Info implements api.Admin.
func (e *Engine) Info(ctx context.Context) (api.Info, error) {
	i := api.Info{
		Version:        e.opt.Version,
		IPVSVersion:    "1.2.1",
		ConnTabSize:    1 << connTabBits(e.opt.ConnTabBits),
		DataPlane:      e.planes.name(),
		ConfigFile:     e.opt.ConfigPath,
		StartedAt:      e.started,
		Reloads:        e.reloads.Load(),
		ReloadFailures: e.reloadFailures.Load(),
	}
	if p := e.lastReloadErr.Load(); p != nil {
		i.LastReloadError = *p
	}
	if t := e.lastReloadAt.Load(); t != 0 {
		i.LastReloadAt = time.Unix(0, t)
	}
	return i, nil
}

func connTabBits(b int) int {
	if b == 0 {
		return 12
	}
	return b
}

// Reload implements api.Admin.
func (e *Engine) Reload(ctx context.Context) error { return e.ReloadFile(ctx) }
