package balance

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ngxPeer mirrors ngx_http_upstream_rr_peer_t (ngx_http_upstream_round_robin.h).
type ngxPeer struct {
	cfg         *Peer
	group       *ngxGroup
	pos         int // in its group
	index       int // in the configuration slice
	nameID      int // interned Name: the ketama "server" the point belongs to
	weight      int
	effective   int // effective_weight
	current     int // current_weight
	conns       int
	maxConns    int
	maxFails    int
	fails       int
	failTimeout int64 // seconds
	accessed    int64 // unix seconds of the last failure
	checked     int64 // unix seconds
	down        bool
}

// ngxGroup mirrors ngx_http_upstream_rr_peers_t: the primary servers, with
// the backup servers as next.
type ngxGroup struct {
	peers       []ngxPeer
	totalWeight int
	single      bool
	next        *ngxGroup
}

// tries counts the peers that are not down (peers->tries): the default
// number of attempts a request gets, with the backup group's added
// (ngx_http_upstream_tries).
func (g *ngxGroup) tries() int {
	t := 0
	for i := range g.peers {
		if !g.peers[i].down {
			t++
		}
	}
	return t
}

// nginx implements the nginx upstream methods. One lock serialises picks as
// the rr peers write lock does (ngx_http_upstream_rr_peers_wlock); state is
// per balancer, like an nginx worker without a shared zone.
type nginx struct {
	mu      sync.Mutex
	method  Method
	twoLC   bool
	opt     Options
	peers   []Peer
	primary *ngxGroup
	byIndex []*ngxPeer
	points  []chashPoint // hash consistent
	ranges  []int        // random: cumulative weight before each primary peer
	pool    selPool
}

func newNginx(cfg Config, peers []Peer, opt Options) (*nginx, error) {
	b := &nginx{method: cfg.Method, twoLC: cfg.LeastConn, opt: opt}
	b.peers = append([]Peer(nil), peers...)
	backupOK := cfg.Method == NginxRoundRobin || cfg.Method == NginxLeastConn
	primary, backup := &ngxGroup{}, &ngxGroup{}
	names := map[string]int{}
	b.byIndex = make([]*ngxPeer, len(peers))
	for i := range b.peers {
		p := &b.peers[i]
		if p.Weight < 0 || p.MaxConns < 0 {
			return nil, fmt.Errorf("server %q: invalid weight or max_conns", p.Name)
		}
		if p.Backup && !backupOK {
			// ngx_http_upstream_server: the method's flags lack
			// NGX_HTTP_UPSTREAM_BACKUP.
			return nil, fmt.Errorf("server %q: balancing method does not support parameter \"backup\"", p.Name)
		}
		np := ngxPeer{cfg: p, index: i, weight: max(p.Weight, 1), maxConns: p.MaxConns, down: p.Down}
		np.effective = np.weight
		switch {
		case p.MaxFails == 0:
			np.maxFails = 1
		case p.MaxFails > 0:
			np.maxFails = p.MaxFails
		}
		switch {
		case p.FailTimeout == 0:
			np.failTimeout = 10
		case p.FailTimeout > 0:
			np.failTimeout = int64(p.FailTimeout / time.Second)
		}
		id, ok := names[p.Name]
		if !ok {
			id = len(names)
			names[p.Name] = id
		}
		np.nameID = id
		g := primary
		if p.Backup {
			g = backup
		}
		g.peers = append(g.peers, np)
		g.totalWeight += np.weight
	}
	if len(primary.peers) == 0 {
		return nil, errors.New("no servers in upstream")
	}
	// ngx_http_upstream_init_round_robin: single is a lone primary with no
	// backup group.
	primary.single = len(primary.peers) == 1
	if len(backup.peers) > 0 {
		primary.single = false
		primary.next = backup
	}
	for _, g := range []*ngxGroup{primary, backup} {
		for i := range g.peers {
			g.peers[i].group, g.peers[i].pos = g, i
			b.byIndex[g.peers[i].index] = &g.peers[i]
		}
	}
	b.primary = primary
	switch cfg.Method {
	case NginxHashConsistent:
		b.points = ketamaPoints(primary.peers)
	case NginxRandom, NginxRandomTwo:
		// ngx_http_upstream_update_random
		b.ranges = make([]int, len(primary.peers))
		tw := 0
		for i := range primary.peers {
			b.ranges[i] = tw
			tw += primary.peers[i].weight
		}
	}
	return b, nil
}

