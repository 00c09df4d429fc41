package l7

import (
	"net/http"
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
