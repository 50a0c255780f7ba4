import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
/// `api.state: stateless` against a fake server that keeps no state: the whole conversation in every request,
/// rebuilt from the journal after a restart.
@Suite("Responses API: servers that keep no state", .serialized)
struct StatelessTests {
    static let twoRounds = Scenario(
        rounds: [[ScriptedToolCall("get_weather", #"{"city":"Paris"}"#)], [ScriptedToolCall("get_weather", #"{"city":"Oslo"}"#)]],
        quirks: ResponsesQuirks(stateless: true))

    func stateless(_ model: String) -> RunRequest {
        RunRequest(assistantID: "", message: "weather?", protocolName: "responses", model: model, conversationState: .stateless)
    }

    @Test("two rounds: every request carries the whole conversation, store: false, never previous_response_id or background")
    func twoRounds() async throws {
        let h = try RunHarness(scenarios: ["local": Self.twoRounds])
        try h.handler("get_weather", "read args; printf 'sunny in %s' \"$args\"")
        let outcome = try await h.driverRun(stateless("local"))
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(outcome.rounds == 2)
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        #expect(posts.count == 3)
        for post in posts {
            #expect(post["previous_response_id"] == nil)
            #expect(post["background"] == nil)
            #expect(post["store"] == false)
        }
        let third = posts[2]["input"]?.arrayValue ?? []
        #expect(third.map { $0["type"]?.stringValue ?? "" } == [
            "message", "function_call", "function_call_output", "function_call", "function_call_output",
        ], "\(third)")
        #expect(third[2]["output"]?.stringValue?.contains("Paris") == true)
        #expect(third[1]["call_id"] == third[2]["call_id"])
        #expect(outcome.finalText?.contains("sunny in {\"city\":\"Oslo\"}") == true, "\(outcome.finalText ?? "")")
        #expect(h.requests("GET", "").filter { $0.path.contains("/responses/") }.isEmpty, "nothing asked of a server that stores nothing")
    }

    @Test("the default (server) state against such a server: the refusal names api.state: stateless")
    func serverStateExplained() async throws {
        let h = try RunHarness(scenarios: ["local": Self.twoRounds])
        try h.handler("get_weather", "read args; printf 'sunny'")
        let outcome = try await h.respond("local")
        #expect(outcome.errorCode == "submit_refused", "\(outcome)")
        #expect(outcome.detail?.contains("api.state: stateless") == true, "\(outcome.detail ?? "")")
    }

    @Test("a stream that drops: the lost response is asked for again with the same whole input, and the loop completes")
    func droppedStream() async throws {
        var scenario = Self.twoRounds
        scenario.faults = [.dropStream(on: .create, occurrence: 2, afterFrames: 2)]  // a stateless answer is a create
        let h = try RunHarness(scenarios: ["local": scenario])
        try h.handler("get_weather", "read args; printf 'sunny'")
        let outcome = try await h.driverRun(stateless("local"))
        #expect(outcome.status == .completed, "\(outcome)")
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        #expect(posts.count == 4, "start, the dropped submit, the same again, the last round")
        #expect(posts[1]["input"] == posts[2]["input"], "sent again unchanged")
        let notes = try await h.rows("SELECT event FROM event_log WHERE event = 'toolworker.request_resent'")
        #expect(notes.count == 1)
    }

    @Test("stopped in the middle of a round, a new driver rebuilds the conversation from the journal and goes on")
    func resumeFromJournal() async throws {
        let h = try RunHarness(scenarios: ["local": Self.twoRounds])
        let gate = h.directory.path("gate")
        let started = h.directory.path("started")
        try h.handler("get_weather", "read args; touch '\(started)'; while [ ! -e '\(gate)' ]; do sleep 0.05; done; printf 'sunny in %s' \"$args\"")
        let driver = h.driver()
        let request = stateless("local")
        let first = Task { try await driver.run(request) }
        try await waitFor("the first handler to start") { FileManager.default.fileExists(atPath: started) }
        first.cancel()  // as a crash would: the call stays `running`, the run open, nothing submitted
        _ = try? await first.value
        let key = try #require(try await h.rows("SELECT id FROM runs WHERE ended_at IS NULL").first?["id"].int)
        let record = try #require(try await h.store.run(key: key))
        FileManager.default.createFile(atPath: gate, contents: nil)
        let outcome = try await h.driver().resume(record)
        #expect(outcome.status == .completed, "\(outcome)")
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        let resumed = posts[1]["input"]?.arrayValue ?? []
        #expect(resumed.map { $0["type"]?.stringValue ?? "" } == ["message", "function_call", "function_call_output"], "\(resumed)")
        #expect(resumed[0]["content"]?[0]?["text"] == "weather?", "the opening message, from the journal")
        #expect(posts.allSatisfy { $0["previous_response_id"] == nil })
    }
}

/// The same under `serve`, with a real SIGKILL between rounds.
@Suite("Responses API: a stateless loop survives kill -9", .serialized)
struct StatelessCrashTests {
    @Test("kill -9 while a round's handler runs: the restarted daemon rebuilds the whole input from the journal and finishes")
    func killBetweenRounds() async throws {
        let h = try DaemonHarness(scenarios: ["local": StatelessTests.twoRounds])
        let ledger = h.directory.path("ledger")
        let gate = h.directory.path("gate")
        let handler = try h.script(
            "weather.sh", "read args; echo \"$args\" >> \(ledger); while [ ! -e \(gate) ]; do sleep 0.05; done; printf 'sunny in %s' \"$args\"")
        try h.writeConfig(extra: "model: local", tools: "  get_weather: { command: [\"\(handler)\"], timeout: 60s }")
        let enqueue = try await runCommand(
            h.toolworker,
            ["enqueue", "--config", h.configPath, "--protocol", "responses", "--model", "local", "--message", "weather?", "--state", "stateless"],
            environment: h.environment)
        #expect(enqueue.status == 0, "\(enqueue)")
        let job = try #require(Int64(enqueue.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        try h.start()
        try await h.waitUntil("the first handler to run") { (try? String(contentsOfFile: ledger, encoding: .utf8)) != nil }
        _ = try await h.stop(SIGKILL)
        FileManager.default.createFile(atPath: gate, contents: nil)
        try h.start()
        try await h.waitUntil("job \(job) to succeed") {
            try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(job)]) == 1
        }
        let stop = try await h.stop()
        #expect(stop.status == 0, "\(stop); log:\n\(h.log().suffix(2000))")
        let posts = h.server.requests.filter { $0.method == "POST" && $0.path.hasSuffix("/responses") }.compactMap(\.json)
        #expect(posts.allSatisfy { $0["previous_response_id"] == nil && $0["store"] == false })
        let last = posts.last?["input"]?.arrayValue ?? []
        #expect(last.map { $0["type"]?.stringValue ?? "" } == [
            "message", "function_call", "function_call_output", "function_call", "function_call_output",
        ], "\(last)")
        #expect(try h.query("SELECT status FROM run_history").first?["status"].text == "completed")
    }
}
}
