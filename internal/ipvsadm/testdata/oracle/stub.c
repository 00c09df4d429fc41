/* Fake in-memory "kernel" for ipvsadm 1.31's libipvs API, backed by a text
 * state file ($IPVS_STATE): the test oracle of internal/ipvsadm, see build.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>
#include "libipvs/libipvs.h"

static void *ipvs_func = NULL;
struct ip_vs_getinfo ipvs_info;

#define MAXS 64
#define MAXD 64
struct svc { ipvs_service_entry_t e; int nd; ipvs_dest_entry_t d[MAXD]; };
static struct svc S[MAXS];
static int NS, dirty;
static ipvs_timeout_t TO = {900, 120, 300};

static int rdstats(char **p, struct ip_vs_stats64 *s) {
	unsigned long long *v = (unsigned long long *)s;
	for (int i = 0; i < 10; i++) { char *t = strtok_r(NULL, " \n", p); if (!t) return -1; v[i] = strtoull(t, NULL, 10); }
	return 0;
}
static void wrstats(FILE *f, struct ip_vs_stats64 *s) {
	unsigned long long *v = (unsigned long long *)s;
	for (int i = 0; i < 10; i++) fprintf(f, " %llu", v[i]);
}
static void load(void) {
	const char *fn = getenv("IPVS_STATE"); FILE *f; char line[2048];
	ipvs_info.version = 0x010201; ipvs_info.size = 4096;
	if (!fn || !(f = fopen(fn, "r"))) return;
	while (fgets(line, sizeof line, f)) {
		char *p, *k = strtok_r(line, " \n", &p);
		if (!k) continue;
		if (!strcmp(k, "info")) { ipvs_info.version = strtoul(strtok_r(NULL, " \n", &p), NULL, 16); ipvs_info.size = atoi(strtok_r(NULL, " \n", &p)); }
		else if (!strcmp(k, "timeout")) { TO.tcp_timeout = atoi(strtok_r(NULL, " \n", &p)); TO.tcp_fin_timeout = atoi(strtok_r(NULL, " \n", &p)); TO.udp_timeout = atoi(strtok_r(NULL, " \n", &p)); }
		else if (!strcmp(k, "svc")) {
			ipvs_service_entry_t *e = &S[NS++].e; memset(e, 0, sizeof *e);
			e->af = atoi(strtok_r(NULL, " \n", &p)); e->protocol = atoi(strtok_r(NULL, " \n", &p));
			inet_pton(e->af, strtok_r(NULL, " \n", &p), &e->addr); e->port = htons(atoi(strtok_r(NULL, " \n", &p)));
			e->fwmark = strtoul(strtok_r(NULL, " \n", &p), NULL, 10);
			strcpy(e->sched_name, strtok_r(NULL, " \n", &p)); e->flags = strtoul(strtok_r(NULL, " \n", &p), NULL, 10);
			e->timeout = strtoul(strtok_r(NULL, " \n", &p), NULL, 10);
			char *m = strtok_r(NULL, " \n", &p);
			if (e->af == AF_INET6) e->netmask = atoi(m); else inet_pton(AF_INET, m, &e->netmask);
			char *pe = strtok_r(NULL, " \n", &p); if (strcmp(pe, "-")) strcpy(e->pe_name, pe);
			rdstats(&p, &e->stats64);
		} else if (!strcmp(k, "dest")) {
			struct svc *s = &S[NS-1]; ipvs_dest_entry_t *d = &s->d[s->nd++]; memset(d, 0, sizeof *d);
			d->af = atoi(strtok_r(NULL, " \n", &p)); inet_pton(d->af, strtok_r(NULL, " \n", &p), &d->addr);
			d->port = htons(atoi(strtok_r(NULL, " \n", &p))); d->conn_flags = atoi(strtok_r(NULL, " \n", &p));
			d->weight = atoi(strtok_r(NULL, " \n", &p)); d->u_threshold = atoi(strtok_r(NULL, " \n", &p));
			d->l_threshold = atoi(strtok_r(NULL, " \n", &p)); d->activeconns = atoi(strtok_r(NULL, " \n", &p));
			d->inactconns = atoi(strtok_r(NULL, " \n", &p)); d->persistconns = atoi(strtok_r(NULL, " \n", &p));
			rdstats(&p, &d->stats64);
			char *t = strtok_r(NULL, " \n", &p);
			if (t) { d->tun_type = atoi(t); d->tun_port = htons(atoi(strtok_r(NULL, " \n", &p))); d->tun_flags = atoi(strtok_r(NULL, " \n", &p)); }
		}
	}
	fclose(f);
}
static void save(void) {
	const char *fn = getenv("IPVS_STATE"); FILE *f; char a[64];
	if (!fn || !dirty || !(f = fopen(fn, "w"))) return;
	fprintf(f, "info %x %u\ntimeout %d %d %d\n", ipvs_info.version, ipvs_info.size, TO.tcp_timeout, TO.tcp_fin_timeout, TO.udp_timeout);
	for (int i = 0; i < NS; i++) {
		ipvs_service_entry_t *e = &S[i].e;
		inet_ntop(e->af, &e->addr, a, sizeof a);
		fprintf(f, "svc %d %d %s %d %u %s %u %u ", e->af, e->protocol, a, ntohs(e->port), e->fwmark, e->sched_name, e->flags, e->timeout);
		if (e->af == AF_INET6) fprintf(f, "%u", e->netmask); else { inet_ntop(AF_INET, &e->netmask, a, sizeof a); fprintf(f, "%s", a); }
		fprintf(f, " %s", e->pe_name[0] ? e->pe_name : "-"); wrstats(f, &e->stats64); fprintf(f, "\n");
		for (int j = 0; j < S[i].nd; j++) {
			ipvs_dest_entry_t *d = &S[i].d[j]; inet_ntop(d->af, &d->addr, a, sizeof a);
			fprintf(f, "dest %d %s %d %u %d %u %u %u %u %u", d->af, a, ntohs(d->port), d->conn_flags, d->weight, d->u_threshold, d->l_threshold, d->activeconns, d->inactconns, d->persistconns);
			wrstats(f, &d->stats64); fprintf(f, " %d %d %d\n", d->tun_type, ntohs(d->tun_port), d->tun_flags);
		}
	}
	fclose(f);
}
static int same_svc(ipvs_service_entry_t *e, int fwmark, int af, int proto, union nf_inet_addr *addr, int port) {
	if (fwmark) return e->fwmark == (unsigned)fwmark && e->af == af;
	return !e->fwmark && e->af == af && e->protocol == proto && e->port == port &&
		!memcmp(&e->addr, addr, af == AF_INET6 ? 16 : 4);
}
static struct svc *find(ipvs_service_t *u) {
	for (int i = 0; i < NS; i++) if (same_svc(&S[i].e, u->fwmark, u->af, u->protocol, &u->addr, u->port)) return &S[i];
	return NULL;
}
static int finddest(struct svc *s, ipvs_dest_t *d) {
	for (int j = 0; j < s->nd; j++) if (s->d[j].af == d->af && s->d[j].port == d->port && !memcmp(&s->d[j].addr, &d->addr, d->af == AF_INET6 ? 16 : 4)) return j;
	return -1;
}
static int fail_errno(int e) { errno = e; return -1; }
static const char *scheds = "|rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|";
static int known_sched(const char *n) { char b[32]; snprintf(b, sizeof b, "|%s|", n); return strstr(scheds, b) != NULL; }
static void setsvc(ipvs_service_entry_t *e, ipvs_service_t *u) {
	strcpy(e->sched_name, u->sched_name); e->flags = u->flags; e->timeout = u->timeout; e->netmask = u->netmask; strcpy(e->pe_name, u->pe_name);
}
int ipvs_init(void) { ipvs_func = ipvs_init; load(); return 0; }
int ipvs_getinfo(void) { return 0; }
unsigned int ipvs_version(void) { return ipvs_info.version; }
void ipvs_close(void) { save(); }
int ipvs_flush(void) { ipvs_func = ipvs_flush; NS = 0; dirty = 1; save(); return 0; }
int ipvs_add_service(ipvs_service_t *u) {
	ipvs_func = ipvs_add_service;
	if (find(u)) return fail_errno(EEXIST);
	if (!known_sched(u->sched_name) || (u->pe_name[0] && strcmp(u->pe_name, "sip"))) return fail_errno(ENOENT);
	struct svc *s = &S[NS++]; memset(s, 0, sizeof *s);
	s->e.af = u->af; s->e.protocol = u->fwmark ? IPPROTO_TCP : u->protocol; s->e.addr = u->addr; s->e.port = u->port; s->e.fwmark = u->fwmark;
	setsvc(&s->e, u); dirty = 1; save(); return 0;
}
int ipvs_update_service(ipvs_service_t *u) {
	ipvs_func = ipvs_update_service; struct svc *s = find(u);
	if (!s) return fail_errno(ESRCH);
	if (!known_sched(u->sched_name) || (u->pe_name[0] && strcmp(u->pe_name, "sip"))) return fail_errno(ENOENT);
	setsvc(&s->e, u); dirty = 1; save(); return 0;
}
int ipvs_del_service(ipvs_service_t *u) {
	ipvs_func = ipvs_del_service; struct svc *s = find(u);
	if (!s) return fail_errno(ESRCH);
	int i = s - S; memmove(&S[i], &S[i+1], (NS-i-1) * sizeof S[0]); NS--; dirty = 1; save(); return 0;
}
int ipvs_zero_service(ipvs_service_t *u) {
	ipvs_func = ipvs_zero_service;
	static union nf_inet_addr zero;
	if (!u->fwmark && !u->port && !memcmp(&u->addr, &zero, sizeof zero)) {
		for (int i = 0; i < NS; i++) { memset(&S[i].e.stats64, 0, sizeof S[i].e.stats64); for (int j = 0; j < S[i].nd; j++) memset(&S[i].d[j].stats64, 0, sizeof S[i].d[j].stats64); }
		dirty = 1; save(); return 0;
	}
	struct svc *s = find(u); if (!s) return fail_errno(ESRCH);
	memset(&s->e.stats64, 0, sizeof s->e.stats64); for (int j = 0; j < s->nd; j++) memset(&s->d[j].stats64, 0, sizeof s->d[j].stats64);
	dirty = 1; save(); return 0;
}
static void setdest(ipvs_dest_entry_t *e, ipvs_dest_t *d) {
	e->conn_flags = d->conn_flags; e->weight = d->weight; e->u_threshold = d->u_threshold; e->l_threshold = d->l_threshold;
	e->tun_type = d->tun_type; e->tun_port = d->tun_port; e->tun_flags = d->tun_flags;
}
int ipvs_add_dest(ipvs_service_t *u, ipvs_dest_t *d) {
	ipvs_func = ipvs_add_dest; struct svc *s = find(u);
	if (!s) return fail_errno(ESRCH);
	if (d->weight < 0) return fail_errno(ERANGE);
	if (d->l_threshold > d->u_threshold) return fail_errno(ERANGE);
	if (finddest(s, d) >= 0) return fail_errno(EEXIST);
	memmove(&s->d[1], &s->d[0], s->nd * sizeof s->d[0]); s->nd++;
	ipvs_dest_entry_t *e = &s->d[0]; memset(e, 0, sizeof *e);
	e->af = d->af; e->addr = d->addr; e->port = d->port; setdest(e, d); dirty = 1; save(); return 0;
}
int ipvs_update_dest(ipvs_service_t *u, ipvs_dest_t *d) {
	ipvs_func = ipvs_update_dest; struct svc *s = find(u);
	if (!s) return fail_errno(ESRCH);
	int j = finddest(s, d); if (j < 0) return fail_errno(ENOENT);
	setdest(&s->d[j], d); dirty = 1; save(); return 0;
}
int ipvs_del_dest(ipvs_service_t *u, ipvs_dest_t *d) {
	ipvs_func = ipvs_del_dest; struct svc *s = find(u);
	if (!s) return fail_errno(ESRCH);
	int j = finddest(s, d); if (j < 0) return fail_errno(ENOENT);
	memmove(&s->d[j], &s->d[j+1], (s->nd-j-1) * sizeof s->d[0]); s->nd--; dirty = 1; save(); return 0;
}
int ipvs_set_timeout(ipvs_timeout_t *t) {
	ipvs_func = ipvs_set_timeout;
	if (t->tcp_timeout) TO.tcp_timeout = t->tcp_timeout;
	if (t->tcp_fin_timeout) TO.tcp_fin_timeout = t->tcp_fin_timeout;
	if (t->udp_timeout) TO.udp_timeout = t->udp_timeout;
	dirty = 1; save(); return 0;
}
int ipvs_start_daemon(ipvs_daemon_t *dm) { ipvs_func = ipvs_start_daemon; return fail_errno(EEXIST); }
int ipvs_stop_daemon(ipvs_daemon_t *dm) { ipvs_func = ipvs_stop_daemon; return fail_errno(ESRCH); }
struct ip_vs_get_services *ipvs_get_services(void) {
	ipvs_func = ipvs_get_services;
	struct ip_vs_get_services *g = calloc(1, sizeof *g + NS * sizeof(ipvs_service_entry_t));
	g->num_services = NS;
	for (int i = 0; i < NS; i++) { g->entrytable[i] = S[i].e; g->entrytable[i].num_dests = S[i].nd; }
	return g;
}
struct ip_vs_get_dests *ipvs_get_dests(ipvs_service_entry_t *se) {
	ipvs_func = ipvs_get_dests;
	for (int i = 0; i < NS; i++) if (same_svc(&S[i].e, se->fwmark, se->af, se->protocol, &se->addr, se->port)) {
		struct ip_vs_get_dests *d = calloc(1, sizeof *d + S[i].nd * sizeof(ipvs_dest_entry_t));
		d->num_dests = S[i].nd; memcpy(d->entrytable, S[i].d, S[i].nd * sizeof(ipvs_dest_entry_t));
		return d;
	}
	errno = ESRCH; return NULL;
}
ipvs_service_entry_t *ipvs_get_service(__u32 fwmark, __u16 af, __u16 protocol, union nf_inet_addr addr, __u16 port) {
	ipvs_func = ipvs_get_service;
	for (int i = 0; i < NS; i++) if (same_svc(&S[i].e, fwmark, af, protocol, &addr, port)) {
		ipvs_service_entry_t *e = malloc(sizeof *e); *e = S[i].e; e->num_dests = S[i].nd; return e;
	}
	errno = ESRCH; return NULL;
}
ipvs_timeout_t *ipvs_get_timeout(void) { ipvs_func = ipvs_get_timeout; ipvs_timeout_t *t = malloc(sizeof *t); *t = TO; return t; }
ipvs_daemon_t *ipvs_get_daemon(void) { ipvs_func = ipvs_get_daemon; return calloc(2, sizeof(ipvs_daemon_t)); }

/* Names come from $HOSTS_FILE ("addr name" lines) so listings are reproducible. */
static struct hostent H; static char *HA[2]; static char HB[16], HN[256];
static int hosts_lookup(int af, const void *addr, const char *name) {
	const char *fn = getenv("HOSTS_FILE"); FILE *f; char a[64], n[256], buf[16];
	if (!fn || !(f = fopen(fn, "r"))) return 0;
	while (fscanf(f, "%63s %255s", a, n) == 2) {
		int faf = strchr(a, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(faf, a, buf) <= 0) continue;
		if ((addr && faf == af && !memcmp(buf, addr, af == AF_INET6 ? 16 : 4)) || (name && !strcmp(name, n) && faf == AF_INET)) {
			memcpy(HB, buf, 16); strcpy(HN, n); H.h_name = HN; H.h_addrtype = faf; H.h_length = faf == AF_INET6 ? 16 : 4;
			HA[0] = HB; HA[1] = NULL; H.h_addr_list = HA; fclose(f); return 1;
		}
	}
	fclose(f); return 0;
}
struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type) { return hosts_lookup(type, addr, NULL) ? &H : NULL; }
struct hostent *gethostbyname(const char *name) { return hosts_lookup(0, NULL, name) ? &H : NULL; }
#include "extracted.c"

