package l7

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/balance"
	"github.com/fulcrumlb/fulcrum/internal/l7/route"
	"github.com/fulcrumlb/fulcrum/internal/proxyproto"
)

// Defaults of an upstream group, after nginx's ngx_http_upstream_module and
// Envoy's outlier detection where nginx has no equivalent.
const (
	defaultKeepalive        = 32               // Fulcrum's (Caddy's 32/host); never Go's 2
	defaultKeepaliveTimeout = 60 * time.Second // nginx upstream keepalive_timeout
	defaultRetryBudget      = 0.2              // Envoy retry_budget budget_percent 20%
	minRetryConcurrency     = 3                // Envoy retry_budget min_retry_concurrency
	defaultEjectionTime     = 30 * time.Second // Envoy base_ejection_time
	maxEjectionPercent      = 10               // Envoy max_ejection_percent (at least one host)
	defaultStickyTimeout    = 300 * time.Second
	maxResponseHeaderBytes  = 64 << 10
)

// upstream is the run-time state of one upstream group: its balancer,
// persistence tables, health state and connection pools. Apply keeps it
// for as long as the group's configuration does not change.
type upstream struct {
	key  string // the group name, or "scheme://host:port" for a proxy_pass address
	name string
	cfg  config.Upstream

	peers  []*peer
	bcfg   balance.Config
	bal    balance.Balancer
	marker balance.Marker

	// Hash key of nginx "hash KEY" or HAProxy "balance hash EXPR".
	hashKey *tmpl
	hapKey  func(rq *request) string

	sticky       *balance.Sticky // cookie insert
	stickyCfg    config.Sticky
	sourceSticky *sourceTable

	ppVersion int // PROXY protocol towards the servers: 0, 1 or 2
	tr        *http.Transport
	trTLS     *http.Transport // for proxy_pass https:// without Upstream.TLS
	h1        *h1Transport    // body-less requests to plain-text servers (nil with TLS)

	budget   float64
	inflight atomic.Int64
	retrying atomic.Int64

	consec5xx int
	ejectFor  time.Duration
	ejectMu   sync.Mutex

	stats counters

	hcCancel context.CancelFunc
	hcWG     sync.WaitGroup
	retired  atomic.Bool
	now      func() time.Time
}

// peer is one resolved address of an upstream server.
type peer struct {
	idx  int
	name string         // the server as written
	addr netip.AddrPort // resolved
	host string         // addr.String(), the request URL host
	cfg  config.UpstreamServer

	stats  counters
	fails  atomic.Uint64 // failed attempts (error, timeout, invalid header, counted 5xx)
	consec atomic.Int64  // consecutive 5xx or connection failures (outlier detection)

	mu           sync.Mutex
	healthDown   bool
	ejectedUntil time.Time
	ejections    int
	checks       []*checkState
}

// down is the state the balancer is told: configured down, failed its
// active checks, or ejected as an outlier.
func (p *peer) downLocked(now time.Time) bool {
	return p.cfg.Down || p.healthDown || now.Before(p.ejectedUntil)
}

func (u *upstream) applyDown(p *peer) {
	p.mu.Lock()
	d := p.downLocked(u.now())
	p.mu.Unlock()
	_ = u.marker.SetDown(p.idx, d)
}

