package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	if opt.RunScript == nil {
		// Scripts run only through the injected runner (the engine's
		// notifier), which applies keepalived's script security.
		return nil, errors.New("misc_check needs a script runner")
	}
	p := &miscProber{script: c.MiscPath, timeout: c.MiscTimeout, dynamic: c.MiscDynamic, run: opt.RunScript}
	if p.timeout <= 0 {
		// misc_check_thread: misc_timeout ? misc_timeout : vs->delay_loop.
		p.timeout = c.DelayLoop
		if p.timeout <= 0 {
			p.timeout = defaultDelayLoop
		}
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
