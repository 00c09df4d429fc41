package l7

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/proxyproto"
)

// TestTLSSNIAndHTTP2: one TLS listener with h2 and two virtual servers
// with their own certificates: SNI picks the server's certificate, an
// unknown name gets the first server's, ALPN negotiates h2.
func TestTLSSNIAndHTTP2(t *testing.T) {
	dir := t.TempDir()
	aCrt, aKey, aCert := testCert(t, dir, "a", "a.test")
	bCrt, bKey, bCert := testCert(t, dir, "b", "b.test", "*.b.test")
	ba, bb := newBackend(t, "a"), newBackend(t, "b")
	addr := freeAddr(t, "127.0.0.1")
	l := []config.HTTPListen{{Address: addr, TLS: true, HTTP2: true}}
	cfg := &config.HTTP{Servers: []config.HTTPServer{
		{Listen: l, ServerNames: []string{"a.test"}, Certificates: []config.Certificate{{CertFile: aCrt, KeyFile: aKey}},
			Locations: []config.Location{{Match: "/", ProxyPass: "http://" + ba.addr}}},
		{Listen: l, ServerNames: []string{"b.test", "*.b.test"}, Certificates: []config.Certificate{{CertFile: bCrt, KeyFile: bKey}},
			Locations: []config.Location{{Match: "/", ProxyPass: "http://" + bb.addr}}},
	}}
	startProxy(t, cfg)
	pool := x509.NewCertPool()
	pool.AddCert(aCert)
	pool.AddCert(bCert)
	tests := []struct {
		sni, host string
		cert      *x509.Certificate
		backend   string
		verify    bool
	}{
		{"a.test", "a.test", aCert, "a", true},
		{"b.test", "b.test", bCert, "b", true},
		{"x.b.test", "x.b.test", bCert, "b", true},
		{"other.test", "a.test", aCert, "a", false},
		{"", "b.test", aCert, "b", false},
		{"h1", "b.test", bCert, "b", true},
	}
	for _, tc := range tests {
		t.Run(tc.sni, func(t *testing.T) {
			sni, h2 := tc.sni, true
			if sni == "h1" {
				// An HTTP/1.1-only client over TLS (ALPN http/1.1).
				sni, h2 = "b.test", false
			}
			tr := &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, addr.String())
				},
				TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: sni, InsecureSkipVerify: !tc.verify},
				ForceAttemptHTTP2: h2,
			}
			if !h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			urlHost := sni
			if urlHost == "" {
				// Go sends no SNI for an IP address.
				urlHost = "127.0.0.1"
			}
			resp, body := get(t, hc, "GET", "https://"+urlHost+"/", http.Header{"Host": {tc.host}}, "")
			if wantMajor := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != wantMajor {
				t.Errorf("protocol %s, want HTTP/%d", resp.Proto, wantMajor)
			}
			if got := resp.TLS.PeerCertificates[0]; !got.Equal(tc.cert) {
				t.Errorf("certificate for %v, want %v", got.DNSNames, tc.cert.DNSNames)
			}
			s := decode(t, body)
			if s.Name != tc.backend {
				t.Errorf("routed to %s, want %s", s.Name, tc.backend)
			}
			if s.Header.Get("X-Forwarded-Proto") != "https" || s.Header.Get("Via") != map[bool]string{true: "2 fulcrum", false: "1.1 fulcrum"}[h2] {
				t.Errorf("X-Forwarded-Proto %q, Via %q", s.Header.Get("X-Forwarded-Proto"), s.Header.Get("Via"))
			}
		})
	}
}

// TestH2CPriorKnowledge: a plain listener with http2 speaks h2c to a
// client that starts with the HTTP/2 preface.
func TestH2CPriorKnowledge(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	startProxy(t, &config.HTTP{Servers: []config.HTTPServer{{
		Listen:    []config.HTTPListen{{Address: addr, HTTP2: true}},
		Locations: []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}},
	}}})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, body := get(t, hc, "GET", "http://"+addr.String()+"/q?x=1", nil, "")
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	if s := decode(t, body); s.URI != "/q?x=1" || s.Proto != "HTTP/1.1" {
		t.Errorf("upstream saw %s %s", s.Proto, s.URI)
	}
	// Without http2 the same preface is not HTTP/1.1 either: refused.
	addr2 := freeAddr(t, "127.0.0.1")
	startProxy(t, oneServer(addr2, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}}))
	tr2 := &http.Transport{Protocols: new(http.Protocols)}
	tr2.Protocols.SetUnencryptedHTTP2(true)
	defer tr2.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: tr2, Timeout: 5 * time.Second}).Get("http://" + addr2.String() + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("h2c prior knowledge accepted on a listener without http2: %s", resp.Status)
	}
}

