package sched

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// Dests in tests are named by one letter: "A" is 192.168.1.1:80, "B"
// 192.168.1.2:80 and so on.
func addrOf(name string) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, name[0] - 'A' + 1}), 80)
}

func nameOf(d *Dest) string {
	if d == nil {
		return "-"
	}
	b := d.Addr.Addr().As4()
	return string(rune('A' + b[3] - 1))
}

// spec is one ipvsadm -a: name, weight, upper and lower threshold.
type spec struct {
	name string
	w    int32
	u, l uint32
}

// w is a spec with a weight and no thresholds.
func w(name string, weight int32) spec { return spec{name: name, w: weight} }

// newSvc creates a service and adds the dests in the given order (so the
// kernel list is the reverse).
func newSvc(t testing.TB, sched string, flags uint32, opt Options, adds ...spec) (*Service, map[string]*Dest) {
	t.Helper()
	s, err := NewService(sched, flags, opt)
	if err != nil {
		t.Fatalf("NewService(%q): %v", sched, err)
	}
	m := map[string]*Dest{}
	for _, a := range adds {
		d, err := s.AddDest(addrOf(a.name), a.w, a.u, a.l)
		if err != nil {
			t.Fatalf("AddDest(%s): %v", a.name, err)
		}
		m[a.name] = d
	}
	return s, m
}

// picks schedules n connections with key k and returns the dest names,
// space separated ("-" for nil). Connections are not bound.
func picks(s *Service, n int, k *Key) string {
	out := make([]string, n)
	for i := range out {
		out[i] = nameOf(s.Schedule(k))
	}
	return strings.Join(out, " ")
}

// conns binds active+inactive connections to d and activates active of
// them, as the connection table would (ip_vs_bind_dest, set_tcp_state).
func conns(d *Dest, active, inactive int) {
	for range active + inactive {
		d.Bind(false)
	}
	for range active {
		d.Activate()
	}
}

func listNames(ds []*Dest) string {
	n := make([]string, len(ds))
	for i, d := range ds {
		n[i] = nameOf(d)
	}
	return strings.Join(n, ",")
}

