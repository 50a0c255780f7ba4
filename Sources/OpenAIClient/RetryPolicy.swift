import HTTPTransport
import WireFormat
import Foundation

/// When and how long to wait before sending a request again: the official SDKs' policy (2 retries, 0.5 s × 2ⁿ
/// capped at 8 s, up to 25 % jitter, honouring `retry-after-ms` / `retry-after` up to 60 s), restricted to what is
/// safe: a request that is not idempotent is repeated only when the server provably did not act on it.
public struct RetryPolicy: Sendable {
    public var maxRetries: Int = 2
    public var baseDelay: Duration = .milliseconds(500)
    public var maxDelay: Duration = .seconds(8)

    public init(maxRetries: Int = 2, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(8)) {
        self.maxRetries = maxRetries
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Statuses that say the request was not processed (timeout before processing, conflict, rate limit,
    /// unavailable): safe to repeat any request.
    public static let notProcessedStatuses: Set<Int> = [408, 409, 429, 503]
    /// Server errors that may have happened after the request took effect: repeated only when idempotent.
    static let ambiguousStatuses: Set<Int> = [500, 502, 504]

    func shouldRetry(status: Int, idempotent: Bool) -> Bool {
        Self.notProcessedStatuses.contains(status) || (idempotent && (Self.ambiguousStatuses.contains(status) || status > 504))
    }

    func shouldRetry(_ error: TransportError, idempotent: Bool) -> Bool {
        guard error.kind != .cancelled else { return false }
        return !error.requestMayHaveBeenSent || idempotent
    }

    /// The wait before retry number `attempt` (0-based), from the response's headers when they name one.
    public func delay(attempt: Int, head: HTTPResponseHead?, now: Date = Date()) -> Duration {
        if let head, let hinted = Self.retryAfter(head, now: now), hinted >= .zero, hinted <= .seconds(60) {
            return hinted
        }
        let exponential = baseDelay * Int(pow(2.0, Double(min(attempt, 16))))
        let capped = min(exponential, maxDelay)
        return capped * (1.0 - Double.random(in: 0...0.25))
    }

    /// `retry-after-ms` (milliseconds), else `retry-after` (seconds or an HTTP date).
    static func retryAfter(_ head: HTTPResponseHead, now: Date) -> Duration? {
        if let ms = head.value(of: "retry-after-ms").flatMap(Double.init) {
            return .milliseconds(Int64(ms))
        }
        guard let value = head.value(of: "retry-after") else { return nil }
        if let seconds = Double(value.trimmingCharacters(in: .whitespaces)) {
            return .milliseconds(Int64(seconds * 1000))
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(date.timeIntervalSince(now) * 1000))
    }
}
