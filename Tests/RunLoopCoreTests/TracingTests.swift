import FakeAssistants
import Foundation
import Testing
import RunLoopCore

/// OpenTelemetry traces (issue 31, part 3): a loop's spans arrive at a real OTLP/HTTP receiver (opentelemetry-proto
/// decoding what is posted) as the GenAI conventions' tree, with the W3C context handed to handlers, MCP servers and
/// the model server, and no secret in them.
@Suite("OpenTelemetry traces over OTLP/HTTP")
struct TracingTests {
    let toolworker = builtProduct("toolworker")

    /// A receiver process answering `status`; its port, and where it writes spans and raw bodies.
    final class Receiver {
        let process = Process()
        let spans: String
        let raw: String
        let port: Int

        init(_ dir: TempDirectory, name: String, status: Int = 200) async throws {
            let sdk = try #require(SDKTestEnvironment.pythonPath, "scripts/test.sh installs opentelemetry-proto")
            let portFile = dir.path("\(name).port")
            spans = dir.path("\(name).spans")
            raw = dir.path("\(name).raw")
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [Fixtures.directory.appendingPathComponent("otlp_receiver.py").path, portFile, spans, raw, String(status)]
            process.environment = ["PYTHONPATH": sdk, "PATH": "/usr/bin:/bin"]
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await waitFor("the receiver to listen") { FileManager.default.fileExists(atPath: portFile) }
            port = Int(try String(contentsOfFile: portFile, encoding: .utf8)) ?? 0
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        /// The spans received so far.
        func received() -> [JSONValue] {
            ((try? String(contentsOfFile: spans, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { try? JSONValue(parsing: Array($0.utf8)) }
        }
    }

    @Test("a two-round loop with an MCP call: invoke_agent over chat and execute_tool spans, context passed on, nothing secret")
    func twoRoundTrace() async throws {
        guard MCPTestEnvironment.available else { Issue.record("the mcp Python package is missing (scripts/test.sh installs it)"); return }
        let server = try FakeAssistantsServer(scenarios: [
            "asst_traced": Scenario(
                rounds: [
                    [ScriptedToolCall("get_weather", #"{"city":"Paris"}"#), ScriptedToolCall("fake__traceparent", "{}")],
                    [ScriptedToolCall("broken", "{}")],
                ],
                finalText: "done")
        ])
        defer { server.stop() }
        let dir = TempDirectory()
        let receiver = try await Receiver(dir, name: "otlp")
        let handler = dir.path("weather.sh")
        try "#!/bin/sh\ncat >/dev/null\nprintf %s \"$TRACEPARENT\" > \(dir.path("handler-traceparent"))\necho sunny\n".writeScript(toFile: handler)
        chmod(handler, 0o755)
        let broken = dir.path("broken.sh")
        try "#!/bin/sh\ncat >/dev/null\necho no >&2\nexit 3\n".writeScript(toFile: broken)
        chmod(broken, 0o755)
        let config = dir.path("toolworker.yaml")
        try """
            api: { base_url: "\(server.baseURL)" }
            database: tw.db
            tools:
              get_weather: { command: ["\(handler)"], timeout: 10s }
              broken: { command: ["\(broken)"], timeout: 10s }
            mcp_servers:
              fake:
                command: ["\(MCPTestEnvironment.python!)", "\(MCPTestEnvironment.fakeServer)", "stdio"]
                env: { PYTHONPATH: "\(MCPTestEnvironment.packages!)" }
                allowed_tools: [traceparent]
                timeout: 30s
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = [
            "OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(receiver.port)",
            "OTEL_SERVICE_NAME": "tw-test", "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20collector-token",
        ]
        let run = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_traced", "--message", "go"], environment: environment)
        #expect(run.status == 0, "\(run.output) \(run.error)")
        let runID = String(run.output.split(separator: "\n").first { $0.hasPrefix("run: ") }?.dropFirst(5) ?? "")
        try await waitFor("the spans to arrive") { receiver.received().contains { $0["name"]?.stringValue?.hasPrefix("invoke_agent") == true } }
        let spans = receiver.received()
        func named(_ prefix: String) -> [JSONValue] { spans.filter { $0["name"]?.stringValue?.hasPrefix(prefix) == true } }
        let agents = named("invoke_agent")
        #expect(agents.count == 1)
        let agent = try #require(agents.first)
        #expect(agent["name"]?.stringValue == "invoke_agent asst_traced" && agent["parent"]?.stringValue == "", "the loop's span is the root")
        #expect(agent[path: "attributes.gen_ai.operation.name"] == nil)  // dotted keys are not paths: read them whole
        let attributes = try #require(agent["attributes"]?.objectValue)
        #expect(attributes["gen_ai.operation.name"]?.stringValue == "invoke_agent")
        #expect(attributes["gen_ai.agent.id"]?.stringValue == "asst_traced")
        #expect(attributes["toolworker.run_id"]?.stringValue == runID && attributes["toolworker.status"]?.stringValue == "completed")
        #expect(agent["resource"]?["service.name"]?.stringValue == "tw-test" && agent["scope"]?.stringValue == "toolworker")
        #expect(agent["auth"]?.stringValue == "Bearer collector-token", "OTEL_EXPORTER_OTLP_HEADERS are sent")
        let trace = try #require(agent["trace_id"]?.stringValue)
        let agentSpan = try #require(agent["span_id"]?.stringValue)
        #expect(spans.allSatisfy { $0["trace_id"]?.stringValue == trace }, "one trace")

        let chats = named("chat")
        #expect(chats.count == 3, "the start and two submits: \(chats.map { $0["name"] ?? .null })")
        #expect(chats.allSatisfy { $0["parent"]?.stringValue == agentSpan && $0["kind"]?.intValue == 3 })
        #expect(chats.contains { $0["attributes"]?["gen_ai.usage.input_tokens"]?.intValue ?? 0 > 0 }, "usage where the server sent it")
        // The model server was told each request's context: its traceparent names a chat span of this trace.
        let chatIDs = Set(chats.compactMap { $0["span_id"]?.stringValue })
        let posts = server.requests.filter { $0.method == "POST" && ($0.path.hasSuffix("/runs") || $0.path.hasSuffix("/submit_tool_outputs")) }
        #expect(posts.count == 3)
        for post in posts {
            let parent = SpanContext(traceparent: post.headers["traceparent"] ?? "")
            #expect(parent.map { SpanContext.hex($0.traceID) } == trace && chatIDs.contains(parent.map { SpanContext.hex($0.spanID) } ?? ""), "\(post.path)")
        }

        let tools = named("execute_tool")
        #expect(tools.count == 3 && tools.allSatisfy { $0["parent"]?.stringValue == agentSpan }, "\(tools)")
        let calls = try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), "SELECT call_id || ' ' || tool FROM tool_calls ORDER BY round, tool"])
        for line in calls.output.split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            let span = tools.first { $0["attributes"]?["gen_ai.tool.call.id"]?.stringValue == parts[0] }
            #expect(span?["attributes"]?["gen_ai.tool.name"]?.stringValue == parts[1], "\(line)")
        }
        let weather = try #require(tools.first { $0["attributes"]?["gen_ai.tool.name"]?.stringValue == "get_weather" })
        #expect(try String(contentsOfFile: dir.path("handler-traceparent"), encoding: .utf8) == "00-\(trace)-\(weather["span_id"]?.stringValue ?? "")-01",
            "the handler got its span's context as TRACEPARENT")
        let mcp = try #require(tools.first { $0["attributes"]?["gen_ai.tool.name"]?.stringValue == "fake__traceparent" })
        #expect(mcp["attributes"]?["mcp.method.name"]?.stringValue == "tools/call")
        #expect(mcp["attributes"]?["jsonrpc.request.id"]?.stringValue?.isEmpty == false)
        let mcpOutput = try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), "SELECT output FROM tool_calls WHERE tool = 'fake__traceparent'"])
        #expect(mcpOutput.output.trimmingCharacters(in: .whitespacesAndNewlines) == "traceparent 00-\(trace)-\(mcp["span_id"]?.stringValue ?? "")-01",
            "the MCP server got it as params._meta.traceparent")
        let failed = try #require(tools.first { $0["attributes"]?["gen_ai.tool.name"]?.stringValue == "broken" })
        #expect(failed["attributes"]?["error.type"]?.stringValue == "nonzero_exit" && failed["status"]?.intValue == 2)
        #expect(weather["attributes"]?["error.type"] == nil && weather["attributes"]?["gen_ai.tool.call.arguments"] == nil, "content only when enabled")
        let raw = try Data(contentsOf: URL(fileURLWithPath: receiver.raw))
        #expect(raw.range(of: Data(server.apiKey.utf8)) == nil, "no API key in any exported byte")
    }

    @Test("a collector that is down costs a log line, not the run; bad variables are said and tracing stays off")
    func collectorDown() async throws {
        let (dir, server, config) = try commandLineFixture()
        defer {
            server.stop()
            withExtendedLifetime(dir) {}
        }
        let receiver = try await Receiver(dir, name: "down", status: 503)
        var environment = ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:\(receiver.port)/v1/traces"]
        let down = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_weather", "--message", "go"], environment: environment)
        #expect(down.status == 0, "\(down.error)")
        #expect(down.error.components(separatedBy: "could not export traces").count == 2, "one line: \(down.error)")
        #expect(FileManager.default.fileExists(atPath: receiver.raw), "the export was tried")
        environment["OTEL_TRACES_SAMPLER"] = "sometimes"
        let bad = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_text", "--message", "hi"], environment: environment)
        #expect(bad.status == 0)
        #expect(bad.error.contains("OpenTelemetry configuration refused") && bad.error.contains("OTEL_TRACES_SAMPLER=sometimes"), "\(bad.error)")
        environment["OTEL_TRACES_SAMPLER"] = "always_off"
        let before = (try? Data(contentsOf: URL(fileURLWithPath: receiver.raw)).count) ?? 0
        let off = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_text", "--message", "hi"], environment: environment)
        #expect(off.status == 0 && ((try? Data(contentsOf: URL(fileURLWithPath: receiver.raw)).count) ?? 0) == before, "always_off exports nothing")
    }

    @Test("traceparent: W3C values read and written; malformed ones refused")
    func traceparent() {
        let text = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let context = SpanContext(traceparent: text)
        #expect(context?.traceparent == text && context?.sampled == true)
        for bad in ["", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01"] {
            #expect(SpanContext(traceparent: bad) == nil, "\(bad)")
        }
        #expect(Sampler.parentBased(root: .alwaysOff).samples(traceID: [1], parentSampled: true))
        #expect(!Sampler.traceIDRatio(0).samples(traceID: Array(repeating: 255, count: 16), parentSampled: nil))
        #expect(Sampler.traceIDRatio(1).samples(traceID: Array(repeating: 255, count: 16), parentSampled: nil))
    }
}