// SetDown marks a peer down or up (the server's "down" flag).
func (b *nginx) SetDown(peer int, down bool) error {
	if peer < 0 || peer >= len(b.byIndex) {
		return ErrBadPeer
	}
	b.mu.Lock()
	b.byIndex[peer].down = down
	b.mu.Unlock()
	return nil
}

// Pick runs the method's init_peer and get_peer.
func (b *nginx) Pick(r *Request) (*Selection, error) { return b.pick(r, -1) }

// pick runs a pick with the sticky hint (the peer the client's cookie
// names, -1 for none), used by the first get_peer only (the sticky module
// clears pc->hint after it).
func (b *nginx) pick(r *Request, hint int) (*Selection, error) {
	s := b.pool.get(b)
	b.initPeer(s, r)
	s.hint = hint
	now := b.opt.Now().Unix()
	b.mu.Lock()
	s.tries = b.primary.tries()
	if b.primary.next != nil {
		s.tries += b.primary.next.tries()
	}
	// ngx_http_upstream_init_request: proxy_next_upstream_tries caps tries.
	if n := b.opt.NextUpstreamTries; n > 0 && s.tries > n {
		s.tries = n
	}
	ok := b.get(s, now)
	b.mu.Unlock()
	s.hint = -1
	if !ok {
		b.pool.put(s)
		return nil, ErrNoLiveUpstreams
	}
	return s, nil
}

// pickBound implements binder: the hint is the first peer with the cookie's
// server id (ngx_http_upstream_get_rr_peer_by_sid stops at the first).
func (b *nginx) pickBound(r *Request, cands []int) (*Selection, bool, error) {
	hint := -1
	if len(cands) > 0 {
		hint = cands[0]
	}
	s, err := b.pick(r, hint)
	if err != nil {
		return nil, false, err
	}
	return s, s.index == hint, nil
}

// bySID is ngx_http_upstream_get_rr_peer_by_sid: the position in the
// current group of the peer the sticky hint names, if it is untried and
// usable (not down, not failed, below max_conns); -1 otherwise.
func (b *nginx) bySID(s *Selection, now int64) int {
	if s.hint < 0 {
		return -1
	}
	p := b.byIndex[s.hint]
	if p.group != s.group || s.isTried(p.pos) || !p.usable(now) {
		return -1
	}
	return p.pos
}

// initPeer is ngx_http_upstream_init_round_robin_peer plus the method's
// per-request data (ip_hash address, hash key, ketama point).
func (b *nginx) initPeer(s *Selection, r *Request) {
	s.group = b.primary
	s.current = -1
	n := len(b.primary.peers)
	if bk := b.primary.next; bk != nil && len(bk.peers) > n {
		n = len(bk.peers)
	}
	s.initTried(n)
	switch b.method {
	case NginxIPHash:
		// ngx_http_upstream_init_ip_hash_peer: 3 bytes of IPv4, 16 of
		// IPv6, a pseudo address {0,0,0} otherwise; hash starts at 89.
		switch {
		case r.ClientIP.Is4():
			a := r.ClientIP.As4()
			copy(s.addr[:], a[:3])
			s.addrLen = 3
		case r.ClientIP.Is6():
			a := r.ClientIP.As16()
			copy(s.addr[:], a[:])
			s.addrLen = 16
		default:
			s.addr = [16]byte{}
			s.addrLen = 3
		}
		s.hash = 89
	case NginxHash:
		s.key = r.Key
	case NginxHashConsistent:
		s.key = r.Key
		// ngx_http_upstream_init_chash_peer: the point is looked up
		// even for an empty key (get falls back to round robin then).
		s.point = findPoint(b.points, crc32String(0, r.Key))
	}
}

