# Sourced by scripts/test.sh and bench/run.sh: installs Debian packages that
# are missing, without starting their daemons.
#
#   install_debs NAME STRICT PKG...
#
# NAME prefixes messages. When packages are missing and the caller is not
# root, STRICT=1 fails and STRICT=0 only warns (the tests that need them
# then skip).
install_debs() {
  local name=$1 strict=$2
  shift 2
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$name: missing Debian packages (${missing[*]}); run as root to install them" >&2
    [ "$strict" = 1 ] && return 1
    return 0
  fi
  echo "== installing ${missing[*]}"
  # The packages must not start their daemons (nginx and caddy would take
  # ports 80 and 443, iperf3 5201): tests and the benchmark start their own
  # instances on loopback. policy-rc.d exiting 101 forbids invoke-rc.d to
  # start anything.
  local policy=/usr/sbin/policy-rc.d created=
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created=1; fi
  local status=0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  if [ -n "$created" ]; then rm -f "$policy"; fi
  return $status
}
