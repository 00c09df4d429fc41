package main

// scenario is one kind of load, run against every target that serves it.
type scenario struct {
	id, title string
	// tool is wrk, h2load or iperf3.
	tool string
	path string
	// closeConn asks for a new connection per request.
	closeConn bool
	// bulk scenarios report a bit rate, the others requests per second.
	bulk bool
	// addr is the address of a proxy target for this scenario ("" when
	// the target does not serve it).
	addr func(t target, l layout) string
	// direct is the address the "direct" (no proxy) row uses; "" when
	// there is none (a backend does not speak TLS).
	direct func(backends []string, bulk string) string
}

func l7Addr(t target, l layout) string {
	if !t.l7 {
		return ""
	}
	return l.H1
}

func l4Addr(t target, l layout) string {
	if !t.l4 {
		return ""
	}
	return l.L4
}

func firstBackend(backends []string, _ string) string { return backends[0] }

// scenarios are the measurements in the order they are reported.
func scenarios() []scenario {
	return []scenario{
		{id: "l7-ka-1k", title: "L7 HTTP/1.1 keep-alive, 1 KiB", tool: "wrk", path: "/1k",
			addr: l7Addr, direct: firstBackend},
		{id: "l7-ka-0", title: "L7 HTTP/1.1 keep-alive, 0 B", tool: "wrk", path: "/0",
			addr: l7Addr, direct: firstBackend},
		{id: "l7-close-1k", title: "L7 HTTP/1.1 new connection per request, 1 KiB", tool: "wrk", path: "/1k", closeConn: true,
			addr: l7Addr, direct: firstBackend},
		{id: "l7-h2-tls-1k", title: "L7 HTTPS + HTTP/2 (h2load), 1 KiB", tool: "h2load", path: "/1k",
			addr: func(t target, l layout) string {
				if !t.h2 {
					return ""
				}
				return l.H2
			},
			direct: func([]string, string) string { return "" }},
		{id: "l4-ka-1k", title: "L4 TCP proxy, HTTP/1.1 keep-alive through it, 1 KiB", tool: "wrk", path: "/1k",
			addr: l4Addr, direct: firstBackend},
		{id: "l4-close-1k", title: "L4 TCP proxy, new connection per request, 1 KiB", tool: "wrk", path: "/1k", closeConn: true,
			addr: l4Addr, direct: firstBackend},
		{id: "l4-bulk", title: "L4 TCP proxy, bulk throughput (iperf3, 1 stream)", tool: "iperf3", bulk: true,
			addr: func(t target, l layout) string {
				if !t.l4 {
					return ""
				}
				return l.L4Bulk
			},
			direct: func(_ []string, bulk string) string { return bulk }},
	}
}
