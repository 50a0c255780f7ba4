#!/usr/bin/env bash
# The whole test suite, from a fresh clone: system packages, build, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_PACKAGES="systemd" scripts/ensure-deps.sh
swift build --build-tests
swift test --skip-build "$@"
