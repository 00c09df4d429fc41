package vrrp

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Tracker values: what an instance knows of a tracked object.
const (
	trackInit = -1 // no result yet
	trackBad  = 0
	trackGood = 1
)

// scriptCounter is keepalived's vrrp_script result counter
// (vrrp_scheduler.c, the script child's termination handler;
// keepalived.md section 2). result runs over [0, rise+fall-1] and the
// script is GOOD iff result >= rise. It starts at rise-1, so the first
// result decides; a success at rise-1 jumps to rise+fall-1 (fall failures
// then make it BAD), a failure at or below rise drops to 0 (rise successes
// then make it GOOD).
type scriptCounter struct {
	rise, fall int
	result     int
	state      int // trackInit, trackBad or trackGood
}

func newScriptCounter(rise, fall int, initFail bool) *scriptCounter {
	rise, fall = max(rise, 1), max(fall, 1)
	c := &scriptCounter{rise: rise, fall: fall, result: rise - 1, state: trackInit}
	if initFail {
		// init_fail: "assume the script is failed initially"; it takes
		// rise successes to become GOOD.
		c.result, c.state = 0, trackBad
	}
	return c
}

// observe records one run and reports whether the state changed.
func (c *scriptCounter) observe(ok bool) bool {
	old := c.state
	top := c.rise + c.fall - 1
	if ok {
		switch {
		case c.result < c.rise-1:
			c.result++
		default:
			c.result = top
			c.state = trackGood
		}
	} else {
		switch {
		case c.result > c.rise:
			c.result--
		default:
			c.result = 0
			c.state = trackBad
		}
	}
	return c.state != old
}

// tracked is one object instances can track: a vrrp_script, an interface
// or a file. Its value is trackInit/Bad/Good, or a file's number.
type tracked struct {
	key string

	mu    sync.Mutex
	value int
	subs  map[*instance]struct{}
}

func (t *tracked) set(v int) {
	t.mu.Lock()
	if t.value == v {
		t.mu.Unlock()
		return
	}
	t.value = v
	subs := make([]*instance, 0, len(t.subs))
	for in := range t.subs {
		subs = append(subs, in)
	}
	t.mu.Unlock()
	for _, in := range subs {
		in.trackUpdate(t.key, v)
	}
}

func (t *tracked) subscribe(in *instance) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.subs == nil {
		t.subs = map[*instance]struct{}{}
	}
	t.subs[in] = struct{}{}
	return t.value
}

func (t *tracked) unsubscribe(in *instance) {
	t.mu.Lock()
	delete(t.subs, in)
	t.mu.Unlock()
}

// scriptTracker runs one vrrp_script every interval.
type scriptTracker struct {
	obj    *tracked
	cfg    config.VRRPScript
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *Node) runScript(ctx context.Context, st *scriptTracker) {
	defer close(st.done)
	c := newScriptCounter(st.cfg.Rise, st.cfg.Fall, st.cfg.InitFail)
	st.obj.set(c.state)
	t := n.clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		ok := false
		if n.scripts != nil {
			code, err := n.scripts.RunScript(ctx, &st.cfg.Script, nil, st.cfg.Timeout)
			ok = err == nil && code == 0
			if err != nil && ctx.Err() == nil {
				n.log.Debug("vrrp_script failed to run", "script", st.cfg.Name, "err", err)
			}
		}
		if ctx.Err() != nil {
			return
		}
		if c.observe(ok) {
			word := "failed"
			if c.state == trackGood {
				word = "succeeded"
			}
			// keepalived: "VRRP_Script(chk) succeeded" / "failed".
			n.log.Info("VRRP_Script "+word, "script", st.cfg.Name)
			st.obj.set(c.state)
		}
		t.Reset(st.cfg.Interval)
	}
}

// pollLinksAndFiles refreshes tracked interfaces and files every
// pollEvery (keepalived reacts to netlink and inotify events; polling
// keeps this simple and bounded).
func (n *Node) pollLinksAndFiles(ctx context.Context) {
	t := n.clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		n.mu.Lock()
		objs := make([]*tracked, 0, len(n.objects))
		for _, o := range n.objects {
			objs = append(objs, o)
		}
		n.mu.Unlock()
		for _, o := range objs {
			switch {
			case strings.HasPrefix(o.key, "if:"):
				up, err := n.fx.LinkUp(strings.TrimPrefix(o.key, "if:"))
				v := trackBad
				if err == nil && up {
					v = trackGood
				}
				o.set(v)
			case strings.HasPrefix(o.key, "file:"):
				o.set(readTrackFile(strings.TrimPrefix(o.key, "file:")))
			}
		}
		t.Reset(n.pollEvery)
	}
}

// readTrackFile reads a track_file: the first word is an integer; a
// missing or unreadable file counts as 0, as keepalived's
// vrrp_track.c process_track_file does.
func readTrackFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseInt(f[0], 10, 32)
	if err != nil {
		return 0
	}
	return int(v)
}

// trackKind says how a tracked value moves an instance.
type trackKind int

const (
	kindLink trackKind = iota
	kindScript
	kindFile
)

// trackRef is one tracker of an instance.
type trackRef struct {
	key     string
	name    string
	kind    trackKind
	weight  int
	reverse bool
}

// trackEffect folds the tracker values into a fault reason (weight 0
// trackers that failed) and a priority delta (vrrp_track.c: a positive
// weight is added while the object is up/good, a negative one while it is
// down/bad; reverse swaps up and down; a file's value is multiplied by
// its weight, and with weight 0 a non-zero value is a fault).
func trackEffect(refs []trackRef, values map[string]int) (fault string, delta int) {
	for _, r := range refs {
		v, ok := values[r.key]
		if r.kind == kindFile {
			if !ok {
				v = 0
			}
			if r.weight == 0 {
				if v != 0 && fault == "" {
					fault = "track_file " + r.name + " is " + strconv.Itoa(v)
				}
				continue
			}
			d := v * r.weight
			if r.reverse {
				d = -d
			}
			delta += d
			continue
		}
		// No result yet (or unknown) counts as good, unless init_fail.
		good := !ok || v != trackBad
		if r.reverse {
			good = !good
		}
		switch {
		case r.weight == 0:
			if !good && fault == "" {
				what := "interface "
				if r.kind == kindScript {
					what = "track_script "
				}
				fault = what + r.name + " failed"
			}
		case r.weight > 0 && good:
			delta += r.weight
		case r.weight < 0 && !good:
			delta += r.weight
		}
	}
	return fault, delta
}

// effectivePriority applies a tracker delta: the owner's 255 never moves,
// and trackers keep others within 1..254 (vrrp_track.c).
func effectivePriority(base uint8, delta int) uint8 {
	if base == PriorityOwner {
		return base
	}
	p := int(base) + delta
	return uint8(min(max(p, 1), PriorityOwner-1))
}