// TestH2CUpgrade: "Upgrade: h2c" (RFC 7540 §3.2) on an http2 listener
// switches to HTTP/2 and answers the request on stream 1; on a listener
// without http2 the upgrade is stripped before the upstream sees it.
func TestH2CUpgrade(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	plain := freeAddr(t, "127.0.0.1")
	startProxy(t, &config.HTTP{Servers: []config.HTTPServer{
		{Listen: []config.HTTPListen{{Address: addr, HTTP2: true}}, Locations: []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}}},
		{Listen: []config.HTTPListen{{Address: plain}}, Locations: []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}}},
	}})
	// SETTINGS_MAX_CONCURRENT_STREAMS = 100.
	var settings [6]byte
	binary.BigEndian.PutUint16(settings[:], uint16(http2.SettingMaxConcurrentStreams))
	binary.BigEndian.PutUint32(settings[2:], 100)
	up := "POST /up?x=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
		"HTTP2-Settings: " + base64.RawURLEncoding.EncodeToString(settings[:]) + "\r\nContent-Length: 5\r\n\r\nhello"

	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, up); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101 ") {
		t.Fatalf("status line %q, %v", line, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, br)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var status string
	var body bytes.Buffer
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			status = f.Value
		}
	})
	for done := false; !done; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			if f.StreamID != 1 {
				t.Fatalf("HEADERS on stream %d", f.StreamID)
			}
			if _, err := dec.Write(f.HeaderBlockFragment()); err != nil {
				t.Fatal(err)
			}
			done = f.StreamEnded()
		case *http2.DataFrame:
			body.Write(f.Data())
			done = f.StreamEnded()
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
	if status != "200" {
		t.Fatalf(":status %q", status)
	}
	s := decode(t, body.String())
	if s.URI != "/up?x=1" || s.Body != "hello" || s.Method != "POST" {
		t.Errorf("upstream saw %s %s %q", s.Method, s.URI, s.Body)
	}
	if s.Header.Get("Upgrade") != "" || s.Header.Get("Http2-Settings") != "" {
		t.Errorf("upgrade headers reached the upstream: %v", s.Header)
	}

	resp, b2 := rawRequest(t, plain, up)
	if resp.StatusCode != 200 {
		t.Fatalf("plain listener: status %d", resp.StatusCode)
	}
	if s := decode(t, b2); s.Header.Get("Upgrade") != "" || s.Header.Get("Http2-Settings") != "" || s.Body != "hello" {
		t.Errorf("plain listener forwarded the h2c upgrade: %v %q", s.Header, s.Body)
	}
}

// TestProxyProtocolIn: PROXY headers are accepted only from trusted
// sources and then give the client address; anything else is refused.
func TestProxyProtocolIn(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := &config.HTTP{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
		Servers: []config.HTTPServer{{
			Listen: []config.HTTPListen{{Address: addr, ProxyProtocol: true}},
			Locations: []config.Location{{Match: "/", ProxyPass: "http://" + be.addr,
				SetHeaders: []config.Header{{Name: "X-Real-IP", Value: "$remote_addr"}, {Name: "X-PP", Value: "$proxy_protocol_addr:$proxy_protocol_port"}}}},
		}},
	}
	p := startProxy(t, cfg)
	req := "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n"
	v2 := string(proxyproto.AppendV2(nil, proxyproto.TransportStream,
		netip.MustParseAddrPort("[2001:db8::7]:4444"), netip.MustParseAddrPort("[2001:db8::1]:80")))
	tests := []struct {
		name, src, header string
		ok                bool
		client            string
	}{
		{"v1 trusted", "127.0.0.2", "PROXY TCP4 203.0.113.7 192.0.2.1 5555 80\r\n", true, "203.0.113.7"},
		{"v2 trusted", "127.0.0.2", v2, true, "2001:db8::7"},
		{"untrusted", "127.0.0.1", "PROXY TCP4 203.0.113.7 192.0.2.1 5555 80\r\n", false, ""},
		{"missing header", "127.0.0.2", "", false, ""},
		{"garbage header", "127.0.0.2", "PROXY TCP4 1.2.3\r\n", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tc.src)}, Timeout: 5 * time.Second}
			c, err := d.Dial("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, tc.header+req)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if !tc.ok {
				if err == nil {
					t.Fatalf("got %s, want the connection refused", resp.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			s := decode(t, string(b))
			if got := s.Header.Get("X-Real-Ip"); got != tc.client {
				t.Errorf("$remote_addr %q, want %q", got, tc.client)
			}
			// The client is not a trusted proxy: its own X-Forwarded-For
			// is dropped, the PROXY source is the only hop.
			if got := s.Header.Get("X-Forwarded-For"); got != tc.client {
				t.Errorf("X-Forwarded-For %q, want %q", got, tc.client)
			}
			if !strings.HasPrefix(s.Header.Get("X-Pp"), tc.client) {
				t.Errorf("$proxy_protocol_addr:port %q", s.Header.Get("X-Pp"))
			}
		})
	}
	if st := p.Status().Listeners[0]; st.Refused < 3 {
		t.Errorf("refused %d connections, want 3", st.Refused)
	}
}

