package xdp

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// Decap is the real servers' IPIP decapsulator (xdp_decap in bpf/lb.c),
// loaded with the VIPs whose tunnelled packets it unwraps. The kernel here
// may lack the ipip module (tunl0), so LVS-TUN real servers strip the outer
// header in XDP and the inner packet reaches the VIP on lo.
type Decap struct {
	objs struct {
		Prog *ebpf.Program `ebpf:"xdp_decap"`
		VIPs *ebpf.Map     `ebpf:"decap_vips"`
	}
}

// LoadDecap loads xdp_decap with its VIP set; attaching is the caller's.
func LoadDecap(vips []netip.Addr) (*Decap, error) {
	spec, err := loadLb()
	if err != nil {
		return nil, err
	}
	d := &Decap{}
	if err := spec.LoadAndAssign(&d.objs, nil); err != nil {
		return nil, fmt.Errorf("loading the IPIP decapsulator: %w", err)
	}
	for _, v := range vips {
		v = v.Unmap()
		if !v.Is4() {
			d.Close()
			return nil, fmt.Errorf("VIP %s: %w", v, unsupported("IPv6 VIPs are not supported by the IPIP decapsulator yet"))
		}
		k, one := v.As4(), uint8(1)
		if err := d.objs.VIPs.Update(k, one, ebpf.UpdateAny); err != nil {
			d.Close()
			return nil, fmt.Errorf("VIP %s: %w", v, err)
		}
	}
	return d, nil
}

// Program is the XDP program to attach.
func (d *Decap) Program() *ebpf.Program { return d.objs.Prog }

// Close releases this process's references; an attached program stays.
func (d *Decap) Close() error {
	var err error
	if d.objs.Prog != nil {
		err = d.objs.Prog.Close()
	}
	if d.objs.VIPs != nil {
		d.objs.VIPs.Close()
	}
	return err
}
