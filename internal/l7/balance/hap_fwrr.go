package balance

// Fast weighted round robin, src/lb_fwrr.c (balance roundrobin). Servers
// live in three trees per group: "curr", ordered by their next position
// (npos) in the current window, "init" holding servers not yet placed in
// the window, sorted by decreasing weight, and "next" for servers pushed
// past the window. Positions advance by next_weight/eweight per pick with
// the remainder carried in rweight.

type fwrrGroup struct {
	curr       ebTree
	t0, t1     ebTree
	init, next *ebTree
	currPos    int
	currWeight int
	nextWeight int
}

func (h *haproxy) fwrrGroup(s *hapServer) *fwrrGroup {
	if s.backup {
		return &h.fwBck
	}
	return &h.fwAct
}

// initFWRR is fwrr_init_server_groups.
func (h *haproxy) initFWRR() {
	h.wdiv = beWeightScale
	for _, s := range h.srv {
		s.nextEW = (s.uweight*h.wdiv + h.wmult - 1) / h.wmult
		s.commit()
	}
	h.recount()
	h.updateBackendWeight()
	for _, g := range []*fwrrGroup{&h.fwAct, &h.fwBck} {
		g.curr.seq, g.t0.seq, g.t1.seq = &h.seq, &h.seq, &h.seq
		g.init, g.next = &g.t0, &g.t1
	}
	h.fwAct.currPos, h.fwAct.currWeight, h.fwAct.nextWeight = h.totWact, h.totWact, h.totWact
	h.fwBck.currPos, h.fwBck.currWeight, h.fwBck.nextWeight = h.totWbck, h.totWbck, h.totWbck
	for _, s := range h.srv {
		if !s.currentlyUsable() {
			continue
		}
		fwrrQueueByWeight(h.fwrrGroup(s).init, s)
	}
}

// fwrrQueueByWeight puts heavy servers first: key = SRV_EWGHT_MAX - weight.
func fwrrQueueByWeight(root *ebTree, s *hapServer) {
	s.node.key = uint32(srvEWghtMax - s.nextEW)
	root.insert(&s.node)
}

// fwrrQueue is fwrr_queue_srv: into "next" when the position does not fit
// the current window, else into "curr" keyed by position then weight.
func (h *haproxy) fwrrQueue(s *hapServer) {
	g := h.fwrrGroup(s)
	switch {
	case !s.willbeUsable():
		ebDelete(&s.node) // fwrr_remove_from_tree (callers dequeued it)
	case s.nextEW <= 0 || s.npos >= 2*g.currWeight || s.npos >= g.currWeight+g.nextWeight:
		s.npos -= g.currWeight
		fwrrQueueByWeight(g.next, s)
	default:
		s.node.key = uint32(srvUWghtRange*s.npos) +
			uint32(srvEWghtMax+s.rweight-s.nextEW)/beWeightScale
		g.curr.insert(&s.node)
	}
}

// fwrrGetSrv prepares a server extracted from its tree (fwrr_get_srv).
func (h *haproxy) fwrrGetSrv(s *hapServer) {
	g := h.fwrrGroup(s)
	switch s.node.tree {
	case g.init:
		s.npos, s.rweight = 0, 0
	case g.next:
		s.npos += g.currWeight
	case nil:
		s.npos = g.currPos
	}
}

func (g *fwrrGroup) switchTrees() {
	g.init, g.next = g.next, g.init
	g.currWeight = g.nextWeight
	g.currPos = g.currWeight
}

// serverFromGroup is fwrr_get_server_from_group: the head of "curr" if its
// turn has come, else the heaviest server of "init", else the head of
// "curr" anyway.
func (g *fwrrGroup) serverFromGroup() *hapServer {
	var s1 *hapServer
	if n := g.curr.first(); n != nil {
		s1 = n.srv
		if s1.curEW > 0 && s1.npos <= g.currPos {
			return s1
		}
	}
	if n := g.init.first(); n != nil {
		if s2 := n.srv; s2.curEW > 0 {
			s2.npos, s2.rweight = 0, 0
			return s2
		}
	}
	return s1
}

// updatePosition is fwrr_update_position.
func (g *fwrrGroup) updatePosition(s *hapServer) {
	ew := s.curEW
	if ew == 0 {
		return
	}
	if s.npos == 0 {
		s.npos = g.currPos
	}
	s.lpos = s.npos
	s.npos += g.nextWeight / ew
	s.rweight += g.nextWeight % ew
	if s.rweight >= ew {
		s.rweight -= ew
		s.npos++
	}
}

