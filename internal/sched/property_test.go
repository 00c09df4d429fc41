package sched

import (
	"math/rand"
	"net/netip"
	"reflect"
	"testing"
	"testing/quick"
)

// destCfg is the state of one dest in a random configuration.
type destCfg struct {
	Weight           int32
	Active, Inactive int
	Overload         bool
}

// svcCfg is a random service: dests in add order, and the client keys to
// schedule.
type svcCfg struct {
	Dests []destCfg
	Keys  []Key
}

func (svcCfg) Generate(r *rand.Rand, _ int) reflect.Value {
	c := svcCfg{Dests: make([]destCfg, r.Intn(8))}
	for i := range c.Dests {
		c.Dests[i] = destCfg{
			Weight:   int32(r.Intn(5)),
			Active:   r.Intn(5),
			Inactive: r.Intn(5),
			Overload: r.Intn(4) == 0,
		}
	}
	c.Keys = make([]Key, 1+r.Intn(6))
	for i := range c.Keys {
		c.Keys[i] = Key{
			Src:     netip.AddrFrom4([4]byte{10, byte(r.Intn(4)), byte(r.Intn(256)), byte(r.Intn(256))}),
			SrcPort: uint16(r.Intn(65536)),
			Dst:     netip.AddrFrom4([4]byte{203, 0, 113, byte(r.Intn(8))}),
		}
	}
	return reflect.ValueOf(c)
}

