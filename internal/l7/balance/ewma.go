package balance

import (
	"math"
	"sync"
	"time"
)

// ewmaPeer is one peer of the PeakEWMA balancer.
type ewmaPeer struct {
	cfg       *Peer
	index     int
	weight    int
	maxConns  int
	down      bool
	inflight  int
	cost      float64 // peak EWMA of the latency, nanoseconds
	stamp     int64   // unix nanoseconds of the last observation
	slowstart int64   // seconds
	upSince   int64   // unix seconds the peer came back up
	starting  bool
}

// ewma is power-of-two-choices on a peak-EWMA latency estimate, as
// Finagle's PeakEwma balancer and Linkerd/tower's PeakEwma: the estimate
// jumps to any sample above it and otherwise decays towards the samples
// (and, when read, towards zero) with time constant Decay; a peer's load is
// estimate × (in flight + 1). Two distinct usable peers are drawn and the
// lighter one (load divided by its weight) wins, the first draw on ties.
type ewma struct {
	mu     sync.Mutex
	opt    Options
	peers  []Peer
	p      []ewmaPeer
	usable []int
	tau    float64
	pool   selPool
}

func newEWMA(peers []Peer, opt Options) (*ewma, error) {
	b := &ewma{opt: opt, tau: float64(opt.Decay)}
	b.peers = append([]Peer(nil), peers...)
	now := opt.Now().UnixNano()
	for i := range b.peers {
		p := &b.peers[i]
		b.p = append(b.p, ewmaPeer{cfg: p, index: i, weight: max(p.Weight, 1), maxConns: p.MaxConns,
			down: p.Down, cost: float64(opt.DefaultRTT), stamp: now,
			slowstart: int64((p.SlowStart + time.Second - time.Millisecond) / time.Second)})
	}
	b.usable = make([]int, 0, len(peers))
	return b, nil
}

// observe is Finagle's PeakEwma.observe; observe(0) reads the decayed
// estimate.
func (b *ewma) observe(p *ewmaPeer, now int64, rtt float64) float64 {
	td := float64(max(now-p.stamp, 0))
	w := math.Exp(-td / b.tau)
	if rtt > p.cost {
		p.cost = rtt
	} else {
		p.cost = p.cost*w + rtt*(1-w)
	}
	p.stamp = now
	return p.cost
}

// ramp is the slow start factor in 1/16ths, HAProxy's
// (BE_WEIGHT_SCALE*elapsed + slowstart)/slowstart (server_recalc_eweight).
func (p *ewmaPeer) ramp(nowSec int64) int64 {
	if !p.starting {
		return beWeightScale
	}
	el := nowSec - p.upSince
	if el < 0 || el >= p.slowstart {
		p.starting = false
		return beWeightScale
	}
	return (beWeightScale*el + p.slowstart) / p.slowstart
}

// load is the weighted cost compared between the two draws.
func (b *ewma) load(p *ewmaPeer, now int64) float64 {
	c := b.observe(p, now, 0)
	var l float64
	if c == 0 && p.inflight != 0 {
		l = float64(b.opt.FailurePenalty) + float64(p.inflight)
	} else {
		l = c * float64(p.inflight+1)
	}
	return l * beWeightScale / float64(int64(p.weight)*p.ramp(now/int64(time.Second)))
}

func (p *ewmaPeer) hasRoom(nowSec int64) bool {
	if p.maxConns == 0 {
		return true
	}
	m := p.maxConns
	if r := p.ramp(nowSec); r < beWeightScale && p.slowstart > 0 {
		// srv_dynamic_maxconn's ramp, 1 to 100%
		m = max(1, m*int(100*(nowSec-p.upSince)/p.slowstart)/100)
	}
	return p.inflight < m
}

// SetDown marks a peer down or up; coming up starts its slow start.
func (b *ewma) SetDown(peer int, down bool) error {
	if peer < 0 || peer >= len(b.p) {
		return ErrBadPeer
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := &b.p[peer]
	if !down && p.down && p.slowstart > 0 {
		p.starting = true
		p.upSince = b.opt.Now().Unix()
	}
	p.down = down
	return nil
}

// Pick draws two distinct usable peers and takes the lighter.
func (b *ewma) Pick(r *Request) (*Selection, error) {
	s := b.pool.get(b)
	s.initTried(len(b.p))
	if err := b.next(s); err != nil {
		b.pool.put(s)
		return nil, err
	}
	return s, nil
}

func (b *ewma) next(s *Selection) error {
	if s.attempts >= len(b.p) {
		return ErrNoMoreTries
	}
	t := b.opt.Now()
	now, nowSec := t.UnixNano(), t.Unix()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.usable = b.usable[:0]
	for i := range b.p {
		if !b.p[i].down && !s.isTried(i) && b.p[i].hasRoom(nowSec) {
			b.usable = append(b.usable, i)
		}
	}
	var pick int
	switch n := len(b.usable); n {
	case 0:
		return ErrNoLiveUpstreams
	case 1:
		pick = b.usable[0]
	default:
		i := b.opt.Rand(uint32(n))
		j := b.opt.Rand(uint32(n - 1))
		if j >= i {
			j++
		}
		pick = b.usable[i]
		if b.load(&b.p[b.usable[j]], now) < b.load(&b.p[pick], now) {
			pick = b.usable[j]
		}
	}
	p := &b.p[pick]
	p.inflight++
	s.setTried(pick)
	s.attempts++
	s.peer, s.index, s.live, s.start = p.cfg, pick, true, t
	return nil
}

// free records the attempt's latency (at least FailurePenalty when it
// failed) into the peer's estimate.
func (b *ewma) free(s *Selection, failed, _ bool) {
	t := b.opt.Now()
	rtt := float64(t.Sub(s.start))
	if failed && rtt < float64(b.opt.FailurePenalty) {
		rtt = float64(b.opt.FailurePenalty)
	}
	b.mu.Lock()
	p := &b.p[s.index]
	p.inflight--
	b.observe(p, t.UnixNano(), rtt)
	s.live = false
	b.mu.Unlock()
}

func (b *ewma) put(s *Selection) { b.pool.put(s) }

// pickBound implements binder: the bound peer is used while it is up and
// has room.
func (b *ewma) pickBound(r *Request, cands []int) (*Selection, bool, error) {
	t := b.opt.Now()
	b.mu.Lock()
	for _, i := range cands {
		p := &b.p[i]
		if p.down || !p.hasRoom(t.Unix()) {
			continue
		}
		p.inflight++
		b.mu.Unlock()
		s := b.pool.get(b)
		s.initTried(len(b.p))
		s.setTried(i)
		s.attempts = 1
		s.peer, s.index, s.live, s.start = p.cfg, i, true, t
		return s, true, nil
	}
	b.mu.Unlock()
	s, err := b.Pick(r)
	return s, false, err
}
