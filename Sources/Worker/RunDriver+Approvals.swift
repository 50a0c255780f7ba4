import CoreMetrics
import Foundation
import Journal
import Logging
import ToolRunner
import WireFormat
import WorkModel

/// The approvals of the round in progress: the calls that need one, the records read, and those refused as forged.
struct ApprovalsInProgress {
    var ids: [String] = []
    var records: [String: ApprovalRecord] = [:]
    /// Calls whose request in the journal ToolWorker did not make (no valid seal).
    var forged: Set<String> = []

    /// The records, with every forged request refused (never taken for a person's word).
    func checked(_ found: [String: ApprovalRecord]) -> [String: ApprovalRecord] {
        var checked = found
        for id in forged {
            var record = found[id] ?? records[id]
            record?.decision = .denied
            record?.decidedBy = "toolworker"
            record?.reason = "the approval request in the journal was not made by ToolWorker (its seal does not match); refused"
            checked[id] = record
        }
        return checked
    }

    var pending: [String] { ids.filter { records[$0]?.decision == nil } }
}

extension RunDriver {
    /// Asks, durably, for a person's word on the round's calls whose tool wants it (`approval:`).
    ///
    /// The requests are journaled before any wait (`approval_log`: `awaiting_approval`), so a restart or a takeover
    /// finds them, and a decision (`toolworker approve` / `deny`, from any host) is read from the journal: a call is
    /// never run without one, and a decision is applied once (the call's outcome is recorded once). The machine
    /// polls (``readApprovals(state:)``) and, past the loop's `expires_at`, expires what is still pending.
    func requestApprovals(_ calls: [ToolCall], state: inout DriveState, logger: Logger) async throws -> LoopMachine.Input {
        let registry = dispatcher.registry
        var needing = calls.filter { registry.executor(for: $0.name)?.approval.requiresApproval($0.arguments) == true }
        guard !needing.isEmpty else { return .approvalsDecided }
        // After a restart, a call answered before needs no decision again.
        let answered = Set(try await journal.toolCalls(runKey: state.runKey).filter { $0.output != nil }.map(\.callID))
        needing.removeAll { answered.contains($0.id) }
        guard !needing.isEmpty else { return .approvalsDecided }
        let runKey = state.runKey
        var seals: [String: String] = [:]
        if let approvalSeal { for call in needing { seals[call.id] = approvalSeal.seal(runKey: runKey, call: call) } }
        let found = try await journal.requestApprovals(runKey: runKey, calls: needing, seals: seals)
        var approvals = ApprovalsInProgress(ids: needing.map(\.id), records: found)
        // A request this daemon did not make (no valid seal: a row a call planted, with a decision it forged) is
        // refused, never taken for a person's word; nothing is written over it, the journal keeps what was found.
        approvals.forged = Set(needing.filter { call in
            approvalSeal.map { !$0.verifies(found[call.id]?.seal, runKey: runKey, call: call) } ?? false
        }.map(\.id))
        if !approvals.forged.isEmpty {
            logger.error("approval requests in the journal that ToolWorker did not make: refused", metadata: [
                "run_id": "\(state.loopID ?? "?")", "calls": "\(approvals.forged.sorted().joined(separator: ","))",
            ])
        }
        approvals.records = approvals.checked(found)
        let pending = approvals.pending
        if !pending.isEmpty {
            logger.notice("tool calls await approval (toolworker approvals; toolworker approve CALL)", metadata: [
                "run_id": "\(state.loopID ?? "?")", "calls": "\(pending.joined(separator: ","))",
            ])
            state.recorder.note("toolworker.awaiting_approval", ["call_ids": .array(approvals.ids.map(JSONValue.string))], stream: state.stream)
            try await state.recorder.flush()
        }
        let fresh = needing.filter { approvals.records[$0.id]?.isNew == true && approvals.records[$0.id]?.decision == nil }
        if let approvalNotifier, !fresh.isEmpty, let loop = state.machine.loop {
            approvalNotifier.notify(runID: state.loopID, threadID: loop.threadID, calls: fresh, expiresAt: loop.expiresAt, logger: logger)
        }
        state.round.approvals = approvals
        return approvalsAnswer(state: state)
    }

    /// Reads the decisions from the journal.
    func readApprovals(state: inout DriveState) async throws -> LoopMachine.Input {
        let approvals = state.round.approvals
        state.round.approvals.records = approvals.checked(try await journal.approvals(runKey: state.runKey, callIDs: approvals.ids))
        return approvalsAnswer(state: state)
    }

    /// Marks the calls still pending `expired` (no decision came before the loop's `expires_at`), then reads.
    func expireApprovals(_ pending: [String], state: inout DriveState) async throws -> LoopMachine.Input {
        for id in pending {
            _ = try await journal.decideApproval(
                runKey: state.runKey, callID: id, decision: .expired, by: "toolworker", reason: "no decision came before the run's expires_at")
        }
        return try await readApprovals(state: &state)
    }

    private func approvalsAnswer(state: DriveState) -> LoopMachine.Input {
        let approvals = state.round.approvals
        let pending = approvals.pending
        guard pending.isEmpty else { return .approvalsPending(pending) }
        for id in approvals.ids {
            if let record = approvals.records[id], let decided = record.decidedAt {
                Timer(label: "toolworker_approval_wait_seconds").recordMilliseconds(decided - record.requestedAt)
            }
        }
        return .approvalsDecided
    }

    /// The outcome of a call whose approval was refused or came too late; `nil` for an approved one.
    static func refusal(_ record: ApprovalRecord?) -> ToolCallOutcome? {
        guard let record, let decision = record.decision, decision != .approved else { return nil }
        let now = unixMilliseconds()
        let why = record.reason.map { ": \($0)" } ?? ""
        switch decision {
        case .denied:
            return .failure(.failed, .approvalDenied, "The call was denied by \(record.decidedBy ?? "an operator")\(why); it was not run.", startedAt: now, finishedAt: now)
        default:
            return .failure(.failed, .approvalExpired, "No one approved the call in time\(why); it was not run.", startedAt: now, finishedAt: now)
        }
    }
}
