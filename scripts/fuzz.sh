#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SSE] [JSON] [Config] [Responses]   (all four by default)
# Runs each libFuzzer target for a bounded time (default 60 s each; FUZZ_SECONDS=N to change), starting from the
# committed corpus and every regression input. A crash leaves its input in Fuzz/crashes/<target>/: add it to
# Fuzz/regressions/ (and a test) once fixed. Build: a separate scratch folder, with -sanitize=fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
seconds="${FUZZ_SECONDS:-60}"
scratch=.build-fuzz
export TOOLWORKER_FUZZ=1
status=0
for target in ${*:-SSE JSON Config Responses}; do
    lower=$(echo "$target" | tr '[:upper:]' '[:lower:]')
    swift build -c release --scratch-path "$scratch" --product "Fuzz$target" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 | tail -2
    binary="$scratch/release/Fuzz$target"
    work=$(mktemp -d)
    cp -r "Fuzz/corpus/$lower/." "$work/" 2>/dev/null || true
    mkdir -p "Fuzz/crashes/$lower"
    # Regression inputs first: each must pass.
    if ls Fuzz/regressions/"$lower"-* >/dev/null 2>&1; then
        "$binary" -runs=0 Fuzz/regressions/"$lower"-* || { echo "fuzz: a regression input of $target fails" >&2; status=1; }
    fi
    echo "fuzz: $target for ${seconds}s" >&2
    if ! "$binary" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="Fuzz/crashes/$lower/" "$work" 2>"$work.log"; then
        echo "fuzz: $target found a crash; see Fuzz/crashes/$lower/ and $work.log" >&2
        tail -30 "$work.log" >&2
        status=1
    else
        grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$work.log" | tail -1 >&2 || true
    fi
    rm -rf "$work"
done
exit $status
