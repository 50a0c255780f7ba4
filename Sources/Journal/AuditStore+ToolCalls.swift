import WireFormat
import WorkModel
extension AuditStore {
    /// Records the calls of a `requires_action` round as `pending` (idempotent: a call already known is kept),
    /// and marks those about to be run as `running`, in one durable transaction: after a crash, `running` says the
    /// handler may have run.
    public func recordToolCalls(
        runKey: Int64, round: Int, calls: [(call: ToolCall, handler: String?)], startingNow: [String] = []
    ) async throws {
        let now = unixMilliseconds()
        try await write { db in
            try Self.insertCalls(db, runKey: runKey, round: round, calls: calls, startingNow: startingNow, now: now)
        }
    }

    /// What to record of a `requires_action` round, decided from what the journal already holds of its calls.
    public struct RoundDecision: Sendable, Equatable {
        /// The round number the new calls are recorded under.
        public var round: Int
        /// Whether this is a round the journal has not seen (then the run's round count goes up with it).
        public var isNew: Bool
        /// The calls whose handler starts now: marked `running` in the same transaction.
        public var startingNow: [String]

        public init(round: Int, isNew: Bool, startingNow: [String]) {
            self.round = round
            self.isNew = isNew
            self.startingNow = startingNow
        }
    }

    /// Records a `requires_action` round in one durable transaction on the writer: reads what the journal holds of
    /// these calls (a round interrupted by a crash has them), lets `decide` choose the round number and the calls
    /// that start now, inserts the new calls as `pending`, marks the chosen ones `running` and counts a new round.
    /// One trip to the writer, where a read and then a write took two.
    /// - Parameter durable: `false` returns once the transaction has run, before its commit, which the round's
    ///   outcomes then share (one `fsync` a round instead of two). Only for rounds whose calls may run again after a
    ///   crash (`on_restart: rerun`): a crash before that commit forgets that they started.
    /// - Returns: the records the journal held before, by call id, and the decision taken from them.
    public func recordRound(
        runKey: Int64, calls: [(call: ToolCall, handler: String?)], durable: Bool = true,
        decide: @escaping @Sendable (_ known: [String: ToolCallRecord]) -> RoundDecision
    ) async throws -> (known: [String: ToolCallRecord], decision: RoundDecision) {
        let now = unixMilliseconds()
        let body: @Sendable (any JournalConnection) throws -> (known: [String: ToolCallRecord], decision: RoundDecision) = { db in
            var known: [String: ToolCallRecord] = [:]
            if !calls.isEmpty {
                let placeholders = Array(repeating: "?", count: calls.count).joined(separator: ", ")
                let rows = try db.query(
                    "SELECT * FROM tool_calls WHERE run = ? AND call_id IN (\(placeholders))",
                    [.integer(runKey)] + calls.map { .text($0.call.id) })
                for record in rows.map(ToolCallRecord.init) where known[record.callID] == nil { known[record.callID] = record }
            }
            let decision = decide(known)
            try Self.insertCalls(db, runKey: runKey, round: decision.round, calls: calls, startingNow: decision.startingNow, now: now)
            if decision.isNew { try db.execute("UPDATE runs SET rounds = rounds + 1 WHERE id = ?", [.integer(runKey)]) }
            return (known, decision)
        }
        return durable ? try await write(body) : try await writer.performUncommitted(body)
    }

    private static func insertCalls(
        _ db: any JournalConnection, runKey: Int64, round: Int, calls: [(call: ToolCall, handler: String?)],
        startingNow: [String], now: Int64
    ) throws {
        for (call, handler) in calls {
            try db.execute(
                "INSERT INTO tool_calls (run, call_id, round, tool, arguments, handler) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [.integer(runKey), .text(call.id), .integer(Int64(round)), .text(call.name), .text(call.arguments), .text(handler)])
        }
        for callID in startingNow {
            try db.execute(
                "UPDATE tool_calls SET state = 'running', started_at = ?, attempts = attempts + 1 WHERE run = ? AND call_id = ?",
                [.integer(now), .integer(runKey), .text(callID)])
        }
    }

    /// Records how a call ended. Durable on return: the output is on disk before it is submitted.
    ///
    /// Only a call still `pending` or `running` takes an outcome: once another daemon took the run over and answered
    /// the call (`interrupted`, say), a handler that finishes late in the old owner never overwrites what the server
    /// received.
    public func recordToolCallOutcome(runKey: Int64, callID: String, outcome: ToolCallOutcome) async throws {
        try await write { db in
            try db.execute(
                """
                UPDATE tool_calls SET state = ?, error = ?, output = ?, output_truncated = ?, exit_code = ?, signal = ?,
                    stderr_tail = ?, started_at = coalesce(started_at, ?), finished_at = ?
                WHERE run = ? AND call_id = ? AND state IN ('pending', 'running')
                """,
                [
                    .text(outcome.state.rawValue), .text(outcome.error?.rawValue), .text(outcome.output),
                    .integer(outcome.outputTruncated ? 1 : 0), .integer(outcome.exitCode.map(Int64.init)),
                    .integer(outcome.signal.map(Int64.init)), .text(outcome.stderrTail), .integer(outcome.startedAt),
                    .integer(outcome.finishedAt), .integer(runKey), .text(callID),
                ])
        }
    }

    /// How ToolWorker learned that the server took a call's output.
    public enum SubmissionEvidence: String, Sendable {
        /// The server answered the submit request.
        case submit
        /// After a restart, the server's run steps carried the output.
        case reconcile
    }

    /// Records that the outputs of these calls were accepted by the server.
    public func markSubmitted(runKey: Int64, callIDs: [String], via evidence: SubmissionEvidence = .submit) async throws {
        let now = unixMilliseconds()
        try await write { db in
            for callID in callIDs {
                try db.execute(
                    "UPDATE tool_calls SET submitted_at = coalesce(submitted_at, ?), submitted_via = coalesce(submitted_via, ?) WHERE run = ? AND call_id = ?",
                    [.integer(now), .text(evidence.rawValue), .integer(runKey), .text(callID)])
            }
        }
    }

    /// Every call of a run, in round then insertion order.
    public func toolCalls(runKey: Int64) async throws -> [ToolCallRecord] {
        try await read { db in
            try db.query("SELECT * FROM tool_calls WHERE run = ? ORDER BY round, id", [.integer(runKey)]).map(ToolCallRecord.init)
        }
    }

    /// Calls whose output is stored but was never submitted (what a restart submits again, never recomputes).
    public func unsubmittedOutputs(runKey: Int64) async throws -> [ToolCallRecord] {
        try await read { db in
            try db.query(
                "SELECT * FROM tool_calls WHERE run = ? AND output IS NOT NULL AND submitted_at IS NULL ORDER BY round, id",
                [.integer(runKey)]
            ).map(ToolCallRecord.init)
        }
    }
}
