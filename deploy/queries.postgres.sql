-- Ready questions for a ToolWorker journal on PostgreSQL: the twin of queries.sql (same views, same columns).
-- Run them with:
--   psql "postgres://toolworker@db.example:5432/toolworker" -f deploy/queries.postgres.sql        (all of them)
--   psql "$URL" -c "SELECT … (copy one query)"
-- Replace 'run_XXX' with a run id (for the Responses protocol, the loop's latest response id, as run_history shows
-- it). Times are UTC ISO-8601 text, as in SQLite, so they compare as text. Every query works for both protocols.

-- Runs by protocol and status, today.
SELECT protocol, status, count(*) AS runs FROM run_history
WHERE created >= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD') GROUP BY protocol, status;

-- Failed (or otherwise unsuccessful) runs today.
SELECT run_id, status, error_code, error_message, created
FROM run_history
WHERE status NOT IN ('completed', 'queued', 'in_progress', 'requires_action', 'awaiting_approval', 'starting')
  AND created >= to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"00:00:00')
ORDER BY created DESC;

-- Slowest tools (median-ish and worst, over the last 7 days).
SELECT tool, count(*) AS calls, round(avg(duration_ms)) AS avg_ms, max(duration_ms) AS max_ms
FROM tool_call_log
WHERE started >= to_char((now() - interval '7 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
GROUP BY tool ORDER BY avg_ms DESC;

-- Tool error rate by tool.
SELECT tool, count(*) AS calls,
       count(*) FILTER (WHERE state <> 'succeeded') AS errors,
       round(100.0 * count(*) FILTER (WHERE state <> 'succeeded') / count(*), 1) AS error_pct,
       string_agg(DISTINCT error, ',') AS error_kinds
FROM tool_call_log GROUP BY tool ORDER BY error_pct DESC;

-- Everything that happened in run X, in order (events, then tool calls).
SELECT seq, stream, event, kind, received, error FROM event_log WHERE run_id = 'run_XXX' ORDER BY seq;
SELECT round, tool, state, error, exit_code, duration_ms, submitted FROM tool_call_log WHERE run_id = 'run_XXX' ORDER BY round;

-- The final assistant message text of run X (Assistants: content[0].text.value; Responses: content[0].text).
SELECT coalesce(data::jsonb #>> '{content,0,text,value}', data::jsonb #>> '{content,0,text}') AS answer
FROM snapshot_log
WHERE run_id = 'run_XXX' AND object_type = 'message' AND is_latest
  AND data::jsonb ->> 'role' = 'assistant'
ORDER BY snapshot_id DESC LIMIT 1;

-- The latest snapshot of every object of run X.
SELECT object_type, object_id, status, taken FROM snapshot_log WHERE run_id = 'run_XXX' AND is_latest ORDER BY snapshot_id;

-- Calls whose output is stored but not submitted (normally empty; non-empty only while a run is being recovered).
SELECT run_id, call_id, tool, state FROM tool_call_log WHERE output IS NOT NULL AND submitted IS NULL;

-- Which daemon holds which open run (PostgreSQL fleets), and until when.
SELECT run_id, status, lease_owner, to_char(to_timestamp(lease_expires_at / 1000.0) AT TIME ZONE 'UTC', 'HH24:MI:SS') AS lease_until
FROM runs WHERE ended_at IS NULL ORDER BY id;

-- Tokens and cost per day and model over the last 7 days (the usage ledger; cost only for priced models).
SELECT * FROM usage_daily WHERE day >= to_char(now() AT TIME ZONE 'UTC' - interval '7 days', 'YYYY-MM-DD') ORDER BY day DESC, total_tokens DESC;

-- The 10 runs that used the most tokens.
SELECT run_id, model, requests, total_tokens, cost, currency FROM usage_by_run ORDER BY total_tokens DESC LIMIT 10;
