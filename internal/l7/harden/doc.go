// Package harden puts the safety net/http and httputil.ReverseProxy lack by
// default (reliability.md §0, §2) in front of Fulcrum's L7 proxy. The core
// wires it as:
//
//	srv := &http.Server{Handler: harden.Handler(router, opt)}
//	harden.ServerTimeouts(srv, lim)
//	srv.Serve(harden.Listener(ln, lim))              // plain HTTP/1.x and h2c
//	srv.Serve(harden.TLSListener(ln, tlsConf, lim))  // TLS: h2 by ALPN, HTTP/1.1 vetted
//
// # Wire vetting (Listener, Conn, TLSListener)
//
// Each connection's plaintext byte stream goes through a small state
// machine (vet.go) before net/http reads it. It runs over the caller's own
// read buffer, never copies or buffers, and allocates nothing per request;
// it releases bytes only up to the point they are known good, and checks
// every line no later than at its LF, which it releases last, so net/http
// never completes a request the vetter refused. A refused request gets a
// canned response (status and a fixed reason, never echoing input), a
// half-close and a short lingering drain (nginx
// ngx_http_set_lingering_close), then the connection is closed. The canned
// response is sent only when it is the next thing the client would read:
// when a pipelined request is refused while an earlier response is being
// written, the refusal waits for it; when the refused request's own
// response has started (a body error under a full-duplex handler), the
// connection is just closed.
//
// It refuses (RFC 9112 unless noted):
//
//   - Content-Length together with Transfer-Encoding: 400 and close. §6.1
//     allows either refusing or using TE and closing; HAProxy does the
//     latter (reg-tests http_transfer_encoding.vtc), nginx the former
//     (ngx_http_process_request_header, since 1.21.1). Refusing keeps the
//     pair away from net/http, which would keep the connection open;
//   - a repeated or listed Content-Length, even with equal values, or one
//     that is not plain digits: 400 (§6.3 item 5; nginx unique header);
//   - Transfer-Encoding that is not exactly one final "chunked" on one
//     line: 400 (§6.3 item 4, §7.1), or 501 for a valid but unsupported
//     coding before chunked (§6.1; net/http and nginx also 501);
//     Transfer-Encoding in HTTP/1.0: 400 (§6.1, nginx);
//   - chunked framing errors: size not 1-16 hex digits, bare LF or CR
//     (CVE-2025-22871), whitespace except BWS before ";", chunk-ext not
//     per §7.1.1, data not followed by CRLF, lines over 1 KiB, chunk
//     overhead beyond net/http's own rule, trailers over 2 KiB: 400 (431
//     for the trailer size) instead of net/http's 502 through the proxy;
//   - more than MaxHeaders field lines or a head over MaxHeaderBytes: 431
//     (414 while still in the request-target); a body over MaxBodyBytes:
//     413 before it is read (nginx client_max_body_size);
//   - obs-fold and whitespace before the first field (§5.2, §2.2), bare LF
//     line ends (§2.2 allows them; refused as a desync vector), bare CR,
//     NUL and other controls in values or the request line, whitespace
//     before ":" (§5.1): 400;
//   - missing, repeated, empty or malformed Host in HTTP/1.1 (§3.2, nginx
//     ngx_http_validate_host): 400;
//   - a request line that is not method SP target SP HTTP/1.x: 400, or 505
//     for another version; request-targets other than origin-form,
//     absolute-form with http/https and a clean authority, authority-form
//     with a port for CONNECT only, "*" for OPTIONS only (§3.2,
//     HAProxy h1_request_target_validation.vtc); a fragment or a bad
//     %-escape in the path: 400.
//
// testdata/nginx.golden holds Debian nginx 1.22's answers to the same
// inputs; TestNginxParity lists and explains every difference.
//
// Timeouts: HeaderTimeout runs from the first byte of a head (slowloris;
// for a pipelined head, from when net/http gets to it, as nginx arms
// client_header_timeout); in a body, BodyTimeout between reads (nginx
// client_body_timeout) and a minimum average of 500 bytes/s once the body
// has had BodyTimeout (Apache mod_reqtimeout "body=20,MinRate=500"),
// counting only time spent waiting on the client. Expiry: 408 and close.
//
// What is not vetted: a connection that starts with the HTTP/2 preface
// (h2c prior knowledge) is passed through to net/http's HTTP/2 server; so
// is everything after a 101 or a 2xx to CONNECT (the response side is
// tracked for that, resp.go). Over TLS the vetter must see plaintext, so
// TLSListener does the handshake itself and hands "h2" connections to
// net/http unwrapped; Listener must never sit under tls.NewListener.
//
// # Request checks (Handler)
//
// Before routing and ACLs: CONNECT and TRACE 405; PRI (an h2c preface on a
// server without h2c) 400; absolute-form for a host
// not in Options.Hosts 421 (no open proxy); paths nginx's normalisation
// refuses (route.ParseURI) 400; header count 431 (for HTTP/2, where no wire
// vetter counts); underscores in names dropped (nginx
// underscores_in_headers off); X-Forwarded-*, Forwarded and X-Real-IP from
// untrusted peers removed; Upgrade: h2c removed; MaxRequestsPerConn
// (nginx keepalive_requests 1000) closes connections.
//
// # Server settings (HTTP2Config, ServerTimeouts, ConfigureServer)
//
// HTTP/2 limits per RFC 9113 §10.5 and Envoy's edge practice, and the
// http.Server timeouts Go leaves off. ReadTimeout and WriteTimeout stay off
// on purpose (they would cut long transfers and WebSockets).
//
// # HTTP/2 rapid reset (h2guard.go)
//
// Go's HTTP/2 server stops a rapid-reset flood (CVE-2023-44487) only when
// the reset streams' handlers queue up, and MaxRequestsPerConn's GOAWAY
// needs a response that reset streams never get. ConfigureServer (and so
// ServerTimeouts) therefore puts a premature-reset guard under net/http's
// HTTP/2 server, for TLS ("h2") and h2c prior knowledge alike: it reads
// only the 9-byte frame headers of what the client sends and, with
// Envoy's rule and defaults (overload.premature_reset_*), ends a
// connection once more than half of its streams, counting at least 500,
// were reset by the client within a second of opening: GOAWAY
// ENHANCE_YOUR_CALM between two of net/http's frames, then a lingering
// close. A pure flood ends after 251 streams. GuardH2 does the same for
// connections handed to an HTTP/2 server directly (h2c Upgrade).
package harden