// fwrrGetNext is fwrr_get_next_server.
func (h *haproxy) fwrrGetNext(avoid *hapServer) *hapServer {
	var g *fwrrGroup
	switch {
	case h.srvAct > 0:
		g = &h.fwAct
	case h.fbck != nil:
		return h.fbck
	case h.srvBck > 0:
		g = &h.fwBck
	default:
		return nil
	}
	switched := false
	var srv, avoided *hapServer
	h.full = h.full[:0]
	for {
		// collect weights that changed while the group was empty
		if g.currWeight == 0 {
			g.currPos, g.currWeight = g.nextWeight, g.nextWeight
		}
		for {
			srv = g.serverFromGroup()
			if srv != nil {
				break
			}
			if switched {
				if avoided != nil {
					srv = avoided
					goto take
				}
				goto requeue
			}
			switched = true
			g.switchTrees()
		}
		g.updatePosition(srv)
		ebDelete(&srv.node)
		g.currPos++
		if srv.hasRoom(h.now) {
			if srv != avoid || avoided != nil {
				break
			}
			avoided = srv
		}
		// saturated or avoided: chain it for reinsertion
		h.full = append(h.full, srv)
	}
take:
	h.fwrrQueue(srv)
requeue:
	for _, f := range h.full {
		if f == srv {
			continue
		}
		if switched {
			// their place was lost, only their weight matters
			fwrrQueueByWeight(g.init, f)
		} else {
			h.fwrrQueue(f)
		}
	}
	return srv
}

// fwrrUpdateWeight is fwrr_update_server_weight, which dispatches to
// fwrr_set_server_status_up/down when usability changes.
func (h *haproxy) fwrrUpdateWeight(s *hapServer) {
	if !s.statusChanged() {
		return
	}
	oldUp, newUp := s.currentlyUsable(), s.willbeUsable()
	switch {
	case !oldUp && !newUp:
		s.commit()
		return
	case !oldUp && newUp:
		h.fwrrStatusUp(s)
		return
	case oldUp && !newUp:
		h.fwrrStatusDown(s)
		return
	}
	g := h.fwrrGroup(s)
	g.nextWeight = g.nextWeight - s.curEW + s.nextEW
	h.totWact, h.totWbck = h.fwAct.nextWeight, h.fwBck.nextWeight
	switch {
	case s.node.tree == g.init:
		ebDelete(&s.node)
		fwrrQueueByWeight(g.init, s)
	case s.node.tree == nil:
		ebDelete(&s.node)
		h.fwrrGetSrv(s)
		s.npos = g.currPos + (g.nextWeight+g.currWeight-g.currPos)/s.nextEW
		h.fwrrQueue(s)
	default:
		// still active or in "next": adjust its next position if it
		// has not consumed all its places
		h.fwrrGetSrv(s)
		if s.nextEW > 0 {
			prevNext := s.npos
			step := g.nextWeight / s.nextEW
			s.npos = s.lpos + step
			s.rweight = 0
			if s.npos > prevNext {
				s.npos = prevNext
			}
			if s.npos < g.currPos+2 {
				s.npos = g.currPos + step
			}
		} else {
			s.npos = g.currPos + g.currWeight
		}
		ebDelete(&s.node)
		h.fwrrQueue(s)
	}
	h.updateBackendWeight()
	s.commit()
}

// fwrrStatusDown is fwrr_set_server_status_down.
func (h *haproxy) fwrrStatusDown(s *hapServer) {
	if !s.statusChanged() {
		return
	}
	if s.willbeUsable() {
		s.commit()
		return
	}
	if s.currentlyUsable() {
		g := h.fwrrGroup(s)
		g.nextWeight -= s.curEW
		if s.backup {
			h.totWbck = g.nextWeight
			h.srvBck--
			h.firstBackupLost(s)
		} else {
			h.totWact = g.nextWeight
			h.srvAct--
		}
		ebDelete(&s.node)
		s.node.tree = nil
	}
	h.updateBackendWeight()
	s.commit()
}

// fwrrStatusUp is fwrr_set_server_status_up.
func (h *haproxy) fwrrStatusUp(s *hapServer) {
	if !s.statusChanged() {
		return
	}
	if !s.willbeUsable() {
		s.commit()
		return
	}
	if !s.currentlyUsable() {
		g := h.fwrrGroup(s)
		g.nextWeight += s.nextEW
		if s.backup {
			h.totWbck = g.nextWeight
			h.srvBck++
			h.firstBackupBack(s)
		} else {
			h.totWact = g.nextWeight
			h.srvAct++
		}
		h.fwrrGetSrv(s)
		s.npos = g.currPos + (g.nextWeight+g.currWeight-g.currPos)/s.nextEW
		h.fwrrQueue(s)
	}
	h.updateBackendWeight()
	s.commit()
}
