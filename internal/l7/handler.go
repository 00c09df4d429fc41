package l7

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/balance"
	"github.com/fulcrumlb/fulcrum/internal/l7/compress"
	"github.com/fulcrumlb/fulcrum/internal/l7/imgopt"
	"github.com/fulcrumlb/fulcrum/internal/l7/limit"
	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

type requestKey struct{}

// request is the state of one client request.
type request struct {
	p     *Proxy
	r     *http.Request
	rw    respWriter
	lconf *listenConf
	inst  *serverInst
	conn  *connMeta
	start time.Time

	peer    netip.AddrPort // the connection's client (PROXY source when used)
	peerStr string
	client  netip.AddrPort // peer, or the address a trusted proxy reports
	local   netip.AddrPort
	trusted bool
	scheme  string
	host    string // $host

	srv   *serverConf
	lc    *locConf
	tgt   *target
	st    route.State
	upURI string

	breq      balance.Request
	sel       *balance.Selection
	peerIdx   int
	setCookie bool
	ok        bool
	retrying  bool
	shared    bool       // rq went to net/http (ReverseProxy, Transport, r.Body), whose goroutines may outlive it
	recycle   bool       // finish gives rq back to requestPool
	dout      *directOut // the direct path's upstream request; kept across reuse
	fwdVals   [3]string  // setForwarded's values
	att       *attempt   // the attempt whose response is delivered
	att0      attempt
	cur       atomic.Pointer[attempt] // the attempt in progress, for the dialer
	upStatus  int
	bytesIn   int64
	status    int // set when no response was written (499, 444)

	connHold limit.ConnHold   // limit_conn slots
	cw       *compress.Writer // response filters
	iw       *imgopt.Writer
	mapState []uint8 // map variables: 0 not computed, 1 computing, 2 done
	mapVals  []string
}

