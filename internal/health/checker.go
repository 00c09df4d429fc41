package health

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// filePollInterval is how often a FILE_CHECK reads its file. keepalived
// watches the file with inotify and reacts at once; polling once a second
// is a close, simpler approximation.
const filePollInterval = time.Second

// urlProber is implemented by the HTTP_GET/SSL_GET prober: keepalived
// checks one URL per attempt and walks the list in its epilog.
type urlProber interface {
	ProbeURL(ctx context.Context, i int) Result
	NumURLs() int
}

// checker is keepalived's checker_t: the state of one check of one real
// server.
type checker struct {
	r      *real
	cfg    config.Check
	prober Prober
	urls   urlProber // set for HTTP_GET/SSL_GET

	isUp, hasRun, alpha bool
	retryIt             int
	urlIt, failedURL    int // http_checker_t url_it and failed_url (-1: none)
	health              int // rise/fall counter in [0, rise+fall-1]

	baseWeight int32 // ProbeOptions.Weight the prober computes against
	delta      int64 // checker_t cur_weight: added to the real's weight
	dynWeight  *int32

	due, started time.Time
	inflight     bool
	cancel       context.CancelFunc
	removed      bool

	lastCheck time.Time
	lastOK    bool
	lastErr   error
}

type brokenProber struct{ err error }

func (b brokenProber) Probe(context.Context) Result { return fail(b.err) }

func (m *Manager) newChecker(r *real, c config.Check) *checker {
	ch := &checker{r: r, cfg: c, failedURL: -1}
	m.rebuildProber(ch)
	if c.Type == config.CheckFile {
		// check_file.c add_rs_to_track_files: the file is read at start, the
		// checker counts as run and alpha does not apply.
		ch.hasRun = true
		res := ch.prober.Probe(context.Background())
		ch.isUp = res.OK
		ch.lastOK, ch.lastErr, ch.lastCheck = res.OK, res.Err, time.Now()
		if res.OK {
			ch.setDelta(res.Weight)
		}
		return ch
	}
	ch.alpha = r.svc.cfg.Health.Alpha
	// check_data.c: alpha checkers start failed; either way, "one failure
	// is enough initially" (retry_it = retry).
	ch.setInitial(!ch.alpha, c.Retry)
	return ch
}

func (ch *checker) setInitial(up bool, retryIt int) {
	ch.isUp, ch.retryIt = up, retryIt
	ch.health = 0
	if up {
		// HAProxy starts a server up with health = rise: the first
		// failure takes it down.
		ch.health = ch.rise()
	}
}

func (m *Manager) rebuildProber(ch *checker) {
	opt := ProbeOptions{RunScript: m.opt.RunScript, Weight: ch.r.cfg.Weight}
	p, err := m.newProber(ch.cfg, ch.r.cfg.Address, opt)
	if err != nil {
		m.log.Warn("health check cannot run", "real", ch.r.cfg.Address, "type", ch.cfg.Type, "err", err)
		p = brokenProber{fmt.Errorf("%s: %w", ch.cfg.Type, err)}
	}
	ch.prober, ch.baseWeight = p, opt.Weight
	ch.urls, _ = p.(urlProber)
	if ch.urls != nil && ch.urlIt >= ch.urls.NumURLs() {
		ch.urlIt, ch.failedURL = 0, -1
	}
}

func (ch *checker) stop() {
	ch.removed = true
	if ch.cancel != nil {
		ch.cancel()
	}
}

func (ch *checker) riseFall() bool {
	return ch.cfg.Type != config.CheckFile && (ch.cfg.Rise > 0 || ch.cfg.Fall > 0)
}

func (ch *checker) rise() int { return max(ch.cfg.Rise, 1) }
func (ch *checker) fall() int { return max(ch.cfg.Fall, 1) }

func (ch *checker) delayLoop() time.Duration {
	if ch.cfg.DelayLoop <= 0 {
		return defaultDelayLoop
	}
	return ch.cfg.DelayLoop
}

func (ch *checker) delayBeforeRetry() time.Duration { return max(ch.cfg.DelayBeforeRetry, 0) }

// setDelta records a dynamic weight reported by a successful attempt; a
// check without one contributes nothing (cur_weight 0). It reports whether
// the contribution changed.
func (ch *checker) setDelta(w *int32) bool {
	var d int64
	if w != nil {
		d = int64(*w) - int64(ch.baseWeight)
	}
	ch.dynWeight = w
	if d == ch.delta {
		return false
	}
	ch.delta = d
	return true
}

