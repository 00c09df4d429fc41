package harden

import (
	"net/netip"
)

// The request-side vetter: a byte-at-a-time state machine over the
// plaintext HTTP/1.x stream a client sends. It never buffers: feed reports
// how many of the bytes it was given may be handed to net/http. Every check
// is made no later than at the LF that ends a line, and that LF is never
// released before the check passed, so net/http (which acts on whole lines
// only) never sees a request the vetter refused.
//
// The grammar is RFC 9112 (§2.2 message parsing, §3 request line, §5 field
// syntax, §6 body length, §7.1 chunked), made stricter where the RFC allows a
// choice and where Go's own parser (net/http readRequest, transfer.go
// fixLength/parseTransferEncoding, internal/chunked.go) would frame a
// message differently: anything the vetter accepts, net/http frames the
// same way (FuzzVet checks this against http.ReadRequest).

// vetState is the state of the request-side machine.
type vetState uint8

const (
	stPreface       vetState = iota // connection start, matching the h2c prior-knowledge preface
	stIdle                          // between requests
	stIdleLF                        // a CR before the request line (tolerated after a POST)
	stMethod                        // request line: method
	stTargetFirst                   // first byte of the request-target
	stAsterisk                      // "*" seen, SP must follow
	stScheme                        // absolute-form scheme
	stSlash1                        // "scheme:" seen
	stSlash2                        // "scheme:/" seen
	stHost                          // reg-name or IPv4 of an absolute or authority form
	stIPv6                          // inside "[...]"
	stAfterIPv6                     // "]" seen
	stPort                          // ":" seen in the authority
	stPath                          // origin-form path or absolute path
	stPathPct1                      // "%" seen in the path
	stPathPct2                      // "%X" seen in the path
	stQuery                         // after "?"
	stVersion                       // HTTP-version
	stReqLF                         // CR after the version
	stLineStart                     // start of a field line, or CR of the empty line
	stName                          // field-name
	stOWS                           // OWS after ":"
	stValue                         // field-value
	stValueLF                       // CR in/after a field value
	stEndLF                         // CR of the empty line that ends the head
	stBodyCL                        // Content-Length body
	stChunkSize                     // chunk-size
	stChunkBWS                      // BWS after chunk-size
	stExtPreName                    // chunk-ext: before a name
	stExtName                       // chunk-ext-name
	stExtPostName                   // BWS after a chunk-ext-name
	stExtPreVal                     // after "=" (BWS)
	stExtTok                        // token chunk-ext-val
	stExtQuoted                     // quoted-string chunk-ext-val
	stExtQuotedPair                 // "\" inside the quoted string
	stExtAfterQuote                 // closing DQUOTE seen
	stExtPostVal                    // BWS after a chunk-ext-val
	stChunkSizeLF                   // CR ending the chunk-size line
	stChunkData                     // chunk-data
	stChunkDataCR                   // CRLF after chunk-data: CR
	stChunkDataLF                   // CRLF after chunk-data: LF
	stTrailerStart                  // start of a trailer field line or of the final CRLF
	stTrailerEndLF                  // CR of the final CRLF
	stPass                          // not vetting (h2c preface)
)

// inHead reports whether s is inside a request head (request line or header
// section): the span HeaderTimeout and MaxHeaderBytes apply to.
func (s vetState) inHead() bool { return s >= stMethod && s <= stEndLF }

// inBody reports whether s is inside a request body (chunked trailers
// included): the span BodyTimeout applies to.
func (s vetState) inBody() bool { return s >= stBodyCL && s <= stTrailerEndLF }

// verdict is how a feed call ended.
type verdict uint8

const (
	vOK          verdict = iota // every byte released, keep vetting
	vReject                     // stop: release only n bytes, then answer rej
	vPassthrough                // h2c preface: stop vetting, release everything
)

// h2Preface is the HTTP/2 client connection preface (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// h2PrefaceBytes is h2Preface as bytes, for replaying a partial match into
// the HTTP/1 machine without allocating. Never written to.
var h2PrefaceBytes = []byte(h2Preface)

// Method classes the vetter and the response tracker care about.
const (
	methOther uint8 = iota
	methGET
	methHEAD
	methPOST
	methCONNECT
	methOPTIONS
)

// Flags of a released request, queued until its final response is written.
const (
	reqHEAD    uint8 = 1 << iota // the response has no body (RFC 9112 §6.3 item 1)
	reqCONNECT                   // a 2xx response turns the connection into a tunnel (§6.3 item 2)
)

// Special field names (lower case) whose values the vetter parses.
const (
	fldOther uint8 = iota
	fldContentLength
	fldTransferEncoding
	fldHost
)

