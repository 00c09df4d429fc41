package l7

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Access log formats.
const (
	FormatCombined = "combined"
	FormatJSON     = "json"
)

// accessLog writes one line per request to a file or stdout.
type accessLog struct {
	cfg    config.AccessLog
	json   bool
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	bufs   sync.Pool // *[]byte line buffers
}

func openAccessLog(cfg config.AccessLog, stdout io.Writer) (*accessLog, error) {
	if cfg.Path == "" {
		return nil, nil
	}
	l := &accessLog{cfg: cfg}
	switch cfg.Format {
	case "", FormatCombined:
	case FormatJSON:
		l.json = true
	default:
		return nil, fmt.Errorf("access_log: unknown format %q", cfg.Format)
	}
	if cfg.Path == "-" {
		l.w = stdout
		return l, nil
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access_log: %w", err)
	}
	l.w, l.closer = f, f
	return l, nil
}

func (l *accessLog) close() {
	if l == nil || l.closer == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.closer.Close()
	l.w = io.Discard
}

// logEntry is what one access log line needs.
type logEntry struct {
	remoteAddr    string
	remoteUser    string
	hasUser       bool
	time          time.Time
	method        string
	uri           string
	proto         string
	status        int
	bodyBytesSent int64
	referer       string
	hasReferer    bool
	userAgent     string
	hasUserAgent  bool
	host          string
	serverName    string
	upstream      string
	upstreamAddr  string
	upstreamCode  int
	requestTime   time.Duration
}

func (l *accessLog) write(e *logEntry) {
	bp, _ := l.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := (*bp)[:0]
	if l.json {
		b = appendJSONEntry(b, e)
	} else {
		b = appendCombined(b, e)
	}
	b = append(b, '\n')
	l.mu.Lock()
	_, _ = l.w.Write(b)
	l.mu.Unlock()
	*bp = b
	l.bufs.Put(bp)
}

// appendCombined formats nginx's predefined "combined" format
// (ngx_http_log_module.c):
//
//	$remote_addr - $remote_user [$time_local] "$request" $status
//	$body_bytes_sent "$http_referer" "$http_user_agent"
//
// Variables go through ngx_http_log_escape and a variable that is not
// found prints "-"; $time_local, $status and $body_bytes_sent do not.
func appendCombined(b []byte, e *logEntry) []byte {
	b = appendLogVar(b, e.remoteAddr, true)
	b = append(b, " - "...)
	b = appendLogVar(b, e.remoteUser, e.hasUser)
	b = append(b, " ["...)
	b = e.time.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendLogEscape(b, e.method)
	b = append(b, ' ')
	b = appendLogEscape(b, e.uri)
	b = append(b, ' ')
	b = appendLogEscape(b, e.proto)
	b = append(b, "\" "...)
	b = appendStatus(b, e.status)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.bodyBytesSent, 10)
	b = append(b, " \""...)
	b = appendLogVar(b, e.referer, e.hasReferer)
	b = append(b, "\" \""...)
	b = appendLogVar(b, e.userAgent, e.hasUserAgent)
	return append(b, '"')
}

// appendStatus prints $status as nginx does ("%03ui"): 0 is "000".
func appendStatus(b []byte, status int) []byte {
	if status < 100 {
		b = append(b, '0')
		if status < 10 {
			b = append(b, '0')
		}
	}
	return strconv.AppendInt(b, int64(status), 10)
}

func appendLogVar(b []byte, v string, found bool) []byte {
	if !found {
		return append(b, '-')
	}
	return appendLogEscape(b, v)
}

// appendLogEscape is ngx_http_log_escape: '"', '\\', control characters,
// DEL and bytes >= 0x80 become \xHH (upper-case hex).
func appendLogEscape(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendJSONEntry formats Fulcrum's JSON access log line: one object with
// fixed keys, absent values as null.
func appendJSONEntry(b []byte, e *logEntry) []byte {
	b = append(b, `{"time":`...)
	b = appendJSONString(b, e.time.Format(time.RFC3339Nano), true)
	b = append(b, `,"remote_addr":`...)
	b = appendJSONString(b, e.remoteAddr, true)
	b = append(b, `,"remote_user":`...)
	b = appendJSONString(b, e.remoteUser, e.hasUser)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.method, true)
	b = append(b, `,"uri":`...)
	b = appendJSONString(b, e.uri, true)
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, e.proto, true)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.host, true)
	b = append(b, `,"server_name":`...)
	b = appendJSONString(b, e.serverName, e.serverName != "")
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"body_bytes_sent":`...)
	b = strconv.AppendInt(b, e.bodyBytesSent, 10)
	b = append(b, `,"request_time":`...)
	b = strconv.AppendFloat(b, e.requestTime.Seconds(), 'f', 3, 64)
	b = append(b, `,"http_referer":`...)
	b = appendJSONString(b, e.referer, e.hasReferer)
	b = append(b, `,"http_user_agent":`...)
	b = appendJSONString(b, e.userAgent, e.hasUserAgent)
	b = append(b, `,"upstream":`...)
	b = appendJSONString(b, e.upstream, e.upstream != "")
	b = append(b, `,"upstream_addr":`...)
	b = appendJSONString(b, e.upstreamAddr, e.upstreamAddr != "")
	b = append(b, `,"upstream_status":`...)
	if e.upstreamCode > 0 {
		b = strconv.AppendInt(b, int64(e.upstreamCode), 10)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// appendJSONString writes s as a JSON string (RFC 8259 §7): quotes,
// backslashes and control characters escaped, invalid UTF-8 replaced by
// U+FFFD. Not found is null.
func appendJSONString(b []byte, s string, found bool) []byte {
	if !found {
		return append(b, "null"...)
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
