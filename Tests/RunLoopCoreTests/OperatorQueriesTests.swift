import FakeAssistants
import Foundation
import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("Operator views and deploy/queries.sql through the sqlite3 CLI")
struct OperatorQueriesTests {
    static let queries = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy/queries.sql")

    @Test("the ready questions answer for a Responses tool loop too")
    func queriesForResponses() async throws {
        let h = try RunHarness()
        try h.handler("get_weather", RunDriverTests.weatherScript)
        let outcome = try await h.respond("asst_weather")
        #expect(outcome.status == .completed)
        let runID = try #require(outcome.runID)
        let sql = try String(contentsOf: Self.queries, encoding: .utf8).replacingOccurrences(of: "run_XXX", with: runID)
        let result = try await runCommand("/usr/bin/sqlite3", ["-readonly", "-bail", "-separator", "|", h.directory.path("audit.db")], input: sql)
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("responses|completed|1"), "runs by protocol")
        #expect(result.output.contains("get_weather: sunny in Paris"), "final assistant message")
        #expect(result.output.contains("response.function_call_arguments.delta"), "everything in run X")
    }

    @Test("every ready question runs and answers from a recorded run")
    func queriesRun() async throws {
        let h = try RunHarness(scenarios: [
            "asst_mix": Scenario(rounds: [
                [ScriptedToolCall("get_weather", #"{"city":"Paris"}"#), ScriptedToolCall("broken", "{}")],
                [ScriptedToolCall("get_weather", #"{"city":"Oslo"}"#)],
            ])
        ])
        try h.handler("get_weather", RunDriverTests.weatherScript)
        try h.handler("broken", "echo oops >&2; exit 1")
        let outcome = try await h.run("asst_mix")
        #expect(outcome.status == .completed)
        _ = try await h.run("asst_failed")
        let runID = try #require(outcome.runID)
        var sql = try String(contentsOf: Self.queries, encoding: .utf8)
        sql = sql.replacingOccurrences(of: "run_XXX", with: runID)
        let result = try await runCommand("/usr/bin/sqlite3", ["-readonly", "-bail", "-separator", "|", h.directory.path("audit.db")], input: sql)
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.isEmpty, "\(result.error)")
        let text = result.output
        #expect(text.contains("|failed|server_error|Sorry, something went wrong.|"), "failed runs today")
        #expect(text.contains("broken|1|1|100.0|nonzero_exit"), "error rate by tool")
        #expect(text.contains("get_weather|2|0|0.0|"), "error rate by tool")
        #expect(text.contains("get_weather: sunny in Oslo"), "final assistant message")
        #expect(text.contains("thread.run.requires_action"), "everything in run X")
        // Latest snapshot per object is one simple query away.
        let latest = try await h.rows("SELECT object_type, count(*) AS n FROM snapshot_log WHERE run_id = ? AND is_latest GROUP BY object_type ORDER BY object_type", [.text(runID)])
        #expect(latest.map { "\($0["object_type"].text!)=\($0["n"].int!)" } == ["message=1", "run=1", "run_step=3", "tool_call=3"])
    }
}
