#!/usr/bin/env bash
# Regenerates the committed XDP objects of internal/xdp (lb_bpfel.go,
# lb_bpfel.o) from internal/xdp/bpf/*.c with bpf2go, the go.mod tool.
# CI can run it and then `git diff --exit-code internal/xdp` to prove the
# committed objects match the sources. Needs Debian's clang, llvm (for
# llvm-strip) and libbpf-dev; run as root to have them installed.
# The output is reproducible: bpf2go maps the source directory to a relative
# path (-fdebug-prefix-map) and strips DWARF; no timestamps are embedded.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

pkgs=(clang llvm libbpf-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "xdp-generate.sh: missing Debian packages (${missing[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's clang does not search the multiarch directory that holds asm/types.h.
FULCRUM_MULTIARCH_INCLUDE="/usr/include/$(gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH)"
export FULCRUM_MULTIARCH_INCLUDE
# Pin the tools bpf2go runs, so a newer clang elsewhere on PATH is not used.
export BPF2GO_CC=clang BPF2GO_STRIP=llvm-strip
# Fixed flags only: no -mcpu=probe, no host-dependent defines.
cd internal/xdp
go generate ./...