// Limits that are not in config.HTTPLimits, chosen below what net/http
// itself tolerates so that the vetter is never the laxer parser.
const (
	maxChunkLine   = 1024    // chunk-size line incl. extensions; Go: 4096 (internal/chunked.go maxLineLength)
	maxTrailer     = 2048    // trailer section; Go: its 4 KiB bufio (transfer.go seeUpcomingDoubleCRLF)
	maxChunkExcess = 8 << 10 // chunk overhead; Go: 16 KiB, same formula (chunkedReader.beginChunk)
	maxValue       = 256     // bytes kept of a Content-Length / Transfer-Encoding / Host value
	maxCLDigits    = 18      // Go: ParseUint(v, 10, 63)
	maxChunkSize   = 1 << 62 // keeps the running body total in int64
	maxMethod      = 64      // nothing registered comes close (RFC 9110 §16.1)
	maxVersion     = 8       // "HTTP/1.1"
	maxIPv6        = 45      // longest textual IPv6 address
	maxPort        = 5       // 65535
	maxSchemeBytes = 6       // "https" + one to notice a longer scheme
)

// limits is config.HTTPLimits resolved for the vetter.
type limits struct {
	maxHeaderBytes int
	maxHeaders     int
	maxBody        int64 // -1: unlimited
}

// rejection is a refused request: the status of the canned response and a
// fixed reason (never echoing client bytes).
type rejection struct {
	status int
	reason string
}

// vetter is the request-side state machine. The zero value is not usable:
// call init.
type vetter struct {
	lim limits
	st  vetState
	pfx uint8 // bytes of h2Preface matched so far

	// heads counts completed (released) request heads; done counts
	// requests whose head and body are both complete.
	heads uint64
	done  uint64
	// headStarted is set when a new head begins; the connection clears it
	// after noting the time (HeaderTimeout runs from the first byte).
	headStarted bool
	// bodyStarted is set when a body begins (BodyTimeout's minimum rate
	// runs from there); bodyBytes counts its payload so far.
	bodyStarted bool
	bodyBytes   int64
	afterPost   bool // previous request was a POST: one CRLF may precede the next
	lastPost    bool

	// Current head.
	headLen   int
	nFields   int
	method    uint8
	mbuf      [7]byte
	mlen      int
	scheme    [maxSchemeBytes]byte
	slen      int
	hostLen   int
	hostDot   bool // previous host byte was "."
	ip6       [maxIPv6]byte
	ip6len    int
	portLen   int
	port      int
	vbuf      [maxVersion]byte
	vlen      int
	http10    bool
	hostCount int
	hasCL     bool
	cl        int64
	teLines   int
	teCodings int
	teChunked int
	teLast    bool // last coding seen is chunked
	teBad     bool // a coding that is not a plain token

	// Current field line.
	name    [17]byte // "transfer-encoding" is the longest special name
	nlen    int
	field   uint8
	val     [maxValue]byte
	vallen  int
	valTrim int // vallen without trailing OWS

	// Body.
	remain     int64
	bodyLen    int64
	chunkLine  int
	chunkDigit int
	chunkSize  uint64
	excess     int64
	trailerLen int
	inTrailer  bool

	rej rejection
}

func (v *vetter) init(lim limits, h2c bool) {
	*v = vetter{lim: lim, st: stIdle}
	if h2c {
		v.st = stPreface
	}
}

// inHead reports whether the vetter is inside a request head (not a
// trailer section, which reuses the field states).
func (v *vetter) inHead() bool { return v.st.inHead() && !v.inTrailer }

// inBody reports whether the vetter is inside a request body, trailers
// included.
func (v *vetter) inBody() bool { return v.st.inBody() || v.inTrailer }

// current is the index (0-based, in arrival order) of the request the
// vetter is inside: the next head, or the head whose body it is reading.
func (v *vetter) current() uint64 {
	if v.inBody() {
		return v.heads - 1
	}
	return v.heads
}

func (v *vetter) fail(status int, reason string) verdict {
	v.rej = rejection{status: status, reason: reason}
	return vReject
}

// Character classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar).
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// valueByte: a field-value byte that needs no attention (RFC 9110 §5.5
// field-vchar, SP, HTAB); pathByte / queryByte: request-target bytes that
// end nothing and need no check. They let the hot states skip in bulk.
var valueByte, pathByte, queryByte = func() (v, p, q [256]bool) {
	for c := range 256 {
		ok := c > 0x20 && c != 0x7f
		v[c] = ok || c == ' ' || c == '\t'
		q[c] = ok && c != '#'
		p[c] = q[c] && c != '?' && c != '%'
	}
	return v, p, q
}()

