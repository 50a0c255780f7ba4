#!/usr/bin/env bash
# The demo: a local fake Assistants server on loopback, the example handlers, a real SQLite file,
# one run driven to its end by `toolworker run`, and its history printed with the sqlite3 CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
swift build --product toolworker >&2
swift build --product fake-assistants >&2
bin=$(swift build --show-bin-path)
work=$(mktemp -d /tmp/toolworker-demo.XXXXXX)
export OPENAI_API_KEY="sk-fake-demo-key"

"$bin/fake-assistants" --port-file "$work/port" --api-key "$OPENAI_API_KEY" > "$work/fake.log" 2>&1 &
fake=$!
trap 'kill $fake 2>/dev/null || true' EXIT INT TERM HUP PIPE
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
port=$(cat "$work/port")

cat > "$work/toolworker.yaml" <<YAML
api:
  base_url: http://127.0.0.1:$port/v1
database: $work/toolworker.db
tools:
  get_weather:
    command: ["$PWD/deploy/tools/get_weather.sh"]
    timeout: 10s
    env: { UNITS: metric }
    description: "Current weather for a city"
    parameters: { type: object, properties: { city: { type: string } }, required: [city] }
prices:
  gpt-4o: { input: 2.50, cached_input: 1.25, output: 10.00 }
YAML

echo "== toolworker run (fake server at http://127.0.0.1:$port/v1, assistant asst_parallel: two parallel get_weather calls)"
"$bin/toolworker" run --config "$work/toolworker.yaml" --assistant asst_parallel \
    --message "What is the weather in Paris and Tokyo?" --metadata demo=1

echo
echo "== history, with the sqlite3 CLI ($work/toolworker.db)"
sqlite3 -readonly -box "$work/toolworker.db" \
    "SELECT run_id, status, rounds, tool_calls, tool_errors, duration_s FROM run_history;"
sqlite3 -readonly -box "$work/toolworker.db" \
    "SELECT tool, state, duration_ms, arguments, output FROM tool_call_log;"
sqlite3 -readonly -box "$work/toolworker.db" \
    "SELECT seq, stream, event FROM event_log ORDER BY seq;"
sqlite3 -readonly "$work/toolworker.db" \
    "SELECT 'answer: ' || json_extract(data, '\$.content[0].text.value') FROM snapshot_log WHERE object_type = 'message' AND is_latest;"

echo
echo "== the same tool loop over the Responses API (POST /v1/responses; the fake server picks its script by model)"
"$bin/toolworker" run --config "$work/toolworker.yaml" --protocol responses --model asst_parallel \
    --message "What is the weather in Paris and Tokyo?"
sqlite3 -readonly -box "$work/toolworker.db" \
    "SELECT run_id, protocol, model, status, rounds, tool_calls FROM run_history ORDER BY run_key;"

echo
echo "== a conversation continued across two jobs (Responses: --conversation, served by toolworker serve)"
conversation=$("$bin/toolworker" enqueue --config "$work/toolworker.yaml" --protocol responses --model asst_weather \
    --message "Weather in Paris?" --conversation new 2>&1 >/dev/null | sed -n 's/^conversation: //p')
"$bin/toolworker" enqueue --config "$work/toolworker.yaml" --protocol responses --model asst_text \
    --message "Thanks! Anything else?" --conversation "$conversation" >/dev/null
"$bin/toolworker" serve --config "$work/toolworker.yaml" 2>"$work/serve.log" &
serve=$!
for _ in $(seq 300); do
    [ "$(sqlite3 -readonly "$work/toolworker.db" "SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed')")" = 2 ] && break
    sleep 0.1
done
kill -TERM "$serve"; wait "$serve" || true
sqlite3 -readonly -box "$work/toolworker.db" \
    "SELECT job_id, thread_id AS conversation, model, status, rounds FROM run_history WHERE thread_id = '$conversation' ORDER BY run_key;"
sqlite3 -readonly "$work/toolworker.db" \
    "SELECT 'answer of job ' || r.job_id || ': ' || json_extract(s.data, '\$.content[0].text') FROM snapshot_log s JOIN run_history r USING (run_key)
     WHERE r.thread_id = '$conversation' AND s.object_type = 'message' AND s.is_latest ORDER BY r.run_key;"

echo
echo "== every model request's tokens and cost, from the usage ledger (prices: in the configuration)"
"$bin/toolworker" usage --config "$work/toolworker.yaml"
echo
echo "== a budget: two rounds asked for, one allowed (--budget rounds=1): the loop stops before the second (exit 15)"
"$bin/toolworker" run --config "$work/toolworker.yaml" --assistant asst_two_rounds \
    --message "What is the weather in Paris, then in Tokyo?" --budget rounds=1 2>/dev/null || echo "(exit status $?)"
