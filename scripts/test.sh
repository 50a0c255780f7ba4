#!/usr/bin/env bash
# The whole test suite, from a fresh clone: system packages, build, the Debian package and its checks, tests.
# TOOLWORKER_SKIP_PACKAGE=1 leaves out the package (a release build) for quick local runs.
# The PostgreSQL tests run against a throw-away cluster started here (initdb + pg_ctl on a free loopback port, owned
# by an unprivileged user) and removed at exit; without one they are skipped with a message saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_PACKAGES="systemd lintian man-db dpkg-dev postgresql postgresql-client bubblewrap chromium" scripts/ensure-deps.sh
if [ -z "${TOOLWORKER_TEST_POSTGRES_URL:-}" ]; then
    pg_dir=$(mktemp -d /tmp/toolworker-test-pg.XXXXXX)
    trap 'scripts/postgres-cluster.sh stop "$pg_dir"' EXIT
    if url=$(scripts/postgres-cluster.sh start "$pg_dir"); then
        export TOOLWORKER_TEST_POSTGRES_URL="$url"
        echo "PostgreSQL test cluster: $url" >&2
    else
        echo "WARNING: PostgreSQL could not be started; the PostgreSQL tests will be skipped" >&2
        export TOOLWORKER_TEST_POSTGRES_URL=""
        export TOOLWORKER_TEST_NO_POSTGRES=1
    fi
fi
# The MCP tests run servers on the reference `mcp` Python package (ours on it, and mcp-server-time, a reference
# server that is not ours), installed from PyPI into the build folder; without them those tests are skipped.
mcp_python="$PWD/.build/mcp-python"
if [ ! -f "$mcp_python/mcp/__init__.py" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --root-user-action=ignore --target "$mcp_python" "mcp==2.3.0" "mcp-server-time==2026.10.19" \
        || echo "WARNING: the mcp Python package could not be installed; the MCP tests will be skipped" >&2
fi
export TOOLWORKER_TEST_MCP_PYTHONPATH="$mcp_python"
# `toolworker replay` is read back by the official openai-python SDK's stream readers, exported traces are decoded
# by a receiver on OpenTelemetry's own protobuf definitions, and the console is driven in headless Chromium by
# Playwright (their own folder: they bring other versions of what mcp needs).
sdk_python="$PWD/.build/sdk-python"
if [ ! -f "$sdk_python/openai/__init__.py" ] || [ ! -d "$sdk_python/opentelemetry/proto" ] || [ ! -d "$sdk_python/playwright" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --root-user-action=ignore --target "$sdk_python" \
        "openai==3.63.0" "opentelemetry-proto==1.45.2" "playwright==1.65.3" \
        || echo "WARNING: the openai, opentelemetry-proto or playwright Python package could not be installed; the replay, tracing and console tests will fail" >&2
fi
export TOOLWORKER_TEST_SDK_PYTHONPATH="$sdk_python"
# The layering in Package.swift is enforced, not only described: a target importing a module that is not one of its
# direct dependencies fails (SwiftPM's own check only refuses imports outside the whole dependency closure), and so
# does a target missing from docs/ARCHITECTURE.md; the self-test shows the check catching planted violations.
python3 scripts/check-imports.py --self-test
python3 scripts/check-imports.py
swift build --build-tests --explicit-target-dependency-import-check error
if [ -z "${TOOLWORKER_SKIP_PACKAGE:-}" ]; then
    deb=$(scripts/package-deb.sh .build-deb | tail -1)
    scripts/check-package.sh "$deb"
    # Test what ships: every end-to-end test that runs `toolworker` (serve, run, tools, check-config, the MCP and
    # sandbox ones among them) runs the binary from the package, a stripped release build, not the debug one.
    rm -rf .build-deb/root && dpkg-deb -x "$deb" .build-deb/root
    export TOOLWORKER_TEST_BINARY="$PWD/.build-deb/root/usr/bin/toolworker"
    echo "end-to-end tests run the packaged binary $TOOLWORKER_TEST_BINARY" >&2
fi
swift test --skip-build "$@"
