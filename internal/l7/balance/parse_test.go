package balance

import (
	"reflect"
	"testing"
)

func TestParseNginx(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Config
		err  bool
	}{
		{"", Config{Method: NginxRoundRobin}, false},
		{"least_conn;", Config{Method: NginxLeastConn}, false},
		{"  ip_hash ;  ", Config{Method: NginxIPHash}, false},
		{"hash $request_uri", Config{Method: NginxHash, KeyExpr: "$request_uri"}, false},
		{`hash "$scheme$host $uri" consistent;`, Config{Method: NginxHashConsistent, KeyExpr: "$scheme$host $uri"}, false},
		{`hash '$a\'b'`, Config{Method: NginxHash, KeyExpr: "$a'b"}, false},
		{"random", Config{Method: NginxRandom}, false},
		{"random two", Config{Method: NginxRandomTwo, LeastConn: true}, false},
		{"random two least_conn;", Config{Method: NginxRandomTwo, LeastConn: true}, false},
		{"random two least_time=header", Config{}, true}, // NGINX Plus only
		{"random three", Config{}, true},
		{"hash", Config{}, true},
		{"hash $a maybe", Config{}, true},
		{"hash $a consistent extra", Config{}, true},
		{"least_conn now", Config{}, true},
		{"ip_hash; least_conn", Config{}, true},
		{"sticky cookie srv", Config{}, true},
		{`hash "unterminated`, Config{}, true},
		{"hash { }", Config{}, true},
	} {
		got, err := ParseNginx(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseNginx(%q): error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseNginx(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseHAProxy(t *testing.T) {
	for _, tc := range []struct {
		balance, hashType string
		want              Config
		err               bool
	}{
		{"", "", Config{Method: HAProxyRoundRobin}, false},
		{"static-rr", "", Config{Method: HAProxyStaticRR}, false},
		{"leastconn", "", Config{Method: HAProxyLeastConn}, false},
		{"first", "", Config{Method: HAProxyFirst}, false},
		{"source", "consistent", Config{Method: HAProxySource, Consistent: true, Avalanche: true}, false},
		{"source", "consistent sdbm", Config{Method: HAProxySource, Consistent: true}, false},
		{"source", "map-based", Config{Method: HAProxySource}, false},
		{"uri", "map-based djb2 avalanche", Config{Method: HAProxyURI, HashFunc: DJB2, Avalanche: true}, false},
		{"uri len 10 depth 3 whole path-only", "consistent wt6", Config{Method: HAProxyURI, URILen: 10, URIDepth: 3, URIWhole: true, URIPathOnly: true, Consistent: true, HashFunc: WT6}, false},
		{"url_param userid", "map-based crc32", Config{Method: HAProxyURLParam, Param: "userid", HashFunc: CRC32}, false},
		{"hdr(Host) use_domain_only", "", Config{Method: HAProxyHdr, Header: "Host", UseDomainOnly: true}, false},
		{"hash req.cookie(id)", "", Config{Method: HAProxyHash, KeyExpr: "req.cookie(id)"}, false},
		{"roundrobin x", "", Config{}, true},
		{"uri len 0", "", Config{}, true},
		{"uri depth", "", Config{}, true},
		{"uri deep", "", Config{}, true},
		{"url_param", "", Config{}, true},
		{"url_param id check_post", "", Config{}, true},
		{"hdr()", "", Config{}, true},
		{"hdr(x", "", Config{}, true},
		{"hdr(x) use_domain", "", Config{}, true},
		{"random", "", Config{}, true},
		{"rdp-cookie", "", Config{}, true},
		{"uri", "avalanche", Config{}, true},
		{"uri", "consistent md5", Config{}, true},
		{"uri", "consistent sdbm fast", Config{}, true},
	} {
		got, err := ParseHAProxy(tc.balance, tc.hashType)
		if (err != nil) != tc.err {
			t.Errorf("ParseHAProxy(%q, %q): error %v, want error %v", tc.balance, tc.hashType, err, tc.err)
			continue
		}
		if !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseHAProxy(%q, %q) = %+v, want %+v", tc.balance, tc.hashType, got, tc.want)
		}
	}
}

// roundTrip checks that a parsed configuration formats back to text that
// parses to the same configuration.
func roundTrip(t *testing.T, c Config) {
	t.Helper()
	var back Config
	var err error
	if c.Method.nginx() {
		var d string
		if d, err = c.NginxDirective(); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		back, err = ParseNginx(d)
	} else {
		var bal, ht string
		if bal, ht, err = c.HAProxyDirectives(); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		back, err = ParseHAProxy(bal, ht)
	}
	if err != nil {
		t.Fatalf("%+v: formatted form does not parse: %v", c, err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip: %+v became %+v", c, back)
	}
}

func FuzzParseNginx(f *testing.F) {
	for _, s := range []string{"", "least_conn;", "hash $uri consistent", `hash "a b"`, "random two least_conn", "ip_hash"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseNginx(s)
		if err != nil {
			return
		}
		if !c.Method.nginx() {
			t.Fatalf("%q parsed to %v", s, c.Method)
		}
		roundTrip(t, c)
	})
}

func FuzzParseHAProxy(f *testing.F) {
	for _, s := range [][2]string{{"roundrobin", ""}, {"uri len 3 depth 2 whole", "consistent"}, {"hdr(host) use_domain_only", "map-based wt6 avalanche"},
		{"url_param id", ""}, {"hash src", "consistent crc32"}, {"source", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, balance, hashType string) {
		c, err := ParseHAProxy(balance, hashType)
		if err != nil {
			return
		}
		if !c.Method.haproxy() {
			t.Fatalf("%q parsed to %v", balance, c.Method)
		}
		roundTrip(t, c)
		if _, err := New(c, letters(1, 2), Options{}); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	})
}
