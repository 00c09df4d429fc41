package l7

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The direct path proxies what h1Transport carries (body-less requests
// without Upgrade to plain-text servers) without httputil.ReverseProxy:
// the same header rules, applied once to maps the request owns instead
// of to a clone, no context lookups per hook, the body copied with the
// proxy's buffers. Everything else goes through ReverseProxy. Both paths
// share rewriteOut, modifyResp and proxyErr, so they differ in cost only
// (TestDirectMatchesReverseProxy).

// hopHeaders are removed in both directions (httputil's list: RFC 9110
// §7.6.1 plus the de-facto Proxy-Connection and Keep-Alive).
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func isHopHeader(k string) bool {
	for _, h := range hopHeaders {
		if k == h {
			return true
		}
	}
	return false
}

// connectionListed reports whether k is named in the Connection header
// values (RFC 9110 §7.6.1: those fields are hop-by-hop too).
func connectionListed(conn []string, k string) bool {
	for _, v := range conn {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(f, " \t"), k) {
				return true
			}
		}
	}
	return false
}

// directable reports whether the request can take the direct path.
func (rq *request) directable() bool {
	r := rq.r
	up := rq.tgt.up
	if up.h1 == nil || rq.tgt.scheme != "http" || rq.p.noDirect.Load() {
		return false
	}
	if r.Body != nil && r.Body != http.NoBody {
		return false
	}
	_, upgrade := r.Header["Upgrade"]
	return !upgrade && len(r.Trailer) == 0
}

// forwardDirect is ReverseProxy.ServeHTTP (Rewrite mode) for a directable
// request.
func (rq *request) forwardDirect(w http.ResponseWriter) {
	r := rq.r
	in := r.Header
	conn := in["Connection"]
	h := getHeader() // back to the pool once the transport has written it
	for k, v := range in {
		if isHopHeader(k) || (len(conn) > 0 && connectionListed(conn, k)) {
			continue
		}
		switch k {
		case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			continue
		}
		h[k] = v // shared read-only: rewriteOut replaces, never appends
	}
	if httpguts.HeaderValuesContainsToken(in["Te"], "trailers") {
		h["Te"] = teTrailers
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = emptyValue // not Go's default User-Agent
	}
	// The upstream request is a copy of r with rq in its context (the
	// dialer reads it), kept in rq.dout so that a recycled request needs
	// no new one; the copy through WithContext stays on the stack.
	if rq.dout == nil {
		rq.dout = new(directOut)
	}
	out := &rq.dout.req
	*out = *r.WithContext(context.WithValue(r.Context(), requestKey{}, rq))
	out.Header = h
	out.Body = nil
	out.Close = false
	out.RequestURI = ""
	out.TransferEncoding = nil
	out.URL = &rq.dout.url
	rq.rewriteOut(out)

	resp, err := rq.roundTrip(out)
	if !rq.shared {
		// h1Transport wrote the request head in this goroutine before
		// it read the response (and so for every retry); nothing reads
		// out.Header after roundTrip. (net/http's Transport may still
		// be writing it when the response comes early.)
		out.Header = nil
		putHeader(h)
	}
	if err != nil {
		rq.proxyErr(w, err)
		return
	}
	rq.modifyResp(resp)
	rh := resp.Header
	if conn := rh["Connection"]; len(conn) > 0 {
		for k := range rh {
			if connectionListed(conn, k) {
				delete(rh, k)
			}
		}
	}
	for _, k := range hopHeaders {
		delete(rh, k)
	}
	dst := w.Header()
	for k, vv := range rh {
		if cur, ok := dst[k]; ok {
			dst[k] = append(cur, vv...)
		} else {
			dst[k] = vv
		}
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)
	if err := rq.copyBody(w, resp); err != nil {
		_ = resp.Body.Close()
		rq.p.log.Debug("l7: response body copy failed", "uri", r.RequestURI, "err", err)
		panic(http.ErrAbortHandler)
	}
	_ = resp.Body.Close()
	if !rq.shared {
		// The response's header map came from the h1 transport's pool;
		// its fields are in dst (value slices, never the map) and the
		// body is done with: nothing else holds it.
		resp.Header = nil
		putHeader(rh)
	}
	if len(resp.Trailer) > 0 {
		_ = http.NewResponseController(w).Flush() // force chunking
		if len(resp.Trailer) == announced {
			for k, vv := range resp.Trailer {
				dst[k] = append(dst[k], vv...)
			}
		} else {
			for k, vv := range resp.Trailer {
				for _, v := range vv {
					dst.Add(http.TrailerPrefix+k, v)
				}
			}
		}
	}
}

var (
	teTrailers = []string{"trailers"}
	emptyValue = []string{""}
)

// copyBody streams the response body, flushing after every write when
// it is a stream (no length, or text/event-stream), as ReverseProxy's
// flushInterval does.
func (rq *request) copyBody(w http.ResponseWriter, resp *http.Response) error {
	if resp.Body == http.NoBody {
		return nil
	}
	flush := resp.ContentLength == -1
	if !flush {
		ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
		flush = strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
	}
	pool := rq.p.buffers
	buf := pool.Get()
	defer pool.Put(buf)
	rc := http.NewResponseController(w)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush {
				if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