// skip returns the end of the run of class bytes starting at b[i] (which
// is in class and already counted), counting the rest of the run into the
// head size, but never past the byte that would exceed MaxHeaderBytes, so
// that one is seen, and refused, by the main loop.
func (v *vetter) skip(b []byte, i int, class *[256]bool) int {
	end := min(len(b), i+1+v.lim.maxHeaderBytes-v.headLen)
	j := i + 1
	for j < end && class[b[j]] {
		j++
	}
	v.headLen += j - i - 1
	return j
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
}

func hexVal(c byte) uint64 {
	if c <= '9' {
		return uint64(c - '0')
	}
	return uint64(c|0x20-'a') + 10
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c | 0x20
	}
	return c
}

// fieldVChar reports a byte allowed inside a field value other than SP/HTAB
// (VCHAR and obs-text, RFC 9110 §5.5).
func fieldVChar(c byte) bool { return c > 0x20 && c != 0x7f }

// feed vets b, the next bytes of the stream. It returns how many leading
// bytes of b may be released and how vetting ended. heads completing in b
// are pushed on q.
func (v *vetter) feed(b []byte, q *reqQueue) (int, verdict) {
	i := 0
	counted := -1 // a byte reprocessed after a state change is counted once
	for i < len(b) {
		c := b[i]
		if v.inTrailer {
			if i != counted {
				counted = i
				v.trailerLen++
				if v.trailerLen > maxTrailer {
					return i, v.fail(431, "chunked trailer section too large")
				}
			}
		} else if v.st.inHead() {
			if i != counted {
				counted = i
				v.headLen++
				if v.headLen > v.lim.maxHeaderBytes {
					if v.st >= stTargetFirst && v.st <= stQuery {
						return i, v.fail(414, "request-target too long")
					}
					return i, v.fail(431, "request head too large")
				}
			}
		}
		switch v.st {
		case stPreface:
			if c == h2Preface[v.pfx] {
				v.pfx++
				i++
				if int(v.pfx) == len(h2Preface) {
					v.st = stPass
					return len(b), vPassthrough
				}
				continue
			}
			// Not HTTP/2: vet what matched as HTTP/1, from the start.
			v.st = stIdle
			matched := int(v.pfx)
			if matched > 0 {
				// The matched bytes are h2Preface[:matched]; the last i of
				// them are b[:i].
				if n, vd := v.feed(h2PrefaceBytes[:matched], q); vd != vOK {
					return max(0, n-(matched-i)), vd
				}
			}
			continue

		case stIdle:
			if c == '\r' && v.afterPost {
				// RFC 9112 §2.2 lets a server skip empty lines before a
				// request line; net/http does so only after a POST
				// (server.go readRequest, "tolerance for old buggy
				// clients"), so do the same, one CRLF at most.
				v.afterPost = false
				v.st = stIdleLF
				i++
				continue
			}
			v.afterPost = false
			v.startHead()
			continue // reprocess c as the first byte of the method

		case stIdleLF:
			if c != '\n' {
				return i, v.fail(400, "bare CR before the request line")
			}
			v.st = stIdle
			i++
			continue

		case stMethod:
			switch {
			case tchar[c]:
				if v.mlen < len(v.mbuf) {
					v.mbuf[v.mlen] = c
				}
				v.mlen++
				if v.mlen > maxMethod {
					return i, v.fail(400, "method too long")
				}
			case c == ' ' && v.mlen > 0:
				v.method = classifyMethod(v.mbuf[:min(v.mlen, len(v.mbuf))], v.mlen)
				v.st = stTargetFirst
			default:
				return i, v.fail(400, "invalid request line")
			}

		case stTargetFirst:
			switch {
			case v.method == methCONNECT:
				// RFC 9112 §3.2.3: CONNECT takes the authority-form only,
				// and it needs a port (HAProxy h1_request_target_validation.vtc).
				if c == '/' || c == '*' {
					return i, v.fail(400, "CONNECT needs an authority-form target")
				}
				v.st = stHost
				continue
			case c == '/':
				v.st = stPath
			case c == '*':
				// RFC 9112 §3.2.4: asterisk-form is for OPTIONS only.
				if v.method != methOPTIONS {
					return i, v.fail(400, "asterisk-form target without OPTIONS")
				}
				v.st = stAsterisk
			case c|0x20 >= 'a' && c|0x20 <= 'z':
				v.st = stScheme
				continue
			default:
				return i, v.fail(400, "invalid request-target")
			}

		case stAsterisk:
			if c != ' ' {
				return i, v.fail(400, "invalid request-target")
			}
			v.st = stVersion

		case stScheme:
			switch {
			case c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.':
				if v.slen == len(v.scheme) {
					return i, v.fail(400, "absolute-form target with a scheme other than http or https")
				}
				v.scheme[v.slen] = lower(c)
				v.slen++
			case c == ':':
				if s := string(v.scheme[:v.slen]); s != "http" && s != "https" {
					return i, v.fail(400, "absolute-form target with a scheme other than http or https")
				}
				v.st = stSlash1
			default:
				return i, v.fail(400, "invalid request-target")
			}

		case stSlash1, stSlash2:
			if c != '/' {
				return i, v.fail(400, "absolute-form target without an authority")
			}
			if v.st == stSlash1 {
				v.st = stSlash2
			} else {
				v.st = stHost
			}

		case stHost:
			switch {
			case c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || c == '-':
				v.hostLen++
				v.hostDot = false
			case c == '.':
				// nginx ngx_http_validate_host refuses "..".
				if v.hostDot || v.hostLen == 0 {
					return i, v.fail(400, "invalid host in request-target")
				}
				v.hostLen++
				v.hostDot = true
			case c == '[' && v.hostLen == 0:
				v.st = stIPv6
			case c == ':' && v.hostLen > 0:
				v.st = stPort
			case c == '@':
				// RFC 9110 §4.2.4: userinfo in an http(s) URI is deprecated
				// and a classic confusion vector; refuse it.
				return i, v.fail(400, "userinfo in request-target")
			default:
				if v.hostLen == 0 {
					return i, v.fail(400, "empty host in request-target")
				}
				if vd := v.afterAuthority(c); vd != vOK {
					return i, vd
				}
			}

		case stIPv6:
			switch {
			case isHex(c) || c == ':' || c == '.':
				if v.ip6len == len(v.ip6) {
					return i, v.fail(400, "invalid IP literal in request-target")
				}
				v.ip6[v.ip6len] = c
				v.ip6len++
			case c == ']':
				a, err := netip.ParseAddr(string(v.ip6[:v.ip6len]))
				if err != nil || !a.Is6() || a.Zone() != "" {
					return i, v.fail(400, "invalid IP literal in request-target")
				}
				v.st = stAfterIPv6
			default:
				return i, v.fail(400, "invalid IP literal in request-target")
			}

		case stAfterIPv6:
			if c == ':' {
				v.st = stPort
				break
			}
			if vd := v.afterAuthority(c); vd != vOK {
				return i, vd
			}

		case stPort:
			if c >= '0' && c <= '9' {
				v.portLen++
				v.port = v.port*10 + int(c-'0')
				if v.portLen > maxPort || v.port > 65535 {
					return i, v.fail(400, "invalid port in request-target")
				}
				break
			}
			if vd := v.afterAuthority(c); vd != vOK {
				return i, vd
			}

		case stPath:
			if pathByte[c] {
				i = v.skip(b, i, &pathByte)
				continue
			}
			switch {
			case c == ' ':
				v.st = stVersion
			case c == '?':
				v.st = stQuery
			case c == '%':
				// net/url (and nginx's complex-URI parser) refuse a
				// malformed escape in the path.
				v.st = stPathPct1
			case c == '#':
				// RFC 9112 §3.2: a request-target carries no fragment.
				return i, v.fail(400, "fragment in request-target")
			case c < 0x20 || c == 0x7f:
				return i, v.fail(400, "control character in request-target")
			}

		case stPathPct1, stPathPct2:
			if !isHex(c) {
				return i, v.fail(400, "invalid percent-encoding in request-target")
			}
			if v.st == stPathPct1 {
				v.st = stPathPct2
			} else {
				v.st = stPath
			}

		case stQuery:
			if queryByte[c] {
				i = v.skip(b, i, &queryByte)
				continue
			}
			switch {
			case c == ' ':
				v.st = stVersion
			case c == '#':
				return i, v.fail(400, "fragment in request-target")
			case c < 0x20 || c == 0x7f:
				return i, v.fail(400, "control character in request-target")
			}

		case stVersion:
			switch {
			case c == '\r':
				if vd := v.checkVersion(); vd != vOK {
					return i, vd
				}
				v.st = stReqLF
			case v.vlen < len(v.vbuf) && c > 0x20 && c < 0x7f:
				v.vbuf[v.vlen] = c
				v.vlen++
			case c == '\n':
				return i, v.fail(400, "bare LF in request line")
			default:
				// Extra SP, a control character, or too long: HTTP/0.9
				// and "GET /a b HTTP/1.1" both end up here.
				return i, v.fail(400, "invalid request line")
			}

		case stReqLF:
			if c != '\n' {
				return i, v.fail(400, "bare CR in request line")
			}
			v.st = stLineStart

		case stLineStart, stTrailerStart:
			switch {
			case c == '\r':
				if v.st == stLineStart {
					v.st = stEndLF
				} else {
					v.st = stTrailerEndLF
				}
			case c == ' ' || c == '\t':
				// RFC 9112 §5.2 obs-fold, and §2.2 whitespace between the
				// start-line and the first field: both may be rejected.
				return i, v.fail(400, "obsolete line folding")
			case c == '\n':
				return i, v.fail(400, "bare LF in header section")
			case tchar[c]:
				v.nFields++
				if v.nFields > v.lim.maxHeaders {
					if v.inTrailer {
						return i, v.fail(431, "too many trailer fields")
					}
					return i, v.fail(431, "too many header fields")
				}
				v.nlen = 0
				v.field = fldOther
				v.st = stName
				continue
			default:
				return i, v.fail(400, "invalid field name")
			}

		case stName:
			switch {
			case tchar[c]:
				if v.nlen < len(v.name) {
					v.name[v.nlen] = lower(c)
				}
				v.nlen++
			case c == ':':
				if !v.inTrailer {
					v.field = classifyField(v.name[:min(v.nlen, len(v.name))], v.nlen)
				}
				v.vallen, v.valTrim = 0, 0
				v.st = stOWS
			default:
				// Includes "Name : value": RFC 9112 §5.1 says MUST reject.
				return i, v.fail(400, "invalid field name")
			}

		case stOWS:
			if c == ' ' || c == '\t' {
				break
			}
			v.st = stValue
			continue

		case stValue:
			if v.field == fldOther && !v.inTrailer && valueByte[c] {
				i = v.skip(b, i, &valueByte)
				continue
			}
			switch {
			case c == '\r':
				v.st = stValueLF
			case c == ' ' || c == '\t' || fieldVChar(c):
				if v.field != fldOther {
					if v.vallen == len(v.val) {
						return i, v.fail(400, "framing header value too long")
					}
					v.val[v.vallen] = c
					v.vallen++
					if c != ' ' && c != '\t' {
						v.valTrim = v.vallen
					}
				}
			case c == '\n':
				return i, v.fail(400, "bare LF in header section")
			default:
				return i, v.fail(400, "control character in field value")
			}

		case stValueLF:
			if c != '\n' {
				return i, v.fail(400, "bare CR in field value")
			}
			if vd := v.endField(); vd != vOK {
				return i, vd
			}
			if v.inTrailer {
				v.st = stTrailerStart
			} else {
				v.st = stLineStart
			}

		case stEndLF:
			if c != '\n' {
				return i, v.fail(400, "bare CR in header section")
			}
			if vd := v.endHead(q); vd != vOK {
				return i, vd
			}

		case stBodyCL:
			n := int64(len(b) - i)
			if n > v.remain {
				n = v.remain
			}
			v.remain -= n
			v.bodyBytes += n
			i += int(n)
			if v.remain == 0 {
				v.endBody()
			}
			continue

		case stChunkSize:
			v.chunkLine++
			switch {
			case isHex(c):
				v.chunkDigit++
				if v.chunkDigit > 16 {
					return i, v.fail(400, "chunk size too large")
				}
				v.chunkSize = v.chunkSize<<4 | hexVal(c)
			case v.chunkDigit == 0:
				return i, v.fail(400, "invalid chunk size")
			case c == '\r':
				v.st = stChunkSizeLF
			case c == ';':
				v.st = stExtPreName
			case c == ' ' || c == '\t':
				v.st = stChunkBWS
			default:
				return i, v.fail(400, "invalid chunk size")
			}
			if v.chunkLine > maxChunkLine {
				return i, v.fail(400, "chunk size line too long")
			}

		case stChunkBWS, stExtPreName, stExtName, stExtPostName, stExtPreVal,
			stExtTok, stExtQuoted, stExtQuotedPair, stExtAfterQuote, stExtPostVal:
			v.chunkLine++
			if v.chunkLine > maxChunkLine {
				return i, v.fail(400, "chunk size line too long")
			}
			if vd := v.chunkExt(c); vd != vOK {
				return i, vd
			}

		case stChunkSizeLF:
			if c != '\n' {
				return i, v.fail(400, "bare CR in chunk size line")
			}
			if vd := v.endChunkLine(); vd != vOK {
				return i, vd
			}

		case stChunkData:
			n := int64(len(b) - i)
			if n > v.remain {
				n = v.remain
			}
			v.remain -= n
			v.bodyBytes += n
			i += int(n)
			if v.remain == 0 {
				v.st = stChunkDataCR
			}
			continue

		case stChunkDataCR:
			if c != '\r' {
				return i, v.fail(400, "chunk data not followed by CRLF")
			}
			v.st = stChunkDataLF

		case stChunkDataLF:
			if c != '\n' {
				return i, v.fail(400, "chunk data not followed by CRLF")
			}
			v.chunkLine, v.chunkDigit, v.chunkSize = 0, 0, 0
			v.st = stChunkSize

		case stTrailerEndLF:
			if c != '\n' {
				return i, v.fail(400, "bare CR in trailer section")
			}
			v.endBody()

		case stPass:
			return len(b), vPassthrough
		}
		i++
	}
	return i, vOK
}

