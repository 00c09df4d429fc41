package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/config"
)

// Prober performs one attempt of a check against a target.
type Prober interface {
	Probe(ctx context.Context) Result
}

// Result is the outcome of one attempt.
type Result struct {
	OK bool
	// Err says why the attempt failed (refused, timeout, status 503, digest
	// mismatch...). It may also be set on success for a note, e.g. an agent
	// line with an unknown word.
	Err error
	// Weight is the weight this check asks for the real server
	// (misc_dynamic, FILE_CHECK, agent), computed against
	// ProbeOptions.Weight; nil when the check has no opinion.
	Weight *int32
}

// ScriptRunner runs a script and reports its exit status. err is set when
// the script could not be run or did not exit by itself (timeout, signal).
// The engine passes the notifier's (notify.Notifier.RunScript): keepalived's
// script security, a process group, SIGTERM at the timeout then SIGKILL
// two seconds later (check_misc.c misc_check_child_thread).
type ScriptRunner func(ctx context.Context, s *config.Script, timeout time.Duration) (exitCode int, err error)

// ProbeOptions carries what a prober needs besides the check itself.
type ProbeOptions struct {
	// RunScript runs MISC_CHECK scripts. There is no default: without it
	// NewProber refuses a misc_check.
	RunScript ScriptRunner
	// Weight is the real server's configured weight, the base of the
	// dynamic weights of FILE_CHECK and agent checks.
	Weight int32
}

// Errors a Result.Err wraps, so callers can tell failures apart with
// errors.Is.
var (
	ErrRefused      = errors.New("connection refused")
	ErrTimeout      = errors.New("timed out")
	ErrUnreachable  = errors.New("unreachable")
	ErrNoResponse   = errors.New("no response")
	ErrStatus       = errors.New("unexpected status")
	ErrDigest       = errors.New("digest mismatch")
	ErrRegex        = errors.New("regex check failed")
	ErrReply        = errors.New("unexpected reply")
	ErrExitStatus   = errors.New("script failed")
	ErrDNSRcode     = errors.New("dns error rcode")
	ErrAgentDown    = errors.New("agent reports down")
	ErrAgentMaint   = errors.New("agent reports maintenance")
	ErrFileFault    = errors.New("tracked file reports fault")
	ErrNotSupported = errors.New("check type not supported")
)

// Defaults used when a Check arrives without resolved timing; keepalived's
// check_api.c queue_checker and check_data.h KEEPALIVED_DEFAULT_DELAY.
const (
	defaultDelayLoop      = 60 * time.Second
	defaultConnectTimeout = 5 * time.Second
	// bootstrapDelay is check_api.c BOOTSTRAP_DELAY (TIMER_HZ): the first
	// check runs one second after start, plus the random warmup.
	bootstrapDelay = time.Second
)

// NewProber builds the prober for c. target is the real server's address;
// connect_ip/connect_port override it as keepalived's conn_opts do.
func NewProber(c config.Check, target netip.AddrPort, opt ProbeOptions) (Prober, error) {
	co := newConnOpts(c, target)
	switch c.Type {
	case config.CheckTCP:
		return &tcpProber{co: co}, nil
	case config.CheckHTTP, config.CheckSSL:
		return newHTTPProber(c, co)
	case config.CheckMisc:
		return newMiscProber(c, opt)
	case config.CheckUDP:
		return newUDPProber(c, co)
	case config.CheckDNS:
		return newDNSProber(c, co)
	case config.CheckSMTP:
		return newSMTPProber(c, co), nil
	case config.CheckPing:
		return newPingProber(co), nil
	case config.CheckFile:
		return newFileProber(c, opt)
	case config.CheckAgent:
		return newAgentProber(c, co, opt)
	}
	return nil, fmt.Errorf("%w: %q", ErrNotSupported, c.Type)
}