/* Ports come from $SERVICES_FILE (services(5) format) for the same reason. */
static struct servent SE; static char SEN[256], SEP[16]; static char *SEA[1];
static struct servent *serv_lookup(const char *name, int port, const char *proto) {
	const char *fn = getenv("SERVICES_FILE"); FILE *f; char line[1024];
	if (!fn || !(f = fopen(fn, "r"))) return NULL;
	while (fgets(line, sizeof line, f)) {
		char *h = strchr(line, '#'); if (h) *h = '\0';
		char *p, *n = strtok_r(line, " \t\n", &p), *pp = n ? strtok_r(NULL, " \t\n", &p) : NULL;
		if (!pp) continue;
		char *sl = strchr(pp, '/'); if (!sl || strcmp(sl + 1, proto)) continue;
		*sl = '\0'; int pn = atoi(pp); int hit = port >= 0 ? pn == port : !strcmp(n, name);
		for (char *a; !hit && port < 0 && (a = strtok_r(NULL, " \t\n", &p)); ) hit = !strcmp(a, name);
		if (hit) {
			snprintf(SEN, sizeof SEN, "%s", n); snprintf(SEP, sizeof SEP, "%s", proto);
			SE.s_name = SEN; SE.s_port = htons(pn); SE.s_proto = SEP; SEA[0] = NULL; SE.s_aliases = SEA;
			fclose(f); return &SE;
		}
	}
	fclose(f); return NULL;
}
struct servent *getservbyname(const char *name, const char *proto) { return serv_lookup(name, -1, proto); }
struct servent *getservbyport(int port, const char *proto) { return serv_lookup(NULL, ntohs(port), proto); }
