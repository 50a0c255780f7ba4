import FakeAssistants
import Foundation
import Testing
import RunLoopCore

/// Custom (free-form) tools of the Responses API: registered with `type: custom`, offered as `{"type":"custom"}`, a
/// `custom_tool_call`'s raw `input` on the handler's stdin, answered by `custom_tool_call_output`.
@Suite("Responses API: custom tool calls")
struct CustomToolTests {
    static let patchText = "*** Begin Patch\n*** Add File: notes.txt\n+hello \"world\"\n*** End Patch"

    @Test("a custom call gets its raw input on stdin and is answered with custom_tool_call_output; journaled like a function call")
    func customCall() async throws {
        let h = try RunHarness(scenarios: ["custom": Scenario(rounds: [[ScriptedToolCall("apply_notes", Self.patchText, custom: true)]])])
        let received = h.directory.path("received")
        try h.handler("apply_notes", "cat > '\(received)'; printf 'applied'") { tool in
            tool.kind = .custom
            tool.description = "Applies a notes patch"
            tool.format = ["type": "text"]
        }
        let outcome = try await h.respond("custom")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(try String(contentsOfFile: received, encoding: .utf8) == Self.patchText, "the raw input, not JSON")
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        #expect(posts[0]["tools"]?[0] == ["type": "custom", "name": "apply_notes", "description": "Applies a notes patch", "format": ["type": "text"]])
        let answer = posts[1]["input"]?[0]
        #expect(answer?["type"] == "custom_tool_call_output")
        #expect(answer?["output"] == "applied")
        let call = try #require(try await h.rows("SELECT state, arguments FROM tool_call_log").first)
        #expect(call["state"].text == "succeeded")
        #expect(call["arguments"].text == Self.patchText)
        let snapshot = try await h.rows("SELECT json_extract(data, '$.input') AS input FROM snapshot_log WHERE object_type = 'tool_call' AND is_latest")
        #expect(snapshot.first?["input"].text == Self.patchText, "the accumulated input, from its deltas")
    }

    @Test("a custom call to a tool registered as a function (or the reverse) is answered with a clear error, never run")
    func kindMismatch() async throws {
        let h = try RunHarness(scenarios: ["custom": Scenario(rounds: [[ScriptedToolCall("get_weather", "Paris", custom: true)]])])
        let marker = h.directory.path("ran")
        try h.handler("get_weather", "touch '\(marker)'; printf 'sunny'")
        let outcome = try await h.respond("custom")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        let answer = h.requests("POST", "/responses").compactMap(\.json)[1]["input"]?[0]
        #expect(answer?["type"] == "custom_tool_call_output")
        #expect(answer?["output"]?.stringValue?.contains("registered as a function tool") == true, "\(answer?["output"] ?? nil)")
    }

    @Test("a stateless loop echoes the custom call and its output in the whole input")
    func statelessCustom() async throws {
        let h = try RunHarness(scenarios: [
            "custom": Scenario(rounds: [[ScriptedToolCall("apply_notes", Self.patchText, custom: true)]], quirks: ResponsesQuirks(stateless: true))
        ])
        try h.handler("apply_notes", "cat >/dev/null; printf 'applied'") { $0.kind = .custom }
        let outcome = try await h.driverRun(RunRequest(assistantID: "", message: "go", protocolName: "responses", model: "custom", conversationState: .stateless))
        #expect(outcome.status == .completed, "\(outcome)")
        let second = h.requests("POST", "/responses").compactMap(\.json)[1]["input"]?.arrayValue ?? []
        #expect(second.map { $0["type"]?.stringValue ?? "" } == ["message", "custom_tool_call", "custom_tool_call_output"])
        #expect(second[1]["input"]?.stringValue == Self.patchText)
    }

    @Test("configuration: type custom takes format, not parameters; a function takes no format")
    func configuration() throws {
        let ok = try ConfigLoader.parse("tools:\n  notes: { command: [/bin/cat], type: custom, format: { type: text } }\n", file: "/nonexistent/c.yaml")
        #expect(ok.tools.first?.kind == .custom)
        #expect(ok.tools.first?.format == ["type": "text"])
        for bad in [
            "tools:\n  notes: { command: [/bin/cat], type: custom, parameters: { type: object } }\n",
            "tools:\n  notes: { command: [/bin/cat], format: { type: text } }\n",
            "tools:\n  notes: { command: [/bin/cat], type: shell }\n",
        ] {
            #expect(throws: ConfigError.self, "\(bad)") { _ = try ConfigLoader.parse(bad, file: "/nonexistent/c.yaml") }
        }
    }
}
