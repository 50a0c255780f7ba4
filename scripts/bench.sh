#!/usr/bin/env bash
# ToolWorker's benchmark, side by side: every figure is printed next to a reference measured in the same run, as a
# ratio (never as an absolute pass/fail). Release build; needs curl, python3 (the official openai SDK is
# installed into a virtualenv under .build-bench). Takes a few minutes on 2 cores.
#   scripts/bench.sh            everything
#   BENCH_RUNS=3 scripts/bench.sh
#   BENCH_ONLY=scale scripts/bench.sh
#                               only the many-runs rows (500, 2,000 and 10,000 runs through one serve)
#   scripts/bench.sh --compare REV
#                               the regression guard: REV built in a worktree beside this one (.build-compare/),
#                               then the engine, whole-loop, dispatch, sandbox and whole-process ingest figures of both
#                               builds, run in turn, each printed as new/old (medians of BENCH_RUNS runs each)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_PACKAGES="curl python3-venv postgresql" scripts/ensure-deps.sh
runs=${BENCH_RUNS:-5}
if [ "${1:-}" = "--compare" ]; then
    rev=$(git rev-parse --verify "${2:?--compare takes a revision}^{commit}")
    old=".build-compare/${rev:0:12}"
    if [ ! -d "$old" ]; then
        mkdir -p .build-compare
        git worktree add --force --detach "$old" "$rev" >&2
    fi
    for product in Benchmarks toolworker fake-assistants; do swift build -c release --product "$product" >&2; done
    for product in Benchmarks toolworker; do (cd "$old" && swift build -c release --product "$product" >&2); done
    new_dir="$(swift build -c release --show-bin-path)"
    old_dir="$(cd "$old" && swift build -c release --show-bin-path)"
    new_bin="$new_dir/Benchmarks"
    old_bin="$old_dir/Benchmarks"
    echo "# ToolWorker benchmark, $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes') (new) against ${rev:0:12} (old) — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
    for part in engine loop "dispatch" sandbox; do
        echo "## $part"
        case $part in
            dispatch) env="ROUNDS=300" ;;
            sandbox) env="CALLS=200" ;;
            *) env="" ;;
        esac
        python3 scripts/bench-compare.py "$runs" "env $env $new_bin $part" "env $env $old_bin $part"
    done
    # Ingest, whole process: `toolworker run` of each build reading the same stream from one local server, every
    # event stored (the new build's fake server; a fresh journal each run).
    work=$(mktemp -d /tmp/toolworker-compare.XXXXXX)
    export OPENAI_API_KEY="sk-fake-bench-key"
    "$new_dir/fake-assistants" --port-file "$work/port" --api-key "$OPENAI_API_KEY" >"$work/fake.log" 2>&1 &
    fake=$!
    trap 'kill $fake 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
    for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
    printf 'api: { base_url: "http://127.0.0.1:%s/v1", api_key_env: OPENAI_API_KEY }\ndatabase: %s/ingest.db\nsnapshots: lifecycle\ntools: {}\n' \
        "$(cat "$work/port")" "$work" >"$work/ingest.yaml"
    for deltas in 20k 100k; do
        echo "## ingest $deltas"
        timed="python3 -c 'import subprocess, sys, time; t = time.perf_counter(); subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(f\"ingest $deltas deltas, toolworker run: {time.perf_counter() - t:.3f} s\")'"
        python3 scripts/bench-compare.py "$runs" \
            "rm -f $work/ingest.db*; $timed x $new_dir/toolworker run --config $work/ingest.yaml --assistant asst_stream_$deltas --message go" \
            "rm -f $work/ingest.db*; $timed x $old_dir/toolworker run --config $work/ingest.yaml --assistant asst_stream_$deltas --message go"
    done
    exit 0
fi
work=$(mktemp -d /tmp/toolworker-bench.XXXXXX)
mkdir -p .build-bench
swift build -c release --product toolworker >&2
swift build -c release --product fake-assistants >&2
swift build -c release --product Benchmarks >&2
bin=$(swift build -c release --show-bin-path)
if [ ! -x .build-bench/venv/bin/python ]; then
    python3 -m venv .build-bench/venv
    .build-bench/venv/bin/pip install -q 'openai>=1.40,<2' >&2
fi
export OPENAI_API_KEY="sk-fake-bench-key"
"$bin/fake-assistants" --port-file "$work/port" --api-key "$OPENAI_API_KEY" >"$work/fake.log" 2>&1 &
fake=$!
trap 'kill $fake 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
base="http://127.0.0.1:$(cat "$work/port")/v1"

cat >"$work/sdk.py" <<'PY'
# The official openai SDK consuming the same stream: AssistantEventHandler, no persistence.
import sys
from openai import OpenAI, AssistantEventHandler
class Count(AssistantEventHandler):
    events = 0
    def on_event(self, event):
        Count.events += 1
client = OpenAI(base_url=sys.argv[1], api_key=sys.argv[2])
thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])
with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=sys.argv[3], event_handler=Count()) as stream:
    stream.until_done()
assert Count.events > 1000, Count.events
PY

for snapshots in lifecycle all; do
    cat >"$work/$snapshots.yaml" <<YAML
