// Package realserver prepares a Linux host to be a real server of a
// direct-routing or tunnelling virtual service (`fulcrum realserver up|down`),
// what the LVS documentation's real-server scripts do by hand:
//
//   - each VIP is added to lo as a /32, so the host accepts packets for it;
//   - arp_ignore=1 (answer ARP only for addresses of the receiving
//     interface) and arp_announce=2 (never use the lo VIP as ARP source) on
//     "all" and on the interface, so only the director answers ARP for the
//     VIP (the "ARP problem", LVS-HOWTO; ip-sysctl.rst);
//   - for tun, the XDP IPIP decapsulator of package xdp is attached to the
//     interface: the inner packet then arrives for the VIP on lo, without the
//     ipip module (tunl0).
//
// Up is idempotent and Down reverses it: the sysctls' previous values, the
// addresses Up added and whether it attached XDP are recorded in a state
// file (default /run/fulcrum/realserver/state.json); Down restores exactly
// those and removes the file. The decapsulator is attached over netlink
// (not a bpf_link), so it stays attached after the command exits.
package realserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/fulcrumlb/fulcrum/internal/xdp"
)

// errAddrNotAvail is what deleting an absent address returns.
var errAddrNotAvail error = unix.EADDRNOTAVAIL

// Mode is the forwarding method of the virtual services.
type Mode string

const (
	DR  Mode = "dr"
	TUN Mode = "tun"
)

// DefaultStateDir holds the state file.
const DefaultStateDir = "/run/fulcrum/realserver"

// Options are the command's flags.
type Options struct {
	VIPs []netip.Addr
	Mode Mode
	// Dev is the interface facing the director; required for tun (the
	// decapsulator is attached there), optional for dr (its ARP sysctls
	// are set too).
	Dev string
	// StateDir overrides DefaultStateDir.
	StateDir string
	// ProcSys overrides /proc/sys (tests).
	ProcSys string
}

// state is what Up changed, for Down.
type state struct {
	Mode    Mode              `json:"mode"`
	Dev     string            `json:"dev,omitempty"`
	Sysctls map[string]string `json:"sysctls"` // path under /proc/sys -> previous value
	Added   []string          `json:"added_vips,omitempty"`
	XDP     bool              `json:"xdp,omitempty"`
}

func (o *Options) statePath() string {
	d := o.StateDir
	if d == "" {
		d = DefaultStateDir
	}
	return filepath.Join(d, "state.json")
}

func (o *Options) procSys() string {
	if o.ProcSys != "" {
		return o.ProcSys
	}
	return "/proc/sys"
}

func (o *Options) validate() error {
	if o.Mode != DR && o.Mode != TUN {
		return fmt.Errorf("mode %q: want dr or tun", o.Mode)
	}
	if len(o.VIPs) == 0 {
		return errors.New("no VIP given")
	}
	for _, v := range o.VIPs {
		if !v.Unmap().Is4() {
			return fmt.Errorf("VIP %s: only IPv4 VIPs are supported", v)
		}
	}
	if o.Mode == TUN && o.Dev == "" {
		return errors.New("tun mode needs --dev (the interface the IPIP packets arrive on)")
	}
	if o.Dev != "" && strings.ContainsAny(o.Dev, "/.") {
		return fmt.Errorf("bad interface name %q", o.Dev)
	}
	return nil
}

func (o *Options) load() (*state, error) {
	b, err := os.ReadFile(o.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s: %w", o.statePath(), err)
	}
	return &s, nil
}

func (o *Options) save(s *state) error {
	if err := os.MkdirAll(filepath.Dir(o.statePath()), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := o.statePath() + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, o.statePath())
}

// sysctls are the settings of the mode: ARP on all and the interface.
func (o *Options) sysctls() [][2]string {
	devs := []string{"all"}
	if o.Dev != "" {
		devs = append(devs, o.Dev)
	}
	var out [][2]string
	for _, d := range devs {
		out = append(out,
			[2]string{"net/ipv4/conf/" + d + "/arp_ignore", "1"},
			[2]string{"net/ipv4/conf/" + d + "/arp_announce", "2"})
	}
	return out
}

func (o *Options) readSysctl(p string) (string, error) {
	b, err := os.ReadFile(filepath.Join(o.procSys(), p))
	return strings.TrimSpace(string(b)), err
}

func (o *Options) writeSysctl(p, v string) error {
	return os.WriteFile(filepath.Join(o.procSys(), p), []byte(v+"\n"), 0o644)
}

