package xdp

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// An Apply that changes the dest list leaves rr and wrr where the kernel's
// schedulers are after the same ipvsadm -a/-d/-e: rr's cursor stays on its
// dest or falls back to the predecessor of a deleted one
// (ip_vs_rr_del_dest); wrr restarts from the list head with its current
// weight kept, clamped or aligned to the new gcd (ip_vs_wrr_dest_changed).
// Every pick before and after each change equals package sched's, overloads
// (upper thresholds) included; a change with no pick in between carries
// the state as well.
func TestCycleAcrossApplyMatchesPackageSched(t *testing.T) {
	a := func(w int32) config.Real { return rl("10.0.0.2:80", w, 0) }
	b := func(w int32) config.Real { return rl("10.0.0.3:80", w, 0) }
	c := func(w int32) config.Real { return rl("10.0.0.4:80", w, 0) }
	d := func(w int32) config.Real { return rl("10.0.0.5:80", w, 0) }
	e := func(w int32) config.Real { return rl("10.0.0.6:80", w, 0) }
	type step struct {
		reals []config.Real
		picks int
	}
	cases := []struct {
		name  string
		sched string
		steps []step
	}{
		{"rr/delete-cursor-dest", "rr", []step{
			{[]config.Real{a(1), b(1), c(1), d(1)}, 2},
			// the cursor is on c (list d c b a): it goes, b is next
			{[]config.Real{a(1), b(1), d(1)}, 5},
			{[]config.Real{a(1), b(1), d(1), e(1)}, 3},
			{[]config.Real{a(1), b(0), d(1), e(1)}, 4},
		}},
		{"rr/delete-several-without-picks", "rr", []step{
			{[]config.Real{a(1), b(1), c(1), d(1), e(1)}, 3},
			{[]config.Real{a(1), b(1), e(1)}, 0},
			{[]config.Real{a(1), e(1), c(2)}, 0},
			{[]config.Real{a(1), e(1), c(2), d(1)}, 7},
		}},
		{"rr/overload", "rr", []step{
			{[]config.Real{rl("10.0.0.2:80", 1, 2), b(1), c(1)}, 5},
			{[]config.Real{rl("10.0.0.2:80", 1, 2), c(1), d(1)}, 6},
			{[]config.Real{rl("10.0.0.2:80", 1, 0), c(1), d(1)}, 4},
		}},
		{"wrr/weights", "wrr", []step{
			{[]config.Real{a(4), b(3), c(2)}, 4},
			{[]config.Real{a(4), b(1), c(2)}, 5},
			{[]config.Real{a(2), b(1), c(2), d(5)}, 6},
			{[]config.Real{b(1), c(2), d(5)}, 9},
		}},
		{"wrr/gcd", "wrr", []step{
			{[]config.Real{a(4), b(2), c(6)}, 2},
			// di 2 -> 1: cw kept
			{[]config.Real{a(4), b(2), c(6), d(3)}, 3},
			// di 1 -> 2: cw aligned to the first weight of its step
			{[]config.Real{a(4), b(2), c(6)}, 4},
			// mw shrinks below cw: clamped
			{[]config.Real{a(4), b(2)}, 5},
		}},
		{"wrr/threshold-edit-resets-cl", "wrr", []step{
			{[]config.Real{a(3), b(3), c(3)}, 2},
			{[]config.Real{rl("10.0.0.2:80", 3, 9), b(3), c(3)}, 4},
			{[]config.Real{rl("10.0.0.2:80", 3, 0), b(3), c(3)}, 0},
			{[]config.Real{rl("10.0.0.2:80", 3, 0), b(2), c(3)}, 6},
		}},
		{"wrr/overload", "wrr", []step{
			{[]config.Real{rl("10.0.0.2:80", 5, 3), b(2), c(1)}, 6},
			{[]config.Real{rl("10.0.0.2:80", 5, 3), b(2), c(1), d(2)}, 7},
			{[]config.Real{b(2), c(1), d(2)}, 5},
		}},
		{"wrr/all-weight-zero-and-back", "wrr", []step{
			{[]config.Real{a(2), b(1)}, 2},
			{[]config.Real{a(0), b(0)}, 2},
			{[]config.Real{a(2), b(1), c(1)}, 5},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := newTestPlane(t, nil)
			l := newLockstep(t, p, sched.Options{}, svc(config.TCP, "10.0.0.100:80", tc.sched, tc.steps[0].reals...))
			for i, st := range tc.steps {
				if i > 0 {
					l.set(0, st.reals...)
					l.commit()
				}
				l.conns(0, st.picks)
			}
			l.counters()
		})
	}
}

