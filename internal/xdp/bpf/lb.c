// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Fulcrum's XDP data plane: an IPVS-style director (net/netfilter/ipvs) in
 * one XDP program, plus the IPIP decapsulator real servers run.
 *
 * xdp_lb, per packet:
 *   1. parse Ethernet, IPv4 (fragments and non-TCP/UDP are passed on);
 *   2. look the 5-tuple up in the connection table; a hit is forwarded to
 *      the same real server without consulting the scheduler, after the
 *      IPVS TCP state transition (set_tcp_state, ip_vs_proto_tcp.c);
 *   3. otherwise, a packet to a virtual service (ip_vs_in -> ip_vs_schedule,
 *      ip_vs_core.c) is scheduled (persistence template first, as
 *      ip_vs_sched_persist), a connection entry is created and the
 *      real server's counters bound (ip_vs_bind_dest);
 *   4. a NAT reply from a real server (reverse entry) is un-NATed and sent
 *      back to the client's previous hop (ip_vs_out / handle_response);
 *   5. anything else is XDP_PASS: the director's own traffic is untouched.
 * Forwarding mirrors ip_vs_xmit.c: DR rewrites only the MACs
 * (ip_vs_dr_xmit), TUN prepends an IPIP header (ip_vs_tunnel_xmit), NAT
 * rewrites the destination (ip_vs_nat_xmit) with incremental checksums.
 * Structure follows Katran (balancer_kern.c, pckt_encap.h); no code is
 * shared with it. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lb.h"

/* linux/icmp.h drags in glibc headers; the few ICMP bits needed (RFC 792,
 * RFC 1191) are declared here. */
#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3
#define ICMP_FRAG_NEEDED 4
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 unused;
	__be16 mtu;
};

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The TCP state table, [direction][flag][state], written by the Go side from
 * conntab.NextTCPState before loading, so both planes share one table. */
volatile const __u8 tcp_states[3][4][TCP_S_LAST] = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SVCS);
	__type(key, struct svc_key);
	__type(value, struct svc);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SVCS * 2);
	__type(key, __u32);
	__type(value, struct sched_row);
} sched_tab SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SVCS);
	__type(key, __u32);
	__type(value, struct svc_rt);
} svc_rts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_DESTS);
	__type(key, __u32);
	__type(value, struct dest);
} dests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_DESTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct dest_rt);
} dest_rts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SVCS);
	__type(key, __u32);
	__type(value, struct stats);
} svc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_DESTS);
	__type(key, __u32);
	__type(value, struct stats);
} dest_stats SEC(".maps");

/* Sizes of the LRU maps are set by the Go side before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn);
} conns SEC(".maps");

/* NAT replies: (real server, client) -> the forward key. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_key);
} revs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct persist_key);
	__type(value, struct persist);
} templates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lblc_key);
	__type(value, struct lblc);
} lblc_cache SEC(".maps");

/* lblcr's server sets. A plain hash, as bpf_spin_lock needs, allocated
 * as entries come (most directors have no lblcr service); its bound is the
 * one package sched uses (4 x the kernel's max_size): past it a new
 * address is not cached and the pick is used anyway, as the kernel does
 * when it cannot allocate an entry. The Go side collects idle entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lblc_key);
	__type(value, struct lblcr);
} lblcr_cache SEC(".maps");

/* Room for a new lblcr entry, which the program's stack is too small to
 * hold: struct lblcr without the lock (a per-CPU map cannot hold one; the
 * update ignores those bytes anyway). */
struct lblcr_new {
	__u32 nolock;
	__u32 n;
	__u64 last_use;
	__u64 lastmod;
	struct lblcr_member m[LBLCR_SET_MAX];
};
_Static_assert(sizeof(struct lblcr_new) == sizeof(struct lblcr), "lblcr_new mirrors lblcr");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lblcr_new);
} lblcr_scratch SEC(".maps");

/* lblcr_expiration (ipvs-sysctl.rst), in ns: a server set unchanged for
 * longer loses its most loaded member. Set by the Go side before loading. */
volatile const __u64 lblcr_expire_ns = 86400ULL * 1000000000ULL;

/* Real-server side: the VIPs whose IPIP packets xdp_decap unwraps. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __be32);
	__type(value, __u8);
} decap_vips SEC(".maps");

/* ---- helpers ---------------------------------------------------------- */

static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), over 16-bit words as they sit
 * in memory (one's complement sums do not care about byte order). */
static __always_inline __u16 csum_replace(__u16 check, const __u16 *from, const __u16 *to, int words)
{
	__u32 s = (__u16)~check;
#pragma unroll
	for (int i = 0; i < 8; i++) {
		if (i >= words)
			break;
		s += (__u16)~from[i];
		s += to[i];
	}
	return ~csum_fold(s);
}

static __always_inline __u16 ip_csum(struct iphdr *ip)
{
	__u16 *w = (__u16 *)ip;
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		s += w[i];
	return ~csum_fold(s);
}

static __always_inline void mac_copy(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 6);
}

