package balance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseNginx parses the load-balancing directive of an nginx upstream
// block: "" (round robin), "least_conn", "ip_hash", "hash <key>
// [consistent]", "random [two [least_conn]]", with or without the final
// ';'. Argument counts and values are checked as the modules' handlers do
// (ngx_http_upstream_hash, ngx_http_upstream_random, ...).
func ParseNginx(directive string) (Config, error) {
	args, err := nginxFields(directive)
	if err != nil {
		return Config{}, err
	}
	if len(args) == 0 {
		return Config{Method: NginxRoundRobin}, nil
	}
	name, rest := args[0], args[1:]
	noArgs := func(m Method) (Config, error) {
		if len(rest) != 0 {
			return Config{}, fmt.Errorf("invalid number of arguments in %q directive", name)
		}
		return Config{Method: m}, nil
	}
	switch name {
	case "least_conn":
		return noArgs(NginxLeastConn)
	case "ip_hash":
		return noArgs(NginxIPHash)
	case "hash":
		switch {
		case len(rest) >= 1 && rest[0] == "":
			return Config{}, errors.New("hash needs a non-empty key")
		case len(rest) == 1:
			return Config{Method: NginxHash, KeyExpr: rest[0]}, nil
		case len(rest) == 2 && rest[1] == "consistent":
			return Config{Method: NginxHashConsistent, KeyExpr: rest[0]}, nil
		case len(rest) == 2:
			return Config{}, fmt.Errorf("invalid parameter %q", rest[1])
		}
		return Config{}, fmt.Errorf("invalid number of arguments in %q directive", name)
	case "random":
		switch {
		case len(rest) == 0:
			return Config{Method: NginxRandom}, nil
		case len(rest) > 2:
			return Config{}, fmt.Errorf("invalid number of arguments in %q directive", name)
		case rest[0] != "two":
			return Config{}, fmt.Errorf("invalid parameter %q", rest[0])
		case len(rest) == 2 && rest[1] != "least_conn":
			return Config{}, fmt.Errorf("invalid parameter %q", rest[1])
		}
		return Config{Method: NginxRandomTwo, LeastConn: true}, nil
	}
	return Config{}, fmt.Errorf("unknown directive %q", name)
}