func (s *Selection) isTried(i int) bool { return s.tried[i/64]&(1<<(uint(i)%64)) != 0 }
func (s *Selection) setTried(i int)     { s.tried[i/64] |= 1 << (uint(i) % 64) }

// get dispatches to the method's get_peer; false is NGX_BUSY.
func (b *nginx) get(s *Selection, now int64) bool {
	var ok bool
	switch b.method {
	case NginxLeastConn:
		ok = b.getLeastConn(s, now)
	case NginxIPHash:
		ok = b.getIPHash(s, now)
	case NginxHash:
		ok = b.getHash(s, now)
	case NginxHashConsistent:
		ok = b.getCHash(s, now)
	case NginxRandom:
		ok = b.getRandom(s, now)
	case NginxRandomTwo:
		ok = b.getRandom2(s, now)
	default:
		ok = b.getRR(s, now)
	}
	if ok {
		p := &s.group.peers[s.current]
		s.peer = p.cfg
		s.index = p.index
		s.live = true
	}
	return ok
}

// usable applies the checks every method makes before choosing a peer:
// down, max_fails within fail_timeout, max_conns.
func (p *ngxPeer) usable(now int64) bool {
	if p.down {
		return false
	}
	if p.maxFails > 0 && p.fails >= p.maxFails && now-p.checked <= p.failTimeout {
		return false
	}
	return p.maxConns == 0 || p.conns < p.maxConns
}

// chosen finishes a pick of peer i of the current group: conns++, the
// checked stamp that lets one probe through after fail_timeout, tried bit.
func (s *Selection) chosen(i int, now int64) {
	p := &s.group.peers[i]
	s.current = i
	p.conns++
	if now-p.checked > p.failTimeout {
		p.checked = now
	}
	s.setTried(i)
}

// getRR is ngx_http_upstream_get_round_robin_peer.
func (b *nginx) getRR(s *Selection, now int64) bool {
	g := s.group
	if g.single {
		p := &g.peers[0]
		if !p.down && (p.maxConns == 0 || p.conns < p.maxConns) {
			// A single peer is never marked failed and its checked
			// stamp and tried bit are not touched.
			s.current = 0
			p.conns++
			return true
		}
	} else if i := b.swrr(s, now); i >= 0 {
		g.peers[i].conns++
		return true
	}
	if toBackup(s) {
		return b.getRR(s, now)
	}
	return false
}

// toBackup is the "failed:" branch of the get functions that support
// backup servers: the request moves to the backup group, for good, with a
// fresh tried bitmap. It reports whether there was a backup group.
func toBackup(s *Selection) bool {
	if s.group.next == nil {
		return false
	}
	s.group = s.group.next
	clear(s.tried)
	return true
}

// swrr is ngx_http_upstream_get_peer: smooth weighted round robin over the
// usable, untried peers; ties go to the earlier peer (strict '>').
func (b *nginx) swrr(s *Selection, now int64) int {
	g := s.group
	best, total := -1, 0
	st := b.bySID(s, now)
	if st >= 0 {
		// A bound peer is chosen but still takes part in the weighting
		// so that unbound traffic goes elsewhere, unless it is already
		// one full round ahead (low_limit).
		if g.peers[st].current <= -(g.totalWeight - g.peers[st].weight) {
			return b.swrrChosen(s, st, 0, now)
		}
	}
	for i := range g.peers {
		if s.isTried(i) {
			continue
		}
		p := &g.peers[i]
		if !p.usable(now) {
			continue
		}
		p.current += p.effective
		total += p.effective
		if p.effective < p.weight {
			p.effective++
		}
		if best < 0 || p.current > g.peers[best].current {
			best = i
		}
	}
	if st >= 0 {
		best = st // prefer the peer chosen by sticky to the round robin's
	}
	if best < 0 {
		return -1
	}
	return b.swrrChosen(s, best, total, now)
}

func (b *nginx) swrrChosen(s *Selection, best, total int, now int64) int {
	s.current = best
	s.setTried(best)
	bp := &s.group.peers[best]
	bp.current -= total
	if now-bp.checked > bp.failTimeout {
		bp.checked = now
	}
	return best
}

