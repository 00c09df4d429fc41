package gctune

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const MiB = 1 << 20
	for _, tc := range []struct {
		live, floor uint64
		base, want  int
	}{
		{live: 4 * MiB, floor: 64 * MiB, base: 100, want: 1500},  // 4 × 16 = 64
		{live: 3 * MiB, floor: 64 * MiB, base: 100, want: 2034},  // rounded up: 3 × 21.34 ≥ 64
		{live: 40 * MiB, floor: 64 * MiB, base: 100, want: 100},  // base already gives 80
		{live: 100 * MiB, floor: 64 * MiB, base: 100, want: 100}, // above the floor
		{live: 10 * MiB, floor: 64 * MiB, base: 800, want: 800},  // never under base
		{live: 1, floor: 64 * MiB, base: 100, want: maxPercent},  // bounded
		{live: 0, floor: 64 * MiB, base: 100, want: 100},         // no reading yet
	} {
		if got := Percent(tc.live, tc.floor, tc.base); got != tc.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", tc.live, tc.floor, tc.base, got, tc.want)
		}
		if tc.live > 1 && tc.want < maxPercent {
			goal := tc.live * uint64(100+Percent(tc.live, tc.floor, tc.base)) / 100
			if goal < tc.floor && goal < tc.live*uint64(100+tc.base)/100 {
				t.Errorf("live %d: goal %d under the floor %d", tc.live, goal, tc.floor)
			}
		}
	}
}

// After a collection the tuner has set GOGC for this process's small live
// heap, and puts the base back when its context ends.
func TestHeapFloorAdjustsAfterGC(t *testing.T) {
	t.Setenv("GOGC", "") // present: HeapFloor must leave GOGC alone
	stop := HeapFloor(1 << 30)
	runtime.GC()
	if p := currentPercent(); p != 100 {
		t.Errorf("with GOGC in the environment, GOGC = %d, want 100 untouched", p)
	}
	stop()

	t.Run("unset", func(t *testing.T) {
		// t.Setenv restores the variable afterwards; unset it for this part.
		unsetenv(t, "GOGC")
		stop := HeapFloor(1 << 30) // 1 GiB: far above this test's live heap
		runtime.GC()
		deadline := time.Now().Add(5 * time.Second)
		for currentPercent() <= 100 && time.Now().Before(deadline) {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		if p := currentPercent(); p <= 100 {
			t.Errorf("GOGC = %d after collections with a small live heap, want above 100", p)
		}
		stop()
		runtime.GC()
		if p := currentPercent(); p != 100 {
			t.Errorf("GOGC = %d after stop, want the base 100 back", p)
		}
	})
}

func currentPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
