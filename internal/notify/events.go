package notify

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Event kinds, the webhook's "kind" field.
const (
	KindRealServer    = "realserver"
	KindVirtualServer = "virtualserver"
	KindVRRPInstance  = "vrrp_instance"
	KindVRRPGroup     = "vrrp_group"
)

// BodyShuttingDown is the body keepalived mails for quorum and real server
// notifications sent while stopping (ipwrapper.c).
const BodyShuttingDown = "=> Shutting down <="

// FormatVS names a virtual service as keepalived's alerts do (check_data.c
// format_vs): "[10.0.0.1]:tcp:80", "[2001:db8::1]:udp:53" or "FWM 7".
func FormatVS(k config.ServiceKey) string {
	if k.FWMark != 0 {
		return "FWM " + strconv.FormatUint(uint64(k.FWMark), 10)
	}
	return trio(k.Address, protoName(k))
}

// FormatRS names a real server of vs (check_data.c format_rs): its address
// with the service's protocol, "[10.0.0.2]:tcp:8080". keepalived clears
// the protocol of a fwmark service, so those read "[10.0.0.2]:none:0".
func FormatRS(rs netip.AddrPort, vs config.ServiceKey) string {
	return trio(rs, protoName(vs))
}

func protoName(k config.ServiceKey) string {
	switch {
	case k.FWMark != 0:
		return "none"
	case k.Protocol == config.UDP:
		return "udp"
	default:
		return "tcp"
	}
}

// trio is utils.c inet_sockaddrtotrio: "[addr]:proto:port", the address as
// inet_ntop prints it (no zone).
func trio(ap netip.AddrPort, proto string) string {
	return "[" + ap.Addr().WithZone("").String() + "]:" + proto + ":" + strconv.Itoa(int(ap.Port()))
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

// RealServerEvent is a real server going up or down. Subject follows
// smtp.c ("Realserver [rs] of virtual server [vs] - UP"); Object is the
// real and virtual server as lvs_notify_fifo writes them (ipwrapper.c
// notify_fifo_rs). body is the checker's text, e.g.
// "=> TCP CHECK succeed on service <=". Set Script (notify_up/notify_down)
// and Email (smtp_alert) on the result.
func RealServerEvent(vs config.ServiceKey, rs netip.AddrPort, up bool, body string) Event {
	r, v, state := FormatRS(rs, vs), FormatVS(vs), upDown(up)
	return Event{
		Kind:    KindRealServer,
		Object:  r + " " + v,
		State:   state,
		Subject: "Realserver " + r + " of virtual server " + v + " - " + state,
		Body:    body,
	}
}

// QuorumEvent is a virtual service gaining or losing quorum ("Virtualserver
// [vs] - UP", smtp.c); see QuorumBody for keepalived's body.
func QuorumEvent(vs config.ServiceKey, up bool, body string) Event {
	v, state := FormatVS(vs), upDown(up)
	return Event{
		Kind:    KindVirtualServer,
		Object:  v,
		State:   state,
		Subject: "Virtualserver " + v + " - " + state,
		Body:    body,
	}
}

// QuorumBody is keepalived's quorum mail body (ipwrapper.c do_vs_notifies):
// "=> Gained quorum 3+1=4 <= 5 <=". starting selects the "Starting with
// quorum up/down" wording used at startup; threshold is quorum ± hysteresis
// as the caller computed it and weightSum the live weight.
func QuorumBody(up, starting bool, quorum, hysteresis uint32, threshold, weightSum int64) string {
	var what string
	switch {
	case up && starting:
		what = "Starting with quorum up"
	case up:
		what = "Gained quorum"
	case starting:
		what = "Starting with quorum down"
	default:
		what = "Lost quorum"
	}
	return fmt.Sprintf("=> %s %d+%d=%d <= %d <=", what, quorum, hysteresis, threshold, weightSum)
}

// VRRP states as notify scripts receive them.
const (
	StateMaster = "MASTER"
	StateBackup = "BACKUP"
	StateFault  = "FAULT"
	StateStop   = "STOP"
)

// vrrpTexts are vrrp_notify.c's mail subject and bodies per state, for an
// instance and for a sync group.
var vrrpTexts = map[string][3]string{
	StateMaster: {"Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <=", "=> All VRRP group instances are now in MASTER state <="},
	StateBackup: {"Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <=", "=> All VRRP group instances are now in BACKUP state <="},
	StateFault:  {"Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <=", "=> All VRRP group instances are now in FAULT state <="},
	StateStop:   {"Stopping", "=> VRRP Instance stopping <=", "=> All VRRP group instances are now stopping <="},
}

// VRRPInstanceEvent is a VRRP instance changing state ("VRRP Instance VI_1
// - Entering MASTER state", smtp.c and vrrp_notify.c). Set Script to the
// state's notify_* script and add the generic notify script as an Extra
// call with VRRPNotifyArgs; STOP notifications should get a Timeout (1 s
// in keepalived).
func VRRPInstanceEvent(name, state string) Event {
	subject, body := vrrpText(state, 1)
	return Event{
		Kind:    KindVRRPInstance,
		Object:  name,
		State:   state,
		Subject: "VRRP Instance " + name + " - " + subject,
		Body:    body,
	}
}

// VRRPGroupEvent is a sync group changing state ("VRRP Group G - ...").
func VRRPGroupEvent(name, state string) Event {
	subject, body := vrrpText(state, 2)
	return Event{
		Kind:    KindVRRPGroup,
		Object:  name,
		State:   state,
		Subject: "VRRP Group " + name + " - " + subject,
		Body:    body,
	}
}

func vrrpText(state string, body int) (string, string) {
	if t, ok := vrrpTexts[state]; ok {
		return t[0], t[body]
	}
	return "Entering " + state + " state", ""
}

// VRRPNotifyArgs are the four arguments keepalived appends to a generic
// `notify` script: INSTANCE|GROUP, the name, the state and the priority
// (0 for a group) (vrrp_notify.c notify_script_exec).
func VRRPNotifyArgs(group bool, name, state string, priority int) []string {
	typ := "INSTANCE"
	if group {
		typ, priority = "GROUP", 0
	}
	return []string{typ, name, state, strconv.Itoa(priority)}
}
