import FakeAssistants
import Foundation
import Testing
import RunLoopCore

/// The Responses API tool loop end to end: the fake server's `/v1/responses`, real handlers, a real SQLite file.
@Suite("Responses API: the tool loop end to end")
struct ResponsesLoopTests {
    @Test("a text answer: one streamed response, stored and viewed like an Assistants run")
    func textAnswer() async throws {
        let h = try RunHarness()
        let outcome = try await h.respond("asst_text", instructions: "be brief")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(outcome.finalText == "Hello from the fake assistant.")
        let create = try #require(h.requests("POST", "/responses").first?.json)
        #expect(create["stream"] == true)
        #expect(create["background"] == true)
        #expect(create["store"] == true)
        #expect(create["model"] == "asst_text")
        #expect(create["instructions"] == "be brief")
        #expect(create[path: "input.0.content.0.text"] == "hi")
        #expect(create[path: "metadata.toolworker_run"] == .string(String(outcome.runKey)))
        #expect(h.requests("POST", "/responses").first?.headers["openai-beta"] == nil, "no Assistants beta header")
        let history = try #require(try await h.rows("SELECT * FROM run_history").first)
        #expect(history["protocol"].text == "responses")
        #expect(history["model"].text == "asst_text")
        #expect(history["status"].text == "completed")
        #expect(history["run_id"].text == outcome.runID)
        let events = try await h.rows("SELECT event FROM event_log ORDER BY seq").compactMap { $0["event"].text }
        #expect(events.first == "response.created")
        #expect(events.last == "response.completed")
        let answer = try await h.rows(
            "SELECT json_extract(data, '$.content[0].text') AS t FROM snapshot_log WHERE object_type = 'message' AND is_latest")
        #expect(answer.first?["t"].text == "Hello from the fake assistant.")
    }

    @Test("parallel function calls: flat tools, outputs as function_call_output with previous_response_id, each once")
    func functionCallRound() async throws {
        let h = try RunHarness()
        try h.handler("get_weather", "read args; printf 'sunny for %s' \"$args\"") { $0.description = "Weather" }
        let outcome = try await h.respond("asst_parallel")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(outcome.rounds == 1)
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        #expect(posts.count == 2)
        #expect(posts[0][path: "tools.0.name"] == "get_weather", "flat function tools")
        #expect(posts[0][path: "tools.0.function"] == nil)
        #expect(posts[0][path: "tools.0.type"] == "function")
        let submit = posts[1]
        let previous = try #require(submit["previous_response_id"]?.stringValue)
        let outputs = submit["input"]?.arrayValue ?? []
        #expect(outputs.count == 2)
        #expect(outputs.allSatisfy { $0["type"] == "function_call_output" })
        #expect(Set(outputs.compactMap { $0["call_id"]?.stringValue }).count == 2)
        #expect(h.server.response(previous).duplicateAnswers == 0)
        let calls = try await h.rows("SELECT call_id, state, output, submitted FROM tool_call_log ORDER BY call_id")
        #expect(calls.count == 2)
        #expect(calls.allSatisfy { $0["state"].text == "succeeded" && $0["submitted"].text != nil })
        #expect(outcome.finalText?.contains("get_weather: sunny for {\"city\":\"Paris\"}") == true, "\(outcome.finalText ?? "")")
        let runs = try await h.rows("SELECT run_id FROM run_history")
        #expect(runs.count == 1, "one row per tool loop, whatever the number of responses")
        #expect(runs.first?["run_id"].text == outcome.runID, "the loop's id is its latest response")
    }

    @Test("a dropped background stream is resumed by sequence_number; no event is stored twice")
    func resumedStream() async throws {
        let h = try RunHarness(scenarios: [
            "resp_drop": Scenario(finalText: "a long answer in many pieces", faults: [.dropStream(on: .create, afterFrames: 6)], deltaPieces: 10)
        ])
        let outcome = try await h.respond("resp_drop")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(outcome.finalText == "a long answer in many pieces")
        let resumes = h.server.requests.filter { $0.method == "GET" && $0.query["stream"] == "true" }
        #expect(resumes.count == 1)
        #expect(resumes.first?.query["starting_after"] == "5")
        let sequences = try await h.rows("SELECT json_extract(data, '$.sequence_number') AS n FROM event_log WHERE kind <> 'note' ORDER BY seq")
            .compactMap { $0["n"].int }
        #expect(sequences == Array(0..<Int64(sequences.count)), "every event once, in order: \(sequences)")
    }

    @Test("a server that refuses background mode: foreground requests; a drop is followed by retrieving the response")
    func foregroundFallback() async throws {
        let h = try RunHarness(scenarios: [
            "resp_fg": Scenario(finalText: "done", faults: [.dropStream(on: .create, occurrence: 2, afterFrames: 4)])
        ])
        h.server.refuseBackground()
        let outcome = try await h.respond("resp_fg")
        #expect(outcome.status == .completed, "\(outcome)")
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        #expect(posts.count == 2)
        #expect(posts[0]["background"] == true)
        #expect(posts[1]["background"] == nil)
        #expect(h.server.requests.contains { $0.method == "GET" && $0.query["stream"] == nil }, "retrieved after the drop")
        #expect(outcome.finalText == "done", "the final answer came from the retrieved response")
    }

    @Test("failed and incomplete responses end the loop with their status and reason")
    func failedAndIncomplete() async throws {
        let h = try RunHarness(scenarios: ["resp_inc": Scenario(finalText: "cut", ending: .incomplete(reason: "max_output_tokens"))])
        let failed = try await h.respond("asst_failed")
        #expect(failed.status == .failed)
        #expect(failed.errorCode == "server_error")
        let incomplete = try await h.respond("resp_inc")
        #expect(incomplete.status == .incomplete)
        #expect(try await h.rows("SELECT incomplete_reason FROM run_history WHERE status = 'incomplete'").first?["incomplete_reason"].text == "max_output_tokens")
    }

    @Test("an unknown model is a clear error; nothing is retried blind")
    func unknownModel() async throws {
        let h = try RunHarness()
        let outcome = try await h.respond("no-such-model")
        #expect(outcome.status == .error)
        #expect(outcome.detail?.contains("does not exist") == true, "\(outcome.detail ?? "")")
        #expect(h.requests("POST", "/responses").count == 1)
    }
}
