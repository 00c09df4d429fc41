package limit

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// MinZoneSize is nginx's smallest zone: 8 pages of 4 KiB
// (ngx_http_limit_req_zone: "zone ... is too small").
const MinZoneSize = 8 * 4096

// DefaultZoneSize is used when a zone's size is not given (nginx requires
// one; 10m is the size of its documentation's examples).
const DefaultZoneSize = 10 << 20

// maxReqKey: longer keys are not limited (ngx_http_limit_req_handler
// logs "is more than 65535 bytes" and skips the limit).
const maxReqKey = 65535

// ReqZone is a limit_req_zone: the leaky-bucket state of every key, shared
// by all locations that use the zone. It is safe for concurrent use.
type ReqZone struct {
	name  string
	size  int64
	epoch time.Time
	rate  atomic.Int64 // milli-requests per second

	mu    sync.Mutex
	nodes map[string]*reqNode
	lru   reqList // front: most recently used
	used  int64

	passed, delayed, rejected atomic.Uint64
}

type reqNode struct {
	key        string
	prev, next *reqNode
	last       int64 // ms since the zone's epoch
	excess     int64 // milli-requests
	count      int   // lookups in progress that pinned the node
	fresh      bool  // created by a lookup that did not account it yet
	cost       int64
}

// NewReqZone returns a zone of size bytes (0: DefaultZoneSize) leaking
// rate requests per second. now is the zone's time origin.
func NewReqZone(name string, rate float64, size int64, now time.Time) (*ReqZone, error) {
	if size == 0 {
		size = DefaultZoneSize
	}
	if size < MinZoneSize {
		return nil, fmt.Errorf("zone %q is too small (%d bytes, at least %d)", name, size, MinZoneSize)
	}
	z := &ReqZone{name: name, size: size, epoch: now, nodes: map[string]*reqNode{}}
	if err := z.SetRate(rate); err != nil {
		return nil, err
	}
	return z, nil
}

// MilliRate converts requests per second to nginx's integer rate (×1000,
// truncated as ngx_http_limit_req_zone computes rate*1000/scale).
func MilliRate(rate float64) (int64, error) {
	if math.IsNaN(rate) || rate <= 0 || rate > 1e12 {
		return 0, fmt.Errorf("invalid rate %v", rate)
	}
	// A tiny epsilon keeps 0.1*1000 from truncating to 99.
	m := int64(rate*1000 + 1e-6)
	if m <= 0 {
		return 0, fmt.Errorf("invalid rate %v (below 0.001 r/s)", rate)
	}
	return m, nil
}

// SetRate changes the rate; a reload keeps the keys' state, as nginx
// keeps a zone's shared memory while the new configuration brings its
// rate.
func (z *ReqZone) SetRate(rate float64) error {
	m, err := MilliRate(rate)
	if err != nil {
		return fmt.Errorf("zone %q: %w", z.name, err)
	}
	z.rate.Store(m)
	return nil
}

// Name is the zone's name.
func (z *ReqZone) Name() string { return z.name }

// Size is the zone's size in bytes.
func (z *ReqZone) Size() int64 { return z.size }

// ZoneStats are a zone's counters.
type ZoneStats struct {
	Entries  int
	Bytes    int64
	Passed   uint64
	Delayed  uint64
	Rejected uint64
}

// Stats returns the zone's counters.
func (z *ReqZone) Stats() ZoneStats {
	z.mu.Lock()
	n, used := len(z.nodes), z.used
	z.mu.Unlock()
	return ZoneStats{Entries: n, Bytes: used, Passed: z.passed.Load(), Delayed: z.delayed.Load(), Rejected: z.rejected.Load()}
}

// nodeCost is what nginx's slab allocator spends on a node: the rbtree
// node header up to "color" (32 bytes) plus ngx_http_limit_req_node_t up
// to "data" (48 bytes) plus the key, rounded up to a power of two.
func nodeCost(header, keyLen int) int64 {
	n := header + keyLen
	if n <= 8 {
		return 8
	}
	return 1 << bits.Len(uint(n-1))
}

const reqNodeHeader = 32 + 48

