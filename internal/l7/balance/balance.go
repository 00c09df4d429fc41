package balance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Peer is one upstream server as configured, in configuration order. The
// zero value of a numeric field means "the default of the flavour": nginx
// (ngx_http_upstream_module.xml, server) weight=1 max_fails=1
// fail_timeout=10s; HAProxy (configuration.txt, server) weight 1.
type Peer struct {
	// Name is the server as written in the configuration: for nginx the
	// "host:port" string of the server directive (ketama hashes it, the
	// hash consistent method matches on it), for HAProxy the server name.
	Name string
	// Addr is the resolved "ip:port". The nginx sticky cookie value is the
	// hex MD5 of this string (ngx_http_upstream_rr_peer_init_sid).
	Addr string
	// Weight: 0 means 1. nginx accepts any positive value, HAProxy 1..256
	// (a weight of 0, "drain", is set at run time with SetWeight).
	Weight int
	// MaxFails (nginx max_fails): 0 means the default 1, a negative value
	// disables failure accounting (max_fails=0).
	MaxFails int
	// FailTimeout (nginx fail_timeout): 0 means 10s, a negative value 0s.
	// nginx keeps whole seconds (ngx_parse_time(..., 1)), so does this.
	FailTimeout time.Duration
	// Backup marks a backup server (nginx backup, HAProxy backup).
	Backup bool
	// Down marks the server unavailable at start (nginx down, HAProxy
	// disabled); SetDown changes it at run time.
	Down bool
	// MaxConns (nginx max_conns, HAProxy maxconn): 0 means no limit.
	MaxConns int
	// SlowStart (HAProxy slowstart): after a server comes back up its
	// weight (dynamic algorithms) and MaxConns ramp up linearly over this
	// period. Never applies at start. Also used by PeakEWMA.
	SlowStart time.Duration
	// ID (HAProxy id): 0 means assigned automatically as HAProxy does, the
	// first free id from 1 in configuration order. "first" and consistent
	// hashing depend on it.
	ID int
	// Cookie is the HAProxy "cookie" value of the server; empty means Name.
	Cookie string
	// Route is the nginx route= value; when set it replaces the MD5 of Addr
	// as the sticky cookie value.
	Route string
}

// HeaderGetter returns a request header's first field line, as
// http.Header.Get does. A caller balancing on the Host header must return
// the request's Host, which net/http keeps outside Header.
type HeaderGetter interface {
	Get(name string) string
}

// Request carries what the algorithms read from one request. It is only read
// during Pick and Retry.
type Request struct {
	// ClientIP feeds nginx ip_hash and HAProxy source. IPv4 clients must be
	// given as plain IPv4 (not IPv4-mapped IPv6), as nginx and HAProxy see
	// them on an IPv4 socket.
	ClientIP netip.Addr
	// Key is the hash key evaluated by the caller: nginx "hash <key>" or
	// HAProxy "balance hash <expr>". Empty falls back to round robin.
	Key string
	// URI is the request-target as received ("/p?q=1", or the absolute
	// form), read by HAProxy uri and url_param.
	URI string
	// Header is read by HAProxy hdr(<name>).
	Header HeaderGetter
}

// Balancer picks an upstream peer for a request. Implementations are safe
// for concurrent use.
type Balancer interface {
	// Pick selects a peer. The returned Selection must be ended with Done,
	// or handed to Retry until Retry fails.
	Pick(r *Request) (*Selection, error)
}

// Marker changes a peer's availability at run time (health checks, admin).
// Every balancer of this package implements it; peer is the index in the
// slice given to New.
type Marker interface {
	SetDown(peer int, down bool) error
}

// Weighter changes a peer's weight at run time; the HAProxy balancers
// implement it ("set server <backend>/<server> weight").
type Weighter interface {
	SetWeight(peer, weight int) error
}

// Errors returned by Pick and Retry.
var (
	// ErrNoLiveUpstreams: nginx found no usable peer ("no live upstreams",
	// answered with 502).
	ErrNoLiveUpstreams = errors.New("no live upstreams")
	// ErrNoServer: HAProxy has no usable server (SRV_STATUS_NOSRV, 503).
	ErrNoServer = errors.New("no server is available")
	// ErrFull: every usable HAProxy server reached its maxconn
	// (SRV_STATUS_FULL): HAProxy queues the request in the backend.
	ErrFull = errors.New("all servers are full")
	// ErrNoMoreTries: the request used all its tries (nginx peer.tries).
	ErrNoMoreTries = errors.New("no more tries")
	// ErrBadPeer: a peer index outside the configured peers.
	ErrBadPeer = errors.New("no such peer")
)

