package route

import (
	"fmt"
	"strings"
)

// Location modifiers, as written after the "location" keyword.
const (
	ModPrefix         = ""   // location /p
	ModExact          = "="  // location = /p
	ModPrefixNoRegex  = "^~" // location ^~ /p
	ModRegex          = "~"  // location ~ re
	ModRegexCaseless  = "~*" // location ~* re
	ModNamed          = "@"  // location @name (Pattern is the name without "@")
	maxNestedLocation = 64
)

// Location is one nginx location block. Compile takes ownership: a Location
// must not be shared between matchers or changed after Compile.
type Location struct {
	Modifier string
	Pattern  string
	Nested   []*Location
	// AutoRedirect says the content handler is proxy_pass, fastcgi_pass,
	// uwsgi_pass, scgi_pass, memcached_pass or grpc_pass. nginx then sets
	// clcf->auto_redirect when the name ends in "/" (ngx_http_proxy_pass),
	// and a request for the name without that slash gets a 301.
	AutoRedirect bool
	// Rewrites are the rewrite-module directives of the block, run by
	// Router in the location rewrite phase.
	Rewrites []Directive
	// Handler is opaque to this package.
	Handler any

	parent      *Location
	regex       *Regex
	escapedName string
	script      *Script
	level
}

// level is what ngx_http_init_locations leaves in a server or location:
// a static tree of exact and prefix locations and the regex locations in
// configuration order.
type level struct {
	static  *treeNode
	regexes []*Location
}

// Name is the location name as nginx prints it ("/p", "^/re/", "@n").
func (l *Location) Name() string {
	if l.Modifier == ModNamed {
		return "@" + l.Pattern
	}
	return l.Pattern
}

// Parent returns the enclosing location, nil at the server level.
func (l *Location) Parent() *Location { return l.parent }

func (l *Location) isRegex() bool {
	return l.Modifier == ModRegex || l.Modifier == ModRegexCaseless
}

func (l *Location) isStatic() bool {
	return l.Modifier == ModPrefix || l.Modifier == ModExact || l.Modifier == ModPrefixNoRegex
}

// RedirectTarget is the Location header nginx sends with the auto-redirect
// 301: the location name escaped with NGX_ESCAPE_URI, then "?args" when the
// request had a query (ngx_http_core_find_config_phase). nginx's header
// filter then prefixes scheme://host[:port] (absolute_redirect on).
func (l *Location) RedirectTarget(args string) string {
	if args == "" {
		return l.escapedName
	}
	return l.escapedName + "?" + args
}

// Matcher finds the location for a normalized URI.
type Matcher struct {
	level
	named map[string]*Location
}

// Compile checks the locations of one server as nginx's configuration
// parser does (ngx_http_core_location, ngx_http_init_locations,
// ngx_http_join_exact_locations) and builds the lookup tree
// (ngx_http_init_static_location_trees).
func Compile(locs []*Location) (*Matcher, error) {
	m := &Matcher{named: map[string]*Location{}}
	for _, l := range locs {
		if err := prepare(l, nil, 0); err != nil {
			return nil, err
		}
		if l.Modifier == ModNamed {
			// nginx keeps all named locations; ngx_http_named_location
			// takes the first with the name.
			if _, dup := m.named[l.Pattern]; !dup {
				m.named[l.Pattern] = l
			}
		}
	}
	lv, err := buildLevel(locs)
	if err != nil {
		return nil, err
	}
	m.level = lv
	return m, nil
}

// Named returns the named location "@name" (the "@" is optional).
func (m *Matcher) Named(name string) *Location {
	return m.named[strings.TrimPrefix(name, "@")]
}

