package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/fulcrumlb/fulcrum/internal/realserver"
)

// realServer is `fulcrum realserver up|down --vip IP[,IP] --mode dr|tun
// [--dev IF]`: the seed's real.sh (VIP on lo, arp_ignore=1,
// arp_announce=2; for tun the decapsulation program), idempotent and
// reversible.
func realServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "up" && args[0] != "down") {
		fmt.Fprintln(stderr, "usage: fulcrum realserver up|down --vip IP[,IP...] --mode dr|tun [--dev IF] [--state-dir DIR]")
		return exitUsage
	}
	fs := flag.NewFlagSet("fulcrum realserver "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	vips := fs.String("vip", "", "virtual IP addresses, comma-separated")
	mode := fs.String("mode", "dr", "dr (direct routing) or tun (IP-in-IP tunnel)")
	dev := fs.String("dev", "", "the interface facing the director (needed for tun; also gets the ARP sysctls)")
	stateDir := fs.String("state-dir", realserver.DefaultStateDir, "where the previous sysctl values are recorded")
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	opt := realserver.Options{Mode: realserver.Mode(*mode), Dev: *dev, StateDir: *stateDir}
	for _, v := range strings.Split(*vips, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			fmt.Fprintf(stderr, "fulcrum realserver: bad --vip %q: %v\n", v, err)
			return exitUsage
		}
		opt.VIPs = append(opt.VIPs, a)
	}
	run, verb := realserver.Up, "up"
	if args[0] == "down" {
		run, verb = realserver.Down, "down"
	}
	if err := run(ctx, opt); err != nil {
		fmt.Fprintf(stderr, "fulcrum realserver %s: %v\n", verb, err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "fulcrum realserver %s: done\n", verb)
	return exitOK
}
