package limit

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// maxConnKey: longer keys are not limited (ngx_http_limit_conn_handler:
// "is more than 255 bytes").
const maxConnKey = 255

// connNodeHeader is the rbtree node header up to "color" (32 bytes) plus
// ngx_http_limit_conn_node_t up to "data" (4 bytes).
const connNodeHeader = 32 + 4

// ConnZone is a limit_conn_zone: the number of requests in progress per
// key. It is safe for concurrent use.
type ConnZone struct {
	name string
	size int64

	mu    sync.Mutex
	nodes map[string]*connNode
	used  int64

	passed, rejected atomic.Uint64
}

type connNode struct {
	key  string
	conn int
	cost int64
}

// NewConnZone returns a zone of size bytes (0: DefaultZoneSize).
func NewConnZone(name string, size int64) (*ConnZone, error) {
	if size == 0 {
		size = DefaultZoneSize
	}
	if size < MinZoneSize {
		return nil, fmt.Errorf("zone %q is too small (%d bytes, at least %d)", name, size, MinZoneSize)
	}
	return &ConnZone{name: name, size: size, nodes: map[string]*connNode{}}, nil
}

// Name is the zone's name.
func (z *ConnZone) Name() string { return z.name }

// Size is the zone's size in bytes.
func (z *ConnZone) Size() int64 { return z.size }

// Stats returns the zone's counters (Delayed is always 0).
func (z *ConnZone) Stats() ZoneStats {
	z.mu.Lock()
	n, used := len(z.nodes), z.used
	z.mu.Unlock()
	return ZoneStats{Entries: n, Bytes: used, Passed: z.passed.Load(), Rejected: z.rejected.Load()}
}

// ConnLimit is one limit_conn of a location: at most Conn requests in
// progress per key of Zone.
type ConnLimit struct {
	Zone *ConnZone
	Conn int
}

// ConnHold is what a request holds in limit_conn zones; Release gives it
// back when the request ends. The zero value holds nothing.
type ConnHold struct {
	n     int
	fixed [4]connRef
	more  []connRef
}

type connRef struct {
	z  *ConnZone
	nd *connNode
}

func (h *ConnHold) add(r connRef) {
	if h.n < len(h.fixed) {
		h.fixed[h.n] = r
	} else {
		h.more = append(h.more, r)
	}
	h.n++
}

// Release frees every slot held; it may be called more than once.
func (h *ConnHold) Release() {
	for i := 0; i < h.n; i++ {
		var r connRef
		if i < len(h.fixed) {
			r = h.fixed[i]
			h.fixed[i] = connRef{}
		} else {
			r = h.more[i-len(h.fixed)]
		}
		r.z.release(r.nd)
	}
	h.n = 0
	h.more = h.more[:0]
}

// AcquireConn takes a slot in every limit whose key (keys[i]) is not
// empty, as ngx_http_limit_conn_handler does. When a limit is full, or
// its zone has no room for a new key, everything taken is given back and
// the full zone is returned.
func AcquireConn(h *ConnHold, limits []ConnLimit, keys []string) (rejected *ConnZone) {
	for i := range limits {
		k := keys[i]
		if k == "" || len(k) > maxConnKey {
			continue
		}
		z := limits[i].Zone
		nd, ok := z.acquire(k, limits[i].Conn)
		if !ok {
			h.Release()
			z.rejected.Add(1)
			return z
		}
		z.passed.Add(1)
		h.add(connRef{z, nd})
	}
	return nil
}

func (z *ConnZone) acquire(key string, limit int) (*connNode, bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	nd, ok := z.nodes[key]
	if !ok {
		cost := nodeCost(connNodeHeader, len(key))
		if z.used+cost > z.size {
			return nil, false
		}
		nd = &connNode{key: key, conn: 1, cost: cost}
		z.nodes[key] = nd
		z.used += cost
		return nd, true
	}
	if nd.conn >= limit {
		return nil, false
	}
	nd.conn++
	return nd, true
}

func (z *ConnZone) release(nd *connNode) {
	z.mu.Lock()
	nd.conn--
	if nd.conn == 0 {
		delete(z.nodes, nd.key)
		z.used -= nd.cost
	}
	z.mu.Unlock()
}

// Active is the number of requests in progress for key.
func (z *ConnZone) Active(key string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	if nd, ok := z.nodes[key]; ok {
		return nd.conn
	}
	return 0
}
