package health

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Limits of the HTTP checker. keepalived reads through a fixed buffer
// (MAX_BUFFER_LENGTH) and never keeps more than it needs; so do we.
const (
	maxHTTPHead    = 16 << 10 // a response head larger than this fails
	maxRegexWindow = 1 << 20  // bytes of body a regex is matched against
)

// HTTP status codes keepalived accepts in status_code (check_http.h
// HTTP_STATUS_CODE_MIN/MAX) and its default range (200-299).
const (
	httpStatusMin = 100
	httpStatusMax = 599
)

type httpURL struct {
	path    string
	digest  []byte // nil: no digest check
	status  []config.StatusRange
	vhost   string
	regex   *regexp.Regexp
	noMatch bool
}

// httpProber is HTTP_GET and SSL_GET (check_http.c, check_ssl.c). Each
// URL is one attempt; the manager walks the URLs as keepalived's epilog
// does, Probe walks them all.
type httpProber struct {
	co        connOpts
	urls      []httpURL
	tls       bool
	protocol  string // "1.0", "1.0C" or "1.1"
	sni       func(u *httpURL) string
	tlsStrict bool
}

func newHTTPProber(c config.Check, co connOpts) (*httpProber, error) {
	if len(c.URLs) == 0 {
		// check_http.c http_get_check_end: "checker has no urls specified".
		return nil, errors.New("http check has no urls")
	}
	p := &httpProber{co: co, tls: c.Type == config.CheckSSL, tlsStrict: c.TLSCompliant}
	switch c.HTTPProtocol {
	case "", "1.0":
		p.protocol = "1.0"
	case "1.0C", "1.0c":
		p.protocol = "1.0C"
	case "1.1":
		p.protocol = "1.1"
	default:
		return nil, fmt.Errorf("invalid http_protocol %q", c.HTTPProtocol)
	}
	for i, cu := range c.URLs {
		u := httpURL{path: cu.Path, status: cu.StatusCodes, vhost: cu.Virtualhost, noMatch: cu.RegexNoMatch}
		if u.vhost == "" {
			u.vhost = c.Virtualhost
		}
		if u.path == "" {
			return nil, fmt.Errorf("url %d has no path", i)
		}
		if len(u.status) == 0 {
			u.status = []config.StatusRange{{From: 200, To: 299}}
		}
		if cu.Digest != "" {
			d, err := hex.DecodeString(cu.Digest)
			if err != nil || len(d) != md5.Size {
				return nil, fmt.Errorf("url %s: digest %q is not 32 hex digits", cu.Path, cu.Digest)
			}
			u.digest = d
		}
		if cu.Regex != "" {
			re, err := regexp.Compile(cu.Regex)
			if err != nil {
				return nil, fmt.Errorf("url %s: regex: %w", cu.Path, err)
			}
			u.regex = re
		}
		p.urls = append(p.urls, u)
	}
	if c.EnableSNI || c.SNIName != "" {
		name := c.SNIName
		// check_ssl.c ssl_connect: with enable_sni the server name is the
		// url's virtualhost, else the checker's (sni_name overrides).
		p.sni = func(u *httpURL) string {
			if name != "" {
				return name
			}
			return u.vhost
		}
	}
	return p, nil
}

// NumURLs is the number of url blocks, the length of keepalived's url_it
// walk.
func (p *httpProber) NumURLs() int { return len(p.urls) }

// Probe checks every URL in order and stops at the first failure.
func (p *httpProber) Probe(ctx context.Context) Result {
	for i := range p.urls {
		if r := p.ProbeURL(ctx, i); !r.OK {
			return r
		}
	}
	return Result{OK: true}
}

// request builds keepalived's exact request (check_http.c request_template
// and http_request_thread): HTTP/1.0 unless http_protocol 1.1, a
// "Connection: close" line for 1.0C and 1.1, and Host set to the
// virtualhost, or to the connect address and port ("[v6]:port" per RFC
// 2732) when there is none.
func (p *httpProber) request(u *httpURL) string {
	minor := "0"
	if p.protocol == "1.1" {
		minor = "1"
	}
	conn := ""
	if p.protocol != "1.0" {
		conn = "Connection: close\r\n"
	}
	host := u.vhost
	if host == "" {
		host = p.co.dst.String() // netip.AddrPort brackets IPv6 already
	}
	return "GET " + u.path + " HTTP/1." + minor + "\r\nUser-Agent: KeepAliveClient\r\n" + conn + "Host: " + host + "\r\n\r\n"
}

// ProbeURL fetches URL i once and checks status, digest and regex in
// keepalived's order (check_http.c http_handle_response).
func (p *httpProber) ProbeURL(ctx context.Context, i int) Result {
	u := &p.urls[i]
	conn, done, err := p.co.dial(ctx, "tcp")
	if err != nil {
		return fail(err)
	}
	defer done()
	op := "GET " + u.path
	if p.tls {
		cfg := &tls.Config{
			// keepalived does not verify the real server's certificate
			// unless a CA is configured (check_ssl.c build_ssl_ctx), and the
			// model has no CA: a health check tests liveness, not identity.
			InsecureSkipVerify: true, //nolint:gosec // see above
			MinVersion:         tls.VersionTLS10,
		}
		if p.sni != nil {
			cfg.ServerName = p.sni(u)
		}
		tc := tls.Client(conn, cfg)
		tc.SetDeadline(p.co.deadline())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(classify("tls handshake with "+p.co.dst.String(), err))
		}
		conn = tc
	}
	conn.SetWriteDeadline(p.co.deadline())
	if _, err := io.WriteString(conn, p.request(u)); err != nil {
		return fail(classify(op+": send request", err))
	}
	resp, err := p.readResponse(conn, u)
	if err != nil {
		return fail(classify(op, err))
	}
	return u.judge(op, resp)
}