static __always_inline int out(struct xdp_md *ctx, __u32 ifindex)
{
	if (ifindex == 0 || ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(ifindex, 0);
}

static __always_inline void count(struct stats *st, int in, __u64 bytes)
{
	if (!st)
		return;
	if (in) {
		st->inpkts++;
		st->inbytes += bytes;
	} else {
		st->outpkts++;
		st->outbytes += bytes;
	}
}

static __always_inline void count_all(__u32 svc, __u32 dest, int in, __u64 bytes, int newconn)
{
	struct stats *s = bpf_map_lookup_elem(&svc_stats, &svc);
	struct stats *d = bpf_map_lookup_elem(&dest_stats, &dest);
	count(s, in, bytes);
	count(d, in, bytes);
	if (newconn) {
		if (s)
			s->conns++;
		if (d)
			d->conns++;
	}
}

/* tcp_state_idx (ip_vs_proto_tcp.c): RST, then SYN, then FIN, then ACK. */
static __always_inline int tcp_flag_idx(struct tcphdr *th)
{
	if (th->rst)
		return 3;
	if (th->syn)
		return 0;
	if (th->fin)
		return 1;
	if (th->ack)
		return 2;
	return -1;
}

/* set_tcp_state (ip_vs_proto_tcp.c): NOOUTPUT connections use the
 * INPUT-ONLY table until an output packet is seen; entering or leaving
 * ESTABLISHED moves the connection between the dest's active and inactive
 * counters. */
static __always_inline void tcp_transition(struct conn *c, struct tcphdr *th, int dir)
{
	int idx = tcp_flag_idx(th);
	if (idx < 0)
		return;
	if (c->flags & CONN_F_NOOUTPUT) {
		if (dir == DIR_OUTPUT)
			c->flags &= ~CONN_F_NOOUTPUT;
		else
			dir = DIR_INPUT_ONLY;
	}
	__u8 cur = c->state;
	if (cur >= TCP_S_LAST || dir > 2)
		return;
	__u8 next = tcp_states[dir][idx][cur];
	if (next == cur)
		return;
	struct dest *d = bpf_map_lookup_elem(&dests, &c->dest);
	struct dest_rt *rt = bpf_map_lookup_elem(&dest_rts, &c->dest);
	if (d && rt && d->gen == c->dest_gen) {
		if (!(c->flags & CONN_F_INACTIVE) && next != TCP_S_ESTABLISHED) {
			__sync_fetch_and_sub(&rt->active, 1);
			__sync_fetch_and_add(&rt->inact, 1);
			c->flags |= CONN_F_INACTIVE;
		} else if ((c->flags & CONN_F_INACTIVE) && next == TCP_S_ESTABLISHED) {
			__sync_fetch_and_add(&rt->active, 1);
			__sync_fetch_and_sub(&rt->inact, 1);
			c->flags &= ~CONN_F_INACTIVE;
		}
	} else if (next == TCP_S_ESTABLISHED) {
		c->flags &= ~CONN_F_INACTIVE;
	} else {
		c->flags |= CONN_F_INACTIVE;
	}
	c->state = next;
}

/* ---- schedulers -------------------------------------------------------- */

static __always_inline __s64 overhead(struct dest_rt *rt)
{
	/* ip_vs_dest_conn_overhead (include/net/ip_vs.h) */
	return ((__s64)rt->active << 8) + rt->inact;
}

/* The test every scheduler applies (sched.eligible). */
static __always_inline int eligible(struct dest *d, struct dest_rt *rt)
{
	return d->weight > 0 && !rt->overload && (d->flags & DEST_F_AVAILABLE);
}

struct pick {
	struct svc *svc;
	__u32 addr;  /* folded client address (sh, mh) or destination (dh) */
	__u16 port;  /* client port, host order, when SCHED2 */
	__u32 row;
	__u32 len;
	__u32 start;
	__u32 ihash;
	__u32 found; /* table position of the pick */
	__u32 dest;
};

static __always_inline __u32 slot_at(__u32 row, __u32 i)
{
	struct sched_row *r = bpf_map_lookup_elem(&sched_tab, &row);
	if (!r || i >= TAB_SIZE)
		return NO_DEST;
	/* keep the mask: clang drops it after the range check above, and the
	 * verifier does not connect the two */
	asm volatile("" : "+r"(i));
	return r->slot[i & (TAB_SIZE - 1)];
}

static __always_inline int dest_ok(__u32 idx)
{
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct dest_rt *rt = bpf_map_lookup_elem(&dest_rts, &idx);
	return d && rt && eligible(d, rt);
}

/* rr/wrr: walk the precomputed cycle from the cursor to the first eligible
 * dest (ip_vs_rr_schedule / ip_vs_wrr_schedule skip OVERLOAD and weight 0
 * the same way). */
static long cycle_step(__u64 i, void *arg)
{
	struct pick *p = arg;
	if (p->len == 0)
		return 1;
	__u32 pos = (p->start + (__u32)i) % p->len;
	__u32 idx = slot_at(p->row, pos);
	if (idx != NO_DEST && dest_ok(idx)) {
		p->dest = idx;
		p->found = pos;
		return 1;
	}
	return 0;
}

static __always_inline __u32 sched_cycle(struct svc *svc)
{
	struct pick p = {.row = svc->tab_row, .len = svc->tab_len, .dest = NO_DEST};
	__u32 id = svc->id;
	struct svc_rt *rt = bpf_map_lookup_elem(&svc_rts, &id);
	if (!rt || p.len == 0 || p.len > TAB_SIZE)
		return NO_DEST;
	p.start = (rt->cursor & ~CURSOR_SYNCED) % p.len;
	bpf_loop(p.len, cycle_step, &p, 0);
	if (p.dest != NO_DEST)
		rt->cursor = p.found + 1;
	return p.dest;
}

#define GOLDEN 2654435761U /* ip_vs_dh.c, ip_vs_sh.c */

/* ip_vs_sh_hashkey: (offset + (port + addr) * 2654435761) & mask */
static __always_inline __u32 sh_hash(__u32 addr, __u16 port, __u32 offset)
{
	return (offset + ((__u32)port + addr) * GOLDEN) & (SH_TAB - 1);
}

static long sh_fallback_step(__u64 i, void *arg)
{
	struct pick *p = arg;
	__u32 roff = ((__u32)i + p->ihash) % SH_TAB;
	__u32 idx = slot_at(p->row, sh_hash(p->addr, p->port, roff));
	if (idx == NO_DEST)
		return 1;
	if (dest_ok(idx)) {
		p->dest = idx;
		return 1;
	}
	return 0;
}

/* SipHash-1-3 of a 4-byte message with a 128-bit key, truncated to 32 bits:
 * the kernel's hsiphash_1u32 on 64-bit builds (lib/siphash.c). Written from
 * the SipHash paper's definition. */
#define ROTL(x, b) (__u64)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
	} while (0)

static __always_inline __u32 hsiphash32(__u32 x, __u64 k)
{
	__u64 v0 = 0x736f6d6570736575ULL ^ k;
	__u64 v1 = 0x646f72616e646f6dULL ^ k;
	__u64 v2 = 0x6c7967656e657261ULL ^ k;
	__u64 v3 = 0x7465646279746573ULL ^ k;
	__u64 b = ((__u64)4 << 56) | x;
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return (__u32)(v0 ^ v1 ^ v2 ^ v3);
}

