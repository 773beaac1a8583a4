#!/usr/bin/env bash
# Installs Debian's chromium and chromedriver for the browser tests when either is missing.
# Quiet and idempotent; needs root (CI runs as root). Without root it says what to run and
# the browser tests skip (locally) or fail (CI=true).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "browser tests need: sudo apt-get install -y chromium chromium-driver" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt_get=(apt-get -qq -o DPkg::Lock::Timeout=300)
"${apt_get[@]}" update >/dev/null
"${apt_get[@]}" install -y --no-install-recommends chromium chromium-driver >/dev/null
