package health

import (
	"net/netip"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// sorryWeight is the sorry server's weight: alloc_ssvr leaves the default
// real server weight of 1.
const sorryWeight = 1

// Effective returns cfg.Services as the IPVS table should hold them with
// health applied (ipwrapper.c perform_svr_state, update_quorum_state and
// ipvswrapper.c ipvs_cmd):
//   - a live real server keeps its configured weight plus its checkers'
//     dynamic weights (clamped to 0..2^31-1);
//   - a real server that is down is left out, or kept at weight 0 with
//     inhibit_on_failure;
//   - while the quorum is lost and a sorry server is configured, the sorry
//     server (weight 1, masq; the service's port when it has none) replaces
//     the real servers, of which only inhibit_on_failure ones stay, at
//     weight 0; with sorry_server_inhibit the sorry server otherwise stays
//     at weight 0. Without a sorry server a lost quorum changes nothing in
//     the table, as in keepalived.
//
// Services and real servers the manager has not seen (Apply not called
// with them yet) are shown in their starting state. cfg is not modified.
func (m *Manager) Effective(cfg *config.Config) []config.Service {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]config.Service, 0, len(cfg.Services))
	for i := range cfg.Services {
		sc := &cfg.Services[i]
		s := m.services[sc.ServiceKey]
		if s == nil {
			s = previewService(sc)
		}
		out = append(out, s.effective(sc))
	}
	return out
}

// previewService is the starting state of a service without running
// anything: real servers with alpha checkers are down, others up.
func previewService(sc *config.Service) *service {
	s := &service{cfg: copyService(sc), byAddr: map[netip.AddrPort]*real{}}
	for _, rc := range sc.Reals {
		r := &real{svc: s, cfg: rc, alive: startsAlive(sc, &rc)}
		s.reals = append(s.reals, r)
		s.byAddr[rc.Address] = r
	}
	q := int64(max(sc.Health.Quorum, 1)) + int64(sc.Health.Hysteresis)
	s.quorumUp = s.aliveWeight() >= q
	s.sorryActive = !s.quorumUp && s.hasSorry()
	return s
}

// startsAlive is a real server's state before its checks run: down when
// it has alpha checkers (FILE_CHECK ignores alpha), up otherwise.
func startsAlive(sc *config.Service, rc *config.Real) bool {
	if !sc.Health.Alpha {
		return true
	}
	for _, c := range rc.Health.Checks {
		if c.Type != config.CheckFile {
			return false
		}
	}
	return true
}

func (s *service) effective(sc *config.Service) config.Service {
	out := *sc
	out.SchedFlags = slices.Clone(sc.SchedFlags)
	if sc.Persistence != nil {
		p := *sc.Persistence
		out.Persistence = &p
	}
	out.Reals = make([]config.Real, 0, len(sc.Reals)+1)
	sorry := s.sorryActive && sc.SorryServer.IsValid()
	for _, rc := range sc.Reals {
		r := s.byAddr[rc.Address]
		alive, w := startsAlive(sc, &rc), rc.Weight // not applied yet: its starting state
		if r != nil {
			alive, w = r.alive, r.weight(rc.Weight)
		}
		inhibit := rc.Health.InhibitOnFailure
		switch {
		case sorry:
			if !inhibit {
				continue
			}
			rc.Weight = 0
		case alive:
			rc.Weight = w
		case inhibit:
			rc.Weight = 0
		default:
			continue
		}
		out.Reals = append(out.Reals, rc)
	}
	if sc.SorryServer.IsValid() && (sorry || sc.Health.SorryServerInhibit) {
		addr := sc.SorryServer
		if addr.Port() == 0 {
			// check_data.c: a sorry server without a port takes the
			// virtual server's.
			addr = netip.AddrPortFrom(addr.Addr(), sc.Address.Port())
		}
		w := int32(0)
		if sorry {
			w = sorryWeight
		}
		ss := config.Real{Address: addr, Weight: w, Forward: config.Masq}
		// A sorry server that is also a real server is one destination.
		if i := slices.IndexFunc(out.Reals, func(r config.Real) bool { return r.Address == addr }); i >= 0 {
			if sorry {
				out.Reals[i] = ss
			}
		} else {
			out.Reals = append(out.Reals, ss)
		}
	}
	return out
}
