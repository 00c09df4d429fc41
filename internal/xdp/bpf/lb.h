/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Map layouts shared by the Fulcrum XDP programs and the Go side (which
 * gets matching Go types from bpf2go -type). Every address is 16 bytes so
 * IPv6 needs no layout change: IPv4 uses the first 4 bytes, the rest zero.
 * Padding is explicit so the Go and C layouts agree byte for byte. */
#ifndef FULCRUM_LB_H
#define FULCRUM_LB_H

#include <linux/types.h>

#define MAX_SVCS 256      /* service ids 1..255 */
#define MAX_DESTS 4096    /* global real-server slots 1..4095 */
#define SVC_MAX_DESTS 64  /* bound of the compare loops (lc, wlc, ...) */
#define TAB_SIZE 4096     /* per-service lookup table (mh uses 4093) */
#define DH_TAB 256        /* CONFIG_IP_VS_DH_TAB_BITS 8 (ip_vs_dh.c) */
#define SH_TAB 256        /* CONFIG_IP_VS_SH_TAB_BITS 8 (ip_vs_sh.c) */
#define MH_TAB 4093       /* primes[CONFIG_IP_VS_MH_TAB_INDEX-8] (ip_vs_mh.c) */
#define NO_DEST 0xffff    /* empty table slot */
#define LBLCR_SET_MAX 8   /* members of an lblcr server set (the kernel's list is unbounded) */
#define CURSOR_SYNCED 0x80000000U /* svc_rt.cursor: placed by the Go side, no pick since */

/* Forwarding methods (ipvsadm -g -i -m). */
enum fwd {
	FWD_ROUTE = 1,
	FWD_TUNNEL = 2,
	FWD_MASQ = 3,
};

/* Scheduler kinds run in the fast path. */
enum sched_kind {
	SCHED_RR = 1,
	SCHED_WRR,
	SCHED_LC,
	SCHED_WLC,
	SCHED_SED,
	SCHED_NQ,
	SCHED_FO,
	SCHED_OVF,
	SCHED_DH,
	SCHED_SH,
	SCHED_MH,
	SCHED_LBLC,
	SCHED_TWOS,
	SCHED_LBLCR,
};

/* svc.flags */
#define SVC_F_SCHED1 0x0008  /* IP_VS_SVC_F_SCHED1: sh-fallback, mh-fallback */
#define SVC_F_SCHED2 0x0010  /* IP_VS_SVC_F_SCHED2: sh-port, mh-port */
#define SVC_F_PERSIST 0x0100 /* persistent service (-p) */

/* dest.flags */
#define DEST_F_AVAILABLE 0x1 /* IP_VS_DEST_F_AVAILABLE: in the service list */
#define DEST_F_NH 0x2        /* next hop resolved (MACs, ifindex valid) */

/* conn.flags */
#define CONN_F_INACTIVE 0x01 /* IP_VS_CONN_F_INACTIVE: counted in inactconns */
#define CONN_F_NOOUTPUT 0x02 /* IP_VS_CONN_F_NOOUTPUT: DR/TUN, INPUT-ONLY table */
#define CONN_F_TMPL 0x04     /* controlled by a persistence template */
#define CONN_F_REV 0x08      /* has a reverse (NAT reply) entry */

/* TCP states as IP_VS_TCP_S_* (include/uapi/linux/ip_vs.h), UDP as 16. */
#define TCP_S_NONE 0
#define TCP_S_ESTABLISHED 1
#define TCP_S_LAST 11
#define UDP_S_NORMAL 16

/* Directions of tcp_states (ip_vs_proto_tcp.c). */
#define DIR_INPUT 0
#define DIR_OUTPUT 1
#define DIR_INPUT_ONLY 2

struct svc_key {
	__u8 addr[16];
	__u16 port; /* network order; 0 = all ports (persistent only) */
	__u8 proto;
	__u8 family; /* 4 or 6 */
};

struct svc {
	__u32 id;
	__u32 sched;
	__u32 flags;
	__u32 persist_timeout; /* seconds, for dumps; expiry is the Go side's */
	__u8 persist_prefix;
	__u8 pad0;
	__u16 ndests;
	__u32 tab_row; /* row of sched_tab holding this generation's table */
	__u32 tab_len;
	__u32 pad1;
	__u16 dests[SVC_MAX_DESTS]; /* kernel list order, newest first */
};

struct sched_row {
	__u16 slot[TAB_SIZE];
};

struct svc_rt {
	/* rr/wrr: table position of the next pick's search. The program
	 * stores the position after each pick; the Go side stores the
	 * position the kernel's cursor corresponds to after a configuration
	 * change, with CURSOR_SYNCED set until the next pick. */
	__u32 cursor;
	__u32 pad;
};

struct dest {
	__u8 addr[16];
	__u8 tun_src[16]; /* outer source of IPIP */
	__u16 port;       /* network order; 0 = keep the service port */
	__u8 family;
	__u8 fwd;
	__s32 weight;
	__u32 u_thresh;
	__u32 l_thresh;
	__u32 gen; /* bumped when the slot is reused */
	__u32 svc;
	__u32 flags;
	__u32 ifindex;
	__u32 mtu;
	__u8 dmac[6];
	__u8 smac[6];
};

/* Live counters of a dest, in an mmap-able array: the program and the Go
 * side both change them with atomic operations. */
struct dest_rt {
	__s32 active;
	__s32 inact;
	__s32 persist;
	__u32 overload;
};

struct stats {
	__u64 conns;
	__u64 inpkts;
	__u64 outpkts;
	__u64 inbytes;
	__u64 outbytes;
};

struct conn_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

struct conn {
	__u64 last_seen; /* bpf_ktime_get_ns */
	__u32 dest;
	__u32 dest_gen;
	__u32 svc;
	__u32 cifindex; /* where the client's packets come in */
	__u8 state;
	__u8 flags;
	__u8 fwd;
	__u8 prefix; /* persistence prefix when CONN_F_TMPL */
	__u8 cmac[6]; /* previous hop of the client */
	__u8 lmac[6]; /* our MAC on cifindex */
	__u32 pad;
};

struct persist_key {
	__u32 svc;
	__u8 caddr[16]; /* client address & mask */
};

struct persist {
	__u64 last_seen;
	__u32 dest;
	__u32 dest_gen;
};

struct lblc_key {
	__u32 svc;
	__u8 daddr[16];
};

struct lblc {
	__u64 last_use;
	__u32 dest;
	__u32 dest_gen;
};

/* An lblcr server set (struct ip_vs_dest_set of ip_vs_lblcr.c) for one
 * destination address: members newest first, as list_add_rcu leaves them.
 * The lock serialises changes of the set, as svc->sched_lock does. */
struct lblcr_member {
	__u32 dest;
	__u32 gen;
};

struct lblcr {
	struct bpf_spin_lock lock;
	__u32 n;
	__u64 last_use; /* bpf_ktime_get_ns of the last lookup */
	__u64 lastmod;  /* of the last insert or erase */
	struct lblcr_member m[LBLCR_SET_MAX];
};

#endif