func (m *Manager) applyWeight(ch *checker, w *int32) {
	if !ch.setDelta(w) {
		return
	}
	if ch.r.alive {
		// update_svr_wgt(..., update_quorum = true).
		m.updateQuorum(ch.r.svc, false)
	}
	m.signalChanged()
}

func (m *Manager) dropWeight(ch *checker) {
	ch.dynWeight = nil
	if ch.delta != 0 {
		ch.delta = 0
		m.signalChanged()
	}
}

// transition is ipwrapper.c update_svr_checker_state: the checker's state
// changes and the real server follows when no other checker holds it
// down. An alpha checker's first result runs the notify script of the
// server's current state even without a change.
func (m *Manager) transition(ch *checker, up bool, reason string) {
	r := ch.r
	if ch.isUp == up {
		if !ch.hasRun {
			if ch.alpha || !up {
				m.notifyReal(r, reason)
			}
			ch.hasRun = true
		}
		return
	}
	ch.hasRun = true
	if up {
		if r.numFailed <= 1 {
			m.performSvrState(r, true, reason)
		}
	} else if r.numFailed == 0 {
		m.performSvrState(r, false, reason)
	}
	// set_checker_state
	ch.isUp = up
	if !up {
		r.numFailed++
	} else if r.numFailed > 0 {
		r.numFailed--
	}
}

// epilog applies one attempt's result and returns when the next attempt
// is due: delay after base.
func (m *Manager) epilog(ch *checker, res Result) (time.Duration, time.Time) {
	now := time.Now()
	switch {
	case ch.cfg.Type == config.CheckFile:
		m.fileEpilog(ch, res)
		return filePollInterval, now
	case ch.riseFall():
		m.riseFallEpilog(ch, res)
		base := now
		if ch.cfg.Type == config.CheckMisc {
			base = ch.started
		}
		return ch.delayLoop(), base
	case ch.urls != nil:
		return m.httpEpilog(ch, res), now
	case ch.cfg.Type == config.CheckMisc:
		return m.miscEpilog(ch, res), ch.started
	}
	return m.generalEpilog(ch, res), now
}

func (ch *checker) name() string { return strings.ToUpper(string(ch.cfg.Type)) }

func (ch *checker) failReason(res Result, retries bool) string {
	s := ch.name() + " failed"
	if retries && ch.cfg.Retry > 0 {
		s = fmt.Sprintf("%s after %d retries", s, ch.cfg.Retry)
	}
	if res.Err != nil {
		s += ": " + res.Err.Error()
	}
	return s
}

// generalEpilog is check_tcp.c tcp_epilog, shared by UDP_CHECK
// (udp_epilog), PING_CHECK (icmp_epilog), DNS_CHECK (dns_final),
// SMTP_CHECK (smtp_final) and the agent check: a success, or a failure
// once retry_it has reached retry while the checker is up (or has not
// run), settles the state and waits delay_loop; a failure with retries
// left waits delay_before_retry; a failure of a checker already down just
// waits delay_loop.
func (m *Manager) generalEpilog(ch *checker, res Result) time.Duration {
	delay := ch.delayLoop()
	if res.OK || ((ch.isUp || !ch.hasRun) && ch.retryIt >= ch.cfg.Retry) {
		ch.retryIt = 0
		if res.OK {
			m.applyWeight(ch, res.Weight)
			if !ch.isUp || !ch.hasRun {
				m.transition(ch, true, ch.name()+" succeeded")
			}
		} else if ch.isUp || !ch.hasRun {
			hadRun := ch.hasRun
			m.transition(ch, false, ch.failReason(res, hadRun))
			m.dropWeight(ch)
		}
	} else if ch.isUp {
		delay = ch.delayBeforeRetry()
		ch.retryIt++
	}
	ch.hasRun = true
	return delay
}

// miscEpilog is check_misc.c misc_check_child_thread. The next run is
// measured from the start of this one (last_ran), delay_before_retry
// while retries are pending, delay_loop otherwise.
func (m *Manager) miscEpilog(ch *checker, res Result) time.Duration {
	switch {
	case res.OK:
		m.applyWeight(ch, res.Weight)
		if !ch.isUp || !ch.hasRun {
			m.transition(ch, true, ch.name()+" succeeded")
		}
		ch.retryIt = 0
	case ch.isUp || !ch.hasRun:
		if ch.retryIt < ch.cfg.Retry {
			ch.retryIt++
		} else {
			hadRun := ch.hasRun
			ch.retryIt = 0
			m.dropWeight(ch)
			m.transition(ch, false, ch.failReason(res, hadRun))
		}
	}
	ch.hasRun = true
	if ch.retryIt > 0 {
		return ch.delayBeforeRetry()
	}
	return ch.delayLoop()
}

