package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/api"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/engine"
	"github.com/fulcrumlb/fulcrum/internal/gctune"
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fulcrum run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "config file (YAML); default: the embedded demo config")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	sockFlag := fs.String("admin-socket", "", "admin API unix socket (overrides admin.socket of the config)")
	gcFloor := fs.String("gc-heap-floor", "64MiB", "smallest heap goal of the garbage collector (GOGC is raised while the live heap is small); 0: Go's default; ignored when GOGC is set")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fulcrum run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	floor, err := parseSize(*gcFloor)
	if err != nil {
		fmt.Fprintf(stderr, "fulcrum run: bad -gc-heap-floor: %v\n", err)
		return exitUsage
	}
	defer gctune.HeapFloor(floor)()
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "fulcrum run: bad -log-level: %v\n", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))

	var cfg *config.Config
	if *file == "" {
		cfg = config.Default()
	} else {
		var ds config.Diagnostics
		cfg, ds = loadConfig(*file)
		printDiagnostics(stderr, ds)
		if ds.Err() != nil {
			fmt.Fprintf(stderr, "fulcrum run: %s has errors; not starting\n", *file)
			return exitFailed
		}
	}

	sock := cfg.Admin.Socket
	if *sockFlag != "" {
		sock = *sockFlag
	}
	if err := adminSocketFree(sock); err != nil {
		fmt.Fprintf(stderr, "fulcrum run: admin socket: %v\n", err)
		return exitFailed
	}

	eng, err := engine.New(ctx, cfg, engine.Options{ConfigPath: *file, Version: version(), Logger: log, Load: loadConfig})
	if err != nil {
		fmt.Fprintf(stderr, "fulcrum run: %v\n", err)
		return exitFailed
	}
	engCtx, stopEngine := context.WithCancel(context.Background())
	engDone := make(chan struct{})
	go func() { defer close(engDone); eng.Run(engCtx) }()
	defer func() { stopEngine(); <-engDone }()

	// The admin socket appears once everything is serving, so a client
	// that can connect to it finds the services up.
	adminLn, err := listenAdminSocket(sock)
	if err != nil && sock == DefaultSocket && errors.Is(err, os.ErrPermission) {
		sock = fallbackSocket()
		adminLn, err = listenAdminSocket(sock)
	}
	if err != nil {
		fmt.Fprintf(stderr, "fulcrum run: admin socket: %v\n", err)
		return exitFailed
	}
	defer adminLn.Close()

	metrics := api.NewMetricsHandler(eng)
	servers := []*http.Server{api.NewServer(api.NewHandler(eng, api.ServerOptions{Metrics: metrics, Logger: log}))}
	go serve(servers[0], adminLn, log)
	if cfg.Admin.Listen != "" {
		token, err := readToken(cfg.Admin.TokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "fulcrum run: admin token: %v\n", err)
			return exitFailed
		}
		ln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			fmt.Fprintf(stderr, "fulcrum run: admin listener: %v\n", err)
			return exitFailed
		}
		s := api.NewServer(api.NewHandler(eng, api.ServerOptions{Token: token, Metrics: metrics, Logger: log}))
		servers = append(servers, s)
		go serve(s, ln, log)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(sctx)
		}
	}()

	log.Info("fulcrum started", "version", version(), "config", describeSource(*file), "services", len(cfg.Services), "admin", sock)
	if *file == "" {
		printDemoHints(stdout, cfg, sock)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			log.Info("fulcrum stopping")
			return exitOK
		case <-hup:
			if *file == "" {
				log.Warn("SIGHUP ignored: running the embedded default config, there is no file to re-read")
				continue
			}
			// ReloadFile logs success or the rejected file's errors itself.
			_ = eng.ReloadFile(ctx)
		}
	}
}

func describeSource(file string) string {
	if file == "" {
		return "embedded default"
	}
	return file
}

func serve(s *http.Server, ln net.Listener, log *slog.Logger) {
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("admin API stopped", "err", err)
	}
}

