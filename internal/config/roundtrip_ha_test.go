package config

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"
)

// The generators below extend randomConfig with health checks, the global
// block and VRRP: valid, normalised models whose checks are resolved, so
// that Parse(Marshal(c)) must give c back exactly.

func randDuration(r *rand.Rand, maxSec int) time.Duration {
	if r.IntN(4) == 0 {
		return time.Duration(1+r.IntN(maxSec*1000)) * time.Millisecond
	}
	return time.Duration(1+r.IntN(maxSec)) * time.Second
}

func randScript(r *rand.Rand, tag string) *Script {
	s := &Script{Command: fmt.Sprintf("/usr/local/bin/%s --arg 'x y' \"%d\"", tag, r.IntN(100))}
	switch r.IntN(3) {
	case 1:
		s.User = "nobody"
	case 2:
		s.User, s.Group = "checker", "wheel"
	}
	return s
}

func maybeScript(r *rand.Rand, tag string) *Script {
	if r.IntN(3) == 0 {
		return randScript(r, tag)
	}
	return nil
}

func randomHealth(r *rand.Rand, s *Service) {
	if r.IntN(2) == 0 {
		s.Health = ServiceHealth{
			Quorum:             uint32(r.IntN(3)),
			Hysteresis:         uint32(r.IntN(2)),
			QuorumUp:           maybeScript(r, "quorum-up"),
			QuorumDown:         maybeScript(r, "quorum-down"),
			Alpha:              r.IntN(2) == 0,
			Omega:              r.IntN(2) == 0,
			HASuspend:          r.IntN(2) == 0,
			SorryServerInhibit: s.SorryServer.IsValid() && r.IntN(2) == 0,
		}
	}
	for j := range s.Reals {
		if r.IntN(2) == 0 {
			continue
		}
		h := &s.Reals[j].Health
		h.InhibitOnFailure = r.IntN(2) == 0
		h.NotifyUp = maybeScript(r, "up")
		h.NotifyDown = maybeScript(r, "down")
		dynamic := false
		for range r.IntN(4) {
			c := randomCheck(r, s.Reals[j].Address.Addr(), dynamic)
			dynamic = dynamic || c.MiscDynamic
			h.Checks = append(h.Checks, c)
		}
	}
}

// randomCheck builds a resolved check of a random type for a real server
// at dst.
func randomCheck(r *rand.Rand, dst netip.Addr, noDynamic bool) Check {
	c := Check{Type: CheckTypes[r.IntN(len(CheckTypes))]}
	var set CheckFieldsSet
	if checkTimed(c.Type) {
		if r.IntN(2) == 0 {
			c.DelayLoop, set = randDuration(r, 120), set|SetDelayLoop
		}
		if r.IntN(2) == 0 {
			c.Retry, set = r.IntN(5), set|SetRetry
		}
		if r.IntN(2) == 0 {
			c.DelayBeforeRetry, set = randDuration(r, 10), set|SetDelayBeforeRetry
		}
		if r.IntN(3) == 0 {
			c.Warmup, set = 0, set|SetWarmup
		}
		if r.IntN(4) == 0 {
			c.Rise, c.Fall = 1+r.IntN(5), 1+r.IntN(5)
			set &^= SetRetry | SetDelayBeforeRetry
		}
	}
	if checkConnects(c.Type) {
		if r.IntN(2) == 0 {
			c.ConnectTimeout, set = randDuration(r, 10), set|SetConnectTimeout
		}
		if r.IntN(4) == 0 {
			c.ConnectIP = randomAddr(r, dst.Is6(), byte(200+r.IntN(50)))
		}
		if r.IntN(4) == 0 {
			c.BindTo = randomAddr(r, dst.Is6(), 1)
			if c.Type != CheckPing {
				c.BindPort = uint16(1024 + r.IntN(60000))
			}
		}
		if r.IntN(4) == 0 || dst.Is6() && dst.IsLinkLocalUnicast() {
			c.BindIf = fmt.Sprintf("eth%d", r.IntN(4))
		}
		if r.IntN(4) == 0 {
			c.FWMark = uint32(r.IntN(1000))
		}
	}
	switch c.Type {
	case CheckHTTP, CheckSSL:
		c.HTTPProtocol = httpProtocols[r.IntN(len(httpProtocols))]
		c.FastRecovery = r.IntN(2) == 0
		if r.IntN(2) == 0 {
			c.Virtualhost = "www.example.com"
		}
		if r.IntN(2) == 0 {
			c.ConnectPort = uint16(1 + r.IntN(65535))
		}
		for range 1 + r.IntN(3) {
			u := CheckURL{Path: fmt.Sprintf("/health/%d?x=%c", r.IntN(10), 'a'+rune(r.IntN(26)))}
			if r.IntN(2) == 0 {
				u.Digest = fmt.Sprintf("%032x", r.Uint64())
			}
			for range r.IntN(3) {
				from := 100 + r.IntN(500)
				to := from
				if r.IntN(2) == 0 {
					to = from + r.IntN(600-from)
				}
				u.StatusCodes = append(u.StatusCodes, StatusRange{From: from, To: to})
			}
			if r.IntN(3) == 0 {
				u.Regex, u.RegexNoMatch = `"status": ?"(ok|up)"`, r.IntN(2) == 0
			}
			c.URLs = append(c.URLs, u)
		}
		if c.Type == CheckSSL {
			c.EnableSNI = r.IntN(2) == 0
			if c.EnableSNI {
				c.SNIName = "www.example.com"
			}
			c.TLSCompliant = r.IntN(2) == 0
		}
	case CheckTCP, CheckSMTP:
		if r.IntN(2) == 0 {
			c.ConnectPort = uint16(1 + r.IntN(65535))
		}
		if c.Type == CheckSMTP && r.IntN(2) == 0 {
			c.HeloName = "lb1.example.com"
		}
	case CheckMisc:
		c.MiscPath = randScript(r, "check")
		if r.IntN(2) == 0 {
			c.MiscTimeout, set = randDuration(r, 30), set|SetMiscTimeout
		}
		c.MiscDynamic = !noDynamic && r.IntN(2) == 0
	case CheckUDP:
		for range r.IntN(8) {
			c.Payload = append(c.Payload, byte(r.IntN(256)))
		}
		if r.IntN(2) == 0 {
			c.RequireReply = []string{"00", "0x ff", "XX01", "a b c"}[r.IntN(4)]
		}
		if r.IntN(2) == 0 {
			c.MaxReplyLength, set = r.IntN(65536), set|SetMaxReplyLength
			c.MinReplyLength = r.IntN(c.MaxReplyLength + 1)
		}
	case CheckDNS:
		if r.IntN(2) == 0 {
			c.DNSType = dnsTypes[r.IntN(len(dnsTypes))]
			c.DNSName = []string{"example.com", "example.com.", "."}[r.IntN(3)]
		}
	case CheckFile:
		c.File = fmt.Sprintf("/run/fulcrum/%d", r.IntN(100))
		c.FileDynamic = r.IntN(2) == 0
		c.FileWeight = r.IntN(201) - 100
		c.FileReverse = r.IntN(2) == 0
	case CheckAgent:
		c.AgentPort = uint16(1 + r.IntN(65535))
	}
	ResolveCheckDefaults(&c, set)
	return c
}