// build creates the service; dest i is named by letter i.
func (c svcCfg) build(t testing.TB, sched string, flags uint32) *Service {
	s, err := NewService(sched, flags, Options{Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	for i, dc := range c.Dests {
		var u uint32
		if dc.Overload {
			u = uint32(dc.Active + dc.Inactive + 1)
		}
		d, err := s.AddDest(addrOf(string(rune('A'+i))), dc.Weight, u, 0)
		if err != nil {
			t.Fatal(err)
		}
		conns(d, dc.Active, dc.Inactive)
		if dc.Overload {
			d.Bind(false)
		}
	}
	return s
}

// checkPick states, per scheduler, what the kernel code guarantees about a
// pick: never a weight-0 or OVERLOAD dest (lblc's cache hit may return an
// OVERLOAD one), and nil exactly when no dest qualifies, where the
// scheduler's own rule defines "qualifies".
func checkPick(t testing.TB, sched string, flags uint32, s *Service, k *Key, got *Dest, first bool) {
	t.Helper()
	ds := s.Dests()
	anyEligible := false
	for _, d := range ds {
		anyEligible = anyEligible || eligible(d)
	}
	if got != nil {
		if got.Weight() <= 0 {
			t.Fatalf("%s returned %s with weight %d", sched, nameOf(got), got.Weight())
		}
		if got.Overloaded() && sched != "lblc" {
			t.Fatalf("%s returned OVERLOAD dest %s", sched, nameOf(got))
		}
		if sched == "ovf" && got.ActiveConns() > got.Weight() {
			t.Fatalf("ovf returned %s with active %d > weight %d", nameOf(got), got.ActiveConns(), got.Weight())
		}
	}
	var wantNil bool
	switch sched {
	case "dh", "sh", "mh":
		var slot *Dest
		switch sched {
		case "dh":
			slot = s.Scheduler().(*dh).tab.Load()[dhHash(k)]
		case "sh":
			slot = s.Scheduler().(*sh).tab.Load()[shHash(foldAddr(k.Src), 0, 0)]
		case "mh":
			slot = s.Scheduler().(*mh).lookup.Load()[hsiphash1u32(foldAddr(k.Src), mhKey1)%mhTabSize]
		}
		if flags&FlagSched1 == 0 || slot == nil {
			wantNil = slot == nil || !eligible(slot)
		} else if sched == "sh" {
			wantNil = !anyEligible // fallback visits every bucket
		} else {
			// mh-fallback rehashes 4093 times but need not visit every
			// slot: only "nothing eligible ⇒ nil" is guaranteed.
			if !anyEligible && got != nil {
				t.Fatalf("mh-fallback returned %s with nothing eligible", nameOf(got))
			}
			return
		}
	case "ovf":
		wantNil = true
		for _, d := range ds {
			if eligible(d) && d.ActiveConns() <= d.Weight() {
				wantNil = false
			}
		}
	case "lblc":
		if !first { // a cache hit may still return a dest
			if got == nil && anyEligible {
				t.Fatal("lblc returned nil with an eligible dest")
			}
			return
		}
		wantNil = !anyEligible
	default:
		wantNil = !anyEligible
	}
	if (got == nil) != wantNil {
		t.Fatalf("%s returned %s, want nil=%v (dests %s)", sched, nameOf(got), wantNil, listNames(ds))
	}
}

func checkConfig(t testing.TB, c svcCfg) {
	for _, name := range Names() {
		for _, flags := range []uint32{0, FlagSched1} {
			if flags != 0 && name != "sh" && name != "mh" {
				continue
			}
			s := c.build(t, name, flags)
			seen := map[netip.Addr]bool{}
			for i := range c.Keys {
				k := &c.Keys[i]
				for range 3 {
					got := s.Schedule(k)
					checkPick(t, name, flags, s, k, got, !seen[k.Dst])
					seen[k.Dst] = true
				}
			}
		}
	}
}

func TestProperty_NoIneligiblePickAndNilIffNoneQualifies(t *testing.T) {
	err := quick.Check(func(c svcCfg) bool {
		checkConfig(t, c)
		return !t.Failed()
	}, &quick.Config{MaxCount: 300})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzSchedulerInvariants decodes a service from bytes: per dest one byte
// (weight = b&3, overload = b&4, active = b>>3&3, inactive = b>>5) and
// checks the same invariants for every scheduler.
func FuzzSchedulerInvariants(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint32(0x0a000001))
	f.Add([]byte{0, 4, 0x1d}, uint32(7))
	f.Add([]byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, spec []byte, src uint32) {
		if len(spec) > 12 {
			spec = spec[:12]
		}
		var c svcCfg
		for _, b := range spec {
			c.Dests = append(c.Dests, destCfg{
				Weight: int32(b & 3), Overload: b&4 != 0, Active: int(b >> 3 & 3), Inactive: int(b >> 5),
			})
		}
		a := netip.AddrFrom4([4]byte{byte(src >> 24), byte(src >> 16), byte(src >> 8), byte(src)})
		c.Keys = []Key{{Src: a, SrcPort: uint16(src), Dst: a}}
		checkConfig(t, c)
	})
}

// Over one full cycle of current weights (sum of weight/gcd picks) every
// dest is picked exactly weight/gcd times, whether wrr starts from
// init_service (cw = mw) or from the cw left by the adds.
func TestProperty_WRRSharesEqualWeightRatios(t *testing.T) {
	err := quick.Check(func(raw []uint8, fresh bool) bool {
		if len(raw) == 0 {
			return true
		}
		if len(raw) > 8 {
			raw = raw[:8]
		}
		adds := make([]spec, len(raw))
		var g int32
		for i, b := range raw {
			wt := int32(b % 21)
			adds[i] = w(string(rune('A'+i)), wt)
			if wt > 0 {
				if g == 0 {
					g = wt
				} else {
					g = gcd(g, wt)
				}
			}
		}
		if g == 0 {
			return true
		}
		sched := "wrr"
		if fresh {
			sched = "rr"
		}
		s, m := newSvc(t, sched, 0, Options{}, adds...)
		if fresh {
			if err := s.SetScheduler("wrr", 0); err != nil {
				t.Fatal(err)
			}
		}
		period := 0
		for _, a := range adds {
			period += int(a.w / g)
		}
		for cycle := range 2 {
			got := map[string]int{}
			for range period {
				got[nameOf(s.Schedule(&Key{}))]++
			}
			for _, a := range adds {
				if want := int(m[a.name].Weight() / g); got[a.name] != want {
					t.Logf("cycle %d weights %v: %s picked %d times, want %d", cycle, raw, a.name, got[a.name], want)
					return false
				}
			}
		}
		return true
	}, &quick.Config{MaxCount: 200})
	if err != nil {
		t.Fatal(err)
	}
}