// httpResponse is what keepalived extracts from a response.
type httpResponse struct {
	headSeen bool
	status   int
	digest   []byte
	matched  bool
}

// readResponse reads until the server closes the connection, as keepalived
// does (http_read_thread finishes on EOF; a read timeout fails the check
// even after a complete body). Every read gets its own connect_timeout.
func (p *httpProber) readResponse(conn net.Conn, u *httpURL) (httpResponse, error) {
	var (
		resp   httpResponse
		head   []byte
		body   []byte // kept only for the regex
		md     hash.Hash
		clen   = int64(-1)
		hashed int64
		buf    = make([]byte, 4096)
	)
	if u.digest != nil {
		md = md5.New()
	}
	feed := func(b []byte) {
		if md != nil {
			n := int64(len(b))
			// Only the first Content-Length bytes are hashed
			// (http_process_response).
			if clen >= 0 && hashed+n > clen {
				n = max(clen-hashed, 0)
			}
			md.Write(b[:n])
			hashed += n
		}
		if u.regex != nil && len(body) < maxRegexWindow {
			body = append(body, b[:min(len(b), maxRegexWindow-len(body))]...)
		}
	}
	for {
		conn.SetReadDeadline(p.co.deadline())
		n, err := conn.Read(buf)
		if n > 0 {
			if !resp.headSeen {
				head = append(head, buf[:n]...)
				if end := bytes.Index(head, []byte("\r\n\r\n")); end >= 0 {
					resp.headSeen = true
					resp.status, clen = parseResponseHead(head[:end+2])
					feed(head[end+4:])
					head = nil
				} else if len(head) > maxHTTPHead {
					return resp, fmt.Errorf("%w: response head longer than %d bytes", ErrNoResponse, maxHTTPHead)
				}
			} else {
				feed(buf[:n])
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || (!p.tlsStrict && errors.Is(err, io.ErrUnexpectedEOF)) {
				break
			}
			return resp, err
		}
	}
	if md != nil {
		resp.digest = md.Sum(nil)
	}
	if u.regex != nil {
		resp.matched = u.regex.Match(body)
	}
	return resp, nil
}

func (u *httpURL) judge(op string, r httpResponse) Result {
	if !r.headSeen {
		// http_handle_response: "Read, no data received".
		return fail(fmt.Errorf("%s: %w: connection closed before a complete response head", op, ErrNoResponse))
	}
	if !statusAllowed(u.status, r.status) {
		return fail(fmt.Errorf("%s: %w %d", op, ErrStatus, r.status))
	}
	if u.digest != nil && !bytes.Equal(u.digest, r.digest) {
		return fail(fmt.Errorf("%s: %w: body md5 %x, want %x", op, ErrDigest, r.digest, u.digest))
	}
	if u.regex != nil && r.matched == u.noMatch {
		if u.noMatch {
			return fail(fmt.Errorf("%s: %w: body matches %q (regex_no_match)", op, ErrRegex, u.regex))
		}
		return fail(fmt.Errorf("%s: %w: body does not match %q", op, ErrRegex, u.regex))
	}
	return Result{OK: true}
}

func statusAllowed(ranges []config.StatusRange, code int) bool {
	if code < httpStatusMin || code > httpStatusMax {
		return false
	}
	for _, r := range ranges {
		if code >= r.From && code <= r.To {
			return true
		}
	}
	return false
}

// parseResponseHead extracts the status code and Content-Length the way
// keepalived's lib/html.c does: the status is atoi() of the text between
// the first and the second space; Content-Length is found by a
// case-sensitive search for "Content-Length:" followed by atoi(). A
// missing or negative length means "until EOF" (-1).
func parseResponseHead(head []byte) (status int, contentLength int64) {
	s := string(head)
	if sp := strings.IndexByte(s, ' '); sp >= 0 {
		rest := s[sp+1:]
		if sp2 := strings.IndexByte(rest, ' '); sp2 >= 0 {
			rest = rest[:sp2]
		}
		status = int(atoi(rest))
	}
	contentLength = -1
	if i := strings.Index(s, "Content-Length:"); i >= 0 {
		if n := atoi(s[i+len("Content-Length:"):]); n >= 0 {
			contentLength = n
		}
	}
	return status, contentLength
}

// atoi is C's atoi: optional leading whitespace and sign, then decimal
// digits up to the first non-digit; no digits is 0. Values saturate
// instead of overflowing.
func atoi(s string) int64 {
	i := 0
	for i < len(s) && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return 0
	}
	n, err := strconv.ParseInt(s[i:j], 10, 64)
	if err != nil {
		n = 1<<63 - 1
	}
	if neg {
		return -n
	}
	return n
}
