package sched

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// goldenPrime is the multiplier of the dh, sh, lblc and lblcr hashes
// (2654435761UL, "golden ratio prime", in ip_vs_dh.c and friends). The
// kernel multiplies in unsigned long; only the low bits survive the table
// mask, so 32-bit arithmetic gives the same buckets.
const goldenPrime = 2654435761

// foldAddr is ntohl(addr_fold) of the kernel hash functions: an IPv4 address
// as a host-order integer, an IPv6 address as the XOR of its four 32-bit
// words (ip_vs_dh_hashkey, ip_vs_sh_hashkey, ip_vs_mh_hashkey,
// ip_vs_lblc_hashkey). Byte-swapping commutes with XOR, so folding the
// big-endian words gives ntohl of the folded network-order value.
func foldAddr(a netip.Addr) uint32 {
	if a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := a.As16()
	return binary.BigEndian.Uint32(b[0:]) ^ binary.BigEndian.Uint32(b[4:]) ^
		binary.BigEndian.Uint32(b[8:]) ^ binary.BigEndian.Uint32(b[12:])
}

// gcd is the kernel's gcd() (lib/math/gcd.c) for positive ints.
func gcd(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// sipKey is a siphash_key_t / hsiphash_key_t on a 64-bit kernel: two u64.
type sipKey [2]uint64

// sipInit is PREAMBLE of lib/siphash.c for a message of n bytes: the
// SipHash initial state ("somepseudorandomlygeneratedbytes") keyed with k,
// and b holding the length in its top byte.
func sipInit(k sipKey, n int) (v0, v1, v2, v3, b uint64) {
	v0 = 0x736f6d6570736575 ^ k[0]
	v1 = 0x646f72616e646f6d ^ k[1]
	v2 = 0x6c7967656e657261 ^ k[0]
	v3 = 0x7465646279746573 ^ k[1]
	b = uint64(n) << 56
	return
}

// sipRound is SIPROUND of lib/siphash.c.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sipHash is SipHash-c-d over msg with 64-bit output (c compression and d
// finalisation rounds): SipHash-2-4 is the kernel's siphash(), SipHash-1-3
// truncated to 32 bits its hsiphash() on 64-bit builds (lib/siphash.c,
// "on 64-bit, we make HalfSipHash1-3 actually be SipHash1-3").
func sipHash(c, d int, k sipKey, msg []byte) uint64 {
	v0, v1, v2, v3, b := sipInit(k, len(msg))
	for ; len(msg) >= 8; msg = msg[8:] {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		for range c {
			v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		}
		v0 ^= m
	}
	for i, x := range msg {
		b |= uint64(x) << (8 * i)
	}
	v3 ^= b
	for range c {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	v0 ^= b
	v2 ^= 0xff
	for range d {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

// hsiphash1u32 is the kernel's hsiphash_1u32() on 64-bit builds, which is
// also what hsiphash(&v, 4, key) computes on little-endian ones: SipHash-1-3
// of the 4-byte little-endian message x, truncated to u32. It is the hot
// path of mh, so it is unrolled and allocation free.
func hsiphash1u32(x uint32, k sipKey) uint32 {
	v0, v1, v2, v3, b := sipInit(k, 4)
	b |= uint64(x)
	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}