api: { base_url: "$base", api_key_env: OPENAI_API_KEY }
database: $work/$snapshots.db
snapshots: $snapshots
tools: {}
YAML
done

echo "# ToolWorker benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
if [ "${BENCH_ONLY:-}" != scale ]; then
echo "# ingest: the same stream from the same local server, read by curl (the floor), by the openai SDK, and by toolworker run (every event persisted)"
cat >"$work/interleave.py" <<'PY'
# Runs the commands of one ingest size in turn, round after round (curl, the SDK, toolworker, then again), so each
# round's figures share the machine's state of that moment; prints each command's median and its median ratio to
# curl's time in the same round (this shared, noisy machine moves absolute times by ±30 % between minutes).
import json, statistics, subprocess, sys, time
deltas, runs, commands = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
times = {name: [] for name, _ in commands}
for round_ in range(runs + 1):
    for name, command in commands:
        start = time.perf_counter()
        subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if round_ > 0:  # the first round warms up
            times[name].append(time.perf_counter() - start)
events = {"20k": 20000, "100k": 100000}[deltas]
for name, _ in commands:
    median = statistics.median(times[name])
    ratio = statistics.median(t / c for t, c in zip(times[name], times["curl"]))
    print(f"ingest {deltas:>4} deltas  {name:<11} median {median:7.3f} s  ({events / median:9.0f} deltas/s)  {ratio:5.2f}x curl")
PY
for deltas in 20k 100k; do
    curl_cmd="curl -sS -N -o /dev/null -X POST $base/threads/runs -H 'Authorization: Bearer $OPENAI_API_KEY' -H 'OpenAI-Beta: assistants=v2' -H 'Content-Type: application/json' -d '{\"assistant_id\":\"asst_stream_$deltas\",\"stream\":true}'"
    python3 "$work/interleave.py" "$deltas" "$runs" "$(python3 -c 'import json, sys; print(json.dumps([["curl", sys.argv[1]], ["openai-sdk", sys.argv[2]], ["toolworker", sys.argv[3]]]))' \
        "$curl_cmd" \
        ".build-bench/venv/bin/python $work/sdk.py $base $OPENAI_API_KEY asst_stream_$deltas" \
        "rm -f $work/lifecycle.db*; $bin/toolworker run --config $work/lifecycle.yaml --assistant asst_stream_$deltas --message go")"
done

echo "# engine: SSE parse + decode + accumulate, no I/O"
"$bin/Benchmarks" engine | grep -E "^engine"
echo "# dispatch: requires_action received -> submit sent, minus the handler; next to a bare posix_spawn+waitpid of /bin/true"
ROUNDS=500 "$bin/Benchmarks" dispatch | grep -E "overhead|bare"
echo "# sandbox: one call of /bin/true, unconfined and under limits (interleaved call by call)"
CALLS=300 "$bin/Benchmarks" sandbox | grep -E "^sandbox"
echo "# bytes stored per event, both snapshot policies (2,000 deltas)"
for snapshots in lifecycle all; do
    rm -f "$work/$snapshots.db"*
    "$bin/toolworker" run --config "$work/$snapshots.yaml" --assistant asst_stream_2k --message go >/dev/null
    events=$(sqlite3 -readonly "$work/$snapshots.db" "SELECT count(*) FROM events")
    bytes=$(sqlite3 -readonly "$work/$snapshots.db" "SELECT sum(length(CAST(data AS BLOB))) FROM events")
    snapbytes=$(sqlite3 -readonly "$work/$snapshots.db" "SELECT coalesce(sum(length(CAST(data AS BLOB))), 0) FROM snapshots")
    file=$(cat "$work/$snapshots.db" "$work/$snapshots.db-wal" 2>/dev/null | wc -c)
    echo "snapshots=$snapshots: $events events; event data $((bytes / events)) B/event, snapshot data $((snapbytes / events)) B/event, database and WAL $((file / events)) B/event"
done

echo "# PostgreSQL journal (a throw-away cluster on loopback, as the tests start one), beside SQLite in the same run"
pg_dir=$(mktemp -d /tmp/toolworker-bench-pg.XXXXXX)
if pg_url=$(scripts/postgres-cluster.sh start "$pg_dir" 2>/dev/null); then
    TOOLWORKER_BENCH_POSTGRES_URL="$pg_url" "$bin/Benchmarks" store >"$work/pg-store.txt"
    TOOLWORKER_BENCH_POSTGRES_URL="$pg_url" ROUNDS=200 "$bin/Benchmarks" dispatch >"$work/pg-dispatch.txt"
    scripts/postgres-cluster.sh stop "$pg_dir" || true
    grep -E "^store, group commit, snapshots=lifecycle|^store on PostgreSQL" "$work/pg-store.txt"
    grep -E "^dispatch overhead \(.*journal on (SQLite|PostgreSQL)\)" "$work/pg-dispatch.txt"
    python3 - "$work/pg-store.txt" "$work/pg-dispatch.txt" <<'PY'
