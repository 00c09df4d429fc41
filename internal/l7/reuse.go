package l7

import (
	"net/http"
	"net/url"
	"sync"
)

// headerPool recycles header maps on the proxied path: the fast front's
// request header, the direct path's upstream request header and the h1
// transport's response header. A map's first insert allocates its group
// (~330 B), three per proxied request, which the garbage collector would
// otherwise have to collect. A map goes back only from where its last
// user provably is done with it (the callers of putHeader say why); the
// values it held are not reused, so slices shared from it stay valid.
var headerPool = sync.Pool{New: func() any { return make(http.Header, 8) }}

// maxPooledHeader bounds the maps kept: clear keeps a map's storage, and
// one grown by an unusual message should not live on in the pool.
const maxPooledHeader = 32

func getHeader() http.Header { return headerPool.Get().(http.Header) }

func putHeader(h http.Header) {
	if h == nil || len(h) > maxPooledHeader {
		return
	}
	clear(h)
	headerPool.Put(h)
}

// requestPool recycles request states (~1 KiB each, the largest
// allocation of a proxied request). ServeHTTP marks a request for reuse
// (request.recycle) only when it returned normally and nothing of it went
// to net/http's ReverseProxy or Transport (request.shared): their
// goroutines (dialing, writing a body) may outlive the handler and reach
// the request through its context. On the direct path everything that
// refers to rq runs in the handler's goroutine and ends before finish:
// the h1 transport and the dialer it calls, the attempts (light ones,
// no timer), the filters (compress.Writer is released in finish).
var requestPool = sync.Pool{New: func() any { return new(request) }}

// directOut is the upstream request of the direct path, with its URL and
// the storage of its response.
type directOut struct {
	req http.Request
	url url.URL
	x   h1Exchange // the response to req
}

// release zeroes rq and puts it back; its directOut stays with it.
func (rq *request) release() {
	d := rq.dout
	*rq = request{}
	if d != nil {
		*d = directOut{}
		rq.dout = d
	}
	requestPool.Put(rq)
}
