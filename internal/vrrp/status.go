package vrrp

import (
	"net/netip"
	"time"
)

// InstanceStatus is what the admin API and metrics show of an instance.
type InstanceStatus struct {
	Name      string       `json:"name"`
	Group     string       `json:"sync_group,omitempty"`
	Interface string       `json:"interface"`
	VRID      uint8        `json:"virtual_router_id"`
	Version   int          `json:"version"`
	State     State        `json:"state"`
	VIPs      []netip.Addr `json:"vips,omitempty"`
	// Priority is the configured priority; EffectivePriority includes the
	// trackers' weights.
	Priority          uint8 `json:"priority"`
	EffectivePriority uint8 `json:"effective_priority"`
	// AdvertInt is ours; MasterAdvertInt is the one learned from the
	// master (version 3) or ours.
	AdvertInt       time.Duration `json:"advert_int"`
	MasterAdvertInt time.Duration `json:"master_advert_int"`
	// MasterAddr and MasterPriority describe the master last seen (us,
	// when MASTER).
	MasterAddr     netip.Addr `json:"master_addr,omitzero"`
	MasterPriority uint8      `json:"master_priority,omitempty"`

	// Counters of adverts.
	Received             uint64            `json:"adverts_received"`
	Sent                 uint64            `json:"adverts_sent"`
	SendErrors           uint64            `json:"send_errors,omitempty"`
	PriorityZeroReceived uint64            `json:"priority_zero_received"`
	PriorityZeroSent     uint64            `json:"priority_zero_sent"`
	AddressListErrors    uint64            `json:"address_list_errors"`
	Rejected             map[Reason]uint64 `json:"rejected"`

	// Transitions are the most recent state changes, oldest first.
	Transitions []Transition `json:"transitions"`
}

// Transition is one state change.
type Transition struct {
	From   State     `json:"from"`
	To     State     `json:"to"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}