/* generate_hash_secret (ip_vs_mh.c): both key words are this constant. */
#define MH_KEY1 2654435761ULL

static __always_inline __u32 mh_hash(__u32 addr, __u16 port, __u32 offset)
{
	/* ip_vs_mh_hashkey: hsiphash of offset + port + addr */
	return hsiphash32(offset + (__u32)port + addr, MH_KEY1);
}

static long mh_fallback_step(__u64 i, void *arg)
{
	struct pick *p = arg;
	__u32 roff = ((__u32)i + p->ihash) % MH_TAB;
	__u32 idx = slot_at(p->row, mh_hash(p->addr, p->port, roff) % MH_TAB);
	if (idx == NO_DEST)
		return 1;
	if (dest_ok(idx)) {
		p->dest = idx;
		return 1;
	}
	return 0;
}

/* The compare loops, each the body of its ip_vs_*.c schedule function with
 * the same tie rules (package sched documents them). They run as bpf_loop
 * callbacks over the service's dest list so the verifier checks one
 * iteration instead of 64. */
struct cmp {
	struct svc *svc;
	__u32 kind;
	__u32 best;
	__s64 boh;
	__s64 bw;
	/* twos */
	__s64 r1, r2;
	__u32 c2;
	__s64 oh2, w2;
	/* lblc */
	__u32 hit;
};

static __always_inline int load(struct svc *svc, __u32 i, __u32 *idx, struct dest **d, struct dest_rt **rt)
{
	if (i >= SVC_MAX_DESTS || i >= svc->ndests)
		return -1;
	asm volatile("" : "+r"(i));
	*idx = svc->dests[i & (SVC_MAX_DESTS - 1)];
	*d = bpf_map_lookup_elem(&dests, idx);
	*rt = bpf_map_lookup_elem(&dest_rts, idx);
	if (!*d || !*rt)
		return 0;
	return 1;
}

static long cmp_step(__u64 i, void *arg)
{
	struct cmp *c = arg;
	__u32 idx;
	struct dest *d;
	struct dest_rt *rt;
	int r = load(c->svc, (__u32)i, &idx, &d, &rt);
	if (r < 0)
		return 1;
	if (r == 0)
		return 0;
	__s64 w = d->weight;
	__s64 a = rt->active;
	switch (c->kind) {
	case SCHED_LC: /* ip_vs_lc.c: least overhead, strict < */
		if (rt->overload || w == 0)
			return 0;
		if (c->best == NO_DEST || overhead(rt) < c->boh) {
			c->best = idx;
			c->boh = overhead(rt);
		}
		return 0;
	case SCHED_WLC: /* ip_vs_wlc.c (also lblc's and lblcr's fallback) */
	case SCHED_LBLC:
	case SCHED_LBLCR:
	case SCHED_SED: { /* ip_vs_sed.c: (active+1)/weight */
		__s64 doh = c->kind == SCHED_SED ? a + 1 : overhead(rt);
		if (c->best == NO_DEST) {
			if (eligible(d, rt)) {
				c->best = idx;
				c->boh = doh;
				c->bw = w;
			}
			return 0;
		}
		if (rt->overload)
			return 0;
		if (c->boh * w > doh * c->bw) {
			c->best = idx;
			c->boh = doh;
			c->bw = w;
		}
		return 0;
	}
	case SCHED_NQ: { /* ip_vs_nq.c: first idle dest, else sed */
		if (rt->overload || w == 0)
			return 0;
		__s64 doh = a + 1;
		if (a == 0) {
			c->best = idx;
			return 1;
		}
		if (c->best == NO_DEST || c->boh * w > doh * c->bw) {
			c->best = idx;
			c->boh = doh;
			c->bw = w;
		}
		return 0;
	}
	case SCHED_FO: /* ip_vs_fo.c: highest weight, strict > from 0 */
		if (!rt->overload && w > c->bw) {
			c->best = idx;
			c->bw = w;
		}
		return 0;
	case SCHED_OVF: /* ip_vs_ovf.c */
		if (rt->overload || a > w || w == 0)
			return 0;
		if (c->best == NO_DEST || w > c->bw) {
			c->best = idx;
			c->bw = w;
		}
		return 0;
	case SCHED_TWOS + 100: /* twos, pass 1: total weight */
		if (eligible(d, rt))
			c->boh += w;
		return 0;
	case SCHED_TWOS: /* twos, pass 2: walk both random points */
		if (!eligible(d, rt))
			return 0;
		c->r1 -= w;
		c->r2 -= w;
		if (c->r1 <= 0 && c->best == NO_DEST) {
			c->best = idx;
			c->boh = overhead(rt);
			c->bw = w;
		}
		if (c->r2 <= 0 && c->c2 == NO_DEST) {
			c->c2 = idx;
			c->oh2 = overhead(rt);
			c->w2 = w;
		}
		return 0;
	case SCHED_LBLC + 100: /* lblc is_overloaded: a dest under half its weight */
		if (a * 2 < w) {
			c->hit = 1;
			return 1;
		}
		return 0;
	}
	return 1;
}

static __always_inline __u32 sched_loop(struct svc *svc, __u32 kind)
{
	struct cmp c = {.svc = svc, .kind = kind, .best = NO_DEST, .c2 = NO_DEST};
	bpf_loop(SVC_MAX_DESTS, cmp_step, &c, 0);
	return c.best;
}

/* lblc's own overload test (is_overloaded, ip_vs_lblc.c): more active
 * connections than the weight while some dest is under half its weight. */
static __always_inline int lblc_overloaded(struct svc *svc, struct dest *d, struct dest_rt *rt)
{
	if (rt->active <= d->weight)
		return 0;
	struct cmp c = {.svc = svc, .kind = SCHED_LBLC + 100, .best = NO_DEST, .c2 = NO_DEST};
	bpf_loop(SVC_MAX_DESTS, cmp_step, &c, 0);
	return c.hit;
}

