package nginx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// The oracle is Debian's nginx 1.22.1 (apt-get install nginx-light): each
// problem "nginx -t" reports must be among Parse's diagnostics, on the
// same line, in nginx's words. nginx stops at its first error, so the
// tests feed it one problem at a time.

type oracleMsg struct {
	level string
	text  string
	file  string
	line  int
}

// oracleLine matches nginx's log lines: "nginx: [emerg] MSG in FILE:LINE"
// before the log is open, "TIME [emerg] PID#TID: MSG in FILE:LINE" after.
var oracleLine = regexp.MustCompile(`\[(emerg|alert|crit|error|warn)\] (?:\d+#\d+: )?(.*?)(?: in (/\S+):(\d+))?$`)

func nginxBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not on PATH (Debian: apt-get install nginx-light); skipping the comparison with nginx -t")
	}
	return bin
}

// runNginx runs nginx -t on conf with prefix dir and returns what it
// reports.
func runNginx(t *testing.T, bin, dir, conf string) []oracleMsg {
	t.Helper()
	if err := errors.Join(os.MkdirAll(filepath.Join(dir, "logs"), 0o755), os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-t", "-q", "-p", dir+"/", "-c", conf).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("nginx -t did not finish")
	}
	var msgs []oracleMsg
	for _, l := range strings.Split(string(out), "\n") {
		m := oracleLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		msg := oracleMsg{level: m[1], text: m[2], file: m[3]}
		msg.line, _ = strconv.Atoi(m[4])
		msgs = append(msgs, msg)
	}
	return msgs
}

// sameProblem reports whether our diagnostic says what nginx said: the
// same file and line when nginx names them, and nginx's words.
func sameProblem(m oracleMsg, d config.Diagnostic) bool {
	if m.line > 0 && (d.Line != m.line || filepath.Base(d.File) != filepath.Base(m.file)) {
		return false
	}
	return strings.Contains(d.Message, m.text)
}

// ignoredOracleMessage is nginx output about this host, not the file.
func ignoredOracleMessage(s string) bool {
	for _, p := range []string{"could not build optimal", "the \"user\" directive makes sense only", "failed (13: Permission denied)", "could not open error log file"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// checkAgainstNginx runs nginx and Parse on the same file and reports
// what nginx says that Parse does not.
func checkAgainstNginx(t *testing.T, bin, dir, conf string, skips []string) []oracleMsg {
	t.Helper()
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	_, ours := parse(conf, data, goldenOpts())
	theirs := runNginx(t, bin, dir, conf)
	for _, m := range theirs {
		if ignoredOracleMessage(m.text) || slices.ContainsFunc(skips, func(s string) bool { return strings.Contains(m.text, s) }) {
			continue
		}
		if !slices.ContainsFunc(ours, func(d config.Diagnostic) bool { return sameProblem(m, d) }) {
			t.Errorf("nginx reports [%s] %q at line %d; fulcrum does not:\n%s", m.level, m.text, m.line, ours)
		}
	}
	return theirs
}

// oracleMarks reads "# oracle-skip: TEXT" (nginx messages containing
// TEXT are where fulcrum deliberately differs, as for NGINX Plus's
// slow_start) and "# oracle-skip-file: WHY".
func oracleMarks(input []byte) (skips []string, skipFile string) {
	for _, l := range strings.Split(string(input), "\n") {
		l = strings.TrimSpace(l)
		if s, ok := strings.CutPrefix(l, "# oracle-skip:"); ok {
			skips = append(skips, strings.TrimSpace(s))
		}
		if s, ok := strings.CutPrefix(l, "# oracle-skip-file:"); ok {
			skipFile = strings.TrimSpace(s)
		}
	}
	return skips, skipFile
}

// TestNginxAgreesGolden runs nginx -t on every golden file.
func TestNginxAgreesGolden(t *testing.T) {
	bin := nginxBinary(t)
	for _, g := range goldenFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(g.Path), ".conf"), func(t *testing.T) {
			skips, why := oracleMarks(g.Input)
			if why != "" {
				t.Skip(why)
			}
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS("testdata")); err != nil {
				t.Fatal(err)
			}
			checkAgainstNginx(t, bin, dir, filepath.Join(dir, filepath.Base(g.Path)), skips)
		})
	}
}

// oracleCase is an nginx.conf snippet with one problem; http cases are
// wrapped in events {} http { ... }.
type oracleCase struct {
	name string
	conf string
	// http wraps conf in an http block.
	http bool
	// want is a part of nginx's message the case exists for; the test
	// fails if nginx does not report it (the case tests nothing then).
	want string
}

