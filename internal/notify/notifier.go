package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Defaults (keepalived.conf(5) global_defs; ours for the queues).
const (
	DefaultSMTPPort           = 25
	DefaultSMTPConnectTimeout = 30 * time.Second
	DefaultQueueSize          = 128
	DefaultMaxScripts         = 16
	DefaultWebhookTimeout     = 10 * time.Second
	defaultRetryDelay         = time.Second
)

// Options configures a Notifier. Only Global is required.
type Options struct {
	Global config.Global
	Logger *slog.Logger
	// Now stamps events and the mail Date header (default time.Now).
	Now func() time.Time
	// LookupUser and LookupGroup resolve script users (default os/user).
	LookupUser  func(name string) (*user.User, error)
	LookupGroup func(name string) (*user.Group, error)
	// QueueSize bounds each sink's backlog (scripts, mail, webhook);
	// notifications beyond it are dropped and logged (default 128).
	QueueSize int
	// MaxScripts bounds notify scripts running at once (default 16).
	MaxScripts int
	// HTTPClient posts webhooks (default: a client that does not follow
	// redirects). WebhookTimeout bounds one attempt (default 10 s).
	HTTPClient     *http.Client
	WebhookTimeout time.Duration
}

// Event is one notification. Notify runs Script with Args appended (then
// every Extra call), mails Subject/Body when Email is set and SMTP is
// configured, and posts the event to the webhook when one is configured.
type Event struct {
	Script *config.Script
	// Args are appended to the script's own arguments, e.g. VRRP's
	// INSTANCE name STATE priority for a generic notify script.
	Args []string
	// Extra are further scripts for the same event, e.g. the generic
	// `notify` script that runs next to notify_master; nil scripts are
	// skipped, so callers can pass optional ones as they are.
	Extra []ScriptCall
	// Timeout bounds each script of this event (0: until Close). keepalived
	// gives STOP notifications 1 s (vrrp_notify.c, ipwrapper.c).
	Timeout time.Duration

	Email bool
	// Subject is the mail subject without the "[router_id] " prefix that
	// Notify adds (smtp.c smtp_alert); Body is the mail body.
	Subject, Body string

	// Kind, Object and State describe the event for the webhook JSON.
	Kind, Object, State string
	Time                time.Time // default: Now() at Notify
}

// ScriptCall is one script with the arguments appended to it.
type ScriptCall struct {
	Script *config.Script
	Args   []string
}

// Notifier runs notify scripts and sends mail and webhook alerts. Its
// methods are safe for concurrent use.
type Notifier struct {
	global   config.Global
	log      *slog.Logger
	now      func() time.Time
	res      resolver
	routerID string

	ourUID, ourGID uint32
	defaultID      identity
	defaultErr     error    // scripts without a user are refused with it
	defaultIsSelf  bool     // no script user exists: warn when a script first needs one
	ids            sync.Map // "user\x00group" -> identity
	warned         sync.Map // warnOnce keys
	killGrace      time.Duration

	mail mailer
	hook webhook

	mu        sync.RWMutex // guards closed and the queues' lifetime
	closed    bool
	scriptQ   chan Event
	mailQ     chan Event // nil when mail is not configured
	hookQ     chan Event // nil without a webhook
	sem       chan struct{}
	wg        sync.WaitGroup // workers and running scripts
	drained   chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	dropped   atomic.Uint64
}

