package ipvsadm

import "strings"

// This file emulates the parts of popt 1.19 (popt.c poptGetNextOpt,
// expandNextArg, findNextArg, poptBadOption, poptStrerror) that ipvsadm's
// option table exercises, so bundled short options, "--long=value",
// optional arguments and leftover arguments behave exactly as in ipvsadm.

type argKind int

const (
	argNone     argKind = iota // POPT_ARG_NONE
	argString                  // POPT_ARG_STRING
	argOptional                // POPT_ARG_STRING | POPT_ARGFLAG_OPTIONAL
)

// Tags for long-only options (ipvsadm.c enum TAG_*: values above ASCII).
const (
	tagSet = 128 + iota
	tagStartDaemon
	tagStopDaemon
	tagMcastInterface
	tagTimeout
	tagDaemon
	tagStats
	tagRate
	tagThresholds
	tagPersistentConn
	tagSort
	tagNoSort
	tagPersistenceEngine
	tagSCTPService
	tagMcastGroup
	tagMcastPort
	tagMcastTTL
	tagSyncMaxlen
	tagTunInfo
	tagTunType
	tagTunPort
	tagTunNoCsum
	tagTunCsum
	tagTunRemCsum
)

type poptOption struct {
	long  string
	short byte
	kind  argKind
	val   int
}

// optionTable is ipvsadm.c parse_options() options_table, in its order
// (popt returns the first match, which matters for the two "list" entries).
var optionTable = []poptOption{
	{"add-service", 'A', argNone, 'A'},
	{"edit-service", 'E', argNone, 'E'},
	{"delete-service", 'D', argNone, 'D'},
	{"clear", 'C', argNone, 'C'},
	{"list", 'L', argNone, 'L'},
	{"list", 'l', argNone, 'l'},
	{"zero", 'Z', argNone, 'Z'},
	{"add-server", 'a', argNone, 'a'},
	{"edit-server", 'e', argNone, 'e'},
	{"delete-server", 'd', argNone, 'd'},
	{"set", 0, argNone, tagSet},
	{"help", 'h', argNone, 'h'},
	{"version", 'v', argNone, 'v'},
	{"restore", 'R', argNone, 'R'},
	{"save", 'S', argNone, 'S'},
	{"start-daemon", 0, argString, tagStartDaemon},
	{"stop-daemon", 0, argString, tagStopDaemon},
	{"tcp-service", 't', argString, 't'},
	{"udp-service", 'u', argString, 'u'},
	{"sctp-service", 0, argString, tagSCTPService},
	{"fwmark-service", 'f', argString, 'f'},
	{"scheduler", 's', argString, 's'},
	{"persistent", 'p', argOptional, 'p'},
	{"netmask", 'M', argString, 'M'},
	{"real-server", 'r', argString, 'r'},
	{"masquerading", 'm', argNone, 'm'},
	{"ipip", 'i', argNone, 'i'},
	{"gatewaying", 'g', argNone, 'g'},
	{"weight", 'w', argString, 'w'},
	{"u-threshold", 'x', argString, 'x'},
	{"l-threshold", 'y', argString, 'y'},
	{"numeric", 'n', argNone, 'n'},
	{"connection", 'c', argNone, 'c'},
	{"mcast-interface", 0, argString, tagMcastInterface},
	{"syncid", 0, argString, 'I'},
	{"timeout", 0, argNone, tagTimeout},
	{"daemon", 0, argNone, tagDaemon},
	{"stats", 0, argNone, tagStats},
	{"rate", 0, argNone, tagRate},
	{"thresholds", 0, argNone, tagThresholds},
	{"persistent-conn", 0, argNone, tagPersistentConn},
	{"nosort", 0, argNone, tagNoSort},
	{"sort", 0, argNone, tagSort},
	{"exact", 'X', argNone, 'X'},
	{"ipv6", '6', argNone, '6'},
	{"ops", 'o', argNone, 'o'},
	{"pe", 0, argString, tagPersistenceEngine},
	{"sched-flags", 'b', argString, 'b'},
	{"mcast-group", 0, argString, tagMcastGroup},
	{"mcast-port", 0, argString, tagMcastPort},
	{"mcast-ttl", 0, argString, tagMcastTTL},
	{"sync-maxlen", 0, argString, tagSyncMaxlen},
	{"tun-info", 0, argNone, tagTunInfo},
	{"tun-type", 0, argString, tagTunType},
	{"tun-port", 0, argString, tagTunPort},
	{"tun-nocsum", 0, argNone, tagTunNoCsum},
	{"tun-csum", 0, argNone, tagTunCsum},
	{"tun-remcsum", 0, argNone, tagTunRemCsum},
}

// popt error codes (popt.h POPT_ERROR_*) that this table can produce.
const (
	poptEnd            = -1
	poptErrNoArg       = -10
	poptErrBadOpt      = -11
	poptErrUnwantedArg = -12
)

