package l7

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/health"
)

// Timing defaults for a Check that arrives without resolved values
// (keepalived check_data.h / check_api.c; the config loader normally fills
// them in).
const (
	defaultCheckInterval = 60 * time.Second
	defaultCheckTimeout  = 5 * time.Second
)

// checkState is one active check of one peer, scheduled by the proxy
// itself: the health package supplies the probe, this file the state
// machine.
type checkState struct {
	cfg    config.Check
	prober health.Prober

	mu     sync.Mutex
	up     bool
	succ   int // consecutive successes
	fail   int // consecutive failures
	probes uint64
	last   error
	lastAt time.Time
}

func newCheckState(c config.Check, target netip.AddrPort, weight int32, opt health.ProbeOptions) (*checkState, error) {
	opt.Weight = weight
	pr, err := health.NewProber(c, target, opt)
	if err != nil {
		return nil, err
	}
	// A server starts up, as keepalived's does without "alpha" and
	// HAProxy's servers do before their first check.
	return &checkState{cfg: c, prober: pr, up: true}, nil
}

// observe applies one probe result and returns whether the check's state
// changed and the delay before the next probe. With Rise/Fall it is
// HAProxy's rule (fall consecutive failures mark the server down, rise
// consecutive successes up, every inter); otherwise keepalived's
// (check_tcp.c tcp_epilog: an up server goes down after retry+1
// consecutive failures spaced delay_before_retry; one success brings it
// back; checks are delay_loop apart).
func (cs *checkState) observe(ok bool, err error, now time.Time) (changed bool, next time.Duration) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := cs.cfg
	interval := c.DelayLoop
	if interval <= 0 {
		interval = defaultCheckInterval
	}
	cs.probes++
	cs.lastAt = now
	cs.last = err
	if ok {
		cs.fail = 0
		cs.succ++
	} else {
		cs.succ = 0
		cs.fail++
	}
	if c.Rise > 0 || c.Fall > 0 {
		rise, fall := max(c.Rise, 1), max(c.Fall, 1)
		switch {
		case ok && !cs.up && cs.succ >= rise:
			cs.up, changed = true, true
		case !ok && cs.up && cs.fail >= fall:
			cs.up, changed = false, true
		}
		return changed, interval
	}
	if ok {
		if !cs.up {
			cs.up, changed = true, true
		}
		return changed, interval
	}
	if cs.up && cs.fail > c.Retry {
		cs.up, changed = false, true
	}
	if cs.up && c.DelayBeforeRetry > 0 {
		return changed, c.DelayBeforeRetry
	}
	return changed, interval
}

func (cs *checkState) isUp() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.up
}

// runCheck probes one peer on the check's own schedule until ctx ends.
// The first probe waits a random part of Warmup, so that many checks do
// not fire together (keepalived's warmup, HAProxy's spread-checks).
func (u *upstream) runCheck(ctx context.Context, pe *peer, cs *checkState) {
	var wait time.Duration
	if w := cs.cfg.Warmup; w > 0 {
		wait = rand.N(w)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		timeout := cs.cfg.ConnectTimeout
		if timeout <= 0 {
			timeout = defaultCheckTimeout
		}
		// The probers enforce their own timeouts; this bound only stops a
		// misbehaving one (a script, say) from stalling the schedule.
		pctx, cancel := context.WithTimeout(ctx, 2*timeout+time.Second)
		res := cs.prober.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		changed, next := cs.observe(res.OK, res.Err, u.now())
		if changed {
			down := false
			for _, c := range pe.checks {
				if !c.isUp() {
					down = true
				}
			}
			pe.mu.Lock()
			pe.healthDown = down
			pe.mu.Unlock()
			u.applyDown(pe)
		}
		t.Reset(next)
	}
}