// New validates the settings and starts the notification workers. Unlike
// keepalived, which logs and skips scripts whose user does not exist, an
// unknown script_user is an error here. With no script_user the default is
// keepalived_script when that account exists; otherwise scripts run as
// this process's user (a warning), or, with enable_script_security, scripts
// without their own user are refused (notify.c get_default_script_user).
func New(opt Options) (*Notifier, error) {
	g := opt.Global
	n := &Notifier{
		global:    g,
		log:       opt.Logger,
		now:       opt.Now,
		res:       resolver{lookupUser: opt.LookupUser, lookupGroup: opt.LookupGroup},
		ourUID:    uint32(os.Geteuid()),
		ourGID:    uint32(os.Getegid()),
		killGrace: defaultKillGrace,
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.res.lookupUser == nil {
		n.res.lookupUser = user.Lookup
	}
	if n.res.lookupGroup == nil {
		n.res.lookupGroup = user.LookupGroup
	}

	hostname, _ := os.Hostname()
	n.routerID = g.RouterID
	if n.routerID == "" {
		n.routerID = hostname // router_id defaults to the host name
	}

	if err := n.setDefaultIdentity(); err != nil {
		return nil, err
	}
	if err := n.mail.configure(g, hostname); err != nil {
		return nil, err
	}
	if err := n.hook.configure(g.Webhook, opt.HTTPClient, opt.WebhookTimeout); err != nil {
		return nil, err
	}

	size := opt.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	maxScripts := opt.MaxScripts
	if maxScripts <= 0 {
		maxScripts = DefaultMaxScripts
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.drained = make(chan struct{})
	n.sem = make(chan struct{}, maxScripts)
	n.scriptQ = make(chan Event, size)
	n.start(n.scriptWorker)
	if n.mail.enabled() {
		n.mailQ = make(chan Event, size)
		n.start(n.mailWorker)
	}
	if n.hook.enabled() {
		n.hookQ = make(chan Event, size)
		n.start(n.hookWorker)
	}
	return n, nil
}

func (n *Notifier) setDefaultIdentity() error {
	g := n.global
	if g.ScriptUser != "" {
		id, err := n.res.resolve(g.ScriptUser, g.ScriptGroup)
		if err != nil {
			return fmt.Errorf("notify: script_user: %w", err)
		}
		n.defaultID = id
		return nil
	}
	if g.ScriptGroup != "" {
		return fmt.Errorf("notify: script_user: %w: group %q given without a user", ErrUser, g.ScriptGroup)
	}
	id, err := n.res.resolve(defaultScriptUser, "")
	if err == nil {
		n.defaultID = id
		return nil
	}
	if g.EnableScriptSecurity {
		// keepalived reports a config error and drops such scripts.
		n.defaultErr = fmt.Errorf("enable_script_security needs script_user or the %s account, and it does not exist: %w", defaultScriptUser, err)
		return nil
	}
	n.defaultID = identity{name: selfName(n.ourUID), uid: n.ourUID, gid: n.ourGID, groups: []uint32{n.ourGID}}
	n.defaultIsSelf = true
	return nil
}

func selfName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return "uid " + strconv.FormatUint(uint64(uid), 10)
}

// CheckScript vets s without running it, for config-load diagnostics: the
// command line splits, its user resolves, the file exists, is executable
// by that user, and — when it runs as root — no path component is writable
// by anyone but root (enforced with enable_script_security, otherwise only
// logged as a SECURITY VIOLATION). A nil script is fine.
func (n *Notifier) CheckScript(s *config.Script) error {
	if s == nil {
		return nil
	}
	_, err := n.prepare(s)
	return err
}

// Notify queues ev and returns at once: it never blocks on scripts, SMTP
// or HTTP. Each sink (scripts, mail, webhook) has its own bounded queue and
// worker, so a hung SMTP server delays neither scripts nor webhooks; when a
// queue is full the event is dropped for that sink and logged. Failures are
// logged, not returned.
func (n *Notifier) Notify(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = n.now()
	}
	// The caller may reuse its slices once Notify returns.
	ev.Args = append([]string(nil), ev.Args...)
	var extra []ScriptCall
	for _, c := range ev.Extra {
		if c.Script != nil {
			extra = append(extra, ScriptCall{Script: c.Script, Args: append([]string(nil), c.Args...)})
		}
	}
	ev.Extra = extra

	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		n.dropped.Add(1)
		n.log.Warn("notification after close dropped", "kind", ev.Kind, "object", ev.Object, "state", ev.State)
		return
	}
	if ev.Script != nil || len(ev.Extra) > 0 {
		n.enqueue(n.scriptQ, ev, "script")
	}
	if ev.Email && n.mailQ != nil {
		n.enqueue(n.mailQ, ev, "mail")
	}
	if n.hookQ != nil {
		n.enqueue(n.hookQ, ev, "webhook")
	}
}

func (n *Notifier) enqueue(q chan Event, ev Event, sink string) {
	select {
	case q <- ev:
	default:
		n.dropped.Add(1)
		n.log.Error("notification queue full; dropping", "sink", sink,
			"kind", ev.Kind, "object", ev.Object, "state", ev.State)
	}
}

// Dropped counts notifications dropped (per sink) because a queue was full
// or the Notifier was closed.
func (n *Notifier) Dropped() uint64 { return n.dropped.Load() }