// ReqLimit is one limit_req of a location.
type ReqLimit struct {
	Zone  *ReqZone
	Burst int // requests above the rate held or delayed
	// Delay: requests of the burst served without delay (limit_req
	// delay=N); NoDelay serves the whole burst without delay.
	Delay   int
	NoDelay bool
}

func (l *ReqLimit) burst() int64 { return int64(l.Burst) * 1000 }

func (l *ReqLimit) delay() int64 {
	if l.NoDelay {
		// ngx_http_limit_req: nodelay is delay=NGX_MAX_INT_T_VALUE/1000.
		return math.MaxInt64 / 1000 * 1000
	}
	return int64(l.Delay) * 1000
}

// Verdict is the outcome of CheckReq.
type Verdict struct {
	// Limited is false when no limit applied (no limits, or every key
	// empty).
	Limited bool
	// Reject: the request gets limit_req_status. ErrZoneFull explains a
	// rejection caused by a full zone rather than by the rate.
	Reject bool
	Err    error
	// Delay is how long the request waits before going on.
	Delay time.Duration
	// Zone is the zone that rejected or imposed the delay; Excess its
	// excess in milli-requests.
	Zone   *ReqZone
	Excess int64
}

// ErrZoneFull is a rejection because a zone had no room for a new key.
var ErrZoneFull = errors.New("limit zone full")

type lookupRC int

const (
	rcDeclined lookupRC = iota
	rcOK
	rcAgain
	rcBusy
	rcError
)

// CheckReq applies a location's limit_req list to a request whose keys
// (one per limit, "" for an empty key) are given, at time now: the
// algorithm of ngx_http_limit_req_handler.
func CheckReq(limits []ReqLimit, keys []string, now time.Time) Verdict {
	var pinStore [4]*reqNode
	pins := pinStore[:0]
	if len(limits) > len(pinStore) {
		pins = make([]*reqNode, 0, len(limits))
	}
	pins = pins[:len(limits)]
	for i := range pins {
		pins[i] = nil
	}
	var excess int64
	rc := rcDeclined
	n := 0
	last := -1
	for n = 0; n < len(limits); n++ {
		last = n
		k := keys[n]
		if k == "" || len(k) > maxReqKey {
			continue
		}
		rc, excess, pins[n] = limits[n].Zone.lookup(&limits[n], k, now, n == len(limits)-1)
		if rc != rcAgain {
			break
		}
	}
	if rc == rcDeclined {
		return Verdict{}
	}
	if rc == rcBusy || rc == rcError {
		unpin(limits, pins[:n])
		z := limits[n].Zone
		z.rejected.Add(1)
		v := Verdict{Limited: true, Reject: true, Zone: z, Excess: excess}
		if rc == rcError {
			v.Err = ErrZoneFull
		}
		return v
	}
	if rc == rcAgain {
		excess = 0
	}
	delay, lim, excess := account(limits, pins[:min(n, len(limits))], excess, last, now)
	z := limits[lim].Zone
	if delay == 0 {
		z.passed.Add(1)
		return Verdict{Limited: true, Zone: z, Excess: excess}
	}
	z.delayed.Add(1)
	return Verdict{Limited: true, Delay: time.Duration(delay) * time.Millisecond, Zone: z, Excess: excess}
}

func (z *ReqZone) ms(now time.Time) int64 { return now.Sub(z.epoch).Milliseconds() }

// leak is the excess a key has now: its stored excess less what leaked
// since last, plus this request (ngx_http_limit_req_lookup and _account,
// with their handling of a clock that went backwards).
func leak(excess, last, now, rate int64) (int64, int64) {
	ms := now - last
	if ms < -60000 {
		ms = 1
	} else if ms < 0 {
		ms = 0
	}
	e := excess - rate*ms/1000 + 1000
	if e < 0 {
		e = 0
	}
	return e, ms
}

