package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/fulcrumlb/fulcrum/internal/api"
	"github.com/fulcrumlb/fulcrum/internal/config"
	"github.com/fulcrumlb/fulcrum/internal/config/adapt"
	"github.com/fulcrumlb/fulcrum/internal/config/keepalived"
	"github.com/fulcrumlb/fulcrum/internal/ipvsadm"
)

// check validates a config file. Exit 0: valid (the normalised model is
// printed, warnings go to stderr); 1: the file has errors (all printed as
// file:line: key: message); 2: bad command line.
func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fulcrum check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "config file to check; default: the embedded demo config")
	quiet := fs.Bool("q", false, "print only diagnostics, not the normalised model")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fulcrum check: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg := config.Default()
	if *file != "" {
		var ds config.Diagnostics
		cfg, ds = loadConfig(*file)
		printDiagnostics(stderr, ds)
		if err := ds.Err(); err != nil {
			return exitFailed
		}
	}
	if *quiet {
		return exitOK
	}
	out, err := config.Marshal(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "fulcrum check: %v\n", err)
		return exitFailed
	}
	stdout.Write(out)
	return exitOK
}

// loadConfig reads a config file in any supported format; keepalived.conf
// files get keepalived's check that named interfaces exist on this host.
func loadConfig(path string) (*config.Config, config.Diagnostics) {
	return adapt.LoadWith(path, adapt.Options{Keepalived: keepalived.Options{InterfaceExists: keepalived.HostInterfaces}})
}

// adm is the ipvsadm-compatible command; its exit codes are ipvsadm's.
// prog is the name ipvsadm's messages show ("Try `prog -h' ...").
func adm(ctx context.Context, prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	addr, token, err := adminAddress()
	if err != nil {
		fmt.Fprintf(stderr, "fulcrum adm: %v\n", err)
		return exitFailed
	}
	client := api.NewClient(addr, token)
	if slices.Contains(args, ipvsadm.HealthFlag) {
		return admHealth(ctx, client, stdout, stderr)
	}
	return ipvsadm.Env{Prog: prog}.Run(ctx, client, args, stdin, stdout, stderr)
}

// admHealth is `fulcrum adm --health`: the checkers' view of every real
// server, with last errors and recent transitions.
func admHealth(ctx context.Context, adm api.Admin, stdout, stderr io.Writer) int {
	svcs, err := adm.Services(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "fulcrum adm --health: %v\n", err)
		return exitFailed
	}
	if err := ipvsadm.WriteHealth(stdout, svcs); err != nil {
		return exitFailed
	}
	return exitOK
}

// reload asks the running fulcrum to re-read its config file. A file with
// errors is rejected, the running config stays, and the errors are printed.
func reload(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "fulcrum reload: unexpected argument %q\n", args[0])
		return exitUsage
	}
	addr, token, err := adminAddress()
	if err != nil {
		fmt.Fprintf(stderr, "fulcrum reload: %v\n", err)
		return exitFailed
	}
	if err := api.NewClient(addr, token).Reload(ctx); err != nil {
		fmt.Fprintf(stderr, "fulcrum reload: rejected, the running configuration is unchanged:\n%v\n", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, "fulcrum reload: configuration reloaded")
	return exitOK
}