// Close stops accepting notifications and waits for queued and running
// ones to finish. When ctx ends first, whatever is left is cancelled —
// scripts get SIGTERM then SIGKILL, connections are closed — and Close
// returns ctx's error without waiting further.
func (n *Notifier) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		close(n.scriptQ)
		if n.mailQ != nil {
			close(n.mailQ)
		}
		if n.hookQ != nil {
			close(n.hookQ)
		}
		n.mu.Unlock()
		go func() {
			n.wg.Wait()
			close(n.drained)
		}()
	})
	select {
	case <-n.drained:
		n.cancel()
		return nil
	case <-ctx.Done():
		n.cancel()
		return fmt.Errorf("notify: close: %w", ctx.Err())
	}
}

func (n *Notifier) start(worker func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		worker()
	}()
}

// scriptWorker starts each event's scripts in order without waiting for
// them, as keepalived forks notify scripts (notify.c notify_exec), but at
// most MaxScripts at a time.
func (n *Notifier) scriptWorker() {
	for ev := range n.scriptQ {
		calls := ev.Extra
		if ev.Script != nil {
			calls = append([]ScriptCall{{Script: ev.Script, Args: ev.Args}}, calls...)
		}
		for _, c := range calls {
			if !n.acquireScriptSlot() {
				n.log.Warn("notify script not run: shutting down", "script", c.Script.Command, "kind", ev.Kind, "object", ev.Object)
				continue
			}
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				defer func() { <-n.sem }()
				n.notifyScript(ev, c)
			}()
		}
	}
}

// acquireScriptSlot waits for one of the MaxScripts slots; it fails once
// Close has given up waiting.
func (n *Notifier) acquireScriptSlot() bool {
	if n.ctx.Err() != nil {
		return false
	}
	select {
	case n.sem <- struct{}{}:
		return true
	case <-n.ctx.Done():
		return false
	}
}

func (n *Notifier) notifyScript(ev Event, c ScriptCall) {
	attrs := []any{"script", c.Script.Command, "kind", ev.Kind, "object", ev.Object, "state", ev.State}
	p, err := n.prepare(c.Script)
	if err != nil {
		n.log.Error("notify script refused", append(attrs, "err", err)...)
		return
	}
	code, stderr, err := n.run(n.ctx, p, c.Args, ev.Timeout)
	switch {
	case err != nil:
		n.log.Error("notify script failed", append(attrs, "err", err, "stderr", stderr)...)
	case code != 0:
		n.log.Warn("notify script exited with an error", append(attrs, "exit", code, "stderr", stderr)...)
	default:
		n.log.Debug("notify script done", attrs...)
	}
}

func (n *Notifier) mailWorker() {
	for ev := range n.mailQ {
		subject := n.subject(ev)
		if err := n.mail.send(n.ctx, ev.Time, subject, ev.Body); err != nil {
			n.log.Error("smtp alert failed", "server", n.mail.addr, "subject", subject, "err", err)
			continue
		}
		n.log.Info("smtp alert sent", "server", n.mail.addr, "subject", subject)
	}
}

func (n *Notifier) hookWorker() {
	for ev := range n.hookQ {
		if err := n.hook.post(n.ctx, n.payload(ev)); err != nil {
			n.log.Error("webhook failed", "url", n.hook.redacted, "kind", ev.Kind, "object", ev.Object, "err", err)
		}
	}
}

// subject prefixes the router id, as every smtp.c subject format does.
func (n *Notifier) subject(ev Event) string {
	if n.routerID == "" {
		return ev.Subject
	}
	return "[" + n.routerID + "] " + ev.Subject
}

// warnOnce logs msg the first time key is seen, so a check that runs every
// second does not flood the log.
func (n *Notifier) warnOnce(key, msg string, attrs ...any) {
	if _, seen := n.warned.LoadOrStore(key, struct{}{}); !seen {
		n.log.Warn(msg, attrs...)
	}
}

// parseAddress accepts "a@b" or "Name <a@b>" (keepalived.conf(5) allows a
// display name in notification_email and notification_email_from).
func parseAddress(field, s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("notify: %s %q: %w", field, s, err)
	}
	return a, nil
}

// sanitizeHeader folds CR and LF so an event field cannot inject headers.
func sanitizeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