func randomGlobal(r *rand.Rand, c *Config) {
	if r.IntN(2) == 0 {
		return
	}
	g := &c.Global
	g.RouterID = fmt.Sprintf("lb-%d", r.IntN(10))
	if r.IntN(2) == 0 {
		g.NotificationEmail = []string{"ops@example.com", "noc+lb@example.org"}[:1+r.IntN(2)]
		g.NotificationEmailFrom = "lb@example.com"
		g.SMTPServer = netip.AddrPortFrom(randomAddr(r, r.IntN(2) == 0, 25), uint16(1+r.IntN(65535)))
		g.SMTPHeloName = "lb.example.com"
		if r.IntN(2) == 0 {
			g.SMTPConnectTimeout = randDuration(r, 60)
		}
	}
	if r.IntN(2) == 0 {
		g.Webhook = "https://hooks.example.com/x?y=1"
	}
	if r.IntN(2) == 0 {
		g.EnableScriptSecurity = true
		g.ScriptUser = "keepalived_script"
		if r.IntN(2) == 0 {
			g.ScriptGroup = "keepalived"
		}
	}
	g.VRRPVersion = []int{0, 2, 3}[r.IntN(3)]
	if r.IntN(2) == 0 {
		g.VRRPGarpMasterDelay = randDuration(r, 10)
		g.VRRPGarpMasterRepeat = 1 + r.IntN(10)
		g.VRRPGarpRefresh = time.Duration(r.IntN(100)) * time.Second
		g.VRRPGarpRefreshRep = r.IntN(5)
	}
	g.VRRPStrict = r.IntN(4) == 0
}

