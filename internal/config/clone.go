package config

import "slices"

// cloneExtensions deep-copies, in place, the parts of n that Clone's
// shallow copy still shares with the config it was copied from: service
// and real-server health (checks, URLs, scripts), the global block, VRRP
// and the http section. Clone (model.go) should call it on its result;
// Marshal calls it itself so that normalising the copy never writes
// through to its input.
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
				cloneCheck(&h.Checks[k])
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
	n.HTTP = cloneHTTP(n.HTTP)
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

// cloneHTTP deep-copies an http section. Clone may call it on a section
// that is already a copy; copying again is harmless.
func cloneHTTP(h *HTTP) *HTTP {
	if h == nil {
		return nil
	}
	c := *h
	c.TrustedProxies = slices.Clone(h.TrustedProxies)
	c.LimitReqZones = slices.Clone(h.LimitReqZones)
	c.LimitConnZones = slices.Clone(h.LimitConnZones)
	c.Maps = slices.Clone(h.Maps)
	for i := range c.Maps {
		c.Maps[i].Entries = slices.Clone(c.Maps[i].Entries)
	}
	c.Flood.Exempt = slices.Clone(h.Flood.Exempt)
	c.Servers = slices.Clone(h.Servers)
	for i := range c.Servers {
		s := &c.Servers[i]
		s.Listen = slices.Clone(s.Listen)
		s.ServerNames = slices.Clone(s.ServerNames)
		s.Certificates = slices.Clone(s.Certificates)
		s.Locations = cloneLocations(s.Locations)
	}
	c.Upstreams = slices.Clone(h.Upstreams)
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		u.Servers = slices.Clone(u.Servers)
		if u.TLS != nil {
			t := *u.TLS
			u.TLS = &t
		}
		if u.Sticky != nil {
			s := *u.Sticky
			u.Sticky = &s
		}
		u.Health.Checks = slices.Clone(u.Health.Checks)
		for k := range u.Health.Checks {
			cloneCheck(&u.Health.Checks[k])
		}
	}
	return &c
}

func cloneLocations(locs []Location) []Location {
	locs = slices.Clone(locs)
	for i := range locs {
		l := &locs[i]
		l.Locations = cloneLocations(l.Locations)
		l.Rewrites = slices.Clone(l.Rewrites)
		if l.Return != nil {
			r := *l.Return
			l.Return = &r
		}
		l.Routes = slices.Clone(l.Routes)
		for j := range l.Routes {
			m := &l.Routes[j].Match
			m.Headers = slices.Clone(m.Headers)
			m.Cookies = slices.Clone(m.Cookies)
			m.Query = slices.Clone(m.Query)
			m.Methods = slices.Clone(m.Methods)
			m.Sources = slices.Clone(m.Sources)
			m.UserAgents = slices.Clone(m.UserAgents)
			m.Languages = slices.Clone(m.Languages)
		}
		l.SetHeaders = slices.Clone(l.SetHeaders)
		l.NextUpstream = slices.Clone(l.NextUpstream)
		l.LimitReq = slices.Clone(l.LimitReq)
		l.LimitConn = slices.Clone(l.LimitConn)
		l.Referers = cloneReferers(l.Referers)
		if l.SecureLink != nil {
			s := *l.SecureLink
			l.SecureLink = &s
		}
		l.Compression = cloneCompression(l.Compression)
		if l.ImageCompression != nil {
			ic := *l.ImageCompression
			l.ImageCompression = &ic
		}
	}
	return locs
}

// cloneCheck deep-copies, in place, what a copied Check still shares.
func cloneCheck(c *Check) {
	c.MiscPath = cloneScript(c.MiscPath)
	c.Payload = slices.Clone(c.Payload)
	c.URLs = slices.Clone(c.URLs)
	for u := range c.URLs {
		c.URLs[u].StatusCodes = slices.Clone(c.URLs[u].StatusCodes)
	}
}
