package l7

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/l7/route"
)

// mapVar is nginx's `map SOURCE $VARIABLE { ... }`
// (src/http/modules/ngx_http_map_module.c): a variable computed, when a
// request first uses it, from another value. The lookup is
// ngx_http_map_find's: the exact string, ignoring case; with "hostnames",
// the most specific "*.suffix" then "prefix.*" (a trailing dot of the
// value dropped); then the regexes in order ("~" case-sensitive, "~*"
// caseless) against the value as it is; else the default (empty when
// none). Values are templates that may use variables and the captures of
// the regex that matched.
type mapVar struct {
	name      string
	idx       int
	src       *tmpl
	hostnames bool
	exact     map[string]*tmpl
	head      map[string]*tmpl // "*.a.com", ".a.com" as "a.com"
	tail      map[string]*tmpl // "a.*" as "a"
	regexes   []mapRegex
	def       *tmpl
	refs      []string // variables the map uses, for the cycle check
}

type mapRegex struct {
	re  *route.Regex
	val *tmpl
}

// mapSet is the configuration's maps by variable name.
type mapSet struct {
	byName map[string]*mapVar
	list   []*mapVar
}

func (ms *mapSet) lookup(name string) *mapVar {
	if ms == nil {
		return nil
	}
	return ms.byName[name]
}