/* ip_vs_twos.c: two weighted random choices, keep the less loaded. */
static __always_inline __u32 sched_twos(struct svc *svc)
{
	struct cmp c = {.svc = svc, .kind = SCHED_TWOS + 100, .best = NO_DEST, .c2 = NO_DEST};
	bpf_loop(SVC_MAX_DESTS, cmp_step, &c, 0);
	__s64 total = c.boh;
	if (total <= 0)
		return NO_DEST;
	total++;
	c.kind = SCHED_TWOS;
	c.boh = 0;
	c.r1 = bpf_get_prandom_u32() % (__u64)total;
	c.r2 = bpf_get_prandom_u32() % (__u64)total;
	bpf_loop(SVC_MAX_DESTS, cmp_step, &c, 0);
	if (c.best == NO_DEST)
		return c.c2;
	if (c.c2 != NO_DEST && c.w2 * c.boh > c.bw * c.oh2)
		return c.c2;
	return c.best;
}

/* ---- lblcr (ip_vs_lblcr.c) ---- */

/* A snapshot of a server set, taken under its lock; the scans that need the
 * dests' counters run on it without the lock (no helper may be called with
 * a lock held), as the kernel scans the set under RCU only. */
struct lblcr_scan {
	struct lblcr_member m[LBLCR_SET_MAX];
	__u32 n;
	__u32 best;   /* member index */
	__s64 boh;
	__s64 bw;
	__u32 max;    /* 1: ip_vs_dest_set_max, 0: ip_vs_dest_set_min */
};

static __always_inline void lblcr_snapshot(struct lblcr *e, struct lblcr_scan *s)
{
	bpf_spin_lock(&e->lock);
	s->n = e->n;
	__builtin_memcpy(s->m, e->m, sizeof(s->m));
	bpf_spin_unlock(&e->lock);
	if (s->n > LBLCR_SET_MAX)
		s->n = LBLCR_SET_MAX;
}

static long lblcr_step(__u64 i, void *arg)
{
	struct lblcr_scan *s = arg;
	if (i >= s->n || i >= LBLCR_SET_MAX)
		return 1;
	__u32 k = (__u32)i;
	asm volatile("" : "+r"(k));
	struct lblcr_member mb = s->m[k & (LBLCR_SET_MAX - 1)];
	__u32 idx = mb.dest;
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct dest_rt *rt = bpf_map_lookup_elem(&dest_rts, &idx);
	/* A member whose slot was reused is a dest that no longer exists:
	 * skipped by both scans (the Go side keeps a slot alive while a set
	 * refers to it, as the kernel's set holds a dest reference). */
	if (!d || !rt || d->gen != mb.gen)
		return 0;
	__s64 w = d->weight;
	__s64 doh = overhead(rt);
	if (s->max) {
		/* ip_vs_dest_set_max: weight > 0 only, flags not looked at;
		 * moh/mw < doh/dw, ties keep the earlier member */
		if (w <= 0)
			return 0;
		if (s->best == NO_DEST || s->boh * w < doh * s->bw) {
			s->best = k;
			s->boh = doh;
			s->bw = w;
		}
		return 0;
	}
	/* ip_vs_dest_set_min: the first member without OVERLOAD, with weight
	 * > 0 and AVAILABLE starts; a later one without OVERLOAD replaces it
	 * when strictly less loaded per weight and AVAILABLE */
	if (rt->overload)
		return 0;
	if (s->best == NO_DEST) {
		if (w > 0 && (d->flags & DEST_F_AVAILABLE)) {
			s->best = k;
			s->boh = doh;
			s->bw = w;
		}
		return 0;
	}
	if (s->boh * w > doh * s->bw && (d->flags & DEST_F_AVAILABLE)) {
		s->best = k;
		s->boh = doh;
		s->bw = w;
	}
	return 0;
}

/* Runs one scan; returns the member index or NO_DEST. */
static __always_inline __u32 lblcr_scan(struct lblcr_scan *s, __u32 max)
{
	s->max = max;
	s->best = NO_DEST;
	s->boh = 0;
	s->bw = 0;
	bpf_loop(LBLCR_SET_MAX, lblcr_step, s, 0);
	return s->best;
}

static __always_inline int member_eq(struct lblcr_member a, struct lblcr_member b)
{
	return a.dest == b.dest && a.gen == b.gen;
}

/* ip_vs_dest_set_erase, with the lock held. */
static __always_inline int lblcr_erase_locked(struct lblcr *e, struct lblcr_member v)
{
	__u32 n = e->n;
	int at = -1;
#pragma unroll
	for (int i = 0; i < LBLCR_SET_MAX; i++) {
		if (at < 0 && (__u32)i < n && member_eq(e->m[i], v))
			at = i;
	}
	if (at < 0)
		return 0;
#pragma unroll
	for (int i = 0; i < LBLCR_SET_MAX - 1; i++) {
		if (i >= at)
			e->m[i] = e->m[i + 1];
	}
	e->n = n - 1;
	return 1;
}

/* ip_vs_dest_set_insert with check: a member already there is left alone;
 * otherwise the dest goes to the head. A full set first loses victim (its
 * most loaded member, the one the kernel's own cleanup would remove), or
 * its oldest member if victim is gone meanwhile. */
static __always_inline void lblcr_insert(struct lblcr *e, struct lblcr_member v, struct lblcr_member victim, __u64 now)
{
	bpf_spin_lock(&e->lock);
	__u32 n = e->n;
	if (n > LBLCR_SET_MAX)
		n = LBLCR_SET_MAX;
	int found = 0;
#pragma unroll
	for (int i = 0; i < LBLCR_SET_MAX; i++) {
		if ((__u32)i < n && member_eq(e->m[i], v))
			found = 1;
	}
	if (!found) {
		if (n == LBLCR_SET_MAX) {
			e->n = n;
			if (!lblcr_erase_locked(e, victim))
				e->n = n - 1;
			n = e->n;
		}
#pragma unroll
		for (int i = LBLCR_SET_MAX - 1; i > 0; i--)
			e->m[i] = e->m[i - 1];
		e->m[0] = v;
		e->n = n + 1;
		e->lastmod = now;
	}
	bpf_spin_unlock(&e->lock);
}

#define LBLCR_MISS 0x10000 /* lblcr_pick: no entry for the address */

