package xdp

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/fulcrumlb/fulcrum/internal/sched"
)

// Table geometry, as in bpf/lb.h and the kernel schedulers.
const (
	tabSize     = 4096 // TAB_SIZE: one row of sched_tab
	dhTabSize   = 256  // CONFIG_IP_VS_DH_TAB_BITS 8 (ip_vs_dh.c)
	shTabSize   = 256  // CONFIG_IP_VS_SH_TAB_BITS 8 (ip_vs_sh.c)
	mhTabSize   = 4093 // primes[CONFIG_IP_VS_MH_TAB_INDEX-8] (ip_vs_mh.c)
	mhTabBits   = 6    // IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX/2
	noDest      = 0xffff
	svcMaxDests = 64 // SVC_MAX_DESTS: bound of the compare loops
	maxSvcs     = 256
	maxDests    = 4096
)

// A table lists dest slots; the program indexes it by hash (dh, sh, mh) or
// walks it with a cursor (rr, wrr).
type table []uint16

// The dests the table builders see: slot numbers next to the sched.Dest of
// the same real server, in kernel list order.
type tdest struct {
	slot uint16
	d    *sched.Dest
}

// dhTable is ip_vs_dh_reassign: bucket i holds dest i mod n, in list order.
func dhTable(ds []tdest) table {
	t := make(table, dhTabSize)
	for i := range t {
		t[i] = noDest
		if len(ds) > 0 {
			t[i] = ds[i%len(ds)].slot
		}
	}
	return t
}

// shTable is ip_vs_sh_reassign: each dest, in list order, takes weight
// consecutive buckets per round; a weight-0 dest still takes one (the
// kernel's ++d_count >= weight holds at once).
func shTable(ds []tdest) table {
	t := make(table, shTabSize)
	if len(ds) == 0 {
		for i := range t {
			t[i] = noDest
		}
		return t
	}
	p, count := 0, int32(0)
	for i := range t {
		t[i] = ds[p].slot
		if count++; count >= ds[p].d.Weight() {
			p = (p + 1) % len(ds)
			count = 0
		}
	}
	return t
}

// sipKey and hsiphash32 are the kernel's hsiphash_1u32 on 64-bit builds
// (SipHash-1-3, lib/siphash.c), the hash of ip_vs_mh.c; the program
// computes the same function (hsiphash32 in bpf/lb.c).
type sipKey [2]uint64

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13) ^ v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16) ^ v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21) ^ v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17) ^ v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

func hsiphash32(x uint32, k sipKey) uint32 {
	v0 := 0x736f6d6570736575 ^ k[0]
	v1 := 0x646f72616e646f6d ^ k[1]
	v2 := 0x6c7967656e657261 ^ k[0]
	v3 := 0x7465646279746573 ^ k[1]
	b := uint64(4)<<56 | uint64(x)
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	for range 3 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}

// The fixed keys of generate_hash_secret (ip_vs_mh.c).
var (
	mhKey1 = sipKey{2654435761, 2654435761}
	mhKey2 = sipKey{2654446892, 2654446892}
)

// foldAddr is the kernel hashes' ntohl(addr_fold): an IPv4 address as a
// host-order integer, an IPv6 one as the XOR of its four words.
func foldAddr(a netip.Addr) uint32 {
	if a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := a.As16()
	return binary.BigEndian.Uint32(b[0:]) ^ binary.BigEndian.Uint32(b[4:]) ^
		binary.BigEndian.Uint32(b[8:]) ^ binary.BigEndian.Uint32(b[12:])
}

func gcd(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// mhTable is ip_vs_mh_reassign (ip_vs_mh_permutate + ip_vs_mh_populate):
// per-dest offset and skip from the two hsiphash keys, then the dests in
// list order claim last_weight/gcd >> rshift free slots per round.
func mhTable(ds []tdest) table {
	t := make(table, mhTabSize)
	for i := range t {
		t[i] = noDest
	}
	var g, maxW int32
	for _, x := range ds {
		if w := x.d.LastWeight(); w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
			maxW = max(maxW, w)
		}
	}
	if g < 1 {
		return t // ip_vs_mh_reset: no positive weight, every slot empty
	}
	rshift := max(bits.Len32(uint32(maxW/g))-mhTabBits, 0)
	type setup struct {
		skip, perm uint32
		turns      int32
	}
	st := make([]setup, len(ds))
	for i, x := range ds {
		addr, port := foldAddr(x.d.Addr.Addr()), uint32(x.d.Addr.Port())
		st[i].perm = hsiphash32(port+addr, mhKey1) % mhTabSize
		st[i].skip = hsiphash32(port+addr, mhKey2)%(mhTabSize-1) + 1
		lw := x.d.LastWeight()
		st[i].turns = (lw / g) >> rshift
		if st[i].turns == 0 && lw != 0 {
			st[i].turns = 1
		}
	}
	var used [mhTabSize]bool
	n := 0
	for {
		for p := 0; p < len(ds); {
			s := &st[p]
			if s.turns < 1 {
				p++
				continue
			}
			for taken := int32(0); taken < s.turns; taken++ {
				c := s.perm
				for used[c] {
					s.perm += s.skip
					if s.perm >= mhTabSize {
						s.perm -= mhTabSize
					}
					c = s.perm
				}
				used[c] = true
				t[c] = ds[p].slot
				if n++; n == mhTabSize {
					return t
				}
			}
			p++
		}
	}
}
