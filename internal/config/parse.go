package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// MaxFileSize bounds what ReadFile reads; a real config is a few
// kilobytes.
const MaxFileSize = 16 << 20

// minNodeBudget bounds the YAML nodes the decoder visits, counting every
// alias expansion, so that a small file of aliases cannot make it work for
// ages ("billion laughs"). A bigger input gets one node per byte, more than
// it can hold without aliases.
const minNodeBudget = 1 << 20

// Load reads and parses the config file at path. An I/O error comes back as
// one Diagnostic naming the file.
func Load(path string) (*Config, Diagnostics) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, Diagnostics{{File: path, Severity: Error, Message: err.Error()}}
	}
	return Parse(path, data)
}

// ReadFile reads a config file of at most MaxFileSize bytes, for Load and
// the format adapters. Its errors read "reading config: ..." without the
// path, which the Diagnostic carrying them already names.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", unwrapPath(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", unwrapPath(err))
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("reading config: larger than %d MiB", MaxFileSize>>20)
	}
	return data, nil
}

// unwrapPath drops the path from an *fs.PathError: the Diagnostic already
// names the file.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse decodes a native YAML config strictly (unknown keys, wrong types
// and duplicate keys are errors), fills the defaults, and validates the
// result. It reports every problem at once, in line order, each with
// file:line:key; file is only used to name the input. The config is nil
// when any diagnostic is an error; warnings come with a usable config.
//
// The input is a single YAML document (default.yaml is a commented
// example, docs/configuration.md the reference). Durations are Go syntax
// ("900s", "15m") or an integer number of seconds. A key with an empty
// value counts as an empty mapping or list, aliases are followed, and
// merge keys (<<) are refused. An empty input is the empty config:
// defaults and no service. Health checks are resolved here: a check takes
// what it leaves out from its service's health.check_defaults, then from
// ResolveCheckDefaults, so every Check in the result carries its values.
func Parse(file string, data []byte) (*Config, Diagnostics) {
	c, ds := decode(file, data)
	if ds.Err() != nil {
		return nil, ds
	}
	return c, ds
}

// decode does Parse's work and returns the config even when it has errors.
func decode(file string, data []byte) (*Config, Diagnostics) {
	d := &decoder{file: file, bad: map[string]bool{}, quiet: map[string]bool{}, origin: map[string]string{}, budget: max(minNodeBudget, len(data))}
	c := &Config{Source: file}
	d.root = d.load(data)
	if !d.fatal {
		d.config(d.root, c)
	}
	if !d.fatal {
		Normalize(c)
		type seenDiag struct {
			key, msg string
			sev      Severity
		}
		seen := map[seenDiag]bool{}
		for _, v := range Validate(c) {
			// A value written under an alias, or inherited from
			// check_defaults, is reported where it was written; several
			// checks inheriting one bad value give one diagnostic.
			if o, ok := d.origin[v.Key]; ok {
				v.Key = o
			}
			if d.suppressed(v.Key) || seen[seenDiag{v.Key, v.Message, v.Severity}] {
				continue
			}
			seen[seenDiag{v.Key, v.Message, v.Severity}] = true
			v.File = file
			v.Line, v.Column = d.locate(v.Key)
			d.ds = append(d.ds, v)
		}
	}
	slices.SortStableFunc(d.ds, func(a, b Diagnostic) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return c, d.ds
}

// decoder walks the yaml.Node tree itself rather than letting the yaml
// package fill structs, so that it can report every problem with its
// position instead of stopping at the first.
type decoder struct {
	file  string
	root  *yaml.Node
	ds    Diagnostics
	bad   map[string]bool // key paths whose value did not decode
	quiet map[string]bool // keys (not their children) Validate must not report
	// origin maps the schema path of a value to the key it was written
	// under when that differs: an alias, or a check_defaults entry.
	origin map[string]string
	nodes  int
	budget int
	fatal  bool // the input is not a usable YAML document at all
}

func (d *decoder) load(data []byte) *yaml.Node {
	// Duplicate keys are found by the walker so that every one of them is
	// reported, not only the first.
	l, err := yaml.NewLoader(bytes.NewReader(data), yaml.WithUniqueKeys(false))
	if err != nil {
		d.syntax(err)
		return nil
	}
	var doc yaml.Node
	if err := l.Load(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			d.syntax(err)
		}
		return nil
	}
	for {
		var next yaml.Node
		err := l.Load(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d.syntax(err)
			return nil
		}
		if !emptyDocument(&next) { // a stray trailing "---" is harmless
			d.fatal = true
			d.ds = append(d.ds, Diagnostic{File: d.file, Line: next.Line, Column: next.Column, Message: "a second YAML document; a config is a single document"})
			return nil
		}
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil
		}
		return doc.Content[0]
	}
	return &doc
}

func emptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == ""
}

// syntax turns a yaml package error into a Diagnostic with its position.
func (d *decoder) syntax(err error) {
	d.fatal = true
	diag := Diagnostic{File: d.file, Severity: Error, Message: "yaml: " + err.Error()}
	var le *yaml.LoadError
	if errors.As(err, &le) {
		diag.Line, diag.Column = le.Mark.Line, le.Mark.Column
		diag.Message = "yaml: " + le.Message
		if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark.Line != le.Mark.Line {
			diag.Message += fmt.Sprintf(" (%s started on line %d)", strings.TrimPrefix(le.ContextMsg, "while "), le.ContextMark.Line)
		} else if le.ContextMsg != "" {
			diag.Message += " (" + le.ContextMsg + ")"
		}
	}
	d.ds = append(d.ds, diag)
}

// errorf reports a value at node n for key path that did not decode, and
// marks the path so that Validate does not report its zero value again.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.report(n, path, format, args...)
}

// report records an error that leaves the decoded value alone (a key that
// is ignored), so Validate still checks the value.
func (d *decoder) report(n *yaml.Node, path, format string, args ...any) {
	diag := Diagnostic{File: d.file, Key: path, Severity: Error, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		diag.Line, diag.Column = n.Line, n.Column
	} else {
		diag.Line, diag.Column = d.locate(path)
	}
	d.ds = append(d.ds, diag)
}

// suppressed reports whether a Validate diagnostic concerns a value that
// already failed to decode (its zero value would only cause noise).
func (d *decoder) suppressed(key string) bool {
	if d.quiet[key] {
		return true
	}
	for k := key; ; {
		if d.bad[k] {
			return true
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			return false
		}
		k = k[:i]
	}
}

// locate maps a key path such as services[0].reals[1].weight to the
// position of its YAML key, or of the nearest parent present in the input,
// by walking the tree again; only the few diagnostics need it.
func (d *decoder) locate(key string) (line, col int) {
	n := d.root
	for rest := key; rest != "" && n != nil; {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var seg string
		if rest[0] == '[' {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				break
			}
			seg, rest = rest[1:end], rest[end+1:]
			i, err := strconv.Atoi(seg)
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				break
			}
			n = n.Content[i]
			line, col = n.Line, n.Column
			continue
		}
		rest = strings.TrimPrefix(rest, ".")
		end := strings.IndexAny(rest, ".[")
		if end < 0 {
			end = len(rest)
		}
		seg, rest = rest[:end], rest[end:]
		if n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == seg && k.ShortTag() != "!!merge" {
				line, col, next = k.Line, k.Column, n.Content[i+1]
				break
			}
		}
		n = next
	}
	return line, col
}

// resolve follows aliases and counts visited nodes. It returns nil once
// the node budget is spent.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	d.nodes++
	if d.nodes > d.budget {
		if !d.fatal {
			d.fatal = true
			d.ds = append(d.ds, Diagnostic{File: d.file, Line: n.Line, Column: n.Column, Severity: Error,
				Message: fmt.Sprintf("document too large: more than %d nodes after alias expansion", d.budget)})
		}
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's type and value for type errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("string %q", clip(n.Value))
		case "!!int":
			return "integer " + clip(n.Value)
		case "!!float":
			return "float " + clip(n.Value)
		case "!!bool":
			return "boolean " + n.Value
		case "!!null":
			return "null"
		default:
			return "a value tagged " + n.ShortTag()
		}
	}
	return "an unsupported node"
}

// clip shortens a value quoted in a message, so that a long block of text
// in the wrong place does not flood the output.
func clip(s string) string {
	const limit = 60
	if r := []rune(s); len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return s
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// field is one key a mapping accepts.
type field struct {
	name   string
	decode func(v *yaml.Node, path string)
}

// mapping decodes the pairs of n through fields; null counts as empty.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field) {
	if n = d.resolve(n); n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	type seen struct {
		key  string
		line int
	}
	var first []seen
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			if k.ShortTag() == "!!merge" {
				d.report(k, join(path, k.Value), "merge keys (<<) are not supported; repeat the settings or use an alias for the whole value")
			} else {
				d.report(k, path, "a key must be a plain string, got %s", describe(k))
			}
			continue
		}
		kp := join(path, k.Value)
		if j := slices.IndexFunc(first, func(s seen) bool { return s.key == k.Value }); j >= 0 {
			d.report(k, kp, "duplicate key (first set on line %d)", first[j].line)
			continue
		}
		first = append(first, seen{k.Value, k.Line})
		j := slices.IndexFunc(fields, func(f field) bool { return f.name == k.Value })
		if j < 0 {
			d.report(k, kp, "unknown key%s", suggest(k.Value, fields))
			continue
		}
		fields[j].decode(v, kp)
	}
}

