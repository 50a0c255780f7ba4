import WorkModel

/// The read model operators see: what `runs`, `show`, `events`, `status` and `approvals` print, as named queries
/// over the journal's views, the same on SQLite and PostgreSQL. It reads through any connection (the commands give
/// it a read-only one) and never writes.
///
/// Rows come back with the views' column names, in the order printed; aggregates come back typed.
public struct JournalHistory {
    public let connection: any JournalConnection

    public init(_ connection: any JournalConnection) {
        self.connection = connection
    }

    // MARK: Runs

    /// The latest runs, newest first, optionally only those of one container (a thread or a conversation).
    public func runs(container: String?, limit: Int) throws -> [SQLRow] {
        try connection.query(
            "SELECT run_id, thread_id, assistant_id, status, created, duration_s, rounds, tool_calls, error_code FROM run_history"
                + (container == nil ? "" : " WHERE thread_id = ?") + " ORDER BY run_key DESC LIMIT ?",
            (container.map { [SQLValue.text($0)] } ?? []) + [.integer(Int64(limit))])
    }

    /// Whether the journal holds a run (or response chain) with this id.
    public func contains(runID: String) throws -> Bool {
        try !connection.query("SELECT 1 FROM run_history WHERE run_id = ?", [.text(runID)]).isEmpty
    }

    /// Every column of `run_history` for one run (`nil` when there is none).
    public func summary(runID: String) throws -> SQLRow? {
        try connection.query("SELECT * FROM run_history WHERE run_id = ?", [.text(runID)]).first
    }

    /// The run's messages as last seen, with the text of their first content part.
    public func finalMessages(runID: String) throws -> [SQLRow] {
        let dialect = connection.dialect
        return try connection.query(
            """
            SELECT object_id AS message_id, status,
                   coalesce(\(dialect.jsonText("data", ["content", "0", "text", "value"])), \(dialect.jsonText("data", ["content", "0", "text"]))) AS text
            FROM snapshot_log
            WHERE run_key = (SELECT run_key FROM run_history WHERE run_id = ?) AND object_type = 'message' AND is_latest
            ORDER BY snapshot_id
            """,
            [.text(runID)])
    }

    /// The run's tool calls in round order, with the first 200 characters of each output.
    public func toolCalls(runID: String) throws -> [SQLRow] {
        try connection.query(
            """
            SELECT call_id, round, tool, state, error, exit_code, duration_ms, substr(output, 1, 200) AS output
            FROM tool_call_log WHERE run_key = (SELECT run_key FROM run_history WHERE run_id = ?) ORDER BY round, call_id
            """,
            [.text(runID)])
    }

    /// The run's event log in order.
    public func events(runID: String) throws -> [SQLRow] {
        try connection.query("SELECT seq, stream, event, kind, received, error FROM event_log WHERE run_id = ? ORDER BY seq", [.text(runID)])
    }

    // MARK: Status

    /// Runs not ended yet, oldest first, with how many of their handlers run now.
    public func activeRuns() throws -> [SQLRow] {
        try connection.query(
            """
            SELECT r.run_id, r.status, r.duration_s AS age_s, r.rounds,
                   (SELECT count(*) FROM tool_calls t WHERE t.run = r.run_key AND t.state = 'running') AS running_handlers,
                   r.job_id
            FROM run_history r WHERE r.ended IS NULL ORDER BY r.run_key
            """)
    }

    /// How many jobs are in each state (every state present, zero included).
    public func jobCounts() throws -> [JobState: Int64] {
        var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, Int64(0)) })
        for row in try connection.query("SELECT state, count(*) AS n FROM jobs GROUP BY state") {
            if let state = row["state"].text.flatMap(JobState.init(rawValue:)) { counts[state] = row["n"].int ?? 0 }
        }
        return counts
    }

    /// Seconds the oldest queued job has waited (`nil` when none is queued), in the database's clock.
    public func oldestQueuedAge() throws -> Double? {
        try connection.scalar("SELECT (\(connection.dialect.nowMilliseconds) - min(created_at)) / 1000.0 FROM jobs WHERE state = 'queued'").double
    }

    /// Runs that ended other than `completed` at or after `since` (Unix milliseconds), newest first.
    public func failures(since: Int64) throws -> [SQLRow] {
        try connection.query(
            """
            SELECT run_id, status, error_code, ended FROM run_history r
            WHERE r.status NOT IN ('completed', 'starting') AND r.ended IS NOT NULL
              AND (SELECT ended_at FROM runs WHERE id = r.run_key) >= ?
            ORDER BY r.run_key DESC
            """,
            [.integer(since)])
    }

    /// A daemon holding open runs by unexpired leases (a shared journal's fleet).
    public struct FleetLease: Sendable, Equatable {
        public let owner: String
        public let runs: Int
    }

    /// Daemons with unexpired leases on open runs, and how many runs each holds, by owner.
    public func fleetLeases() throws -> [FleetLease] {
        try connection.query(
            """
            SELECT lease_owner, count(*) AS n FROM runs
            WHERE ended_at IS NULL AND lease_owner IS NOT NULL AND lease_expires_at >= \(connection.dialect.nowMilliseconds)
            GROUP BY lease_owner ORDER BY lease_owner
            """
        ).map { FleetLease(owner: $0["lease_owner"].text ?? "?", runs: Int($0["n"].int ?? 0)) }
    }

    /// Tool calls running now in open runs, oldest first, each with the latest piece of its live output (the last
    /// `toolworker.tool_output` note's text).
    public func runningCalls() throws -> [SQLRow] {
        let dialect = connection.dialect
        return try connection.query(
            """
            SELECT r.run_id, t.call_id, t.tool, round((\(dialect.nowMilliseconds) - t.started_at) / 1000.0, 1) AS running_s,
                   (SELECT \(dialect.jsonText("e.data", ["text"])) FROM events e
                    WHERE e.run = t.run AND e.name = 'toolworker.tool_output' AND \(dialect.jsonText("e.data", ["call_id"])) = t.call_id
                    ORDER BY e.seq DESC LIMIT 1) AS last_output
            FROM tool_calls t JOIN runs r ON r.id = t.run
            WHERE t.state = 'running' AND r.ended_at IS NULL ORDER BY t.started_at
            """)
    }

    /// Rate-limit cool-downs and disabled keys still in force (any daemon's): scope, until (Unix ms), reason.
    public func activeLimits(now: Int64) throws -> [RateLimitCooldown] {
        try connection.query(
            "SELECT scope, cooldown_until, reason FROM rate_limits WHERE cooldown_until > ? ORDER BY scope", [.integer(now)]
        ).map { RateLimitCooldown(scope: $0["scope"].text ?? "", until: $0["cooldown_until"].int ?? 0, reason: $0["reason"].text ?? "") }
    }

    // MARK: Approvals

    /// Calls waiting for a person's decision, oldest request first, with their arguments.
    public func waitingApprovals() throws -> [SQLRow] {
        try connection.query(
            "SELECT run_id, call_id, tool, requested, arguments FROM approval_log WHERE state = 'awaiting_approval' ORDER BY requested")
    }

    // MARK: Schema

    /// The schema version the journal is at (`PRAGMA user_version` on SQLite, `toolworker_schema` on PostgreSQL).
    public func schemaVersion() throws -> Int64 {
        switch connection.dialect {
        case .sqlite: try connection.scalar("PRAGMA user_version").int ?? 0
        case .postgres: try connection.scalar("SELECT version FROM toolworker_schema").int ?? 0
        }
    }
}
