// Package gctune keeps Go's garbage collector from running far more often
// than a proxy needs.
//
// A proxy's live heap is small and steady (a few MiB of configuration,
// tables and pooled buffers) while it allocates per request, so with
// GOGC=100 the heap goal sits at the runtime's 4 MiB minimum and the
// collector runs dozens of times a second under load. On the one CPU a
// proxy is usually pinned to, every cycle takes that CPU from the
// requests: it shows as lower throughput and, above all, a longer tail
// latency. HeapFloor raises GOGC while the live heap is small, so that the
// heap goal never drops under a floor (64 MiB by default in `fulcrum run`),
// and leaves it at its base value once the live heap is large enough that
// the base already gives that much room. It is the heap-floor half of the
// "GC tuner" idea (a soft memory limit is the other half, and Go has it:
// GOMEMLIMIT still applies on top).
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent bounds the GOGC the floor may ask for.
const maxPercent = 100_000

// Percent is the GOGC that keeps the heap goal, live × (1 + GOGC/100),
// at or above floor, and never under base.
func Percent(live, floor uint64, base int) int {
	if live == 0 || floor <= live {
		return base
	}
	p := int((floor - live) * 100 / live)
	if (floor-live)*100%live != 0 {
		p++
	}
	return min(max(p, base), maxPercent)
}

// HeapFloor keeps the heap goal at least floor bytes, adjusting GOGC
// after every garbage collection, until stop is called (which puts the
// base GOGC back). It does nothing when floor is 0 or GOGC is set in the
// environment (the operator's choice wins). The adjustment runs from the
// runtime's finalizer goroutine.
func HeapFloor(floor uint64) (stop func()) {
	if floor == 0 {
		return func() {}
	}
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base < 0 {
		return func() {} // GOGC=off by other means
	}
	t := &tuner{floor: floor, base: base, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.adjust()
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.stopped {
			t.stopped = true
			debug.SetGCPercent(base)
		}
	}
}

type tuner struct {
	floor   uint64
	base    int
	sample  []metrics.Sample
	mu      sync.Mutex
	stopped bool
}

// sentinel is garbage whose finalizer runs after each collection and
// re-arms itself with a new one.
type sentinel struct{ t *tuner }

func (t *tuner) arm() {
	s := &sentinel{t: t}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.t.adjust() {
			s.t.arm()
		}
	})
}

// adjust sets GOGC for the live heap; false once stopped.
func (t *tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		debug.SetGCPercent(Percent(t.sample[0].Value.Uint64(), t.floor, t.base))
	}
	return true
}
