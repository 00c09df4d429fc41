package balance

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// HAProxy constants (include/haproxy/backend-t.h, server-t.h).
const (
	beWeightScale = 16                            // BE_WEIGHT_SCALE
	srvUWghtRange = 256                           // SRV_UWGHT_RANGE
	srvUWghtMax   = srvUWghtRange                 // SRV_UWGHT_MAX
	srvEWghtRange = srvUWghtRange * beWeightScale // SRV_EWGHT_RANGE
	srvEWghtMax   = srvUWghtMax * beWeightScale   // SRV_EWGHT_MAX
)

// Server states (enum srv_state).
const (
	stStopped = iota
	stStarting
	stRunning
)

// hapServer mirrors the load-balancing part of HAProxy's struct server.
type hapServer struct {
	cfg       *Peer
	index     int
	puid      int
	uweight   int // user weight
	iweight   int // initial user weight
	curEW     int // cur_eweight
	nextEW    int // next_eweight
	curState  int
	nextState int
	backup    bool
	maxconn   int
	served    int
	slowstart int64 // seconds, (ms+999)/1000
	lastChg   int64 // last_change, seconds

	node ebNode // lb_node: fwrr, fwlc, fas
	// fwrr
	npos, lpos, rweight int
	// map
	wscore int
	// chash
	chNodes []ebNode // lb_nodes, first chNow of them in the tree
	chNow   int
}

func (s *hapServer) currentlyUsable() bool {
	return s.curEW > 0 && (s.curState == stStarting || s.curState == stRunning)
}

func (s *hapServer) willbeUsable() bool {
	return s.nextEW > 0 && (s.nextState == stStarting || s.nextState == stRunning)
}

func (s *hapServer) statusChanged() bool {
	return s.curState != s.nextState || s.curEW != s.nextEW
}

// commit is srv_lb_commit_status.
func (s *hapServer) commit() {
	s.curState = s.nextState
	s.curEW = s.nextEW
}

// dynamicMaxconn is srv_dynamic_maxconn without minconn/fullconn: maxconn,
// ramped from 1 to 100% during slow start.
func (s *hapServer) dynamicMaxconn(now int64) int {
	m := s.maxconn
	if s.curState == stStarting && now < s.lastChg+s.slowstart && now >= s.lastChg {
		ratio := int(100 * (now - s.lastChg) / s.slowstart)
		m = max(1, m*ratio/100)
	}
	return m
}

// hasRoom is the saturation test of the rr/first lookups (no queue here).
func (s *hapServer) hasRoom(now int64) bool {
	return s.maxconn == 0 || s.served < s.dynamicMaxconn(now)
}

// haproxy implements HAProxy's backend load balancing (backend.c and the
// lb_*.c modules) for one backend.
type haproxy struct {
	mu     sync.Mutex
	cfg    Config
	opt    Options
	peers  []Peer
	srv    []*hapServer
	lookup int // lookup structure: lkFWRR, lkFWLC, lkFAS, lkMap, lkCHash
	dyn    bool
	seq    uint64
	now    int64 // seconds, refreshed under the lock

	srvAct, srvBck     int
	totWact, totWbck   int
	totWeight, totUsed int
	fbck               *hapServer
	wmult, wdiv        int

	// map (lb_map.c)
	mapSrv []*hapServer
	rrIdx  int
	// fwrr (lb_fwrr.c)
	fwAct, fwBck fwrrGroup
	full         []*hapServer
	// fwlc, fas, chash trees: active and backup
	act, bck ebTree
	chLast   *ebNode

	pool selPool
}

const (
	lkMap = iota
	lkFWRR
	lkFWLC
	lkFAS
	lkCHash
)

