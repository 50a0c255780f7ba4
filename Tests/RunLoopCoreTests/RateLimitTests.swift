import FakeAssistants
import Foundation
import Testing
@testable import HTTPTransport
@testable import Journal
@testable import OpenAIClient
@testable import Worker
import RunLoopCore

/// Rate limits: the headers read, a bucket per (base URL, key, model), a 429's cool-down honoured (and shared through
/// the journal), starts that would wait too long parked, answers first, and a spent quota never retried.
@Suite("Rate limits: headers, cool-downs, parked starts, spent quotas")
struct RateLimitTests {
    static func head(_ headers: [(String, String)], status: Int = 200) -> HTTPResponseHead {
        HTTPResponseHead(status: status, headers: headers.map { (name: $0.0, value: $0.1) })
    }

    @Test("Go durations, OpenAI's x-ratelimit-* headers, retry-after(-ms) and the IETF fields are read; garbage is left out")
    func headers() {
        #expect(RateLimitObservation.goDuration("6m0s") == .seconds(360))
        #expect(RateLimitObservation.goDuration("12ms") == .milliseconds(12))
        #expect(RateLimitObservation.goDuration("1h2m3.5s") == .milliseconds(3_723_500))
        #expect(RateLimitObservation.goDuration("0s") == .zero)
        #expect(RateLimitObservation.goDuration("20") == .seconds(20))
        for bad in ["", "abc", "1x", "s", "5m-3s", "1e400s"] { #expect(RateLimitObservation.goDuration(bad) == nil, "\(bad)") }

        let openai = RateLimitObservation(head: Self.head([
            ("x-ratelimit-limit-requests", "500"), ("x-ratelimit-remaining-requests", "499"), ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-limit-tokens", "30000"), ("x-ratelimit-remaining-tokens", "29000"), ("x-ratelimit-reset-tokens", "2s"),
            ("retry-after-ms", "1500"),
        ]))
        #expect(openai.requests == .init(limit: 500, remaining: 499, reset: .milliseconds(120)))
        #expect(openai.tokens == .init(limit: 30_000, remaining: 29_000, reset: .seconds(2)))
        #expect(openai.retryAfter == .milliseconds(1500))
        #expect(RateLimitObservation(head: Self.head([("Retry-After", "7")])).retryAfter == .seconds(7))
        #expect(RateLimitObservation(head: Self.head([("x-ratelimit-remaining-requests", "-4")])).isEmpty, "a negative count is no count")

        let ietf = RateLimitObservation(head: Self.head([("RateLimit", "\"default\";r=50;t=30"), ("RateLimit-Policy", "\"default\";q=100;w=60")]))
        #expect(ietf.requests == .init(limit: 100, remaining: 50, reset: .seconds(30)))
        let older = RateLimitObservation(head: Self.head([("RateLimit-Limit", "10, 10;w=1"), ("RateLimit-Remaining", "0"), ("RateLimit-Reset", "4")]))
        #expect(older.requests == .init(limit: 10, remaining: 0, reset: .seconds(4)))
        #expect(RateLimitObservation(head: Self.head([("content-type", "text/event-stream")])).isEmpty)
    }

    @Test("the limiter: a 429's Retry-After holds every request of its scope only; a spent window waits for its reset; answers go first")
    func limiter() {
        let limiter = RateLimiter(parkAfter: .seconds(30), seeds: ["gpt-4o": .init(requestsPerMinute: 2)])
        let now = ContinuousClock.now
        let scope = RateLimiter.Scope(baseURL: "http://a/v1", key: "sk-1", model: "o3")
        let otherKey = RateLimiter.Scope(baseURL: "http://a/v1", key: "sk-2", model: "o3")
        #expect(!scope.description.contains("sk-1"), "the key is only a fingerprint")
        #expect(limiter.wait(scope, priority: .start, now: now) == nil)
        limiter.observe(RateLimitObservation(retryAfter: .seconds(120)), status: 429, scope: scope, fallback: .seconds(1), now: now)
        #expect(limiter.wait(scope, priority: .start, now: now + .seconds(20))?.duration == .seconds(100))
        #expect(limiter.wait(scope, priority: .answer, now: now + .seconds(20))?.duration == .seconds(100))
        #expect(limiter.wait(otherKey, priority: .start, now: now) == nil, "another key is not held")
        #expect(limiter.wait(scope, priority: .start, now: now + .seconds(121)) == nil)

        // Seeded: two requests a minute, then the window's end.
        let seeded = RateLimiter.Scope(baseURL: "http://a/v1", key: "sk-1", model: "gpt-4o")
        #expect(limiter.wait(seeded, priority: .start, now: now) == nil)
        #expect(limiter.wait(seeded, priority: .start, now: now + .seconds(1)) == nil)
        #expect(limiter.wait(seeded, priority: .start, now: now + .seconds(2))?.duration == .seconds(58))
        // The server's headers correct the seed.
        limiter.observe(
            RateLimitObservation(requests: .init(limit: 100, remaining: 90, reset: .seconds(5))), status: 200, scope: seeded,
            fallback: .seconds(1), now: now + .seconds(2))
        #expect(limiter.wait(seeded, priority: .start, now: now + .seconds(3)) == nil)
        // Tokens spent: wait for their reset.
        limiter.observe(
            RateLimitObservation(tokens: .init(limit: 1000, remaining: 0, reset: .seconds(9))), status: 200, scope: seeded,
            fallback: .seconds(1), now: now + .seconds(3))
        #expect(limiter.wait(seeded, priority: .answer, now: now + .seconds(4))?.duration == .seconds(8))

        // The journal's cool-downs (another daemon's) hold this process's requests too.
        let fleet = RateLimiter.Scope(baseURL: "http://b/v1", key: "sk-1", model: "")
        limiter.adopt(scope: fleet.description, untilUnixMilliseconds: unixMilliseconds() + 60_000, reason: "rate limited (HTTP 429) for 60 s")
        #expect((limiter.wait(fleet, priority: .start)?.duration ?? .zero) > .seconds(50))
        limiter.adopt(scope: "http://c/v1 key:0", untilUnixMilliseconds: unixMilliseconds() - 1, reason: "over")
        #expect(limiter.wait(RateLimiter.Scope(baseURL: "http://c/v1", key: "k", model: ""), priority: .start) == nil)
    }

    @Test("a start whose Retry-After passes park_after is not sent: the run ends rate_limited with the wait, one 429 seen")
    func parkedStart() async throws {
        let h = try RunHarness()
        #expect(try await h.run("asst_text").status == .completed)
        h.server.limitRate(RateLimitMode(requestsPerWindow: 0, window: .seconds(300), retryAfter: "120"))
        let outcome = try await h.run("asst_text")
        #expect(outcome.status == .error)
        #expect(outcome.errorCode == "rate_limited")
        #expect((outcome.rateLimitWait ?? .zero) > .seconds(100), "\(String(describing: outcome.rateLimitWait))")
        #expect(outcome.detail?.contains("rate limited (HTTP 429)") == true, "\(outcome.detail ?? "")")
        #expect(h.server.rateLimitedRequests == 1, "one 429, then nothing more was sent")
    }

    @Test("an answer waits out a window the headers say is spent, and is never refused; one held by a 429's Retry-After waits and goes")
    func answerWaits() async throws {
        let h = try RunHarness()
        try h.handler("get_weather", RunDriverTests.weatherScript)
        h.server.limitRate(RateLimitMode(requestsPerWindow: 1, window: .seconds(1), retryAfter: "1"))
        let outcome = try await h.run("asst_weather")
        #expect(outcome.status == .completed, "\(outcome.detail ?? "")")
        #expect(h.server.rateLimitedRequests == 0, "x-ratelimit-remaining-requests: 0 with its reset was waited for")
        #expect(h.requests("POST", "/submit_tool_outputs").count == 1)

        // Without the headers, the 429 tells: its Retry-After is waited out and the submit sent again.
        let blind = try RunHarness()
        try blind.handler("get_weather", RunDriverTests.weatherScript)
        blind.server.limitRate(RateLimitMode(requestsPerWindow: 1, window: .seconds(1), retryAfter: "1", sendsHeaders: false, resetsAfterRefusal: true))
        #expect(try await blind.run("asst_weather").status == .completed)
        #expect(blind.server.rateLimitedRequests == 1, "the submit was refused once, then sent after the pause")
        #expect(blind.requests("POST", "/submit_tool_outputs").count == 2)
    }

    @Test("insufficient_quota ends the loop at once, never retried, on both protocols")
    func quota() async throws {
        let h = try RunHarness()
        h.server.limitRate(RateLimitMode(quotaExhausted: true))
        let assistants = try await h.run("asst_text")
        #expect(assistants.status == .error && assistants.errorCode == "insufficient_quota", "\(assistants)")
        let responses = try await h.respond("asst_text")
        #expect(responses.status == .error && responses.errorCode == "insufficient_quota", "\(responses)")
        #expect(h.server.rateLimitedRequests == 2, "one request each, no retry")
    }

    @Test("cool-downs are kept in the journal, the later end winning, on SQLite and PostgreSQL")
    func journalCooldowns() async throws {
        var urls: [String?] = [nil]
        if await PostgresTestCluster.available() { urls.append(try await PostgresTestCluster.makeDatabase()) }
        for url in urls {
            let h = try RunHarness(postgresURL: url)
            let now = unixMilliseconds()
            try await h.store.recordCooldown(RateLimitCooldown(scope: "s", until: now + 60_000, reason: "first"))
            try await h.store.recordCooldown(RateLimitCooldown(scope: "s", until: now + 30_000, reason: "shorter"))
            try await h.store.recordCooldown(RateLimitCooldown(scope: "old", until: now - 1, reason: "over"))
            #expect(try await h.store.activeCooldowns() == [RateLimitCooldown(scope: "s", until: now + 60_000, reason: "first")], "\(url ?? "SQLite")")
            try await h.store.recordCooldown(RateLimitCooldown(scope: "s", until: now + 90_000, reason: "longer"))
            #expect(try await h.store.activeCooldowns().first?.reason == "longer")
        }
    }
}

@Suite("Rate limits in serve: parked jobs, a spent quota, the fleet's cool-downs")
struct RateLimitDaemonTests {
    @Test("serve parks a job whose start would wait past park_after (waiting_rate_limit, attempt not counted), then runs it when due")
    func parkAndResume() async throws {
        let h = try DaemonHarness()
        try h.writeConfig(extra: "rate_limits: { park_after: 1s }", tools: "  get_weather: { command: [\"/bin/true\"], timeout: 5s }")
        h.server.limitRate(RateLimitMode(requestsPerWindow: 1, window: .seconds(600), retryAfter: "3", sendsHeaders: false))
        try h.start()
        let first = try await h.enqueue("asst_text")
        try await h.waitUntil("the first job to succeed") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(first)]) == 1 }
        let second = try await h.enqueue("asst_text")
        try await h.waitUntil("the second job to be parked") {
            try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'waiting_rate_limit'", [.integer(second)]) == 1
        }
        let parked = try #require(try h.query("SELECT attempts, not_before, last_error FROM jobs WHERE id = ?", [.integer(second)]).first)
        #expect(parked["attempts"].int == 0, "a parked start is no attempt")
        #expect((parked["not_before"].int ?? 0) > unixMilliseconds() - 3_000)
        #expect(parked["last_error"].text?.contains("rate limited (HTTP 429)") == true, "\(parked["last_error"])")
        #expect(try h.scalar("SELECT count(*) FROM rate_limits WHERE cooldown_until > 0") == 1, "the cool-down is in the journal")
        let status = try await runCommand(h.toolworker, ["status", "--config", h.configPath, "--json"], environment: h.environment)
        let queue = try JSONValue(parsing: status.output.trimmingCharacters(in: .whitespacesAndNewlines))["queue"]
        #expect(queue?["waiting_rate_limit"] != nil, "status counts the parked state: \(status.output)")
        // Due again once the pause is over: the window now lets it through.
        h.server.limitRate(nil)
        try await h.waitUntil("the parked job to run and succeed") {
            try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(second)]) == 1
        }
        #expect(try h.query("SELECT attempts FROM jobs WHERE id = ?", [.integer(second)]).first?["attempts"].int == 1)
        _ = try await h.stop()
    }

    @Test("a cool-down another process recorded in the journal holds a foreground run's start until it ends; run waits, never parks")
    func journalCooldownHoldsRun() async throws {
        let h = try DaemonHarness()
        try h.writeConfig(extra: "rate_limits: { park_after: 1s }", tools: "  get_weather: { command: [\"/bin/true\"], timeout: 5s }")
        let migrate = try await runCommand(h.toolworker, ["migrate", "--config", h.configPath], environment: h.environment)
        #expect(migrate.status == 0, "\(migrate.error)")
        let key = try #require(h.environment["OPENAI_API_KEY"])
        let scope = RateLimiter.Scope(baseURL: h.server.baseURL, key: key, keyLabel: "default/env:OPENAI_API_KEY", model: "").description
        let store = try AuditStore(path: h.database)
        try await store.recordCooldown(RateLimitCooldown(scope: scope, until: unixMilliseconds() + 3_000, reason: "rate limited (HTTP 429) for 3 s"))
        store.close()
        let run = try await runCommand(
            h.toolworker, ["run", "--config", h.configPath, "--assistant", "asst_text", "--message", "go"], environment: h.environment)
        #expect(run.status == 0, "\(run.error)")
        #expect(run.error.contains("waiting for the rate limit"), "\(run.error)")
        #expect(run.error.contains("rate limited (HTTP 429) for 3 s"))
        #expect(h.server.rateLimitedRequests == 0)
    }

    @Test("serve fails a job whose key is out of quota at once, without retries")
    func quotaJob() async throws {
        let h = try DaemonHarness()
        try h.writeConfig(tools: "  get_weather: { command: [\"/bin/true\"], timeout: 5s }")
        h.server.limitRate(RateLimitMode(quotaExhausted: true))
        try h.start()
        let job = try await h.enqueue("asst_text")
        try await h.waitUntil("the job to fail") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'failed'", [.integer(job)]) == 1 }
        let row = try #require(try h.query("SELECT attempts, last_error FROM jobs WHERE id = ?", [.integer(job)]).first)
        #expect(row["attempts"].int == 1)
        #expect(row["last_error"].text?.contains("insufficient_quota") == true, "\(row["last_error"])")
        #expect(h.server.rateLimitedRequests == 1)
        _ = try await h.stop()
    }
}