func randomVRRP(r *rand.Rand, c *Config) {
	for i := range r.IntN(3) {
		s := VRRPScript{
			Name:     fmt.Sprintf("chk_%d", i),
			Script:   *randScript(r, "vrrp-check"),
			Interval: time.Duration(1+r.IntN(10)) * time.Second,
			Weight:   r.IntN(2*maxTrackWeight+1) - maxTrackWeight,
			Reverse:  r.IntN(2) == 0,
			Rise:     1 + r.IntN(5),
			Fall:     1 + r.IntN(5),
			InitFail: r.IntN(2) == 0,
		}
		s.Timeout = s.Interval + time.Duration(r.IntN(3))*time.Second
		c.VRRPScripts = append(c.VRRPScripts, s)
	}
	for i := range r.IntN(4) {
		v6 := r.IntN(3) == 0
		vi := VRRPInstance{
			Name:      fmt.Sprintf("VI_%d", i),
			State:     []string{"MASTER", "BACKUP"}[r.IntN(2)],
			Interface: fmt.Sprintf("eth%d", r.IntN(2)),
			VRID:      uint8(1 + i),
			Priority:  uint8(1 + r.IntN(255)),
			Version:   2,
			AdvertInt: time.Duration(1+r.IntN(5)) * time.Second,
		}
		if v6 || r.IntN(2) == 0 {
			vi.Version = 3
			vi.AdvertInt = time.Duration(1+r.IntN(4095)) * 10 * time.Millisecond
		}
		if vi.Version == 2 && r.IntN(2) == 0 {
			vi.AuthType, vi.AuthPass = []string{"PASS", "AH"}[r.IntN(2)], fmt.Sprintf("pw%d", r.IntN(1000))
		}
		for k := range 1 + r.IntN(3) {
			a := randomAddr(r, v6, byte(10*i+k+1))
			p := netip.PrefixFrom(a, a.BitLen()-r.IntN(9))
			vip := VIP{Prefix: p}
			if r.IntN(2) == 0 {
				vip.Dev = vi.Interface
				if !v6 && r.IntN(2) == 0 {
					vip.Label = fmt.Sprintf("%s:%d", vi.Interface, k)
				}
			}
			if r.IntN(3) == 0 {
				vip.Scope = vipScopes[r.IntN(len(vipScopes))]
			}
			if !v6 && r.IntN(3) == 0 {
				vip.Broadcast = netip.AddrFrom4([4]byte{10, 255, 255, 255})
			}
			vi.VIPs = append(vi.VIPs, vip)
		}
		if r.IntN(3) == 0 {
			vi.ExcludedVIPs = []VIP{{Prefix: netip.MustParsePrefix(fmt.Sprintf("2001:db8:ffff::%d/64", i+1))}, {Prefix: netip.MustParsePrefix(fmt.Sprintf("198.51.100.%d/32", i+1))}}
			vi.Routes = []string{"198.51.100.0/24 via 192.0.2.1 dev eth0"}
		}
		vi.Nopreempt = vi.State == "BACKUP" && vi.Priority != 255 && r.IntN(2) == 0
		if !vi.Nopreempt && vi.State == "BACKUP" && r.IntN(2) == 0 {
			vi.PreemptDelay = time.Duration(r.IntN(1001)) * time.Second
		}
		vi.Accept = r.IntN(2) == 0
		if r.IntN(2) == 0 {
			vi.UnicastSrcIP = randomAddr(r, v6, byte(100+i))
			vi.UnicastPeers = []netip.Addr{randomAddr(r, v6, byte(150+i)), randomAddr(r, v6, byte(200+i))}
		}
		if r.IntN(4) == 0 {
			vi.McastSrcIP = randomAddr(r, v6, byte(100+i))
		}
		if r.IntN(2) == 0 {
			vi.TrackInterfaces = []TrackRef{{Name: "eth9", Weight: r.IntN(21) - 10, Reverse: r.IntN(2) == 0}}
		}
		for _, s := range c.VRRPScripts {
			if r.IntN(2) == 0 {
				vi.TrackScripts = append(vi.TrackScripts, TrackRef{Name: s.Name, Weight: r.IntN(3) * 5})
			}
		}
		if r.IntN(3) == 0 {
			vi.TrackFiles = []TrackRef{{Name: "maintenance"}}
		}
		vi.NotifyMaster = maybeScript(r, "master")
		vi.NotifyBackup = maybeScript(r, "backup")
		vi.NotifyFault = maybeScript(r, "fault")
		vi.NotifyStop = maybeScript(r, "stop")
		vi.Notify = maybeScript(r, "notify")
		if r.IntN(2) == 0 {
			vi.GarpMasterDelay = randDuration(r, 10)
			vi.GarpMasterRepeat = 1 + r.IntN(5)
			vi.GarpRefresh = time.Duration(r.IntN(60)) * time.Second
		}
		vi.UseVMAC = r.IntN(3) == 0
		c.VRRPInstances = append(c.VRRPInstances, vi)
	}
	if n := len(c.VRRPInstances); n > 1 && r.IntN(2) == 0 {
		g := VRRPSyncGroup{Name: "G1", SMTPAlert: false, Notify: maybeScript(r, "group")}
		for _, vi := range c.VRRPInstances[:1+r.IntN(n)] {
			g.Group = append(g.Group, vi.Name)
		}
		for _, s := range c.VRRPScripts {
			g.TrackScripts = append(g.TrackScripts, TrackRef{Name: s.Name})
		}
		c.VRRPSyncGroups = append(c.VRRPSyncGroups, g)
	}
}
