package l7

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/compress"
	"github.com/fulcrumlb/fulcrum/internal/l7/flood"
	"github.com/fulcrumlb/fulcrum/internal/l7/imgopt"
	"github.com/fulcrumlb/fulcrum/internal/l7/limit"
	"github.com/fulcrumlb/fulcrum/internal/l7/referer"
	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// The seed's L7 extras, run in nginx's phase order
// (ngx_http_core_run_phases; handlers of one phase run in the reverse of
// their registration, ngx_http_init_phase_handlers):
//
//	server rewrite, location match, location rewrite, with valid_referers
//	    and the secure link checked there as nginx's
//	    `if ($invalid_referer) { return 403; }` idiom does — then a
//	    "return" answers, before any limit (l7.md §1.8 [V])
//	preaccess: limit_req, then limit_conn (ngx_http_limit_conn_module is
//	    registered before ngx_http_limit_req_module in auto/modules, so
//	    limit_req runs first: a rejected or delayed request holds no
//	    limit_conn slot while it waits)
//	content: the proxy
//	response filters: image recompression, then compression
//
// Maps are variables (vars.go), evaluated when first used.

// extras are what a location does beyond proxying.
type extras struct {
	limitReq        []limit.ReqLimit
	limitReqKeys    []*tmpl
	limitReqStatus  int
	limitConn       []limit.ConnLimit
	limitConnKeys   []*tmpl
	limitConnStatus int
	referers        *refererPolicy
	secure          *securePolicy
	compress        *compress.Policy
	images          *imgopt.Filter
}

type reqZoneConf struct {
	cfg  config.LimitReqZone
	zone *limit.ReqZone
	key  *tmpl
}

type connZoneConf struct {
	cfg  config.LimitConnZone
	zone *limit.ConnZone
	key  *tmpl
}

type floodConf struct {
	cfg     config.FloodDefence
	trusted []netip.Prefix
	lim     *flood.Limiter
}

// refererPolicy is valid_referers and what an invalid Referer gets.
type refererPolicy struct {
	m         *referer.Matcher
	status    int
	redirect  string
	image     []byte
	imageType string
}

type securePolicy struct {
	link     *referer.Link
	required bool
}

const defaultLimitStatus = http.StatusServiceUnavailable

// extrasGlobal builds the maps, the limit zones and the flood defence,
// reusing the running zones and limiter when their configuration is
// unchanged, as nginx keeps a zone's shared memory across reloads.
func (b *builder) extrasGlobal() error {
	h := b.cfg
	ms, err := compileMaps(h.Maps)
	if err != nil {
		return err
	}
	b.snap.maps = ms
	now := b.p.now()
	b.snap.reqZones = map[string]*reqZoneConf{}
	for i, zc := range h.LimitReqZones {
		if zc.Name == "" {
			return fmt.Errorf("limit_req_zone %d: no name", i+1)
		}
		if _, dup := b.snap.reqZones[zc.Name]; dup {
			return fmt.Errorf("limit_req_zone %q: duplicate zone", zc.Name)
		}
		key, err := b.zoneKey(zc.Key)
		if err != nil {
			return fmt.Errorf("limit_req_zone %q: key: %w", zc.Name, err)
		}
		if _, err := limit.MilliRate(zc.Rate); err != nil {
			return fmt.Errorf("limit_req_zone %q: %w", zc.Name, err)
		}
		rz := &reqZoneConf{cfg: zc, key: key}
		if b.old != nil {
			if o := b.old.reqZones[zc.Name]; o != nil && o.cfg.Key == zc.Key && o.cfg.Size == zc.Size {
				rz.zone = o.zone
				rate := zc.Rate
				b.snap.commit = append(b.snap.commit, func() { _ = o.zone.SetRate(rate) })
			}
		}
		if rz.zone == nil {
			if rz.zone, err = limit.NewReqZone(zc.Name, zc.Rate, zc.Size, now); err != nil {
				return fmt.Errorf("limit_req_zone: %w", err)
			}
		}
		b.snap.reqZones[zc.Name] = rz
	}
	b.snap.connZones = map[string]*connZoneConf{}
	for i, zc := range h.LimitConnZones {
		if zc.Name == "" {
			return fmt.Errorf("limit_conn_zone %d: no name", i+1)
		}
		if _, dup := b.snap.connZones[zc.Name]; dup {
			return fmt.Errorf("limit_conn_zone %q: duplicate zone", zc.Name)
		}
		key, err := b.zoneKey(zc.Key)
		if err != nil {
			return fmt.Errorf("limit_conn_zone %q: key: %w", zc.Name, err)
		}
		cz := &connZoneConf{cfg: zc, key: key}
		if b.old != nil {
			if o := b.old.connZones[zc.Name]; o != nil && o.cfg == zc {
				cz.zone = o.zone
			}
		}
		if cz.zone == nil {
			if cz.zone, err = limit.NewConnZone(zc.Name, zc.Size); err != nil {
				return fmt.Errorf("limit_conn_zone: %w", err)
			}
		}
		b.snap.connZones[zc.Name] = cz
	}
	return b.floodDefence()
}

