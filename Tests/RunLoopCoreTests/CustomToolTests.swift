import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
/// Custom (free-form) tools of the Responses API: registered with `type: custom`, offered as `{"type":"custom"}`, a
/// `custom_tool_call`'s raw `input` on the handler's stdin, answered by `custom_tool_call_output`.
@Suite("Responses API: custom tool calls", .serialized)
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

@Suite("Responses API: request options", .serialized)
struct RequestOptionsTests {
    @Test("request_options in the configuration and --request-option per run reach every request; other keys are refused")
    func options() async throws {
        let h = try RunHarness(scenarios: ["opts": Scenario(rounds: [[ScriptedToolCall("noop", "{}")]])])
        let config = h.directory.path("c.yaml")
        try """
            api: { base_url: "\(h.server.baseURL)", protocol: responses }
            model: opts
            database: \(h.directory.path("cli.db"))
            request_options: { parallel_tool_calls: false, max_output_tokens: 512, reasoning: { effort: low } }
            tools:
              noop: { command: [/bin/true] }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["OPENAI_API_KEY": h.server.apiKey, "PATH": "/usr/bin:/bin"]
        let tw = builtProduct("toolworker")
        let run = try await runCommand(
            tw, ["run", "--config", config, "--message", "go", "--request-option", "tool_choice=required", "--request-option", "max_output_tokens=64"],
            environment: environment)
        #expect(run.status == 0, "\(run)")
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        #expect(posts.count == 2)
        for post in posts {
            #expect(post["parallel_tool_calls"] == false)
            #expect(post["max_output_tokens"] == 64, "the run's own over the configuration's")
            #expect(post["reasoning"] == ["effort": "low"])
            #expect(post["tool_choice"] == "required")
        }
        let refused = try await runCommand(tw, ["run", "--config", config, "--message", "go", "--request-option", "model=evil"], environment: environment)
        #expect(refused.status == 64, "\(refused)")
        try "api: { base_url: \"http://127.0.0.1:9/v1\" }\ntools: {}\nrequest_options: { input: [] }\n".write(toFile: config, atomically: true, encoding: .utf8)
        let bad = try await runCommand(tw, ["check-config", "--config", config], environment: environment)
        #expect(bad.status == 78 && bad.error.contains("request_options.input"), "\(bad)")
    }
}
}
