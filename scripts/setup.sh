#!/usr/bin/env bash
# Installs the Debian packages Slipway runs and tests with. Idempotent: packages already
# present are left alone, and apt is not touched at all when nothing is missing.
set -euo pipefail

PACKAGES=(
  # the embedded store and the per-environment databases
  postgresql-15 postgresql-client-15
  # load balancer, sandboxes, networking for the local provider
  haproxy bubblewrap iproute2 iputils-ping runc podman
  # packaging and the APT repository
  dpkg-dev reprepro git
  # the console's browser tests
  chromium
  # tests that trace which processes see a secret (the post-receive hook's)
  strace
  # monitoring
  prometheus prometheus-alertmanager
  # the reference application (Laravel 8 on PHP 8.2)
  php-cli php-fpm php-pgsql php-curl php-mbstring php-xml phpunit composer php-laravel-framework
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} Debian packages Slipway needs are installed"
  exit 0
fi

echo "setup: Slipway needs these Debian packages that are not installed:"
printf '  %s\n' "${missing[@]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: installing them needs root; run this script as root (sudo bash scripts/setup.sh), then try again" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q -o DPkg::Lock::Timeout=600
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
# the postgres system user runs every PostgreSQL cluster Slipway starts (PostgreSQL refuses root)
id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
echo "setup: done"