// free is ngx_http_upstream_free_round_robin_peer.
func (b *nginx) free(s *Selection, failed, _ bool) {
	now := b.opt.Now().Unix()
	b.mu.Lock()
	defer b.mu.Unlock()
	s.live = false
	p := &s.group.peers[s.current]
	if s.group.single {
		p.conns--
		s.tries = 0
		return
	}
	if failed {
		p.fails++
		p.accessed = now
		p.checked = now
		if p.maxFails > 0 {
			p.effective -= p.weight / p.maxFails
		}
		if p.effective < 0 {
			p.effective = 0
		}
	} else if p.accessed < p.checked {
		// mark peer live if check passed
		p.fails = 0
	}
	p.conns--
	if s.tries > 0 {
		s.tries--
	}
}

// next is the retry half of ngx_http_upstream_next: no tries left ends the
// request, otherwise get_peer runs again with the request's state.
func (b *nginx) next(s *Selection) error {
	if s.tries == 0 {
		return ErrNoMoreTries
	}
	now := b.opt.Now().Unix()
	b.mu.Lock()
	ok := b.get(s, now)
	b.mu.Unlock()
	if !ok {
		return ErrNoLiveUpstreams
	}
	return nil
}

func (b *nginx) put(s *Selection) { b.pool.put(s) }

// getLeastConn is ngx_http_upstream_get_least_conn_peer: least
// conns/weight (cross-multiplied), smooth weighted round robin among ties.
func (b *nginx) getLeastConn(s *Selection, now int64) bool {
	g := s.group
	if g.single {
		return b.getRR(s, now)
	}
	if st := b.bySID(s, now); st >= 0 {
		s.chosen(st, now)
		return true
	}
	best, many := -1, false
	for i := range g.peers {
		if s.isTried(i) {
			continue
		}
		p := &g.peers[i]
		if !p.usable(now) {
			continue
		}
		if best < 0 {
			best, many = i, false
			continue
		}
		bp := &g.peers[best]
		switch l, r := p.conns*bp.weight, bp.conns*p.weight; {
		case l < r:
			best, many = i, false
		case l == r:
			many = true
		}
	}
	if best < 0 {
		if toBackup(s) {
			return b.getLeastConn(s, now)
		}
		return false
	}
	total := 0
	if many {
		for i := best; i < len(g.peers); i++ {
			if s.isTried(i) {
				continue
			}
			p, bp := &g.peers[i], &g.peers[best]
			if p.conns*bp.weight != bp.conns*p.weight || !p.usable(now) {
				continue
			}
			p.current += p.effective
			total += p.effective
			if p.effective < p.weight {
				p.effective++
			}
			if p.current > bp.current {
				best = i
			}
		}
	}
	g.peers[best].current -= total
	s.chosen(best, now)
	return true
}

// getIPHash is ngx_http_upstream_get_ip_hash_peer.
func (b *nginx) getIPHash(s *Selection, now int64) bool {
	g := s.group
	if s.htries > 20 || g.single {
		return b.getRR(s, now)
	}
	hash := s.hash
	if st := b.bySID(s, now); st >= 0 {
		s.chosen(st, now)
		s.hash = hash
		return true
	}
	for {
		for i := 0; i < s.addrLen; i++ {
			hash = (hash*113 + uint32(s.addr[i])) % 6271
		}
		p := g.pick(hash)
		if !s.isTried(p) && g.peers[p].usable(now) {
			s.chosen(p, now)
			s.hash = hash
			return true
		}
		s.htries++
		if s.htries > 20 {
			return b.getRR(s, now)
		}
	}
}

// pick maps a hash onto the weighted peer list: w = hash % total_weight,
// then walk subtracting weights (down peers keep their share).
func (g *ngxGroup) pick(hash uint32) int {
	w := int(hash % uint32(g.totalWeight))
	p := 0
	for w >= g.peers[p].weight {
		w -= g.peers[p].weight
		p++
	}
	return p
}