// Options carries injectable dependencies and tunables.
type Options struct {
	// Now is the clock (fail_timeout, slow start, EWMA). Default time.Now.
	Now func() time.Time
	// Rand returns a uniform value in [0, n) (nginx random, P2C). It is
	// called with the balancer's lock held. Default: a private PCG.
	Rand func(n uint32) uint32
	// NextUpstreamTries caps the attempts of one request as nginx
	// proxy_next_upstream_tries does; 0 means no cap.
	NextUpstreamTries int
	// Decay is the PeakEWMA decay period (default 10s, as Finagle and
	// Linkerd).
	Decay time.Duration
	// DefaultRTT is the PeakEWMA estimate of a peer never measured
	// (default 30ms, Linkerd's default).
	DefaultRTT time.Duration
	// FailurePenalty is the latency PeakEWMA records for a failed attempt
	// when the attempt itself was faster (default 1s), so that a peer
	// failing fast does not attract traffic.
	FailurePenalty time.Duration
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		o.Rand = r.Uint32N
	}
	if o.Decay <= 0 {
		o.Decay = 10 * time.Second
	}
	if o.DefaultRTT <= 0 {
		o.DefaultRTT = 30 * time.Millisecond
	}
	if o.FailurePenalty <= 0 {
		o.FailurePenalty = time.Second
	}
	return o
}

// owner is the balancer side of a Selection.
type owner interface {
	// free ends the current attempt (nginx peer.free); failed counts a
	// failure, next is nginx NGX_PEER_NEXT (neither success nor failure).
	free(s *Selection, failed, next bool)
	// next picks another peer for the same request.
	next(s *Selection) error
	// put recycles the selection.
	put(s *Selection)
}

// Selection is one request's choice of peer and the per-request state the
// algorithms keep across retries (nginx tried bitmap, hash state; HAProxy
// server to avoid). It is recycled by Done and by a failing Retry and must
// not be used afterwards.
type Selection struct {
	o     owner
	peer  *Peer
	index int
	live  bool // an attempt is in progress (peer accounted)
	start time.Time
	hint  int // sticky: peer index the client is bound to, -1 none

	// nginx per-request state (ngx_http_upstream_rr_peer_data_t and the
	// per-method peer data).
	group    *ngxGroup
	current  int
	tries    int
	tried    []uint64
	triedBuf [2]uint64
	triedBig []uint64
	htries   int    // hp->tries, iphp->tries, rp->tries
	hash     uint32 // hp->hash (hash), iphp->hash (ip_hash)
	rehash   uint   // hp->rehash
	point    uint   // hp->hash for hash consistent: index of the ketama point
	key      string
	addr     [16]byte
	addrLen  int

	// HAProxy and P2C state.
	req      Request
	attempts int
}

// Peer returns the chosen peer's configuration.
func (s *Selection) Peer() *Peer { return s.peer }

// Index returns the chosen peer's index in the slice given to New.
func (s *Selection) Index() int { return s.index }

// Done ends the request: ok=false counts a failure of the current attempt
// (nginx: fails++, effective_weight -= weight/max_fails; PeakEWMA: failure
// penalty). The selection is recycled.
func (s *Selection) Done(ok bool) {
	s.check()
	if s.live {
		s.o.free(s, !ok, false)
	}
	s.o.put(s)
}

// Retry ends the current attempt as failed (fail=true, nginx NGX_PEER_FAILED)
// or as "next" (fail=false, nginx NGX_PEER_NEXT for http_403/http_404: not a
// failure) and selects another peer for the same request, honouring what was
// already tried. On error the selection is recycled.
func (s *Selection) Retry(fail bool) error {
	s.check()
	if s.live {
		s.o.free(s, fail, !fail)
	}
	if err := s.o.next(s); err != nil {
		s.o.put(s)
		return err
	}
	return nil
}

func (s *Selection) check() {
	if s.o == nil {
		panic("balance: Selection used after Done or a failed Retry")
	}
}

// initTried sizes and clears the tried bitmap for n peers, allocating only
// above 128 peers (and then once per pooled selection).
func (s *Selection) initTried(n int) {
	words := (n + 63) / 64
	if words <= len(s.triedBuf) {
		s.tried = s.triedBuf[:words]
	} else {
		if cap(s.triedBig) < words {
			s.triedBig = make([]uint64, words)
		}
		s.tried = s.triedBig[:words]
	}
	clear(s.tried)
}

func (s *Selection) reset() {
	*s = Selection{triedBig: s.triedBig, current: -1, index: -1, hint: -1}
}

// Method is a load-balancing algorithm.
type Method int