// handler is the http.Handler of one server instance of a listener.
type handler struct{ inst *serverInst }

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	inst := h.inst
	l := inst.l
	lconf := l.conf.Load()
	p := l.p
	rq := requestPool.Get().(*request)
	rq.p, rq.r, rq.lconf, rq.inst, rq.start, rq.peerIdx = p, r, lconf, inst, p.now(), -1
	rq.rw.ResponseWriter = w
	rq.rw.head = r.Method == http.MethodHead
	if inst.draining.Load() && r.ProtoMajor == 1 {
		// Drain: the next response closes the connection
		// (reliability.md §0: Connection: close, then close idle ones).
		w.Header().Set("Connection", "close")
	}
	rq.peer = parseAddrPort(r.RemoteAddr)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		rq.local = addrPortOf(la)
		if lconf.opts.pp {
			rq.conn = connMetaFrom(la)
		}
	}
	rq.trusted = inPrefixes(lconf.snap.trusted, rq.peer.Addr())
	rq.client = realClient(rq.peer, lconf.snap.trusted, r.Header)
	rq.scheme = "http"
	if r.TLS != nil {
		rq.scheme = "https"
	}
	defer rq.finish()
	rq.serve()
	// A request that returned normally and never went to net/http is
	// referenced by nothing once finished: the direct path and the h1
	// transport run in this goroutine (requestPool), and the fast front
	// may reuse r. After a panic neither is reused.
	rq.recycle = !rq.shared
	if rq.shared {
		if k, ok := w.(requestKeeper); ok {
			k.keepRequest()
		}
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if pa, ok := a.(*ppAddr); ok {
		a = pa.TCPAddr
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if a == nil {
		return netip.AddrPort{}
	}
	return parseAddrPort(a.String())
}

func (rq *request) serve() {
	r := rq.r
	w := &rq.rw
	if isH2CUpgrade(r) {
		// An h2c upgrade must never reach a server behind the proxy (the
		// h2c smuggling class, reliability.md §2.3); harden.Handler strips
		// it already, this is the core's own guarantee.
		r.Header.Del("Upgrade")
		r.Header.Del("Http2-Settings")
	}
	u, err := route.ParseURI(r.RequestURI, true)
	if err != nil {
		writeStatus(w, http.StatusBadRequest)
		return
	}
	host := r.Host
	if u.Host != "" {
		host = u.Host
	}
	s, caps, err := rq.lconf.hosts.Select(host)
	if err != nil || s == nil {
		writeStatus(w, http.StatusBadRequest)
		return
	}
	sc := s.Handler.(*serverConf)
	rq.srv = sc
	sc.stats.requests.Add(1)
	sc.stats.active.Add(1)
	// $host: the request's host name, else the server's primary name.
	rq.host, _ = route.NormalizeHost(host)
	if rq.host == "" && len(sc.names) > 0 {
		rq.host = sc.names[0]
	}
	rq.st = route.State{
		URI: u.Path, Args: u.Args, Unparsed: u.Raw, UnparsedValid: u.RawValid,
		Quoted: u.Quoted, Plus: u.Plus, ValidLocation: true, Captures: caps, Vars: rq,
	}
	d, err := sc.router.Route(&rq.st)
	if d.Location != nil {
		rq.lc, _ = d.Location.Handler.(*locConf)
		if rq.lc != nil {
			rq.lc.stats.requests.Add(1)
			rq.lc.stats.active.Add(1)
		}
	}
	if err != nil {
		rq.p.log.Warn("l7: routing failed", "uri", r.RequestURI, "err", err)
		code := d.Status
		if code == 0 {
			code = http.StatusInternalServerError
		}
		writeStatus(w, code)
		return
	}
	// Hotlink protection and signed links run where nginx users write
	// them, `if ($invalid_referer) { return 403; }` / `if ($secure_link =
	// "")`: in the rewrite phase (ngx_http_rewrite_module), so before the
	// location's own return and before any limit.
	if rq.lc != nil && !rq.access() {
		return
	}
	if d.Status != 0 {
		rq.respondOutcome(d.Outcome)
		return
	}
	if rq.lc == nil {
		writeStatus(w, http.StatusNotFound)
		return
	}
	if max := rq.lconf.snap.limits.MaxBodyBytes; max > 0 && r.Body != nil && r.Body != http.NoBody {
		// client_max_body_size: a declared length is checked at once
		// (ngx_http_core_find_config_phase, before any limit), a chunked
		// body as it comes.
		if r.ContentLength > max {
			writeStatus(w, http.StatusRequestEntityTooLarge)
			return
		}
		if r.ContentLength < 0 {
			r.Body = http.MaxBytesReader(w, r.Body, max)
			rq.shared = true // r, which net/http owns, refers to rq.rw
		}
	}
	if !rq.preaccess() {
		return
	}
	tgt := rq.lc.target
	for _, rc := range rq.lc.routes {
		if rc.matches(rq) {
			tgt = rc.target
			break
		}
	}
	if tgt == nil {
		// A location without proxy_pass: nginx's static handler finds no
		// file.
		writeStatus(w, http.StatusNotFound)
		return
	}
	rq.tgt = tgt
	rq.upURI = tgt.pp.UpstreamURI(rq.lc.loc, &rq.st)
	up := tgt.up
	up.inflight.Add(1)
	up.stats.requests.Add(1)
	up.stats.active.Add(1)
	if err := rq.pick(); err != nil {
		code := http.StatusBadGateway // nginx: "no live upstreams"
		if errors.Is(err, balance.ErrNoServer) || errors.Is(err, balance.ErrFull) {
			code = http.StatusServiceUnavailable // HAProxy: 503
		}
		rq.p.log.Warn("l7: no server available", "upstream", up.name, "err", err)
		writeStatus(w, code)
		return
	}
	rq.peerIdx = rq.sel.Index()
	if rq.directable() {
		rq.forwardDirect(rq.filters(w))
	} else {
		rq.shared = true
		rq.p.rp.ServeHTTP(rq.filters(w), r.WithContext(context.WithValue(r.Context(), requestKey{}, rq)))
	}
	// Reached only when ReverseProxy returned normally (it aborts a
	// broken response with a panic): the filters end their bodies.
	rq.closeFilters()
}

func (rc *routeConf) matches(rq *request) bool {
	for _, m := range rc.matchers {
		if !m.match(rq) {
			return false
		}
	}
	return true
}

// respondOutcome answers a request the rewrite module decided: an
// auto-redirect 301, a rewrite redirect, or "return".
func (rq *request) respondOutcome(o route.Outcome) {
	w := &rq.rw
	switch {
	case o.Status == 444:
		// nginx's "close the connection without a response".
		rq.status = 444
		if rq.r.ProtoMajor == 1 {
			if c, _, err := http.NewResponseController(rq.rw.ResponseWriter).Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case o.Redirect != "":
		w.Header().Set("Location", rq.absoluteRedirect(o.Redirect))
		writeStatus(w, o.Status)
	case o.HasBody:
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", strconv.Itoa(len(o.Body)))
		w.WriteHeader(o.Status)
		if rq.r.Method != http.MethodHead {
			_, _ = w.Write([]byte(o.Body))
		}
	default:
		writeStatus(w, o.Status)
	}
}

// absoluteRedirect makes a Location starting with "/" absolute as
// ngx_http_header_filter does with absolute_redirect on,
// server_name_in_redirect off and port_in_redirect on: the request's host
// name and the listening port, omitted when it is the scheme's default.
func (rq *request) absoluteRedirect(loc string) string {
	if !strings.HasPrefix(loc, "/") {
		return loc
	}
	host := rq.host
	if strings.IndexByte(host, ':') >= 0 && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	port := rq.local.Port()
	if (rq.scheme == "https" && port == 443) || (rq.scheme == "http" && port == 80) || port == 0 {
		return rq.scheme + "://" + host + loc
	}
	return rq.scheme + "://" + host + ":" + strconv.Itoa(int(port)) + loc
}

// finish ends the request: the balancer learns the outcome, counters and
// the access log are written. It runs even when ReverseProxy aborts the
// response with a panic. Last, a request marked for reuse goes back to
// requestPool.
func (rq *request) finish() {
	rq.releaseExtras()
	status := rq.rw.status
	if status == 0 && rq.upStatus == http.StatusSwitchingProtocols {
		status = http.StatusSwitchingProtocols
	}
	if status == 0 {
		status = rq.status
	}
	if status == 0 && rq.r.Context().Err() != nil {
		status = 499
	}
	if rq.att != nil {
		rq.att.end()
	}
	if rq.sel != nil {
		rq.sel.Done(rq.ok)
		rq.sel = nil
	}
	bytesOut := uint64(max(rq.rw.bytes, 0))
	bytesIn := uint64(max(rq.bytesIn, 0))
	if rq.tgt != nil {
		up := rq.tgt.up
		up.stats.active.Add(-1)
		up.stats.response(status)
		up.stats.bytesIn.Add(bytesIn)
		up.stats.bytesOut.Add(bytesOut)
		if rq.retrying {
			up.retrying.Add(-1)
		}
		if up.inflight.Add(-1) == 0 && up.retired.Load() {
			up.closeIdle()
		}
		if rq.peerIdx >= 0 {
			pe := up.peers[rq.peerIdx]
			pe.stats.bytesIn.Add(bytesIn)
			pe.stats.bytesOut.Add(bytesOut)
			if up.sourceSticky != nil && rq.upStatus != 0 {
				up.sourceSticky.store(rq.breq.ClientIP, rq.peerIdx, rq.p.now())
			}
		}
	}
	for _, c := range [...]*counters{srvStats(rq.srv), locStats(rq.lc)} {
		if c == nil {
			continue
		}
		c.active.Add(-1)
		c.response(status)
		c.bytesIn.Add(bytesIn)
		c.bytesOut.Add(bytesOut)
	}
	if al := rq.p.alog.Load(); al != nil {
		rq.log(al, status)
	}
	if rq.recycle {
		rq.release()
	}
}

func srvStats(s *serverConf) *counters {
	if s == nil {
		return nil
	}
	return s.stats
}

func locStats(l *locConf) *counters {
	if l == nil {
		return nil
	}
	return l.stats
}

func (rq *request) clientIP() string { return rq.client.Addr().Unmap().String() }

func (rq *request) log(al *accessLog, status int) {
	r := rq.r
	e := logEntry{
		remoteAddr:    rq.clientIP(),
		time:          rq.p.now(),
		method:        r.Method,
		uri:           r.RequestURI,
		proto:         r.Proto,
		status:        status,
		bodyBytesSent: rq.rw.bytes,
		host:          rq.host,
		requestTime:   rq.p.now().Sub(rq.start),
		upstreamCode:  rq.upStatus,
	}
	if u, _, ok := r.BasicAuth(); ok {
		e.remoteUser, e.hasUser = u, true
	}
	if v, ok := r.Header["Referer"]; ok && len(v) > 0 {
		e.referer, e.hasReferer = v[0], true
	}
	if v, ok := r.Header["User-Agent"]; ok && len(v) > 0 {
		e.userAgent, e.hasUserAgent = v[0], true
	}
	if rq.srv != nil && len(rq.srv.names) > 0 {
		e.serverName = rq.srv.names[0]
	}
	if rq.tgt != nil {
		e.upstream = rq.tgt.up.name
		if rq.peerIdx >= 0 {
			e.upstreamAddr = rq.tgt.up.peers[rq.peerIdx].host
		}
	}
	al.write(&e)
}

// respWriter records the status and body size of the response.
type respWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	head   bool // HEAD: whatever is written is not sent
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	if !w.head {
		w.bytes += int64(n)
	}
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rewrite is the ReverseProxy's Rewrite: the upstream request line, Host
// ($proxy_host unless proxy_set_header changes it, as nginx's
// ngx_http_proxy_headers default), the forwarding headers and
// proxy_set_header. nginx drops Expect (it answers 100-continue itself,
// as net/http does).
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	if rq, _ := pr.In.Context().Value(requestKey{}).(*request); rq != nil {
		rq.rewriteOut(pr.Out)
	}
}

func (rq *request) rewriteOut(out *http.Request) {
	setUpstreamURL(out.URL, rq.tgt.scheme, rq.upURI)
	out.Host = rq.tgt.proxyHost
	rq.setForwarded(out)
	out.Header.Del("Expect")
	for _, hs := range rq.lc.setHeaders {
		v := hs.value.expand(rq)
		switch {
		case hs.name == "Host":
			if v != "" {
				out.Host = v
			}
		case v == "":
			// An empty value removes the header.
			out.Header.Del(hs.name)
		default:
			out.Header.Set(hs.name, v)
		}
	}
}

// modifyResponse inserts the persistence cookie when the client was not
// bound to the server that answered (HAProxy "cookie NAME insert": a new
// client, an unknown or stale value, or a redispatch) and adds Via.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	if rq, _ := resp.Request.Context().Value(requestKey{}).(*request); rq != nil {
		rq.modifyResp(resp)
	}
	return nil
}