func (v *vetter) startHead() {
	v.headStarted = true
	v.st = stMethod
	v.headLen = 0
	v.nFields = 0
	v.method = methOther
	v.mlen = 0
	v.slen = 0
	v.hostLen, v.hostDot = 0, false
	v.ip6len = 0
	v.portLen, v.port = 0, 0
	v.vlen = 0
	v.http10 = false
	v.hostCount = 0
	v.hasCL, v.cl = false, 0
	v.teLines, v.teCodings, v.teChunked, v.teLast, v.teBad = 0, 0, 0, false, false
	v.inTrailer = false
}

func classifyMethod(m []byte, n int) uint8 {
	if n != len(m) {
		return methOther
	}
	switch string(m) {
	case "GET":
		return methGET
	case "HEAD":
		return methHEAD
	case "POST":
		return methPOST
	case "CONNECT":
		return methCONNECT
	case "OPTIONS":
		return methOPTIONS
	}
	return methOther
}

func classifyField(name []byte, n int) uint8 {
	if n > len(name) {
		return fldOther
	}
	switch string(name) {
	case "content-length":
		return fldContentLength
	case "transfer-encoding":
		return fldTransferEncoding
	case "host":
		return fldHost
	}
	return fldOther
}

// afterAuthority handles the byte that ends the authority of an absolute-
// or authority-form target.
func (v *vetter) afterAuthority(c byte) verdict {
	if v.method == methCONNECT {
		// RFC 9112 §3.2.3: authority-form is uri-host ":" port.
		if c != ' ' || v.st != stPort || v.portLen == 0 {
			return v.fail(400, "CONNECT target needs host:port")
		}
		v.st = stVersion
		return vOK
	}
	switch c {
	case '/':
		v.st = stPath
	case '?':
		v.st = stQuery
	case ' ':
		v.st = stVersion
	default:
		return v.fail(400, "invalid host in request-target")
	}
	return vOK
}