// httpEpilog is check_http.c epilog with timeout_epilog in front of it.
// A success moves to the next URL (one URL per delay_loop) and, after the
// last, brings the checker up. A failure while up (or before the first
// run) retries the same URL after delay_before_retry until retry is
// exceeded, then goes down and remembers the failed URL, which is then
// checked every max(delay_before_retry, delay_loop); once it passes, the
// walk restarts from the first URL. A failure of another URL while down
// is retried after delay_before_retry. With fast_recovery, a checker that
// has not run, or is down with no known failed URL, checks the next URL at
// once.
func (m *Manager) httpEpilog(ch *checker, res Result) time.Duration {
	const (
		methodNew = iota
		methodRetry
		methodFailed
	)
	method := methodNew
	if !res.OK {
		method = methodFailed
		if ch.isUp || !ch.hasRun {
			ch.hasRun = true // timeout_epilog sets has_run before epilog
			method = methodRetry
		}
	}
	switch method {
	case methodNew:
		ch.urlIt++
		ch.retryIt = 0
	case methodRetry:
		ch.retryIt++
	}
	n := ch.urls.NumURLs()
	switch {
	case method == methodNew && ch.urlIt >= n && ch.failedURL < 0:
		m.applyWeight(ch, res.Weight)
		if !ch.isUp || !ch.hasRun {
			m.transition(ch, true, ch.name()+" succeeded")
			ch.hasRun = true
		}
		ch.urlIt, ch.retryIt = 0, 0
	case method == methodRetry && ch.retryIt > ch.cfg.Retry:
		if ch.isUp || !ch.hasRun {
			m.transition(ch, false, ch.failReason(res, true))
			m.dropWeight(ch)
		}
		ch.failedURL = ch.urlIt
	case method == methodNew && ch.failedURL >= 0:
		ch.failedURL, ch.urlIt, ch.retryIt = -1, 0, 0
	}
	var delay time.Duration
	switch {
	case method == methodNew:
		delay = ch.delayLoop()
		if !ch.hasRun {
			ch.retryIt = ch.cfg.Retry
		}
	case ch.failedURL >= 0:
		delay = max(ch.delayBeforeRetry(), ch.delayLoop())
	default:
		delay = ch.delayBeforeRetry()
	}
	// keepalived also skips the wait after a failed attempt of a checker
	// that is down with no failed URL recorded (a URL other than the one
	// that failed first), which turns into a busy loop against a refused
	// port; here fast_recovery only hurries after successes.
	if ch.cfg.FastRecovery && res.OK && (!ch.hasRun || (!ch.isUp && ch.failedURL < 0)) {
		delay = 0
	}
	return delay
}

// riseFallEpilog is HAProxy's rule for checks with rise/fall: a counter
// in [0, rise+fall-1] is raised by each success and lowered by each
// failure; the server is up while it is at least rise, going up after
// rise consecutive successes (the counter jumps to the top) and down after
// fall consecutive failures (it drops to 0).
func (m *Manager) riseFallEpilog(ch *checker, res Result) {
	top := ch.rise() + ch.fall() - 1
	if res.OK {
		m.applyWeight(ch, res.Weight)
		if ch.health < top {
			ch.health++
		}
		if ch.health >= ch.rise() && (!ch.isUp || !ch.hasRun) {
			if !ch.isUp {
				ch.health = top
			}
			m.transition(ch, true, fmt.Sprintf("%s succeeded %d times", ch.name(), ch.rise()))
		}
	} else {
		if ch.health > 0 {
			ch.health--
		}
		if ch.health < ch.rise() && (ch.isUp || !ch.hasRun) {
			ch.health = 0
			m.dropWeight(ch)
			reason := fmt.Sprintf("%s failed %d times", ch.name(), ch.fall())
			if res.Err != nil {
				reason += ": " + res.Err.Error()
			}
			m.transition(ch, false, reason)
		}
	}
	ch.hasRun = true
}

// fileEpilog is track_file.c process_update_checker_track_file_status:
// a fault takes the checker down and drops its weight; leaving the fault
// brings it up with the new weight; otherwise only the weight changes.
func (m *Manager) fileEpilog(ch *checker, res Result) {
	if !res.OK {
		if ch.isUp {
			m.transition(ch, false, ch.failReason(res, false))
		}
		m.dropWeight(ch)
		return
	}
	if !ch.isUp {
		ch.setDelta(res.Weight)
		m.transition(ch, true, ch.name()+" left fault state")
		m.signalChanged()
		return
	}
	m.applyWeight(ch, res.Weight)
}
