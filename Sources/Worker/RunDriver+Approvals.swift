import CoreMetrics
import Foundation
import Journal
import Logging
import ToolRunner
import WireFormat
import WorkModel

extension RunDriver {
    /// How the wait for approvals ended.
    enum ApprovalWait {
        /// Every call that needed a decision has one (`approved`, `denied` or `expired`), by call id.
        case decided([String: ApprovalRecord])
        /// The drive must stop waiting (a shutdown, a lost lease): the calls stay pending in the journal, and the next
        /// drive of the loop waits again.
        case interrupted(Step)
    }

    /// Waits, durably, for a person's word on the round's calls whose tool asks for it (`approval:`).
    ///
    /// The requests are journaled before any wait (`approval_log`: `awaiting_approval`), so a restart or a takeover
    /// finds them, and a decision (`toolworker approve` / `deny`, from any host) is read from the journal: a call is
    /// never run without one, and a decision is applied once (the call's outcome is recorded once). A loop with an
    /// `expires_at` gives up before it: what is still pending then is `expired`.
    func awaitApprovals(_ calls: [ToolCall], loop: LoopState, state: inout DriveState, logger: Logger) async throws -> ApprovalWait {
        let registry = dispatcher.registry
        var needing = calls.filter { registry.executor(for: $0.name)?.approval.requiresApproval($0.arguments) == true }
        guard !needing.isEmpty else { return .decided([:]) }
        // After a restart, a call answered before needs no decision again.
        let answered = Set(try await store.toolCalls(runKey: state.runKey).filter { $0.output != nil }.map(\.callID))
        needing.removeAll { answered.contains($0.id) }
        guard !needing.isEmpty else { return .decided([:]) }
        let runKey = state.runKey
        var seals: [String: String] = [:]
        if let approvalSeal { for call in needing { seals[call.id] = approvalSeal.seal(runKey: runKey, call: call) } }
        var records = try await store.requestApprovals(runKey: runKey, calls: needing, seals: seals)
        let ids = needing.map(\.id)
        // A request this daemon did not make (no valid seal: a row a call planted, with a decision it forged) is
        // refused, never taken for a person's word; nothing is written over it, the journal keeps what was found.
        let forged = Set(needing.filter { call in approvalSeal.map { !$0.verifies(records[call.id]?.seal, runKey: runKey, call: call) } ?? false }.map(\.id))
        func unforged(_ found: [String: ApprovalRecord]) -> [String: ApprovalRecord] {
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
        if !forged.isEmpty {
            logger.error("approval requests in the journal that ToolWorker did not make: refused", metadata: [
                "run_id": "\(state.loopID ?? "?")", "calls": "\(forged.sorted().joined(separator: ","))",
            ])
        }
        records = unforged(records)
        var deadline: Date?
        if let expiresAt = loop.expiresAt {
            deadline = Date(timeIntervalSince1970: Double(expiresAt)) - expiryMargin.seconds
        }
        if ids.contains(where: { records[$0]?.decision == nil }) {
            logger.notice("tool calls await approval (toolworker approvals; toolworker approve CALL)", metadata: [
                "run_id": "\(state.loopID ?? "?")", "calls": "\(ids.filter { records[$0]?.decision == nil }.joined(separator: ","))",
            ])
            state.recorder.note("toolworker.awaiting_approval", ["call_ids": .array(ids.map(JSONValue.string))], stream: state.stream)
            try await state.recorder.flush()
        }
        let fresh = needing.filter { records[$0.id]?.isNew == true && records[$0.id]?.decision == nil }
        if let approvalNotifier, !fresh.isEmpty {
            approvalNotifier.notify(runID: state.loopID, threadID: loop.threadID, calls: fresh, expiresAt: loop.expiresAt, logger: logger)
        }
        while true {
            let pending = ids.filter { records[$0]?.decision == nil }
            if pending.isEmpty {
                for id in ids {
                    if let record = records[id], let decided = record.decidedAt {
                        Timer(label: "toolworker_approval_wait_seconds").recordMilliseconds(decided - record.requestedAt)
                    }
                }
                return .decided(records)
            }
            if shutdown?.isTriggered == true { return .interrupted(.reconcile(reason: "awaiting approval")) }
            if leases?.isLost(state.runKey) == true { return .interrupted(.leaseLost) }
            if let deadline, Date() >= deadline {
                for id in pending {
                    _ = try await store.decideApproval(
                        runKey: state.runKey, callID: id, decision: .expired, by: "toolworker",
                        reason: "no decision came before the run's expires_at")
                }
                logger.warning("approvals expired before a decision", metadata: ["run_id": "\(state.loopID ?? "?")", "calls": "\(pending.joined(separator: ","))"])
                records = unforged(try await store.approvals(runKey: state.runKey, callIDs: ids))
                continue
            }
            try await Task.sleep(for: approvalPollInterval)
            records = unforged(try await store.approvals(runKey: state.runKey, callIDs: ids))
        }
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