func newHAProxy(cfg Config, peers []Peer, opt Options) (*haproxy, error) {
	h := &haproxy{cfg: cfg, opt: opt, wmult: 1, wdiv: 1}
	h.peers = append([]Peer(nil), peers...)
	h.act.seq, h.bck.seq = &h.seq, &h.seq
	switch cfg.Method {
	case HAProxyRoundRobin:
		h.lookup, h.dyn = lkFWRR, true
	case HAProxyLeastConn:
		h.lookup, h.dyn = lkFWLC, true
	case HAProxyFirst:
		h.lookup, h.dyn = lkFAS, true
	case HAProxyStaticRR:
		h.lookup = lkMap
	default:
		if cfg.Consistent {
			h.lookup, h.dyn = lkCHash, true
		} else {
			h.lookup = lkMap
		}
	}
	switch cfg.Method {
	case HAProxyURLParam:
		if cfg.Param == "" {
			return nil, errors.New("url_param requires a parameter name")
		}
	case HAProxyHdr:
		if cfg.Header == "" {
			return nil, errors.New("hdr requires a header name")
		}
	}
	if err := h.assignIDs(); err != nil {
		return nil, err
	}
	now := opt.Now().Unix()
	h.now = now
	for _, s := range h.srv {
		s.lastChg = now
	}
	switch h.lookup {
	case lkMap:
		h.initMap()
	case lkFWRR:
		h.initFWRR()
	case lkFWLC, lkFAS:
		h.initTrees()
	case lkCHash:
		h.initCHash()
	}
	return h, nil
}

// assignIDs builds the servers and numbers those without an id as
// check_config_validity does: next_id starts at 1 and moves past every
// server, each unnumbered server taking the first free id >= next_id.
func (h *haproxy) assignIDs() error {
	used := map[int]bool{}
	for i := range h.peers {
		p := &h.peers[i]
		if p.Weight < 0 || p.Weight > srvUWghtMax {
			return fmt.Errorf("server %s: weight %d out of range [0..%d]", p.Name, p.Weight, srvUWghtMax)
		}
		if p.ID < 0 || p.MaxConns < 0 {
			return fmt.Errorf("server %s: invalid id or maxconn", p.Name)
		}
		if p.ID > 0 {
			if used[p.ID] {
				return fmt.Errorf("server %s: id %d already used", p.Name, p.ID)
			}
			used[p.ID] = true
		}
	}
	next := 1
	for i := range h.peers {
		p := &h.peers[i]
		w := p.Weight
		if w == 0 {
			w = 1
		}
		s := &hapServer{cfg: p, index: i, puid: p.ID, uweight: w, iweight: w, backup: p.Backup,
			maxconn: p.MaxConns, curState: stRunning, nextState: stRunning}
		if p.Down {
			s.curState, s.nextState = stStopped, stStopped
		}
		if p.SlowStart > 0 {
			s.slowstart = int64((p.SlowStart + time.Second - time.Millisecond) / time.Second)
		}
		if s.puid == 0 {
			for used[next] {
				next++
			}
			s.puid = next
			used[next] = true
		}
		next++
		s.node.srv = s
		h.srv = append(h.srv, s)
	}
	return nil
}

// recount is recount_servers: usable servers and weights from next_*.
func (h *haproxy) recount() {
	h.srvAct, h.srvBck, h.totWact, h.totWbck, h.fbck = 0, 0, 0, 0, nil
	for _, s := range h.srv {
		if !s.willbeUsable() {
			continue
		}
		if s.backup {
			if h.srvBck == 0 && !h.cfg.AllBackups {
				h.fbck = s
			}
			h.srvBck++
			h.totWbck += s.nextEW
		} else {
			h.srvAct++
			h.totWact += s.nextEW
		}
	}
}

// updateBackendWeight is update_backend_weight.
func (h *haproxy) updateBackendWeight() {
	switch {
	case h.srvAct > 0:
		h.totWeight, h.totUsed = h.totWact, h.srvAct
	case h.fbck != nil:
		h.totWeight, h.totUsed = h.fbck.nextEW, 1
	default:
		h.totWeight, h.totUsed = h.totWbck, h.srvBck
	}
}

// firstBackupLost finds the next usable backup after fbck went down.
func (h *haproxy) firstBackupLost(s *hapServer) {
	if s != h.fbck {
		return
	}
	h.fbck = nil
	for _, s2 := range h.srv[s.index+1:] {
		if s2.backup && s2.willbeUsable() {
			h.fbck = s2
			return
		}
	}
}

// firstBackupBack restores fbck when a backup server earlier than the
// current one comes back (the "option allbackups" unset case).
func (h *haproxy) firstBackupBack(s *hapServer) {
	if h.cfg.AllBackups {
		return
	}
	if h.fbck == nil || s.index < h.fbck.index {
		h.fbck = s
	}
}