func poptStrerror(code int) string {
	switch code {
	case poptErrNoArg:
		return "missing argument"
	case poptErrUnwantedArg:
		return "option does not take an argument"
	case poptErrBadOpt:
		return "unknown option"
	}
	return "unknown error"
}

// poptContext is one popt parse over argv (argv[0] is the program name).
type poptContext struct {
	argv         []string
	next         int
	nextChar     string // rest of a bundle of short options
	haveNextChar bool
	restLeftover bool
	deleted      map[int]bool // popt's argb: args consumed by "!#:+"
	leftovers    []string
	nextLeftover int
	// arg is the current option's argument; hasArg false means NULL.
	arg    string
	hasArg bool
}

func newPopt(argv []string) *poptContext {
	return &poptContext{argv: argv, next: 1}
}

func findLong(name string) *poptOption {
	for i := range optionTable {
		if optionTable[i].long == name {
			return &optionTable[i]
		}
	}
	return nil
}

func findShort(c byte) *poptOption {
	if c == 0 {
		return nil
	}
	for i := range optionTable {
		if optionTable[i].short == c {
			return &optionTable[i]
		}
	}
	return nil
}

// getNextOpt is poptGetNextOpt(): an option's val, poptEnd when argv is
// exhausted, or a negative popt error.
func (p *poptContext) getNextOpt() int {
	for {
		var opt *poptOption
		var longArg string
		haveLongArg := false

		if !p.haveNextChar && p.next == len(p.argv) {
			return poptEnd
		}
		if !p.haveNextChar {
			if p.deleted[p.next] {
				p.next++
				continue
			}
			orig := p.argv[p.next]
			p.next++
			if p.restLeftover || orig == "" || orig[0] != '-' || orig == "-" {
				p.leftovers = append(p.leftovers, orig)
				continue
			}
			if orig == "--" {
				p.restLeftover = true
				continue
			}
			s := orig[1:]
			oneDash := true
			if s[0] == '-' {
				s = s[1:]
				oneDash = false
			}
			name := s
			if i := strings.IndexByte(s, '='); i >= 0 {
				name, longArg, haveLongArg = s[:i], s[i+1:], true
			}
			// A single-dash word only matches options flagged ONEDASH,
			// and ipvsadm has none: it is always a bundle of short options.
			if !oneDash {
				opt = findLong(name)
				if opt == nil {
					return poptErrBadOpt
				}
			} else {
				p.nextChar, p.haveNextChar = orig[1:], true
				haveLongArg = false
			}
		}
		if p.haveNextChar {
			nc := p.nextChar
			p.haveNextChar = false
			opt = findShort(nc[0])
			if opt == nil {
				return poptErrBadOpt
			}
			if len(nc) > 1 {
				p.nextChar, p.haveNextChar = nc[1:], true
			}
		}
		if opt.kind == argNone {
			if haveLongArg || (p.haveNextChar && p.nextChar[0] == '=') {
				return poptErrUnwantedArg
			}
			return opt.val
		}
		p.hasArg = false
		switch {
		case haveLongArg:
			p.arg, p.hasArg = p.expand(longArg), true
		case p.haveNextChar:
			a := p.nextChar
			if a[0] == '=' {
				a = a[1:]
			}
			p.haveNextChar = false
			p.arg, p.hasArg = p.expand(a), true
		case p.next == len(p.argv):
			if opt.kind != argOptional {
				return poptErrNoArg
			}
		default:
			nxt := p.argv[p.next]
			if opt.kind == argOptional && nxt != "" && nxt[0] == '-' {
				break
			}
			p.next++
			p.arg, p.hasArg = p.expand(nxt), true
		}
		return opt.val
	}
}

// expand is expandNextArg(): each "!#:+" is replaced by the next argument
// that does not start with '-', which is then skipped by the option scan.
func (p *poptContext) expand(s string) string {
	if !strings.Contains(s, "!#:+") {
		return s
	}
	var b strings.Builder
	var sub string
	found := false
	for i := 0; i < len(s); i++ {
		if s[i] == '!' && strings.HasPrefix(s[i+1:], "#:+") {
			if !found {
				sub, found = p.findNextArg()
			}
			if found {
				b.WriteString(sub)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (p *poptContext) findNextArg() (string, bool) {
	for i := p.next; i < len(p.argv); i++ {
		if p.deleted[i] || (p.argv[i] != "" && p.argv[i][0] == '-') {
			continue
		}
		if p.deleted == nil {
			p.deleted = map[int]bool{}
		}
		p.deleted[i] = true
		return p.argv[i], true
	}
	return "", false
}

// badOption is poptBadOption(con, POPT_BADOPTION_NOALIAS).
func (p *poptContext) badOption() string { return p.argv[p.next-1] }

// getArg is poptGetArg(): the next leftover argument.
func (p *poptContext) getArg() (string, bool) {
	if p.nextLeftover < len(p.leftovers) {
		p.nextLeftover++
		return p.leftovers[p.nextLeftover-1], true
	}
	return "", false
}
