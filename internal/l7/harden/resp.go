package harden

// The response-side tracker follows the framing of what net/http writes
// back (RFC 9112 §6.3), so the connection knows, for the request the vetter
// refuses, whether its response has started (then a canned error would
// corrupt it: close instead) and when a 101 (or a 2xx to CONNECT) turns the
// connection into a tunnel that must no longer be vetted. net/http writes
// well-formed responses; anything else (a hijacked handler writing its own
// bytes) makes the tracker give up ("opaque"), after which refusals close
// the connection without a canned response.

type respState uint8

const (
	tsIdle         respState = iota // expecting the status line of the next response
	tsStatus                        // "HTTP/1.x NNN"
	tsReason                        // rest of the status line
	tsStatusLF                      // CR ending the status line
	tsLineStart                     // start of a field line or of the empty line
	tsName                          // field-name
	tsValue                         // field-value
	tsValueLF                       // CR ending a field line
	tsEndLF                         // CR of the empty line
	tsBodyCL                        // Content-Length body
	tsChunkSize                     // chunk-size (extensions skipped to the CR)
	tsChunkSizeLF                   // LF of a chunk-size line
	tsChunkData                     // chunk-data
	tsChunkDataCR                   // CR after chunk-data
	tsChunkDataLF                   // LF after chunk-data
	tsTrailerStart                  // start of a trailer line or of the final CRLF
	tsTrailerLine                   // inside a trailer line
	tsTrailerLF                     // LF of a trailer line
	tsTrailerEndLF                  // LF of the final CRLF
	tsOpaque                        // lost track (close-delimited body, or not HTTP)
	tsTunnel                        // 101 or CONNECT 2xx written: the stream is no longer HTTP/1
)

// tracker is the response-side state machine.
type tracker struct {
	st   respState
	done uint64 // final responses completed

	pos    int // bytes of "HTTP/1.x NNN" seen
	code   int
	name   [17]byte
	nlen   int
	fld    uint8
	val    [24]byte
	vlen   int
	hasCL  bool
	cl     int64
	clBad  bool
	chunk  bool
	remain int64
	digits int
	size   uint64
}

// started reports whether the response to the oldest unanswered request
// has begun (bytes of it, or of a 1xx before it, were written).
func (t *tracker) started() bool { return t.st != tsIdle }