// nginxFields splits a directive into arguments: blanks separate them,
// single or double quotes group them (with \ escapes), one final ';' ends
// the directive.
func nginxFields(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg, ended := false, false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ended {
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				return nil, errors.New("unexpected text after \";\"")
			}
			continue
		}
		switch {
		case quote != 0:
			switch c {
			case '\\':
				if i+1 < len(s) {
					i++
					cur.WriteByte(s[i])
				}
			case quote:
				quote = 0
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			default:
				cur.WriteByte(c)
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case c == ';':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
			ended = true
		case (c == '"' || c == '\'') && !inArg:
			quote = c
		case c == '{' || c == '}':
			return nil, fmt.Errorf("unexpected %q", c)
		default:
			inArg = true
			cur.WriteByte(c)
		}
	}
	if quote != 0 {
		return nil, errors.New("unexpected end of directive: unterminated quote")
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// NginxDirective formats an nginx method as its upstream directive
// (without ';'; "" for round robin). ParseNginx reads it back.
func (c Config) NginxDirective() (string, error) {
	switch c.Method {
	case NginxRoundRobin:
		return "", nil
	case NginxLeastConn:
		return "least_conn", nil
	case NginxIPHash:
		return "ip_hash", nil
	case NginxHash, NginxHashConsistent:
		if c.KeyExpr == "" {
			return "", errors.New("hash needs a key")
		}
		d := "hash " + nginxQuote(c.KeyExpr)
		if c.Method == NginxHashConsistent {
			d += " consistent"
		}
		return d, nil
	case NginxRandom:
		return "random", nil
	case NginxRandomTwo:
		return "random two least_conn", nil
	}
	return "", fmt.Errorf("%v is not an nginx method", c.Method)
}

func nginxQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n;'\"\\{}") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// ParseHAProxy parses HAProxy's "balance" arguments (without the keyword)
// and the optional "hash-type" arguments, as backend_parse_balance and the
// hash-type parser of cfgparse-listen.c do. Supported: roundrobin,
// static-rr, leastconn, first, source, uri [len N] [depth N] [whole]
// [path-only], url_param <p>, hdr(<name>) [use_domain_only], hash <expr>;
// hash-type map-based|consistent [sdbm|djb2|wt6|crc32 [avalanche]].
func ParseHAProxy(balance, hashType string) (Config, error) {
	args := strings.Fields(balance)
	if len(args) == 0 {
		// the default algorithm of HAProxy 2.6 (random since 3.3)
		args = []string{"roundrobin"}
	}
	var c Config
	noArgs := func(m Method) error {
		if len(args) > 1 {
			return fmt.Errorf("'balance %s' does not take arguments (got '%s')", args[0], args[1])
		}
		c.Method = m
		return nil
	}
	var err error
	switch a := args[0]; {
	case a == "roundrobin":
		err = noArgs(HAProxyRoundRobin)
	case a == "static-rr":
		err = noArgs(HAProxyStaticRR)
	case a == "leastconn":
		err = noArgs(HAProxyLeastConn)
	case a == "first":
		err = noArgs(HAProxyFirst)
	case a == "source":
		err = noArgs(HAProxySource)
	case a == "uri":
		c.Method = HAProxyURI
		for i := 1; i < len(args); i++ {
			switch args[i] {
			case "len", "depth":
				if i+1 >= len(args) {
					return Config{}, fmt.Errorf("%s : '%s' expects a positive integer", a, args[i])
				}
				n, cerr := strconv.Atoi(args[i+1])
				if cerr != nil || n <= 0 {
					return Config{}, fmt.Errorf("%s : '%s' expects a positive integer (got '%s')", a, args[i], args[i+1])
				}
				if args[i] == "len" {
					c.URILen = n
				} else {
					c.URIDepth = n
				}
				i++
			case "whole":
				c.URIWhole = true
			case "path-only":
				c.URIPathOnly = true
			default:
				return Config{}, fmt.Errorf("%s only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '%s')", a, args[i])
			}
		}
	case a == "url_param":
		if len(args) < 2 {
			return Config{}, errors.New("url_param requires an URL parameter name")
		}
		c.Method, c.Param = HAProxyURLParam, args[1]
		if len(args) > 2 {
			if args[2] == "check_post" {
				return Config{}, errors.New("url_param check_post is not supported")
			}
			return Config{}, fmt.Errorf("%s only accepts 'check_post' modifier (got '%s')", a, args[2])
		}
	case strings.HasPrefix(a, "hdr("):
		end := strings.IndexByte(a, ')')
		if end < 0 || end != len(a)-1 || end == len("hdr(") {
			return Config{}, errors.New("hdr requires an http header field name")
		}
		c.Method, c.Header = HAProxyHdr, a[len("hdr("):end]
		if len(args) > 1 {
			if args[1] != "use_domain_only" || len(args) > 2 {
				return Config{}, fmt.Errorf("%s only accepts 'use_domain_only' modifier (got '%s')", "hdr", args[1])
			}
			c.UseDomainOnly = true
		}
	case a == "hash":
		if len(args) != 2 {
			return Config{}, errors.New("hash requires a sample expression")
		}
		c.Method, c.KeyExpr = HAProxyHash, args[1]
	default:
		return Config{}, fmt.Errorf("'balance' only supports 'roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'uri', 'url_param', 'hash' and 'hdr(name)' options (got '%s')", a)
	}
	if err != nil {
		return Config{}, err
	}
	return c, parseHashType(&c, hashType)
}

// parseHashType applies "hash-type <method> [<function> [<modifier>]]".
// Without a function the default is sdbm, plus avalanche for consistent.
func parseHashType(c *Config, hashType string) error {
	args := strings.Fields(hashType)
	if len(args) == 0 {
		return nil
	}
	switch args[0] {
	case "consistent":
		c.Consistent = true
	case "map-based":
	default:
		return fmt.Errorf("hash-type: expects 'map-based' or 'consistent' (got '%s')", args[0])
	}
	if len(args) == 1 {
		c.Avalanche = c.Consistent
		return nil
	}
	switch args[1] {
	case "sdbm":
		c.HashFunc = SDBM
	case "djb2":
		c.HashFunc = DJB2
	case "wt6":
		c.HashFunc = WT6
	case "crc32":
		c.HashFunc = CRC32
	default:
		return fmt.Errorf("hash-type: unknown hash function '%s'", args[1])
	}
	if len(args) > 2 {
		if args[2] != "avalanche" || len(args) > 3 {
			return fmt.Errorf("hash-type: only 'avalanche' is supported as a modifier (got '%s')", args[2])
		}
		c.Avalanche = true
	}
	return nil
}

var hashFuncNames = [...]string{SDBM: "sdbm", DJB2: "djb2", WT6: "wt6", CRC32: "crc32"}

// HAProxyDirectives formats an HAProxy method as the arguments of
// "balance" and "hash-type" (always explicit). ParseHAProxy reads them
// back.
func (c Config) HAProxyDirectives() (balance, hashType string, err error) {
	switch c.Method {
	case HAProxyRoundRobin:
		balance = "roundrobin"
	case HAProxyStaticRR:
		balance = "static-rr"
	case HAProxyLeastConn:
		balance = "leastconn"
	case HAProxyFirst:
		balance = "first"
	case HAProxySource:
		balance = "source"
	case HAProxyURI:
		balance = "uri"
		if c.URILen > 0 {
			balance += " len " + strconv.Itoa(c.URILen)
		}
		if c.URIDepth > 0 {
			balance += " depth " + strconv.Itoa(c.URIDepth)
		}
		if c.URIWhole {
			balance += " whole"
		}
		if c.URIPathOnly {
			balance += " path-only"
		}
	case HAProxyURLParam:
		if c.Param == "" || strings.ContainsAny(c.Param, " \t\r\n") {
			return "", "", errors.New("url_param needs a parameter name without blanks")
		}
		balance = "url_param " + c.Param
	case HAProxyHdr:
		if c.Header == "" || strings.ContainsAny(c.Header, " \t\r\n)") {
			return "", "", errors.New("hdr needs a header name without blanks")
		}
		balance = "hdr(" + c.Header + ")"
		if c.UseDomainOnly {
			balance += " use_domain_only"
		}
	case HAProxyHash:
		if c.KeyExpr == "" || strings.ContainsAny(c.KeyExpr, " \t\r\n") {
			return "", "", errors.New("hash needs a sample expression without blanks")
		}
		balance = "hash " + c.KeyExpr
	default:
		return "", "", fmt.Errorf("%v is not an HAProxy method", c.Method)
	}
	if c.HashFunc < 0 || int(c.HashFunc) >= len(hashFuncNames) {
		return "", "", fmt.Errorf("unknown hash function %d", c.HashFunc)
	}
	hashType = "map-based"
	if c.Consistent {
		hashType = "consistent"
	}
	hashType += " " + hashFuncNames[c.HashFunc]
	if c.Avalanche {
		hashType += " avalanche"
	}
	return balance, hashType, nil
}
