package balance

import (
	"crypto/md5"
	"encoding/hex"
)

// binder is implemented by every balancer of this package: a pick that
// honours a client bound to one of cands (peer indexes, in configuration
// order) and reports whether it did.
type binder interface {
	pickBound(r *Request, cands []int) (*Selection, bool, error)
}

// Sticky binds clients to peers with a cookie. Its value per peer is fixed
// at construction; Pick turns a request's cookie into a pick that keeps
// the client on its peer while that peer can serve, and re-balances as if
// the client were unbound otherwise.
type Sticky struct {
	values []string
	byVal  map[string][]int
}

// HAProxyCookies is the value scheme of HAProxy "cookie <name> insert":
// each server's "cookie" value (Peer.Cookie), the server name when unset.
// Several servers may share a value: the first operational one wins.
// (HAProxy itself gives no cookie to a server without a "cookie" keyword;
// the name default is Fulcrum's.)
func HAProxyCookies(peers []Peer) *Sticky {
	s := &Sticky{byVal: map[string][]int{}}
	for i, p := range peers {
		v := p.Cookie
		if v == "" {
			v = p.Name
		}
		s.add(i, v)
	}
	return s
}

// NginxCookies is the value scheme of nginx "sticky cookie": the route=
// value when set, else the lowercase hex MD5 of the peer's "ip:port"
// (ngx_http_upstream_rr_peer_init_sid).
func NginxCookies(peers []Peer) *Sticky {
	s := &Sticky{byVal: map[string][]int{}}
	for i, p := range peers {
		v := p.Route
		if v == "" {
			v = NginxSID(p.Addr)
		}
		s.add(i, v)
	}
	return s
}

// NginxSID is the server id nginx derives from a printable socket address.
func NginxSID(addr string) string {
	sum := md5.Sum([]byte(addr))
	return hex.EncodeToString(sum[:])
}

func (s *Sticky) add(i int, v string) {
	s.values = append(s.values, v)
	s.byVal[v] = append(s.byVal[v], i)
}

// Value is the cookie value that binds a client to peer.
func (s *Sticky) Value(peer int) string {
	if peer < 0 || peer >= len(s.values) {
		return ""
	}
	return s.values[peer]
}

// Lookup returns the peers (indexes, configuration order) a cookie value
// names; nil for an unknown value. The slice must not be modified.
func (s *Sticky) Lookup(cookie string) []int { return s.byVal[cookie] }

// Pick selects a peer for a request carrying cookie ("" when absent).
// bound reports that the request went to the peer the cookie named; when
// it is false the caller sets the cookie to Value(sel.Index()).
func (s *Sticky) Pick(b Balancer, r *Request, cookie string) (sel *Selection, bound bool, err error) {
	bd, ok := b.(binder)
	if !ok {
		sel, err = b.Pick(r)
		return sel, false, err
	}
	return bd.pickBound(r, s.byVal[cookie])
}