func prepare(l *Location, parent *Location, depth int) error {
	if depth > maxNestedLocation {
		return fmt.Errorf("locations nested deeper than %d", maxNestedLocation)
	}
	l.parent = parent
	switch l.Modifier {
	case ModNamed:
		l.Pattern = strings.TrimPrefix(l.Pattern, "@")
	case ModPrefix, ModExact, ModPrefixNoRegex:
	case ModRegex, ModRegexCaseless:
		re, err := compileRegex(l.Pattern, l.Modifier == ModRegexCaseless)
		if err != nil {
			return fmt.Errorf("location %q: %w", l.Pattern, err)
		}
		l.regex = re
	default:
		return fmt.Errorf("invalid location modifier %q", l.Modifier)
	}
	if parent != nil {
		// ngx_http_core_location, nested location checks.
		switch {
		case parent.Modifier == ModExact:
			return fmt.Errorf("location %q cannot be inside the exact location %q", l.Name(), parent.Name())
		case parent.Modifier == ModNamed:
			return fmt.Errorf("location %q cannot be inside the named location %q", l.Name(), parent.Name())
		case l.Modifier == ModNamed:
			return fmt.Errorf("named location %q can be on the server level only", l.Name())
		case !l.isRegex() && !strings.HasPrefix(l.Pattern, parent.Pattern):
			// Even inside a regex location a static name must start
			// with the parent's name, i.e. the regex source.
			return fmt.Errorf("location %q is outside location %q", l.Name(), parent.Name())
		}
	}
	l.escapedName = EscapeURI(l.Name())
	if len(l.Rewrites) > 0 {
		s, err := NewScript(l.Rewrites)
		if err != nil {
			return fmt.Errorf("location %q: %w", l.Name(), err)
		}
		l.script = s
	}
	for _, n := range l.Nested {
		if err := prepare(n, l, depth+1); err != nil {
			return err
		}
	}
	lv, err := buildLevel(l.Nested)
	if err != nil {
		return err
	}
	l.level = lv
	return nil
}

// Match returns the location nginx picks for a normalized path
// (ngx_http_core_find_location): an exact "=" match stops at once; else
// the longest matching prefix is remembered and its nested locations are
// searched; unless that prefix is "^~", the regex locations are tried in
// configuration order (nested regexes of the chosen prefix first) and the
// first match wins, with its captures ($0..$n); else the prefix stands.
// redirect301 reports nginx's auto-redirect: the path is a proxied prefix
// location's name minus its final "/"; answer 301 with
// loc.RedirectTarget(args). loc is nil when nothing matches (nginx then
// uses the server-level configuration).
func (m *Matcher) Match(path string) (loc *Location, captures []string, redirect301 bool) {
	loc, captures, rc := m.level.find(path, nil)
	return loc, captures, rc == findDone
}

// Results of a lookup, after ngx_http_core_find_location.
const (
	findDeclined = iota // no match at this level
	findAgain           // inclusive (prefix) match
	findOK              // exact or regex match
	findDone            // auto redirect
)

// find runs ngx_http_core_find_location for one level. cur is the location
// selected so far (r->loc_conf); the result replaces it.
func (lv *level) find(uri string, cur *Location) (*Location, []string, int) {
	var caps []string
	static, rc := lv.static.find(uri)
	noregex := false
	switch rc {
	case findOK, findDone:
		return static, nil, rc
	case findAgain:
		cur = static
		noregex = static.Modifier == ModPrefixNoRegex
		// Look up the locations nested in the prefix.
		var nrc int
		cur, caps, nrc = static.level.find(uri, cur)
		if nrc == findOK || nrc == findDone {
			return cur, caps, nrc
		}
	}
	if !noregex {
		for _, r := range lv.regexes {
			if !r.regex.MatchString(uri) {
				continue
			}
			rcaps := r.regex.FindSubmatch(uri)
			nested, ncaps, nrc := r.level.find(uri, r)
			if nrc == findOK && ncaps != nil {
				// A nested regex matched and replaced the captures.
				return nested, ncaps, findOK
			}
			return nested, rcaps, findOK
		}
	}
	return cur, caps, rc
}

// treeNode is ngx_http_location_tree_node_t.
type treeNode struct {
	left, right, tree *treeNode
	exact, inclusive  *Location
	autoRedirect      bool
	name              string
}

// find is ngx_http_core_find_static_location.
func (n *treeNode) find(uri string) (*Location, int) {
	rv := findDeclined
	var loc *Location
	for n != nil {
		k := len(n.name)
		if len(uri) < k {
			k = len(uri)
		}
		if c := filenameCmp(uri, n.name, k); c != 0 {
			if c < 0 {
				n = n.left
			} else {
				n = n.right
			}
			continue
		}
		if len(uri) > len(n.name) {
			if n.inclusive != nil {
				loc, rv = n.inclusive, findAgain
				uri = uri[k:]
				n = n.tree
				continue
			}
			// Exact only.
			n = n.right
			continue
		}
		if len(uri) == len(n.name) {
			if n.exact != nil {
				return n.exact, findOK
			}
			return n.inclusive, findAgain
		}
		// len(uri) < len(n.name)
		if len(uri)+1 == len(n.name) && n.autoRedirect {
			if n.exact != nil {
				loc = n.exact
			} else {
				loc = n.inclusive
			}
			rv = findDone
		}
		n = n.left
	}
	return loc, rv
}