// checkVersion validates HTTP-version (RFC 9112 §2.3) at the CR that ends
// the request line.
func (v *vetter) checkVersion() verdict {
	b := v.vbuf[:v.vlen]
	if v.vlen != maxVersion || string(b[:5]) != "HTTP/" || b[5] < '0' || b[5] > '9' || b[6] != '.' || b[7] < '0' || b[7] > '9' {
		return v.fail(400, "invalid HTTP version")
	}
	if b[5] != '1' {
		// net/http: http1ServerSupportsRequest.
		return v.fail(505, "HTTP version not supported")
	}
	v.http10 = b[7] == '0'
	return vOK
}

// endField processes a complete field line (its LF not yet released).
func (v *vetter) endField() verdict {
	val := v.val[:v.valTrim]
	switch v.field {
	case fldContentLength:
		// RFC 9112 §6.3 item 5: a list or repeated Content-Length may be
		// collapsed when the values agree; refuse it instead (nginx
		// ngx_http_process_unique_header_line: duplicate → 400).
		if v.hasCL {
			return v.fail(400, "duplicate Content-Length")
		}
		if len(val) == 0 || len(val) > maxCLDigits {
			return v.fail(400, "invalid Content-Length")
		}
		var n int64
		for _, c := range val {
			if c < '0' || c > '9' {
				return v.fail(400, "invalid Content-Length")
			}
			n = n*10 + int64(c-'0')
		}
		v.hasCL, v.cl = true, n
	case fldTransferEncoding:
		v.teLines++
		v.parseTE(val)
	case fldHost:
		v.hostCount++
		if v.hostCount > 1 {
			// RFC 9112 §3.2: more than one Host field line → 400.
			return v.fail(400, "duplicate Host")
		}
		if !validHost(val) {
			return v.fail(400, "invalid Host")
		}
	}
	return vOK
}

