import WireFormat
import WorkModel

extension AuditStore {
    /// Keeps a cool-down begun after a 429 (the later end wins), for this daemon after a restart and for the fleet.
    public func recordCooldown(_ cooldown: RateLimitCooldown) async throws {
        let now = unixMilliseconds()
        try await write { db in
            try db.execute(
                """
                INSERT INTO rate_limits (scope, cooldown_until, reason, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (scope) DO UPDATE SET
                    reason = CASE WHEN excluded.cooldown_until > rate_limits.cooldown_until THEN excluded.reason ELSE rate_limits.reason END,
                    cooldown_until = CASE WHEN excluded.cooldown_until > rate_limits.cooldown_until
                                          THEN excluded.cooldown_until ELSE rate_limits.cooldown_until END,
                    updated_at = excluded.updated_at
                """,
                [.text(cooldown.scope), .integer(cooldown.until), .text(cooldown.reason), .integer(now)])
        }
    }

    /// Cool-downs still running at `now` (Unix ms), recorded by any daemon of the journal.
    public func activeCooldowns(now: Int64 = unixMilliseconds()) async throws -> [RateLimitCooldown] {
        try await read { db in
            try db.query("SELECT scope, cooldown_until, reason FROM rate_limits WHERE cooldown_until > ? ORDER BY scope", [.integer(now)]).map {
                RateLimitCooldown(scope: $0["scope"].text ?? "", until: $0["cooldown_until"].int ?? 0, reason: $0["reason"].text ?? "")
            }
        }
    }

    /// Counts one request of `scope` in the fixed window of `windowMilliseconds` holding `now`, for every daemon of
    /// the journal; returns the count so far in the window and when it ends (Unix ms).
    public func takeRateWindow(scope: String, windowMilliseconds: Int64, now: Int64 = unixMilliseconds()) async throws -> (taken: Int64, endsAt: Int64) {
        let start = now - now % windowMilliseconds
        return try await write { db in
            let row = try db.query(
                """
                INSERT INTO rate_windows (scope, window_start, taken) VALUES (?, ?, 1)
                ON CONFLICT (scope) DO UPDATE SET
                    taken = CASE WHEN rate_windows.window_start = excluded.window_start THEN rate_windows.taken + 1 ELSE 1 END,
                    window_start = excluded.window_start
                RETURNING taken
                """, [.text(scope), .integer(start)]
            ).first
            return (row?["taken"].int ?? 1, start + windowMilliseconds)
        }
    }
}
