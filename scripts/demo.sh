#!/usr/bin/env bash
# The demo: a local fake Assistants server on loopback, the example handlers, a real SQLite file,
# one run driven to its end, and its history printed with the sqlite3 CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
swift build --product toolworker
echo "toolworker: the run loop is not built yet; see the open issues." >&2
