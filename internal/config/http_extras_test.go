package config

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

// extrasModel is validHTTPModel with every issue-6 feature set on its
// first location, which has a nested location.
func extrasModel() *Config {
	c := validHTTPModel()
	h := c.HTTP
	h.LimitReqZones = []LimitReqZone{{Name: "one", Key: "$binary_remote_addr", Rate: 5, Size: 1 << 20}}
	h.LimitConnZones = []LimitConnZone{{Name: "addr", Key: "$binary_remote_addr", Size: 1 << 20}}
	h.Maps = []Map{{Source: "$http_user_agent", Variable: "$bot", Entries: []MapEntry{{Match: "~*bot", Value: "1"}}}}
	h.Flood = FloodDefence{ConnRate: 2.5, Exempt: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}}
	l := &h.Servers[0].Locations[0]
	l.LimitReq = []LimitReq{{Zone: "one", Burst: 5, NoDelay: true}}
	l.LimitConn = []LimitConn{{Zone: "addr", Conn: 10}}
	l.Referers = &Referers{Valid: []string{"none", "*.Example.COM/Pics/"}}
	l.SecureLink = &SecureLink{SecretFile: "/k"}
	l.Compression = &Compression{Gzip: true, Types: []string{"Text/CSS"}}
	l.ImageCompression = &ImageCompression{Resize: true}
	return c
}

// TestNormalizeExtras checks the defaults the issue-6 features get and
// what a nested location inherits (nginx merges each module's location
// configuration into inner levels).
func TestNormalizeExtras(t *testing.T) {
	c := extrasModel()
	Normalize(c)
	h := c.HTTP
	if h.Flood.FirstByteTimeout != 10*time.Second || h.Flood.ConnBurst != 3 {
		t.Errorf("flood = %+v, want first_byte_timeout 10s and a burst of ceil(2.5)", h.Flood)
	}
	if got := h.Flood.Exempt[0]; got != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("exempt = %v, want the masked prefix", got)
	}
	l := &h.Servers[0].Locations[0]
	if l.LimitReqStatus != 503 || l.LimitConnStatus != 503 {
		t.Errorf("statuses %d/%d, want ngx_http_limit_req_merge_conf's 503", l.LimitReqStatus, l.LimitConnStatus)
	}
	if want := []string{"none", "*.example.com/Pics/"}; !slices.Equal(l.Referers.Valid, want) || l.Referers.Status != 403 {
		t.Errorf("referers = %+v, want host lower-cased, path kept, status 403", l.Referers)
	}
	if s := l.SecureLink; s.SigParam != "sig" || s.ExpiresParam != "expires" {
		t.Errorf("secure link = %+v", s)
	}
	if cp := l.Compression; cp.MinLength != 20 || cp.Proxied != "off" || !slices.Equal(cp.Types, []string{"text/html", "text/css"}) {
		t.Errorf("compression = %+v, want min_length 20, proxied off, text/html added", cp)
	}
	if ic := l.ImageCompression; ic.MinSize != 10<<10 || ic.MaxSize != 8<<20 || ic.JPEGQuality != 75 || ic.CacheSize != 64<<20 {
		t.Errorf("image compression = %+v", ic)
	}
	n := &l.Locations[0]
	if !reflect.DeepEqual(n.LimitReq, l.LimitReq) || !reflect.DeepEqual(n.LimitConn, l.LimitConn) || n.LimitReqStatus != 503 ||
		!reflect.DeepEqual(n.Referers, l.Referers) || !reflect.DeepEqual(n.Compression, l.Compression) ||
		!reflect.DeepEqual(n.SecureLink, l.SecureLink) || !reflect.DeepEqual(n.ImageCompression, l.ImageCompression) {
		t.Errorf("nested location did not inherit:\n%+v\nfrom\n%+v", n, l)
	}
	if n.Referers == l.Referers || &n.LimitReq[0] == &l.LimitReq[0] || n.Compression == l.Compression {
		t.Error("nested location shares its inherited values with its parent")
	}
	// A level with its own value keeps it.
	c = extrasModel()
	n = &c.HTTP.Servers[0].Locations[0].Locations[0]
	n.LimitReq = []LimitReq{{Zone: "one"}}
	n.LimitReqStatus = 429
	Normalize(c)
	if n.LimitReqStatus != 429 || n.LimitReq[0].Burst != 0 || n.LimitConnStatus != 503 {
		t.Errorf("nested location's own values lost: %+v", n)
	}
	if err := Validate(c).Err(); err != nil {
		t.Errorf("normalised extras model is invalid: %v", err)
	}
}

// TestCloneExtras checks that a clone shares none of the issue-6 values.
func TestCloneExtras(t *testing.T) {
	c := extrasModel()
	Normalize(c)
	orig := c.Clone()
	n := c.Clone()
	h := n.HTTP
	h.LimitReqZones[0].Rate = 9
	h.LimitConnZones[0].Size = 9
	h.Maps[0].Entries[0].Value = "changed"
	h.Flood.Exempt[0] = netip.Prefix{}
	l := &h.Servers[0].Locations[0]
	l.LimitReq[0].Burst = 9
	l.LimitConn[0].Conn = 9
	l.Referers.Valid[0] = "changed"
	l.SecureLink.Required = true
	l.Compression.Types[0] = "changed"
	l.ImageCompression.MaxWidth = 9
	l.Locations[0].Referers.Status = 1
	if !reflect.DeepEqual(c, orig) {
		t.Error("changing a clone changed the original")
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"5r/s", 5, true},
		{"30r/m", 0.5, true},
		{"10", 10, true}, // ngx_http_limit_req_zone: no suffix is r/s
		{"0.5r/s", 0.5, true},
		{"1r/h", 0, false},
		{"r/s", 0, false},
		{"-1r/s", 0, false},
		{"1e999", 0, false},
	}
	for _, tt := range tests {
		got, err := parseRate(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseRate(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestVariableRefs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"$binary_remote_addr", []string{"binary_remote_addr"}, ""},
		{"${Host}x$uri$1", []string{"host", "uri"}, ""},
		{"a$", nil, `invalid variable name in "a$"`},
		{"${host", nil, `the closing bracket in "host" variable is missing`},
		{"no variables", nil, ""},
	}
	for _, tt := range tests {
		got, err := variableRefs(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("variableRefs(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("variableRefs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
