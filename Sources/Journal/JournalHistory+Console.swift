import WireFormat
import WorkModel

/// What the operator console's pages read: runs filtered and paged, one run's rounds and events, the approvals
/// inbox, and what changed since a live page last looked.
extension JournalHistory {
    /// The console's run filters (every one optional).
    public struct RunFilter: Sendable, Equatable {
        public var status: String?
        public var protocolName: String?
        /// A thread or conversation id.
        public var container: String?
        /// `KEY=VALUE` of the run's request metadata.
        public var metadata: (key: String, value: String)?
        /// Created at or after (Unix ms).
        public var since: Int64?

        public init() {}

        public static func == (lhs: RunFilter, rhs: RunFilter) -> Bool {
            lhs.status == rhs.status && lhs.protocolName == rhs.protocolName && lhs.container == rhs.container
                && lhs.metadata?.key == rhs.metadata?.key && lhs.metadata?.value == rhs.metadata?.value && lhs.since == rhs.since
        }
    }

    /// One page of runs, newest first: `limit` rows after skipping `offset`.
    public func runs(_ filter: RunFilter, limit: Int, offset: Int) throws -> [SQLRow] {
        var conditions: [String] = ["h.run_id IS NOT NULL"]
        var parameters: [SQLValue] = []
        if let status = filter.status { conditions.append("h.status = ?"); parameters.append(.text(status)) }
        if let name = filter.protocolName { conditions.append("r.protocol = ?"); parameters.append(.text(name)) }
        if let container = filter.container { conditions.append("h.thread_id = ?"); parameters.append(.text(container)) }
        if let since = filter.since { conditions.append("r.created_at >= ?"); parameters.append(.integer(since)) }
        if let (key, value) = filter.metadata {
            conditions.append("\(connection.dialect.jsonText("r.request", ["metadata", key])) = ?")
            parameters.append(.text(value))
        }
        return try connection.query(
            """
            SELECT h.run_id, h.status, r.protocol, h.thread_id, h.created, h.duration_s, h.rounds, h.tool_calls, h.error_code
            FROM run_history h JOIN runs r ON r.id = h.run_key
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY h.run_key DESC LIMIT ? OFFSET ?
            """,
            parameters + [.integer(Int64(limit)), .integer(Int64(offset))])
    }

    /// Run `key`'s tool calls by round, with what the console shows of each.
    public func consoleToolCalls(runKey key: Int64) throws -> [SQLRow] {
        try connection.query(
            """
            SELECT round, call_id, tool, state, error, exit_code, signal, duration_ms, started, substr(output, 1, 400) AS output,
                   output_truncated, substr(arguments, 1, 400) AS arguments, handler
            FROM tool_call_log WHERE run_key = ? ORDER BY round, call_id
            """, [.integer(key)])
    }

    /// Run `key`'s last `limit` events, oldest of them first, with a note's data.
    public func consoleEvents(runKey key: Int64, limit: Int) throws -> [SQLRow] {
        try connection.query(
            """
            SELECT * FROM (
                SELECT seq, stream, event, kind, received, error, CASE WHEN kind = 'note' THEN substr(data, 1, 300) END AS detail
                FROM event_log WHERE run_key = ? ORDER BY seq DESC LIMIT ?
            ) AS latest ORDER BY seq
            """, [.integer(key), .integer(Int64(limit))])
    }

    /// Run `key`'s tokens and cost (`usage_by_run`).
    public func consoleUsage(runKey key: Int64) throws -> SQLRow? {
        try connection.query("SELECT * FROM usage_by_run WHERE run_key = ?", [.integer(key)]).first
    }

    /// The run (or response) id of run `key`.
    public func runID(runKey key: Int64) throws -> String? {
        try connection.scalar("SELECT run_id FROM runs WHERE id = ?", [.integer(key)]).text
    }

    /// What a live page compares to know whether to refresh: run `key`'s last event, status and rounds.
    public func runMark(runKey key: Int64) throws -> String {
        let row = try connection.query(
            "SELECT (SELECT coalesce(max(seq), 0) FROM events WHERE run = ?) AS seq, status, rounds, ended_at FROM runs WHERE id = ?",
            [.integer(key), .integer(key)]
        ).first
        return "\(row?["seq"].int ?? 0)/\(row?["status"].text ?? "")/\(row?["rounds"].int ?? 0)/\(row?["ended_at"].int ?? 0)"
    }

    /// What the inbox compares: the requests waiting and decided so far.
    public func approvalsMark() throws -> String {
        let row = try connection.query(
            "SELECT count(*) AS n, coalesce(max(id), 0) AS last, count(decision) AS decided FROM approvals").first
        return "\(row?["n"].int ?? 0)/\(row?["last"].int ?? 0)/\(row?["decided"].int ?? 0)"
    }
}