// Methods. nginx names follow ngx_http_upstream_*_module, HAProxy names
// the "balance" keyword.
const (
	NginxRoundRobin     Method = iota + 1 // default: smooth weighted round robin
	NginxLeastConn                        // least_conn
	NginxIPHash                           // ip_hash
	NginxHash                             // hash <key>
	NginxHashConsistent                   // hash <key> consistent
	NginxRandom                           // random
	NginxRandomTwo                        // random two [least_conn]
	HAProxyRoundRobin                     // roundrobin
	HAProxyStaticRR                       // static-rr
	HAProxyLeastConn                      // leastconn
	HAProxyFirst                          // first
	HAProxySource                         // source
	HAProxyURI                            // uri [len N] [depth N] [whole] [path-only]
	HAProxyURLParam                       // url_param <param>
	HAProxyHdr                            // hdr(<name>) [use_domain_only]
	HAProxyHash                           // hash <expr> (key in Request.Key)
	PeakEWMA                              // power of two choices on peak EWMA latency
)

var methodNames = map[Method]string{
	NginxRoundRobin: "nginx round robin", NginxLeastConn: "nginx least_conn",
	NginxIPHash: "nginx ip_hash", NginxHash: "nginx hash", NginxHashConsistent: "nginx hash consistent",
	NginxRandom: "nginx random", NginxRandomTwo: "nginx random two",
	HAProxyRoundRobin: "haproxy roundrobin", HAProxyStaticRR: "haproxy static-rr",
	HAProxyLeastConn: "haproxy leastconn", HAProxyFirst: "haproxy first", HAProxySource: "haproxy source",
	HAProxyURI: "haproxy uri", HAProxyURLParam: "haproxy url_param", HAProxyHdr: "haproxy hdr",
	HAProxyHash: "haproxy hash", PeakEWMA: "peak ewma",
}

func (m Method) String() string {
	if s, ok := methodNames[m]; ok {
		return s
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

func (m Method) nginx() bool   { return m >= NginxRoundRobin && m <= NginxRandomTwo }
func (m Method) haproxy() bool { return m >= HAProxyRoundRobin && m <= HAProxyHash }

// HashFunc is an HAProxy hash-type function.
type HashFunc int

// HAProxy hash functions (src/hash.c).
const (
	SDBM HashFunc = iota
	DJB2
	WT6
	CRC32
)

// Config selects and parameterises the algorithm. Build it by hand or with
// ParseNginx / ParseHAProxy.
type Config struct {
	Method Method
	// KeyExpr is the key expression of nginx "hash <key>" or HAProxy
	// "balance hash <expr>" (informational: the caller evaluates it into
	// Request.Key).
	KeyExpr string
	// Consistent selects HAProxy "hash-type consistent" (default
	// map-based).
	Consistent bool
	// HashFunc and Avalanche are the HAProxy hash-type function and
	// modifier. "hash-type consistent" without a function means sdbm with
	// avalanche (cfgparse-listen.c); ParseHAProxy applies that rule.
	HashFunc  HashFunc
	Avalanche bool
	// HAProxy uri options.
	URILen      int
	URIDepth    int
	URIWhole    bool
	URIPathOnly bool
	// Param is the url_param name, Header the hdr() name.
	Param         string
	Header        string
	UseDomainOnly bool
	// AllBackups is HAProxy "option allbackups": use every backup server
	// instead of only the first one.
	AllBackups bool
	// LeastConn is set for nginx "random two least_conn" (the default and
	// only criterion of random two in nginx open source).
	LeastConn bool
}

// New builds a balancer for peers (in configuration order).
func New(cfg Config, peers []Peer, opt Options) (Balancer, error) {
	if len(peers) == 0 {
		return nil, errors.New("no servers in upstream")
	}
	opt = opt.withDefaults()
	switch {
	case cfg.Method.nginx():
		return newNginx(cfg, peers, opt)
	case cfg.Method.haproxy():
		return newHAProxy(cfg, peers, opt)
	case cfg.Method == PeakEWMA:
		return newEWMA(peers, opt)
	}
	return nil, fmt.Errorf("unknown method %v", cfg.Method)
}

// selPool recycles selections; each balancer owns one.
type selPool struct{ p sync.Pool }

func (sp *selPool) get(o owner) *Selection {
	s, _ := sp.p.Get().(*Selection)
	if s == nil {
		s = &Selection{}
	}
	s.reset()
	s.o = o
	return s
}

func (sp *selPool) put(s *Selection) {
	s.o = nil
	s.peer = nil
	s.req = Request{}
	s.key = ""
	sp.p.Put(s)
}