// propagate is the tail of srv_update_status: hand the new state or
// weight to the algorithm.
func (h *haproxy) propagate(s *hapServer) {
	switch h.lookup {
	case lkMap:
		if s.willbeUsable() {
			h.mapStatusUp(s)
		} else {
			h.mapStatusDown(s)
		}
	case lkFWRR:
		h.fwrrUpdateWeight(s)
	case lkFWLC, lkFAS:
		h.treeUpdateWeight(s)
	case lkCHash:
		h.chashUpdateWeight(s)
	}
}

// recalcEweight is server_recalc_eweight: the slow start ramp applies to
// dynamic algorithms only, w = (wdiv*elapsed + slowstart) / slowstart.
func (h *haproxy) recalcEweight(s *hapServer) {
	now := h.now
	if now < s.lastChg || now >= s.lastChg+s.slowstart {
		if s.nextState == stStarting {
			s.nextState = stRunning
		}
	}
	w := h.wdiv
	if s.nextState == stStarting && h.dyn {
		w = int((int64(h.wdiv)*(now-s.lastChg) + s.slowstart) / s.slowstart)
	}
	s.nextEW = (s.uweight*w + h.wmult - 1) / h.wmult
}

// tick advances the servers in slow start (server_warmup) once per second
// of the clock; HAProxy's warmup task runs every max(1s, slowstart/20).
func (h *haproxy) tick() {
	now := h.opt.Now().Unix()
	if now == h.now {
		return
	}
	h.now = now
	for _, s := range h.srv {
		if s.curState == stStarting {
			h.recalcEweight(s)
			h.propagate(s)
		}
	}
}

