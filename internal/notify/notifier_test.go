package notify

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

func closeWithin(t *testing.T, n *Notifier, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return n.Close(ctx)
}

// A VRRP transition runs notify_master and the generic notify script with
// INSTANCE name STATE priority appended (vrrp_notify.c).
func TestNotifyRunsScriptsWithArgs(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	script := writeScript(t, dir, "rec.sh", `o=$1; shift; printf '%s\n' "$@" > "$o"`, 0o755)
	outMaster, outGeneric := filepath.Join(dir, "master"), filepath.Join(dir, "generic")

	ev := VRRPInstanceEvent("VI_1", StateMaster)
	ev.Script = cmd(script, outMaster, "fixed arg")
	args := VRRPNotifyArgs(false, "VI_1", StateMaster, 150)
	ev.Extra = []ScriptCall{{Script: cmd(script, outGeneric), Args: args}}
	n.Notify(ev)
	args[0] = "MUTATED" // Notify must have copied the caller's slice

	if err := closeWithin(t, n, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, outMaster); !slices.Equal(got, []string{"fixed arg"}) {
		t.Errorf("notify_master saw %q", got)
	}
	if got, want := readLines(t, outGeneric), []string{"INSTANCE", "VI_1", "MASTER", "150"}; !slices.Equal(got, want) {
		t.Errorf("notify saw %q, want %q", got, want)
	}
}

func TestNotifyLogsScriptFailures(t *testing.T) {
	n, logs := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	failing := writeScript(t, dir, "fail.sh", `echo boom >&2; exit 4`, 0o755)
	n.Notify(Event{Script: cmd(failing), Kind: KindRealServer, Object: "rs"})
	n.Notify(Event{Script: cmd(filepath.Join(dir, "absent.sh")), Kind: KindRealServer, Object: "rs"})
	if err := closeWithin(t, n, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	log := logs.String()
	for _, want := range []string{"notify script exited with an error", "exit=4", "stderr=boom", "notify script refused", "absent.sh"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// Notify must return at once even when the SMTP server accepts and then
// never answers; the backlog is bounded and Close honours its deadline.
func TestNotifyNeverBlocksOnHungSMTP(t *testing.T) {
	srv := startSMTP(t, func(s *smtpServer) { s.silent = true })
	g := mailGlobal(srv)
	g.SMTPConnectTimeout = time.Minute // only Close can end the session
	h := startHook(t, nil)
	g.Webhook = h.URL
	const queue, events = 4, 500
	n, _ := newTestNotifier(t, g, func(o *Options) { o.QueueSize = queue })

	start := time.Now()
	for range events {
		n.Notify(Event{Email: true, Subject: "s", Kind: "k"})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("%d Notify calls took %v", events, d)
	}
	// Mail: one event in the worker, queue full, the rest dropped; the
	// webhook sink is independent but equally bounded.
	if got := n.Dropped(); got < events-queue-1 {
		t.Errorf("dropped %d, want at least %d", got, events-queue-1)
	}
	waitFor(t, 2*time.Second, "the webhook to be served while SMTP hangs", func() bool { return h.calls.Load() > 0 })

	start = time.Now()
	err := closeWithin(t, n, 300*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	// Cancelling after the deadline closes the hung connection.
	waitFor(t, 2*time.Second, "the SMTP connection to be closed", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.closed > 0
	})
}

func TestCloseDrainsQueues(t *testing.T) {
	h := startHook(t, func(int32, http.ResponseWriter, *http.Request) int {
		time.Sleep(20 * time.Millisecond)
		return http.StatusOK
	})
	n, _ := newTestNotifier(t, config.Global{Webhook: h.URL})
	for range 5 {
		n.Notify(Event{Kind: "k"})
	}
	if err := closeWithin(t, n, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := h.calls.Load(); got != 5 {
		t.Errorf("%d webhook calls after Close, want 5", got)
	}
	// After Close, notifications are dropped, not sent or panicking.
	before := n.Dropped()
	n.Notify(Event{Kind: "late"})
	if n.Dropped() != before+1 || h.calls.Load() != 5 {
		t.Errorf("a notification after Close was not dropped")
	}
	if err := closeWithin(t, n, time.Second); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// At the Close deadline running scripts are terminated, as keepalived's
// script_killall does at shutdown.
func TestCloseDeadlineKillsScripts(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{})
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	script := writeScript(t, dir, "long.sh", `echo $$ > "$1"; exec sleep 30`, 0o755)
	n.Notify(Event{Script: cmd(script, pidFile)})
	waitFor(t, 5*time.Second, "the script to start", func() bool {
		b, err := os.ReadFile(pidFile)
		return err == nil && len(b) > 0
	})
	if err := closeWithin(t, n, 100*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want DeadlineExceeded", err)
	}
	pid := strings.TrimSpace(string(must(os.ReadFile(pidFile))))
	waitFor(t, 3*time.Second, "the script to be killed", func() bool { return processGone(pid) })
}

// Each event's scripts get ev.Timeout (keepalived gives STOP scripts 1 s).
func TestNotifyScriptTimeout(t *testing.T) {
	n, logs := newTestNotifier(t, config.Global{})
	script := writeScript(t, t.TempDir(), "long.sh", `exec sleep 30`, 0o755)
	n.Notify(Event{Script: cmd(script), Timeout: 100 * time.Millisecond, Kind: KindVRRPInstance, State: StateStop})
	if err := closeWithin(t, n, 5*time.Second); err != nil {
		t.Fatalf("Close = %v: the timed-out script was not killed", err)
	}
	if !strings.Contains(logs.String(), "script timed out") {
		t.Errorf("no timeout in the log:\n%s", logs)
	}
}

func TestMaxScriptsBoundsConcurrency(t *testing.T) {
	n, _ := newTestNotifier(t, config.Global{}, func(o *Options) { o.MaxScripts = 2 })
	dir := t.TempDir()
	// Each run takes a lock directory; more than two at once would fail
	// to mkdir a third slot.
	script := writeScript(t, dir, "slot.sh", `
for s in a b; do
	if mkdir "$1/$s" 2>/dev/null; then sleep 0.1; rmdir "$1/$s"; exit 0; fi
done
touch "$1/overflow"`, 0o755)
	for range 6 {
		n.Notify(Event{Script: cmd(script, dir)})
	}
	if err := closeWithin(t, n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "overflow")); err == nil {
		t.Error("more than MaxScripts scripts ran at once")
	}
}