// buildUpstream resolves and builds a group. Nothing is started: health
// checks start when the snapshot holding it is published.
func (p *Proxy) buildUpstream(ctx context.Context, key string, uc config.Upstream, scheme string, maps *mapSet) (*upstream, error) {
	u := &upstream{key: key, name: uc.Name, cfg: uc, now: p.now}
	if len(uc.Servers) == 0 {
		return nil, fmt.Errorf("upstream %q: no servers", uc.Name)
	}
	bcfg, err := parseBalance(uc)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: balance %q: %w", uc.Name, uc.Balance, err)
	}
	u.bcfg = bcfg
	switch bcfg.Method {
	case balance.NginxHash, balance.NginxHashConsistent:
		t, err := parseTmpl(bcfg.KeyExpr)
		if err == nil {
			err = t.checkWith(maps)
		}
		if err != nil {
			return nil, fmt.Errorf("upstream %q: hash key: %w", uc.Name, err)
		}
		u.hashKey = t
	case balance.HAProxyHash:
		f, err := haproxySample(bcfg.KeyExpr)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: hash: %w", uc.Name, err)
		}
		u.hapKey = f
	}
	var bpeers []balance.Peer
	for _, s := range uc.Servers {
		addrs, err := resolve(ctx, s.Address)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: server %q: %w", uc.Name, s.Address, err)
		}
		// nginx makes one peer per address a name resolves to
		// (ngx_http_upstream_init_round_robin), each keeping the server's
		// parameters and name.
		for _, a := range addrs {
			pe := &peer{idx: len(u.peers), name: s.Address, addr: a, host: a.String(), cfg: s}
			u.peers = append(u.peers, pe)
			bpeers = append(bpeers, balance.Peer{
				Name: s.Address, Addr: pe.host, Weight: s.Weight, MaxFails: s.MaxFails,
				FailTimeout: s.FailTimeout, Backup: s.Backup, Down: s.Down, MaxConns: s.MaxConns,
				SlowStart: s.SlowStart, ID: s.ID, Cookie: s.Cookie,
			})
		}
	}
	u.bal, err = balance.New(bcfg, bpeers, balance.Options{Now: p.now})
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", uc.Name, err)
	}
	m, ok := u.bal.(balance.Marker)
	if !ok {
		return nil, fmt.Errorf("upstream %q: balancer cannot mark peers down", uc.Name)
	}
	u.marker = m
	if st := uc.Sticky; st != nil {
		u.stickyCfg = *st
		switch {
		case st.Cookie != "" && st.Source:
			return nil, fmt.Errorf("upstream %q: sticky: cookie and source are exclusive", uc.Name)
		case st.Cookie != "":
			if !validCookieName(st.Cookie) {
				return nil, fmt.Errorf("upstream %q: sticky: invalid cookie name %q", uc.Name, st.Cookie)
			}
			u.sticky = balance.HAProxyCookies(bpeers)
		case st.Source:
			u.sourceSticky = newSourceTable(bpeers, st.Timeout)
		default:
			return nil, fmt.Errorf("upstream %q: sticky needs a cookie name or source", uc.Name)
		}
	}
	switch strings.ToLower(uc.ProxyProtocol) {
	case "":
	case "v1":
		u.ppVersion = 1
	case "v2":
		u.ppVersion = 2
	default:
		return nil, fmt.Errorf("upstream %q: proxy_protocol %q: want v1 or v2", uc.Name, uc.ProxyProtocol)
	}
	u.budget = uc.RetryBudget
	if u.budget <= 0 {
		u.budget = defaultRetryBudget
	}
	u.consec5xx = uc.Health.Consecutive5xx
	u.ejectFor = uc.Health.EjectionTime
	if u.ejectFor <= 0 {
		u.ejectFor = defaultEjectionTime
	}
	useTLS := uc.TLS != nil || scheme == "https"
	u.tr, err = u.newTransport(uc.TLS, useTLS)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", uc.Name, err)
	}
	if !useTLS {
		u.h1 = newH1Transport(u.dial, u.tr.MaxIdleConnsPerHost, u.tr.IdleConnTimeout, !u.tr.DisableKeepAlives)
		// A named group may be reached by "proxy_pass https://NAME" too.
		u.trTLS, err = u.newTransport(nil, true)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", uc.Name, err)
		}
	}
	for _, pe := range u.peers {
		for i, c := range uc.Health.Checks {
			cs, err := newCheckState(c, pe.addr, int32(max(pe.cfg.Weight, 1)), p.opt.Health)
			if err != nil {
				return nil, fmt.Errorf("upstream %q: server %s: check %d: %w", uc.Name, pe.name, i+1, err)
			}
			pe.checks = append(pe.checks, cs)
		}
	}
	return u, nil
}

