package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/health"
	"github.com/fulcrumlb/fulcrum/internal/notify"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// The engine's keepalived side: health checkers whose results overlay the
// configured real servers (what keepalived's checker process does to the
// IPVS table), notifications, and VRRP.

// checkScripts vets every script of cfg with the notifier's script security,
// so a config whose scripts would be refused is rejected at load time.
func checkScripts(n *notify.Notifier, cfg *config.Config) error {
	var errs []string
	check := func(where string, s *config.Script) {
		if s == nil {
			return
		}
		if err := n.CheckScript(s); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", where, err))
		}
	}
	for _, s := range cfg.Services {
		check(s.ServiceKey.String()+" quorum_up", s.Health.QuorumUp)
		check(s.ServiceKey.String()+" quorum_down", s.Health.QuorumDown)
		for _, r := range s.Reals {
			where := s.ServiceKey.String() + " real " + r.Address.String()
			check(where+" notify_up", r.Health.NotifyUp)
			check(where+" notify_down", r.Health.NotifyDown)
			for _, c := range r.Health.Checks {
				check(where+" misc_path", c.MiscPath)
			}
		}
	}
	for _, v := range cfg.VRRPInstances {
		for name, s := range map[string]*config.Script{"notify_master": v.NotifyMaster, "notify_backup": v.NotifyBackup,
			"notify_fault": v.NotifyFault, "notify_stop": v.NotifyStop, "notify": v.Notify} {
			check("vrrp_instance "+v.Name+" "+name, s)
		}
	}
	for _, s := range cfg.VRRPScripts {
		sc := s.Script
		check("vrrp_script "+s.Name, &sc)
	}
	if len(errs) > 0 {
		return fmt.Errorf("script security: %s", strings.Join(errs, "; "))
	}
	return nil
}

// onHealthEvent turns a checker transition into keepalived's notifications:
// the notify_up/notify_down or quorum script, e-mail with smtp_alert, and
// the webhook. The health manager logs the transition itself.
func (e *Engine) onHealthEvent(ev health.Event) {
	n := e.notifier.Load()
	if n == nil {
		return
	}
	var out notify.Event
	switch ev.Kind {
	case health.RealUp, health.RealDown:
		out = notify.RealServerEvent(ev.Service, ev.Real, ev.Kind == health.RealUp, ev.Reason)
	case health.QuorumUp, health.QuorumDown:
		out = notify.QuorumEvent(ev.Service, ev.Kind == health.QuorumUp, ev.Reason)
	default:
		return
	}
	out.Script = ev.Script
	out.Email = ev.SMTPAlert
	out.Time = ev.Time
	n.Notify(out)
}

// onVRRPChange logs a VRRP transition and lets health checkers with
// ha_suspend follow whether this node is master.
func (e *Engine) onVRRPChange(c vrrp.StateChange) {
	e.log.Info("VRRP state change", "instance", c.Instance, "vrid", c.VRID, "interface", c.Interface,
		"from", c.From.String(), "to", c.To.String(), "priority", c.Priority, "reason", c.Reason)
	e.health.SetHAState(e.isMaster())
}

// isMaster reports whether this node holds the VIPs: true without VRRP, or
// when any instance is MASTER.
func (e *Engine) isMaster() bool {
	st := e.vrrp.Status()
	if len(st) == 0 {
		return true
	}
	for _, s := range st {
		if s.State == vrrp.StateMaster {
			return true
		}
	}
	return false
}

// scriptRunner adapts the notifier's script execution (with script
// security) to the health package.
func (e *Engine) scriptRunner(ctx context.Context, s *config.Script, timeout time.Duration) (int, error) {
	n := e.notifier.Load()
	if n == nil {
		return -1, fmt.Errorf("no script runner")
	}
	return n.RunScript(ctx, s, nil, timeout)
}

// vrrpNotifier forwards VRRP notifications to the current notifier.
type vrrpNotifier struct{ e *Engine }

func (v vrrpNotifier) Notify(ev notify.Event) {
	if n := v.e.notifier.Load(); n != nil {
		n.Notify(ev)
	}
}

func (v vrrpNotifier) RunScript(ctx context.Context, s *config.Script, args []string, timeout time.Duration) (int, error) {
	n := v.e.notifier.Load()
	if n == nil {
		return -1, fmt.Errorf("no script runner")
	}
	return n.RunScript(ctx, s, args, timeout)
}

// warnSubstitutedForwarding logs, once per apply, each real server that
// data_plane auto proxies as NAT although it was configured otherwise.
func (e *Engine) warnSubstitutedForwarding(svcs []config.Service) {
	for _, s := range svcs {
		for _, r := range s.Reals {
			if r.Forward != config.Masq {
				e.log.Warn("real server configured for "+forwardName(r.Forward)+" is proxied as NAT (Masq): "+
					"this host cannot run the XDP data plane for it, so real servers see connections from this host; "+
					"set proxy_protocol to pass client addresses", "service", s.ServiceKey.String(), "real", r.Address.String())
			}
		}
	}
}