// TestXForwardedFor: a client's own X-Forwarded-For is not believed; from
// a trusted proxy it is kept and this hop appended, and $remote_addr is
// the address it names (realip with recursion).
func TestXForwardedFor(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr,
		SetHeaders: []config.Header{{Name: "X-Real-IP", Value: "$remote_addr"}}}})
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}
	startProxy(t, cfg)
	hdr := http.Header{
		"X-Forwarded-For": {"1.2.3.4, 10.1.1.1"}, "X-Forwarded-Proto": {"https"},
		"Forwarded": {"for=1.2.3.4;proto=https"}, "Host": {"site.example"},
	}
	tests := []struct {
		src                           string
		xff, realIP, proto, forwarded string
	}{
		{"127.0.0.1", "127.0.0.1", "127.0.0.1", "http", "for=127.0.0.1;host=site.example;proto=http"},
		{"127.0.0.2", "1.2.3.4, 10.1.1.1, 127.0.0.2", "1.2.3.4", "https", "for=1.2.3.4;proto=https, for=127.0.0.2;host=site.example;proto=http"},
	}
	for _, tc := range tests {
		_, body := get(t, clientFrom(addr, tc.src), "GET", "http://x/", hdr, "")
		s := decode(t, body)
		for k, want := range map[string]string{"X-Forwarded-For": tc.xff, "X-Real-Ip": tc.realIP,
			"X-Forwarded-Proto": tc.proto, "Forwarded": tc.forwarded, "X-Forwarded-Host": "site.example"} {
			if got := s.Header.Get(k); got != want {
				t.Errorf("from %s: %s = %q, want %q", tc.src, k, got, want)
			}
		}
	}
}

// ppBackend is a backend behind a listener that expects a PROXY header on
// every connection and records it.
type ppBackend struct {
	*backend
	mu   sync.Mutex
	hdrs []proxyproto.Header
}

type ppListener struct {
	net.Listener
	b *ppBackend
}

type ppServerConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *ppServerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (l *ppListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		h, err := proxyproto.Read(br)
		_ = c.SetReadDeadline(time.Time{})
		if err != nil {
			_ = c.Close()
			continue
		}
		l.b.mu.Lock()
		l.b.hdrs = append(l.b.hdrs, h)
		l.b.mu.Unlock()
		return &ppServerConn{Conn: c, r: br}, nil
	}
}

func newPPBackend(t *testing.T, name string) *ppBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pb := &ppBackend{}
	b := &backend{name: name, addr: ln.Addr().String(), ln: ln}
	b.srv = &http.Server{Handler: b}
	pb.backend = b
	go func() { _ = b.srv.Serve(&ppListener{Listener: ln, b: pb}) }()
	t.Cleanup(b.close)
	return pb
}

// TestProxyProtocolOut: Upstream.ProxyProtocol v1/v2 sends the client's
// address and the address it connected to ahead of the request, on a
// connection of its own (no reuse across clients).
func TestProxyProtocolOut(t *testing.T) {
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			pb := newPPBackend(t, "pp")
			addr := freeAddr(t, "127.0.0.1")
			startProxy(t, oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://pp"}},
				config.Upstream{Name: "pp", ProxyProtocol: v, Servers: servers(pb.addr)}))
			for _, src := range []string{"127.0.0.5", "127.0.0.6"} {
				resp, body := get(t, clientFrom(addr, src), "GET", "http://x/", nil, "")
				if resp.StatusCode != 200 || decode(t, body).Name != "pp" {
					t.Fatalf("status %d %q", resp.StatusCode, body)
				}
			}
			pb.mu.Lock()
			defer pb.mu.Unlock()
			if len(pb.hdrs) != 2 {
				t.Fatalf("%d PROXY headers, want 2 (one connection per request)", len(pb.hdrs))
			}
			for i, src := range []string{"127.0.0.5", "127.0.0.6"} {
				h := pb.hdrs[i]
				wantV := proxyproto.V1
				if v == "v2" {
					wantV = proxyproto.V2
				}
				if h.Version != wantV || h.Source.Addr().String() != src || h.Destination != addr {
					t.Errorf("header %d: v%d %s -> %s, want v%d %s -> %s", i, h.Version, h.Source, h.Destination, wantV, src, addr)
				}
			}
		})
	}
}

