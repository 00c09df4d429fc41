package l7

import (
	"net/http"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// TestStatus: per listener, server, location, upstream and peer counters.
func TestStatus(t *testing.T) {
	a := newBackend(t, "a")
	a.setHandler(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/err" {
			w.WriteHeader(503)
			return true
		}
		_, _ = w.Write([]byte("0123456789"))
		return true
	})
	addr := freeAddr(t, "127.0.0.1")
	cfg := oneServer(addr, []config.Location{
		{Match: "/", ProxyPass: "http://up"},
		{Match: "= /r", Return: &config.Return{Code: 301, Text: "/x"}},
	}, config.Upstream{Name: "up", Servers: servers(a.addr)})
	cfg.Servers[0].ServerNames = []string{"s.example"}
	p := startProxy(t, cfg)
	hc := client(addr)
	get(t, hc, "POST", "http://x/ok", nil, "12345")
	get(t, hc, "GET", "http://x/ok", nil, "")
	get(t, hc, "GET", "http://x/err", nil, "")
	get(t, hc, "GET", "http://x/r", nil, "")
	st := p.Status()
	if len(st.Listeners) != 1 || st.Listeners[0].Address != addr.String() || st.Listeners[0].Accepted < 1 {
		t.Errorf("listeners %+v", st.Listeners)
	}
	srv := st.Servers[0]
	if srv.Names[0] != "s.example" || srv.Counters.Requests != 4 || srv.Counters.Responses2xx != 2 ||
		srv.Counters.Responses5xx != 1 || srv.Counters.Responses3xx != 1 || srv.Counters.Active != 0 {
		t.Errorf("server counters %+v", srv.Counters)
	}
	if l := srv.Locations[0]; l.Match != "/" || l.Counters.Requests != 3 || l.Counters.BytesIn != 5 || l.Counters.BytesOut != 20 {
		t.Errorf("location / counters %+v", l.Counters)
	}
	if l := srv.Locations[1]; l.Match != "= /r" || l.Counters.Requests != 1 || l.Counters.Responses3xx != 1 {
		t.Errorf("location = /r counters %+v", l.Counters)
	}
	up := st.Upstreams[0]
	if up.Name != "up" || up.Balance != "nginx round robin" || up.Counters.Requests != 3 || up.Counters.Responses5xx != 1 {
		t.Errorf("upstream %+v", up)
	}
	pe := up.Peers[0]
	if pe.Address != a.addr || pe.State != PeerUp || pe.Counters.Requests != 3 || pe.Counters.Responses2xx != 2 ||
		pe.Counters.BytesOut != 20 || pe.Counters.Active != 0 || pe.Weight != 1 {
		t.Errorf("peer %+v", pe)
	}
	// Connections close and the count goes back.
	hc.CloseIdleConnections()
	eventually(t, 2*time.Second, "connections closed", func() bool { return p.Status().Listeners[0].Connections == 0 })
}