/* The cache half of ip_vs_lblcr_schedule: the least loaded member of the
 * destination address's server set (NO_DEST if none qualifies, LBLCR_MISS
 * without an entry); a set of more than one member unchanged for
 * lblcr_expiration loses its most loaded member. Separate functions keep
 * each stack frame small enough for the verifier's 512-byte total. */
static __noinline __u32 lblcr_pick(struct svc *svc, struct conn_key *k, __u64 now)
{
	struct lblc_key lk = {.svc = svc->id};
	__builtin_memcpy(lk.daddr, k->daddr, 16);
	struct lblcr *e = bpf_map_lookup_elem(&lblcr_cache, &lk);
	if (!e)
		return LBLCR_MISS;
	e->last_use = now;
	struct lblcr_scan s = {};
	lblcr_snapshot(e, &s);
	__u32 mi = lblcr_scan(&s, 0);
	__u32 idx = NO_DEST;
	if (mi < LBLCR_SET_MAX)
		idx = s.m[mi].dest;
	/* time_after(jiffies, lastmod + expiration): strictly later */
	if (s.n > 1 && now > e->lastmod + lblcr_expire_ns) {
		__u32 xi = lblcr_scan(&s, 1);
		if (xi < LBLCR_SET_MAX) {
			struct lblcr_member x = s.m[xi];
			bpf_spin_lock(&e->lock);
			if (e->n > 1 && e->n <= LBLCR_SET_MAX && lblcr_erase_locked(e, x))
				e->lastmod = now;
			bpf_spin_unlock(&e->lock);
		}
	}
	return idx;
}

/* The update half: the wlc pick joins the address's set (ip_vs_dest_set_insert
 * with check), or starts one (ip_vs_lblcr_new); with the table full the
 * pick is used uncached, as the kernel does when kmalloc fails. */
static __noinline void lblcr_add(struct svc *svc, struct conn_key *k, __u32 idx, __u64 now)
{
	struct lblc_key lk = {.svc = svc->id};
	__builtin_memcpy(lk.daddr, k->daddr, 16);
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	if (!d)
		return;
	struct lblcr_member v = {.dest = idx, .gen = d->gen};
	struct lblcr_member victim = {.dest = NO_DEST};
	struct lblcr *e = bpf_map_lookup_elem(&lblcr_cache, &lk);
	if (!e) {
		__u32 zero = 0;
		struct lblcr_new *ne = bpf_map_lookup_elem(&lblcr_scratch, &zero);
		if (!ne)
			return;
		ne->n = 1;
		ne->last_use = now;
		ne->lastmod = now;
		ne->m[0] = v;
		if (bpf_map_update_elem(&lblcr_cache, &lk, ne, BPF_NOEXIST) == 0)
			return;
		e = bpf_map_lookup_elem(&lblcr_cache, &lk);
		if (!e)
			return;
	}
	struct lblcr_scan s = {};
	lblcr_snapshot(e, &s);
	if (s.n >= LBLCR_SET_MAX) {
		__u32 xi = lblcr_scan(&s, 1);
		if (xi < LBLCR_SET_MAX)
			victim = s.m[xi];
	}
	lblcr_insert(e, v, victim, now);
}

static __always_inline __u32 fold4(const __u8 *a)
{
	/* ntohl of an IPv4 address (the hashes' addr_fold) */
	return ((__u32)a[0] << 24) | ((__u32)a[1] << 16) | ((__u32)a[2] << 8) | a[3];
}

/* schedule returns a dest slot or NO_DEST (ip_vs_schedule). */
static __always_inline __u32 schedule(struct svc *svc, struct conn_key *k)
{
	struct pick p = {.svc = svc, .row = svc->tab_row, .dest = NO_DEST};
	__u32 idx;
	switch (svc->sched) {
	case SCHED_RR:
	case SCHED_WRR:
		return sched_cycle(svc);
	case SCHED_LC:
	case SCHED_WLC:
	case SCHED_SED:
	case SCHED_NQ:
	case SCHED_FO:
	case SCHED_OVF:
		return sched_loop(svc, svc->sched);
	case SCHED_TWOS:
		return sched_twos(svc);
	case SCHED_DH: /* ip_vs_dh_schedule: no fallback */
		idx = slot_at(p.row, (fold4(k->daddr) * GOLDEN) & (DH_TAB - 1));
		if (idx == NO_DEST || !dest_ok(idx))
			return NO_DEST;
		return idx;
	case SCHED_SH: /* ip_vs_sh_schedule */
		p.addr = fold4(k->saddr);
		if (svc->flags & SVC_F_SCHED2)
			p.port = bpf_ntohs(k->sport);
		p.ihash = sh_hash(p.addr, p.port, 0);
		idx = slot_at(p.row, p.ihash);
		if (idx == NO_DEST)
			return NO_DEST;
		if (dest_ok(idx))
			return idx;
		if (!(svc->flags & SVC_F_SCHED1))
			return NO_DEST;
		bpf_loop(SH_TAB, sh_fallback_step, &p, 0);
		return p.dest;
	case SCHED_MH: /* ip_vs_mh_schedule */
		p.addr = fold4(k->saddr);
		if (svc->flags & SVC_F_SCHED2)
			p.port = bpf_ntohs(k->sport);
		p.ihash = mh_hash(p.addr, p.port, 0) % MH_TAB;
		idx = slot_at(p.row, p.ihash);
		if (idx == NO_DEST)
			return NO_DEST;
		if (dest_ok(idx))
			return idx;
		if (!(svc->flags & SVC_F_SCHED1))
			return NO_DEST;
		bpf_loop(MH_TAB, mh_fallback_step, &p, 0);
		return p.dest;
	case SCHED_LBLCR: { /* ip_vs_lblcr_schedule */
		__u64 now = bpf_ktime_get_ns();
		idx = lblcr_pick(svc, k, now);
		if (idx < NO_DEST) {
			/* use the set's pick unless overloaded (is_overloaded) */
			struct dest *d = bpf_map_lookup_elem(&dests, &idx);
			struct dest_rt *drt = bpf_map_lookup_elem(&dest_rts, &idx);
			if (d && drt && !lblc_overloaded(svc, d, drt))
				return idx;
		}
		idx = sched_loop(svc, SCHED_LBLCR);
		if (idx == NO_DEST)
			return NO_DEST;
		lblcr_add(svc, k, idx, now);
		return idx;
	}
	case SCHED_LBLC: { /* ip_vs_lblc_schedule */
		struct lblc_key lk = {.svc = svc->id};
		__builtin_memcpy(lk.daddr, k->daddr, 16);
		struct lblc *e = bpf_map_lookup_elem(&lblc_cache, &lk);
		__u64 now = bpf_ktime_get_ns();
		if (e) {
			e->last_use = now;
			__u32 ci = e->dest;
			struct dest *d = bpf_map_lookup_elem(&dests, &ci);
			struct dest_rt *drt = bpf_map_lookup_elem(&dest_rts, &ci);
			if (d && drt && d->gen == e->dest_gen && (d->flags & DEST_F_AVAILABLE) &&
			    d->weight > 0 && !lblc_overloaded(svc, d, drt))
				return ci;
		}
		idx = sched_loop(svc, SCHED_LBLC);
		if (idx == NO_DEST)
			return NO_DEST;
		struct dest *d = bpf_map_lookup_elem(&dests, &idx);
		if (!d)
			return NO_DEST;
		struct lblc v = {.last_use = now, .dest = idx, .dest_gen = d->gen};
		bpf_map_update_elem(&lblc_cache, &lk, &v, BPF_ANY);
		return idx;
	}
	}
	return NO_DEST;
}

