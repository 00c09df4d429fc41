package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fulcrumlb/fulcrum/internal/health"
	"github.com/fulcrumlb/fulcrum/internal/l7"
	"github.com/fulcrumlb/fulcrum/internal/vrrp"
)

// NewMetricsHandler serves Prometheus metrics read from adm at scrape time,
// on a registry of its own (no global state).
func NewMetricsHandler(adm Admin) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{adm: adm},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type collector struct{ adm Admin }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("fulcrum_"+name, help, labels, nil)
}

var (
	svcLabels  = []string{"service"}
	realLabels = []string{"service", "real"}

	mSvcConns    = desc("service_connections_total", "Connections scheduled by the virtual service.", svcLabels...)
	mSvcPackets  = desc("service_packets_total", "Packets through the virtual service (in: from clients, out: to clients).", "service", "direction")
	mSvcBytes    = desc("service_bytes_total", "Payload bytes through the virtual service.", "service", "direction")
	mSvcCPS      = desc("service_connection_rate", "Connections per second (IPVS 2 s estimator).", svcLabels...)
	mSvcPPS      = desc("service_packet_rate", "Packets per second (IPVS 2 s estimator).", "service", "direction")
	mSvcBPS      = desc("service_byte_rate", "Bytes per second (IPVS 2 s estimator).", "service", "direction")
	mRealConns   = desc("real_connections_total", "Connections scheduled to the real server.", realLabels...)
	mRealActive  = desc("real_active_connections", "IPVS ActiveConn: TCP connections in ESTABLISHED.", realLabels...)
	mRealInact   = desc("real_inactive_connections", "IPVS InActConn: connections in any other state, and all UDP flows.", realLabels...)
	mRealPersist = desc("real_persistent_connections", "Persistence templates bound to the real server.", realLabels...)
	mRealWeight  = desc("real_weight", "Scheduling weight; 0 means quiescent (draining).", realLabels...)
	mRealOver    = desc("real_overloaded", "1 while the upper connection threshold is reached.", realLabels...)
	mRealPackets = desc("real_packets_total", "Packets exchanged with clients via the real server.", "service", "real", "direction")
	mRealBytes   = desc("real_bytes_total", "Payload bytes exchanged with clients via the real server.", "service", "real", "direction")
	mRealCPS     = desc("real_connection_rate", "Connections per second to the real server (IPVS 2 s estimator).", realLabels...)
	mRealBPS     = desc("real_byte_rate", "Bytes per second via the real server (IPVS 2 s estimator).", "service", "real", "direction")
	mReloads     = desc("config_reloads_total", "Configuration changes applied after start (file reloads and admin changes).")
	mReloadFails = desc("config_reload_failures_total", "Configuration changes rejected; the running configuration was kept.")
	mReloadOK    = desc("config_last_reload_successful", "1 if the last configuration change was applied.")
	mConnEntries = desc("connection_table_entries", "Entries in the connection table, including persistence templates.")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mSvcConns, mSvcPackets, mSvcBytes, mSvcCPS, mSvcPPS, mSvcBPS,
		mRealConns, mRealActive, mRealInact, mRealPersist, mRealWeight, mRealOver, mRealPackets, mRealBytes,
		mRealCPS, mRealBPS, mReloads, mReloadFails, mReloadOK, mConnEntries,
		mRealHealthy, mQuorumUp, mSorryActive, mVRRPState, mVRRPPriority, mVRRPAdverts, mVRRPRejected,
		mHTTPRequests, mHTTPResponses, mHTTPBytes, mUpRequests, mUpResponses, mUpState, mUpFails, mHTTPConns,
		mLimitReq, mLimitConn, mLimitEntries, mRefererReject, mSecureReject, mCompressBytes, mCompressResp,
		mImageBytes, mImageCount, mFloodRejected, mSynCookies} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	if info, err := c.adm.Info(ctx); err == nil {
		counter(mReloads, info.Reloads)
		counter(mReloadFails, info.ReloadFailures)
		ok := 1.0
		if info.LastReloadError != "" {
			ok = 0
		}
		gauge(mReloadOK, ok)
	}
	if conns, err := c.adm.Conns(ctx); err == nil {
		gauge(mConnEntries, float64(len(conns)))
	}
	svcs, err := c.adm.Services(ctx)
	if err != nil {
		return
	}
	c.collectHA(ctx, svcs, ch)
	for _, s := range svcs {
		name := ServiceName(s.ServiceKey)
		counter(mSvcConns, s.Stats.Conns, name)
		counter(mSvcPackets, s.Stats.InPkts, name, "in")
		counter(mSvcPackets, s.Stats.OutPkts, name, "out")
		counter(mSvcBytes, s.Stats.InBytes, name, "in")
		counter(mSvcBytes, s.Stats.OutBytes, name, "out")
		gauge(mSvcCPS, float64(s.Rates.CPS), name)
		gauge(mSvcPPS, float64(s.Rates.InPPS), name, "in")
		gauge(mSvcPPS, float64(s.Rates.OutPPS), name, "out")
		gauge(mSvcBPS, float64(s.Rates.InBPS), name, "in")
		gauge(mSvcBPS, float64(s.Rates.OutBPS), name, "out")
		for _, r := range s.Reals {
			counter(mRealConns, r.Stats.Conns, name, r.Address)
			gauge(mRealActive, float64(r.ActiveConns), name, r.Address)
			gauge(mRealInact, float64(r.InactConns), name, r.Address)
			gauge(mRealPersist, float64(r.PersistConns), name, r.Address)
			gauge(mRealWeight, float64(r.Weight), name, r.Address)
			over := 0.0
			if r.Overloaded {
				over = 1
			}
			gauge(mRealOver, over, name, r.Address)
			counter(mRealPackets, r.Stats.InPkts, name, r.Address, "in")
			counter(mRealPackets, r.Stats.OutPkts, name, r.Address, "out")
			counter(mRealBytes, r.Stats.InBytes, name, r.Address, "in")
			counter(mRealBytes, r.Stats.OutBytes, name, r.Address, "out")
			gauge(mRealCPS, float64(r.Rates.CPS), name, r.Address)
			gauge(mRealBPS, float64(r.Rates.InBPS), name, r.Address, "in")
			gauge(mRealBPS, float64(r.Rates.OutBPS), name, r.Address, "out")
		}
	}
}

