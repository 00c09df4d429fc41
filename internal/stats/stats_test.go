package stats

import (
	"math/big"
	"sync"
	"testing"
)

// refEWMA re-derives one estimator step of ip_vs_est.c with exact integer
// arithmetic: avg' = avg + floor((rate - avg) / 4), where rate is the 2 s
// counter difference scaled by 2^10/2 (pps, cps) or 2^5/2 (bps).
func refEWMA(avg *big.Int, delta uint64, scaleShift uint) {
	rate := new(big.Int).Lsh(new(big.Int).SetUint64(delta), scaleShift-1) // scaled, divided by 2 s
	d := new(big.Int).Sub(rate, avg)
	// floor division by 4 (Go's Div is Euclidean, equal to floor for a positive divisor).
	d.Div(d, big.NewInt(4))
	avg.Add(avg, d)
}

// refRead is ip_vs_read_estimator's rounding: add half a unit minus one, shift.
func refRead(avg *big.Int, scaleShift uint) uint64 {
	half := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), scaleShift-1), big.NewInt(1))
	return new(big.Int).Rsh(new(big.Int).Add(avg, half), scaleShift).Uint64()
}

func TestEstimatorConstantRate_ip_vs_est(t *testing.T) {
	tests := []struct {
		name                string
		connsPerSec         uint64
		pktsPerSec          uint64
		bytesPerSec         uint64
		ticks               int
		wantFirstCPS        []uint64 // l4.md §2 (simulation of ip_vs_est.c); re-checked against refEWMA below
		wantConvergedCPS    uint64
		wantConvergedInBPS  uint64
		wantConvergedInPPS  uint64
		wantConvergedOutBPS uint64
	}{
		{name: "100cps", connsPerSec: 100, pktsPerSec: 1000, bytesPerSec: 1_000_000, ticks: 60,
			wantFirstCPS: []uint64{25, 44, 58, 68, 76}, wantConvergedCPS: 100, wantConvergedInPPS: 1000,
			wantConvergedInBPS: 1_000_000, wantConvergedOutBPS: 500_000},
		{name: "1cps", connsPerSec: 1, pktsPerSec: 3, bytesPerSec: 7, ticks: 60,
			// 1 conn/s: avg 256, 448, 592 (scaled 2^10) -> read 0, 0, 1.
			wantFirstCPS: []uint64{0, 0, 1, 1, 1}, wantConvergedCPS: 1, wantConvergedInPPS: 3,
			// 3.5 B/s out: the average settles at 109 (within 4 of 112 = 7<<4) -> (109+15)>>5 = 3.
			wantConvergedInBPS: 7, wantConvergedOutBPS: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e Estimator
			var c Counters
			refCPS, refPPS, refBPS, refOBPS := new(big.Int), new(big.Int), new(big.Int), new(big.Int)
			for i := 0; i < tc.ticks; i++ {
				for range tc.connsPerSec * Tick {
					c.AddConn()
				}
				c.AddIn(tc.pktsPerSec*Tick, tc.bytesPerSec*Tick)
				c.AddOut(0, tc.bytesPerSec*Tick/2)
				e.Update(c.Load())
				refEWMA(refCPS, tc.connsPerSec*Tick, 10)
				refEWMA(refPPS, tc.pktsPerSec*Tick, 10)
				refEWMA(refBPS, tc.bytesPerSec*Tick, 5)
				refEWMA(refOBPS, tc.bytesPerSec*Tick/2, 5)
				r := e.Rates()
				want := Rates{CPS: refRead(refCPS, 10), InPPS: refRead(refPPS, 10), InBPS: refRead(refBPS, 5), OutBPS: refRead(refOBPS, 5)}
				if r != want {
					t.Fatalf("tick %d: rates %+v, kernel arithmetic gives %+v", i+1, r, want)
				}
				if i < len(tc.wantFirstCPS) && r.CPS != tc.wantFirstCPS[i] {
					t.Errorf("tick %d (t=%ds): CPS %d, want %d", i+1, (i+1)*Tick, r.CPS, tc.wantFirstCPS[i])
				}
			}
			r := e.Rates()
			if r.CPS != tc.wantConvergedCPS || r.InPPS != tc.wantConvergedInPPS || r.InBPS != tc.wantConvergedInBPS || r.OutBPS != tc.wantConvergedOutBPS {
				t.Errorf("after %d ticks: %+v, want CPS %d InPPS %d InBPS %d OutBPS %d", tc.ticks, r,
					tc.wantConvergedCPS, tc.wantConvergedInPPS, tc.wantConvergedInBPS, tc.wantConvergedOutBPS)
			}
		})
	}
}

