package balance

// Map-based load balancing, src/lb_map.c: static-rr and the map-based
// hash-type. Weights are divided by their GCD (wmult) and the map holds
// each usable server eweight times, spread by a smooth score.

// initMap is init_server_map.
func (h *haproxy) initMap() {
	gcd := 1
	i := 0
	for i < len(h.srv) && h.srv[i].uweight == 0 {
		i++
	}
	if i < len(h.srv) {
		gcd = h.srv[i].uweight
		for _, s := range h.srv[i+1:] {
			if gcd <= 1 {
				break
			}
			w := s.uweight
			for w != 0 {
				gcd, w = w, gcd%w
			}
		}
	}
	h.wmult = gcd
	act, bck := 0, 0
	for _, s := range h.srv {
		s.nextEW = (s.uweight*h.wdiv + h.wmult - 1) / h.wmult
		if s.backup {
			bck += s.nextEW
		} else {
			act += s.nextEW
		}
		s.commit()
	}
	// the largest map this server list will ever need
	act = max(act, bck, 1)
	h.mapSrv = make([]*hapServer, act)
	h.recount()
	h.updateBackendWeight()
	h.recalcMap()
}

// recalcMap is recalc_server_map: each slot goes to the server whose
// running score (wscore += eweight) divided by the total is highest, the
// first declared on ties; the winner pays the total back.
func (h *haproxy) recalcMap() {
	if h.totUsed == 0 {
		return
	}
	tot := h.totWeight
	backup := h.srvAct == 0
	for _, s := range h.srv {
		s.wscore = 0
	}
	for o := 0; o < tot; o++ {
		var best *hapServer
		maxv := 0
		for _, s := range h.srv {
			if s.backup != backup || !s.willbeUsable() {
				continue
			}
			// a single slot: avoid the divide, take the first
			if tot == 1 {
				best = s
				break
			}
			s.wscore += s.nextEW
			v := (s.wscore + tot) / tot
			if best == nil || v > maxv {
				maxv, best = v, s
			}
		}
		h.mapSrv[o] = best
		if best != nil {
			best.wscore -= tot
		}
	}
}

// mapStatusDown and mapStatusUp are map_set_server_status_down/up: any
// change of usability or weight rebuilds the map.
func (h *haproxy) mapStatusDown(s *hapServer) {
	if !s.statusChanged() {
		return
	}
	if !s.willbeUsable() {
		h.recount()
		h.updateBackendWeight()
		h.recalcMap()
	}
	s.commit()
}

func (h *haproxy) mapStatusUp(s *hapServer) {
	if !s.statusChanged() {
		return
	}
	if s.willbeUsable() {
		h.recount()
		h.updateBackendWeight()
		h.recalcMap()
	}
	s.commit()
}

// mapGetRR is map_get_server_rr: walk the map from rr_idx, skipping
// saturated servers and the one to avoid (kept as a last resort).
func (h *haproxy) mapGetRR(avoid *hapServer) *hapServer {
	if h.totWeight == 0 {
		return nil
	}
	if h.rrIdx < 0 || h.rrIdx >= h.totWeight {
		h.rrIdx = 0
	}
	newidx := h.rrIdx
	var avoided *hapServer
	avoididx := 0
	for {
		srv := h.mapSrv[newidx]
		newidx++
		if srv.hasRoom(h.now) {
			avoided, avoididx = srv, newidx
			if srv != avoid {
				h.rrIdx = newidx
				return srv
			}
		}
		if newidx == h.totWeight {
			newidx = 0
		}
		if newidx == h.rrIdx {
			break
		}
	}
	if avoided != nil {
		h.rrIdx = avoididx
	}
	return avoided
}

// mapGetHash is map_get_server_hash.
func (h *haproxy) mapGetHash(hash uint32) *hapServer {
	if h.totWeight == 0 {
		return nil
	}
	return h.mapSrv[hash%uint32(h.totWeight)]
}
