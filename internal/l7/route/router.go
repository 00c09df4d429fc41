package route

import "errors"

// maxURIChanges is NGX_HTTP_MAX_URI_CHANGES: r->uri_changes starts at
// 10 + 1 and ngx_http_core_post_rewrite_phase decrements it before each
// new lookup, failing when it reaches 0: 10 URI changes are allowed.
const maxURIChanges = 10

// ErrRewriteCycle is nginx's "rewrite or internal redirection cycle"
// (answered with 500).
var ErrRewriteCycle = errors.New("rewrite or internal redirection cycle")

// Router is one server block: its server-level rewrite directives and its
// locations.
type Router struct {
	Server    *Script
	Locations *Matcher
}

// Decision is where a request ends up.
type Decision struct {
	// Location is the selected location (nil: the server level).
	Location *Location
	// Captures are $0..$n of the last regex that matched.
	Captures []string
	// Outcome is non-zero when nginx answers by itself: an auto-redirect
	// 301, a rewrite redirect or a "return".
	Outcome
}

// Route runs the phases of ngx_http_core_module.c that pick a location:
// the server rewrite phase once, then find-config (with its auto-redirect
// 301), the location rewrite phase and post-rewrite, which loops back to
// find-config while a rewrite changed the URI (at most 10 times).
// st is updated in place; build the upstream URI from it afterwards.
func (rt *Router) Route(st *State) (Decision, error) {
	out, err := rt.Server.Run(st)
	if err != nil {
		return Decision{Outcome: out}, err
	}
	if out.Status != 0 {
		return Decision{Outcome: out}, nil
	}
	changes := maxURIChanges + 1
	for {
		// ngx_http_core_find_config_phase
		st.URIChanged = false
		var d Decision
		if rt.Locations != nil {
			loc, caps, redirect := rt.Locations.Match(st.URI)
			d.Location = loc
			if caps != nil {
				st.Captures = caps
			}
			if redirect {
				d.Captures = st.Captures
				d.Status = 301
				d.Redirect = loc.RedirectTarget(st.Args)
				return d, nil
			}
		}
		// ngx_http_rewrite_handler in the location rewrite phase; it is
		// skipped when no location matched.
		if d.Location != nil {
			out, err := d.Location.script.Run(st)
			d.Captures = st.Captures
			if err != nil {
				d.Outcome = out
				return d, err
			}
			if out.Status != 0 {
				d.Outcome = out
				return d, nil
			}
		}
		d.Captures = st.Captures
		// ngx_http_core_post_rewrite_phase
		if !st.URIChanged {
			return d, nil
		}
		changes--
		if changes == 0 {
			return Decision{Outcome: Outcome{Status: 500}}, ErrRewriteCycle
		}
	}
}