// sameAs reports whether a running group can serve the new configuration
// unchanged, so that its state survives a reload.
func (u *upstream) sameAs(uc config.Upstream, scheme string) bool {
	if !reflect.DeepEqual(u.cfg, uc) {
		return false
	}
	return scheme != "https" || u.cfg.TLS != nil || u.trTLS != nil
}

func (u *upstream) transport(scheme string) *http.Transport {
	if scheme == "https" && u.cfg.TLS == nil && u.trTLS != nil {
		return u.trTLS
	}
	return u.tr
}

func (u *upstream) newTransport(tc *config.UpstreamTLS, useTLS bool) (*http.Transport, error) {
	keep := u.cfg.Keepalive
	if keep <= 0 {
		keep = defaultKeepalive
	}
	idle := u.cfg.KeepaliveTimeout
	if idle <= 0 {
		idle = defaultKeepaliveTimeout
	}
	tr := &http.Transport{
		DialContext: u.dial,
		// l7.md §4: Go's default of 2 idle connections per host causes
		// TIME_WAIT storms; keep what nginx's "keepalive N" keeps.
		MaxIdleConnsPerHost: keep,
		IdleConnTimeout:     idle,
		// Pass Accept-Encoding through and never decompress.
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		TLSHandshakeTimeout:    10 * time.Second,
		// A connection that carried a PROXY header belongs to one client
		// (HAProxy keeps such connections private): no reuse.
		DisableKeepAlives: u.ppVersion != 0,
	}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	if useTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if tc != nil {
			cfg.ServerName = tc.ServerName
			cfg.InsecureSkipVerify = tc.InsecureSkipVerify
			if tc.CAFile != "" {
				pem, err := os.ReadFile(tc.CAFile)
				if err != nil {
					return nil, fmt.Errorf("tls ca_file: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("tls ca_file %s: no certificates", tc.CAFile)
				}
				cfg.RootCAs = pool
			}
		}
		tr.TLSClientConfig = cfg
	}
	return tr, nil
}

// dialError marks a failure to connect: nothing was sent, so even a
// non-idempotent request may go to the next server (nginx sets
// u->request_sent only once connected).
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect() failed: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dial connects to a peer with the location's proxy_connect_timeout and
// writes the PROXY header first when the group asks for one.
func (u *upstream) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	timeout := defaultProxyTimeout
	rq, _ := ctx.Value(requestKey{}).(*request)
	var a *attempt
	if rq != nil && rq.lc != nil {
		timeout = rq.lc.connectTimeout
		// The attempt's read timeout starts once connected.
		if a = rq.cur.Load(); a != nil && a.timer == nil {
			a = nil // h1Transport: the deadlines start after the dial
		}
		if a != nil {
			a.timer.Reset(timeout + a.read)
		}
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	if a != nil && rq.cur.Load() == a {
		a.timer.Reset(a.read)
	}
	if u.ppVersion != 0 {
		var src, dst netip.AddrPort
		if rq != nil {
			src, dst = rq.client, rq.local
		}
		var hdr []byte
		if u.ppVersion == 1 {
			hdr = proxyproto.AppendV1(nil, src, dst)
		} else {
			hdr = proxyproto.AppendV2(nil, proxyproto.TransportStream, src, dst)
		}
		_ = c.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := c.Write(hdr); err != nil {
			_ = c.Close()
			return nil, &dialError{err}
		}
		_ = c.SetWriteDeadline(time.Time{})
	}
	return c, nil
}

// resolve turns "host:port" into addresses: an IP literal as is, a name
// through the resolver (nginx resolves server names when it loads the
// configuration).
func resolve(ctx context.Context, hostport string) ([]netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
	}
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("invalid port %q", portStr)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("host %q has no addresses", host)
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	return out, nil
}

