package nginx

import (
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// builder walks the directive tree context by context, as nginx's
// handlers run, and fills the model.
type builder struct {
	opts *Options
	sink *diagSink
	// keys maps model keys to where they came from, for placing
	// config.Validate's findings.
	keys map[string]pos
	c    *config.Config
	h    *config.HTTP

	httpSeen  bool
	upstreams []upstreamDef
	// zones maps shared memory zone names to their use, for nginx's
	// "already declared for a different use".
	zones    map[string]string
	zoneKeys map[string]string
	// quiet are model keys whose Validate findings the adapter reports
	// itself, in nginx's words.
	quiet map[string]bool

	// globals: settings the model holds once.
	maxBody       global[int64]
	bodyTimeout   global[time.Duration]
	keepalive     global[time.Duration]
	headerTimeout global[time.Duration]
	headerBuffers global[int]
	underscores   global[bool]
	maxHeaders    global[int]
	h2Streams     global[uint32]
	accessLog     global[accessLog]
	realIPFrom    global[string]
	realIPHeader  global[string]
	// httpEnd is the line closing the http block, where nginx reports
	// what its merge functions find.
	httpEnd pos
}

func newBuilder(opts *Options, sink *diagSink) *builder {
	return &builder{opts: opts, sink: sink, keys: map[string]pos{}, zones: map[string]string{}, zoneKeys: map[string]string{}, quiet: map[string]bool{}}
}

func (b *builder) errorf(s *stmt, format string, args ...any) {
	b.sink.errorf(s.at(), format, args...)
}

func (b *builder) warnf(s *stmt, format string, args ...any) {
	b.sink.warnf(s.at(), format, args...)
}

func (b *builder) build(file string, tree []*stmt) *config.Config {
	b.c = &config.Config{
		Source:   file,
		Admin:    config.Admin{Socket: config.DefaultAdminSocket},
		Timeouts: config.DefaultTimeouts,
	}
	b.main(tree)
	if b.h != nil {
		b.finishHTTP()
	}
	config.Normalize(b.c)
	b.validate(b.c)
	return b.c
}

// dupSet remembers what one level has set, for nginx's "is duplicate".
type dupSet map[string]bool

// check applies nginx's generic checks to a directive in a context
// (ngx_conf_handler: known, allowed here, block or not, argument count)
// and the value check of its slot. It returns false when the directive
// goes no further.
func (b *builder) check(s *stmt, c ctxMask, seen dupSet) bool {
	sp, known := lookup(s.name, c)
	if !known && s.name == "http2" && c&(cHTTP|cServer) != 0 {
		// nginx 1.25.1's "http2 on", which 1.22 does not know.
		sp, known = &spec{ctx: cHTTP | cServer, args: args(1), check: checkFlag, dup: true}, true
	}
	if !known {
		if r, ok := refusedDirectives[s.name]; ok {
			b.errorf(s, "not supported by fulcrum: %s (%s)", s.name, r)
			return false
		}
		// nginx refuses it; fulcrum warns, as a directive of a module it
		// does not know changes nothing it does.
		b.warnf(s, "unknown directive %q", s.name)
		return false
	}
	if sp == nil {
		b.errorf(s, "%q directive is not allowed here", s.name)
		return false
	}
	switch {
	case !sp.block && s.hasBlock:
		b.errorf(s, "directive %q is not terminated by \";\"", s.name)
		return false
	case sp.block && !s.hasBlock:
		b.errorf(s, "directive %q has no opening \"{\"", s.name)
		return false
	case !sp.args.allows(len(s.args)):
		b.errorf(s, "invalid number of arguments in %q directive", s.name)
		return false
	}
	if sp.dup && seen != nil {
		if seen[s.name] {
			b.errorf(s, "%q directive is duplicate", s.name)
			return false
		}
		seen[s.name] = true
	}
	if len(s.args) == 1 && !b.checkValue(s, sp.check) {
		return false
	}
	return true
}

// checkValue checks a slot's value with nginx's wording.
func (b *builder) checkValue(s *stmt, check valueCheck) bool {
	v := s.args[0]
	ok := true
	switch check {
	case checkFlag:
		if _, ok = onOff(v); !ok {
			b.errorf(s, "invalid value %q in %q directive, it must be \"on\" or \"off\"", v, s.name)
			return false
		}
	case checkNum:
		if _, ok = atoi(v); !ok {
			b.errorf(s, "%q directive invalid number", s.name)
			return false
		}
	case checkSize:
		_, ok = parseSize(v, false)
	case checkOffset:
		_, ok = parseSize(v, true)
	case checkMsec:
		_, ok = parseTime(v, false)
	case checkSec:
		_, ok = parseTime(v, true)
	}
	if !ok {
		b.errorf(s, "%q directive invalid value", s.name)
	}
	return ok
}

// other handles a directive fulcrum does not map: a warning, or an error
// when ignoring it would change behaviour.
func (b *builder) other(s *stmt) {
	k, reason := kindOf(s.name)
	why := ""
	if reason != "" {
		why = " (" + reason + ")"
	}
	switch k {
	case refused:
		b.errorf(s, "not supported by fulcrum: %s%s", s.name, why)
	case refusedUnlessOff:
		off := refusedUnlessOffDirectives[s.name].offValue
		if off == "" {
			off = "off"
		}
		if len(s.args) == 1 && strings.EqualFold(s.args[0], off) {
			return // what fulcrum does anyway
		}
		b.errorf(s, "not supported by fulcrum: %s%s", s.name, why)
	default:
		b.warnf(s, "not used by fulcrum: %s%s", s.name, why)
	}
}

// main reads the main context.
func (b *builder) main(tree []*stmt) {
	seen := dupSet{}
	for _, s := range tree {
		if !b.check(s, cMain, seen) {
			continue
		}
		switch s.name {
		case "http":
			if b.httpSeen {
				b.errorf(s, "%q directive is duplicate", s.name)
				continue
			}
			b.httpSeen = true
			b.http(s)
		case "events":
			b.other(s)
			b.events(s)
		default:
			b.other(s)
		}
	}
	if b.h == nil {
		b.sink.warnf(pos{file: b.opts.file}, "no http block: the configuration proxies nothing")
	}
}

func (b *builder) events(s *stmt) {
	seen := dupSet{}
	for _, d := range s.block {
		if b.check(d, cEvents, seen) {
			b.other(d)
		}
	}
}

// key registers where a model key came from.
func (b *builder) key(k string, at pos) {
	if _, ok := b.keys[k]; !ok {
		b.keys[k] = at
	}
}

// validate runs the model's own checks and places their findings on the
// nginx.conf lines they come from.
func (b *builder) validate(c *config.Config) {
	for _, d := range config.Validate(c) {
		if b.quiet[d.Key] {
			continue
		}
		at := b.locate(d.Key)
		b.sink.add(at, d.Severity, d.Key, d.Message)
	}
}

// locate finds the position of the longest registered prefix of key.
func (b *builder) locate(key string) pos {
	for k := key; k != ""; {
		if at, ok := b.keys[k]; ok {
			return at
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return pos{file: b.opts.file}
}
