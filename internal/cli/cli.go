// Package cli implements fulcrum's subcommands. It parses flags, builds the
// pieces from the domain packages and wires them together; behaviour lives
// in those packages.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return "devel-" + rev
		}
	}
	return "devel"
}

// Exit codes shared by the subcommands (documented in docs/cli.md).
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and failed (invalid config, daemon error)
	exitUsage  = 2 // bad command line
)

const usage = `Fulcrum — an L4/L7 load balancer that speaks ipvsadm and keepalived.

Usage:
  fulcrum run [-c FILE]        run the balancer (no -c: built-in demo on 127.0.0.1)
  fulcrum check [-c FILE]      validate a config; print the normalised model or every error
  fulcrum adm ARGS...          ipvsadm-compatible administration (also: invoke as "ipvsadm")
  fulcrum reload               make the running fulcrum re-read its config file
  fulcrum realserver up|down --vip IP --mode dr|tun [--dev IF]
                               prepare a real server for DR/TUN (VIP on lo, ARP sysctls, decap)
  fulcrum version              print the version

Environment for adm and reload:
  FULCRUM_ADMIN   admin API address: unix socket path (default /run/fulcrum/admin.sock) or host:port
  FULCRUM_TOKEN   bearer token for a TCP admin address (or FULCRUM_TOKEN_FILE)
`

// Main runs the command line args (args[0] is the program name) and
// returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if filepath.Base(args[0]) == "ipvsadm" {
		return adm(ctx, args[0], args[1:], stdin, stdout, stderr)
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	rest := args[2:]
	switch args[1] {
	case "run":
		return run(ctx, rest, stdout, stderr)
	case "check":
		return check(rest, stdout, stderr)
	case "adm", "ipvsadm":
		return adm(ctx, "fulcrum adm", rest, stdin, stdout, stderr)
	case "reload":
		return reload(ctx, rest, stdout, stderr)
	case "realserver":
		return realServer(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "fulcrum %s (%s, %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "fulcrum: unknown command %q\n\n%s", args[1], usage)
	return exitUsage
}

// adminAddress is where adm and reload find the daemon.
func adminAddress() (addr, token string, err error) {
	addr = os.Getenv("FULCRUM_ADMIN")
	if addr == "" {
		addr = DefaultSocket
		if _, statErr := os.Stat(addr); statErr != nil {
			if fb := fallbackSocket(); fb != addr {
				if _, err := os.Stat(fb); err == nil {
					addr = fb
				}
			}
		}
	}
	token = os.Getenv("FULCRUM_TOKEN")
	if token == "" {
		if f := os.Getenv("FULCRUM_TOKEN_FILE"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", "", fmt.Errorf("reading FULCRUM_TOKEN_FILE: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
	}
	return addr, token, nil
}

// DefaultSocket is the admin socket path when the config names none.
const DefaultSocket = "/run/fulcrum/admin.sock"

// fallbackSocket is used when DefaultSocket's directory cannot be created
// (running unprivileged).
func fallbackSocket() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "fulcrum", "admin.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("fulcrum-%d", os.Getuid()), "admin.sock")
}