// parseBalance reads Upstream.Balance in nginx or HAProxy syntax. "hash"
// exists in both: a key with a variable ("$...") or a "consistent" flag
// is nginx's, a sample expression (or any HashType) is HAProxy's.
func parseBalance(u config.Upstream) (balance.Config, error) {
	b := strings.TrimSpace(u.Balance)
	if b == "ewma" {
		return balance.Config{Method: balance.PeakEWMA}, nil
	}
	if u.HashType != "" {
		return balance.ParseHAProxy(b, u.HashType)
	}
	fields := strings.Fields(b)
	first := ""
	if len(fields) > 0 {
		first = fields[0]
	}
	switch first {
	case "", "round_robin":
		if len(fields) > 1 {
			return balance.Config{}, errors.New("round_robin takes no arguments")
		}
		return balance.Config{Method: balance.NginxRoundRobin}, nil
	case "least_conn", "ip_hash", "random":
		return balance.ParseNginx(b)
	case "hash":
		if strings.Contains(b, "$") || slices.Contains(fields[1:], "consistent") {
			return balance.ParseNginx(b)
		}
	}
	return balance.ParseHAProxy(b, "")
}

// haproxySample compiles the few HAProxy sample fetches "balance hash"
// accepts here (configuration.txt §7.3): src, path, url, query, base,
// hdr(NAME) / req.hdr(NAME) / req.fhdr(NAME), req.cook(NAME) /
// cook(NAME), url_param(NAME) / urlp(NAME).
func haproxySample(expr string) (func(rq *request) string, error) {
	name, arg, hasArg := strings.Cut(expr, "(")
	if hasArg {
		if !strings.HasSuffix(arg, ")") || len(arg) < 2 {
			return nil, fmt.Errorf("sample %q: missing argument or ')'", expr)
		}
		arg = arg[:len(arg)-1]
	}
	switch {
	case !hasArg && name == "src":
		return func(rq *request) string { return rq.clientIP() }, nil
	case !hasArg && name == "path":
		return func(rq *request) string { p, _, _ := strings.Cut(rq.r.RequestURI, "?"); return p }, nil
	case !hasArg && name == "url":
		return func(rq *request) string { return rq.r.RequestURI }, nil
	case !hasArg && name == "query":
		return func(rq *request) string { _, q, _ := strings.Cut(rq.r.RequestURI, "?"); return q }, nil
	case !hasArg && name == "base":
		return func(rq *request) string {
			p, _, _ := strings.Cut(rq.r.RequestURI, "?")
			return rq.r.Host + p
		}, nil
	case hasArg && (name == "hdr" || name == "req.hdr" || name == "req.fhdr"):
		return func(rq *request) string {
			if strings.EqualFold(arg, "host") {
				return rq.r.Host
			}
			return rq.r.Header.Get(arg)
		}, nil
	case hasArg && (name == "req.cook" || name == "cook"):
		return func(rq *request) string {
			c, err := rq.r.Cookie(arg)
			if err != nil {
				return ""
			}
			return c.Value
		}, nil
	case hasArg && (name == "url_param" || name == "urlp"):
		return func(rq *request) string {
			_, q, _ := strings.Cut(rq.r.RequestURI, "?")
			v, _ := route.Arg(q, arg)
			return v
		}, nil
	}
	return nil, fmt.Errorf("unsupported sample fetch %q", expr)
}

// validCookieName checks the RFC 6265 §4.1.1 token syntax.
func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// start launches the active health checks.
func (u *upstream) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	u.hcCancel = cancel
	for _, pe := range u.peers {
		for _, cs := range pe.checks {
			u.hcWG.Add(1)
			go func() {
				defer u.hcWG.Done()
				u.runCheck(ctx, pe, cs)
			}()
		}
	}
	if u.sourceSticky != nil {
		u.hcWG.Add(1)
		go func() {
			defer u.hcWG.Done()
			u.sourceSticky.sweepLoop(ctx, u.now)
		}()
	}
}

