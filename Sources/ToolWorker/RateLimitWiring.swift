import Foundation
import RunLoopCore

/// The rate limiter `serve` and `run` share between their clients: seeded from `rate_limits:`, each cool-down after a
/// 429 written to the journal (for a restart and the fleet). `serve` parks a job whose start would wait longer than
/// `rate_limits.park_after`; `run`, in the foreground, waits instead.
/// On a PostgreSQL journal a model's `requests_per_minute` is counted for the whole fleet.
func makeRateLimiter(_ config: ToolWorkerConfig, store: AuditStore, parks: Bool) -> RateLimiter {
    RateLimiter(
        parkAfter: parks ? config.rateLimits.parkAfter : .seconds(366 * 86_400),
        seeds: config.rateLimits.requestsPerMinute.mapValues { RateLimiter.Seed(requestsPerMinute: $0) },
        shared: config.usesPostgres ? JournalRateWindows(store: store) : nil,
        onCooldown: { scope, until, reason in
            Task { try? await store.recordCooldown(RateLimitCooldown(scope: scope.description, until: until, reason: reason)) }
        })
}

/// The journal's cool-downs and disabled keys (any daemon's), handed to this process's limiter and key pools.
struct LimiterBoard: RateLimitBoard {
    let limiter: RateLimiter
    var pools: [APIKeyPool] = []

    func adopt(_ cooldowns: [RateLimitCooldown]) {
        for cooldown in cooldowns {
            if let label = APIKeyPool.label(ofScope: cooldown.scope) {
                for pool in pools { pool.adopt(label: label, untilUnixMilliseconds: cooldown.until, reason: cooldown.reason) }
            } else {
                limiter.adopt(scope: cooldown.scope, untilUnixMilliseconds: cooldown.until, reason: cooldown.reason)
            }
        }
    }
}

/// The fleet's request windows in the journal (`rate_windows`).
struct JournalRateWindows: SharedRateWindows {
    let store: AuditStore

    func take(scope: String, limit: Int64, window: Duration) async throws -> Duration? {
        let now = unixMilliseconds()
        let (taken, endsAt) = try await store.takeRateWindow(scope: scope, windowMilliseconds: Int64(window.milliseconds), now: now)
        return taken <= limit ? nil : .milliseconds(max(1, endsAt - now))
    }
}
