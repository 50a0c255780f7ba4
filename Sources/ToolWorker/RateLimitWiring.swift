import Foundation
import RunLoopCore

/// The rate limiter `serve` and `run` share between their clients: seeded from `rate_limits:`, each cool-down after a
/// 429 written to the journal (for a restart and the fleet). `serve` parks a job whose start would wait longer than
/// `rate_limits.park_after`; `run`, in the foreground, waits instead.
func makeRateLimiter(_ config: ToolWorkerConfig, store: AuditStore, parks: Bool) -> RateLimiter {
    RateLimiter(
        parkAfter: parks ? config.rateLimits.parkAfter : .seconds(366 * 86_400),
        seeds: config.rateLimits.requestsPerMinute.mapValues { RateLimiter.Seed(requestsPerMinute: $0) },
        onCooldown: { scope, until, reason in
            Task { try? await store.recordCooldown(RateLimitCooldown(scope: scope.description, until: until, reason: reason)) }
        })
}

/// The journal's cool-downs (any daemon's), handed to this process's limiter.
struct LimiterBoard: RateLimitBoard {
    let limiter: RateLimiter

    func adopt(_ cooldowns: [RateLimitCooldown]) {
        for cooldown in cooldowns { limiter.adopt(scope: cooldown.scope, untilUnixMilliseconds: cooldown.until, reason: cooldown.reason) }
    }
}
