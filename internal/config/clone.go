package config

import "slices"

// cloneExtensions deep-copies, in place, the parts of n that Clone's
// shallow copy still shares with the config it was copied from: service
// and real-server health (checks, URLs, scripts), the global block and
// VRRP. Clone (model.go) should call it on its result; Marshal calls it
// itself so that normalising the copy never writes through to its input.
func cloneExtensions(n *Config) {
	for i := range n.Services {
		s := &n.Services[i]
		s.Health.QuorumUp = cloneScript(s.Health.QuorumUp)
		s.Health.QuorumDown = cloneScript(s.Health.QuorumDown)
		s.Reals = slices.Clone(s.Reals)
		for j := range s.Reals {
			h := &s.Reals[j].Health
			h.NotifyUp = cloneScript(h.NotifyUp)
			h.NotifyDown = cloneScript(h.NotifyDown)
			h.Checks = slices.Clone(h.Checks)
			for k := range h.Checks {
				c := &h.Checks[k]
				c.MiscPath = cloneScript(c.MiscPath)
				c.Payload = slices.Clone(c.Payload)
				c.URLs = slices.Clone(c.URLs)
				for u := range c.URLs {
					c.URLs[u].StatusCodes = slices.Clone(c.URLs[u].StatusCodes)
				}
			}
		}
	}
	n.Global.NotificationEmail = slices.Clone(n.Global.NotificationEmail)
	n.VRRPInstances = slices.Clone(n.VRRPInstances)
	for i := range n.VRRPInstances {
		vi := &n.VRRPInstances[i]
		vi.VIPs = slices.Clone(vi.VIPs)
		vi.ExcludedVIPs = slices.Clone(vi.ExcludedVIPs)
		vi.Routes = slices.Clone(vi.Routes)
		vi.UnicastPeers = slices.Clone(vi.UnicastPeers)
		vi.TrackInterfaces = slices.Clone(vi.TrackInterfaces)
		vi.TrackScripts = slices.Clone(vi.TrackScripts)
		vi.TrackFiles = slices.Clone(vi.TrackFiles)
		for _, p := range []**Script{&vi.NotifyMaster, &vi.NotifyBackup, &vi.NotifyFault, &vi.NotifyStop, &vi.Notify} {
			*p = cloneScript(*p)
		}
	}
	n.VRRPScripts = slices.Clone(n.VRRPScripts)
	n.VRRPSyncGroups = slices.Clone(n.VRRPSyncGroups)
	for i := range n.VRRPSyncGroups {
		g := &n.VRRPSyncGroups[i]
		g.Group = slices.Clone(g.Group)
		g.TrackScripts = slices.Clone(g.TrackScripts)
		for _, p := range []**Script{&g.NotifyMaster, &g.NotifyBackup, &g.NotifyFault, &g.NotifyStop, &g.Notify} {
			*p = cloneScript(*p)
		}
	}
}

func cloneScript(s *Script) *Script {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}
