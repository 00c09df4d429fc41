// Package stats holds IPVS-style traffic counters and the IPVS rate
// estimator (net/netfilter/ipvs/ip_vs_est.c).
//
// Counters are cumulative and lock-free (atomic adds from the data path).
// Zeroing (ipvsadm -Z) does not reset them: like ip_vs_zero_stats
// (ip_vs_ctl.c) it records the current values as the zero point (kstats0) and
// reports differences, while the estimator keeps reading the raw counters.
package stats

import (
	"sync"
	"sync/atomic"
)

// Stats are cumulative counters, as in struct ip_vs_kstats / ip_vs_stats_user.
// The field set and order match api.Stats so the two convert directly.
type Stats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
}

// Rates are per-second rates read from the estimator (ip_vs_read_estimator).
// The field set and order match api.Rates.
type Rates struct {
	CPS, InPPS, OutPPS, InBPS, OutBPS uint64
}

// Sub returns s - o field by field.
func (s Stats) Sub(o Stats) Stats {
	return Stats{
		Conns:    s.Conns - o.Conns,
		InPkts:   s.InPkts - o.InPkts,
		OutPkts:  s.OutPkts - o.OutPkts,
		InBytes:  s.InBytes - o.InBytes,
		OutBytes: s.OutBytes - o.OutBytes,
	}
}

// Counters are the raw cumulative counters of one service or destination.
// All methods are safe for concurrent use and do not allocate.
type Counters struct {
	conns    atomic.Uint64
	inPkts   atomic.Uint64
	outPkts  atomic.Uint64
	inBytes  atomic.Uint64
	outBytes atomic.Uint64
}

// AddConn counts one new connection (ip_vs_conn_stats, ip_vs_core.c).
func (c *Counters) AddConn() { c.conns.Add(1) }

// AddIn counts traffic from the client towards the real server
// (ip_vs_in_stats).
func (c *Counters) AddIn(pkts, bytes uint64) {
	if pkts != 0 {
		c.inPkts.Add(pkts)
	}
	if bytes != 0 {
		c.inBytes.Add(bytes)
	}
}

// AddOut counts traffic from the real server towards the client
// (ip_vs_out_stats).
func (c *Counters) AddOut(pkts, bytes uint64) {
	if pkts != 0 {
		c.outPkts.Add(pkts)
	}
	if bytes != 0 {
		c.outBytes.Add(bytes)
	}
}

// Load returns the raw counters.
func (c *Counters) Load() Stats {
	return Stats{
		Conns:    c.conns.Load(),
		InPkts:   c.inPkts.Load(),
		OutPkts:  c.outPkts.Load(),
		InBytes:  c.inBytes.Load(),
		OutBytes: c.outBytes.Load(),
	}
}

// Tick is the estimator period: estimation_timer re-arms itself every 2*HZ.
const Tick = 2 // seconds

// Estimator is struct ip_vs_estimator: smoothed rates, updated every Tick
// seconds with avg += (rate - avg) >> 2 (W = 1/4). cps and pps are kept
// scaled by 2^10 and bps by 2^5; since the counters are differences over 2 s,
// the kernel shifts by 9 and 4 (scale / 2) instead of dividing.
// The zero value is ready to use.
type Estimator struct {
	last                              Stats
	cps, inpps, outpps, inbps, outbps uint64
}

// ewma is one line of estimation_timer / ip_vs_chain_estimation:
// e->x += ((s64)rate - (s64)e->x) >> 2, with an arithmetic shift.
func ewma(avg, rate uint64) uint64 {
	return avg + uint64((int64(rate)-int64(avg))>>2)
}

// Update feeds the raw counters read at one tick.
func (e *Estimator) Update(cur Stats) {
	e.cps = ewma(e.cps, (cur.Conns-e.last.Conns)<<9)
	e.inpps = ewma(e.inpps, (cur.InPkts-e.last.InPkts)<<9)
	e.outpps = ewma(e.outpps, (cur.OutPkts-e.last.OutPkts)<<9)
	e.inbps = ewma(e.inbps, (cur.InBytes-e.last.InBytes)<<4)
	e.outbps = ewma(e.outbps, (cur.OutBytes-e.last.OutBytes)<<4)
	e.last = cur
}

// Rates decodes the scaled averages with the kernel's rounding
// (ip_vs_read_estimator): (x + 0x1FF) >> 10 for cps/pps, (x + 0xF) >> 5 for bps.
func (e *Estimator) Rates() Rates {
	return Rates{
		CPS:    (e.cps + 0x1FF) >> 10,
		InPPS:  (e.inpps + 0x1FF) >> 10,
		OutPPS: (e.outpps + 0x1FF) >> 10,
		InBPS:  (e.inbps + 0xF) >> 5,
		OutBPS: (e.outbps + 0xF) >> 5,
	}
}

// Reset is ip_vs_zero_estimator: the current counters become the reference
// and every rate restarts from 0.
func (e *Estimator) Reset(cur Stats) {
	*e = Estimator{last: cur}
}

// Stat is struct ip_vs_stats: counters, the zero point set by -Z, and the
// estimator. The counters are updated lock-free; the lock only guards the
// zero point and the estimator.
type Stat struct {
	Counters

	mu   sync.Mutex
	zero Stats
	est  Estimator
}

// New returns a Stat whose estimator starts from the current (zero) counters.
func New() *Stat { return &Stat{} }

// Snapshot returns the counters since the last Zero.
func (s *Stat) Snapshot() Stats {
	cur := s.Load()
	s.mu.Lock()
	z := s.zero
	s.mu.Unlock()
	return cur.Sub(z)
}

// Rates returns the current estimated rates.
func (s *Stat) Rates() Rates {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.est.Rates()
}

// Tick runs one estimator step over the raw counters.
func (s *Stat) Tick() {
	cur := s.Load()
	s.mu.Lock()
	s.est.Update(cur)
	s.mu.Unlock()
}

// Zero is ip_vs_zero_stats: counters read as zero from now on and the rates
// restart from zero.
func (s *Stat) Zero() {
	cur := s.Load()
	s.mu.Lock()
	s.zero = cur
	s.est.Reset(cur)
	s.mu.Unlock()
}
