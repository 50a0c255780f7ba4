import Foundation
import Synchronization

/// The rate limits of every (base URL, key, model) this process sends to: a bucket each, seeded from `rate_limits:`
/// and corrected from every answer's headers, and a cool-down after a 429. Before a request it says how long to
/// wait; a loop's start that would wait longer than ``parkAfter`` is not sent at all (its job is parked), and while a
/// request that answers tool outputs waits, starts wait behind it.
public final class RateLimiter: Sendable {
    /// Where a request goes: the key appears only as a fingerprint.
    public struct Scope: Hashable, Sendable, CustomStringConvertible {
        public var baseURL: String
        public var keyFingerprint: String
        /// How the configuration names the key (`main/env:MAIN_KEY`), for people.
        public var keyLabel: String
        public var model: String

        public init(baseURL: String, key: String, keyLabel: String = "", model: String) {
            self.baseURL = baseURL
            keyFingerprint = Self.fingerprint(key)
            self.keyLabel = keyLabel
            self.model = model
        }

        /// FNV-1a of the key, 64 bits in hex: tells keys apart, gives nothing of them away.
        static func fingerprint(_ key: String) -> String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            return String(hash, radix: 16)
        }

        public var description: String {
            "\(baseURL) key:\(keyLabel.isEmpty ? "" : keyLabel + "#")\(keyFingerprint)" + (model.isEmpty ? "" : " model:\(model)")
        }
    }

    /// What a request is: starts wait behind answers, and are parked instead of waiting long.
    public enum Priority: Sendable {
        case start, answer
    }

    /// Why and how long to wait before sending.
    public struct Wait: Sendable, Equatable {
        public var duration: Duration
        public var reason: String
    }

    /// A configured limit: requests a minute for a model (`rate_limits.MODEL.requests_per_minute`).
    public struct Seed: Sendable, Equatable {
        public var requestsPerMinute: Int64
        public init(requestsPerMinute: Int64) { self.requestsPerMinute = requestsPerMinute }
    }

    private struct Bucket {
        var remaining: Int64?
        var resetAt: ContinuousClock.Instant?
        var cooldownUntil: ContinuousClock.Instant?
        var reason = ""
        var answersWaiting = 0
    }

    /// A start that would wait longer than this is parked (`rate_limits.park_after`).
    public let parkAfter: Duration
    /// The fleet's windows of configured limits (a PostgreSQL journal): a seeded model's requests are counted there,
    /// by every daemon together, instead of in this process alone.
    public let shared: (any SharedRateWindows)?
    private let seeds: [String: Seed]
    private let buckets = Mutex<[Scope: Bucket]>([:])
    /// Cool-downs taken from the journal, by scope text.
    private let adopted = Mutex<[String: (until: ContinuousClock.Instant, reason: String)]>([:])
    /// Told of each cool-down begun here (the journal shares it with the fleet): scope, until (Unix ms), reason.
    private let onCooldown: (@Sendable (Scope, Int64, String) -> Void)?

    public init(
        parkAfter: Duration = .seconds(30), seeds: [String: Seed] = [:], shared: (any SharedRateWindows)? = nil,
        onCooldown: (@Sendable (Scope, Int64, String) -> Void)? = nil
    ) {
        self.parkAfter = parkAfter
        self.shared = shared
        self.seeds = seeds
        self.onCooldown = onCooldown
    }

    /// How long a request to `scope` must wait now, or `nil` to send it at once. Counts the request against a
    /// seeded bucket when it may go.
    public func wait(_ scope: Scope, priority: Priority, now: ContinuousClock.Instant = .now) -> Wait? {
        if let adopted = adopted.withLock({ $0[scope.description] }), adopted.until > now {
            return Wait(duration: adopted.until - now, reason: adopted.reason)
        }
        return buckets.withLock { buckets in
            var bucket = buckets[scope] ?? Bucket()
            defer { buckets[scope] = bucket }
            if let until = bucket.cooldownUntil, until > now { return Wait(duration: until - now, reason: bucket.reason) }
            if let resetAt = bucket.resetAt, resetAt <= now {
                bucket.resetAt = nil
                bucket.remaining = nil
            }
            if bucket.remaining == nil, shared == nil, let seed = seeds[scope.model] {
                bucket.remaining = seed.requestsPerMinute
                bucket.resetAt = now + .seconds(60)
            }
            if let remaining = bucket.remaining, remaining <= 0, let resetAt = bucket.resetAt, resetAt > now {
                return Wait(duration: resetAt - now, reason: "no requests left in the window (resets in \(Self.text(resetAt - now)))")
            }
            if priority == .start, bucket.answersWaiting > 0 {
                return Wait(duration: .milliseconds(50), reason: "tool outputs being submitted go first")
            }
            if let remaining = bucket.remaining { bucket.remaining = remaining - 1 }
            return nil
        }
    }

    /// Takes one request of `scope`'s configured window from the fleet's count (when the journal is shared and the
    /// model has `requests_per_minute`), or says how long until the window has room. A journal that cannot be
    /// reached does not hold requests back.
    public func takeShared(_ scope: Scope) async -> Wait? {
        guard let shared, let seed = seeds[scope.model] else { return nil }
        guard let wait = try? await shared.take(scope: scope.description, limit: seed.requestsPerMinute, window: .seconds(60)) else { return nil }
        return Wait(duration: wait, reason: "the fleet's \(seed.requestsPerMinute) requests a minute for \(scope.model) are spent (resets in \(Self.text(wait)))")
    }

    /// An answer's headers: the buckets follow the server's counts; a 429 starts a cool-down of its `Retry-After`
    /// (else the window's reset, else `fallback`).
    public func observe(_ observation: RateLimitObservation, status: Int, scope: Scope, fallback: Duration, now: ContinuousClock.Instant = .now) {
        var begun: (Int64, String)?
        buckets.withLock { buckets in
            var bucket = buckets[scope] ?? Bucket()
            if let window = observation.requests {
                if let remaining = window.remaining { bucket.remaining = remaining }
                if let reset = window.reset { bucket.resetAt = now + reset }
            }
            if let tokens = observation.tokens, tokens.remaining == 0, let reset = tokens.reset {
                bucket.remaining = 0
                bucket.resetAt = max(bucket.resetAt ?? now, now + reset)
            }
            if status == 429 {
                let pause = observation.retryAfter ?? observation.requests?.reset ?? observation.tokens?.reset ?? fallback
                let until = now + max(pause, .zero)
                if until > (bucket.cooldownUntil ?? now) {
                    bucket.cooldownUntil = until
                    bucket.reason = "rate limited (HTTP 429) for \(Self.text(pause))"
                    begun = (Int64(Date().timeIntervalSince1970 * 1000) + Int64(pause.milliseconds), bucket.reason)
                }
            }
            buckets[scope] = bucket
        }
        if let (until, reason) = begun { onCooldown?(scope, until, reason) }
    }

    /// A cool-down recorded in the journal, by this daemon before a restart or by another of the fleet: the scope as
    /// its ``Scope/description`` names it, until Unix milliseconds.
    public func adopt(scope: String, untilUnixMilliseconds until: Int64, reason: String) {
        let left = until - Int64(Date().timeIntervalSince1970 * 1000)
        guard left > 0 else { return }
        let end = ContinuousClock.now + .milliseconds(left)
        adopted.withLock { adopted in
            if end > (adopted[scope]?.until ?? .now) { adopted[scope] = (end, reason) }
        }
    }

    /// Marks a request that answers tool outputs as waiting (starts wait behind it) until `body` returns.
    public func answering<T>(_ scope: Scope, _ body: () async throws -> T) async rethrows -> T {
        buckets.withLock { $0[scope, default: Bucket()].answersWaiting += 1 }
        defer { buckets.withLock { $0[scope, default: Bucket()].answersWaiting -= 1 } }
        return try await body()
    }

    static func text(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        return ms < 10_000 ? "\(ms) ms" : "\(ms / 1000) s"
    }
}

/// Request windows counted by every daemon of a fleet together (the journal's `rate_windows`).
public protocol SharedRateWindows: Sendable {
    /// Counts one request of `scope` in the current `window`; `nil` when it is within `limit`, else how long until the
    /// next window.
    func take(scope: String, limit: Int64, window: Duration) async throws -> Duration?
}
