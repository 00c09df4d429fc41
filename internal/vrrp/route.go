package vrrp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseRoute parses one virtual_routes line in keepalived's syntax
// (keepalived.conf(5) "virtual_routes"; vrrp_iproute.c alloc_route):
//
//	[src IP] [to] PREFIX|default [via|gw IP] [dev IF] [scope S] [table N] [metric N] [no_track]
//	blackhole|unreachable|prohibit PREFIX [table N] [metric N]
//
// A bare address is a host route. dev defaults to defaultDev when the
// route is a unicast route. Options keepalived has beyond these (or,
// mtu, advmss, realms, ...) are refused rather than ignored.
func ParseRoute(s, defaultDev string) (Route, error) {
	r := Route{Original: s}
	w := strings.Fields(s)
	if len(w) == 0 {
		return r, fmt.Errorf("empty route")
	}
	var dst string
	for i := 0; i < len(w); i++ {
		kw := w[i]
		val := func() (string, error) {
			if i+1 >= len(w) {
				return "", fmt.Errorf("route %q: %s needs a value", s, kw)
			}
			i++
			return w[i], nil
		}
		var err error
		var v string
		switch kw {
		case "blackhole", "unreachable", "prohibit":
			if r.Type != "" || dst != "" {
				return r, fmt.Errorf("route %q: %s must come first", s, kw)
			}
			r.Type = kw
			if dst, err = val(); err != nil {
				return r, err
			}
		case "to":
			if dst, err = val(); err != nil {
				return r, err
			}
		case "src":
			if v, err = val(); err != nil {
				return r, err
			}
			if r.Src, err = netip.ParseAddr(v); err != nil {
				return r, fmt.Errorf("route %q: src: %w", s, err)
			}
		case "via", "gw":
			if v, err = val(); err != nil {
				return r, err
			}
			if r.Via, err = netip.ParseAddr(v); err != nil {
				return r, fmt.Errorf("route %q: via: %w", s, err)
			}
		case "dev", "oif":
			if r.Dev, err = val(); err != nil {
				return r, err
			}
		case "scope":
			if r.Scope, err = val(); err != nil {
				return r, err
			}
		case "table", "metric", "preference", "priority":
			if v, err = val(); err != nil {
				return r, err
			}
			n, perr := strconv.ParseUint(v, 10, 32)
			if perr != nil {
				return r, fmt.Errorf("route %q: %s %q is not a number", s, kw, v)
			}
			if kw == "table" {
				r.Table = int(n)
			} else {
				r.Metric = int(n)
			}
		case "no_track":
			// Route tracking (keepalived re-adds deleted routes) is not
			// implemented; the flag changes nothing here.
		default:
			if dst != "" {
				return r, fmt.Errorf("route %q: unknown option %q", s, kw)
			}
			dst = kw
		}
	}
	if dst == "" {
		return r, fmt.Errorf("route %q: no destination", s)
	}
	switch {
	case dst == "default" && (r.Via.Is6() || r.Src.Is6()):
		r.Dst = netip.MustParsePrefix("::/0")
	case dst == "default":
		r.Dst = netip.MustParsePrefix("0.0.0.0/0")
	case strings.Contains(dst, "/"):
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			return r, fmt.Errorf("route %q: %w", s, err)
		}
		r.Dst = p.Masked()
	default:
		a, err := netip.ParseAddr(dst)
		if err != nil {
			return r, fmt.Errorf("route %q: destination: %w", s, err)
		}
		r.Dst = netip.PrefixFrom(a, a.BitLen())
	}
	for _, a := range []netip.Addr{r.Via, r.Src} {
		if a.IsValid() && a.Is4() != r.Dst.Addr().Is4() {
			return r, fmt.Errorf("route %q: %s is not of the destination's family", s, a)
		}
	}
	if r.Type == "" && r.Dev == "" {
		r.Dev = defaultDev
	}
	return r, nil
}
