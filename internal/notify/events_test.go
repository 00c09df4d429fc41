package notify

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Formats of check_data.c format_vs/format_rs and utils.c
// inet_sockaddrtotrio ("[addr]:proto:port", "FWM n").
func TestFormatServices(t *testing.T) {
	tcp := config.ServiceKey{Protocol: config.TCP, Address: netip.MustParseAddrPort("192.168.201.15:80")}
	udp6 := config.ServiceKey{Protocol: config.UDP, Address: netip.MustParseAddrPort("[2001:db8::1]:53")}
	fwm := config.ServiceKey{FWMark: 7, IPv6: true}
	rs := netip.MustParseAddrPort("1.2.3.4:80")
	tests := []struct{ got, want string }{
		{FormatVS(tcp), "[192.168.201.15]:tcp:80"},
		{FormatVS(udp6), "[2001:db8::1]:udp:53"},
		{FormatVS(fwm), "FWM 7"},
		{FormatRS(rs, tcp), "[1.2.3.4]:tcp:80"},
		{FormatRS(netip.MustParseAddrPort("[fe80::1%eth0]:53"), udp6), "[fe80::1]:udp:53"},
		{FormatRS(netip.MustParseAddrPort("1.2.3.4:0"), fwm), "[1.2.3.4]:none:0"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// Subjects of smtp.c smtp_alert, bodies of vrrp_notify.c and ipwrapper.c,
// objects of the lvs_notify_fifo lines in keepalived.conf(5).
func TestEventTexts(t *testing.T) {
	vs := config.ServiceKey{Protocol: config.TCP, Address: netip.MustParseAddrPort("192.168.201.15:80")}
	rs := netip.MustParseAddrPort("1.2.3.4:80")
	tests := []struct {
		name                               string
		ev                                 Event
		kind, object, state, subject, body string
	}{
		{"real server up", RealServerEvent(vs, rs, true, "=> CHECK <="), KindRealServer,
			"[1.2.3.4]:tcp:80 [192.168.201.15]:tcp:80", "UP",
			"Realserver [1.2.3.4]:tcp:80 of virtual server [192.168.201.15]:tcp:80 - UP", "=> CHECK <="},
		{"real server down", RealServerEvent(vs, rs, false, BodyShuttingDown), KindRealServer,
			"[1.2.3.4]:tcp:80 [192.168.201.15]:tcp:80", "DOWN",
			"Realserver [1.2.3.4]:tcp:80 of virtual server [192.168.201.15]:tcp:80 - DOWN", "=> Shutting down <="},
		{"quorum up", QuorumEvent(vs, true, QuorumBody(true, false, 3, 1, 4, 5)), KindVirtualServer,
			"[192.168.201.15]:tcp:80", "UP", "Virtualserver [192.168.201.15]:tcp:80 - UP", "=> Gained quorum 3+1=4 <= 5 <="},
		{"vrrp master", VRRPInstanceEvent("VI_1", StateMaster), KindVRRPInstance, "VI_1", "MASTER",
			"VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="},
		{"vrrp backup", VRRPInstanceEvent("VI_1", StateBackup), KindVRRPInstance, "VI_1", "BACKUP",
			"VRRP Instance VI_1 - Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="},
		{"vrrp fault", VRRPInstanceEvent("VI_1", StateFault), KindVRRPInstance, "VI_1", "FAULT",
			"VRRP Instance VI_1 - Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="},
		{"vrrp stop", VRRPInstanceEvent("VI_1", StateStop), KindVRRPInstance, "VI_1", "STOP",
			"VRRP Instance VI_1 - Stopping", "=> VRRP Instance stopping <="},
		{"group master", VRRPGroupEvent("SG1", StateMaster), KindVRRPGroup, "SG1", "MASTER",
			"VRRP Group SG1 - Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="},
		{"group stop", VRRPGroupEvent("SG1", StateStop), KindVRRPGroup, "SG1", "STOP",
			"VRRP Group SG1 - Stopping", "=> All VRRP group instances are now stopping <="},
	}
	for _, tt := range tests {
		e := tt.ev
		if e.Kind != tt.kind || e.Object != tt.object || e.State != tt.state || e.Subject != tt.subject || e.Body != tt.body {
			t.Errorf("%s: got %q %q %q %q %q", tt.name, e.Kind, e.Object, e.State, e.Subject, e.Body)
		}
	}
}

func TestQuorumBody(t *testing.T) {
	for _, tt := range []struct {
		up, starting bool
		want         string
	}{
		{true, true, "=> Starting with quorum up 2+0=2 <= 3 <="},
		{true, false, "=> Gained quorum 2+0=2 <= 3 <="},
		{false, true, "=> Starting with quorum down 2+0=2 <= 3 <="},
		{false, false, "=> Lost quorum 2+0=2 <= 3 <="},
	} {
		if got := QuorumBody(tt.up, tt.starting, 2, 0, 2, 3); got != tt.want {
			t.Errorf("QuorumBody(%v, %v) = %q, want %q", tt.up, tt.starting, got, tt.want)
		}
	}
}

// keepalived passes "INSTANCE VI_1 MASTER 150" (and prio 0 for a group).
func TestVRRPNotifyArgs(t *testing.T) {
	if got := VRRPNotifyArgs(false, "VI_1", StateMaster, 150); !slices.Equal(got, []string{"INSTANCE", "VI_1", "MASTER", "150"}) {
		t.Errorf("instance args %q", got)
	}
	if got := VRRPNotifyArgs(true, "SG1", StateFault, 150); !slices.Equal(got, []string{"GROUP", "SG1", "FAULT", "0"}) {
		t.Errorf("group args %q", got)
	}
}

func TestSubjectPrefix(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{RouterID: "LVS_DEVEL"})
	if got := n.subject(Event{Subject: "VRRP Instance VI_1 - Stopping"}); got != "[LVS_DEVEL] VRRP Instance VI_1 - Stopping" {
		t.Errorf("subject %q", got)
	}
}