// lookup is ngx_http_limit_req_lookup: account tells whether this is the
// location's last limit, whose state is updated at once; earlier limits
// only pin their node until CheckReq accounts or releases it.
func (z *ReqZone) lookup(l *ReqLimit, key string, now time.Time, account bool) (lookupRC, int64, *reqNode) {
	t := z.ms(now)
	rate := z.rate.Load()
	z.mu.Lock()
	defer z.mu.Unlock()
	if nd, ok := z.nodes[key]; ok {
		z.lru.moveToFront(nd)
		var excess, ms int64
		if nd.fresh {
			// A node made by a lookup that was never accounted (a later
			// limit rejected that request): nginx left its "last" at 0,
			// so everything has leaked, this request included.
			excess, ms = 0, 1
		} else {
			excess, ms = leak(nd.excess, nd.last, t, rate)
		}
		if excess > l.burst() {
			return rcBusy, excess, nil
		}
		if account {
			nd.excess = excess
			if ms != 0 {
				nd.last = t
			}
			nd.fresh = false
			return rcOK, excess, nil
		}
		nd.count++
		return rcAgain, excess, nd
	}
	cost := nodeCost(reqNodeHeader, len(key))
	z.expire(t, rate, 1)
	if z.used+cost > z.size {
		z.expire(t, rate, 0)
		if z.used+cost > z.size {
			return rcError, 0, nil
		}
	}
	nd := &reqNode{key: key, cost: cost}
	z.nodes[key] = nd
	z.used += cost
	z.lru.pushFront(nd)
	if account {
		nd.last = t
		return rcOK, 0, nil
	}
	nd.fresh = true
	nd.count = 1
	return rcAgain, 0, nd
}

// expire is ngx_http_limit_req_expire: n=1 drops up to two keys from the
// least recently used end that have been idle for a minute and have
// leaked to zero; n=0 first drops the least recently used key whatever
// its state. A pinned key stops the scan.
func (z *ReqZone) expire(t, rate int64, n int) {
	for ; n < 3; n++ {
		nd := z.lru.back()
		if nd == nil || nd.count > 0 {
			return
		}
		if n != 0 && !nd.fresh {
			ms := t - nd.last
			if ms < 0 {
				ms = -ms
			}
			if ms < 60000 {
				return
			}
			if nd.excess-rate*ms/1000 > 0 {
				return
			}
		}
		z.lru.remove(nd)
		delete(z.nodes, nd.key)
		z.used -= nd.cost
	}
}

// unpin releases nodes pinned by lookups of a request that was rejected.
func unpin(limits []ReqLimit, pins []*reqNode) {
	for i, nd := range pins {
		if nd == nil {
			continue
		}
		z := limits[i].Zone
		z.mu.Lock()
		nd.count--
		z.mu.Unlock()
	}
}

// account is ngx_http_limit_req_account: the pinned nodes of the earlier
// limits are charged with this request, and the longest delay of all
// limits wins. lim is the index of the limit that determines the delay.
func account(limits []ReqLimit, pins []*reqNode, excess int64, last int, now time.Time) (delay int64, lim int, ex int64) {
	lim, ex = last, excess
	l := &limits[last]
	if excess > l.delay() {
		delay = (excess - l.delay()) * 1000 / l.Zone.rate.Load()
	}
	for i := len(pins) - 1; i >= 0; i-- {
		nd := pins[i]
		if nd == nil {
			continue
		}
		z := limits[i].Zone
		t := z.ms(now)
		rate := z.rate.Load()
		z.mu.Lock()
		var e, ms int64
		if nd.fresh {
			e, ms = 0, 1
		} else {
			e, ms = leak(nd.excess, nd.last, t, rate)
		}
		if ms != 0 {
			nd.last = t
		}
		nd.fresh = false
		nd.excess = e
		nd.count--
		z.mu.Unlock()
		d := limits[i].delay()
		if e <= d {
			continue
		}
		if dl := (e - d) * 1000 / rate; dl > delay {
			delay, lim, ex = dl, i, e
		}
	}
	return delay, lim, ex
}

// reqList is an intrusive doubly linked list of nodes.
type reqList struct{ head, tail *reqNode }

func (l *reqList) pushFront(n *reqNode) {
	n.prev, n.next = nil, l.head
	if l.head != nil {
		l.head.prev = n
	}
	l.head = n
	if l.tail == nil {
		l.tail = n
	}
}

func (l *reqList) remove(n *reqNode) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

func (l *reqList) moveToFront(n *reqNode) {
	if l.head == n {
		return
	}
	l.remove(n)
	l.pushFront(n)
}

func (l *reqList) back() *reqNode { return l.tail }
