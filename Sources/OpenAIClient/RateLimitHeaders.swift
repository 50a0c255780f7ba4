import Foundation
import HTTPTransport

/// What one answer says of the rate limits its key is under: OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,
/// tokens}` (resets as Go durations: `6m0s`, `12ms`), `retry-after-ms`, `retry-after` (seconds or an HTTP date), and
/// the IETF fields — `RateLimit: "default";r=50;t=30` with `RateLimit-Policy: "default";q=100;w=60`, or the older
/// `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` — read as a request window. A value that cannot be
/// read is left out, never guessed.
public struct RateLimitObservation: Sendable, Equatable {
    /// One window: how many it allows, how many are left, and when it is full again.
    public struct Window: Sendable, Equatable {
        public var limit: Int64?
        public var remaining: Int64?
        public var reset: Duration?

        public init(limit: Int64? = nil, remaining: Int64? = nil, reset: Duration? = nil) {
            self.limit = limit
            self.remaining = remaining
            self.reset = reset
        }

        var isEmpty: Bool { limit == nil && remaining == nil && reset == nil }
    }

    public var requests: Window?
    public var tokens: Window?
    /// How long the server asks to wait (`retry-after-ms`, else `retry-after`).
    public var retryAfter: Duration?

    public init(requests: Window? = nil, tokens: Window? = nil, retryAfter: Duration? = nil) {
        self.requests = requests
        self.tokens = tokens
        self.retryAfter = retryAfter
    }

    public init(head: HTTPResponseHead, now: Date = Date()) {
        func window(_ kind: String) -> Window? {
            let window = Window(
                limit: head.value(of: "x-ratelimit-limit-\(kind)").flatMap(Self.count),
                remaining: head.value(of: "x-ratelimit-remaining-\(kind)").flatMap(Self.count),
                reset: head.value(of: "x-ratelimit-reset-\(kind)").flatMap(Self.goDuration))
            return window.isEmpty ? nil : window
        }
        self.init(requests: window("requests"), tokens: window("tokens"), retryAfter: RetryPolicy.retryAfter(head, now: now))
        if requests == nil { requests = Self.ietfWindow(head) }
    }

    public var isEmpty: Bool { requests == nil && tokens == nil && retryAfter == nil }

    static func count(_ text: String) -> Int64? {
        Int64(text.trimmingCharacters(in: .whitespaces)).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// A Go `time.Duration` string (`1h2m3.5s`, `6m0s`, `12ms`, `250us`), or a bare number of seconds.
    public static func goDuration(_ text: String) -> Duration? {
        let text = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(text), seconds.isFinite, seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        var total = 0.0
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        let units: [(String, Double)] = [("ms", 0.001), ("us", 0.000_001), ("µs", 0.000_001), ("ns", 0.000_000_001), ("h", 3600), ("m", 60), ("s", 1)]
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        guard total.isFinite, total < 1e9 else { return nil }
        return .milliseconds(Int64((total * 1000).rounded(.up)))
    }

    /// The IETF fields as a request window (remaining `r`, reset `t` seconds, quota `q`).
    static func ietfWindow(_ head: HTTPResponseHead) -> Window? {
        var window = Window()
        if let field = head.value(of: "ratelimit") {
            let parameters = Self.parameters(field)
            window.remaining = parameters["r"].flatMap(count)
            window.reset = parameters["t"].flatMap(count).map { .seconds($0) }
        }
        if let policy = head.value(of: "ratelimit-policy") { window.limit = Self.parameters(policy)["q"].flatMap(count) }
        window.limit = window.limit ?? head.value(of: "ratelimit-limit").flatMap { count(String($0.prefix { $0 != "," && $0 != ";" })) }
        window.remaining = window.remaining ?? head.value(of: "ratelimit-remaining").flatMap(count)
        window.reset = window.reset ?? head.value(of: "ratelimit-reset").flatMap(count).map { .seconds($0) }
        return window.isEmpty ? nil : window
    }

    /// `KEY=VALUE` parameters of a structured field's first item (`"default";r=50;t=30`).
    static func parameters(_ field: String) -> [String: String] {
        let first = field.split(separator: ",").first ?? ""
        var result: [String: String] = [:]
        for part in first.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2 { result[pair[0].lowercased()] = pair[1] }
        }
        return result
    }
}