// suggest proposes the known key closest to a misspelt one.
func suggest(key string, fields []field) string {
	best, bestD := "", 3
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return fmt.Sprintf(" %q (keys are lower case: %s)", key, f.name)
		}
		if dist := editDistance(key, f.name); dist < bestD {
			best, bestD = f.name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" %q (did you mean %s?)", key, best)
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return fmt.Sprintf(" %q (want one of %s)", key, strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance, enough to catch typos.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// sequence calls each for every item of n; null counts as empty.
func (d *decoder) sequence(n *yaml.Node, path string, each func(item *yaml.Node, path string)) {
	if n = d.resolve(n); n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a sequence, got %s", describe(n))
		return
	}
	for i, item := range n.Content {
		each(item, path+"["+strconv.Itoa(i)+"]")
		if d.fatal {
			return
		}
	}
}

// scalar resolves n and checks that it is a scalar with one of tags.
func (d *decoder) scalar(n *yaml.Node, path, want string, tags ...string) *yaml.Node {
	if n = d.resolve(n); n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && slices.Contains(tags, n.ShortTag()) {
		return n
	}
	d.errorf(n, path, "expected %s, got %s", want, describe(n))
	return nil
}

func (d *decoder) str(n *yaml.Node, path string, out *string) {
	if n = d.scalar(n, path, "a string", "!!str"); n != nil {
		*out = n.Value
	}
}

func (d *decoder) boolean(n *yaml.Node, path string, out *bool) {
	if n = d.scalar(n, path, "true or false", "!!bool"); n != nil {
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil {
			d.errorf(n, path, "expected true or false, got %q", n.Value)
			return
		}
		*out = b
	}
}

// integer decodes an integer in lo..hi; YAML writes 0x and 0o prefixes
// and the yaml package also resolves a leading 0 and _ separators as int.
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	if n = d.scalar(n, path, "an integer", "!!int"); n == nil {
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		d.errorf(n, path, "invalid integer %q", n.Value)
		return 0, false
	}
	if err != nil || i < lo || i > hi {
		d.errorf(n, path, "%s is out of range %d..%d", n.Value, lo, hi)
		return 0, false
	}
	return i, true
}

// duration accepts Go duration syntax ("900s", "15m") or an integer number
// of seconds, as ipvsadm takes seconds.
func (d *decoder) duration(n *yaml.Node, path string, out *time.Duration) {
	if n = d.scalar(n, path, `a duration like "900s" or a number of seconds`, "!!str", "!!int"); n == nil {
		return
	}
	if n.ShortTag() == "!!int" {
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || i < math.MinInt64/int64(time.Second) || i > math.MaxInt64/int64(time.Second) {
			d.errorf(n, path, "%s seconds is out of range", n.Value)
			return
		}
		*out = time.Duration(i) * time.Second
		return
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, "invalid duration %q: use Go syntax like \"900s\" or \"15m\", or an integer number of seconds", n.Value)
		return
	}
	*out = v
}

func (d *decoder) addrPort(n *yaml.Node, path string, out *netip.AddrPort) {
	var s string
	if n = d.scalar(n, path, "an ip:port address", "!!str"); n == nil {
		return
	}
	s = n.Value
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		d.errorf(n, path, "invalid address %q: want ip:port, with IPv6 in brackets like [::1]:80", s)
		return
	}
	*out = a
}

func (d *decoder) protocol(n *yaml.Node, path string, out *Protocol) {
	var s string
	d.str(n, path, &s)
	*out = Protocol(s)
}

