package balance

// Consistent hashing, src/lb_chash.c (hash-type consistent). Each server
// owns uweight*BE_WEIGHT_SCALE points keyed full_hash(id*SRV_EWGHT_RANGE +
// n); only its first eweight points are in the tree, so slow start and
// weight changes add or remove points at the end of its list.

// initCHash is chash_init_server_tree.
func (h *haproxy) initCHash() {
	h.wdiv = beWeightScale
	for _, s := range h.srv {
		s.nextEW = (s.uweight*h.wdiv + h.wmult - 1) / h.wmult
		s.commit()
	}
	h.recount()
	h.updateBackendWeight()
	for _, s := range h.srv {
		s.chNodes = make([]ebNode, s.uweight*beWeightScale)
		for n := range s.chNodes {
			s.chNodes[n] = ebNode{srv: s, key: fullHash(uint32(s.puid*srvEWghtRange + n))}
		}
		if s.currentlyUsable() {
			h.chashQueueDequeue(s)
		}
	}
}

// chashSkip is chash_skip_node: the node after n (wrapping), nil if n is
// alone, so that the round-robin cursor survives n's removal.
func (h *haproxy) chashSkip(t *ebTree, n *ebNode) *ebNode {
	if n == nil {
		return nil
	}
	stop := n
	n = t.next(n)
	if n == nil {
		n = t.first()
	}
	if n == stop {
		return nil
	}
	return n
}

// chashQueueDequeue is chash_queue_dequeue_srv: make the server appear as
// many times as its next eweight.
func (h *haproxy) chashQueueDequeue(s *hapServer) {
	t := h.tree(s)
	for s.chNow > s.nextEW {
		s.chNow--
		n := &s.chNodes[s.chNow]
		if h.chLast == n {
			h.chLast = h.chashSkip(t, n)
		}
		ebDelete(n)
	}
	// the weight may have grown beyond the initial one (set server weight)
	if len(s.chNodes) < s.nextEW {
		old := s.chNodes
		s.chNodes = make([]ebNode, s.nextEW)
		for i := range old {
			if old[i].tree != nil {
				ebDelete(&old[i])
				s.chNodes[i] = ebNode{srv: s, key: old[i].key}
				t.insert(&s.chNodes[i])
			} else {
				s.chNodes[i] = ebNode{srv: s, key: old[i].key}
			}
		}
		for n := len(old); n < len(s.chNodes); n++ {
			s.chNodes[n] = ebNode{srv: s, key: fullHash(uint32(s.puid*srvEWghtRange + n))}
		}
	}
	for s.chNow < s.nextEW && s.chNow < len(s.chNodes) {
		n := &s.chNodes[s.chNow]
		if h.chLast == n {
			h.chLast = h.chashSkip(t, n)
		}
		t.insert(n)
		s.chNow++
	}
}

// chashDequeue is chash_dequeue_srv: remove all of a server's points.
func (h *haproxy) chashDequeue(s *hapServer) {
	t := h.tree(s)
	for s.chNow > 0 {
		s.chNow--
		n := &s.chNodes[s.chNow]
		if h.chLast == n {
			h.chLast = h.chashSkip(t, n)
		}
		ebDelete(n)
	}
}

// chashUpdateWeight is chash_update_server_weight with
// chash_set_server_status_up/down.
func (h *haproxy) chashUpdateWeight(s *hapServer) {
	if !s.statusChanged() {
		return
	}
	oldUp, newUp := s.currentlyUsable(), s.willbeUsable()
	switch {
	case !oldUp && !newUp:
	case !oldUp && newUp:
		if s.backup {
			h.totWbck += s.nextEW
			h.srvBck++
			h.firstBackupBack(s)
		} else {
			h.totWact += s.nextEW
			h.srvAct++
		}
		h.chashQueueDequeue(s)
		h.updateBackendWeight()
	case oldUp && !newUp:
		if s.backup {
			h.totWbck -= s.curEW
			h.srvBck--
			h.firstBackupLost(s)
		} else {
			h.totWact -= s.curEW
			h.srvAct--
		}
		h.chashDequeue(s)
		h.updateBackendWeight()
	default:
		h.chashQueueDequeue(s)
		if s.backup {
			h.totWbck += s.nextEW - s.curEW
		} else {
			h.totWact += s.nextEW - s.curEW
		}
		h.updateBackendWeight()
	}
	s.commit()
}

func (h *haproxy) chashRoot() (*ebTree, *hapServer) { return h.treeGroup() }

// chashGetHash is chash_get_server_hash: the point closest to hash, before
// (on ties) or after it, then walking on past the server to avoid.
func (h *haproxy) chashGetHash(hash uint32, avoid *hapServer) *hapServer {
	t, fb := h.chashRoot()
	if t == nil {
		return fb
	}
	next := t.lookupGE(hash)
	if next == nil {
		next = t.first()
	}
	if next == nil {
		return nil
	}
	prev := t.prev(next)
	if prev == nil {
		prev = t.last()
	}
	dp := hash - prev.key
	dn := next.key - hash
	if dp <= dn {
		next = prev
	}
	nsrv := next.srv
	loop := 0
	for nsrv == avoid {
		next = t.next(next)
		if next == nil {
			next = t.first()
			loop++
			if loop > 1 {
				break
			}
		}
		nsrv = next.srv
	}
	return nsrv
}

// chashGetNext is chash_get_next_server: round robin over the points from
// the last one used, skipping saturated servers and the one to avoid.
func (h *haproxy) chashGetNext(avoid *hapServer) *hapServer {
	t, fb := h.chashRoot()
	if t == nil {
		return fb
	}
	var srv, avoided *hapServer
	var avoidedNode *ebNode
	stop := h.chLast
	node := h.chLast
	for {
		if node != nil {
			// eb32_next walks the tree the node is in
			node = node.tree.next(node)
		}
		if node == nil {
			node = t.first()
		}
		h.chLast = node
		if node == nil {
			return nil
		}
		if stop == nil {
			stop = node
		}
		s := node.srv
		if s.hasRoom(h.now) {
			if s != avoid {
				srv = s
				break
			}
			avoided, avoidedNode = s, node
		}
		if node == stop {
			break
		}
	}
	if srv == nil {
		srv = avoided
		h.chLast = avoidedNode
	}
	return srv
}
