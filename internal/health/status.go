package health

import (
	"net/netip"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// RealState is a real server's health as the admin API shows it.
type RealState string

const (
	StateUp   RealState = "up"
	StateDown RealState = "down"
	// StateUnchecked is a real server without checks: always in the table.
	StateUnchecked RealState = "unchecked"
)

// Transition is one change of a real server's state.
type Transition struct {
	Time   time.Time `json:"time"`
	State  RealState `json:"state"`
	Reason string    `json:"reason"`
}

// ServiceStatus is a virtual service's health.
type ServiceStatus struct {
	Service     config.ServiceKey `json:"service"`
	QuorumUp    bool              `json:"quorum_up"`
	SorryActive bool              `json:"sorry_active"`
	// AliveWeight is the sum the quorum is measured with.
	AliveWeight int64  `json:"alive_weight"`
	Quorum      uint32 `json:"quorum"`
	Hysteresis  uint32 `json:"hysteresis"`
	// Suspended is set while ha_suspend holds the checkers.
	Suspended bool         `json:"suspended,omitempty"`
	Reals     []RealStatus `json:"reals"`
}

// RealStatus is a real server's health.
type RealStatus struct {
	Address          netip.AddrPort `json:"address"`
	State            RealState      `json:"state"`
	ConfiguredWeight int32          `json:"configured_weight"`
	// Weight is the configured weight with the dynamic weights applied.
	Weight      int32         `json:"weight"`
	LastError   string        `json:"last_error,omitempty"`
	Since       time.Time     `json:"since"`
	Transitions []Transition  `json:"transitions,omitempty"`
	Checks      []CheckStatus `json:"checks,omitempty"`
}

// CheckStatus is one checker's state.
type CheckStatus struct {
	Type config.CheckType `json:"type"`
	Up   bool             `json:"up"`
	// HasRun is false until the checker has settled a first result.
	HasRun    bool      `json:"has_run"`
	Retries   int       `json:"retries"`
	LastCheck time.Time `json:"last_check,omitzero"`
	LastOK    bool      `json:"last_ok"`
	LastError string    `json:"last_error,omitempty"`
	NextCheck time.Time `json:"next_check,omitzero"`
	// URL is the URL the next HTTP attempt fetches; FailedURL the one
	// that took the checker down.
	URL       string `json:"url,omitempty"`
	FailedURL string `json:"failed_url,omitempty"`
	// Weight is the weight this check asked for, if any.
	Weight *int32 `json:"weight,omitempty"`
}

// Status reports the health state for the admin API, in config order.
func (m *Manager) Status() []ServiceStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ServiceStatus, 0, len(m.order))
	for _, k := range m.order {
		s := m.services[k]
		ss := ServiceStatus{
			Service: k, QuorumUp: s.quorumUp, SorryActive: s.sorryActive && s.hasSorry(),
			AliveWeight: s.aliveWeight(), Quorum: max(s.cfg.Health.Quorum, 1), Hysteresis: s.cfg.Health.Hysteresis,
			Suspended: s.cfg.Health.HASuspend && !m.master,
		}
		for _, r := range s.reals {
			rs := RealStatus{
				Address: r.cfg.Address, ConfiguredWeight: r.cfg.Weight, Weight: r.weight(r.cfg.Weight),
				LastError: r.lastErr, Since: r.since, Transitions: slices.Clone(r.history),
			}
			switch {
			case len(r.checkers) == 0:
				rs.State = StateUnchecked
			case r.alive:
				rs.State = StateUp
			default:
				rs.State = StateDown
			}
			for _, ch := range r.checkers {
				cs := CheckStatus{
					Type: ch.cfg.Type, Up: ch.isUp, HasRun: ch.hasRun, Retries: ch.retryIt,
					LastCheck: ch.lastCheck, LastOK: ch.lastOK, NextCheck: ch.due,
				}
				if ch.dynWeight != nil {
					w := *ch.dynWeight
					cs.Weight = &w
				}
				if ch.lastErr != nil {
					cs.LastError = ch.lastErr.Error()
				}
				if ch.urls != nil && ch.urlIt < len(ch.cfg.URLs) {
					cs.URL = ch.cfg.URLs[ch.urlIt].Path
					if ch.failedURL >= 0 && ch.failedURL < len(ch.cfg.URLs) {
						cs.FailedURL = ch.cfg.URLs[ch.failedURL].Path
					}
				}
				rs.Checks = append(rs.Checks, cs)
			}
			ss.Reals = append(ss.Reals, rs)
		}
		out = append(out, ss)
	}
	return out
}
