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
    }

    /// Records how a call ended. Durable on return: the output is on disk before it is submitted.
    public func recordToolCallOutcome(runKey: Int64, callID: String, outcome: ToolCallOutcome) async throws {
        try await write { db in
            try db.execute(
                """
                UPDATE tool_calls SET state = ?, error = ?, output = ?, output_truncated = ?, exit_code = ?, signal = ?,
                    stderr_tail = ?, started_at = coalesce(started_at, ?), finished_at = ?
                WHERE run = ? AND call_id = ?
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
