import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
/// The fake server taught what a LiteLLM Responses bridge does (``ResponsesQuirks``), end to end through the driver:
/// every frame kept, `[DONE]` as the end marker, a refused submit, no retrieve, cut arguments, endless rounds.
@Suite("Responses servers that are not OpenAI's: the LiteLLM bridge's behaviour", .serialized)
struct BridgeServerTests {
    @Test("sparse and reversed sequence numbers and a closing [DONE]: every frame on the wire is a row, [DONE] the end marker")
    func numberingAndDone() async throws {
        let h = try RunHarness(scenarios: [
            "bridge": Scenario(rounds: [[ScriptedToolCall("get_weather", #"{"city":"Paris"}"#)]], quirks: .liteLLMBridge)
        ])
        try h.handler("get_weather", "read args; printf 'sunny'")
        let outcome = try await h.respond("bridge")
        #expect(outcome.status == .completed, "\(outcome)")
        var sent = 0
        for response in try await h.rows("SELECT DISTINCT response_id AS id FROM event_log WHERE kind <> 'note'") {
            let id = try #require(response["id"].text)
            let frames = h.server.responseFrameCount(id)
            let rows = try await h.rows("SELECT count(*) AS n FROM event_log WHERE response_id = '\(id)' AND kind <> 'note'").first?["n"].int
            #expect(rows == Int64(frames), "response \(id): \(frames) frames sent, \(rows ?? 0) rows")
            sent += frames
        }
        #expect(sent > 0)
        let done = try await h.rows("SELECT count(*) AS n FROM event_log WHERE kind = 'done'").first?["n"].int
        #expect(done == 2, "one [DONE] per stream")
        let noted = try await h.rows("SELECT count(*) AS n FROM event_log WHERE error LIKE '%did not increase%'").first?["n"].int ?? 0
        #expect(noted > 0, "the reversed numbers are noted")
        #expect(try await h.rows("SELECT * FROM event_log WHERE kind = 'malformed'").isEmpty)
    }

    @Test("a 400 for the submit ends the round at once with that error: no retrieve asked of a server that has none")
    func refusedSubmit() async throws {
        let h = try RunHarness(scenarios: [
            "bridge": Scenario(
                rounds: [[ScriptedToolCall("get_weather", #"{"city":"Paris"}"#)]], faults: [.httpError(status: 400, on: .submit)],
                quirks: .liteLLMBridge)
        ])
        try h.handler("get_weather", "read args; printf 'sunny'")
        let outcome = try await h.respond("bridge")
        #expect(outcome.errorCode == "submit_refused", "\(outcome)")
        #expect(h.requests("GET", "").filter { $0.path.contains("/responses/") }.isEmpty, "no retrieve")
        let history = try #require(try await h.rows("SELECT error_message FROM run_history").first)
        #expect(history["error_message"].text?.contains("HTTP 400") == true || history["error_message"].text?.contains("400") == true,
                "\(history["error_message"].text ?? "")")
    }

    @Test("a broken stream on a server that cannot retrieve: said once, ended at once with the first cause")
    func noRetrieve() async throws {
        let h = try RunHarness(scenarios: [
            "bridge": Scenario(finalText: "a long answer", faults: [.dropStream(on: .create, afterFrames: 3)], deltaPieces: 8, quirks: .liteLLMBridge)
        ])
        let outcome = try await h.respond("bridge")
        #expect(outcome.errorCode == "lost_run", "\(outcome)")
        #expect(outcome.detail?.contains("not supported") == true && outcome.detail?.contains("stream") == true, "\(outcome.detail ?? "")")
        let retrieves = h.requests("GET", "").filter { $0.path.contains("/responses/") }
        #expect(retrieves.count <= 3, "the client's own retries of one retrieve at most: \(retrieves.count)")
    }

    @Test("a response reported completed with its call's arguments cut: asked once more, then failed; the handler never runs")
    func truncated() async throws {
        let h = try RunHarness(scenarios: [
            "bridge": Scenario(rounds: [[ScriptedToolCall("get_weather", #"{"city":"Paris"}"#)]], quirks: ResponsesQuirks(truncatedArguments: true))
        ])
        let marker = h.directory.path("ran")
        try h.handler("get_weather", "touch '\(marker)'; printf 'sunny'")
        let outcome = try await h.respond("bridge")
        #expect(outcome.status == .failed, "\(outcome)")
        #expect(outcome.errorCode == "truncated_arguments")
        #expect(h.requests("POST", "/responses").count == 2)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("a model that never stops calling tools ends with max_rounds")
    func endless() async throws {
        let h = try RunHarness(scenarios: [
            "bridge": Scenario(rounds: [[ScriptedToolCall("get_weather", #"{"city":"Paris"}"#)]], quirks: ResponsesQuirks(endlessRounds: true))
        ])
        try h.handler("get_weather", "read args; printf 'sunny'")
        let outcome = try await h.driverRun(RunRequest(assistantID: "", message: "hi", protocolName: "responses", model: "bridge", maxRounds: 5))
        #expect(outcome.errorCode == "max_rounds", "\(outcome)")
        #expect(outcome.rounds == 5)
        #expect(try await h.rows("SELECT * FROM tool_call_log").count == 5)
    }
}
}
