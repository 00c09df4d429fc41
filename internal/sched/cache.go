package sched

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Cache geometry and garbage collection of lblc and lblcr (ip_vs_lblc.c,
// ip_vs_lblcr.c; both use the same constants).
const (
	cacheTabBits = 10 // CONFIG_IP_VS_LBLC_TAB_BITS, CONFIG_IP_VS_LBLCR_TAB_BITS
	cacheTabSize = 1 << cacheTabBits
	cacheTabMask = cacheTabSize - 1
	// cacheMaxSize is tbl->max_size: above it the periodic check collects
	// entries idle for cacheEntryTimeout.
	cacheMaxSize = cacheTabSize * 16
	// cacheHardLimit bounds the table: the kernel lets it grow between
	// checks; here a new address past this size is not cached, which is what
	// the kernel does when it cannot allocate an entry ("we'll just use the
	// valid dest").
	cacheHardLimit = cacheMaxSize * 4

	cacheCheckInterval    = 60 * time.Second // CHECK_EXPIRE_INTERVAL
	cacheEntryTimeout     = 6 * time.Minute  // ENTRY_TIMEOUT
	cacheDefaultExpire    = 24 * time.Hour   // DEFAULT_EXPIRATION
	cacheFullCheckCounter = 30               // COUNT_FOR_FULL_EXPIRATION
	cacheFullCheckPeriod  = cacheFullCheckCounter * cacheCheckInterval
)

// cacheEntry is struct ip_vs_lblc_entry / ip_vs_lblcr_entry: a destination
// address, its value (a dest, or a server set) and when it was last used.
type cacheEntry[V any] struct {
	addr    netip.Addr
	bucket  uint32
	lastuse atomic.Int64 // cache clock, see localityCache.now
	val     V
}

// localityCache is the per-service hash table of lblc and lblcr keyed by the
// packet's destination address, with the kernel's periodic garbage
// collection (ip_vs_lblc_check_expire). The kernel runs that check from a
// timer every 60 s; here the ticks that fell due are replayed, at their own
// times, by the first Schedule after them, so no goroutine is needed and an
// injected clock drives it in tests.
//
// Lookups take the read lock; inserts, dest changes and collection take the
// write lock (the kernel's svc->sched_lock). The kernel's bucket lists
// decide only which buckets a partial collection visits (the rover); the
// order inside a bucket does not matter because a visited bucket loses all
// its stale entries at once, so buckets here are unordered and a map serves
// the lookups.
type localityCache[V any] struct {
	mu       sync.RWMutex
	byAddr   map[netip.Addr]*cacheEntry[V]
	buckets  [cacheTabSize][]*cacheEntry[V]
	rover    int
	counter  int
	nextTick atomic.Int64

	clock     func() time.Time
	base      time.Time
	expire    int64
	hardLimit int
}

func newLocalityCache[V any](opt Options) *localityCache[V] {
	c := &localityCache[V]{
		byAddr:    map[netip.Addr]*cacheEntry[V]{},
		counter:   1,
		clock:     opt.Now,
		expire:    int64(cacheDefaultExpire),
		hardLimit: cacheHardLimit,
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	if opt.Expiration > 0 {
		c.expire = int64(opt.Expiration)
	}
	c.base = c.clock()
	c.nextTick.Store(int64(cacheCheckInterval))
	return c
}

// now is the cache clock: time since the cache was created (monotonic with
// the default clock), the analogue of jiffies.
func (c *localityCache[V]) now() int64 { return int64(c.clock().Sub(c.base)) }

// cacheHash is ip_vs_lblc_hashkey / ip_vs_lblcr_hashkey.
func cacheHash(a netip.Addr) uint32 { return (foldAddr(a) * goldenPrime) & cacheTabMask }

// get returns the entry for addr, or nil.
func (c *localityCache[V]) get(addr netip.Addr) *cacheEntry[V] {
	c.mu.RLock()
	e := c.byAddr[addr]
	c.mu.RUnlock()
	return e
}

// lookupLocked is get with the write lock already held.
func (c *localityCache[V]) lookupLocked(addr netip.Addr) *cacheEntry[V] { return c.byAddr[addr] }

// insertLocked adds a fresh entry used at now, or returns nil when the table
// is at its hard limit. Called with the write lock held.
func (c *localityCache[V]) insertLocked(addr netip.Addr, now int64) *cacheEntry[V] {
	if len(c.byAddr) >= c.hardLimit {
		return nil
	}
	e := &cacheEntry[V]{addr: addr, bucket: cacheHash(addr)}
	e.lastuse.Store(now)
	c.byAddr[addr] = e
	c.buckets[e.bucket] = append(c.buckets[e.bucket], e)
	return e
}

// len is atomic_read(&tbl->entries).
func (c *localityCache[V]) len() int { return len(c.byAddr) }

// sweepLocked removes the entries of bucket b that were idle for at least
// idle at time at (the kernel keeps those with time_before(at, lastuse +
// idle)) and returns how many went.
func (c *localityCache[V]) sweepLocked(b int, at, idle int64) int {
	list := c.buckets[b]
	kept := list[:0]
	for _, e := range list {
		if at-e.lastuse.Load() < idle {
			kept = append(kept, e)
			continue
		}
		delete(c.byAddr, e.addr)
	}
	clear(list[len(kept):])
	c.buckets[b] = kept
	return len(list) - len(kept)
}

// fullCheckLocked is ip_vs_lblc_full_check: drop every entry unused for the
// expiration time. It visits all buckets starting after the rover and so
// ends where it started: the rover does not move.
func (c *localityCache[V]) fullCheckLocked(at int64) {
	for b := range c.buckets {
		c.sweepLocked(b, at, c.expire)
	}
}

// partialCheckLocked is the over-size branch of ip_vs_lblc_check_expire:
// collect entries idle for ENTRY_TIMEOUT, bucket by bucket from the rover,
// until 4/3 of the excess (at most half the maximum size) went.
func (c *localityCache[V]) partialCheckLocked(at int64) {
	goal := (c.len() - cacheMaxSize) * 4 / 3
	if goal > cacheMaxSize/2 {
		goal = cacheMaxSize / 2
	}
	j := c.rover
	for range cacheTabSize {
		j = (j + 1) & cacheTabMask
		goal -= c.sweepLocked(j, at, int64(cacheEntryTimeout))
		if goal <= 0 {
			break
		}
	}
	c.rover = j
}

// maybeGC runs the periodic checks that fell due by now. Each tick is
// ip_vs_lblc_check_expire at its own time: every 30th tick without a
// partial collection does a full check; otherwise a table over its maximum
// size gets a partial collection and a table within it only counts the
// tick. Entries only go away while ticks are replayed, so a run of ticks
// that only count is skipped in one step, and of several full checks with
// nothing but counting in between only the last has an effect (a later
// check removes a superset).
func (c *localityCache[V]) maybeGC(now int64) {
	if now < c.nextTick.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	const iv = int64(cacheCheckInterval)
	for {
		t := c.nextTick.Load()
		if t > now {
			return
		}
		switch {
		case c.counter%cacheFullCheckCounter == 0:
			c.fullCheckLocked(t)
			if c.len() <= cacheMaxSize {
				if q := (now - t) / int64(cacheFullCheckPeriod); q > 0 {
					t += q * int64(cacheFullCheckPeriod)
					c.fullCheckLocked(t)
				}
			}
			c.counter = 1
			c.nextTick.Store(t + iv)
		case c.len() <= cacheMaxSize:
			k := int64(cacheFullCheckCounter - c.counter%cacheFullCheckCounter)
			if avail := (now-t)/iv + 1; k > avail {
				k = avail
			}
			c.counter += int(k)
			c.nextTick.Store(t + k*iv)
		default:
			c.partialCheckLocked(t)
			c.nextTick.Store(t + iv)
		}
	}
}

// lblcOverloaded is is_overloaded of ip_vs_lblc.c and ip_vs_lblcr.c: the
// dest has more active connections than its weight while some dest of the
// service is under half its weight.
func lblcOverloaded(d *Dest, dests []*Dest) bool {
	if d.ActiveConns() <= d.Weight() {
		return false
	}
	for _, x := range dests {
		if int64(x.ActiveConns())*2 < int64(x.Weight()) {
			return true
		}
	}
	return false
}
