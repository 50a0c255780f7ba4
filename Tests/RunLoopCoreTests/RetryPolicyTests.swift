import Foundation
import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(maxRetries: 2, baseDelay: .milliseconds(500), maxDelay: .seconds(8))

    @Test("Retry-After in seconds, retry-after-ms, and an HTTP date are honoured up to 60 s")
    func retryAfter() {
        let now = Date(timeIntervalSince1970: 1_764_100_000)
        #expect(policy.delay(attempt: 0, head: HTTPResponseHead(status: 429, headers: [("Retry-After", "3")]), now: now) == .seconds(3))
        #expect(policy.delay(attempt: 0, head: HTTPResponseHead(status: 429, headers: [("retry-after-ms", "1500")]), now: now) == .milliseconds(1500))
        let date = "Wed, 25 Nov 2026 19:46:50 GMT"  // 10 s after `now`
        let fromDate = policy.delay(attempt: 0, head: HTTPResponseHead(status: 503, headers: [("retry-after", date)]), now: Date(timeIntervalSince1970: 1_795_636_000))
        #expect(fromDate == .seconds(10))
        // Beyond 60 s (or garbage) falls back to exponential backoff with jitter.
        let capped = policy.delay(attempt: 0, head: HTTPResponseHead(status: 429, headers: [("Retry-After", "3600")]), now: now)
        #expect(capped <= .milliseconds(500) && capped >= .milliseconds(375))
    }

    @Test("backoff doubles from 0.5 s, is capped at 8 s, with at most 25 % jitter")
    func backoff() {
        for attempt in 0..<8 {
            let expected = min(0.5 * pow(2.0, Double(attempt)), 8.0)
            let delay = policy.delay(attempt: attempt, head: nil).seconds
            #expect(delay <= expected + 0.001 && delay >= expected * 0.75 - 0.001, "attempt \(attempt): \(delay)")
        }
    }

    @Test("what is retried: not-processed statuses always, ambiguous ones only when idempotent")
    func classification() {
        for status in [408, 409, 429, 503] {
            #expect(policy.shouldRetry(status: status, idempotent: false))
        }
        for status in [500, 502, 504] {
            #expect(!policy.shouldRetry(status: status, idempotent: false))
            #expect(policy.shouldRetry(status: status, idempotent: true))
        }
        for status in [400, 401, 403, 404, 422] {
            #expect(!policy.shouldRetry(status: status, idempotent: true))
        }
        let unsent = TransportError(kind: .couldNotConnect, curlCode: 7, message: "refused", requestMayHaveBeenSent: false)
        let sent = TransportError(kind: .other, curlCode: 56, message: "reset", requestMayHaveBeenSent: true)
        let cancelled = TransportError(kind: .cancelled, curlCode: 0, message: "cancelled", requestMayHaveBeenSent: false)
        #expect(policy.shouldRetry(unsent, idempotent: false))
        #expect(!policy.shouldRetry(sent, idempotent: false))
        #expect(policy.shouldRetry(sent, idempotent: true))
        #expect(!policy.shouldRetry(cancelled, idempotent: true))
    }
}