// compileMaps builds the maps and checks every variable they use, and
// that no map depends on itself (nginx finds such a loop only at run
// time: "cycle while evaluating variable").
func compileMaps(cms []config.Map) (*mapSet, error) {
	ms := &mapSet{byName: map[string]*mapVar{}}
	for i, cm := range cms {
		name := strings.ToLower(strings.TrimPrefix(cm.Variable, "$"))
		if !strings.HasPrefix(cm.Variable, "$") || name == "" || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !isVarChar(byte(r)) }) >= 0 {
			return nil, fmt.Errorf("map %d: invalid variable %q", i+1, cm.Variable)
		}
		if knownVar(name) {
			return nil, fmt.Errorf("map $%s: the variable is built in", name)
		}
		if _, dup := ms.byName[name]; dup {
			return nil, fmt.Errorf("map $%s: duplicate map", name)
		}
		m := &mapVar{name: name, idx: len(ms.list), hostnames: cm.Hostnames, exact: map[string]*tmpl{}}
		var err error
		if m.src, err = m.parse(cm.Source); err != nil {
			return nil, fmt.Errorf("map $%s: source: %w", name, err)
		}
		if m.def, err = m.parse(cm.Default); err != nil {
			return nil, fmt.Errorf("map $%s: default: %w", name, err)
		}
		for _, e := range cm.Entries {
			if err := m.add(e); err != nil {
				return nil, fmt.Errorf("map $%s: %q: %w", name, e.Match, err)
			}
		}
		ms.byName[name] = m
		ms.list = append(ms.list, m)
	}
	for _, m := range ms.list {
		for _, r := range m.refs {
			if !knownVar(r) && ms.byName[r] == nil {
				return nil, fmt.Errorf("map $%s: unknown variable \"$%s\"", m.name, r)
			}
		}
	}
	// Cycle check: depth-first over map-to-map references.
	state := make([]uint8, len(ms.list))
	var visit func(m *mapVar) error
	visit = func(m *mapVar) error {
		switch state[m.idx] {
		case 1:
			return fmt.Errorf("map $%s: cycle while evaluating the variable", m.name)
		case 2:
			return nil
		}
		state[m.idx] = 1
		for _, r := range m.refs {
			if d := ms.byName[r]; d != nil {
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		state[m.idx] = 2
		return nil
	}
	for _, m := range ms.list {
		if err := visit(m); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// parse compiles a template and records the variables it names.
func (m *mapVar) parse(s string) (*tmpl, error) {
	t, err := parseTmpl(s)
	if err != nil {
		return nil, err
	}
	for _, p := range t.parts {
		if p.name != "" {
			m.refs = append(m.refs, p.name)
		}
	}
	return t, nil
}

// add is one line of the map block (ngx_http_map): "~re"/"~*re", a
// leading "\" escaping a string that would read as something else, an
// exact string (lower-cased, as ngx_hash_add_key stores it), or with
// hostnames a wildcard.
func (m *mapVar) add(e config.MapEntry) error {
	val, err := m.parse(e.Value)
	if err != nil {
		return err
	}
	k := e.Match
	if strings.HasPrefix(k, "~") {
		p, caseless := k[1:], false
		if strings.HasPrefix(p, "*") {
			p, caseless = p[1:], true
		}
		if p == "" {
			return errors.New("empty regex")
		}
		re, err := route.CompileRegex(p, caseless)
		if err != nil {
			return err
		}
		m.regexes = append(m.regexes, mapRegex{re: re, val: val})
		return nil
	}
	k = strings.TrimPrefix(k, `\`)
	key := strings.ToLower(k)
	put := func(t map[string]*tmpl, k string) error {
		if _, dup := t[k]; dup {
			return errors.New("conflicting parameter")
		}
		t[k] = val
		return nil
	}
	if !m.hostnames {
		return put(m.exact, key)
	}
	if m.head == nil {
		m.head, m.tail = map[string]*tmpl{}, map[string]*tmpl{}
	}
	switch {
	case strings.Count(key, "*") > 1 || strings.Contains(key, ".."):
		return errors.New("invalid hostname or wildcard")
	case len(key) > 1 && key[0] == '.' && !strings.Contains(key, "*"):
		if err := put(m.head, key[1:]); err != nil {
			return err
		}
		return put(m.exact, key[1:])
	case len(key) > 2 && strings.HasPrefix(key, "*.") && !strings.Contains(key[2:], "*"):
		return put(m.head, key[2:])
	case len(key) > 2 && strings.HasSuffix(key, ".*"):
		return put(m.tail, key[:len(key)-2])
	case strings.Contains(key, "*"):
		return errors.New("invalid hostname or wildcard")
	}
	return put(m.exact, key)
}

// eval computes the map's value for a request.
func (m *mapVar) eval(rq *request) string {
	v := m.src.expand(rq)
	if m.hostnames && len(v) > 0 && v[len(v)-1] == '.' {
		v = v[:len(v)-1]
	}
	low := asciiLower(v)
	if t, ok := m.exact[low]; ok {
		return t.expand(rq)
	}
	if m.hostnames && low != "" {
		for i := 0; i < len(low); i++ {
			if low[i] == '.' && i+1 < len(low) {
				if t, ok := m.head[low[i+1:]]; ok {
					return t.expand(rq)
				}
			}
		}
		for i := len(low) - 1; i > 0; i-- {
			if low[i] == '.' {
				if t, ok := m.tail[low[:i]]; ok {
					return t.expand(rq)
				}
			}
		}
	}
	if v != "" {
		for _, r := range m.regexes {
			if caps := r.re.FindSubmatch(v); caps != nil {
				return r.val.expand(capVars{rq: rq, caps: caps})
			}
		}
	}
	return m.def.expand(rq)
}

// capVars resolves a map value: the request's variables, the map regex's
// captures.
type capVars struct {
	rq   *request
	caps []string
}

func (c capVars) variable(name string) (string, bool) { return c.rq.variable(name) }
func (c capVars) captures() []string                  { return c.caps }

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// maps are the maps of the request's configuration.
func (rq *request) maps() *mapSet {
	if rq.lconf == nil || rq.lconf.snap == nil {
		return nil
	}
	return rq.lconf.snap.maps
}

// mapValue returns a map variable's value for the request, computed once
// per request (nginx caches variable values per request).
func (rq *request) mapValue(m *mapVar) string {
	if rq.mapState == nil {
		n := len(rq.maps().list)
		rq.mapState = make([]uint8, n)
		rq.mapVals = make([]string, n)
	}
	switch rq.mapState[m.idx] {
	case 2:
		return rq.mapVals[m.idx]
	case 1:
		return "" // unreachable: cycles are refused when built
	}
	rq.mapState[m.idx] = 1
	v := m.eval(rq)
	rq.mapVals[m.idx], rq.mapState[m.idx] = v, 2
	return v
}
