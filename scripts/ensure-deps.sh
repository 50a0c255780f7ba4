#!/usr/bin/env bash
# Installs the Debian packages ToolWorker builds and runs against, where missing (needs root or sudo).
set -euo pipefail
need=()
for pkg in libcurl4-openssl-dev libssl-dev libsqlite3-dev libpq-dev sqlite3 ${EXTRA_PACKAGES:-}; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