func TestRegistryHasEveryIPVSSchedulerByIpvsadmName(t *testing.T) {
	// ipvsadm(8) -s: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh, plus
	// twos (ip_vs_twos.c, Linux 6.x).
	want := []string{"dh", "fo", "lblc", "lblcr", "lc", "mh", "nq", "ovf", "rr", "sed", "sh", "twos", "wlc", "wrr"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, n := range want {
		s, err := New(n, 0, Options{})
		if err != nil || s.Name() != n {
			t.Errorf("New(%q) = %v, %v", n, s, err)
		}
		if !Known(n) {
			t.Errorf("Known(%q) = false", n)
		}
	}
	if _, err := New("wlcx", 0, Options{}); !errors.Is(err, ErrUnknownScheduler) {
		t.Errorf("New(wlcx) error = %v, want ErrUnknownScheduler", err)
	}
}

func TestServiceListOrderIsHeadInsertIPVSCtl(t *testing.T) {
	// __ip_vs_update_dest: list_add_rcu(&dest->n_list, &svc->destinations).
	s, _ := newSvc(t, "rr", 0, Options{}, w("A", 1), w("B", 1), w("C", 1))
	if got := listNames(s.Dests()); got != "C,B,A" {
		t.Fatalf("list = %s, want C,B,A", got)
	}
	if err := s.EditDest(addrOf("B"), 5, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := listNames(s.Dests()); got != "C,B,A" {
		t.Fatalf("after edit list = %s, want C,B,A (position kept)", got)
	}
	if err := s.DelDest(addrOf("C")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDest(addrOf("C"), 1, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := listNames(s.Dests()); got != "C,B,A" {
		t.Fatalf("after re-add list = %s, want C,B,A", got)
	}
}

func TestServiceErrorsMirrorIPVSCtlErrno(t *testing.T) {
	s, _ := newSvc(t, "wlc", 0, Options{}, w("A", 1))
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"add existing: EEXIST", func() error { _, err := s.AddDest(addrOf("A"), 1, 0, 0); return err }(), ErrDestExists},
		{"add negative weight: ERANGE", func() error { _, err := s.AddDest(addrOf("B"), -1, 0, 0); return err }(), ErrBadWeight},
		{"add lower > upper: ERANGE", func() error { _, err := s.AddDest(addrOf("B"), 1, 5, 6); return err }(), ErrBadThreshold},
		{"edit missing: ENOENT", s.EditDest(addrOf("Z"), 1, 0, 0), ErrNoSuchDest},
		{"edit negative weight: ERANGE", s.EditDest(addrOf("A"), -2, 0, 0), ErrBadWeight},
		{"edit lower > upper: ERANGE", s.EditDest(addrOf("A"), 1, 0, 1), ErrBadThreshold},
		{"delete missing: ENOENT", s.DelDest(addrOf("Z")), ErrNoSuchDest},
		{"unknown scheduler: ENOENT", s.SetScheduler("nope", 0), ErrUnknownScheduler},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: error = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if got := listNames(s.Dests()); got != "A" {
		t.Errorf("failed calls changed the list: %s", got)
	}
	if s.Scheduler().Name() != "wlc" {
		t.Errorf("failed SetScheduler replaced the scheduler")
	}
}

func TestServiceTrashRevivesCountersIPVSTrashGetDest(t *testing.T) {
	// ip_vs_add_dest takes a removed dest back from the trash with its
	// connection counters; __ip_vs_update_dest(add=1) sets last_weight to
	// the new weight, even 0.
	s, m := newSvc(t, "wlc", 0, Options{}, w("A", 7), w("B", 1))
	a := m["A"]
	conns(a, 2, 3)
	if err := s.DelDest(addrOf("A")); err != nil {
		t.Fatal(err)
	}
	if a.Available() {
		t.Fatal("deleted dest still AVAILABLE")
	}
	b, err := s.AddDest(addrOf("A"), 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b != a || b.ActiveConns() != 2 || b.InactConns() != 3 || !b.Available() {
		t.Fatalf("re-add did not revive dest: same=%v active=%d inact=%d avail=%v",
			b == a, b.ActiveConns(), b.InactConns(), b.Available())
	}
	if b.LastWeight() != 0 {
		t.Errorf("LastWeight after add with weight 0 = %d, want 0 (add sets last_weight)", b.LastWeight())
	}
	// An edit to weight 0 keeps the latest non-zero weight.
	if err := s.EditDest(addrOf("A"), 4, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.EditDest(addrOf("A"), 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if b.Weight() != 0 || b.LastWeight() != 4 {
		t.Errorf("weight/last_weight = %d/%d, want 0/4", b.Weight(), b.LastWeight())
	}
}

func TestServiceTrashForgetsIdleDests(t *testing.T) {
	s, m := newSvc(t, "rr", 0, Options{}, w("A", 1), w("B", 1), w("C", 1))
	conns(m["B"], 0, 1) // B keeps a connection while removed
	for _, n := range []string{"A", "B", "C"} {
		if err := s.DelDest(addrOf(n)); err != nil {
			t.Fatal(err)
		}
	}
	// C's delete pruned the idle A; C itself is idle but was only just
	// added. B still carries a connection.
	if _, ok := s.trash[addrOf("A")]; ok {
		t.Error("idle A still in trash")
	}
	if s.trash[addrOf("B")] != m["B"] {
		t.Error("B with a connection was dropped from the trash")
	}
	d, _ := s.AddDest(addrOf("B"), 1, 0, 0)
	if d != m["B"] || d.InactConns() != 1 {
		t.Error("B not revived from trash")
	}
}

func TestServiceEditThresholdClearsOverloadIPVSUpdateDest(t *testing.T) {
	// __ip_vs_update_dest clears OVERLOAD when the new upper threshold is 0
	// or larger than the old one; a smaller one leaves the flag as it is.
	s, m := newSvc(t, "rr", 0, Options{}, spec{"A", 1, 2, 0})
	a := m["A"]
	conns(a, 0, 2)
	if !a.Overloaded() {
		t.Fatal("2 conns with u=2: want OVERLOAD (ip_vs_bind_dest)")
	}
	if err := s.EditDest(addrOf("A"), 1, 1, 0); err != nil {
		t.Fatal(err)
	}
	if !a.Overloaded() {
		t.Error("smaller upper threshold cleared OVERLOAD")
	}
	if err := s.EditDest(addrOf("A"), 1, 3, 0); err != nil {
		t.Fatal(err)
	}
	if a.Overloaded() {
		t.Error("larger upper threshold kept OVERLOAD")
	}
}

func TestDestOverloadThresholdsIPVSBindUnbindDest(t *testing.T) {
	tests := []struct {
		u, l uint32
		// total connections after which OVERLOAD is cleared while unbinding
		// from u connections
		clearBelow int
	}{
		{u: 8, l: 4, clearBelow: 4}, // l set: clear when total < l
		{u: 8, l: 0, clearBelow: 6}, // l unset: clear when total*4 < u*3, 6*4=24 = 24 not <, 5*4 < 24
		{u: 10, l: 0, clearBelow: 8},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("u%d_l%d", tc.u, tc.l), func(t *testing.T) {
			d := NewDest(addrOf("A"), 1, tc.u, tc.l)
			for i := range int(tc.u) {
				if d.Overloaded() {
					t.Fatalf("OVERLOAD at %d conns < u=%d", i, tc.u)
				}
				d.Bind(false)
			}
			if !d.Overloaded() {
				t.Fatalf("no OVERLOAD at u=%d conns", tc.u)
			}
			for total := int(tc.u) - 1; total >= 0; total-- {
				d.Unbind(false, false)
				if want := total >= tc.clearBelow; d.Overloaded() != want {
					t.Fatalf("total %d: OVERLOAD=%v, want %v", total, d.Overloaded(), want)
				}
			}
		})
	}
	// Templates count in persistconns, not in the threshold total.
	d := NewDest(addrOf("A"), 1, 1, 0)
	d.Bind(true)
	if d.Overloaded() || d.PersistConns() != 1 {
		t.Errorf("template: overloaded=%v persist=%d", d.Overloaded(), d.PersistConns())
	}
	if d.Overhead() != 0 {
		t.Errorf("template overhead = %d, want 0", d.Overhead())
	}
	conns(d, 1, 2)
	if d.Overhead() != 1<<8+2 {
		t.Errorf("overhead = %d, want active<<8 + inactive = %d", d.Overhead(), 1<<8+2)
	}
}

func TestSetSchedulerSameNameKeepsStateIPVSEditService(t *testing.T) {
	// ip_vs_edit_service only rebinds when the scheduler changes; the same
	// scheduler keeps its state and just sees the new svc->flags.
	s, _ := newSvc(t, "rr", 0, Options{}, w("A", 1), w("B", 1), w("C", 1))
	if got := picks(s, 1, &Key{}); got != "C" {
		t.Fatalf("first pick %s", got)
	}
	if err := s.SetScheduler("rr", FlagSched1); err != nil {
		t.Fatal(err)
	}
	if s.Flags() != FlagSched1 {
		t.Errorf("flags = %#x", s.Flags())
	}
	if got := picks(s, 2, &Key{}); got != "B A" {
		t.Errorf("after -E with the same scheduler picks = %s, want B A (cursor kept)", got)
	}
	if err := s.SetScheduler("wrr", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetScheduler("rr", 0); err != nil {
		t.Fatal(err)
	}
	if got := picks(s, 1, &Key{}); got != "C" {
		t.Errorf("after switching back to rr pick = %s, want C (fresh cursor)", got)
	}
}
