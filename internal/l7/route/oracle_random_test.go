package route

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// locIDs names every location of a random set for the oracle.
func locIDs(locs []*Location, ids map[*Location]string) {
	for _, l := range locs {
		ids[l] = fmt.Sprintf("L%d", len(ids))
		locIDs(l.Nested, ids)
	}
}

func renderRandomLoc(b *strings.Builder, l *Location, ids map[*Location]string, indent string) {
	if l.Modifier == ModPrefix {
		fmt.Fprintf(b, "%slocation %s {\n", indent, quoteConf(l.Pattern))
	} else {
		fmt.Fprintf(b, "%slocation %s %s {\n", indent, l.Modifier, quoteConf(l.Pattern))
	}
	if l.AutoRedirect {
		// A proxied location: the echo backend reports X-Loc.
		fmt.Fprintf(b, "%s  proxy_pass http://up;\n%s  proxy_set_header X-Loc %s;\n", indent, indent, ids[l])
	} else {
		fmt.Fprintf(b, "%s  return 200 %s;\n", indent, quoteConf(ids[l]))
	}
	for _, n := range l.Nested {
		renderRandomLoc(b, n, ids, indent+"  ")
	}
	fmt.Fprintf(b, "%s}\n", indent)
}

// TestNginxOracleRandomLocations renders random location sets (names over
// "a", "b", "/" so they share prefixes, every modifier, nesting, proxied
// locations with auto-redirect) into nginx and checks that nginx and
// Matcher pick the same location for random URIs: the tree of
// ngx_http_create_locations_tree, nested and regex order, redirects.
func TestNginxOracleRandomLocations(t *testing.T) {
	bin := findNginx()
	if bin == "" {
		t.Skip("nginx not installed (apt-get install nginx-light)")
	}
	const sets, uris = 12, 60
	r := rand.New(rand.NewPCG(7, 11))
	type set struct {
		m   *Matcher
		ids map[*Location]string
	}
	var all []set
	addr := freeAddr(t, "127.0.0.1")
	var conf strings.Builder
	fmt.Fprintf(&conf, `worker_processes 1;
daemon off;
master_process off;
pid nginx.pid;
error_log logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path tmp/cb; proxy_temp_path tmp/pt; fastcgi_temp_path tmp/ft; uwsgi_temp_path tmp/ut; scgi_temp_path tmp/st;
  root nonexistent;
  merge_slashes off;
  upstream up { server %s; }
`, echoBackend(t))
	for i := 0; len(all) < sets; i++ {
		locs := randomLocations(r, 0, "/")
		m, err := Compile(locs)
		if err != nil || len(locs) < 3 {
			continue
		}
		ids := map[*Location]string{}
		locIDs(locs, ids)
		all = append(all, set{m, ids})
		fmt.Fprintf(&conf, "  server {\n    listen %s;\n    server_name set%d.test;\n", addr, len(all)-1)
		for _, l := range locs {
			renderRandomLoc(&conf, l, ids, "    ")
		}
		conf.WriteString("  }\n")
	}
	conf.WriteString("}\n")
	startNginx(t, bin, conf.String(), addr)
	stats := map[string]int{}
	defer func() { t.Log(stats) }()
	for si, s := range all {
		for range uris {
			path := "/"
			for range r.IntN(8) {
				path += string("ab/"[r.IntN(3)])
			}
			args := ""
			if r.IntN(4) == 0 {
				args = "q=1"
			}
			target := path
			if args != "" {
				target += "?" + args
			}
			got, err := ask(addr, oracleRequest{host: fmt.Sprintf("set%d.test", si), target: target})
			if err != nil {
				t.Fatal(err)
			}
			loc, _, redirect := s.m.Match(path)
			var want string
			switch {
			case redirect:
				want = "301 loc=" + loc.RedirectTarget(args)
			case loc == nil:
				want = "404"
			case loc.AutoRedirect:
				want = "200 up=" + s.ids[loc] // see ask: "LOC id" bodies
			default:
				want = "200 body=" + s.ids[loc]
			}
			stats[strings.SplitN(want, "=", 2)[0]]++
			if got != want {
				t.Errorf("set %d %s: nginx %q, route %q\n%s", si, target, got, want, dump(locsOf(s.m), ""))
			}
		}
	}
}

// locsOf lists a matcher's locations for failure messages.
func locsOf(m *Matcher) []*Location {
	var out []*Location
	var walk func(n *treeNode)
	walk = func(n *treeNode) {
		if n == nil {
			return
		}
		walk(n.left)
		if n.exact != nil {
			out = append(out, n.exact)
		}
		if n.inclusive != nil {
			out = append(out, n.inclusive)
		}
		walk(n.tree)
		walk(n.right)
	}
	walk(m.static)
	return append(out, m.regexes...)
}