// parseTE adds one Transfer-Encoding field line's codings (a #rule list of
// transfer-coding, RFC 9112 §6.1) to the head's tally.
func (v *vetter) parseTE(val []byte) {
	start := 0
	for j := 0; j <= len(val); j++ {
		if j < len(val) && val[j] != ',' {
			continue
		}
		elem := trimOWS(val[start:j])
		start = j + 1
		if len(elem) == 0 {
			// Empty list elements are legal (RFC 9110 §5.6.1) but make the
			// value something net/http would not take as "chunked".
			v.teBad = true
			continue
		}
		v.teCodings++
		tok := true
		for _, c := range elem {
			if !tchar[c] {
				tok = false
				break
			}
		}
		if !tok {
			v.teBad = true
		}
		chunked := len(elem) == 7 && asciiEqualFold(elem, "chunked")
		if chunked {
			v.teChunked++
		}
		v.teLast = chunked
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// validHost checks a Host field value: uri-host [":" port] (RFC 9110 §7.2)
// with reg-name limited to letters, digits, "-", "_" and single dots (as
// nginx ngx_http_validate_host: no "..", no "/"), or an IPv6 literal.
// An empty value is refused: RFC 9112 §3.2 allows it only for a target URI
// without an authority, which http and https URIs never are (nginx: 400).
func validHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	i := 0
	if h[0] == '[' {
		end := -1
		for j := 1; j < len(h); j++ {
			if h[j] == ']' {
				end = j
				break
			}
		}
		if end < 0 {
			return false
		}
		a, err := netip.ParseAddr(string(h[1:end]))
		if err != nil || !a.Is6() || a.Zone() != "" {
			return false
		}
		i = end + 1
	} else {
		dot := false
		for ; i < len(h) && h[i] != ':'; i++ {
			c := h[i]
			switch {
			case c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_':
				dot = false
			case c == '.':
				if dot || i == 0 {
					return false
				}
				dot = true
			default:
				return false
			}
		}
		if i == 0 {
			return false
		}
	}
	if i == len(h) {
		return true
	}
	if h[i] != ':' {
		return false
	}
	port := h[i+1:]
	if len(port) > maxPort {
		return false
	}
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// endHead runs the checks that need the whole head, at the LF of the empty
// line, and sets up body framing (RFC 9112 §6.3).
func (v *vetter) endHead(q *reqQueue) verdict {
	if !v.http10 && v.hostCount == 0 {
		return v.fail(400, "missing Host")
	}
	switch {
	case v.teLines > 0:
		switch {
		case v.http10:
			// RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the
			// framing is faulty (nginx: 400).
			return v.fail(400, "Transfer-Encoding in HTTP/1.0")
		case v.hasCL:
			// RFC 9112 §6.1 lets a server either reject or use TE and
			// close; like nginx (ngx_http_process_request_header since
			// 1.21.1) reject, so the pair never reaches net/http, which
			// would keep the connection open.
			return v.fail(400, "both Content-Length and Transfer-Encoding")
		case v.teLines > 1:
			// nginx treats Transfer-Encoding as a unique header
			// (duplicate line → 400); net/http refuses it too (501).
			return v.fail(400, "duplicate Transfer-Encoding")
		case v.teBad || v.teChunked != 1 || !v.teLast:
			// §6.3 item 4: chunked not final (or twice, §7.1) → 400.
			return v.fail(400, "Transfer-Encoding without a single final chunked")
		case v.teCodings > 1:
			// Another coding before chunked: valid syntax, not
			// implemented (RFC 9112 §6.1 SHOULD 501; net/http and nginx
			// answer 501 as well).
			return v.fail(501, "unsupported transfer coding")
		}
		v.st = stChunkSize
		v.chunkLine, v.chunkDigit, v.chunkSize = 0, 0, 0
		v.bodyLen, v.excess = 0, 0
		v.bodyStarted, v.bodyBytes = true, 0
	case v.hasCL:
		if v.lim.maxBody >= 0 && v.cl > v.lim.maxBody {
			// nginx client_max_body_size: 413 before reading the body.
			return v.fail(413, "request body too large")
		}
		if v.cl > 0 {
			v.st = stBodyCL
			v.remain = v.cl
			v.bodyStarted, v.bodyBytes = true, 0
		} else {
			v.st = stIdle
		}
	default:
		v.st = stIdle
	}
	var f uint8
	switch v.method {
	case methHEAD:
		f = reqHEAD
	case methCONNECT:
		f = reqCONNECT
	}
	q.push(f)
	v.heads++
	v.lastPost = v.method == methPOST
	if v.st == stIdle {
		v.afterPost = v.lastPost
		v.done++
	}
	return vOK
}

func (v *vetter) endBody() {
	v.done++
	v.st = stIdle
	v.inTrailer = false
	v.afterPost = v.lastPost
}

// endChunkLine finishes a chunk-size line (at its LF).
func (v *vetter) endChunkLine() verdict {
	size := v.chunkSize
	if size > maxChunkSize {
		return v.fail(400, "chunk size too large")
	}
	// net/http counts non-data bytes against data and gives up past a
	// threshold (internal/chunked.go beginChunk); same formula, lower cap.
	v.excess += int64(v.chunkLine-1) + 2 // line without CRLF, plus the CRLF after the data
	v.excess -= 16 + 2*int64(size)
	if v.excess < 0 {
		v.excess = 0
	}
	if v.excess > maxChunkExcess {
		return v.fail(400, "too much chunk overhead")
	}
	v.bodyLen += int64(size)
	if v.lim.maxBody >= 0 && v.bodyLen > v.lim.maxBody {
		return v.fail(413, "request body too large")
	}
	if size == 0 {
		v.st = stTrailerStart
		v.inTrailer = true
		v.trailerLen = 0
		v.nFields = 0
		return vOK
	}
	v.remain = int64(size)
	v.st = stChunkData
	return vOK
}

// chunkExt runs the chunk-ext grammar of RFC 9112 §7.1.1:
//
//	chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//
// net/http only cuts at the first ";"; being exact here costs nothing.
func (v *vetter) chunkExt(c byte) verdict {
	ws := c == ' ' || c == '\t'
	switch v.st {
	case stChunkBWS:
		switch {
		case ws:
		case c == ';':
			v.st = stExtPreName
		default:
			return v.fail(400, "invalid chunk size")
		}
	case stExtPreName:
		switch {
		case ws:
		case tchar[c]:
			v.st = stExtName
		default:
			return v.fail(400, "invalid chunk extension")
		}
	case stExtName:
		switch {
		case tchar[c]:
		case ws:
			v.st = stExtPostName
		case c == '=':
			v.st = stExtPreVal
		case c == ';':
			v.st = stExtPreName
		case c == '\r':
			v.st = stChunkSizeLF
		default:
			return v.fail(400, "invalid chunk extension")
		}
	case stExtPostName:
		switch {
		case ws:
		case c == '=':
			v.st = stExtPreVal
		case c == ';':
			v.st = stExtPreName
		default:
			return v.fail(400, "invalid chunk extension")
		}
	case stExtPreVal:
		switch {
		case ws:
		case c == '"':
			v.st = stExtQuoted
		case tchar[c]:
			v.st = stExtTok
		default:
			return v.fail(400, "invalid chunk extension")
		}
	case stExtTok:
		switch {
		case tchar[c]:
		case ws:
			v.st = stExtPostVal
		case c == ';':
			v.st = stExtPreName
		case c == '\r':
			v.st = stChunkSizeLF
		default:
			return v.fail(400, "invalid chunk extension")
		}
	case stExtQuoted:
		switch {
		case c == '"':
			v.st = stExtAfterQuote
		case c == '\\':
			v.st = stExtQuotedPair
		case c == '\t' || c == ' ' || c == 0x21 || c >= 0x23 && c != 0x7f:
			// qdtext (RFC 9110 §5.6.4)
		default:
			return v.fail(400, "invalid chunk extension")
		}
	case stExtQuotedPair:
		if c != '\t' && (c < 0x20 || c == 0x7f) {
			return v.fail(400, "invalid chunk extension")
		}
		v.st = stExtQuoted
	case stExtAfterQuote:
		switch {
		case c == '\r':
			v.st = stChunkSizeLF
		case ws:
			v.st = stExtPostVal
		case c == ';':
			v.st = stExtPreName
		default:
			return v.fail(400, "invalid chunk extension")
		}
	case stExtPostVal:
		switch {
		case ws:
		case c == ';':
			v.st = stExtPreName
		default:
			return v.fail(400, "invalid chunk extension")
		}
	}
	return vOK
}

// reqQueue holds the flags of released requests whose final response has
// not been written yet, oldest first. Its length is bounded by what
// net/http has read but not answered: a few KiB of pipelined heads.
type reqQueue struct {
	buf   []uint8
	head  int
	small [16]uint8
}

func (q *reqQueue) push(f uint8) {
	if q.buf == nil {
		q.buf = q.small[:0]
	}
	q.buf = append(q.buf, f)
}

func (q *reqQueue) len() int { return len(q.buf) - q.head }

func (q *reqQueue) front() (uint8, bool) {
	if q.head == len(q.buf) {
		return 0, false
	}
	return q.buf[q.head], true
}

func (q *reqQueue) pop() {
	if q.head < len(q.buf) {
		q.head++
	}
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	}
}