// retire stops a group that a reload removed or replaced. Requests in
// flight finish on their connections; idle ones are closed now and again
// when the last request ends.
func (u *upstream) retire() {
	u.retired.Store(true)
	u.stop()
	u.closeIdle()
}

func (u *upstream) stop() {
	if u.hcCancel != nil {
		u.hcCancel()
	}
	u.hcWG.Wait()
}

func (u *upstream) closeIdle() {
	u.tr.CloseIdleConnections()
	if u.h1 != nil {
		u.h1.CloseIdleConnections()
	}
	if u.trTLS != nil {
		u.trTLS.CloseIdleConnections()
	}
}

// recordResult feeds outlier detection (Envoy consecutive_5xx: 5xx
// responses and connection failures count, anything else resets).
func (u *upstream) recordResult(pe *peer, failed bool) {
	if !failed {
		if pe.consec.Load() != 0 {
			pe.consec.Store(0)
		}
		return
	}
	n := pe.consec.Add(1)
	if u.consec5xx <= 0 || n < int64(u.consec5xx) {
		return
	}
	u.ejectMu.Lock()
	defer u.ejectMu.Unlock()
	now := u.now()
	ejected := 0
	for _, q := range u.peers {
		q.mu.Lock()
		if now.Before(q.ejectedUntil) {
			ejected++
		}
		q.mu.Unlock()
	}
	// Envoy max_ejection_percent (default 10%, at least one host).
	if limit := max(1, len(u.peers)*maxEjectionPercent/100); ejected >= limit {
		return
	}
	pe.mu.Lock()
	if now.Before(pe.ejectedUntil) {
		pe.mu.Unlock()
		return
	}
	pe.ejections++
	d := u.ejectFor
	pe.ejectedUntil = now.Add(d)
	pe.mu.Unlock()
	pe.consec.Store(0)
	u.applyDown(pe)
	time.AfterFunc(d, func() {
		if !u.retired.Load() {
			u.applyDown(pe)
		}
	})
}

// sourceTable is source-address persistence: a client address keeps its
// server for Timeout after its last request (IPVS persistent services,
// ipvsadm -p default 300 s; HAProxy "stick on src").
type sourceTable struct {
	ttl    time.Duration
	sticky *balance.Sticky // values are peer indexes
	mu     sync.Mutex
	m      map[netip.Addr]sourceEntry
}

type sourceEntry struct {
	peer    int
	expires time.Time
}

func newSourceTable(peers []balance.Peer, ttl time.Duration) *sourceTable {
	if ttl <= 0 {
		ttl = defaultStickyTimeout
	}
	// Reuse the cookie machinery with one value per peer index, so a
	// bound pick honours the balancer's notion of a usable peer.
	ps := make([]balance.Peer, len(peers))
	for i := range peers {
		ps[i] = peers[i]
		ps[i].Cookie = strconv.Itoa(i)
	}
	return &sourceTable{ttl: ttl, sticky: balance.HAProxyCookies(ps), m: map[netip.Addr]sourceEntry{}}
}

func (t *sourceTable) lookup(a netip.Addr, now time.Time) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[a]
	if !ok || now.After(e.expires) {
		return ""
	}
	return t.sticky.Value(e.peer)
}

func (t *sourceTable) store(a netip.Addr, peer int, now time.Time) {
	t.mu.Lock()
	t.m[a] = sourceEntry{peer: peer, expires: now.Add(t.ttl)}
	t.mu.Unlock()
}

func (t *sourceTable) sweepLoop(ctx context.Context, now func() time.Time) {
	tk := time.NewTicker(max(t.ttl/4, time.Second))
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			n := now()
			t.mu.Lock()
			for a, e := range t.m {
				if n.After(e.expires) {
					delete(t.m, a)
				}
			}
			t.mu.Unlock()
		}
	}
}

func (t *sourceTable) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
