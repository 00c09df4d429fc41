// Command fulcrum is the Fulcrum load balancer: one binary with the
// subcommands run, check, adm, reload and version. Invoked as "ipvsadm"
// (through a symlink) it behaves as "fulcrum adm".
package main

import (
	"os"

	"github.com/fulcrumlb/fulcrum/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
