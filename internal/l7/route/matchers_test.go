package route

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func newReq(t *testing.T, method, target string, hdr map[string]string, remote string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	if remote != "" {
		r.RemoteAddr = remote
	}
	return r
}

func TestRequestMatchers(t *testing.T) {
	hre, err := NewHeaderRegex("X-Env", `^(stag|prod)\d*$`, false)
	if err != nil {
		t.Fatal(err)
	}
	hreCI, err := NewHeaderRegex("X-Env", `^PROD$`, true)
	if err != nil {
		t.Fatal(err)
	}
	cidr, err := NewSourceCIDR("10.0.0.0/8", "2001:db8::/32", "192.0.2.7", "::ffff:198.51.100.0/120")
	if err != nil {
		t.Fatal(err)
	}
	get := func(hdr map[string]string) *http.Request { return newReq(t, "GET", "/p?a=1&b=x%20y&a=2&e=", hdr, "") }
	from := func(addr string) *http.Request { return newReq(t, "GET", "/", nil, addr) }
	tests := []struct {
		name string
		m    RequestMatcher
		r    *http.Request
		want bool
	}{
		{"header equal", HeaderEquals{"X-Env", "prod"}, get(map[string]string{"x-env": "prod"}), true},
		{"header equal is case-sensitive", HeaderEquals{"X-Env", "prod"}, get(map[string]string{"X-Env": "Prod"}), false},
		{"header regex", hre, get(map[string]string{"X-Env": "stag2"}), true},
		{"header regex miss", hre, get(map[string]string{"X-Env": "dev"}), false},
		{"header regex caseless", hreCI, get(map[string]string{"X-Env": "prod"}), true},
		{"header present empty", HeaderPresent{"X-Flag"}, get(map[string]string{"X-Flag": ""}), true},
		{"header absent", HeaderPresent{"X-Flag"}, get(nil), false},
		{"cookie value", Cookie{Name: "v", Value: "b"}, get(map[string]string{"Cookie": "a=1; v=b"}), true},
		{"cookie other value", Cookie{Name: "v", Value: "b"}, get(map[string]string{"Cookie": "v=c"}), false},
		{"cookie any", Cookie{Name: "v", Any: true}, get(map[string]string{"Cookie": "v="}), true},
		{"cookie name case", Cookie{Name: "V", Any: true}, get(map[string]string{"Cookie": "v=1"}), false},
		{"query value", QueryParam{Name: "a", Value: "2"}, get(nil), true},
		{"query decoded", QueryParam{Name: "b", Value: "x y"}, get(nil), true},
		{"query present empty", QueryParam{Name: "e", Any: true}, get(nil), true},
		{"query absent", QueryParam{Name: "z", Any: true}, get(nil), false},
		{"method", Method{Methods: []string{"POST", "GET"}}, get(nil), true},
		{"method miss", Method{Methods: []string{"POST"}}, get(nil), false},
		{"method case", Method{Methods: []string{"get"}}, get(nil), false},
		{"HEAD with GET", Method{Methods: []string{"GET"}, HeadWithGet: true}, newReq(t, "HEAD", "/", nil, ""), true},
		{"HEAD without", Method{Methods: []string{"GET"}}, newReq(t, "HEAD", "/", nil, ""), false},
		{"cidr v4", cidr, from("10.1.2.3:5555"), true},
		{"cidr v4 miss", cidr, from("11.1.2.3:5555"), false},
		{"cidr single", cidr, from("192.0.2.7:1"), true},
		{"cidr v6", cidr, from("[2001:db8::1]:443"), true},
		{"cidr v6 zone", cidr, from("[2001:db8::1%eth0]:443"), true},
		{"cidr mapped client", cidr, from("[::ffff:10.0.0.1]:80"), true},
		{"cidr mapped prefix", cidr, from("198.51.100.9:80"), true},
		{"cidr garbage", cidr, from("nonsense"), false},
		{"ua family", UserAgent{Family: FamilyFirefox}, get(map[string]string{"User-Agent": uaFirefoxLinux}), true},
		{"ua mobile", UserAgent{Mobile: true}, get(map[string]string{"User-Agent": uaChromeAndroid}), true},
		{"ua not mobile", UserAgent{Mobile: true}, get(map[string]string{"User-Agent": uaFirefoxLinux}), false},
		{"ua bot", UserAgent{Bot: true}, get(map[string]string{"User-Agent": uaGooglebot}), true},
		{"language", Language{Available: []string{"en", "zh"}, Want: "zh"}, get(map[string]string{"Accept-Language": "zh-CN;q=0.9, en;q=0.8"}), true},
		{"language other", Language{Available: []string{"en", "zh"}, Want: "zh"}, get(map[string]string{"Accept-Language": "en"}), false},
	}
	for _, tt := range tests {
		if got := tt.m.Match(tt.r); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := NewSourceCIDR("10.0.0.0/33"); err == nil {
		t.Error("bad prefix accepted")
	}
	if _, err := NewHeaderRegex("X", `(?=a)`, false); err == nil {
		t.Error("lookahead accepted")
	}
}