// The kernel shifts a signed difference ((s64)rate - (s64)avg) >> 2: when the
// traffic stops, the average must decay to exactly 0, not wrap around.
func TestEstimatorDecaysToZero_ip_vs_est(t *testing.T) {
	var e Estimator
	var c Counters
	for range 40 {
		for range 20 {
			c.AddConn()
		}
		e.Update(c.Load())
	}
	if e.Rates().CPS != 10 {
		t.Fatalf("warm-up CPS %d, want 10", e.Rates().CPS)
	}
	ref := new(big.Int).SetUint64(e.cps)
	prev := e.Rates().CPS
	for i := range 100 {
		e.Update(c.Load())
		refEWMA(ref, 0, 10)
		if e.cps != ref.Uint64() {
			t.Fatalf("tick %d: scaled cps %d, kernel arithmetic gives %s", i, e.cps, ref)
		}
		if r := e.Rates().CPS; r > prev {
			t.Fatalf("tick %d: CPS rose from %d to %d with no traffic", i, prev, r)
		} else {
			prev = r
		}
	}
	if e.cps != 0 || e.Rates().CPS != 0 {
		t.Fatalf("after 100 idle ticks scaled cps = %d, want 0", e.cps)
	}
}

func TestStatZero_ip_vs_zero_stats(t *testing.T) {
	s := New()
	for range 8 {
		s.AddConn()
	}
	s.AddIn(10, 1000)
	s.AddOut(5, 500)
	s.Tick()
	if s.Rates().CPS == 0 {
		t.Fatal("rates should be non-zero before Zero")
	}
	s.Zero()
	if got := s.Snapshot(); got != (Stats{}) {
		t.Fatalf("after Zero: %+v, want all zero", got)
	}
	if got := s.Rates(); got != (Rates{}) {
		t.Fatalf("after Zero rates: %+v, want all zero", got)
	}
	// The raw counters are untouched (the kernel keeps kstats, sets kstats0).
	if got := s.Load().Conns; got != 8 {
		t.Fatalf("raw conns %d, want 8", got)
	}
	s.AddConn()
	s.AddIn(1, 7)
	if got := s.Snapshot(); got != (Stats{Conns: 1, InPkts: 1, InBytes: 7}) {
		t.Fatalf("after Zero and new traffic: %+v", got)
	}
	// The estimator restarted from the raw counters: one tick with one new
	// conn in 2 s gives 0.5 cps -> avg = (1<<9)>>2 = 128 -> (128+511)>>10 = 0.
	s.Tick()
	if got := s.Rates().CPS; got != 0 {
		t.Fatalf("CPS after zero + 1 conn = %d, want 0", got)
	}
}

func TestCountersConcurrent(t *testing.T) {
	var c Counters
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.AddConn()
				c.AddIn(1, 10)
				c.AddOut(2, 20)
			}
		})
	}
	wg.Wait()
	want := Stats{Conns: 8000, InPkts: 8000, InBytes: 80000, OutPkts: 16000, OutBytes: 160000}
	if got := c.Load(); got != want {
		t.Fatalf("got %+v want %+v", got, want)
	}
}

func BenchmarkEstimatorTick(b *testing.B) {
	s := New()
	b.ReportAllocs()
	for b.Loop() {
		s.AddConn()
		s.AddIn(3, 300)
		s.Tick()
	}
}