// scan follows b, the next bytes written to the client. q holds the
// requests released so far; their responses come in the same order.
func (t *tracker) scan(b []byte, q *reqQueue) {
	for i := 0; i < len(b); {
		c := b[i]
		switch t.st {
		case tsOpaque, tsTunnel:
			return
		case tsIdle:
			if q.len() == 0 {
				// A response to no released request: net/http refusing a
				// head itself (it then closes), or a hijacker's bytes.
				t.st = tsOpaque
				return
			}
			t.st = tsStatus
			t.pos, t.code = 0, 0
			t.hasCL, t.cl, t.clBad, t.chunk = false, 0, false, false
			continue
		case tsStatus:
			const proto = "HTTP/1."
			switch {
			case t.pos < len(proto):
				if c != proto[t.pos] {
					t.st = tsOpaque
					return
				}
			case t.pos == len(proto):
				if c != '0' && c != '1' {
					t.st = tsOpaque
					return
				}
			case t.pos == len(proto)+1:
				if c != ' ' {
					t.st = tsOpaque
					return
				}
			default:
				if c < '0' || c > '9' {
					t.st = tsOpaque
					return
				}
				t.code = t.code*10 + int(c-'0')
				if t.pos == len(proto)+4 {
					t.st = tsReason
				}
			}
			t.pos++
		case tsReason:
			switch c {
			case '\r':
				t.st = tsStatusLF
			case '\n':
				// net/http always writes CRLF; anything else is not
				// net/http's output.
				t.st = tsOpaque
				return
			}
		case tsStatusLF, tsValueLF:
			if c != '\n' {
				t.st = tsOpaque
				return
			}
			if t.st == tsValueLF {
				t.endField()
			}
			t.st = tsLineStart
		case tsLineStart:
			if c == '\r' {
				t.st = tsEndLF
				break
			}
			t.nlen, t.vlen, t.fld = 0, 0, fldOther
			t.st = tsName
			continue
		case tsName:
			switch {
			case c == ':':
				t.fld = classifyField(t.name[:min(t.nlen, len(t.name))], t.nlen)
				t.st = tsValue
			case c == '\r' || c == '\n':
				t.st = tsOpaque
				return
			default:
				if t.nlen < len(t.name) {
					t.name[t.nlen] = lower(c)
				}
				t.nlen++
			}
		case tsValue:
			switch {
			case c == '\r':
				t.st = tsValueLF
			case c == '\n':
				t.st = tsOpaque
				return
			case c == ' ' || c == '\t':
			default:
				if t.fld != fldOther {
					if t.vlen == len(t.val) {
						t.st = tsOpaque
						return
					}
					t.val[t.vlen] = lower(c)
					t.vlen++
				}
			}
		case tsEndLF:
			if c != '\n' {
				t.st = tsOpaque
				return
			}
			t.endHead(q)
		case tsBodyCL:
			n := int64(len(b) - i)
			if n > t.remain {
				n = t.remain
			}
			t.remain -= n
			i += int(n)
			if t.remain == 0 {
				t.finish(q)
			}
			continue
		case tsChunkSize:
			switch {
			case c == '\r':
				if t.digits == 0 {
					t.st = tsOpaque
					return
				}
				t.st = tsChunkSizeLF
			case t.digits >= 0 && isHex(c):
				if t.digits == 16 {
					t.st = tsOpaque
					return
				}
				t.digits++
				t.size = t.size<<4 | hexVal(c)
			case t.digits > 0:
				t.digits = -t.digits // extension: skip to CR
			case t.digits < 0:
			default:
				t.st = tsOpaque
				return
			}
		case tsChunkSizeLF:
			if c != '\n' {
				t.st = tsOpaque
				return
			}
			if t.size == 0 {
				t.st = tsTrailerStart
				break
			}
			if t.size > maxChunkSize {
				t.st = tsOpaque
				return
			}
			t.remain = int64(t.size)
			t.st = tsChunkData
		case tsChunkData:
			n := int64(len(b) - i)
			if n > t.remain {
				n = t.remain
			}
			t.remain -= n
			i += int(n)
			if t.remain == 0 {
				t.st = tsChunkDataCR
			}
			continue
		case tsChunkDataCR:
			if c != '\r' {
				t.st = tsOpaque
				return
			}
			t.st = tsChunkDataLF
		case tsChunkDataLF:
			if c != '\n' {
				t.st = tsOpaque
				return
			}
			t.digits, t.size = 0, 0
			t.st = tsChunkSize
		case tsTrailerStart:
			switch c {
			case '\r':
				t.st = tsTrailerEndLF
			case '\n':
				t.st = tsOpaque
				return
			default:
				t.st = tsTrailerLine
			}
		case tsTrailerLine:
			switch c {
			case '\r':
				t.st = tsTrailerLF
			case '\n':
				t.st = tsOpaque
				return
			}
		case tsTrailerLF:
			if c != '\n' {
				t.st = tsOpaque
				return
			}
			t.st = tsTrailerStart
		case tsTrailerEndLF:
			if c != '\n' {
				t.st = tsOpaque
				return
			}
			t.finish(q)
		}
		i++
	}
}

func (t *tracker) endField() {
	v := t.val[:t.vlen]
	switch t.fld {
	case fldContentLength:
		if t.hasCL || len(v) == 0 || len(v) > maxCLDigits {
			t.clBad = true
			return
		}
		var n int64
		for _, c := range v {
			if c < '0' || c > '9' {
				t.clBad = true
				return
			}
			n = n*10 + int64(c-'0')
		}
		t.hasCL, t.cl = true, n
	case fldTransferEncoding:
		// net/http only ever writes "chunked"; anything else is opaque.
		if string(v) == "chunked" {
			t.chunk = true
		} else {
			t.clBad = true
		}
	}
}

// endHead decides the body of a response whose head just ended
// (RFC 9112 §6.3 items 1, 2, 4, 6, 7).
func (t *tracker) endHead(q *reqQueue) {
	f, _ := q.front()
	switch {
	case t.code == 101:
		t.st = tsTunnel
	case t.code >= 100 && t.code < 200:
		// Interim response (100 Continue, 103 Early Hints): the final one
		// follows for the same request.
		t.st = tsIdle
	case f&reqCONNECT != 0 && t.code >= 200 && t.code < 300:
		t.st = tsTunnel
	case f&reqHEAD != 0 || t.code == 204 || t.code == 304:
		t.finish(q)
	case t.clBad:
		t.st = tsOpaque
	case t.chunk:
		t.digits, t.size = 0, 0
		t.st = tsChunkSize
	case t.hasCL:
		if t.cl == 0 {
			t.finish(q)
			return
		}
		t.remain = t.cl
		t.st = tsBodyCL
	default:
		// Close-delimited: the connection ends with this response.
		t.st = tsOpaque
	}
}

func (t *tracker) finish(q *reqQueue) {
	q.pop()
	t.done++
	t.st = tsIdle
}