// ServiceName is the label value naming a service: "tcp/10.0.0.1:80",
// "udp/[::1]:53" or "fwmark/1" ("fwmark6/1" for IPv6).
func ServiceName(k ServiceKey) string {
	if k.FWMark != 0 {
		if k.IPv6 {
			return "fwmark6/" + itoa(k.FWMark)
		}
		return "fwmark/" + itoa(k.FWMark)
	}
	return k.Protocol + "/" + k.Address
}

func itoa(v uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

var (
	mRealHealthy  = desc("real_healthy", "1 while the real server's checkers say it is up (keepalived's alive flag); absent without checks.", realLabels...)
	mQuorumUp     = desc("service_quorum_up", "1 while the service has quorum (sum of alive weights).", svcLabels...)
	mSorryActive  = desc("service_sorry_server_active", "1 while the sorry server replaces the real servers.", svcLabels...)
	mVRRPState    = desc("vrrp_state", "1 for the instance's current state.", "instance", "state")
	mVRRPPriority = desc("vrrp_effective_priority", "Priority with the trackers' weights applied.", "instance")
	mVRRPAdverts  = desc("vrrp_adverts_total", "VRRP adverts sent and received.", "instance", "direction")
	mVRRPRejected = desc("vrrp_adverts_rejected_total", "Received adverts dropped, by reason.", "instance", "reason")
)

// collectHA adds health and VRRP metrics.
func (c *collector) collectHA(ctx context.Context, svcs []Service, ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, s := range svcs {
		h := s.Health
		if h == nil {
			continue
		}
		name := ServiceName(s.ServiceKey)
		gauge(mQuorumUp, b(h.QuorumUp), name)
		gauge(mSorryActive, b(h.SorryActive), name)
		for _, r := range h.Reals {
			if r.State == health.StateUnchecked {
				continue
			}
			gauge(mRealHealthy, b(r.State == health.StateUp), name, r.Address.String())
		}
	}
	sr, ok := c.adm.(StatusReader)
	if !ok {
		return
	}
	c.collectHTTP(ctx, sr, ch)
	insts, err := sr.VRRP(ctx)
	if err != nil {
		return
	}
	for _, in := range insts {
		for st := vrrp.StateInit; st <= vrrp.StateStop; st++ {
			gauge(mVRRPState, b(in.State == st), in.Name, st.String())
		}
		gauge(mVRRPPriority, float64(in.EffectivePriority), in.Name)
		ch <- prometheus.MustNewConstMetric(mVRRPAdverts, prometheus.CounterValue, float64(in.Sent), in.Name, "sent")
		ch <- prometheus.MustNewConstMetric(mVRRPAdverts, prometheus.CounterValue, float64(in.Received), in.Name, "received")
		for reason, n := range in.Rejected {
			ch <- prometheus.MustNewConstMetric(mVRRPRejected, prometheus.CounterValue, float64(n), in.Name, string(reason))
		}
	}
}

var (
	mHTTPRequests  = desc("http_requests_total", "HTTP requests by virtual server (its first name or listen address) and location.", "server", "location")
	mHTTPResponses = desc("http_responses_total", "HTTP responses by status class.", "server", "location", "class")
	mHTTPBytes     = desc("http_bytes_total", "HTTP body bytes (in: request bodies, out: response bodies).", "server", "location", "direction")
	mUpRequests    = desc("upstream_requests_total", "Requests sent to an upstream server, retries included.", "upstream", "server")
	mUpResponses   = desc("upstream_responses_total", "Upstream responses by status class.", "upstream", "server", "class")
	mUpState       = desc("upstream_server_up", "1 while the upstream server takes requests (not down, failing or ejected).", "upstream", "server")
	mUpFails       = desc("upstream_server_failures_total", "Failed attempts (error, timeout, listed 5xx).", "upstream", "server")
	mHTTPConns     = desc("http_connections", "Open client connections per listener.", "listener")

	mLimitReq      = desc("http_limit_req_requests_total", "Requests seen by a limit_req zone, by outcome (passed, delayed, rejected).", "zone", "outcome")
	mLimitConn     = desc("http_limit_conn_requests_total", "Requests seen by a limit_conn zone, by outcome (passed, rejected).", "zone", "outcome")
	mLimitEntries  = desc("http_limit_zone_entries", "Keys held by a limit zone.", "zone", "kind")
	mRefererReject = desc("http_referer_rejected_total", "Requests refused for an invalid Referer (hotlink protection).", "server", "location")
	mSecureReject  = desc("http_secure_link_rejected_total", "Requests refused for a missing, bad or expired signed link.", "server", "location")
	mCompressBytes = desc("http_compression_bytes_total", "Bytes before (in) and after (out) response compression, by codec.", "codec", "direction")
	mCompressResp  = desc("http_compressed_responses_total", "Responses compressed, by codec.", "codec")
	mImageBytes    = desc("http_image_bytes_saved_total", "Bytes saved by recompressing images.")
	mImageCount    = desc("http_images_total", "Images seen by the recompression filter, by outcome.", "outcome")
	mFloodRejected = desc("http_flood_rejected_total", "Connections refused at accept by the flood defence, by reason.", "reason")
	mSynCookies    = desc("syn_cookies", "net.ipv4.tcp_syncookies at start (1 or 2: the kernel absorbs SYN floods; 0: off; -1: unknown).")
)

// collectHTTP adds the L7 proxy's counters.
func (c *collector) collectHTTP(ctx context.Context, sr StatusReader, ch chan<- prometheus.Metric) {
	st, err := sr.HTTP(ctx)
	if err != nil {
		return
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	classes := func(d *prometheus.Desc, ct l7.Counters, l ...string) {
		for _, c := range []struct {
			class string
			v     uint64
		}{{"1xx", ct.Responses1xx}, {"2xx", ct.Responses2xx}, {"3xx", ct.Responses3xx}, {"4xx", ct.Responses4xx}, {"5xx", ct.Responses5xx}} {
			counter(d, c.v, append(l, c.class)...)
		}
	}
	for _, ls := range st.Listeners {
		ch <- prometheus.MustNewConstMetric(mHTTPConns, prometheus.GaugeValue, float64(ls.Connections), ls.Address)
	}
	for _, s := range st.Servers {
		name := strings.Join(s.Listen, ",")
		if len(s.Names) > 0 {
			name = s.Names[0]
		}
		for _, loc := range s.Locations {
			counter(mHTTPRequests, loc.Counters.Requests, name, loc.Match)
			classes(mHTTPResponses, loc.Counters, name, loc.Match)
			counter(mHTTPBytes, loc.Counters.BytesIn, name, loc.Match, "in")
			counter(mHTTPBytes, loc.Counters.BytesOut, name, loc.Match, "out")
		}
	}
	for _, s := range st.Servers {
		name := strings.Join(s.Listen, ",")
		if len(s.Names) > 0 {
			name = s.Names[0]
		}
		for _, loc := range s.Locations {
			counter(mRefererReject, loc.RefererRejected, name, loc.Match)
			counter(mSecureReject, loc.SecureLinkRejected, name, loc.Match)
		}
	}
	for _, z := range st.LimitReqZones {
		counter(mLimitReq, z.Passed, z.Name, "passed")
		counter(mLimitReq, z.Delayed, z.Name, "delayed")
		counter(mLimitReq, z.Rejected, z.Name, "rejected")
		ch <- prometheus.MustNewConstMetric(mLimitEntries, prometheus.GaugeValue, float64(z.Entries), z.Name, "limit_req")
	}
	for _, z := range st.LimitConnZones {
		counter(mLimitConn, z.Passed, z.Name, "passed")
		counter(mLimitConn, z.Rejected, z.Name, "rejected")
		ch <- prometheus.MustNewConstMetric(mLimitEntries, prometheus.GaugeValue, float64(z.Entries), z.Name, "limit_conn")
	}
	for _, c := range st.Compression {
		counter(mCompressBytes, c.BytesIn, c.Codec, "in")
		counter(mCompressBytes, c.BytesOut, c.Codec, "out")
		counter(mCompressResp, c.Responses, c.Codec)
	}
	counter(mImageBytes, st.Images.BytesSaved)
	counter(mImageCount, st.Images.Recompressed, "recompressed")
	counter(mImageCount, st.Images.Resized, "resized")
	counter(mImageCount, st.Images.Untouched, "untouched")
	counter(mImageCount, st.Images.CacheHits, "cache_hit")
	counter(mFloodRejected, st.Flood.RejectedRate, "rate")
	counter(mFloodRejected, st.Flood.RejectedConns, "concurrency")
	counter(mFloodRejected, st.Flood.FirstByteTimeouts, "first_byte_timeout")
	ch <- prometheus.MustNewConstMetric(mSynCookies, prometheus.GaugeValue, float64(st.Flood.SynCookies))
	for _, u := range st.Upstreams {
		for _, p := range u.Peers {
			counter(mUpRequests, p.Counters.Requests, u.Name, p.Server)
			classes(mUpResponses, p.Counters, u.Name, p.Server)
			counter(mUpFails, p.Fails, u.Name, p.Server)
			up := 0.0
			if p.State == l7.PeerUp {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(mUpState, prometheus.GaugeValue, up, u.Name, p.Server)
		}
	}
}
