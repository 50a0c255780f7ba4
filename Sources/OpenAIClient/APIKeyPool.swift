import CoreMetrics
import Foundation
import Synchronization

/// The keys of one provider (`providers.NAME.api_keys`), each with its state: usable, or disabled for a while after
/// the server refused it (401, 402, 403, or a 429 `insufficient_quota`). A request takes the first usable key whose
/// rate limit lets it go; a refused key is disabled and the request goes on with the next. A key is named by its
/// ``Key/label`` (`main/env:MAIN_KEY`), never by its secret.
public final class APIKeyPool: Sendable {
    /// One key: where it came from, and the secret itself (sent as `Authorization: Bearer …`, never logged).
    public struct Key: Sendable, Equatable {
        /// `PROVIDER/env:VARIABLE` or `PROVIDER/file:PATH`: how status, logs and metrics name the key.
        public let label: String
        public let secret: String

        public init(label: String, secret: String) {
            self.label = label
            self.secret = secret
        }
    }

    /// A key out of use, until when and why.
    public struct Disabled: Sendable, Equatable {
        public var label: String
        public var untilUnixMilliseconds: Int64
        public var reason: String
    }

    /// The provider's name (`default` for the `api:` section).
    public let provider: String
    public let keys: [Key]
    /// How long a key the server refused stays out of use before it is tried again.
    public let disableFor: Duration
    private let disabled = Mutex<[String: (until: ContinuousClock.Instant, unixMilliseconds: Int64, reason: String)]>([:])
    /// Told of each key disabled here (the journal keeps it for `status`, a restart and the fleet): label, until (Unix
    /// ms), reason.
    private let onDisable: (@Sendable (Key, Int64, String) -> Void)?

    public init(provider: String, keys: [Key], disableFor: Duration = .seconds(3600), onDisable: (@Sendable (Key, Int64, String) -> Void)? = nil) {
        precondition(!keys.isEmpty, "a key pool needs a key")
        self.provider = provider
        self.keys = keys
        self.disableFor = disableFor
        self.onDisable = onDisable
        for key in keys { Self.usableGauge(key).record(1) }
    }

    /// The same keys, telling `onDisable` of each key disabled from now on.
    public func reporting(_ onDisable: @escaping @Sendable (Key, Int64, String) -> Void) -> APIKeyPool {
        APIKeyPool(provider: provider, keys: keys, disableFor: disableFor, onDisable: onDisable)
    }

    /// The keys in use now, in pool order (an expired disable is lifted).
    public func usable(now: ContinuousClock.Instant = .now) -> [Key] {
        let out = disabled.withLock { disabled in
            for (label, entry) in disabled where entry.until <= now {
                disabled[label] = nil
                if let key = keys.first(where: { $0.label == label }) { Self.usableGauge(key).record(1) }
            }
            return Set(disabled.keys)
        }
        return keys.filter { !out.contains($0.label) }
    }

    /// Takes `key` out of use for ``disableFor``: the server refused it (`status`, `reason`).
    public func disable(_ key: Key, status: Int, reason: String) {
        let untilUnix = Int64(Date().timeIntervalSince1970 * 1000) + Int64(disableFor.milliseconds)
        let text = "disabled after HTTP \(status): \(reason)"
        let fresh = disabled.withLock { disabled in
            let fresh = disabled[key.label] == nil
            disabled[key.label] = (ContinuousClock.now + disableFor, untilUnix, text)
            return fresh
        }
        guard fresh else { return }
        Counter(label: "toolworker_api_key_disabled_total", dimensions: [("key", key.label), ("status", String(status))]).increment()
        Self.usableGauge(key).record(0)
        onDisable?(key, untilUnix, text)
    }

    /// A disable recorded in the journal (before a restart, or by another daemon of the fleet) for the key labelled
    /// `label`, until Unix milliseconds.
    public func adopt(label: String, untilUnixMilliseconds until: Int64, reason: String) {
        guard let key = keys.first(where: { $0.label == label }) else { return }
        let left = until - Int64(Date().timeIntervalSince1970 * 1000)
        guard left > 0 else { return }
        disabled.withLock { disabled in
            if until > (disabled[label]?.unixMilliseconds ?? 0) { disabled[label] = (ContinuousClock.now + .milliseconds(left), until, reason) }
        }
        Self.usableGauge(key).record(0)
    }

    /// The keys out of use now.
    public var disabledKeys: [Disabled] {
        let now = ContinuousClock.now
        return disabled.withLock { disabled in
            disabled.filter { $0.value.until > now }.map { Disabled(label: $0.key, untilUnixMilliseconds: $0.value.unixMilliseconds, reason: $0.value.reason) }
        }.sorted { $0.label < $1.label }
    }

    /// The journal's scope text for a disabled key (`rate_limits.scope`).
    public static func scope(label: String) -> String { "key \(label)" }

    /// The label of a journal scope written by ``scope(label:)``, else `nil`.
    public static func label(ofScope scope: String) -> String? {
        scope.hasPrefix("key ") ? String(scope.dropFirst(4)) : nil
    }

    private static func usableGauge(_ key: Key) -> Gauge {
        Gauge(label: "toolworker_api_key_usable", dimensions: [("key", key.label)])
    }
}