// TestNginxAgreesErrors feeds nginx and Parse one problem at a time.
func TestNginxAgreesErrors(t *testing.T) {
	bin := nginxBinary(t)
	for _, tc := range oracleCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := tc.conf
			if tc.http {
				conf = "events {}\nhttp {\n" + conf + "\n}\n"
			}
			path := filepath.Join(dir, "nginx.conf")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			theirs := checkAgainstNginx(t, bin, dir, path, nil)
			if !slices.ContainsFunc(theirs, func(m oracleMsg) bool { return strings.Contains(m.text, tc.want) }) {
				t.Errorf("nginx does not report %q for this case; it says %v", tc.want, theirs)
			}
		})
	}
}

var oracleCases = []oracleCase{
	// ngx_conf_read_token.
	{"unexpected brace", "events {}\n}\n", false, `unexpected "}"`},
	{"eof in block", "events {\n", false, `unexpected end of file, expecting "}"`},
	{"eof in directive", "events {}\nworker_processes 1", false, `unexpected end of file, expecting ";" or "}"`},
	{"semicolon alone", "events {}\n;\n", false, `unexpected ";"`},
	{"text after quote", "events {}\npid \"a\"b;\n", false, `unexpected "b"`},
	{"too long parameter", "events {}\npid " + strings.Repeat("x", 5000) + ";\n", false, "too long parameter"},
	{"too long comment", "events {}\n# " + strings.Repeat("x", 5000) + "\npid a;\n", false, "too long parameter"},
	{"too long single quoted", "events {}\npid '" + strings.Repeat("x", 5000) + "\n;\n", false, "probably missing terminating"},
	{"too long quoted", "events {}\npid \"" + strings.Repeat("x", 5000) + "\n;\n", false, "probably missing terminating"},
	// ngx_conf_handler.
	{"unknown directive", "events {}\nfoo bar;\n", false, `unknown directive "foo"`},
	{"not allowed here", "events {}\nhttp {\nlisten 80;\n}\n", false, `"listen" directive is not allowed here`},
	{"no opening brace", "events {}\nhttp;\n", false, `directive "http" has no opening "{"`},
	{"not terminated", "events {}\npid x {}\n", false, `directive "pid" is not terminated by ";"`},
	{"argument count", "events {}\nworker_processes;\n", false, `invalid number of arguments in "worker_processes" directive`},
	{"duplicate slot", "events {}\npid a;\npid b;\n", false, `"pid" directive is duplicate`},
	{"flag value", "events {}\ndaemon maybe;\n", false, `it must be "on" or "off"`},
	{"msec value", "proxy_read_timeout 1x;", true, `"proxy_read_timeout" directive invalid value`},
	{"msec month", "proxy_read_timeout 1M;", true, `"proxy_read_timeout" directive invalid value`},
	{"size value", "client_body_buffer_size 1g;", true, `"client_body_buffer_size" directive invalid value`},
	{"num value", "proxy_next_upstream_tries x;", true, `"proxy_next_upstream_tries" directive invalid number`},
	{"include missing", "events {}\ninclude nosuch.conf;\n", false, `open() "`},
	{"location in if", "server {\nlocation / {\nif ($invalid_referer) {\nlocation /a {}\n}\n}\n}", true, `"location" directive is not allowed here`},
	{"http twice", "events {}\nhttp {}\nhttp {}\n", false, `"http" directive is duplicate`},
	// The http core.
	{"listen port", "server {\nlisten 99999;\n}", true, `invalid port in "99999" of the "listen" directive`},
	{"listen param", "server {\nlisten 80 foo;\n}", true, `invalid parameter "foo"`},
	{"duplicate listen", "server {\nlisten 127.0.0.1:8080;\nlisten 127.0.0.1:8080;\n}", true, `a duplicate listen 127.0.0.1:8080`},
	{"duplicate default", "server {\nlisten 8080 default_server;\n}\nserver {\nlisten 8080 default_server;\n}", true, `a duplicate default server for 0.0.0.0:8080`},
	{"ssl without certificate", "server {\nlisten 8443 ssl;\n}", true, `no "ssl_certificate" is defined for the "listen ... ssl" directive`},
	{"location modifier", "server {\nlocation ! /a {\nreturn 200;\n}\n}", true, `invalid location modifier "!"`},
	{"exact location nesting", "server {\nlocation = /a {\nlocation /a/b {\nreturn 200;\n}\n}\n}", true, `cannot be inside the exact location`},
	{"outside location", "server {\nlocation /a {\nlocation /b {\nreturn 200;\n}\n}\n}", true, `location "/b" is outside location "/a"`},
	{"duplicate location", "server {\nlocation /a {\nreturn 200;\n}\nlocation /a {\nreturn 200;\n}\n}", true, `duplicate location "/a"`},
	{"suspicious server name", "server {\nserver_name a/b;\n}", true, `server name "a/b" has suspicious symbols`},
	{"conflicting server name", "server {\nlisten 8080;\nserver_name a.example;\n}\nserver {\nlisten 8080;\nserver_name a.example;\n}", true, `conflicting server name "a.example" on 0.0.0.0:8080, ignored`},
	// The rewrite module.
	{"return code", "server {\nlocation / {\nreturn 1000;\n}\n}", true, `invalid return code "1000"`},
	{"return word", "server {\nlocation / {\nreturn x;\n}\n}", true, `invalid return code "x"`},
	{"rewrite flag", "server {\nlocation / {\nrewrite ^ /x foo;\n}\n}", true, `invalid parameter "foo"`},
	{"if condition", "server {\nlocation / {\nif $invalid_referer {\nreturn 403;\n}\n}\n}", true, `invalid condition "$invalid_referer"`},
	{"referers without valid one", "server {\nlocation / {\nvalid_referers none blocked;\nif ($invalid_referer) {\nreturn 403;\n}\nreturn 200;\n}\n}", true, `without any valid referer`},
	// The proxy module.
	{"proxy_pass prefix", "server {\nlocation / {\nproxy_pass x;\n}\n}", true, `invalid URL prefix`},
	{"proxy_pass uri in regex", "server {\nlocation ~ x {\nproxy_pass http://127.0.0.1/a;\n}\n}", true, `cannot have URI part in location given by regular expression`},
	{"next_upstream value", "proxy_next_upstream error bogus;", true, `invalid value "bogus"`},
	{"proxy_pass twice", "server {\nlocation / {\nproxy_pass http://127.0.0.1;\nproxy_pass http://127.0.0.1;\n}\n}", true, `"proxy_pass" directive is duplicate`},
	// Upstreams.
	{"upstream weight", "upstream u {\nserver 127.0.0.1 weight=0;\n}", true, `invalid parameter "weight=0"`},
	{"upstream parameter", "upstream u {\nserver 127.0.0.1 foo;\n}", true, `invalid parameter "foo"`},
	{"upstream port", "upstream u {\nserver 127.0.0.1:99999;\n}", true, `invalid port in upstream "127.0.0.1:99999"`},
	{"empty upstream", "upstream u {\n}", true, `no servers are inside upstream`},
	{"duplicate upstream", "upstream u {\nserver 127.0.0.1;\n}\nupstream U {\nserver 127.0.0.2;\n}", true, `duplicate upstream "U"`},
	{"keepalive 0", "upstream u {\nserver 127.0.0.1;\nkeepalive 0;\n}", true, `invalid value "0" in "keepalive" directive`},
	{"hash parameter", "upstream u {\nserver 127.0.0.1;\nhash $uri b;\n}", true, `invalid parameter "b"`},
	{"random parameter", "upstream u {\nserver 127.0.0.1;\nrandom three;\n}", true, `invalid parameter "three"`},
	{"balancing redefined", "upstream u {\nserver 127.0.0.1;\nleast_conn;\nip_hash;\n}", true, `load balancing method redefined`},
	{"ip_hash backup", "upstream u {\nip_hash;\nserver 127.0.0.1 backup;\n}", true, `balancing method does not support parameter "backup"`},
	// limit_req and limit_conn.
	{"zone too small", "limit_req_zone $binary_remote_addr zone=z:16k rate=1r/s;", true, `zone "zone=z:16k" is too small`},
	{"zone size", "limit_req_zone $binary_remote_addr zone=z rate=1r/s;", true, `invalid zone size "zone=z"`},
	{"rate", "limit_req_zone $binary_remote_addr zone=z:1m rate=1r/h;", true, `invalid rate "rate=1r/h"`},
	{"zone parameter", "limit_req_zone $binary_remote_addr zone=z:1m foo=1;", true, `invalid parameter "foo=1"`},
	{"zone bound", "limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\nlimit_req_zone $remote_addr zone=z:1m rate=1r/s;", true, `limit_req_zone "z" is already bound`},
	{"zone other use", "limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\nlimit_conn_zone $binary_remote_addr zone=z:1m;", true, `is already declared for a different use`},
	{"unknown zone", "server {\nlocation / {\nlimit_req zone=nosuch;\nreturn 200;\n}\n}", true, `zero size shared memory zone "nosuch"`},
	{"zone key variable", "limit_req_zone $nosuch zone=z:1m rate=1r/s;", true, `unknown "nosuch" variable`},
	{"burst", "limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\nserver {\nlocation / {\nlimit_req zone=z burst=0;\n}\n}", true, `invalid burst value "burst=0"`},
	{"delay", "limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\nserver {\nlocation / {\nlimit_req zone=z delay=0;\n}\n}", true, `invalid delay value "delay=0"`},
	{"limit_req without zone", "server {\nlocation / {\nlimit_req burst=1;\n}\n}", true, `"limit_req" must have "zone" parameter`},
	{"limit_req twice", "limit_req_zone $binary_remote_addr zone=z:1m rate=1r/s;\nserver {\nlocation / {\nlimit_req zone=z;\nlimit_req zone=z;\n}\n}", true, `"limit_req" directive is duplicate`},
	{"limit status", "limit_req_status 200;", true, `value must be between 400 and 599`},
	{"conn limit", "limit_conn_zone $binary_remote_addr zone=c:1m;\nserver {\nlocation / {\nlimit_conn c 0;\n}\n}", true, `invalid number of connections "0"`},
	{"conn limit high", "limit_conn_zone $binary_remote_addr zone=c:1m;\nserver {\nlocation / {\nlimit_conn c 65536;\n}\n}", true, `connection limit must be less 65536`},
	// gzip.
	{"gzip level", "gzip_comp_level 10;", true, `value must be between 1 and 9`},
	{"gzip_proxied", "gzip_proxied bogus;", true, `invalid value "bogus"`},
	// map.
	{"map variable", "map $uri x {\ndefault 1;\n}", true, `invalid variable name "x"`},
	{"map builtin", "map $uri $host {\ndefault 1;\n}", true, `the duplicate "host" variable`},
	{"map conflict", "map $uri $x {\na 1;\na 2;\n}", true, `conflicting parameter "a"`},
	{"map default twice", "map $uri $x {\ndefault 1;\ndefault 2;\n}", true, `duplicate default map parameter`},
	{"map parameters", "map $uri $x {\na 1 2;\n}", true, `invalid number of the map parameters`},
	{"map hostnames", "map $host $x {\nhostnames;\na.*.b 1;\n}", true, `invalid hostname or wildcard "a.*.b"`},
	{"map source", "map $nosuch $x {\na 1;\n}", true, `unknown "nosuch" variable`},
	// realip.
	{"real ip address", "set_real_ip_from 1.2.3.4/33;", true, `host not found in set_real_ip_from "1.2.3.4/33"`},
	{"real ip low bits", "set_real_ip_from 10.0.0.1/8;", true, `low address bits of 10.0.0.1/8 are meaningless`},
	{"ssl deprecated", "server {\nssl on;\nssl_certificate testdata/none.pem;\n}", true, `the "ssl" directive is deprecated`},
	{"access_log off parameter", "access_log off x;", true, `invalid parameter "x"`},
	{"large header buffers", "large_client_header_buffers 0 8k;", true, `"large_client_header_buffers" directive invalid value`},
	{"keepalive_timeout", "keepalive_timeout 1s x;", true, `"keepalive_timeout" directive invalid value`},
}