// TestUpstreamTLS: proxy_pass to a TLS server verified with a CA file and
// a server name.
func TestUpstreamTLS(t *testing.T) {
	dir := t.TempDir()
	crt, key, _ := testCert(t, dir, "up", "backend.test")
	cert, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: "tls", addr: ln.Addr().String(), ln: ln}
	b.srv = &http.Server{Handler: b, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(b.close)
	addr := freeAddr(t, "127.0.0.1")
	startProxy(t, oneServer(addr, []config.Location{
		{Match: "/ok/", ProxyPass: "https://good/"},
		{Match: "/bad/", ProxyPass: "https://bad/"},
	},
		config.Upstream{Name: "good", Servers: servers(b.addr), TLS: &config.UpstreamTLS{ServerName: "backend.test", CAFile: crt}},
		config.Upstream{Name: "bad", Servers: servers(b.addr), TLS: &config.UpstreamTLS{ServerName: "other.test", CAFile: crt}},
	))
	resp, body := get(t, client(addr), "GET", "http://x/ok/a", nil, "")
	if resp.StatusCode != 200 || decode(t, body).URI != "/a" {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	resp, _ = get(t, client(addr), "GET", "http://x/bad/a", nil, "")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a certificate for another name: status %d, want 502", resp.StatusCode)
	}
}

// TestHardeningInFront: internal/l7/harden guards every listener: the
// request smuggling, open-proxy and header abuses its package tests prove
// against plain net/http are refused here too, before routing.
func TestHardeningInFront(t *testing.T) {
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{{Match: "/", ProxyPass: "http://" + be.addr}})
	cfg.Servers[0].ServerNames = []string{"site.example"}
	startProxy(t, cfg)
	many := strings.Repeat("X-H: v\r\n", 150)
	tests := []struct {
		name, raw string
		status    int
	}{
		{"CONNECT", "CONNECT site.example:443 HTTP/1.1\r\nHost: site.example:443\r\n\r\n", 405},
		{"CL+TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + many + "\r\n", 431},
		{"foreign absolute-form", "GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n", 421},
		{"above the root", "GET /a/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	}
	for _, tc := range tests {
		resp, _ := rawRequest(t, addr, tc.raw)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	if be.count() != 0 {
		t.Errorf("the backend saw %d refused requests: %+v", be.count(), be.last())
	}
	// Accepted, but cleaned: underscores and a client's forwarding headers.
	_, body := rawRequest(t, addr, "GET http://site.example/ok HTTP/1.1\r\nHost: site.example\r\nX_Forwarded_For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nConnection: close\r\n\r\n")
	s := decode(t, body)
	if s.URI != "/ok" || s.Header.Get("X-Real-Ip") != "" || s.Header.Get("X_forwarded_for") != "" || s.Header.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("upstream saw %s %v", s.URI, s.Header)
	}
}

// TestProxyProtocolTLS: the PROXY header comes before the TLS handshake.
func TestProxyProtocolTLS(t *testing.T) {
	dir := t.TempDir()
	crt, key, cert := testCert(t, dir, "s", "s.test")
	be := newBackend(t, "one")
	addr := freeAddr(t, "127.0.0.1")
	cfg := &config.HTTP{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
		Servers: []config.HTTPServer{{
			Listen:       []config.HTTPListen{{Address: addr, TLS: true, HTTP2: true, ProxyProtocol: true}},
			Certificates: []config.Certificate{{CertFile: crt, KeyFile: key}},
			Locations: []config.Location{{Match: "/", ProxyPass: "http://" + be.addr,
				SetHeaders: []config.Header{{Name: "X-Real-IP", Value: "$remote_addr"}, {Name: "X-TCP", Value: "$realip_remote_addr"}}}},
		}},
	}
	startProxy(t, cfg)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	raw, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(raw, "PROXY TCP6 2001:db8::9 2001:db8::1 4000 443\r\n"); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tc := tls.Client(raw, &tls.Config{ServerName: "s.test", RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if _, err := io.WriteString(tc, "GET /x HTTP/1.1\r\nHost: s.test\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	s := decode(t, string(b))
	if s.Header.Get("X-Real-Ip") != "2001:db8::9" || s.Header.Get("X-Tcp") != "127.0.0.2" || s.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("upstream saw %v", s.Header)
	}
}
