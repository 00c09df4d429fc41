package nginx

import (
	"net/netip"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in     string
		offset bool
		want   int64
		ok     bool
	}{
		{"1k", false, 1024, true},
		{"2M", false, 2 << 20, true},
		{"1g", false, 0, false}, // ngx_parse_size has no g
		{"1g", true, 1 << 30, true},
		{"10", false, 10, true},
		{"-1", true, 0, false},
		{"1.5k", false, 0, false},
		{"", false, 0, false},
		{"k", false, 0, false},
		{"99999999999999999999", true, 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseSize(tt.in, tt.offset); got != tt.want || ok != tt.ok {
			t.Errorf("parseSize(%q, %v) = %d, %v; want %d, %v", tt.in, tt.offset, got, ok, tt.want, tt.ok)
		}
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"80", "0.0.0.0:80", ""},
		{"*:8080", "0.0.0.0:8080", ""},
		{"127.0.0.1", "127.0.0.1:80", ""},
		{"[::]:443", "[::]:443", ""},
		{"[::1]", "[::1]:80", ""},
		{"localhost:8080", "127.0.0.1:8080", ""},
		{"99999", "", `invalid port in "99999" of the "listen" directive`},
		{"1.2.3.4:0", "", `invalid port in "1.2.3.4:0" of the "listen" directive`},
		// nginx resolves a name here; fulcrum takes addresses.
		{"www.example.com:80", "", `host not found in "www.example.com:80" of the "listen" directive`},
		{"80x", "", `host not found in "80x" of the "listen" directive`},
	}
	for _, tt := range tests {
		got, err := listenAddr(tt.in)
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("listenAddr(%q) error %v, want %q", tt.in, err, tt.err)
			}
		case err != nil || got != netip.MustParseAddrPort(tt.want):
			t.Errorf("listenAddr(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
