package balance

// Weighted least connections (src/lb_fwlc.c, balance leastconn) and first
// available server (src/lb_fas.c, balance first). Both keep the usable
// servers of each group in one tree and reposition a server whenever it
// takes or releases a connection.

func (h *haproxy) tree(s *hapServer) *ebTree {
	if s.backup {
		return &h.bck
	}
	return &h.act
}

// initTrees is fwlc_init_server_tree / fas_init_server_tree.
func (h *haproxy) initTrees() {
	h.wdiv = beWeightScale
	for _, s := range h.srv {
		s.nextEW = (s.uweight*h.wdiv + h.wmult - 1) / h.wmult
		s.commit()
	}
	h.recount()
	h.updateBackendWeight()
	for _, s := range h.srv {
		if s.currentlyUsable() {
			h.treeQueue(s, s.nextEW)
		}
	}
}

// treeQueue inserts a server in its group's tree: fas sorts by id,
// fwlc by (inflight+1)*SRV_EWGHT_MAX/eweight with idle servers at 0 so
// that under low load every server gets used (fwlc_queue_srv).
func (h *haproxy) treeQueue(s *hapServer, eweight int) {
	if h.lookup == lkFAS {
		s.node.key = uint32(s.puid)
	} else {
		s.node.key = lcKey(s.served, eweight)
	}
	h.tree(s).insert(&s.node)
}

func lcKey(inflight, eweight int) uint32 {
	if inflight == 0 || eweight == 0 {
		return 0
	}
	return uint32((inflight + 1) * srvEWghtMax / eweight)
}

// fwlcReposition is fwlc_srv_reposition: a server whose key does not
// change keeps its place among equals.
func (h *haproxy) fwlcReposition(s *hapServer) {
	if s.node.tree == nil {
		return
	}
	k := lcKey(s.served, s.curEW)
	if s.node.key == k {
		return
	}
	t := s.node.tree
	ebDelete(&s.node)
	s.node.key = k
	t.insert(&s.node)
}

// fasReposition is fas_srv_reposition (the key, the id, never changes).
func (h *haproxy) fasReposition(s *hapServer) {
	if s.node.tree == nil {
		return
	}
	t := s.node.tree
	ebDelete(&s.node)
	t.insert(&s.node)
}

// treeGroup selects the tree to walk, or the first backup server
// (fwlc_get_next_server / fas_get_next_server preamble).
func (h *haproxy) treeGroup() (*ebTree, *hapServer) {
	switch {
	case h.srvAct > 0:
		return &h.act, nil
	case h.fbck != nil:
		return nil, h.fbck
	case h.srvBck > 0:
		return &h.bck, nil
	}
	return nil, nil
}

// fwlcGetNext is fwlc_get_next_server: the first server of the tree with
// room, the avoided one only as a last resort.
func (h *haproxy) fwlcGetNext(avoid *hapServer) *hapServer {
	t, fb := h.treeGroup()
	if t == nil {
		return fb
	}
	var avoided *hapServer
	for _, n := range t.nodes {
		s := n.srv
		if s.hasRoom(h.now) {
			if s != avoid {
				return s
			}
			avoided = s
		}
	}
	return avoided
}

// fasGetNext is fas_get_next_server: identical walk over the id order.
func (h *haproxy) fasGetNext(avoid *hapServer) *hapServer { return h.fwlcGetNext(avoid) }

// treeUpdateWeight is fwlc_update_server_weight / fas_update_server_weight
// with their set_server_status_up/down.
func (h *haproxy) treeUpdateWeight(s *hapServer) {
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
		h.treeQueue(s, s.nextEW)
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
		ebDelete(&s.node)
		h.updateBackendWeight()
	default:
		ebDelete(&s.node)
		if s.backup {
			h.totWbck += s.nextEW - s.curEW
		} else {
			h.totWact += s.nextEW - s.curEW
		}
		h.treeQueue(s, s.nextEW)
		h.updateBackendWeight()
	}
	s.commit()
}
