package referer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"time"
)

// Signed links: the idea of ngx_http_secure_link_module ("secure_link
// $arg_md5,$arg_expires" with a secret in "secure_link_md5"), with an
// HMAC instead of a bare MD5 of the secret and the text, and a
// constant-time comparison.
//
// The recipe (what a page generator must compute):
//
//	expires = the Unix time (seconds) until which the link is valid
//	path    = the request path as the proxy sees it: percent-decoded and
//	          normalised (nginx's $uri), without the query
//	sig     = base64url, no padding, of HMAC-SHA256(secret, expires + " " + path)
//	URL     = path + "?expires=" + expires + "&sig=" + sig
//
// For example, with the secret "s3cret", path "/img/a.jpg" and expires
// 1767225600, the HMAC is taken over "1767225600 /img/a.jpg". Sign does
// this; a link is good while now <= expires, as
// ngx_http_secure_link_variable treats "expires < now" as expired.

// Errors of Link.Verify.
var (
	ErrNoSignature  = errors.New("secure link: no signature")
	ErrMalformed    = errors.New("secure link: malformed signature or expiry")
	ErrExpired      = errors.New("secure link: expired")
	ErrBadSignature = errors.New("secure link: bad signature")
)

// Default query parameter names.
const (
	DefaultSigParam     = "sig"
	DefaultExpiresParam = "expires"
)

// Sign returns the signature of path valid until expires (whole seconds).
func Sign(secret []byte, path string, expires time.Time) string {
	var sum [sha256.Size]byte
	mac(secret, path, expires.Unix(), sum[:0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SignURL returns path with the expires and sig parameters of the default
// names appended.
func SignURL(secret []byte, path string, expires time.Time) string {
	return path + "?" + DefaultExpiresParam + "=" + strconv.FormatInt(expires.Unix(), 10) +
		"&" + DefaultSigParam + "=" + url.QueryEscape(Sign(secret, path, expires))
}

func mac(secret []byte, path string, expires int64, dst []byte) []byte {
	h := hmac.New(sha256.New, secret)
	var b [24]byte
	h.Write(strconv.AppendInt(b[:0], expires, 10))
	h.Write([]byte{' '})
	h.Write([]byte(path))
	return h.Sum(dst)
}

// Link verifies signed links.
type Link struct {
	secret       []byte
	SigParam     string
	ExpiresParam string
}

// NewLink returns a verifier with secret and the parameter names (empty:
// "sig" and "expires").
func NewLink(secret []byte, sigParam, expiresParam string) (*Link, error) {
	if len(secret) == 0 {
		return nil, errors.New("secure link: empty secret")
	}
	if sigParam == "" {
		sigParam = DefaultSigParam
	}
	if expiresParam == "" {
		expiresParam = DefaultExpiresParam
	}
	return &Link{secret: append([]byte(nil), secret...), SigParam: sigParam, ExpiresParam: expiresParam}, nil
}

// Verify checks a signature and an expiry (the query values) for path at
// time now.
func (l *Link) Verify(path, sig, expires string, now time.Time) error {
	if sig == "" || expires == "" {
		return ErrNoSignature
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || exp < 0 {
		return ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return ErrMalformed
	}
	var want [sha256.Size]byte
	mac(l.secret, path, exp, want[:0])
	// The signature is checked before the expiry, so an attacker learns
	// nothing about expiry from an unsigned guess; both are constant-time
	// with respect to the secret.
	if !hmac.Equal(got, want[:]) {
		return ErrBadSignature
	}
	if exp < now.Unix() {
		return ErrExpired
	}
	return nil
}