// getHash is ngx_http_upstream_get_hash_peer, compatible with
// Cache::Memcached: hash += (crc32([rehash] key) >> 16) & 0x7fff with the
// decimal rehash count prefixed from the second round on.
func (b *nginx) getHash(s *Selection, now int64) bool {
	g := s.group
	if s.htries > 20 || g.single || s.key == "" {
		return b.getRR(s, now)
	}
	if st := b.bySID(s, now); st >= 0 {
		s.chosen(st, now)
		return true
	}
	var buf [20]byte
	for {
		crc := uint32(0)
		if s.rehash > 0 {
			crc = crc32Bytes(crc, appendUint(buf[:0], uint64(s.rehash)))
		}
		crc = crc32String(crc, s.key)
		s.hash += (crc >> 16) & 0x7fff
		s.rehash++
		p := g.pick(s.hash)
		if !s.isTried(p) && g.peers[p].usable(now) {
			s.chosen(p, now)
			return true
		}
		s.htries++
		if s.htries > 20 {
			return b.getRR(s, now)
		}
	}
}

// getCHash is ngx_http_upstream_get_chash_peer: the server of the current
// ketama point; among the peers sharing that server name, smooth weighted
// round robin; none usable moves to the next point.
func (b *nginx) getCHash(s *Selection, now int64) bool {
	g := s.group
	if s.htries > 20 || g.single || s.key == "" {
		return b.getRR(s, now)
	}
	if st := b.bySID(s, now); st >= 0 {
		s.chosen(st, now)
		return true
	}
	for {
		server := b.points[s.point%uint(len(b.points))].server
		best, total := -1, 0
		for i := range g.peers {
			p := &g.peers[i]
			if s.isTried(i) || !p.usable(now) || p.nameID != server {
				continue
			}
			p.current += p.effective
			total += p.effective
			if p.effective < p.weight {
				p.effective++
			}
			if best < 0 || p.current > g.peers[best].current {
				best = i
			}
		}
		if best >= 0 {
			g.peers[best].current -= total
			s.chosen(best, now)
			return true
		}
		s.point++
		s.htries++
		if s.htries > 20 {
			return b.getRR(s, now)
		}
	}
}

// peek is ngx_http_upstream_peek_random_peer: a weighted draw over the
// cumulative ranges.
func (b *nginx) peek() int {
	x := int(b.opt.Rand(uint32(b.primary.totalWeight)))
	i, j := 0, len(b.ranges)
	for j-i > 1 {
		k := (i + j) / 2
		if x < b.ranges[k] {
			j = k
		} else {
			i = k
		}
	}
	return i
}

// getRandom is ngx_http_upstream_get_random_peer.
func (b *nginx) getRandom(s *Selection, now int64) bool {
	g := s.group
	if s.htries > 20 || g.single {
		return b.getRR(s, now)
	}
	if st := b.bySID(s, now); st >= 0 {
		s.chosen(st, now)
		return true
	}
	for {
		i := b.peek()
		if !s.isTried(i) && g.peers[i].usable(now) {
			s.chosen(i, now)
			return true
		}
		s.htries++
		if s.htries > 20 {
			return b.getRR(s, now)
		}
	}
}

// getRandom2 is ngx_http_upstream_get_random2_peer: two distinct usable
// draws, the second kept unless its conns/weight is strictly higher. Every
// draw but the deciding one counts a try, as in nginx (the first usable
// draw falls through to the "next" label).
func (b *nginx) getRandom2(s *Selection, now int64) bool {
	g := s.group
	if s.htries > 20 || g.single {
		return b.getRR(s, now)
	}
	if st := b.bySID(s, now); st >= 0 {
		s.chosen(st, now)
		return true
	}
	prev := -1
	for {
		i := b.peek()
		if i != prev && !s.isTried(i) && g.peers[i].usable(now) {
			if prev >= 0 {
				p, pp := &g.peers[i], &g.peers[prev]
				if p.conns*pp.weight > pp.conns*p.weight {
					i = prev
				}
				s.chosen(i, now)
				return true
			}
			prev = i
		}
		s.htries++
		if s.htries > 20 {
			return b.getRR(s, now)
		}
	}
}

// appendUint is strconv.AppendUint without the import cost on the hot path.
func appendUint(dst []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}
