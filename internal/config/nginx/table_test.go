package nginx

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// wrappers place a directive in each context.
var wrappers = []struct {
	ctx       ctxMask
	pre, post string
}{
	{cMain, "", "\nevents {}\n"},
	{cEvents, "events {\n", "\n}\n"},
	{cHTTP, "events {}\nhttp {\n", "\n}\n"},
	{cServer, "events {}\nhttp {\nserver {\n", "\n}\n}\n"},
	{cLocation, "events {}\nhttp {\nserver {\nlocation / {\n", "\n}\n}\n}\n"},
	{cSIf, "events {}\nhttp {\nserver {\nif ($uri) {\n", "\n}\n}\n}\n"},
	{cLIf, "events {}\nhttp {\nserver {\nlocation / {\nif ($uri) {\n", "\n}\n}\n}\n}\n"},
	{cUpstream, "events {}\nhttp {\nupstream u {\n", "\n}\n}\n"},
	{cLimitExcept, "events {}\nhttp {\nserver {\nlocation / {\nlimit_except GET {\n", "\n}\n}\n}\n}\n"},
}

// placed writes a directive in context c with n arguments.
func placed(name string, c ctxMask, n int, block bool, value string) string {
	for _, w := range wrappers {
		if w.ctx != c {
			continue
		}
		d := name + strings.Repeat(" "+value, n)
		if block {
			d += " {}"
		} else {
			d += ";"
		}
		return w.pre + d + w.post
	}
	panic("no wrapper")
}

func firstCtx(m ctxMask) ctxMask {
	for c := ctxMask(1); c <= cLimitExcept; c <<= 1 {
		if m&c != 0 {
			return c
		}
	}
	return 0
}

func minArgs(m argMask) int {
	for n := 0; n < 9; n++ {
		if m.allows(n) {
			return n
		}
	}
	return 0
}

// TestDirectiveTableAgreesWithNginx checks the table against the binary:
// each directive is known where the table allows it, with the fewest
// arguments the table allows, and refused in a context the table does
// not allow; a one-argument slot's bad value gets nginx's message from
// fulcrum too.
func TestDirectiveTableAgreesWithNginx(t *testing.T) {
	bin := nginxBinary(t)
	names := make([]string, 0, len(directiveTable))
	for n := range directiveTable {
		names = append(names, n)
	}
	sort.Strings(names)
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dir := t.TempDir()
			for name := range work {
				problems := checkDirective(t, bin, dir, name)
				mu.Lock()
				for _, p := range problems {
					t.Error(p)
				}
				mu.Unlock()
			}
		}()
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
}

func checkDirective(t *testing.T, bin, dir, name string) []string {
	var problems []string
	run := func(conf string) []oracleMsg {
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		return runNginx(t, bin, dir, path)
	}
	says := func(msgs []oracleMsg, part string) bool {
		return slices.ContainsFunc(msgs, func(m oracleMsg) bool { return strings.Contains(m.text, part) })
	}
	var all ctxMask
	for _, sp := range directiveTable[name] {
		all |= sp.ctx
		c := firstCtx(sp.ctx)
		msgs := run(placed(name, c, minArgs(sp.args), sp.block, "x"))
		for _, bad := range []string{"unknown directive", "is not allowed here", "invalid number of arguments", "has no opening", "is not terminated"} {
			if says(msgs, bad) {
				problems = append(problems, name+": nginx says "+bad+" where the table allows it")
			}
		}
		if sp.check != checkNone && sp.args.allows(1) && !sp.block {
			path := filepath.Join(dir, "nginx.conf")
			conf := placed(name, c, 1, false, "bogus")
			if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			theirs := runNginx(t, bin, dir, path)
			_, ours := parse(path, []byte(conf), goldenOpts())
			for _, m := range theirs {
				if m.level == "emerg" && !slices.ContainsFunc(ours, func(d config.Diagnostic) bool { return sameProblem(m, d) }) {
					problems = append(problems, name+": nginx says "+m.text+" for a bad value; fulcrum does not")
				}
			}
		}
	}
	for _, w := range wrappers {
		if all&w.ctx != 0 {
			continue
		}
		if msgs := run(placed(name, w.ctx, 1, false, "x")); !says(msgs, "is not allowed here") && !says(msgs, "has no opening") {
			problems = append(problems, name+": nginx allows it in a context the table does not")
		}
		break
	}
	return problems
}