/* ---- packet rewriting ----------------------------------------------------- */

/* send_icmp4 turns the packet into an ICMP error about it, sent back out
 * of the interface it came in on, from the address it was sent to (as
 * icmp_send does for a local destination): type 3 code 4 with the next-hop
 * MTU (RFC 1191) when a tunnelled packet would be too big, type 3 code 3
 * when no real server is available (ip_vs_leave). The payload is the
 * original IP header plus 8 bytes (RFC 792). */
static __noinline int send_icmp4(struct xdp_md *ctx, __u8 code, __u16 mtu)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > end)
		return XDP_DROP;
	__u32 ihl = ip->ihl * 4;
	if (ihl < 20 || ihl > 60)
		return XDP_DROP;
	__u32 plen = ihl + 8;
	if (data + sizeof(*eth) + plen > end)
		return XDP_DROP;
	__u8 smac[6], dmac[6];
	mac_copy(smac, eth->h_dest);
	mac_copy(dmac, eth->h_source);
	__be32 saddr = ip->daddr, daddr = ip->saddr;
	__u8 tos = ip->tos;

	int hdr = sizeof(struct iphdr) + sizeof(struct icmphdr);
	if (bpf_xdp_adjust_head(ctx, -hdr))
		return XDP_DROP;
	__u32 newlen = sizeof(struct ethhdr) + hdr + plen;
	if (bpf_xdp_adjust_tail(ctx, (int)newlen - (int)bpf_xdp_get_buff_len(ctx)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	ip = data + sizeof(*eth);
	struct icmphdr *ic = (void *)(ip + 1);
	if ((void *)(ic + 1) > end)
		return XDP_DROP;
	mac_copy(eth->h_dest, dmac);
	mac_copy(eth->h_source, smac);
	eth->h_proto = bpf_htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	/* icmp_send: IPTOS_PREC_INTERNETCONTROL with the original TOS bits */
	ip->tos = (tos & 0x1e) | 0xc0;
	ip->tot_len = bpf_htons(hdr + plen);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = IPPROTO_ICMP;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = 0;
	ip->check = ip_csum(ip);
	ic->type = ICMP_DEST_UNREACH;
	ic->code = code;
	ic->checksum = 0;
	ic->unused = 0;
	ic->mtu = bpf_htons(mtu);
	__u32 s = 0;
	__u16 *w = (__u16 *)ic;
	for (int i = 0; i < (8 + 68) / 2; i++) {
		if ((void *)(w + 1) > end)
			break;
		s += *w;
		w++;
	}
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ic = data + sizeof(struct ethhdr) + sizeof(struct iphdr);
	if ((void *)(ic + 1) > end)
		return XDP_DROP;
	ic->checksum = ~csum_fold(s);
	return XDP_TX;
}

static __always_inline int fwd_route(struct xdp_md *ctx, struct dest *d)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	mac_copy(eth->h_dest, d->dmac);
	mac_copy(eth->h_source, d->smac);
	return out(ctx, d->ifindex);
}

/* ip_vs_tunnel_xmit with ip_vs_prepare_tunneled_skb: the outer header
 * copies the inner TOS, TTL and DF; the outer source is the director's
 * address towards the real server. A DF packet that would exceed the path
 * MTU gets ICMP frag-needed (pmtu_disc=1); a non-DF one is dropped, since
 * XDP cannot fragment. */
static __always_inline int fwd_tunnel(struct xdp_md *ctx, struct dest *d)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *in = data + sizeof(struct ethhdr);
	if ((void *)(in + 1) > end)
		return XDP_DROP;
	__u16 tot = bpf_ntohs(in->tot_len);
	__be16 df = in->frag_off & bpf_htons(0x4000);
	__u8 tos = in->tos, ttl = in->ttl;
	__be16 id = in->id;
	if (d->mtu && (__u32)tot + sizeof(struct iphdr) > d->mtu) {
		if (df)
			return send_icmp4(ctx, ICMP_FRAG_NEEDED, d->mtu - sizeof(struct iphdr));
		return XDP_DROP;
	}
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *o = data + sizeof(*eth);
	if ((void *)(o + 1) > end)
		return XDP_DROP;
	mac_copy(eth->h_dest, d->dmac);
	mac_copy(eth->h_source, d->smac);
	eth->h_proto = bpf_htons(ETH_P_IP);
	o->version = 4;
	o->ihl = 5;
	o->tos = tos;
	o->tot_len = bpf_htons(tot + sizeof(struct iphdr));
	/* An atomic datagram needs no unique id (RFC 6864); otherwise the
	 * inner id is reused, which is unique per source enough to reassemble. */
	o->id = df ? 0 : id;
	o->frag_off = df;
	o->ttl = ttl;
	o->protocol = IPPROTO_IPIP;
	__builtin_memcpy(&o->saddr, d->tun_src, 4);
	__builtin_memcpy(&o->daddr, d->addr, 4);
	o->check = 0;
	o->check = ip_csum(o);
	return out(ctx, d->ifindex);
}

