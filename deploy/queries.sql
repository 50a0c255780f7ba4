-- Ready questions for the ToolWorker audit database. Run one with:
--   sqlite3 -readonly -box /var/lib/toolworker/toolworker.db < deploy/queries.sql        (all of them)
--   sqlite3 -readonly -box DB "SELECT … (copy one query)"
-- Replace 'run_XXX' with a run id (for the Responses protocol, the loop's latest response id, as run_history shows
-- it). Times are UTC. Every query works for both protocols.

-- Runs by protocol and status, today.
SELECT protocol, status, count(*) AS runs FROM run_history WHERE created >= date('now') GROUP BY protocol, status;

-- Failed (or otherwise unsuccessful) runs today.
SELECT run_id, status, error_code, error_message, created
FROM run_history
WHERE status NOT IN ('completed', 'queued', 'in_progress', 'requires_action', 'awaiting_approval', 'starting')
  AND created >= strftime('%Y-%m-%dT00:00:00', 'now')
ORDER BY created DESC;

-- Slowest tools (median-ish and worst, over the last 7 days).
SELECT tool, count(*) AS calls, round(avg(duration_ms)) AS avg_ms, max(duration_ms) AS max_ms
FROM tool_call_log
WHERE started >= strftime('%Y-%m-%dT%H:%M:%S', 'now', '-7 days')
GROUP BY tool ORDER BY avg_ms DESC;

-- Tool error rate by tool.
SELECT tool, count(*) AS calls,
       sum(state <> 'succeeded') AS errors,
       round(100.0 * sum(state <> 'succeeded') / count(*), 1) AS error_pct,
       group_concat(DISTINCT error) AS error_kinds
FROM tool_call_log GROUP BY tool ORDER BY error_pct DESC;

-- Everything that happened in run X, in order (events, then tool calls).
SELECT seq, stream, event, kind, received, error FROM event_log WHERE run_id = 'run_XXX' ORDER BY seq;
SELECT round, tool, state, error, exit_code, duration_ms, submitted FROM tool_call_log WHERE run_id = 'run_XXX' ORDER BY round;

-- The final assistant message text of run X (Assistants: content[0].text.value; Responses: content[0].text).
SELECT coalesce(json_extract(data, '$.content[0].text.value'), json_extract(data, '$.content[0].text')) AS answer
FROM snapshot_log
WHERE run_id = 'run_XXX' AND object_type = 'message' AND is_latest
  AND json_extract(data, '$.role') = 'assistant'
ORDER BY snapshot_id DESC LIMIT 1;

-- The latest snapshot of every object of run X.
SELECT object_type, object_id, status, taken FROM snapshot_log WHERE run_id = 'run_XXX' AND is_latest ORDER BY snapshot_id;

-- Calls whose output is stored but not submitted (normally empty; non-empty only while a run is being recovered).
SELECT run_id, call_id, tool, state FROM tool_call_log WHERE output IS NOT NULL AND submitted IS NULL;

-- Tokens and cost per day and model over the last 7 days (the usage ledger; cost only for priced models).
SELECT * FROM usage_daily WHERE day >= date('now', '-7 days') ORDER BY day DESC, total_tokens DESC;

-- The 10 runs that used the most tokens.
SELECT run_id, model, requests, total_tokens, cost, currency FROM usage_by_run ORDER BY total_tokens DESC LIMIT 10;