func (rq *request) modifyResp(resp *http.Response) {
	up := rq.tgt.up
	if up.sticky != nil && rq.peerIdx >= 0 {
		val := up.sticky.Value(rq.peerIdx)
		cur := ""
		if c, err := rq.r.Cookie(up.stickyCfg.Cookie); err == nil {
			cur = c.Value
		}
		if rq.setCookie || cur != val {
			resp.Header.Add("Set-Cookie", stickyCookie(up.stickyCfg, val))
		}
	}
	resp.Header["Via"] = appendVia(resp.Header["Via"], rq.r)
}

// stickyCookie formats the inserted cookie as HAProxy does
// ("SRV=s1; path=/"), with Max-Age for a timeout and the HttpOnly and
// Secure flags.
func stickyCookie(s config.Sticky, val string) string {
	path := s.Path
	if path == "" {
		path = "/"
	}
	c := s.Cookie + "=" + val + "; path=" + path
	if s.Timeout > 0 {
		c += "; Max-Age=" + strconv.FormatInt(int64(s.Timeout/time.Second), 10)
	}
	if s.HTTPOnly {
		c += "; HttpOnly"
	}
	if s.Secure {
		c += "; Secure"
	}
	return c
}

// proxyError answers when no server gave a response: 502, or 504 after
// a timeout, with nginx's error page; nothing when the client is gone.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if rq, _ := r.Context().Value(requestKey{}).(*request); rq != nil {
		rq.proxyErr(w, err)
		return
	}
	p.log.Warn("l7: upstream request failed", "uri", r.RequestURI, "err", err)
	writeStatus(w, http.StatusBadGateway)
}

func (rq *request) proxyErr(w http.ResponseWriter, err error) {
	r := rq.r
	code := http.StatusBadGateway
	var ue *upstreamError
	if errors.As(err, &ue) {
		code = ue.status
	}
	if code == 499 || (r.Context().Err() != nil && errors.Is(err, context.Canceled)) {
		rq.status = 499
		return
	}
	name := ""
	if rq.tgt != nil {
		name = rq.tgt.up.name
	}
	rq.p.log.Warn("l7: upstream request failed", "upstream", name, "uri", r.RequestURI, "status", code, "err", err)
	writeStatus(w, code)
}