/* Rewrites one address and port of an IPv4 TCP/UDP packet with
 * incremental checksum updates (ip_vs_nat_xmit's tcp_dnat_handler /
 * udp_dnat_handler and their snat twins). */
static __always_inline int rewrite4(struct iphdr *ip, void *l4, void *end, int dst, __be32 addr, __be16 port)
{
	__be32 *a = dst ? &ip->daddr : &ip->saddr;
	__be32 olda = *a;
	__be16 *pp;
	__u16 *check;
	int udp = ip->protocol == IPPROTO_UDP;
	if (udp) {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > end)
			return -1;
		pp = dst ? &uh->dest : &uh->source;
		check = &uh->check;
	} else {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > end)
			return -1;
		pp = dst ? &th->dest : &th->source;
		check = &th->check;
	}
	__be16 oldp = *pp;
	if (port == 0)
		port = oldp;
	__u16 from[3], to[3];
	__builtin_memcpy(from, &olda, 4);
	from[2] = oldp;
	__builtin_memcpy(to, &addr, 4);
	to[2] = port;
	if (!udp || *check != 0) {
		__u16 c = csum_replace(*check, from, to, 3);
		if (udp && c == 0)
			c = 0xffff; /* RFC 768: a computed zero is sent as all ones */
		*check = c;
	}
	ip->check = csum_replace(ip->check, from, to, 2);
	*a = addr;
	*pp = port;
	return 0;
}

/* ---- the director ------------------------------------------------------- */

struct pkt {
	struct conn_key k;
	__u32 ihl;
	__u16 tot;
	__u8 smac[6];
	__u8 dmac[6];
};

static __always_inline __u32 svc_lookup(struct conn_key *k, struct svc **out_svc)
{
	struct svc_key sk = {.port = k->dport, .proto = k->proto, .family = 4};
	__builtin_memcpy(sk.addr, k->daddr, 16);
	struct svc *s = bpf_map_lookup_elem(&services, &sk);
	if (!s) {
		/* port-0 services take every port of the VIP (persistent only) */
		sk.port = 0;
		s = bpf_map_lookup_elem(&services, &sk);
	}
	*out_svc = s;
	return s != 0;
}

static __always_inline int forward(struct xdp_md *ctx, struct conn *c, struct dest *d, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	switch (c->fwd) {
	case FWD_ROUTE:
		return fwd_route(ctx, d);
	case FWD_TUNNEL:
		return fwd_tunnel(ctx, d);
	case FWD_MASQ: {
		struct iphdr *ip = data + sizeof(struct ethhdr);
		if ((void *)(ip + 1) > end)
			return XDP_DROP;
		__u32 ihl = p->ihl;
		if (ihl < 20 || ihl > 60)
			return XDP_DROP;
		void *l4 = (void *)ip + ihl;
		__be32 addr;
		__builtin_memcpy(&addr, d->addr, 4);
		if (rewrite4(ip, l4, end, 1, addr, d->port))
			return XDP_DROP;
		return fwd_route(ctx, d);
	}
	}
	return XDP_DROP;
}

/* A NAT reply: (real server -> client) matched through revs. */
static __always_inline int nat_reply(struct xdp_md *ctx, struct pkt *p, struct conn_key *fk, struct tcphdr *th)
{
	struct conn *c = bpf_map_lookup_elem(&conns, fk);
	if (!c || c->fwd != FWD_MASQ)
		return XDP_PASS;
	c->last_seen = bpf_ktime_get_ns();
	if (th)
		tcp_transition(c, th, DIR_OUTPUT);
	count_all(c->svc, c->dest, 0, p->tot, 0);
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > end)
		return XDP_DROP;
	__u32 ihl = p->ihl;
	if (ihl < 20 || ihl > 60)
		return XDP_DROP;
	__be32 vaddr;
	__builtin_memcpy(&vaddr, fk->daddr, 4);
	if (rewrite4(ip, (void *)ip + ihl, end, 0, vaddr, fk->dport))
		return XDP_DROP;
	mac_copy(eth->h_dest, c->cmac);
	mac_copy(eth->h_source, c->lmac);
	return out(ctx, c->cifindex);
}

static __always_inline void mask_addr(__u8 *dst, const __u8 *src, __u8 prefix)
{
	__u32 a;
	__builtin_memcpy(&a, src, 4);
	__u32 m = prefix >= 32 ? 0xffffffff : (prefix == 0 ? 0 : ~((1U << (32 - prefix)) - 1));
	a &= bpf_htonl(m);
	__builtin_memcpy(dst, &a, 4);
}

/* bind: a new connection counts as inactive; reaching the upper threshold
 * sets OVERLOAD (ip_vs_bind_dest, ip_vs_conn.c). */
static __always_inline void bind_dest(struct dest *d, struct dest_rt *rt, int tmpl)
{
	if (tmpl) {
		__sync_fetch_and_add(&rt->persist, 1);
	} else {
		__sync_fetch_and_add(&rt->inact, 1);
	}
	if (d->u_thresh && (__u32)(rt->active + rt->inact) >= d->u_thresh)
		rt->overload = 1;
}