func (b *builder) zoneKey(s string) (*tmpl, error) {
	if s == "" {
		return nil, errors.New("empty key")
	}
	t, err := parseTmpl(s)
	if err == nil {
		err = t.checkWith(b.snap.maps)
	}
	return t, err
}

// floodDefence builds the accept-time limiter when any of its limits is
// set. The trusted proxies are exempt too: on a PROXY protocol listener
// the source seen at accept time is the proxy itself.
func (b *builder) floodDefence() error {
	fc := b.cfg.Flood
	if fc.ConnRate == 0 && fc.MaxConnsPerSource == 0 && fc.FirstByteTimeout == 0 {
		return nil
	}
	if fc.ConnRate < 0 || fc.ConnBurst < 0 || fc.MaxConnsPerSource < 0 || fc.FirstByteTimeout < 0 {
		return errors.New("flood: negative limit")
	}
	trusted := b.snap.trusted
	if b.old != nil && b.old.flood != nil && reflect.DeepEqual(b.old.flood.cfg, fc) && slices.Equal(b.old.flood.trusted, trusted) {
		b.snap.flood = b.old.flood
		return nil
	}
	exempt := append(canonPrefixes(fc.Exempt), trusted...)
	b.snap.flood = &floodConf{cfg: fc, trusted: trusted, lim: flood.New(flood.Options{
		ConnRate: fc.ConnRate, ConnBurst: fc.ConnBurst, MaxConnsPerSource: fc.MaxConnsPerSource,
		FirstByteTimeout: fc.FirstByteTimeout, Exempt: exempt, Now: b.p.now,
	})}
	return nil
}