import re, sys
store = open(sys.argv[1]).read()
m = re.search(r"SQLite is ([0-9.]+)x that", store)
if m:
    print(f"ingest ratio: PostgreSQL at {1 / float(m.group(1)):.2f}x SQLite's events/s")
medians = {}
for line in open(sys.argv[2]):
    m = re.match(r"dispatch overhead \((\w+), journal on (SQLite|PostgreSQL)\) over \d+ rounds: median ([0-9.]+) ms", line)
    if m:
        medians[(m.group(1), m.group(2))] = float(m.group(3))
for protocol in sorted({p for p, _ in medians}):
    if (protocol, "SQLite") in medians and (protocol, "PostgreSQL") in medians:
        print(f"dispatch ratio ({protocol}): PostgreSQL median {medians[(protocol, 'PostgreSQL')] / medians[(protocol, 'SQLite')]:.2f}x SQLite median")
PY
else
    rm -rf "$pg_dir"
    echo "(PostgreSQL could not be started here: no figures)"
fi
fi

# many_runs COUNT ASSISTANT NAME: COUNT jobs of ASSISTANT through one `serve` (concurrency.runs COUNT, soft open-file
# limit 1024 as under systemd); prints "NAME: … succeeded in … s wall, up to … open at once; peak RSS; CPU per run;
# events lost" (each run must have stored as many events as one run of ASSISTANT alone).
many_runs() {
    local count=$1 assistant=$2 name=$3
    local db="$work/$assistant-$count.db"
    sed -e "s|$work/serve.db|$db|" -e "s|runs: 500|runs: $count|" "$work/serve.yaml" >"$work/$assistant.yaml"
    "$bin/toolworker" run --config "$work/one.yaml" --assistant "$assistant" --message go >/dev/null
    local expected
    expected=$(sqlite3 -readonly "$work/one.db" "SELECT count(*) FROM events WHERE run = (SELECT max(id) FROM runs)")
    "$bin/toolworker" migrate --config "$work/$assistant.yaml" >/dev/null
    sqlite3 "$db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $count)
      INSERT INTO jobs (assistant_id, message, created_at, updated_at) SELECT '$assistant', 'go', 0, 0 FROM n"
    local start end serve peak=0 open rss user sys lost ok
    start=$(date +%s.%N)
    # serve budgets 4 descriptors a run (runsWithinOpenFileLimit): a hard limit below that runs fewer at once (the
    # line says how many were open). Raising it needs root (or LimitNOFILE= in the unit).
    (ulimit -Hn $((count * 4 + 1024)) 2>/dev/null || true; ulimit -Sn 1024; exec /usr/bin/time -f "%M %U %S" -o "$work/$assistant.time" "$bin/toolworker" serve --config "$work/$assistant.yaml" 2>"$work/$assistant.log") &
    serve=$!
    until [ "$(sqlite3 -readonly "$db" "SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed','cancelled')" 2>/dev/null || echo 0)" = "$count" ]; do
        open=$(sqlite3 -readonly "$db" "SELECT count(*) FROM runs WHERE ended_at IS NULL" 2>/dev/null || echo 0)
        [ "$open" -gt "$peak" ] && peak=$open
        sleep 0.2
    done
    end=$(date +%s.%N)
    pkill -TERM -P $serve toolworker  # the daemon under /usr/bin/time, which then writes its figures
    wait $serve || true
    read -r rss user sys <"$work/$assistant.time"
    lost=$(sqlite3 -readonly "$db" "SELECT $count * $expected - count(*) FROM events")
    ok=$(sqlite3 -readonly "$db" "SELECT count(*) FROM jobs WHERE state = 'succeeded'")
    python3 -c "print(f'$name: {$ok} succeeded in {$end - $start:.1f} s wall, up to {$peak} open at once; peak RSS {$rss / 1024:.0f} MiB; {($user + $sys) / $count * 1000:.1f} ms CPU per run; events lost: {$lost}')"
}

mkdir -p "$work/tools"
printf '#!/bin/sh\ncat >/dev/null\necho ok\n' >"$work/tools/get_weather.sh"; chmod +x "$work/tools/get_weather.sh"
cat >"$work/serve.yaml" <<YAML
api: { base_url: "$base", api_key_env: OPENAI_API_KEY }
database: $work/serve.db
concurrency: { runs: 500, tool_calls: 64 }
tools:
  get_weather: { command: ["$work/tools/get_weather.sh"], timeout: 30s }
YAML
sed "s|$work/serve.db|$work/one.db|" "$work/serve.yaml" >"$work/one.yaml"
echo "# 500 concurrent runs in one serve (asst_stream_20k is too long for 500 at once on 2 cores: asst_two_rounds with handlers)"
many_runs 500 asst_two_rounds "500 runs"
echo "# 2,000 concurrent streaming runs in one serve (asst_slow_stream: 200 deltas 20 ms apart, all open at once), soft open-file limit 1024 as under systemd"
many_runs 2000 asst_slow_stream "2,000 streaming runs"
echo "# 10,000 streaming runs through one serve (the same stream; serve budgets 4 descriptors a run: all at once needs a hard open-file limit of 41,024, raised here when permitted)"
many_runs 10000 asst_slow_stream "10,000 streaming runs"
