import FakeAssistants
import Foundation
import Testing
import RunLoopCore

/// `api.state: stateless` against a fake server that keeps no state: the whole conversation in every request,
/// rebuilt from the journal after a restart.
@Suite("Responses API: servers that keep no state")
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