// adminSocketFree fails when a live fulcrum already answers on path.
func adminSocketFree(path string) error {
	if path == "" {
		return errors.New("admin.socket is empty; the admin API needs a unix socket")
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: another fulcrum is already running there", path)
	}
	return nil
}

// listenAdminSocket listens on a unix socket readable only by the owner. A
// stale socket file is replaced; a live one means another fulcrum runs.
func listenAdminSocket(path string) (net.Listener, error) {
	if err := adminSocketFree(path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	return ln, nil
}

func readToken(file string) (string, error) {
	if file == "" {
		return "", errors.New("admin.listen needs admin.token_file")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return t, nil
}

func printDiagnostics(w io.Writer, ds config.Diagnostics) {
	for _, d := range ds {
		fmt.Fprintln(w, d.String())
	}
}

func printDemoHints(w io.Writer, cfg *config.Config, sock string) {
	var b strings.Builder
	b.WriteString("\nFulcrum is running its built-in demo on loopback:\n")
	for _, s := range cfg.Services {
		names := []string{}
		for _, r := range s.Reals {
			names = append(names, fmt.Sprintf("%s w%d", r.Address, r.Weight))
		}
		fmt.Fprintf(&b, "  %-22s %-4s -> %s\n", s.ServiceKey, s.Scheduler, strings.Join(names, ", "))
	}
	if cfg.HTTP != nil {
		for _, srv := range cfg.HTTP.Servers {
			for _, l := range srv.Listen {
				fmt.Fprintf(&b, "  HTTP %-17s nginx-style locations -> upstreams", l.Address)
				for _, u := range cfg.HTTP.Upstreams {
					b.WriteString(" " + u.Name)
				}
				b.WriteByte('\n')
			}
		}
	}
	env := ""
	if sock != DefaultSocket {
		env = "FULCRUM_ADMIN=" + sock + " "
	}
	b.WriteString("\nTry, from another terminal:\n")
	for _, s := range cfg.Services {
		if s.Protocol == config.TCP {
			fmt.Fprintf(&b, "  for i in 1 2 3 4 5 6; do curl -s http://%s/; done   # weighted round robin\n", s.Address)
			break
		}
	}
	if cfg.HTTP != nil && len(cfg.HTTP.Servers) > 0 && len(cfg.HTTP.Servers[0].Listen) > 0 {
		a := cfg.HTTP.Servers[0].Listen[0].Address
		fmt.Fprintf(&b, "  curl -s http://%s/api/users                          # L7: the backend sees /users\n", a)
		fmt.Fprintf(&b, "  curl -s -H 'Accept-Language: zh-CN,zh;q=0.9' http://%s/lang/   # L7: routed by language\n", a)
	}
	for _, s := range cfg.Services {
		if s.Protocol == config.UDP {
			fmt.Fprintf(&b, "  bash -c 'exec 3<>/dev/udp/%s/%d; echo hi >&3; timeout 1 cat <&3'   # UDP, round robin\n", s.Address.Addr(), s.Address.Port())
			break
		}
	}
	fmt.Fprintf(&b, "  %sfulcrum adm -Ln                      # the table, as ipvsadm prints it\n", env)
	fmt.Fprintf(&b, "  %sfulcrum adm -Ln --stats              # counters;  --rate for rates, -lnc for connections\n", env)
	fmt.Fprintf(&b, "  %sfulcrum adm -e -t 127.0.0.1:8080 -r 127.0.0.1:9003 -m -w 0   # drain web-3\n", env)
	fmt.Fprintf(&b, "  curl -s --unix-socket %s http://fulcrum/metrics | grep fulcrum_   # Prometheus metrics\n", sock)
	b.WriteString("Stop with Ctrl-C. Write your own config (docs/configuration.md) and run: fulcrum run -c FILE\n\n")
	fmt.Fprint(w, b.String())
}

// parseSize reads a byte count: a number with an optional KiB, MiB or GiB.
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || n > math.MaxUint64/mult {
		return 0, fmt.Errorf("%q is not a size (a number, optionally with KiB, MiB or GiB)", s)
	}
	return n * mult, nil
}
