package notify

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

func TestRunScriptPassesArguments(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := writeScript(t, dir, "args.sh", `o=$1; shift; printf '%s\n' "$0" "$@" > "$o"`, 0o755)

	code, err := n.RunScript(context.Background(), cmd(script, out, "a b", "it's", ""), []string{"c", "d e"}, 5*time.Second)
	if err != nil || code != 0 {
		t.Fatalf("RunScript = %d, %v", code, err)
	}
	real, err := filepath.EvalSymlinks(script)
	if err != nil {
		t.Fatal(err)
	}
	// argv[0] is the resolved script path (notify.c replaces args[0] with
	// the realpath); the configured words come first, then the extra args.
	want := []string{real, "a b", "it's", "", "c", "d e"}
	if got := readLines(t, out); !slices.Equal(got, want) {
		t.Errorf("script saw %q, want %q", got, want)
	}
}

func TestRunScriptExitCodes(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	script := writeScript(t, dir, "exit.sh", `exit "$1"`, 0o755)
	for _, code := range []int{0, 1, 3, 255} {
		got, err := n.RunScript(context.Background(), cmd(script), []string{strconv.Itoa(code)}, 5*time.Second)
		if err != nil || got != code {
			t.Errorf("exit %d: RunScript = %d, %v", code, got, err)
		}
	}
}

func TestRunScriptKilledBySignal(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	script := writeScript(t, t.TempDir(), "suicide.sh", `kill -KILL $$`, 0o755)
	code, err := n.RunScript(context.Background(), cmd(script), nil, 5*time.Second)
	if code != -1 || err == nil || !strings.Contains(err.Error(), "signal") {
		t.Errorf("RunScript = %d, %v; want -1 and a signal error", code, err)
	}
}

func TestRunScriptTimeoutSendsSIGTERM(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	n.killGrace = 10 * time.Second // SIGTERM alone must end it
	script := writeScript(t, t.TempDir(), "sleep.sh", `exec sleep 30`, 0o755)
	start := time.Now()
	code, err := n.RunScript(context.Background(), cmd(script), nil, 100*time.Millisecond)
	elapsed := time.Since(start)
	if code != -1 || !errors.Is(err, ErrTimeout) {
		t.Fatalf("RunScript = %d, %v; want -1, ErrTimeout", code, err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("took %v: SIGTERM should have ended the script long before SIGKILL", elapsed)
	}
}

// A script that ignores SIGTERM, and its child, are SIGKILLed after the
// grace period (check_misc.c misc_check_child_thread).
func TestRunScriptTimeoutKillsGroupIgnoringSIGTERM(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	n.killGrace = 300 * time.Millisecond
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := writeScript(t, dir, "stubborn.sh", `trap '' TERM; sleep 30 & echo $! > "$1"; wait; wait`, 0o755)

	start := time.Now()
	code, err := n.RunScript(context.Background(), cmd(script, pidFile), nil, 500*time.Millisecond)
	elapsed := time.Since(start)
	if code != -1 || !errors.Is(err, ErrTimeout) {
		t.Fatalf("RunScript = %d, %v; want -1, ErrTimeout", code, err)
	}
	if elapsed < 800*time.Millisecond {
		t.Errorf("returned after %v, before timeout+grace: SIGTERM should have been ignored", elapsed)
	}
	if elapsed > 5*time.Second {
		t.Errorf("returned after %v: SIGKILL came too late", elapsed)
	}
	pid := strings.TrimSpace(string(must(os.ReadFile(pidFile))))
	waitFor(t, 2*time.Second, "the background child to die", func() bool { return processGone(pid) })
}

func TestRunScriptContextCancel(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	script := writeScript(t, t.TempDir(), "sleep.sh", `exec sleep 30`, 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	code, err := n.RunScript(ctx, cmd(script), nil, 0)
	if code != -1 || !errors.Is(err, context.Canceled) {
		t.Errorf("RunScript = %d, %v; want -1, context.Canceled", code, err)
	}
}

func TestRunScriptWithoutShebangUsesSh(t *testing.T) {
	n, logs := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	p := filepath.Join(dir, "plain")
	if err := os.WriteFile(p, []byte(`echo "ran $1" > "$2"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, p, 0o755)
	code, err := n.RunScript(context.Background(), cmd(p, "x", out), nil, 5*time.Second)
	if err != nil || code != 0 {
		t.Fatalf("RunScript = %d, %v", code, err)
	}
	if got := readLines(t, out); !slices.Equal(got, []string{"ran x"}) {
		t.Errorf("output %q", got)
	}
	if !strings.Contains(logs.String(), "no #! line") {
		t.Errorf("missing shebang warning in log:\n%s", logs)
	}
}

// keepalived's "<file" form tests that a file can be opened (notify.c
// check_script_secure SC_SYSTEM). Blanks after '<' need quoting, or the
// splitter makes "<" a word of its own, as in keepalived.
func TestRunScriptFileTest(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	present := filepath.Join(dir, "present")
	if err := os.WriteFile(present, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := n.RunScript(context.Background(), &config.Script{Command: "<" + present}, nil, 5*time.Second); err != nil || code != 0 {
		t.Errorf("<present: %d, %v; want 0", code, err)
	}
	if code, err := n.RunScript(context.Background(), cmd("< "+filepath.Join(dir, "absent")), nil, 5*time.Second); err != nil || code == 0 {
		t.Errorf("<absent: %d, %v; want a non-zero exit", code, err)
	}
}

func TestRunScriptAsOtherUser(t *testing.T) {
	needRoot(t)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no nobody account")
	}
	n, _ := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	chmod(t, dir, 0o755)
	chmod(t, filepath.Dir(dir), 0o755) // TempDir's parent is 0700
	outDir := mkdir(t, filepath.Join(dir, "out"), 0o777)
	out := filepath.Join(outDir, "id")
	script := writeScript(t, dir, "id.sh", `{ id -u; id -g; id -G; } > "$1"`, 0o755)

	s := cmd(script, out)
	s.User = "nobody"
	if code, err := n.RunScript(context.Background(), s, nil, 5*time.Second); err != nil || code != 0 {
		t.Fatalf("RunScript = %d, %v", code, err)
	}
	// keepalived sets the supplementary groups to just the primary group.
	want := []string{nobody.Uid, nobody.Gid, nobody.Gid}
	if got := readLines(t, out); !slices.Equal(got, want) {
		t.Errorf("id output %q, want %q", got, want)
	}
}

func TestRunScriptRefusesInsecureScript(t *testing.T) {
	needRoot(t)
	// With enable_script_security a user must exist for scripts to run as.
	n, _ := newTestNotifier(t, config.Global{EnableScriptSecurity: true, ScriptUser: "root"})
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := writeScript(t, dir, "open.sh", `touch "$1"`, 0o777)
	code, err := n.RunScript(context.Background(), cmd(script, marker), nil, 5*time.Second)
	if code != -1 || !errors.Is(err, ErrInsecure) {
		t.Fatalf("RunScript = %d, %v; want ErrInsecure", code, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the refused script ran")
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 4}
	for _, s := range []string{"ab", "cdef", "g"} {
		if _, err := tb.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := tb.String(); got != "defg" {
		t.Errorf("tail = %q, want %q", got, "defg")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
