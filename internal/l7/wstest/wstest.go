// Package wstest is a tiny RFC 6455 WebSocket client and echo server for
// tests (stdlib only): text frames up to 64 KiB, client frames masked. It
// lets the proxy's tests and the end-to-end tests check that upgraded
// connections survive reloads without a WebSocket dependency.
package wstest

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Accept is the Sec-WebSocket-Accept value for a key (RFC 6455 §4.2.2).
func Accept(key string) string {
	h := sha1.Sum([]byte(key + guid))
	return base64.StdEncoding.EncodeToString(h[:])
}

// WriteFrame writes one text frame, masked as clients must.
func WriteFrame(w io.Writer, payload []byte, mask bool) error {
	hdr := []byte{0x81, 0}
	switch n := len(payload); {
	case n < 126:
		hdr[1] = byte(n)
	case n <= 0xffff:
		hdr[1] = 126
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		return errors.New("wstest: frame too long")
	}
	p := payload
	if mask {
		hdr[1] |= 0x80
		var key [4]byte
		_, _ = rand.Read(key[:])
		hdr = append(hdr, key[:]...)
		p = make([]byte, len(payload))
		for i := range payload {
			p[i] = payload[i] ^ key[i%4]
		}
	}
	_, err := w.Write(append(hdr, p...))
	return err
}

// ReadFrame reads one frame; a close frame is io.EOF.
func ReadFrame(r io.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if op := h[0] & 0x0f; op == 0x8 {
		return nil, io.EOF
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	} else if n == 127 {
		return nil, errors.New("wstest: frame too long")
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, key[:]); err != nil {
			return nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	if masked {
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	return p, nil
}

// Echo answers a WebSocket upgrade by echoing "name:payload" for every
// frame; it reports false, touching nothing, for other requests.
func Echo(name string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			return false
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return true
		}
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			Accept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n")
		_ = brw.Flush()
		go func() {
			defer c.Close()
			for {
				p, err := ReadFrame(brw)
				if err != nil {
					return
				}
				if err := WriteFrame(c, append([]byte(name+":"), p...), false); err != nil {
					return
				}
			}
		}()
		return true
	}
}

// Conn is a client WebSocket connection.
type Conn struct {
	c  net.Conn
	br *bufio.Reader
}

// Dial opens a WebSocket to addr (host:port) at path.
func Dial(addr, path string) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "+
		key+"\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != Accept(key) {
		c.Close()
		return nil, fmt.Errorf("wstest: handshake: %s %v", resp.Status, resp.Header)
	}
	_ = c.SetReadDeadline(time.Time{})
	return &Conn{c: c, br: br}, nil
}

// Echo sends msg and returns the reply.
func (ws *Conn) Echo(msg string) (string, error) {
	_ = ws.c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := WriteFrame(ws.c, []byte(msg), true); err != nil {
		return "", err
	}
	p, err := ReadFrame(ws.br)
	return string(p), err
}

// Close closes the connection.
func (ws *Conn) Close() error { return ws.c.Close() }
