#!/usr/bin/env bash
# Builds the ipvsadm 1.31 oracle (ipvsadm's own C code over an in-memory
# kernel stand-in, see internal/ipvsadm/testdata/oracle/) and prints its path.
# The source comes from Debian's archive, pinned by checksum.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.cache/ipvsadm-oracle}
url=http://deb.debian.org/debian/pool/main/i/ipvsadm/ipvsadm_1.31.orig.tar.gz
sum=7276bcf214f31051188b2e44f11029e57303f37e54126e517000c1b2123a6d4e
mkdir -p "$out"
if [ ! -x "$out/ipvsadm" ]; then
  tgz="$out/ipvsadm_1.31.orig.tar.gz"
  [ -f "$tgz" ] || curl -fsS -o "$tgz" "$url"
  echo "$sum  $tgz" | sha256sum -c --quiet -
  tar -C "$out" -xzf "$tgz"
  sh internal/ipvsadm/testdata/oracle/build.sh "$out/build" "$(cd "$out" && pwd)/ipvsadm-1.31" >/dev/null
  cp "$out/build/ipvsadm" "$out/ipvsadm"
fi
echo "$(cd "$out" && pwd)/ipvsadm"
