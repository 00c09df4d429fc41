#!/usr/bin/env bash
# Installs what Fulcrum's tests need on a fresh Debian machine, then runs every test.
# This is the README's test command; .ci/run calls it unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
command -v go >/dev/null || { echo "test.sh: Go is not installed (expected /usr/local/go)" >&2; exit 1; }

# Debian packages the tests use. Installed only when missing, so a second run is fast.
pkgs=(
  iproute2 curl strace                      # namespaces, probes, the splice check
  gcc libc6-dev libpopt-dev libnl-genl-3-dev # the ipvsadm 1.31 oracle (scripts/ipvsadm-oracle.sh)
  keepalived                                # keepalived -t as the oracle for keepalived.conf parsing
  nginx-light haproxy                       # oracles for L7 routing and balancing
  clang llvm libbpf-dev                     # rebuilding the XDP objects to prove they match the C sources
)
. scripts/debs.sh
install_debs test.sh 0 "${pkgs[@]}"

echo "== ipvsadm 1.31 oracle"
if oracle=$(./scripts/ipvsadm-oracle.sh); then
  export FULCRUM_IPVSADM_ORACLE="$oracle"
else
  echo "test.sh: could not build the ipvsadm oracle; ipvsadm byte-compatibility is then only checked against golden files" >&2
fi

echo "== XDP objects match their C sources"
./scripts/xdp-generate.sh
if ! git diff --quiet -- internal/xdp 2>/dev/null; then
  git diff --stat -- internal/xdp >&2
  echo "test.sh: internal/xdp's generated objects differ from what scripts/xdp-generate.sh builds; regenerate and commit them" >&2
  exit 1
fi

echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
# Unit and package tests first; then the end-to-end and namespace tests, which
# time failovers and reloads and so run alone rather than beside a busy build.
echo "== go test (packages)"
go test -race -count=1 -timeout 15m $(go list ./... | grep -v '/test/')
for pkg in $(go list ./test/...); do
  echo "== go test $pkg"
  go test -race -count=1 -timeout 10m "$pkg"
done
