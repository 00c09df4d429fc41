package notify

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// withoutKeepalivedScript makes the default-user lookup hermetic: the
// keepalived_script account never exists, every other name is looked up
// for real.
func withoutKeepalivedScript(name string) (*user.User, error) {
	if name == defaultScriptUser {
		return nil, user.UnknownUserError(name)
	}
	return user.Lookup(name)
}

// newTestNotifier builds a Notifier with a captured debug log and a short
// SIGTERM→SIGKILL grace. It is closed when the test ends.
func newTestNotifier(t *testing.T, g config.Global, edit ...func(*Options)) (*Notifier, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opt := Options{
		Global:     g,
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LookupUser: withoutKeepalivedScript,
	}
	for _, e := range edit {
		e(&opt)
	}
	n, err := New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n.killGrace = 300 * time.Millisecond
	n.hook.retryDelay = 10 * time.Millisecond
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Close(ctx)
	})
	return n, logs
}

// writeScript writes a /bin/sh script (body after the #! line) with an
// exact mode, whatever the umask.
func writeScript(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chmod(t, p, mode)
	return p
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string, mode os.FileMode) string {
	t.Helper()
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	chmod(t, p, mode)
	return p
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: files must be root-owned for keepalived's path check, and switching users needs CAP_SETUID")
	}
}

// cmd quotes words into a Script command line.
func cmd(words ...string) *config.Script {
	return &config.Script{Command: JoinCommand(words)}
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone reports whether pid has exited (gone, or a zombie nobody
// has reaped yet).
func processGone(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) S ...; comm may contain spaces, so split after the ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X')
}
