package xdp

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Supported probes whether this process can run the XDP data plane: load
// the program and its maps, and attach an XDP program to a veth in a
// throw-away network namespace. The error says what is missing, so the
// engine can fall back for data_plane: auto or refuse data_plane: xdp.
func Supported() error {
	spec, err := loadLb()
	if err != nil {
		return err
	}
	var objs lbObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("xdp data plane: loading BPF programs is not permitted (needs root or CAP_BPF+CAP_NET_ADMIN; unprivileged BPF is disabled): %w", err)
		}
		return fmt.Errorf("xdp data plane: the kernel refused the program: %w", err)
	}
	defer objs.Close()
	return probeAttach(objs.XdpPass)
}

// probeAttach creates a namespace with a veth pair and attaches prog to it
// in native mode, then removes everything.
func probeAttach(prog *ebpf.Program) error {
	errc := make(chan error, 1)
	go func() {
		// This goroutine's thread enters a new namespace and is not
		// unlocked, so it exits with the goroutine instead of being reused.
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			errc <- fmt.Errorf("xdp data plane: creating a network namespace: %w", err)
			return
		}
		defer ns.Close()
		la := netlink.NewLinkAttrs()
		la.Name = "fprobe0"
		veth := &netlink.Veth{LinkAttrs: la, PeerName: "fprobe1"}
		if err := netlink.LinkAdd(veth); err != nil {
			errc <- fmt.Errorf("xdp data plane: creating a veth pair: %w", err)
			return
		}
		defer netlink.LinkDel(veth)
		lk, err := netlink.LinkByName("fprobe0")
		if err != nil {
			errc <- fmt.Errorf("xdp data plane: %w", err)
			return
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: lk.Attrs().Index, Flags: link.XDPDriverMode})
		if err != nil {
			errc <- fmt.Errorf("xdp data plane: attaching XDP to a veth: %w", err)
			return
		}
		l.Close()
		errc <- nil
	}()
	return <-errc
}

// AttachPass attaches a program that passes everything (xdp_pass) to the
// interface ifindex of the caller's namespace and returns the link to
// close. Native XDP_TX and XDP_REDIRECT into a veth need NAPI on the
// receiving peer (drivers/net/veth.c), which an XDP program there (or GRO)
// enables; physical NICs need nothing of the kind.
func AttachPass(ifindex int) (link.Link, error) {
	spec, err := loadLb()
	if err != nil {
		return nil, err
	}
	var objs struct {
		Prog *ebpf.Program `ebpf:"xdp_pass"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, err
	}
	defer objs.Prog.Close()
	return link.AttachXDP(link.XDPOptions{Program: objs.Prog, Interface: ifindex, Flags: link.XDPDriverMode})
}