// filenameCmp is ngx_filename_cmp on a case-sensitive file system: a byte
// comparison in which "/" sorts before every other byte but NUL, and a
// NUL ends the comparison.
func filenameCmp(a, b string, n int) int {
	for i := 0; i < n; i++ {
		c1, c2 := int(a[i]), int(b[i])
		if c1 == c2 {
			if c1 == 0 {
				return 0
			}
			continue
		}
		if c1 == 0 || c2 == 0 {
			return c1 - c2
		}
		if c1 == '/' {
			c1 = 0
		}
		if c2 == '/' {
			c2 = 0
		}
		return c1 - c2
	}
	return 0
}

// cmpNames orders static location names as ngx_http_cmp_locations does
// (ngx_filename_cmp over min(len)+1 bytes, so a name sorts before its
// extensions).
func cmpNames(a, b string) int {
	n := len(a)
	if len(b) < n {
		n = len(b)
	}
	if c := filenameCmp(a, b, n); c != 0 {
		return c
	}
	return len(a) - len(b)
}

// queueItem is ngx_http_location_queue_t.
type queueItem struct {
	name             string
	exact, inclusive *Location
	list             []*queueItem
}

// buildLevel splits one level's locations as ngx_http_init_locations does
// and builds its static tree.
func buildLevel(locs []*Location) (level, error) {
	var lv level
	var items []*queueItem
	for _, l := range locs {
		switch {
		case l.isRegex():
			lv.regexes = append(lv.regexes, l)
		case l.Modifier == ModExact:
			items = append(items, &queueItem{name: l.Pattern, exact: l})
		case l.isStatic():
			items = append(items, &queueItem{name: l.Pattern, inclusive: l})
		}
	}
	if len(items) == 0 {
		return lv, nil
	}
	// ngx_queue_sort is a stable insertion sort; an exact location sorts
	// before the inclusive one of the same name.
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && lessItem(items[j], items[j-1]); j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
	items, err := joinExact(items)
	if err != nil {
		return lv, err
	}
	items = createList(items)
	lv.static = createTree(items, 0)
	return lv, nil
}

func lessItem(a, b *queueItem) bool {
	c := cmpNames(a.name, b.name)
	if c == 0 {
		return a.exact != nil && b.exact == nil
	}
	return c < 0
}

// joinExact is ngx_http_join_exact_locations: an exact and an inclusive
// location of the same name share one tree node; two of a kind are a
// "duplicate location".
func joinExact(items []*queueItem) ([]*queueItem, error) {
	out := items[:1]
	for _, x := range items[1:] {
		q := out[len(out)-1]
		if q.name != x.name {
			out = append(out, x)
			continue
		}
		if (q.exact != nil && x.exact != nil) || (q.inclusive != nil && x.inclusive != nil) {
			return nil, fmt.Errorf("duplicate location %q", x.name)
		}
		if x.exact != nil {
			q.exact = x.exact
		} else {
			q.inclusive = x.inclusive
		}
	}
	return out, nil
}

// createList is ngx_http_create_locations_list: every inclusive location
// adopts the following locations whose names it prefixes.
func createList(items []*queueItem) []*queueItem {
	var out []*queueItem
	for i := 0; i < len(items); {
		q := items[i]
		out = append(out, q)
		i++
		if q.inclusive == nil {
			continue
		}
		j := i
		for j < len(items) && len(items[j].name) >= len(q.name) &&
			filenameCmp(q.name, items[j].name, len(q.name)) == 0 {
			j++
		}
		if j > i {
			q.list = createList(items[i:j])
			i = j
		}
	}
	return out
}

// createTree is ngx_http_create_locations_tree: the middle item
// (ngx_queue_middle) is the node, the halves its subtrees, and its adopted
// list the "tree" searched with the node's name stripped.
func createTree(items []*queueItem, prefix int) *treeNode {
	mid := len(items) / 2
	q := items[mid]
	n := &treeNode{
		exact:     q.exact,
		inclusive: q.inclusive,
		name:      q.name[prefix:],
	}
	n.autoRedirect = (q.exact != nil && q.exact.autoRedirects()) ||
		(q.inclusive != nil && q.inclusive.autoRedirects())
	if mid > 0 {
		n.left = createTree(items[:mid], prefix)
	}
	if mid+1 < len(items) {
		n.right = createTree(items[mid+1:], prefix)
	}
	if len(q.list) > 0 {
		n.tree = createTree(q.list, prefix+len(n.name))
	}
	return n
}

func (l *Location) autoRedirects() bool {
	return l.AutoRedirect && strings.HasSuffix(l.Pattern, "/")
}
