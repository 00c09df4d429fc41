package ipvsadm

import (
	"context"
	"net/netip"
	"os"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/api"
)

// testResolver names a few hosts and reads ports from testdata/services (a
// subset of Debian netbase's /etc/services), so listings never touch DNS.
type testResolver struct {
	hosts    map[netip.Addr]string
	services *ServicesTable
}

// testHosts are the names the non-numeric listings show. The long one is
// longer than the 28 and 33 byte columns and the 59 byte buffer of
// addrport_to_anyname, to show the truncation.
var testHosts = map[string]string{
	"10.0.0.1":      "www.example.com",
	"192.168.1.10":  "backend-with-a-rather-long-hostname.example.internal.lan",
	"192.168.100.1": "vip-with-a-long-name.example.com",
	"2001:db8::10":  "v6backend.example",
}

func newTestResolver(t testing.TB) *testResolver {
	f, err := os.Open("testdata/services")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := ParseServices(f)
	if err != nil {
		t.Fatal(err)
	}
	r := &testResolver{hosts: map[netip.Addr]string{}, services: st}
	for a, n := range testHosts {
		r.hosts[netip.MustParseAddr(a)] = n
	}
	return r
}

func (r *testResolver) HostAddr(_ context.Context, name string) (netip.Addr, bool) {
	for a, n := range r.hosts {
		if n == name && a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func (r *testResolver) HostName(_ context.Context, a netip.Addr) (string, bool) {
	n, ok := r.hosts[a]
	return n, ok
}

func (r *testResolver) Port(name, proto string) (uint16, bool) { return r.services.Port(name, proto) }
func (r *testResolver) PortName(port uint16, proto string) (string, bool) {
	return r.services.PortName(port, proto)
}

// Counter values that walk every print_largenum branch: below 10^8 printed
// whole, then K (10^3) below 10^9, M (10^6) below 10^11, G (10^9) below
// 10^14, T (10^12) above, with the boundaries on both sides.
var (
	statsBig = api.Stats{
		Conns:    12345,
		InPkts:   123456789,           // K
		OutPkts:  98765432101,         // M
		InBytes:  12345678901234,      // G
		OutBytes: 1234567890123456789, // T
	}
	statsEdges = api.Stats{
		Conns:    99999999,        // largest plain, exactly 8 digits
		InPkts:   100000000,       // smallest K
		OutPkts:  999999999,       // largest K
		InBytes:  1000000000,      // smallest M
		OutBytes: 100000000000000, // smallest T
	}
	statsEdges2 = api.Stats{
		Conns:    99999999999,          // largest M
		InPkts:   100000000000,         // smallest G
		OutPkts:  99999999999999,       // largest G
		InBytes:  18446744073709551615, // max uint64
		OutBytes: 0,
	}
	ratesBig = api.Rates{CPS: 123456789, InPPS: 4567, OutPPS: 3456, InBPS: 2345678901, OutBPS: 987654321012}
)

// fixtureServices is a realistic table in the API's order (services as
// configured, reals newest first). It mixes families, protocols, fwmarks,
// persistence, scheduler flags and forwarding methods, and includes
// 192.168.100.1, which ipvsadm's wrapping comparator sorts before 10.x.
func fixtureServices() []api.Service {
	return []api.Service{
		{
			ServiceKey: api.ServiceKey{Protocol: "tcp", Address: "10.0.0.1:80"},
			Scheduler:  "wlc",
			Stats:      statsBig, Rates: ratesBig,
			Reals: []api.Real{
				{Address: "192.168.1.10:80", Forward: "Masq", Weight: 1, ActiveConns: 12, InactConns: 3, PersistConns: 0, Stats: statsEdges, Rates: ratesBig},
				{Address: "192.168.1.2:8080", Forward: "Masq", Weight: 5, ActiveConns: 4294967295, InactConns: 1234567890, Stats: statsEdges2, Rates: api.Rates{CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 99999999, OutBPS: 100000000}},
			},
		},
		{
			ServiceKey: api.ServiceKey{Protocol: "udp", Address: "10.0.0.2:53"},
			Scheduler:  "wrr", OnePacket: true,
			Stats: api.Stats{Conns: 7, InPkts: 8, OutPkts: 9, InBytes: 10, OutBytes: 11},
			Reals: []api.Real{
				{Address: "192.168.2.2:53", Forward: "Masq", Weight: 65535, InactConns: 17},
				{Address: "192.168.2.1:53", Forward: "Masq", Weight: 0, InactConns: 2},
			},
		},
		{
			ServiceKey: api.ServiceKey{Protocol: "tcp", Address: "192.168.100.1:80"},
			Scheduler:  "sh", SchedFlags: []string{"sh-fallback", "sh-port"},
			Reals: []api.Real{
				{Address: "10.1.0.2:80", Forward: "Route", Weight: 2, ActiveConns: 1},
				{Address: "172.16.0.1:80", Forward: "Tunnel", Weight: 3},
			},
		},
		{
			ServiceKey: api.ServiceKey{Protocol: "tcp", Address: "10.0.0.1:443"},
			Scheduler:  "rr", Persistent: true, Timeout: 360, Netmask: "255.255.255.0",
			Reals: []api.Real{
				{Address: "192.168.1.3:443", Forward: "Route", Weight: 10, UpperThreshold: 1000, LowerThreshold: 750, ActiveConns: 999, InactConns: 5, PersistConns: 42, Overloaded: false},
				{Address: "192.168.1.10:443", Forward: "Route", Weight: 1, UpperThreshold: 65535, PersistConns: 7},
			},
		},
		{
			ServiceKey: api.ServiceKey{FWMark: 2, IPv6: true},
			Scheduler:  "mh", SchedFlags: []string{"mh-port"}, Persistent: true, Timeout: 600, Netmask: "64",
			Reals: []api.Real{
				{Address: "[2001:db8::20]:0", Forward: "Route", Weight: 1},
			},
		},
		{
			ServiceKey: api.ServiceKey{FWMark: 1},
			Scheduler:  "wlc", Persistent: true, Timeout: 300, Netmask: "255.255.255.255",
			Stats: statsEdges,
			Reals: []api.Real{
				{Address: "192.168.3.1:0", Forward: "Route", Weight: 1, PersistConns: 3},
			},
		},
		{
			ServiceKey: api.ServiceKey{Protocol: "tcp", Address: "[2001:db8::1]:80"},
			Scheduler:  "lc", SchedFlags: []string{"flag-3"},
			Stats: statsEdges2,
			Reals: []api.Real{
				{Address: "[2001:db8::10]:80", Forward: "Masq", Weight: 1, ActiveConns: 2, Stats: statsBig},
				{Address: "[2001:db8::2]:8080", Forward: "Masq", Weight: 4},
				{Address: "[::ffff:192.168.9.9]:80", Forward: "Masq", Weight: 1},
			},
		},
		{
			ServiceKey: api.ServiceKey{Protocol: "tcp", Address: "10.0.0.3:0"},
			Scheduler:  "lblcr", Persistent: true, Timeout: 2678400, Netmask: "255.255.0.0",
			Reals: []api.Real{
				{Address: "192.168.4.1:0", Forward: "Tunnel", Weight: 100, UpperThreshold: 50, LowerThreshold: 10, ActiveConns: 50, InactConns: 0, Overloaded: true},
				{Address: "192.168.4.2:0", Forward: "Local", Weight: 1},
			},
		},
	}
}

// fixtureConns cover TCP, UDP, a persistence template of a TCP service
// (client port 0, state NONE), a fwmark template (protocol IP), IPv6, and
// expiry values around the mm:ss rollover.
func fixtureConns() []api.Conn {
	return []api.Conn{
		{Protocol: "TCP", Client: "10.1.1.5:51000", Virtual: "10.0.0.1:80", Dest: "192.168.1.10:80", State: "ESTABLISHED", ExpiresMs: 899999},
		{Protocol: "TCP", Client: "10.1.1.6:0", Virtual: "10.0.0.1:443", Dest: "192.168.1.3:443", State: "NONE", ExpiresMs: 359000, Template: true},
		{Protocol: "TCP", Client: "10.1.1.6:40001", Virtual: "10.0.0.1:443", Dest: "192.168.1.3:443", State: "FIN_WAIT", ExpiresMs: 59999},
		{Protocol: "UDP", Client: "10.1.1.7:33333", Virtual: "10.0.0.2:53", Dest: "192.168.2.2:53", State: "UDP", ExpiresMs: 300000},
		{Protocol: "IP", Client: "10.1.1.8:0", Virtual: "0.0.0.1:0", Dest: "192.168.3.1:0", State: "NONE", ExpiresMs: 86400000, Template: true},
		{Protocol: "TCP", Client: "[2001:db8::99]:40000", Virtual: "[2001:db8::1]:80", Dest: "[2001:db8::10]:80", State: "SYN_RECV", ExpiresMs: 0},
		{Protocol: "TCP", Client: "10.1.1.9:65535", Virtual: "192.168.100.1:80", Dest: "10.1.0.2:80", State: "CLOSE_WAIT", ExpiresMs: 60000},
	}
}

func fixtureAdmin() *fakeAdmin {
	f := newFake()
	f.svcs = fixtureServices()
	f.conns = fixtureConns()
	return f
}
