package l7

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// matcher is one condition of an HTTPRoute.
type matcher interface {
	match(rq *request) bool
}

// reqMatcher adapts the route package's request matchers.
type reqMatcher struct{ m route.RequestMatcher }

func (m reqMatcher) match(rq *request) bool { return m.m.Match(rq.r) }

// cookieRegex matches when a cookie of that name has a value matching
// the (RE2) expression.
type cookieRegex struct {
	name string
	re   *regexp.Regexp
}

func (m cookieRegex) match(rq *request) bool {
	for _, c := range rq.r.CookiesNamed(m.name) {
		if m.re.MatchString(c.Value) {
			return true
		}
	}
	return false
}

// queryRegex matches when a query parameter (decoded as url.ParseQuery
// does) matches the (RE2) expression.
type queryRegex struct {
	name string
	re   *regexp.Regexp
}

func (m queryRegex) match(rq *request) bool {
	for _, v := range rq.r.URL.Query()[m.name] {
		if m.re.MatchString(v) {
			return true
		}
	}
	return false
}

// sourceMatcher matches the client address: the PROXY protocol source or,
// behind a trusted proxy, the address X-Forwarded-For names (so it sees
// what $remote_addr says).
type sourceMatcher []netip.Prefix

func (m sourceMatcher) match(rq *request) bool {
	a := rq.client.Addr().Unmap()
	for _, p := range m {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// uaMatcher matches any of the User-Agent classes of
// config.RouteMatch.UserAgents: a browser family, "mobile" or "bot".
type uaMatcher struct {
	families []route.Family
	mobile   bool
	bot      bool
}

func newUAMatcher(classes []string) (uaMatcher, error) {
	var m uaMatcher
	for _, c := range classes {
		switch f := route.Family(strings.ToLower(c)); f {
		case route.FamilyChrome, route.FamilyFirefox, route.FamilySafari, route.FamilyEdge,
			route.FamilyIE, route.FamilyOpera, route.FamilyOther:
			m.families = append(m.families, f)
		case "mobile":
			m.mobile = true
		case "bot":
			m.bot = true
		default:
			return uaMatcher{}, fmt.Errorf("unknown user agent class %q", c)
		}
	}
	return m, nil
}

func (m uaMatcher) match(rq *request) bool {
	c := route.ClassifyUserAgent(rq.r.UserAgent())
	if (m.mobile && c.Mobile) || (m.bot && c.Bot) {
		return true
	}
	for _, f := range m.families {
		if c.Family == f {
			return true
		}
	}
	return false
}

// langMatcher matches when the client's preferred language among all the
// languages of the location's routes (Accept-Language with q-values,
// route.BestLanguage) is one of this route's.
type langMatcher struct {
	available []string
	want      []string
}

func (m langMatcher) match(rq *request) bool {
	best, ok := route.BestLanguage(rq.r.Header.Get("Accept-Language"), m.available)
	if !ok {
		return false
	}
	for _, w := range m.want {
		if strings.EqualFold(w, best) {
			return true
		}
	}
	return false
}
