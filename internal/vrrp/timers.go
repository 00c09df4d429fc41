package vrrp

import "time"

// Priorities with a meaning of their own (RFC 5798 section 5.2.4).
const (
	// PriorityOwner is the address owner's priority: it becomes master at
	// once and is never changed by trackers.
	PriorityOwner = 255
	// PriorityStop is sent by a master that stops; backups then take over
	// after Skew_Time only.
	PriorityStop = 0
	// DownTimerAdverts is keepalived's down_timer_adverts default: the
	// master is declared down after this many missed adverts plus skew.
	DownTimerAdverts = 3
)

// Skew is Skew_Time for a priority: (256-priority)/256 s for version 2
// (RFC 3768 section 6.1, independent of the interval) and
// (256-priority)*Master_Adver_Interval/256 for version 3 (RFC 5798
// section 6.1). The arithmetic is keepalived's (include/vrrp.h
// VRRP_TIMER_SKEW_CALC): microseconds, integer division, the version 3
// interval taken in whole centiseconds. prio 100 at 1 s gives 609.375 ms.
func Skew(version int, prio uint8, masterAdverInt time.Duration) time.Duration {
	p := int64(256 - int(prio))
	if version == 2 {
		return time.Duration(p*1_000_000/256) * time.Microsecond
	}
	cs := int64(masterAdverInt / (10 * time.Millisecond))
	return time.Duration(p*cs*625/16) * time.Microsecond
}

// MasterDown is Master_Down_Interval: 3*Master_Adver_Interval + Skew_Time
// (RFC 5798 section 6.1; keepalived VRRP_MS_DOWN_TIMER).
func MasterDown(version int, prio uint8, masterAdverInt time.Duration) time.Duration {
	return DownTimerAdverts*masterAdverInt + Skew(version, prio, masterAdverInt)
}

// wireInterval converts an interval to the packet's unit: whole seconds
// (rounded, at least 1) for version 2, centiseconds for version 3 (at
// least 1, at most 4095), as keepalived's vrrp_complete_instance rounds.
func wireInterval(version int, d time.Duration) uint16 {
	if version == 2 {
		s := (d + time.Second/2) / time.Second
		return uint16(min(max(s, 1), 255))
	}
	cs := (d + 5*time.Millisecond) / (10 * time.Millisecond)
	return uint16(min(max(cs, 1), MaxInterval3))
}

// wireDuration converts a packet interval back to a duration.
func wireDuration(version int, v uint16) time.Duration {
	if version == 2 {
		return time.Duration(v) * time.Second
	}
	return time.Duration(v) * 10 * time.Millisecond
}
