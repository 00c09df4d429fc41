package notify

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// ErrTimeout marks a script killed because it ran too long.
var ErrTimeout = errors.New("script timed out")

const (
	// defaultKillGrace is how long a timed-out script has between SIGTERM
	// and SIGKILL (check_misc.c misc_check_child_thread: 2 s).
	defaultKillGrace = 2 * time.Second
	// reapWait bounds the wait after SIGKILL; keepalived gives up after 10 s
	// too ("failed to terminate after kill").
	reapWait = 10 * time.Second
	// stderrTail is how much of a script's stderr is kept for the log.
	stderrTail = 1024
)

// RunScript runs s synchronously with args appended to its own arguments
// and returns its exit status; a non-zero status is not an error. It is
// what MISC_CHECK and vrrp_script use. The script is vetted first (see
// CheckScript) and runs as its user, in its own process group, with
// stdin/stdout on /dev/null and SIGTERM as its parent-death signal, like
// keepalived's system_call_script. When timeout (if > 0) expires or ctx
// ends, the whole group gets SIGTERM, then SIGKILL 2 s later (check_misc.c);
// the error then wraps ErrTimeout or ctx.Err(). A script killed by a signal
// yields -1 and an error.
func (n *Notifier) RunScript(ctx context.Context, s *config.Script, args []string, timeout time.Duration) (exitCode int, err error) {
	p, err := n.prepare(s)
	if err != nil {
		return -1, err
	}
	code, stderr, err := n.run(ctx, p, args, timeout)
	if stderr != "" {
		n.log.Debug("script stderr", "script", s.Command, "exit", code, "stderr", stderr)
	}
	return code, err
}

// run executes a vetted plan; see RunScript.
func (n *Notifier) run(ctx context.Context, p *plan, args []string, timeout time.Duration) (int, string, error) {
	if err := ctx.Err(); err != nil {
		return -1, "", fmt.Errorf("script %s: %w", p.argv[0], err)
	}
	argv := append(append([]string(nil), p.argv...), args...)
	stderr := &tailBuffer{max: stderrTail}
	cmd := n.command(p, argv, stderr, false)
	err := cmd.Start()
	if errors.Is(err, syscall.ENOEXEC) && !p.shell {
		// No #! line: run it with /bin/sh, as execvp(3) does. keepalived
		// gets there through libmagic and system(3).
		n.warnOnce("shebang:"+argv[0], "script has no #! line; running it with /bin/sh", "script", argv[0])
		cmd = n.command(p, argv, stderr, true)
		err = cmd.Start()
	}
	if err != nil {
		if p.id.uid != n.ourUID || p.id.gid != n.ourGID {
			return -1, "", fmt.Errorf("start %s as %v: %w", argv[0], p.id, err)
		}
		return -1, "", fmt.Errorf("start %s: %w", argv[0], err)
	}

	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the outcome is read from cmd.ProcessState
		close(done)
	}()
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}

	var cause error
	select {
	case <-done:
		return exitStatus(cmd, argv[0], stderr)
	case <-expired:
		cause = fmt.Errorf("%w after %v", ErrTimeout, timeout)
	case <-ctx.Done():
		cause = ctx.Err()
	}

	// Kill the whole group: a script's children die with it.
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(n.killGrace)
	defer grace.Stop()
	select {
	case <-done:
		// The leader went; make sure children that ignored SIGTERM follow
		// (misc_check_child_thread does the same).
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	case <-grace.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(reapWait):
			return -1, stderr.String(), fmt.Errorf("script %s: %w; it did not exit after SIGKILL", argv[0], cause)
		}
	}
	return -1, stderr.String(), fmt.Errorf("script %s: %w", argv[0], cause)
}

// command builds the exec.Cmd for a plan.
func (n *Notifier) command(p *plan, argv []string, stderr *tailBuffer, viaShell bool) *exec.Cmd {
	cmd := &exec.Cmd{Path: argv[0], Args: argv}
	switch {
	case p.shell:
		// "<file" keeps its first word unquoted so the shell sees the
		// redirection (notify.c cmd_str_r).
		line := argv[0]
		for _, a := range argv[1:] {
			line += " " + shellQuote(a)
		}
		cmd = &exec.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", line}}
	case viaShell:
		cmd = &exec.Cmd{Path: "/bin/sh", Args: append([]string{"sh"}, argv...)}
	}
	cmd.Dir = "/" // keepalived runs scripts from its daemon cwd, /
	cmd.Stderr = stderr
	// stderr goes through a pipe; do not wait on it for ever when the
	// script leaves a background child holding it.
	cmd.WaitDelay = n.killGrace
	// Pdeathsig: if we die, the script gets SIGTERM (notify.c sets
	// PR_SET_PDEATHSIG). The kernel ties it to the forking thread, which the
	// Go runtime keeps alive unless a goroutine locked to it exits.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGTERM,
		Credential: credential(p.id, n.ourUID, n.ourGID),
	}
	return cmd
}

// exitStatus turns a finished command into (code, stderr, err).
func exitStatus(cmd *exec.Cmd, name string, stderr *tailBuffer) (int, string, error) {
	ps := cmd.ProcessState
	if ps == nil {
		return -1, stderr.String(), fmt.Errorf("script %s: not waited for", name)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, stderr.String(), fmt.Errorf("script %s: killed by signal %v", name, ws.Signal())
	}
	return ps.ExitCode(), stderr.String(), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.buf)) }
