#!/usr/bin/env bash
# Installs the Debian packages the replication benchmark compares Slipway with (bench/replication.ts):
# Bucardo 5.6 (with PL/Perl for its control database) and Slony-I 2.2 for PostgreSQL 15.
# Bench-only: CI and `npm test` never need these. Idempotent like scripts/setup.sh: packages already
# present are left alone, and apt is not touched at all when nothing is missing.
set -euo pipefail

PACKAGES=(
  # Bucardo: the daemon, its Perl modules, and PL/Perl for the bucardo control database
  bucardo libdbix-safe-perl libdbd-pg-perl libboolean-perl libpod-parser-perl postgresql-plperl-15
  # Slony-I: slon and slonik, and the server-side functions for PostgreSQL 15
  slony1-2-bin postgresql-15-slony1-2
  # pgbench and psql
  postgresql-15 postgresql-client-15 postgresql-contrib
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-bench: all ${#PACKAGES[@]} Debian packages the replication benchmark needs are installed"
  exit 0
fi

echo "setup-bench: the replication benchmark needs these Debian packages that are not installed:"
printf '  %s\n' "${missing[@]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-bench: installing them needs root; run this script as root (sudo bash scripts/setup-bench.sh)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Debian's packages would start their own daemons and clusters under systemd; there is none here, and
# policy-rc.d keeps any init script quiet during the install either way.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -q -o DPkg::Lock::Timeout=600
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
echo "setup-bench: done"