// SetDown marks a server down (srv_set_stopped) or up (srv_set_running:
// starting when it has a slow start).
func (h *haproxy) SetDown(peer int, down bool) error {
	if peer < 0 || peer >= len(h.srv) {
		return ErrBadPeer
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tick()
	s := h.srv[peer]
	if down {
		if s.curState == stStopped {
			return nil
		}
		s.nextState = stStopped
	} else {
		if s.curState != stStopped {
			return nil
		}
		s.nextState = stRunning
		if s.slowstart > 0 {
			s.nextState = stStarting
		}
	}
	s.lastChg = h.now
	h.recalcEweight(s)
	h.propagate(s)
	return nil
}

// SetWeight changes a server's weight at run time ("set server <b>/<s>
// weight"): static algorithms only accept 0 and the initial weight.
func (h *haproxy) SetWeight(peer, weight int) error {
	if peer < 0 || peer >= len(h.srv) {
		return ErrBadPeer
	}
	if weight < 0 || weight > srvUWghtMax {
		return fmt.Errorf("weight %d out of range [0..%d]", weight, srvUWghtMax)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tick()
	s := h.srv[peer]
	if !h.dyn && weight != 0 && weight != s.iweight {
		return errors.New("backend is using a static LB algorithm and only accepts weights '0%' and '100%'")
	}
	s.uweight = weight
	h.recalcEweight(s)
	h.propagate(s)
	return nil
}

// Pick runs assign_server and takes a connection slot on the server.
func (h *haproxy) Pick(r *Request) (*Selection, error) {
	s := h.pool.get(h)
	s.req = *r
	h.mu.Lock()
	err := h.assign(s, nil)
	h.mu.Unlock()
	if err != nil {
		h.pool.put(s)
		return nil, err
	}
	return s, nil
}

// assign is assign_server for one attempt; avoid is the previous server
// on a redispatch.
func (h *haproxy) assign(s *Selection, avoid *hapServer) error {
	h.tick()
	if h.totWeight == 0 {
		return ErrNoServer
	}
	var srv *hapServer
	switch h.cfg.Method {
	case HAProxyRoundRobin:
		srv = h.fwrrGetNext(avoid)
	case HAProxyLeastConn:
		srv = h.fwlcGetNext(avoid)
	case HAProxyFirst:
		srv = h.fasGetNext(avoid)
	case HAProxyStaticRR:
		srv = h.mapGetRR(avoid)
	default:
		srv = h.hashLookup(&s.req, avoid)
		if srv == nil {
			// the hashing parameter was not found: round robin on the
			// map or on the consistent tree.
			if h.lookup == lkCHash {
				srv = h.chashGetNext(avoid)
			} else {
				srv = h.mapGetRR(avoid)
			}
		}
	}
	if srv == nil {
		return ErrFull
	}
	s.peer, s.index, s.live = srv.cfg, srv.index, true
	s.attempts++
	srv.served++
	h.reposition(srv)
	return nil
}

// reposition is lbprm.server_take_conn / server_drop_conn.
func (h *haproxy) reposition(srv *hapServer) {
	switch h.lookup {
	case lkFWLC:
		h.fwlcReposition(srv)
	case lkFAS:
		h.fasReposition(srv)
	}
}

func (h *haproxy) free(s *Selection, _, _ bool) {
	h.mu.Lock()
	srv := h.srv[s.index]
	srv.served--
	h.reposition(srv)
	s.live = false
	h.mu.Unlock()
}

// next redispatches the request, avoiding the server it had.
func (h *haproxy) next(s *Selection) error {
	if s.attempts >= len(h.srv) {
		return ErrNoMoreTries
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.assign(s, h.srv[s.index])
}

func (h *haproxy) put(s *Selection) { h.pool.put(s) }

// hashLookup computes the key of the hash-based methods (get_server_sh,
// _uh, _ph, _hh, and "hash") and looks it up; nil when the key is absent.
func (h *haproxy) hashLookup(r *Request, avoid *hapServer) *hapServer {
	var hash uint32
	switch h.cfg.Method {
	case HAProxySource:
		var n int
		var ip [16]byte
		switch {
		case r.ClientIP.Is4():
			a := r.ClientIP.As4()
			copy(ip[:], a[:])
			n = 4
		case r.ClientIP.Is6():
			ip = r.ClientIP.As16()
			n = 16
		default:
			// HAProxy answers an unknown family with an internal
			// error; without an address this falls back to round
			// robin like any missing key.
			return nil
		}
		// "we won't hash if there's only one server left"
		if h.totUsed != 1 {
			hash = sourceHash(ip, n)
			if h.cfg.Avalanche {
				hash = fullHash(hash)
			}
		}
	case HAProxyURI:
		if h.totUsed != 1 {
			uri := r.URI
			if h.cfg.URIPathOnly {
				uri = uriPath(uri)
			}
			hash = h.keyHash(uriKey(uri, h.cfg.URILen, h.cfg.URIDepth, h.cfg.URIWhole))
		}
	case HAProxyURLParam:
		v, ok := urlParam(r.URI, h.cfg.Param)
		if !ok {
			return nil
		}
		hash = h.keyHash(v)
	case HAProxyHdr:
		if h.totUsed != 1 {
			if r.Header == nil {
				return nil
			}
			v := firstHeaderValue(r.Header.Get(h.cfg.Header))
			if v == "" {
				return nil
			}
			if h.cfg.UseDomainOnly {
				v = domainOnly(v)
			}
			hash = h.keyHash(v)
		}
	case HAProxyHash:
		// get_server_expr; an empty Key stands for a missing sample.
		if h.totUsed != 1 {
			if r.Key == "" {
				return nil
			}
			hash = h.keyHash(r.Key)
		}
	}
	if h.lookup == lkCHash {
		return h.chashGetHash(hash, avoid)
	}
	return h.mapGetHash(hash)
}

func (h *haproxy) keyHash(k string) uint32 {
	hash := genHash(h.cfg.HashFunc, k)
	if h.cfg.Avalanche {
		hash = fullHash(hash)
	}
	return hash
}

// pickBound implements binder as manage_client_side_cookies does: the first
// server holding the cookie value that is not stopped gets the request
// directly (SF_DIRECT), even above its maxconn (HAProxy queues on it) and
// even with weight 0 (drain keeps persistent traffic); otherwise the
// request is load balanced. "option persist" is not modelled.
func (h *haproxy) pickBound(r *Request, cands []int) (*Selection, bool, error) {
	s := h.pool.get(h)
	s.req = *r
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tick()
	for _, i := range cands {
		srv := h.srv[i]
		if srv.curState == stStopped {
			continue
		}
		s.peer, s.index, s.live = srv.cfg, i, true
		s.attempts++
		srv.served++
		h.reposition(srv)
		return s, true, nil
	}
	if err := h.assign(s, nil); err != nil {
		h.pool.put(s)
		return nil, false, err
	}
	return s, false, nil
}