// config decodes the top-level mapping; a nil root (an empty file) is the
// empty config: every default and no service.
func (d *decoder) config(root *yaml.Node, c *Config) {
	c.Admin.Socket = DefaultAdminSocket
	c.Timeouts = DefaultTimeouts
	if root == nil {
		return
	}
	if r := d.resolve(root); r != nil && !isNull(r) && r.Kind != yaml.MappingNode {
		d.fatal = true
		d.errorf(r, "", "expected a mapping of data_plane, xdp, admin, timeouts, services, global, vrrp_instances, vrrp_scripts, vrrp_sync_groups, http and demo at the top level, got %s", describe(r))
		return
	}
	d.mapping(root, "", []field{
		{"data_plane", func(v *yaml.Node, p string) { d.str(v, p, &c.DataPlane) }},
		{"xdp", func(v *yaml.Node, p string) {
			d.mapping(v, p, []field{
				{"interfaces", func(v *yaml.Node, p string) {
					d.sequence(v, p, func(item *yaml.Node, ip string) {
						var name string
						d.str(item, ip, &name)
						c.XDP.Interfaces = append(c.XDP.Interfaces, name)
					})
				}},
				{"mode", func(v *yaml.Node, p string) { d.str(v, p, &c.XDP.Mode) }},
			})
		}},
		{"admin", func(v *yaml.Node, p string) { d.admin(v, p, &c.Admin) }},
		{"timeouts", func(v *yaml.Node, p string) { d.timeouts(v, p, &c.Timeouts) }},
		{"services", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				c.Services = append(c.Services, d.service(item, ip))
			})
		}},
		{"global", func(v *yaml.Node, p string) { d.global(v, p, &c.Global) }},
		{"vrrp_instances", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				c.VRRPInstances = append(c.VRRPInstances, d.vrrpInstance(item, ip))
			})
		}},
		{"vrrp_scripts", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				c.VRRPScripts = append(c.VRRPScripts, d.vrrpScript(item, ip))
			})
		}},
		{"vrrp_sync_groups", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				c.VRRPSyncGroups = append(c.VRRPSyncGroups, d.vrrpSyncGroup(item, ip))
			})
		}},
		{"http", func(v *yaml.Node, p string) { c.HTTP = d.http(v, p) }},
		{"demo", func(v *yaml.Node, p string) {
			c.Demo = &Demo{}
			d.mapping(v, p, []field{
				{"backends", func(v *yaml.Node, p string) {
					d.sequence(v, p, func(item *yaml.Node, ip string) {
						c.Demo.Backends = append(c.Demo.Backends, d.demoBackend(item, ip))
					})
				}},
			})
		}},
	})
}

func (d *decoder) admin(n *yaml.Node, path string, a *Admin) {
	d.mapping(n, path, []field{
		{"socket", func(v *yaml.Node, p string) { d.str(v, p, &a.Socket) }},
		{"listen", func(v *yaml.Node, p string) { d.str(v, p, &a.Listen) }},
		{"token_file", func(v *yaml.Node, p string) { d.str(v, p, &a.TokenFile) }},
	})
}

func (d *decoder) timeouts(n *yaml.Node, path string, t *Timeouts) {
	d.mapping(n, path, []field{
		{"tcp", func(v *yaml.Node, p string) { d.duration(v, p, &t.TCP) }},
		{"tcpfin", func(v *yaml.Node, p string) { d.duration(v, p, &t.TCPFin) }},
		{"udp", func(v *yaml.Node, p string) { d.duration(v, p, &t.UDP) }},
	})
}

func (d *decoder) service(n *yaml.Node, path string) Service {
	var s Service
	var mask *yaml.Node // decoded once the service's family is known
	var maskSet bool
	var defs checkDefaults
	var sets [][]CheckFieldsSet // per real server, per check: the fields it gave
	d.mapping(n, path, []field{
		{"protocol", func(v *yaml.Node, p string) { d.protocol(v, p, &s.Protocol) }},
		{"address", func(v *yaml.Node, p string) { d.addrPort(v, p, &s.Address) }},
		{"fwmark", func(v *yaml.Node, p string) {
			// ipvsadm parse_fwmark: an integer in 1..UINT_MAX; 0 is "no
			// fwmark" in the model, so it cannot be written here.
			if i, ok := d.integer(v, p, 0, math.MaxUint32); ok {
				if i == 0 {
					d.errorf(nil, p, "invalid fwmark value 0: a firewall mark is greater than zero")
					return
				}
				s.FWMark = uint32(i)
			}
		}},
		{"ipv6", func(v *yaml.Node, p string) { d.boolean(v, p, &s.IPv6) }},
		{"scheduler", func(v *yaml.Node, p string) { d.str(v, p, &s.Scheduler) }},
		{"sched_flags", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				var f string
				d.str(item, ip, &f)
				s.SchedFlags = append(s.SchedFlags, f)
			})
		}},
		{"persistence", func(v *yaml.Node, p string) {
			s.Persistence = &Persistence{Timeout: DefaultPersistenceTimeout}
			d.mapping(v, p, []field{
				{"timeout", func(v *yaml.Node, p string) { d.duration(v, p, &s.Persistence.Timeout) }},
				{"netmask", func(v *yaml.Node, p string) { mask, maskSet = v, true }},
			})
		}},
		{"one_packet", func(v *yaml.Node, p string) { d.boolean(v, p, &s.OnePacket) }},
		{"proxy_protocol", func(v *yaml.Node, p string) { d.str(v, p, &s.ProxyProtocol) }},
		{"sorry_server", func(v *yaml.Node, p string) { d.addrPort(v, p, &s.SorryServer) }},
		{"health", func(v *yaml.Node, p string) { d.serviceHealth(v, p, &s.Health, &defs) }},
		{"reals", func(v *yaml.Node, p string) {
			d.sequence(v, p, func(item *yaml.Node, ip string) {
				r, set := d.real(item, ip)
				s.Reals = append(s.Reals, r)
				sets = append(sets, set)
			})
		}},
	})
	// check_defaults may come after the reals, so checks are resolved once
	// the whole service is read.
	d.resolveChecks(path, &s, sets, &defs)
	// A service whose identity did not decode has no family and no key;
	// keep Validate from guessing about either.
	for _, k := range []string{"protocol", "address", "fwmark", "ipv6"} {
		if d.bad[join(path, k)] {
			for _, k := range []string{"", ".protocol", ".address", ".fwmark", ".ipv6"} {
				d.quiet[path+k] = true
			}
			break
		}
	}
	if s.Persistence != nil {
		s.Persistence.PrefixBits = s.HostBits()
		if maskSet {
			d.netmask(mask, join(path, "persistence.netmask"), &s)
		}
	}
	return s
}