// connOpts is keepalived's conn_opts_t: where to connect, what to bind,
// and the connection timeout (check_api.c install_checker_common_keywords).
type connOpts struct {
	dst     netip.AddrPort
	bind    netip.AddrPort // zero: let the kernel choose
	bindIf  string
	mark    uint32
	timeout time.Duration
}

func newConnOpts(c config.Check, target netip.AddrPort) connOpts {
	co := connOpts{dst: target, bindIf: c.BindIf, mark: c.FWMark, timeout: c.ConnectTimeout}
	if c.ConnectIP.IsValid() {
		co.dst = netip.AddrPortFrom(c.ConnectIP, co.dst.Port())
	}
	if c.ConnectPort != 0 {
		co.dst = netip.AddrPortFrom(co.dst.Addr(), c.ConnectPort)
	}
	if c.BindTo.IsValid() || c.BindPort != 0 {
		a := c.BindTo
		if !a.IsValid() {
			// bind_port alone: keep the kernel's choice of address in the
			// destination's family (checker_set_dst_port on an unset bindto).
			a = netip.IPv4Unspecified()
			if co.dst.Addr().Is6() && !co.dst.Addr().Is4In6() {
				a = netip.IPv6Unspecified()
			}
		}
		co.bind = netip.AddrPortFrom(a, c.BindPort)
	}
	if co.timeout <= 0 {
		co.timeout = defaultConnectTimeout
	}
	return co
}

// control sets SO_BINDTODEVICE (bind_if) and SO_MARK (fwmark) on a probe
// socket before it binds or connects, as layer4.c socket_bind_connect does.
func (co connOpts) control(_, _ string, rc syscall.RawConn) error {
	if co.bindIf == "" && co.mark == 0 {
		return nil
	}
	var serr error
	err := rc.Control(func(fd uintptr) { serr = co.setSockOpts(int(fd)) })
	if err != nil {
		return err
	}
	return serr
}

func (co connOpts) setSockOpts(fd int) error {
	if co.bindIf != "" {
		if err := unix.BindToDevice(fd, co.bindIf); err != nil {
			return fmt.Errorf("bind_if %s: %w", co.bindIf, err)
		}
	}
	if co.mark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(co.mark)); err != nil {
			return fmt.Errorf("fwmark %d: %w", co.mark, err)
		}
	}
	return nil
}

func (co connOpts) dialer(network string) *net.Dialer {
	d := &net.Dialer{Timeout: co.timeout, Control: co.control}
	if co.bind.IsValid() {
		switch network {
		case "tcp":
			d.LocalAddr = net.TCPAddrFromAddrPort(co.bind)
		case "udp":
			d.LocalAddr = net.UDPAddrFromAddrPort(co.bind)
		}
	}
	return d
}

// dial connects with the connect timeout and ties the connection's life
// to ctx: cancelling ctx unblocks any read or write in progress.
func (co connOpts) dial(ctx context.Context, network string) (net.Conn, func(), error) {
	conn, err := co.dialer(network).DialContext(ctx, network, co.dst.String())
	if err != nil {
		return nil, nil, classify("connect to "+co.dst.String(), err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return conn, func() { stop(); conn.Close() }, nil
}

// classify turns a network error into one wrapping this package's
// sentinel errors, keeping the message short and clear.
func classify(op string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: %w", op, ErrRefused)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s: %w", op, ErrTimeout)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("%s: %w: %w", op, ErrUnreachable, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, context.Canceled)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// deadline returns the deadline of one I/O step: keepalived arms every
// read and write with connection_to (thread_add_read/write timeouts).
func (co connOpts) deadline() time.Time { return time.Now().Add(co.timeout) }

func fail(err error) Result { return Result{Err: err} }

func weightPtr(w int32) *int32 { return &w }

// tcpProber is TCP_CHECK: success is a completed connect()
// (check_tcp.c tcp_check_thread).
type tcpProber struct{ co connOpts }

func (p *tcpProber) Probe(ctx context.Context) Result {
	_, done, err := p.co.dial(ctx, "tcp")
	if err != nil {
		return fail(err)
	}
	done()
	return Result{OK: true}
}
