#!/usr/bin/env bash
# `make bench`: installs the peers from Debian, builds Fulcrum and the harness
# from this tree, and runs bench/cmd/fulcrum-bench, which prints the comparison
# table and writes it to bench/results/DATE.md. See docs/performance.md.
#
#   BENCH_QUICK=1    one round of short runs (a smoke test, under 3 minutes)
#   BENCH_PROFILE=1  also take Fulcrum CPU and heap profiles (bench/results/*.pprof)
#   BENCH_ARGS=...   more flags for fulcrum-bench (-rounds, -duration, -targets, ...)
#   BENCH_FULCRUM=/path/to/fulcrum  measure that binary instead of building ./cmd/fulcrum
#                    (to compare two builds)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
command -v go >/dev/null || { echo "bench: Go is not installed (expected /usr/local/go)" >&2; exit 1; }

# The peers and the load generators. Installed only when missing.
pkgs=(
  nginx-light libnginx-mod-stream   # nginx as L7 proxy and (stream) L4 proxy
  haproxy caddy                     # the other peers
  wrk nghttp2-client iperf3         # load: HTTP/1.1, HTTP/2 (h2load), bulk TCP
  nftables                          # XDP packets/s against nftables DNAT (test/xdp)
  util-linux                        # taskset
)
. scripts/debs.sh
install_debs bench 1 "${pkgs[@]}"

# 10,000 idle connections need as many descriptors in the client and in the
# proxy: take the hard limit (20,000 on the project's machines).
ulimit -n "$(ulimit -Hn)"

bin=$(mktemp -d /tmp/fulcrum-bench-bin.XXXXXX)
pidfile="$bin/pids"
harness_pid=
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$harness_pid" ] && kill -0 "$harness_pid" 2>/dev/null; then
    kill -TERM "$harness_pid" 2>/dev/null || true
    wait "$harness_pid" 2>/dev/null || true
  fi
  # Whatever the harness left behind: every process group it started is
  # listed in the pid file while it runs.
  if [ -f "$pidfile" ]; then
    while read -r pid; do
      [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true
    done <"$pidfile"
  fi
  rm -rf "$bin"
  exit "$status"
}
trap cleanup EXIT INT TERM

echo "== building fulcrum and the harness"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then commit="$commit with uncommitted changes"; fi
commit="built from the tree at $commit"
if [ -n "${BENCH_FULCRUM:-}" ]; then
  cp "$BENCH_FULCRUM" "$bin/fulcrum"
  commit="the binary $BENCH_FULCRUM ($("$bin/fulcrum" version 2>/dev/null | head -1))"
else
  go build -o "$bin/fulcrum" ./cmd/fulcrum
fi
go build -o "$bin/backend" ./bench/backend
go build -o "$bin/idleconns" ./bench/cmd/idleconns
go build -o "$bin/fulcrum-bench" ./bench/cmd/fulcrum-bench

args=(-fulcrum "$bin/fulcrum" -backend "$bin/backend" -idleconns "$bin/idleconns"
      -repo "$PWD" -out "$PWD/bench/results" -pidfile "$pidfile" -commit "$commit")
case "${BENCH_QUICK:-0}" in 0|"") ;; *) args+=(-quick) ;; esac
case "${BENCH_PROFILE:-0}" in 0|"") ;; *) args+=(-profile) ;; esac
# shellcheck disable=SC2206 # BENCH_ARGS is split into flags on purpose
extra=(${BENCH_ARGS:-})

echo "== running (proxies on CPU 1, load generators and backends on CPU 0)"
# The harness itself mostly waits; it sits with the load generators.
taskset -c 0 "$bin/fulcrum-bench" "${args[@]}" "${extra[@]}" "$@" &
harness_pid=$!
wait "$harness_pid"
