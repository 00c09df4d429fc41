package l7

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/referer"
)

// TestHotlinkThroughProxy: the l7.md §7 location ("valid_referers none
// blocked server_names *.good.com good.org/pics/" with server_name
// example.com) and the three actions for an invalid Referer.
func TestHotlinkThroughProxy(t *testing.T) {
	be := newBackend(t, "one")
	dir := t.TempDir()
	gif := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	imgFile := filepath.Join(dir, "hotlink.gif")
	if err := os.WriteFile(imgFile, gif, 0o600); err != nil {
		t.Fatal(err)
	}
	valid := []string{"none", "blocked", "server_names", "*.good.com", "good.org/pics/"}
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{
		{Match: "/ref", ProxyPass: "http://" + be.addr, Referers: &config.Referers{Valid: valid}},
		{Match: "/redir", ProxyPass: "http://" + be.addr, Referers: &config.Referers{Valid: valid, RedirectURL: "/hotlink.html"}},
		{Match: "/img", ProxyPass: "http://" + be.addr, Referers: &config.Referers{Valid: valid, ImageFile: imgFile}},
	})
	cfg.Servers[0].ServerNames = []string{"example.com"}
	p := startProxy(t, cfg)
	hc := client(addr)
	tests := []struct {
		referer string
		code    int
	}{
		{"", 200},
		{"garbage", 200},
		{"http://example.com/page", 200},
		{"https://www.good.com/x", 200},
		{"http://good.com/", 403},
		{"http://good.org/pics/1.html", 200},
		{"http://good.org/other", 403},
		{"http://evil.example/", 403},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.referer != "" {
			h.Set("Referer", tc.referer)
		}
		resp, _ := get(t, hc, "GET", "http://example.com/ref", h, "")
		if resp.StatusCode != tc.code {
			t.Errorf("Referer %q: %d, want %d", tc.referer, resp.StatusCode, tc.code)
		}
	}
	bad := http.Header{"Referer": {"http://evil.example/"}}
	resp, _ := get(t, hc, "GET", "http://example.com/redir", bad, "")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://example.com:"+strconv.Itoa(int(addr.Port()))+"/hotlink.html" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := get(t, hc, "GET", "http://example.com/img/a.jpg", bad, "")
	if resp.StatusCode != 200 || body != string(gif) || resp.Header.Get("Content-Type") != "image/gif" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("placeholder: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	if n := be.count(); n != 5 {
		t.Errorf("backend saw %d requests, want the 5 valid ones", n)
	}
	if l := p.Status().Servers[0].Locations[0]; l.RefererRejected != 3 {
		t.Errorf("referer rejections %d, want 3", l.RefererRejected)
	}
}

// TestSecureLinkThroughProxy: a signed, unexpired URL passes without a
// valid Referer; Required refuses unsigned ones even with a good Referer.
func TestSecureLinkThroughProxy(t *testing.T) {
	be := newBackend(t, "one")
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ft := &fakeTime{t: time.Unix(1_800_000_000, 0)}
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{
		{Match: "/dl/", ProxyPass: "http://" + be.addr, Referers: &config.Referers{Valid: []string{"good.example"}},
			SecureLink: &config.SecureLink{SecretFile: secretFile}},
		{Match: "/priv/", ProxyPass: "http://" + be.addr, Referers: &config.Referers{Valid: []string{"none", "good.example"}},
			SecureLink: &config.SecureLink{SecretFile: secretFile, Required: true, SigParam: "s", ExpiresParam: "e"}},
	})
	p := startProxyOpts(t, cfg, Options{Now: ft.now})
	hc := client(addr)
	secret := []byte("s3cret")
	exp := ft.t.Add(time.Hour)
	signed := referer.SignURL(secret, "/dl/file.zip", exp)
	tests := []struct {
		name, url, referer string
		code               int
	}{
		{"signed, no Referer", signed, "", 200},
		{"signed, bad Referer", signed, "http://evil.example/", 200},
		{"unsigned, bad Referer", "/dl/file.zip", "http://evil.example/", 403},
		{"unsigned, good Referer", "/dl/file.zip", "http://good.example/", 200},
		{"signed for another path", referer.SignURL(secret, "/dl/other.zip", exp)[len("/dl/other.zip"):], "", 403},
		{"required, missing", "/priv/a", "http://good.example/", 403},
		{"required, signed", "/priv/a?e=" + strconv.FormatInt(exp.Unix(), 10) + "&s=" + referer.Sign(secret, "/priv/a", exp), "", 200},
		{"required, expired", "/priv/a?e=" + strconv.FormatInt(ft.t.Unix()-1, 10) + "&s=" + referer.Sign(secret, "/priv/a", ft.t.Add(-time.Second)), "", 403},
	}
	for _, tc := range tests {
		u := tc.url
		if u[0] == '?' {
			u = "/dl/file.zip" + u
		}
		h := http.Header{}
		if tc.referer != "" {
			h.Set("Referer", tc.referer)
		}
		resp, _ := get(t, hc, "GET", "http://x"+u, h, "")
		if resp.StatusCode != tc.code {
			t.Errorf("%s (%s): %d, want %d", tc.name, u, resp.StatusCode, tc.code)
		}
	}
	locs := p.Status().Servers[0].Locations
	if locs[0].RefererRejected != 2 || locs[1].SecureLinkRejected != 2 {
		t.Errorf("rejections: referer %d, secure link %d", locs[0].RefererRejected, locs[1].SecureLinkRejected)
	}
}
