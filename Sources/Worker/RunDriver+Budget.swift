import Journal
import Logging
import WireFormat
import WorkModel

extension RunDriver {
    /// Whether the loop may send its next request under its budgets — its own (`--budget`; a job's covers every attempt)
    /// and its thread's or conversation's (`budgets.per_thread`, every run on it) — read
    /// from the journal after what was recorded so far is committed, so a restart counts the same. `upcoming` are the
    /// calls of the round about to be answered. Without a budget nothing is read.
    ///
    /// A request's usage is known once the server reports it: a Responses response's when it completes, an Assistants
    /// run step's only after its outputs are submitted. The next request's input is estimated as at least the last
    /// reported request's tokens (its context goes on), or a first request's message, plus the calls' arguments at
    /// about 4 bytes a token; a budget can therefore be passed by the one request whose usage could not be foreseen.
    ///
    /// Reached with `on_reach=ask`, a request to extend it is journaled as an approval (tool `toolworker.budget`, one
    /// per run and extension, sealed like a call's) and the loop waits for `toolworker approve` (every limit grows by its
    /// own amount) or `deny` (the loop stops). A round the journal holds already (a restart inside it) is answered.
    func budgetVerdict(state: inout DriveState, upcoming: [ToolCall], logger: Logger) async throws -> LoopMachine.Input? {
        var budgets: [(Budget, BudgetScope)] = []
        if let budget = state.request.budget, !budget.isEmpty { budgets.append((budget, state.request.jobID.map { .job($0) } ?? .run)) }
        if let budget = threadBudget, !budget.isEmpty, let thread = state.threadID { budgets.append((budget, .thread(thread))) }
        let daily = state.provider.dailyBudget.flatMap { $0.isEmpty ? nil : $0 }
        guard !budgets.isEmpty || daily != nil else { return nil }
        if !upcoming.isEmpty {
            let known = Set(try await journal.toolCalls(runKey: state.runKey).map(\.callID))
            if upcoming.allSatisfy({ known.contains($0.id) }) { return nil }
        }
        try await state.recorder.flush()
        let messageTokens = Int64((state.request.message?.utf8.count ?? 0) / 4)
        let argumentTokens = Int64(upcoming.reduce(0) { $0 + $1.arguments.utf8.count } / 4)
        for (budget, scope) in budgets {
            let spent = try await journal.spending(runKey: state.runKey, scope: scope)
            let nextInput = max(spent.lastRequestTokens, messageTokens) + argumentTokens
            let allowed = budget.scaled(1 + spent.budgetExtensions)
            guard var reason = allowed.exceeded(by: spent, nextInput: nextInput, upcomingCalls: Int64(upcoming.count)) else { continue }
            if case .thread(let thread) = scope { reason = "the thread's budget (budgets.per_thread, \(thread)): " + reason }
            guard budget.onReach == .ask else { return .budgetReached(reason) }
            return try await askToExtend(budget, scope: scope, reason: reason, decided: spent.budgetRequestsDecided, state: &state, logger: logger)
        }
        if let daily {
            // The provider's day, shared by every daemon of the journal: this request's estimate is reserved (the
            // loop's last request, or its message, plus the calls' arguments), or the loop stops.
            switch try await journal.reserveDaily(
                provider: state.provider.name, runKey: state.runKey, leastTokens: messageTokens, addedTokens: argumentTokens, budget: daily,
                now: Int64(clock.now().unixSeconds * 1000))
            {
            case .reserved: break
            case .exceeded(let reason): return .budgetReached(reason)
            case .wait(let reason):
                if let interruption = checkpoint(state: state) { return interruption }
                return .budgetBusy(reason)
            }
        }
        return nil
    }

    /// Journals a request to extend `budget` (an approval of tool `toolworker.budget`) and says what its decision, or
    /// the lack of one, means for the loop.
    private func askToExtend(
        _ budget: Budget, scope: BudgetScope, reason: String, decided: Int64, state: inout DriveState, logger: Logger
    ) async throws -> LoopMachine.Input {
        let request = ToolCall(
            id: "budget-\(state.runKey)-\(decided + 1)", name: AuditStore.budgetApprovalTool,
            arguments: JSONValue.object(["reason": .string(reason), "scope": .string(scope.name), "extend_by": budget.json]).serialized())
        let seals = approvalSeal.map { [request.id: $0.seal(runKey: state.runKey, call: request)] } ?? [:]
        let found = try await journal.requestApprovals(runKey: state.runKey, calls: [request], seals: seals)
        if found[request.id]?.isNew == true {
            logger.notice("budget reached; asking to extend it (toolworker approve \(request.id))", metadata: [
                "run_id": "\(state.loopID ?? "?")", "reason": "\(reason)",
            ])
            state.recorder.note("toolworker.budget_reached", ["approval": .string(request.id), "reason": .string(reason)], stream: state.stream)
            if let approvalNotifier, let loop = state.machine.loop {
                approvalNotifier.notify(runID: state.loopID, threadID: loop.threadID, calls: [request], expiresAt: loop.expiresAt, logger: logger)
            }
        }
        return budgetDecision(found[request.id], request: request, state: state)
    }

    /// Reads the decision on request `id` to extend the budget.
    func checkBudgetApproval(_ id: String, state: inout DriveState) async throws -> LoopMachine.Input {
        if let interruption = checkpoint(state: state) { return interruption }
        let found = try await journal.approvals(runKey: state.runKey, callIDs: [id])
        guard let record = found[id] else { return .budgetReached("the request to extend the budget (\(id)) is gone from the journal") }
        let request = ToolCall(id: id, name: record.tool, arguments: record.arguments)
        return budgetDecision(record, request: request, state: state)
    }

    /// What a decision (or none yet) on a request to extend the budget means for the loop. A request whose seal does
    /// not verify (a row something planted) is refused.
    private func budgetDecision(_ record: ApprovalRecord?, request: ToolCall, state: DriveState) -> LoopMachine.Input {
        guard let record else { return .budgetReached("could not record the request to extend the budget") }
        if let approvalSeal, !approvalSeal.verifies(record.seal, runKey: state.runKey, call: request) {
            return .budgetReached("the request to extend the budget in the journal was not made by ToolWorker (its seal does not match); refused")
        }
        switch record.decision {
        case nil: return .budgetApprovalPending(request.id)
        case .approved?: return .budgetApproved
        case .denied?, .expired?:
            return .budgetReached(
                "budget extension \(record.decision?.rawValue ?? "denied") by \(record.decidedBy ?? "?")" + (record.reason.map { ": \($0)" } ?? ""))
        }
    }
}
