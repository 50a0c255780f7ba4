import Foundation
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

extension AuditStore {
    /// Reserves the estimate of run `runKey`'s next request — its last reported request's tokens (or `leastTokens`, the
    /// first message's, when larger) plus `addedTokens` (the round's arguments), or the day's average request on the
    /// provider when that is larger — of `provider`'s budget for the UTC day of `now`, or says why not. Counted against `budget`:
    /// the day's reported usage of every run on the provider, plus what the other open runs reserved for requests
    /// whose usage has not arrived yet. Checked and reserved in one transaction (on PostgreSQL under an advisory lock
    /// per provider), so daemons sharing the journal never both take the last of a day: together they pass it by no
    /// more than their requests in flight were underestimated (before the day's first reported usage, a request is
    /// estimated from its message alone).
    ///
    /// Before the day's first usage is reported a request can only be estimated from its message, so while one such
    /// request is in flight the next waits (``DailyBudgetVerdict/wait(_:)``) for its usage rather than guess.
    public func reserveDaily(
        provider: String, runKey: Int64, leastTokens: Int64, addedTokens: Int64, budget: Budget, now: Int64 = unixMilliseconds()
    ) async throws -> DailyBudgetVerdict {
        let dayStart = now - now % 86_400_000
        let day = Self.utcDay(now)
        return try await write { db in
            if db.dialect == .postgres {
                _ = try db.query("SELECT pg_advisory_xact_lock(hashtext(?))", [.text("toolworker-daily-budget:\(provider)")])
            }
            let used = try db.query(
                """
                SELECT CAST(coalesce(sum(input_tokens + output_tokens), 0) AS BIGINT) AS tokens, coalesce(sum(cost), 0) AS cost,
                       CAST(coalesce(avg(input_tokens + output_tokens), 0) AS BIGINT) AS average, count(*) AS requests
                FROM usage WHERE provider = ? AND recorded_at >= ?
                """, [.text(provider), .integer(dayStart)]
            ).first
            let outstanding = try db.query(
                """
                SELECT CAST(coalesce(sum(r.tokens), 0) AS BIGINT) AS tokens, count(*) AS requests
                FROM budget_reservations r JOIN runs x ON x.id = r.run
                WHERE r.provider = ? AND r.day = ? AND r.run <> ? AND x.ended_at IS NULL
                  AND (SELECT count(*) FROM usage u WHERE u.run = r.run) <= r.usage_seen
                """, [.text(provider), .text(day), .integer(runKey)]
            ).first
            let reserved = outstanding?["tokens"].int ?? 0
            if (used?["requests"].int ?? 0) == 0, (outstanding?["requests"].int ?? 0) > 0 {
                return .wait("no request of provider \(provider) has reported its usage today and one is in flight: waiting for it before estimating")
            }
            let spent = Spending(tokens: (used?["tokens"].int ?? 0) + reserved, cost: used?["cost"].double ?? 0)
            let last = try db.scalar(
                "SELECT input_tokens + output_tokens FROM usage WHERE run = ? ORDER BY id DESC LIMIT 1", [.integer(runKey)]
            ).int ?? 0
            let estimate = max(max(last, leastTokens) + addedTokens, used?["average"].int ?? 0)
            if let reason = budget.exceeded(by: spent, nextInput: estimate) {
                return .exceeded("the daily budget of provider \(provider) (\(day) UTC; requests in flight included): " + reason)
            }
            try db.execute(
                """
                INSERT INTO budget_reservations (provider, run, day, tokens, usage_seen, created_at)
                VALUES (?, ?, ?, ?, (SELECT count(*) FROM usage WHERE run = ?), ?)
                ON CONFLICT (provider, run) DO UPDATE SET
                    day = excluded.day, tokens = excluded.tokens, usage_seen = excluded.usage_seen, created_at = excluded.created_at
                """, [.text(provider), .integer(runKey), .text(day), .integer(estimate), .integer(runKey), .integer(now)])
            return .reserved
        }
    }

    /// `2026-12-07` for Unix milliseconds `ms`.
    static func utcDay(_ ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }
}