// inheritExtras fills a location's extras: its own settings, else its
// parent's (limit_req and limit_conn lists, valid_referers and the
// filters are inherited whole when a level sets none, as their
// merge_loc_conf functions do).
func (b *builder) inheritExtras(lc *locConf, cl *config.Location, parent *locConf) {
	if parent != nil {
		lc.extras = parent.extras
	}
	lc.limitReqStatus = cmp0(lc.limitReqStatus, defaultLimitStatus)
	lc.limitConnStatus = cmp0(lc.limitConnStatus, defaultLimitStatus)
	fail := func(err error) { b.deferErr(fmt.Errorf("location %q: %w", cl.Match, err)) }
	if len(cl.LimitReq) > 0 {
		lc.limitReq, lc.limitReqKeys = nil, nil
		for _, lr := range cl.LimitReq {
			z := b.snap.reqZones[lr.Zone]
			switch {
			case z == nil:
				fail(fmt.Errorf("limit_req: unknown zone %q", lr.Zone))
				return
			case lr.Burst < 0 || lr.Delay < 0:
				fail(fmt.Errorf("limit_req zone=%s: negative burst or delay", lr.Zone))
				return
			case slices.ContainsFunc(lc.limitReq, func(l limit.ReqLimit) bool { return l.Zone == z.zone }):
				fail(fmt.Errorf("limit_req zone=%s is duplicate", lr.Zone))
				return
			}
			lc.limitReq = append(lc.limitReq, limit.ReqLimit{Zone: z.zone, Burst: lr.Burst, Delay: lr.Delay, NoDelay: lr.NoDelay})
			lc.limitReqKeys = append(lc.limitReqKeys, z.key)
		}
	}
	if cl.LimitReqStatus != 0 {
		lc.limitReqStatus = cl.LimitReqStatus
	}
	if len(cl.LimitConn) > 0 {
		lc.limitConn, lc.limitConnKeys = nil, nil
		for _, c := range cl.LimitConn {
			z := b.snap.connZones[c.Zone]
			switch {
			case z == nil:
				fail(fmt.Errorf("limit_conn: unknown zone %q", c.Zone))
				return
			case c.Conn <= 0 || c.Conn > 65535:
				// ngx_http_limit_conn: "invalid number of connections",
				// "connection limit must be less 65536".
				fail(fmt.Errorf("limit_conn %s: invalid number of connections %d", c.Zone, c.Conn))
				return
			case slices.ContainsFunc(lc.limitConn, func(l limit.ConnLimit) bool { return l.Zone == z.zone }):
				fail(fmt.Errorf("limit_conn %s is duplicate", c.Zone))
				return
			}
			lc.limitConn = append(lc.limitConn, limit.ConnLimit{Zone: z.zone, Conn: c.Conn})
			lc.limitConnKeys = append(lc.limitConnKeys, z.key)
		}
	}
	if cl.LimitConnStatus != 0 {
		lc.limitConnStatus = cl.LimitConnStatus
	}
	// ngx_http_limit_req_status_bounds, and the same for limit_conn.
	for _, st := range []int{lc.limitReqStatus, lc.limitConnStatus} {
		if st < 400 || st > 599 {
			fail(fmt.Errorf("limit status %d must be between 400 and 599", st))
			return
		}
	}
	if cl.Referers != nil {
		rp, err := b.referers(cl.Referers, lc.srv.names)
		if err != nil {
			fail(err)
			return
		}
		lc.referers = rp
	}
	if cl.SecureLink != nil {
		sp, err := secureLink(cl.SecureLink)
		if err != nil {
			fail(err)
			return
		}
		lc.secure = sp
	}
	if cl.Compression != nil {
		cp, err := compress.New(*cl.Compression, &b.p.cpools, &b.p.cstats)
		if err != nil {
			fail(err)
			return
		}
		lc.compress = cp
	}
	if cl.ImageCompression != nil {
		ic := imgopt.WithDefaults(*cl.ImageCompression)
		if ic.Resize && (ic.MaxWidth < 0 || ic.MaxHeight < 0) {
			fail(errors.New("image_compression: negative bound"))
			return
		}
		if b.snap.imgCaches == nil {
			b.snap.imgCaches = map[string]*imgopt.Cache{}
		}
		ck := fmt.Sprintf("%s|%d", lc.key, ic.CacheSize)
		cache := b.snap.imgCaches[ck]
		if cache == nil && b.old != nil {
			cache = b.old.imgCaches[ck]
		}
		if cache == nil {
			cache = imgopt.NewCache(ic.CacheSize)
		}
		b.snap.imgCaches[ck] = cache
		lc.images = imgopt.New(ic, cache, &b.p.istats)
	}
}

func cmp0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (b *builder) referers(rc *config.Referers, names []string) (*refererPolicy, error) {
	m, err := referer.New(rc.Valid, names)
	if err != nil {
		return nil, fmt.Errorf("referers: %w", err)
	}
	rp := &refererPolicy{m: m, status: rc.Status, redirect: rc.RedirectURL}
	switch {
	case rc.ImageFile != "":
		img, err := os.ReadFile(rc.ImageFile)
		if err != nil {
			return nil, fmt.Errorf("referers: image: %w", err)
		}
		rp.image, rp.imageType = img, http.DetectContentType(img)
		rp.status = http.StatusOK
	case rc.RedirectURL != "":
		if rp.status < 300 || rp.status > 399 {
			rp.status = http.StatusFound
		}
	case rp.status == 0:
		rp.status = http.StatusForbidden
	}
	return rp, nil
}

func secureLink(sc *config.SecureLink) (*securePolicy, error) {
	if sc.SecretFile == "" {
		return nil, errors.New("secure_link: no secret file")
	}
	secret, err := os.ReadFile(sc.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("secure_link: %w", err)
	}
	link, err := referer.NewLink(bytes.TrimSpace(secret), sc.SigParam, sc.ExpiresParam)
	if err != nil {
		return nil, err
	}
	return &securePolicy{link: link, required: sc.Required}, nil
}

// keys expands a limit list's keys into buf.
func (rq *request) keys(ts []*tmpl, buf []string) []string {
	buf = buf[:0]
	for _, t := range ts {
		buf = append(buf, t.expand(rq))
	}
	return buf
}

