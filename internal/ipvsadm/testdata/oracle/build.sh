#!/bin/sh
# Builds the ipvsadm 1.31 oracle used by `go test -oracle=...`:
# ipvsadm's own ipvsadm.c (Debian source package ipvsadm 1:1.31-1) linked
# with stub.c, an in-memory stand-in for the kernel behind the libipvs API.
# Nothing here is needed by the normal test run.
#
# usage: build.sh OUTDIR [IPVSADM_SOURCE_DIR]
# Needs: gcc, libpopt-dev, libnl-genl-3-dev (for ip_vs.h's includes), and,
# without IPVSADM_SOURCE_DIR, a deb-src entry for `apt-get source ipvsadm`.
set -eu
out=$(mkdir -p "$1" && cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
src=${2:-}
if [ -z "$src" ]; then
	(cd "$out" && apt-get source --download-only ipvsadm >/dev/null && tar xzf ipvsadm_1.31.orig.tar.gz)
	src=$out/ipvsadm-1.31
fi
cd "$out"
mkdir -p libipvs
cp "$src"/config_stream.[ch] "$src"/dynamic_array.[ch] .
cp "$src"/libipvs/*.h libipvs/
# The conn table is read from $IPVS_CONN_FILE instead of /proc/net/ip_vs_conn.
sed 's|#define CONN_PROC_FILE.*|#define CONN_PROC_FILE (getenv("IPVS_CONN_FILE") ? getenv("IPVS_CONN_FILE") : "/proc/net/ip_vs_conn")|' \
	"$src"/ipvsadm.c >ipvsadm.c
# libipvs.c's sort comparators and ipvs_strerror() are used as they are.
{
	awk '/^typedef int \(\*qsort_cmp_t\)/{p=1} p{print} /^ipvs_sort_services/{q=1} q&&/^}/{p=0;q=0}' "$src"/libipvs/libipvs.c
	awk '/^int ipvs_cmp_dests/{p=1} p{print} /^void ipvs_sort_dests/{q=1} q&&/^}/{p=0;q=0}' "$src"/libipvs/libipvs.c
	awk '/^const char \*ipvs_strerror/{p=1} p{print}' "$src"/libipvs/libipvs.c
} >extracted.c
cp "$here"/stub.c .
gcc -O1 -w -I. -I/usr/include/libnl3 -DVERSION=\"1.31\" \
	-DSCHEDULERS=\""$(cat "$src"/SCHEDULERS)"\" -DPE_LIST=\""$(cat "$src"/PERSISTENCE_ENGINES)"\" \
	ipvsadm.c config_stream.c dynamic_array.c stub.c -lpopt -o ipvsadm
echo "$out/ipvsadm"