// Across a change of scheduler (ipvsadm -E) the new rr or wrr starts fresh,
// as init_service does, and a change back to the same scheduler with other
// flags keeps its state.
func TestCycleSchedulerSwitch(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	reals := []config.Real{rl("10.0.0.2:80", 3, 0), rl("10.0.0.3:80", 1, 0), rl("10.0.0.4:80", 2, 0)}
	l := newLockstep(t, p, sched.Options{}, svc(config.TCP, "10.0.0.100:80", "wrr", reals...))
	l.conns(0, 4)
	for _, name := range []string{"rr", "wlc", "wrr", "rr"} {
		l.scheduler(0, name)
		l.commit()
		l.conns(0, 5)
	}
	l.svcs[0].cfg.SchedFlags = []string{"flag-3"}
	if err := l.svcs[0].o.SetScheduler("rr", sched.FlagSched3); err != nil {
		t.Fatal(err)
	}
	l.commit()
	l.conns(0, 3)
}

// The placed cursor is where the kernel's next pick is found: for the
// documented example of ip_vs_rr_del_dest (cursor on a deleted dest) the
// next pick is the dest that followed it.
func TestCyclePlacesCursorAfterDeletedDest(t *testing.T) {
	p, _ := newTestPlane(t, nil)
	reals := []config.Real{rl("10.0.0.2:80", 1, 0), rl("10.0.0.3:80", 1, 0), rl("10.0.0.4:80", 1, 0)}
	l := newLockstep(t, p, sched.Options{}, svc(config.TCP, "10.0.0.100:80", "rr", reals...))
	// list .4 .3 .2: the first pick is .4, the second .3
	picks := l.conns(0, 2)
	if picks[1].String() != "10.0.0.3" {
		t.Fatalf("picks %v", picks)
	}
	l.set(0, reals[0], reals[2])
	l.commit()
	// new list .4 .2: the cursor falls back to .4, so .2 is next
	if got := tabCursor(t, p); got != "cursor=1/placed" {
		t.Fatalf("after deleting the cursor's dest: %s, want cursor=1/placed", got)
	}
	if got := l.conn(0, true); got.String() != "10.0.0.2" {
		t.Fatalf("next pick %s, want 10.0.0.2", got)
	}
}

// tabCursor is the cursor field of the first service's table in the dump.
func tabCursor(t *testing.T, p *Plane) string {
	t.Helper()
	for _, line := range strings.Split(string(dump(t, p)), "\n") {
		if strings.HasPrefix(line, "tab ") {
			return strings.Fields(line)[2]
		}
	}
	return "" // no table: no dest with weight > 0
}

// Random sequences of configurations (dests added, removed, reweighted,
// thresholds set and cleared) with random numbers of connections in
// between: rr and wrr picks stay equal to package sched's throughout.
func TestCycleRandomChangesMatchPackageSched(t *testing.T) {
	for _, name := range []string{"rr", "wrr"} {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/seed%d", name, seed), func(t *testing.T) {
				rnd := rand.New(rand.NewPCG(seed, 0x5eed))
				reals := func() []config.Real {
					var rs []config.Real
					for _, i := range rnd.Perm(6)[:1+rnd.IntN(6)] {
						var upper uint32
						if rnd.IntN(4) == 0 {
							upper = uint32(2 + rnd.IntN(4))
						}
						rs = append(rs, rl(fmt.Sprintf("10.0.0.%d:80", 2+i), int32(rnd.IntN(7)), upper))
					}
					return rs
				}
				p, _ := newTestPlane(t, nil)
				l := newLockstep(t, p, sched.Options{}, svc(config.TCP, "10.0.0.100:80", name, reals()...))
				for range 30 {
					l.conns(0, rnd.IntN(7))
					l.set(0, reals()...)
					l.commit()
				}
				l.conns(0, 6)
				l.counters()
			})
		}
	}
}
