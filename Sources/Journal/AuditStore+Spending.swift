import WireFormat
import WorkModel

extension AuditStore {
    /// The `tool` of an approval request that asks to extend a budget (`--budget …,on_reach=ask`).
    public static let budgetApprovalTool = "toolworker.budget"

    /// What the runs of `scope` have spent (one run, a job over every attempt, a thread or conversation): tokens and
    /// cost from the usage ledger, tool calls answered, rounds, time since the first of them started, the approved
    /// extensions of a budget of that scope, and the latest request's tokens among them (a thread's next run carries its
    /// context on). Reads committed rows only: the caller flushes first.
    public func spending(runKey: Int64, scope budgetScope: BudgetScope) async throws -> Spending {
        let scope: String
        let key: SQLValue
        switch budgetScope {
        case .run: (scope, key) = ("SELECT CAST(? AS BIGINT)", .integer(runKey))
        case .job(let id): (scope, key) = ("SELECT id FROM runs WHERE job_id = ?", .integer(id))
        case .thread(let thread): (scope, key) = ("SELECT id FROM runs WHERE thread_id = ?", .text(thread))
        }
        let tag = "%\"scope\":\"\(budgetScope.name)\"%"
        let now = unixMilliseconds()
        return try await read { db in
            let usage = try db.query(
                "SELECT CAST(coalesce(sum(input_tokens + output_tokens), 0) AS BIGINT) AS tokens, coalesce(sum(cost), 0) AS cost FROM usage WHERE run IN (\(scope))",
                [key]
            ).first
            let calls = try db.scalar(
                "SELECT count(*) FROM tool_calls WHERE run IN (\(scope)) AND output IS NOT NULL", [key]
            ).int ?? 0
            let runs = try db.query(
                "SELECT CAST(coalesce(sum(rounds), 0) AS BIGINT) AS rounds, min(created_at) AS started FROM runs WHERE id IN (\(scope))", [key]
            ).first
            let extensions = try db.scalar(
                """
                SELECT count(*) FROM approvals
                WHERE run IN (\(scope)) AND tool = '\(AuditStore.budgetApprovalTool)' AND decision = 'approved' AND arguments LIKE ?
                """, [key, .text(tag)]
            ).int ?? 0
            let decided = try db.scalar(
                "SELECT count(*) FROM approvals WHERE run = ? AND tool = '\(AuditStore.budgetApprovalTool)' AND decision IS NOT NULL", [.integer(runKey)]
            ).int ?? 0
            let last = try db.scalar(
                "SELECT input_tokens + output_tokens FROM usage WHERE run IN (\(scope)) ORDER BY id DESC LIMIT 1", [key]
            ).int ?? 0
            var spending = Spending(
                tokens: usage?["tokens"].int ?? 0, cost: usage?["cost"].double ?? 0, toolCalls: calls,
                rounds: runs?["rounds"].int ?? 0, elapsed: .milliseconds(max(0, now - (runs?["started"].int ?? now))),
                lastRequestTokens: last)
            spending.budgetExtensions = extensions
            spending.budgetRequestsDecided = decided
            return spending
        }
    }
}
