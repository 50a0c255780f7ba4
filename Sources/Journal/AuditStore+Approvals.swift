import WireFormat
import WorkModel

/// A human's word on a tool call, as the journal holds it.
public enum ApprovalDecision: String, Sendable, CaseIterable {
    case approved, denied, expired
}

/// One call waiting for (or given) a decision.
public struct ApprovalRecord: Sendable, Equatable {
    public var runKey: Int64
    public var callID: String
    public var tool: String
    /// The arguments the request was made for.
    public var arguments: String
    public var decision: ApprovalDecision?
    public var decidedBy: String?
    public var reason: String?
    public var requestedAt: Int64
    public var decidedAt: Int64?
    /// The daemon's seal of the request (``ApprovalSeal``), `nil` on a row no daemon sealed.
    public var seal: String?
    /// This request was made by the call that returned it (not found from an earlier drive, another daemon's, or
    /// before a restart): the one moment to tell someone a decision is awaited.
    public var isNew = false

    init(_ row: SQLRow) {
        runKey = row["run"].int ?? 0
        callID = row["call_id"].text ?? ""
        tool = row["tool"].text ?? ""
        arguments = row["arguments"].text ?? ""
        decision = row["decision"].text.flatMap(ApprovalDecision.init(rawValue:))
        decidedBy = row["decided_by"].text
        reason = row["reason"].text
        requestedAt = row["requested_at"].int ?? 0
        decidedAt = row["decided_at"].int
        seal = row["request_seal"].text
    }
}

extension AuditStore {
    /// Asks for a decision on each call (once: a request already made is kept, with any decision it has), durably;
    /// returns every one's record.
    /// - Parameter seals: each call's seal (by call id), written with a request made now; a request already there
    ///   keeps the seal it has (the caller checks it).
    public func requestApprovals(runKey: Int64, calls: [ToolCall], seals: [String: String] = [:]) async throws -> [String: ApprovalRecord] {
        let now = unixMilliseconds()
        return try await write { db in
            var records: [String: ApprovalRecord] = [:]
            for call in calls {
                try db.execute(
                    "INSERT INTO approvals (run, call_id, tool, arguments, requested_at, request_seal) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [.integer(runKey), .text(call.id), .text(call.name), .text(call.arguments), .integer(now), .text(seals[call.id])])
                let inserted = db.changes > 0
                if let row = try db.query("SELECT * FROM approvals WHERE run = ? AND call_id = ?", [.integer(runKey), .text(call.id)]).first {
                    records[call.id] = ApprovalRecord(row)
                    records[call.id]?.isNew = inserted
                }
            }
            return records
        }
    }

    /// The decisions on these calls now (read only).
    public func approvals(runKey: Int64, callIDs: [String]) async throws -> [String: ApprovalRecord] {
        try await read { db in
            var records: [String: ApprovalRecord] = [:]
            for row in try db.query("SELECT * FROM approvals WHERE run = ?", [.integer(runKey)]) {
                let record = ApprovalRecord(row)
                if callIDs.contains(record.callID) { records[record.callID] = record }
            }
            return records
        }
    }

    /// Decides a pending call, once: `false` when it had a decision already (the first stands).
    public func decideApproval(
        runKey: Int64, callID: String, decision: ApprovalDecision, by who: String, reason: String?
    ) async throws -> Bool {
        let now = unixMilliseconds()
        return try await write { db in
            !(try db.query(
                """
                UPDATE approvals SET decision = ?, decided_by = ?, reason = ?, decided_at = ?
                WHERE run = ? AND call_id = ? AND decision IS NULL RETURNING id
                """,
                [.text(decision.rawValue), .text(who), .text(reason), .integer(now), .integer(runKey), .text(callID)]).isEmpty)
        }
    }

    /// Calls waiting for a decision, oldest first (read only).
    public func pendingApprovals() async throws -> [ApprovalRecord] {
        try await read { db in
            try db.query("SELECT * FROM approvals WHERE decision IS NULL ORDER BY requested_at, id", []).map(ApprovalRecord.init)
        }
    }
}
