#!/usr/bin/env bash
# The whole test suite, from a fresh clone: system packages, build, the Debian package and its checks, tests.
# TOOLWORKER_SKIP_PACKAGE=1 leaves out the package (a release build) for quick local runs.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_PACKAGES="systemd lintian man-db dpkg-dev" scripts/ensure-deps.sh
swift build --build-tests
if [ -z "${TOOLWORKER_SKIP_PACKAGE:-}" ]; then
    deb=$(scripts/package-deb.sh .build-deb | tail -1)
    scripts/check-package.sh "$deb"
fi
swift test --skip-build "$@"