// TestParseTimeAgreesWithNginx checks ngx_parse_time's reading on the
// binary: proxy_read_timeout counts milliseconds, ssl_session_timeout
// seconds.
func TestParseTimeAgreesWithNginx(t *testing.T) {
	bin := nginxBinary(t)
	values := []string{"1", "1s", "1ms", "1m", "1h", "1d", "1w", "1M", "1y", "1h30m", "1h 30m", "30m1h", "1m1m", "1s1ms", "1ms1s",
		"1 30", "1 ", " 1", "", "x", "1x", "1.5s", "9223372036854775807", "9223372036854775s", "24d", "25d", "1y1M", "1M1y", "0", "00", "1 s", "1s 1"}
	for _, d := range []struct {
		name  string
		isSec bool
	}{{"proxy_read_timeout", false}, {"ssl_session_timeout", true}} {
		for _, v := range values {
			dir := t.TempDir()
			path := filepath.Join(dir, "nginx.conf")
			conf := fmt.Sprintf("events {}\nhttp {\n%s \"%s\";\n}\n", d.name, v)
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			theirs := runNginx(t, bin, dir, path)
			nginxOK := !slices.ContainsFunc(theirs, func(m oracleMsg) bool { return strings.Contains(m.text, "invalid value") })
			_, ours := parseTime(v, d.isSec)
			if ours != nginxOK {
				t.Errorf("%s %q: nginx accepts %v, parseTime %v", d.name, v, nginxOK, ours)
			}
		}
	}
}
