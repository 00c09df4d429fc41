package main

import (
	"slices"
	"time"
)

// sample is one measured run.
type sample struct {
	scenario, target string
	round            int
	result
	// proxyCPU is the CPU time the target's processes used per second
	// of the run (1 = one CPU fully busy); -1 for "direct".
	proxyCPU float64
	// cpuBusy is the busy share of the load generators' CPU and of the
	// proxies' CPU over the run, from /proc/stat (any process, softirq
	// included).
	loadBusy, proxyBusy float64
}

// stat is the median and range of a measurement over the rounds.
type stat struct {
	med, lo, hi float64
	n           int
}

func summarize(xs []float64) stat {
	if len(xs) == 0 {
		return stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return stat{med: median(s), lo: s[0], hi: s[len(s)-1], n: len(s)}
}

// median of sorted values; the mean of the middle two for an even count.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// spread is (max-min)/median: how far apart the rounds were.
func (s stat) spread() float64 {
	if s.med == 0 {
		return 0
	}
	return (s.hi - s.lo) / s.med
}

// cell is the summary of one target in one scenario.
type cell struct {
	rate               stat
	p50, p99           stat // in nanoseconds
	proxyCPU           stat
	loadBusy, proxyBus stat
	requests, errors   int64
}

func summarizeCell(ss []sample) cell {
	var rate, p50, p99, cpu, lb, pb []float64
	var c cell
	for _, s := range ss {
		rate = append(rate, s.rate)
		if s.p50 > 0 {
			p50 = append(p50, float64(s.p50))
			p99 = append(p99, float64(s.p99))
		}
		if s.proxyCPU >= 0 {
			cpu = append(cpu, s.proxyCPU)
		}
		lb = append(lb, s.loadBusy)
		pb = append(pb, s.proxyBusy)
		c.requests += s.requests
		c.errors += s.errors
	}
	c.rate, c.p50, c.p99, c.proxyCPU = summarize(rate), summarize(p50), summarize(p99), summarize(cpu)
	c.loadBusy, c.proxyBus = summarize(lb), summarize(pb)
	return c
}

func dur(ns float64) time.Duration { return time.Duration(ns) }