static __always_inline int new_conn(struct xdp_md *ctx, struct svc *svc, struct pkt *p, struct tcphdr *th)
{
	struct conn_key *k = &p->k;
	__u32 idx = NO_DEST;
	__u32 flags = 0;
	__u64 now = bpf_ktime_get_ns();
	struct persist_key pk = {};
	if (svc->flags & SVC_F_PERSIST) {
		/* ip_vs_sched_persist: reuse the template of the client network
		 * while its dest is available (expire_quiescent_template=0: a
		 * weight-0 dest keeps its persistent clients). */
		pk.svc = svc->id;
		mask_addr(pk.caddr, k->saddr, svc->persist_prefix);
		struct persist *t = bpf_map_lookup_elem(&templates, &pk);
		if (t) {
			__u32 ti = t->dest;
			struct dest *td = bpf_map_lookup_elem(&dests, &ti);
			if (td && td->gen == t->dest_gen && (td->flags & DEST_F_AVAILABLE) && td->svc == svc->id) {
				idx = ti;
				t->last_seen = now;
			}
		}
		flags |= CONN_F_TMPL;
	}
	int fresh_tmpl = 0;
	if (idx == NO_DEST) {
		idx = schedule(svc, k);
		fresh_tmpl = (svc->flags & SVC_F_PERSIST) != 0;
	}
	if (idx == NO_DEST)
		return send_icmp4(ctx, ICMP_PORT_UNREACH, 0); /* ip_vs_leave */
	struct dest *d = bpf_map_lookup_elem(&dests, &idx);
	struct dest_rt *rt = bpf_map_lookup_elem(&dest_rts, &idx);
	if (!d || !rt)
		return XDP_DROP;
	if (fresh_tmpl) {
		struct persist t = {.last_seen = now, .dest = idx, .dest_gen = d->gen};
		bpf_map_update_elem(&templates, &pk, &t, BPF_ANY);
		bind_dest(d, rt, 1);
	}
	struct conn c = {
		.last_seen = now,
		.dest = idx,
		.dest_gen = d->gen,
		.svc = svc->id,
		.cifindex = ctx->ingress_ifindex,
		.state = k->proto == IPPROTO_UDP ? UDP_S_NORMAL : TCP_S_NONE,
		.flags = flags | CONN_F_INACTIVE,
		.fwd = d->fwd,
		.prefix = svc->persist_prefix,
	};
	if (d->fwd != FWD_MASQ)
		c.flags |= CONN_F_NOOUTPUT;
	mac_copy(c.cmac, p->smac);
	mac_copy(c.lmac, p->dmac);
	bind_dest(d, rt, 0);
	if (th)
		tcp_transition(&c, th, DIR_INPUT);
	if (d->fwd == FWD_MASQ) {
		struct conn_key rk = {.proto = k->proto, .family = k->family};
		__builtin_memcpy(rk.saddr, d->addr, 16);
		__builtin_memcpy(rk.daddr, k->saddr, 16);
		rk.sport = d->port ? d->port : k->dport;
		rk.dport = k->sport;
		bpf_map_update_elem(&revs, &rk, k, BPF_ANY);
		c.flags |= CONN_F_REV;
	}
	bpf_map_update_elem(&conns, k, &c, BPF_ANY);
	count_all(svc->id, idx, 1, p->tot, 1);
	if (!(d->flags & DEST_F_NH))
		return XDP_DROP; /* next hop not resolved yet: the client retries */
	return forward(ctx, &c, d, p);
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS; /* IPv6: layouts are ready, parsing is not yet */
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	if (ip->version != 4 || ip->ihl < 5)
		return XDP_PASS;
	/* Fragments carry no ports: leave them to the stack. */
	if (ip->frag_off & bpf_htons(0x3fff))
		return XDP_PASS;
	struct pkt p = {};
	p.ihl = ip->ihl * 4;
	p.tot = bpf_ntohs(ip->tot_len);
	mac_copy(p.smac, eth->h_source);
	mac_copy(p.dmac, eth->h_dest);
	void *l4 = (void *)ip + (p.ihl & 0x3c);
	struct tcphdr *th = 0;
	if (ip->protocol == IPPROTO_TCP) {
		th = l4;
		if ((void *)(th + 1) > end)
			return XDP_PASS;
		p.k.sport = th->source;
		p.k.dport = th->dest;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > end)
			return XDP_PASS;
		p.k.sport = uh->source;
		p.k.dport = uh->dest;
	} else {
		return XDP_PASS;
	}
	p.k.proto = ip->protocol;
	p.k.family = 4;
	__builtin_memcpy(p.k.saddr, &ip->saddr, 4);
	__builtin_memcpy(p.k.daddr, &ip->daddr, 4);

	struct conn *c = bpf_map_lookup_elem(&conns, &p.k);
	if (c) {
		/* A connection-table hit: same dest, no scheduler (ip_vs_in). */
		__u32 di = c->dest;
		struct dest *d = bpf_map_lookup_elem(&dests, &di);
		if (!d || d->gen != c->dest_gen || !(d->flags & DEST_F_AVAILABLE))
			return XDP_DROP; /* dest deleted: expire_nodest_conn=0 drops */
		c->last_seen = bpf_ktime_get_ns();
		if (th)
			tcp_transition(c, th, DIR_INPUT);
		count_all(c->svc, di, 1, p.tot, 0);
		if (!(d->flags & DEST_F_NH))
			return XDP_DROP;
		return forward(ctx, c, d, &p);
	}
	struct svc *svc;
	if (svc_lookup(&p.k, &svc)) {
		/* Only a SYN opens a TCP connection (tcp_conn_schedule); other
		 * segments go to the stack, which answers with a reset. */
		if (th && (!th->syn || th->rst))
			return XDP_PASS;
		return new_conn(ctx, svc, &p, th);
	}
	struct conn_key *fk = bpf_map_lookup_elem(&revs, &p.k);
	if (fk) {
		struct conn_key f = *fk;
		return nat_reply(ctx, &p, &f, th);
	}
	return XDP_PASS;
}

/* xdp_decap runs on real servers of Tunnel services: an IPIP packet whose
 * inner destination is one of our VIPs loses its outer header and goes up
 * the stack as if it had arrived directly, to the VIP held on lo (what the
 * ipip module's tunl0 does for LVS-TUN). Anything else passes untouched. */
SEC("xdp")
int xdp_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *o = (void *)(eth + 1);
	if ((void *)(o + 1) > end)
		return XDP_PASS;
	if (o->protocol != IPPROTO_IPIP || o->ihl != 5 || (o->frag_off & bpf_htons(0x3fff)))
		return XDP_PASS;
	struct iphdr *in = o + 1;
	if ((void *)(in + 1) > end)
		return XDP_PASS;
	__be32 vip = in->daddr;
	if (!bpf_map_lookup_elem(&decap_vips, &vip))
		return XDP_PASS;
	struct ethhdr e = *eth;
	if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct iphdr)))
		return XDP_PASS;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	*eth = e;
	return XDP_PASS;
}

/* xdp_pass lets a veth peer receive XDP_TX/redirected frames (veth needs an
 * XDP program or GRO on the receiving side for native XDP). */
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