// Up configures the host. Running it again with the same options changes
// nothing; with other VIPs it adds those (and reloads the decapsulator with
// the new set), keeping the first run's record of previous values.
func Up(ctx context.Context, opt Options) error {
	if err := opt.validate(); err != nil {
		return err
	}
	s, err := opt.load()
	if err != nil {
		return err
	}
	if s == nil {
		s = &state{Sysctls: map[string]string{}}
	}
	s.Mode = opt.Mode
	if opt.Dev != "" {
		s.Dev = opt.Dev
	}
	for _, kv := range opt.sysctls() {
		if _, seen := s.Sysctls[kv[0]]; !seen {
			prev, err := opt.readSysctl(kv[0])
			if err != nil {
				return fmt.Errorf("sysctl %s: %w", kv[0], err)
			}
			s.Sysctls[kv[0]] = prev
		}
		if err := opt.writeSysctl(kv[0], kv[1]); err != nil {
			return fmt.Errorf("sysctl %s: %w", kv[0], err)
		}
	}
	// Record before changing addresses, so a failure half-way can be undone.
	if err := opt.save(s); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	have, err := netlink.AddrList(lo, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("addresses of lo: %w", err)
	}
	for _, v := range opt.VIPs {
		pfx := netip.PrefixFrom(v.Unmap(), 32)
		present := slices.ContainsFunc(have, func(a netlink.Addr) bool {
			ap, ok := netip.AddrFromSlice(a.IP)
			ones, _ := a.Mask.Size()
			return ok && ap.Unmap() == pfx.Addr() && ones == 32
		})
		if present {
			continue
		}
		a, _ := netlink.ParseAddr(pfx.String())
		if err := netlink.AddrAdd(lo, a); err != nil {
			return fmt.Errorf("adding %s to lo: %w", pfx, err)
		}
		if !slices.Contains(s.Added, pfx.String()) {
			s.Added = append(s.Added, pfx.String())
		}
		if err := opt.save(s); err != nil {
			return fmt.Errorf("state file: %w", err)
		}
	}
	if opt.Mode == TUN {
		if err := attachDecap(opt.Dev, opt.VIPs); err != nil {
			return err
		}
		s.XDP = true
		if err := opt.save(s); err != nil {
			return fmt.Errorf("state file: %w", err)
		}
	}
	return ctx.Err()
}

// attachDecap loads the decapsulator with the VIPs and attaches it to dev
// over netlink, replacing an earlier one: native mode, or generic (skb)
// mode where the driver has no XDP.
func attachDecap(dev string, vips []netip.Addr) error {
	lk, err := netlink.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("interface %s: %w", dev, err)
	}
	d, err := xdp.LoadDecap(vips)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := d.Program().FD()
	if err := netlink.LinkSetXdpFdWithFlags(lk, fd, nl.XDP_FLAGS_DRV_MODE); err == nil {
		_ = netlink.LinkSetXdpFdWithFlags(lk, -1, nl.XDP_FLAGS_SKB_MODE)
		return nil
	}
	if err := netlink.LinkSetXdpFdWithFlags(lk, fd, nl.XDP_FLAGS_SKB_MODE); err != nil {
		return fmt.Errorf("attaching the IPIP decapsulator to %s: %w", dev, err)
	}
	return nil
}

// Down undoes Up: sysctls back to their recorded values, the VIPs Up added
// removed from lo, the decapsulator detached, the state file removed.
// Without a state file it removes the given VIPs from lo and detaches XDP
// from --dev in tun mode, and leaves sysctls alone (their previous values
// are unknown).
func Down(ctx context.Context, opt Options) error {
	s, err := opt.load()
	if err != nil {
		return err
	}
	var errs []error
	if s == nil {
		s = &state{Mode: opt.Mode, Dev: opt.Dev, XDP: opt.Mode == TUN && opt.Dev != ""}
		for _, v := range opt.VIPs {
			s.Added = append(s.Added, netip.PrefixFrom(v.Unmap(), 32).String())
		}
	}
	if s.XDP && s.Dev != "" {
		if lk, err := netlink.LinkByName(s.Dev); err == nil {
			_ = netlink.LinkSetXdpFdWithFlags(lk, -1, nl.XDP_FLAGS_DRV_MODE)
			_ = netlink.LinkSetXdpFdWithFlags(lk, -1, nl.XDP_FLAGS_SKB_MODE)
		} else {
			errs = append(errs, fmt.Errorf("interface %s: %w", s.Dev, err))
		}
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		for _, p := range s.Added {
			a, err := netlink.ParseAddr(p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := netlink.AddrDel(lo, a); err != nil && !errors.Is(err, errAddrNotAvail) {
				errs = append(errs, fmt.Errorf("removing %s from lo: %w", p, err))
			}
		}
	} else {
		errs = append(errs, fmt.Errorf("lo: %w", err))
	}
	keys := make([]string, 0, len(s.Sysctls))
	for k := range s.Sysctls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := opt.writeSysctl(k, s.Sysctls[k]); err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s: %w", k, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(opt.statePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return ctx.Err()
}
