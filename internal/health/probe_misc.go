package health

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// miscProber is MISC_CHECK (check_misc.c misc_check_child_thread): exit 0
// is success; with misc_dynamic an exit of 2..255 is success too and sets
// the weight to exit-2; anything else, a timeout or a signal, fails.
type miscProber struct {
	script  *config.Script
	timeout time.Duration
	dynamic bool
	run     ScriptRunner
}

func newMiscProber(c config.Check, opt ProbeOptions) (*miscProber, error) {
	if c.MiscPath == nil || strings.TrimSpace(c.MiscPath.Command) == "" {
		// check_misc.c misc_end_handler: "No script path has been specified".
		return nil, errors.New("misc check has no misc_path")
	}
	p := &miscProber{script: c.MiscPath, timeout: c.MiscTimeout, dynamic: c.MiscDynamic, run: opt.RunScript}
	if p.timeout <= 0 {
		// misc_check_thread: misc_timeout ? misc_timeout : vs->delay_loop.
		p.timeout = c.DelayLoop
		if p.timeout <= 0 {
			p.timeout = defaultDelayLoop
		}
	}
	if p.run == nil {
		p.run = RunScript
	}
	return p, nil
}

func (p *miscProber) Probe(ctx context.Context) Result {
	code, err := p.run(ctx, p.script, p.timeout)
	if err != nil {
		return fail(fmt.Errorf("misc_path %q: %w: %w", p.script.Command, ErrExitStatus, err))
	}
	switch {
	case code == 0:
		return Result{OK: true}
	case p.dynamic && code >= 2 && code <= 255:
		// "The actual weight set when using misc_dynamic is two less than
		// the exit status returned. Effective range is 0..253."
		return Result{OK: true, Weight: weightPtr(int32(code - 2))}
	}
	return fail(fmt.Errorf("misc_path %q: %w: exit status %d", p.script.Command, ErrExitStatus, code))
}

// scriptKillDelay is how long a timed-out script gets between SIGTERM and
// SIGKILL (check_misc.c: SCRIPT_STATE_REQUESTING_TERMINATION, timeout 2).
const scriptKillDelay = 2 * time.Second

// RunScript is the default ScriptRunner. It splits the command line as
// keepalived does (quotes group words; no shell), runs it in its own
// process group as s.User/s.Group when set, and on timeout sends SIGTERM
// to the group, then SIGKILL two seconds later, as misc_check_child_thread
// does. If ctx ends first the group is killed at once.
func RunScript(ctx context.Context, s *config.Script, timeout time.Duration) (int, error) {
	argv, err := SplitCommand(s.Command)
	if err != nil {
		return -1, err
	}
	if len(argv) == 0 {
		return -1, errors.New("empty command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.User != "" {
		cred, err := credential(s.User, s.Group)
		if err != nil {
			return -1, err
		}
		cmd.SysProcAttr.Credential = cred
	}
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	pgid := cmd.Process.Pid
	term := time.NewTimer(timeout)
	defer term.Stop()
	var kill <-chan time.Time
	timedOut := false
	for {
		select {
		case err := <-waited:
			if err == nil {
				return 0, nil
			}
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					if timedOut {
						return -1, fmt.Errorf("timed out after %s", timeout)
					}
					return -1, fmt.Errorf("killed by signal %s", ws.Signal())
				}
				return ee.ExitCode(), nil
			}
			return -1, err
		case <-term.C:
			timedOut = true
			syscall.Kill(-pgid, syscall.SIGTERM)
			k := time.NewTimer(scriptKillDelay)
			defer k.Stop()
			kill = k.C
		case <-kill:
			syscall.Kill(-pgid, syscall.SIGKILL)
			kill = nil
		case <-ctx.Done():
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-waited
			return -1, ctx.Err()
		}
	}
}

func credential(userName, groupName string) (*syscall.Credential, error) {
	u, err := user.Lookup(userName)
	if err != nil {
		return nil, fmt.Errorf("script user: %w", err)
	}
	gid := u.Gid
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			return nil, fmt.Errorf("script group: %w", err)
		}
		gid = g.Gid
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	g, err2 := strconv.ParseUint(gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(g)}, nil
}

// SplitCommand splits a script command line into argv the way
// keepalived's quoted keywords are tokenized: words are separated by
// blanks; "..." and '...' group words and are removed; a backslash
// outside single quotes escapes the next character.
func SplitCommand(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errors.New("command ends with a backslash")
			}
			i++
			cur.WriteByte(s[i])
			inArg = true
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
			inArg = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