// netmask decodes the persistence granularity: a dotted IPv4 mask as ipvsadm
// -M takes it, "/N", or a prefix length N (the only form ipvsadm takes for
// IPv6 services).
func (d *decoder) netmask(n *yaml.Node, path string, s *Service) {
	if n = d.scalar(n, path, `a prefix length or a netmask like "255.255.255.0"`, "!!int", "!!str"); n == nil {
		return
	}
	bitsStr := strings.TrimPrefix(n.Value, "/")
	if n.ShortTag() == "!!int" || bitsStr != n.Value {
		b, err := strconv.ParseInt(strings.ReplaceAll(bitsStr, "_", ""), 10, 16)
		if err != nil {
			d.errorf(n, path, "illegal virtual server persistent mask specified: %q is not a prefix length", n.Value)
			return
		}
		s.Persistence.PrefixBits = int(b) // range checked by Validate, per family
		return
	}
	m, err := netip.ParseAddr(n.Value)
	if err != nil || !m.Is4() {
		d.errorf(n, path, "illegal virtual server persistent mask specified: %q is neither a dotted IPv4 netmask nor a prefix length", n.Value)
		return
	}
	if s.IsIPv6() && (s.FWMark != 0 || s.Address.IsValid()) {
		d.errorf(n, path, "illegal ipv6 netmask specified: an IPv6 service takes a prefix length, not %s", n.Value)
		return
	}
	a := m.As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	ones := bits.LeadingZeros32(^v)
	if ones < 32 && v<<ones != 0 {
		d.errorf(n, path, "illegal virtual server persistent mask specified: %s is not a contiguous netmask", n.Value)
		return
	}
	s.Persistence.PrefixBits = ones
}

func (d *decoder) real(n *yaml.Node, path string) (Real, []CheckFieldsSet) {
	r := Real{Weight: 1}
	var sets []CheckFieldsSet
	d.mapping(n, path, []field{
		{"address", func(v *yaml.Node, p string) { d.addrPort(v, p, &r.Address) }},
		{"weight", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, math.MaxInt32); ok {
				r.Weight = int32(i)
			}
		}},
		{"forward", func(v *yaml.Node, p string) {
			var s string
			d.str(v, p, &s)
			r.Forward = Forward(s)
		}},
		{"upper_threshold", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, MaxThreshold); ok {
				r.UpperThreshold = uint32(i)
			}
		}},
		{"lower_threshold", func(v *yaml.Node, p string) {
			if i, ok := d.integer(v, p, 0, MaxThreshold); ok {
				r.LowerThreshold = uint32(i)
			}
		}},
		{"health", func(v *yaml.Node, p string) { sets = d.realHealth(v, p, &r.Health) }},
	})
	return r, sets
}

func (d *decoder) demoBackend(n *yaml.Node, path string) DemoBackend {
	var b DemoBackend
	d.mapping(n, path, []field{
		{"name", func(v *yaml.Node, p string) { d.str(v, p, &b.Name) }},
		{"protocol", func(v *yaml.Node, p string) { d.protocol(v, p, &b.Protocol) }},
		{"address", func(v *yaml.Node, p string) { d.addrPort(v, p, &b.Address) }},
	})
	return b
}
