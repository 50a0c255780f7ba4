import FakeAssistants
import Foundation
import Testing
@testable import Journal
@testable import PostgresJournal
import RunLoopCore

/// `jobs` Responses jobs (model `asst_text`) queued on the PostgreSQL journal at `url`, and two `serve` of `config`
/// taking them.
final class TwoDaemons {
    let daemons: [Process]
    let reader: PostgresConnection

    init(config: String, url: String, jobs: Int, server: FakeAssistantsServer, directory: TempDirectory) async throws {
        let store = try AuditStore(connector: PostgresConnector(url: url))
        defer { store.close() }
        for i in 0..<jobs {
            _ = try await store.enqueueJob(
                assistantID: "", threadID: nil, message: "job \(i)", instructions: nil, metadata: nil, protocolName: "responses", model: "asst_text")
        }
        let environment = ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"]
        daemons = try (0..<2).map { try startServe(config: config, environment: environment, log: directory.path("serve-\($0).log")) }
        reader = try PostgresConnection(url: url)
    }

    /// A count from the journal.
    func count(_ sql: String) throws -> Int64 { try reader.scalar(sql).int ?? 0 }

    /// Stops both daemons (SIGTERM) and waits for them.
    func stop() async {
        for process in daemons { kill(process.processIdentifier, SIGTERM) }
        for process in daemons { await waitForExit(process) }
    }

    deinit { for process in daemons where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// A provider's daily budget (`providers.NAME.daily_budget`, `budgets.daily`): before each request a loop reserves
/// its estimate of the provider's UTC day in the journal; a request that would pass the day is not sent.
@Suite("Daily budgets per provider, for one daemon and for a fleet")
struct DailyBudgetTests {
    let toolworker = builtProduct("toolworker")

    @Test("runs stop before the request that would pass the provider's day; the next day's would go; nothing is sent past it")
    func oneDaemon() async throws {
        let server = try FakeAssistantsServer()
        defer { server.stop() }
        let dir = TempDirectory()
        let config = dir.path("toolworker.yaml")
        // Each fake response reports 62 tokens: two fit in 150, a third would not.
        try """
            api: { base_url: "\(server.baseURL)", protocol: responses }
            database: tw.db
            model: asst_text
            budgets: { daily: { tokens: 150 } }
            tools: {}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"]
        func run() async throws -> (status: Int32, output: String, error: String) {
            try await runCommand(toolworker, ["run", "--config", config, "--message", "hello"], environment: environment)
        }
        #expect(try await run().status == 0)
        #expect(try await run().status == 0)
        let third = try await run()
        #expect(third.status == 15, "\(third.output) \(third.error)")
        #expect(third.output.contains("the daily budget of provider default"), "\(third.output)")
        #expect(third.output.contains("124 tokens used and about 62 more"), "estimated from the day's average request: \(third.output)")
        #expect(server.requests.filter { $0.method == "POST" && $0.path.hasSuffix("/responses") }.count == 2, "nothing sent past the day's budget")
        // Yesterday's usage does not count today.
        let db = dir.path("tw.db")
        _ = try await runCommand("/usr/bin/sqlite3", [db, "UPDATE usage SET recorded_at = recorded_at - 86400000"])
        #expect(try await run().status == 0)
    }

    @Test("two daemons on PostgreSQL share a provider's day: together they pass it by at most one request each",
          .enabled("PostgreSQL could not be started") { await PostgresTestCluster.available() })
    func fleet() async throws {
        let server = try FakeAssistantsServer()
        defer { server.stop() }
        let directory = TempDirectory()
        let url = try await PostgresTestCluster.makeDatabase()
        let config = directory.path("toolworker.yaml")
        // 62 tokens a response: five and a half fit in the day.
        let budget: Int64 = 62 * 5 + 31
        try """
            database: "\(url)"
            model: asst_text
            providers:
              main: { base_url: "\(server.baseURL)", protocol: responses, daily_budget: { tokens: \(budget) } }
            fleet: { heartbeat: 500ms, lease_expiry: 5s }
            concurrency: { runs: 4 }
            tools: {}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let jobs = 16
        let fleet = try await TwoDaemons(config: config, url: url, jobs: jobs, server: server, directory: directory)
        let count = fleet.count
        try await waitFor("every job to end", timeout: .seconds(120)) {
            try count("SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'failed')") == Int64(jobs)
        }
        let sent = Int64(server.requests.filter { $0.method == "POST" && $0.path.hasSuffix("/responses") }.count)
        let used = try count("SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM usage WHERE provider = 'main'")
        #expect(used == sent * 62, "every request sent is in the ledger")
        #expect(used <= budget + 2 * 62, "the two daemons together passed the day by at most one request each: \(used) of \(budget)")
        #expect(sent >= 4, "the budget was used, not refused early: \(sent) requests")
        #expect(try count("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == sent)
        #expect(try count("SELECT count(*) FROM jobs WHERE state = 'failed' AND last_error LIKE '%daily budget of provider main%'") == Int64(jobs) - sent)
        #expect(try count("SELECT count(*) FROM jobs WHERE attempts > 1") == 0, "a budget stop is not retried")
        await fleet.stop()
    }

    @Test("two daemons on PostgreSQL share a model's requests_per_minute: the fleet sends no more than the window allows",
          .enabled("PostgreSQL could not be started") { await PostgresTestCluster.available() })
    func sharedWindow() async throws {
        let server = try FakeAssistantsServer()
        defer { server.stop() }
        let directory = TempDirectory()
        let url = try await PostgresTestCluster.makeDatabase()
        let config = directory.path("toolworker.yaml")
        try """
            api: { base_url: "\(server.baseURL)", protocol: responses }
            database: "\(url)"
            model: asst_text
            rate_limits: { park_after: 1s, models: { asst_text: { requests_per_minute: 3 } } }
            fleet: { heartbeat: 500ms, lease_expiry: 5s }
            concurrency: { runs: 2 }
            tools: {}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let startMinute = unixMilliseconds() / 60_000
        let fleet = try await TwoDaemons(config: config, url: url, jobs: 8, server: server, directory: directory)
        let count = fleet.count
        // Two at a time each: both daemons take jobs, so each alone would send its own three.
        try await waitFor("every job done or parked, each daemon having driven some", timeout: .seconds(120)) {
            try count("SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'waiting_rate_limit')") == 8
                && count("SELECT count(DISTINCT lease_owner) FROM runs") == 2
        }
        let windows = unixMilliseconds() / 60_000 - startMinute + 1
        let sent = Int64(server.requests.filter { $0.method == "POST" && $0.path.hasSuffix("/responses") }.count)
        #expect(sent <= 3 * windows, "\(sent) requests in \(windows) window(s) of 3 for the whole fleet")
        #expect(try count("SELECT count(*) FROM jobs WHERE state = 'failed'") == 0, "a spent window parks, it does not fail")
        await fleet.stop()
    }
}