// preaccess runs limit_req then limit_conn; false when the request was
// answered (rejected, or the client left while delayed).
func (rq *request) preaccess() bool {
	lc := rq.lc
	var kb [4]string
	if len(lc.limitReq) > 0 {
		v := limit.CheckReq(lc.limitReq, rq.keys(lc.limitReqKeys, kb[:]), rq.p.now())
		if v.Reject {
			rq.p.log.Debug("l7: limiting requests", "zone", v.Zone.Name(), "excess", float64(v.Excess)/1000, "zone_full", v.Err != nil)
			writeStatus(&rq.rw, lc.limitReqStatus)
			return false
		}
		if v.Delay > 0 {
			if err := rq.p.wait(rq.r.Context(), v.Delay); err != nil {
				// ngx_http_test_reading: a client that leaves while its
				// request waits ends it (499).
				rq.status = 499
				return false
			}
		}
	}
	if len(lc.limitConn) > 0 {
		if z := limit.AcquireConn(&rq.connHold, lc.limitConn, rq.keys(lc.limitConnKeys, kb[:])); z != nil {
			rq.p.log.Debug("l7: limiting connections", "zone", z.Name())
			writeStatus(&rq.rw, lc.limitConnStatus)
			return false
		}
	}
	return true
}

// wait blocks for d or until ctx ends (a limit_req delay).
func (p *Proxy) wait(ctx context.Context, d time.Duration) error {
	if p.opt.Wait != nil {
		return p.opt.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// access runs the secure link check and valid_referers (the rewrite-phase
// `if` of nginx configs); false when the request was answered.
func (rq *request) access() bool {
	lc := rq.lc
	signed := false
	if sp := lc.secure; sp != nil {
		// The parameters are read as $arg_NAME would be, from the
		// arguments after rewrites; the path is $uri.
		sig, _ := route.Arg(rq.st.Args, sp.link.SigParam)
		exp, _ := route.Arg(rq.st.Args, sp.link.ExpiresParam)
		err := sp.link.Verify(rq.st.URI, sig, exp, rq.p.now())
		signed = err == nil
		if !signed && sp.required {
			lc.stats.secureRejected.Add(1)
			rq.p.log.Debug("l7: secure link refused", "uri", rq.r.RequestURI, "err", err)
			writeStatus(&rq.rw, http.StatusForbidden)
			return false
		}
	}
	rp := lc.referers
	if rp == nil || signed {
		return true
	}
	ref, present := rq.r.Header["Referer"]
	v := ""
	if present && len(ref) > 0 {
		v = ref[0]
	}
	if rp.m.Valid(v, present) {
		return true
	}
	lc.stats.refererRejected.Add(1)
	w := &rq.rw
	switch {
	case rp.image != nil:
		h := w.Header()
		h.Set("Content-Type", rp.imageType)
		h.Set("Content-Length", fmt.Sprint(len(rp.image)))
		// The placeholder must never be cached as the real resource.
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		if rq.r.Method != http.MethodHead {
			_, _ = w.Write(rp.image)
		}
	case rp.redirect != "":
		w.Header().Set("Location", rq.absoluteRedirect(rp.redirect))
		writeStatus(w, rp.status)
	default:
		writeStatus(w, rp.status)
	}
	return false
}

// filters wraps the response writer with the location's response filters:
// the image filter sees the upstream body first, compression last.
func (rq *request) filters(w http.ResponseWriter) http.ResponseWriter {
	lc := rq.lc
	if lc.compress != nil {
		rq.cw = lc.compress.Wrap(w, rq.r)
		w = rq.cw
	}
	if lc.images != nil {
		rq.iw = lc.images.Wrap(w, rq.r, rq.st.Args)
		w = rq.iw
	}
	return w
}

// closeFilters ends the filters' bodies after a handler that returned.
func (rq *request) closeFilters() {
	if rq.iw != nil {
		if err := rq.iw.Close(); err != nil {
			rq.p.log.Debug("l7: image filter", "err", err)
		}
	}
	if rq.cw != nil {
		if err := rq.cw.Close(); err != nil {
			rq.p.log.Debug("l7: compression", "err", err)
		}
	}
}

// releaseExtras gives back what a request held, whatever happened.
func (rq *request) releaseExtras() {
	rq.connHold.Release()
	if rq.cw != nil {
		rq.cw.Release()
		rq.cw = nil
	}
	rq.iw = nil
}

// admit is the flood defence at accept time; false when the connection
// was refused (and closed).
func (l *listener) admit(c net.Conn, lc *listenConf) (net.Conn, bool) {
	fc := lc.snap.flood
	if fc == nil {
		return c, true
	}
	src := flood.AddrOf(c.RemoteAddr())
	if r := fc.lim.Admit(src); r != flood.None {
		l.p.log.Debug("l7: connection refused", "listen", l.addr.String(), "source", src.String(), "reason", r.String())
		flood.Refuse(c)
		return nil, false
	}
	return fc.lim.Conn(c, src), true
}
