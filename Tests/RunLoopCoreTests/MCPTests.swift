import FakeAssistants
import Foundation
import Logging
import Testing
import RunLoopCore
@testable import MCPTools

/// The Python with the reference `mcp` package (and `mcp-server-time`), as scripts/test.sh installs them.
enum MCPTestEnvironment {
    static let packages: String? = {
        let path = ProcessInfo.processInfo.environment["TOOLWORKER_TEST_MCP_PYTHONPATH"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent(".build/mcp-python").path
        return FileManager.default.fileExists(atPath: path + "/mcp/__init__.py") ? path : nil
    }()
    static let python: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        .map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    static let fakeServer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools/mcp_fake_server.py").path
    static var available: Bool { packages != nil && python != nil }

    /// The fake server over stdio, as `mcp_servers.NAME` would start it.
    static func stdioServer(_ name: String = "fake", configure: (inout MCPServerConfig) -> Void = { _ in }) -> MCPServerConfig {
        var server = MCPServerConfig(
            name: name, transport: .stdio(command: [python!, fakeServer, "stdio"], environment: ["PYTHONPATH": packages!], workingDirectory: nil))
        server.timeout = .seconds(30)
        configure(&server)
        return server
    }

    static let quiet = Logger(label: "mcp-test") { _ in SwiftLogNoOpLogHandler() }
}

extension SerialSuites {
/// `mcp_servers:`: an MCP server's tools offered as `SERVER__TOOL` and called through the tool seam, against the
/// reference Python SDK's server (ours, `Tests/tools/mcp_fake_server.py`) and a reference server that is not ours
/// (`mcp-server-time`), over stdio and Streamable HTTP.
@Suite("Tools: MCP servers as a tool source", .serialized, .enabled(if: MCPTestEnvironment.available, "the mcp Python package is not installed (scripts/test.sh installs it)"))
struct MCPTests {
    /// Lists `servers` and returns the source (to stop) and its listing.
    func list(_ servers: [MCPServerConfig], taken: Set<String> = [], environment: [String: String] = ["PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-secret-of-the-daemon"]) async -> (MCPToolSource, ToolListing) {
        let source = MCPToolSource(baseEnvironment: ShellToolExecutor.baseEnvironment(inheriting: environment), logger: MCPTestEnvironment.quiet)
        return (source, await source.list(servers, sandboxHost: nil, taken: taken))
    }

    @Test("a stdio server's tools are offered as SERVER__TOOL with their schemas and called over both protocols; the journal has each call",
        arguments: ["assistants", "responses"])
    func stdioBothProtocols(protocolName: String) async throws {
        let (source, listing) = await list([MCPTestEnvironment.stdioServer()])
        defer { Task { await source.shutdown() } }
        #expect(listing.problems.isEmpty, "\(listing.problems)")
        #expect(Set(listing.executors.map(\.name)) == ["fake__echo", "fake__add", "fake__fail", "fake__crash", "fake__slow", "fake__environment", "fake__started", "fake__authorization", "fake__progress", "fake__traceparent"])
        let calls = [ScriptedToolCall("fake__echo", #"{"text":"héllo"}"#), ScriptedToolCall("fake__add", #"{"a":2,"b":3}"#), ScriptedToolCall("fake__environment", "{}")]
        let h = try RunHarness(scenarios: ["asst_mcp": Scenario(rounds: [calls])])
        h.extraExecutors = listing.executors
        let outcome = protocolName == "responses" ? try await h.respond("asst_mcp") : try await h.run("asst_mcp")
        #expect(outcome.status == .completed, "\(outcome)")
        let rows = try await h.rows("SELECT tool, state, output, handler FROM tool_call_log ORDER BY tool")
        let byTool = Dictionary(rows.map { ($0["tool"].text ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byTool["fake__echo"]?["output"].text == "héllo")
        #expect(byTool["fake__add"]?["output"].text == "5.0")
        #expect(byTool["fake__echo"]?["handler"].text == "mcp fake: echo")
        #expect(byTool["fake__environment"]?["output"].text == "OPENAI_API_KEY=unset", "the daemon's key never reaches a server it starts")
        #expect(rows.allSatisfy { $0["state"].text == "succeeded" }, "\(rows)")
        // What the model was offered: the server's own schema under the prefixed name.
        // What the model was offered (Responses: each request names its tools; an assistant has its own, published by
        // sync-tools): the server's own schema under the prefixed name.
        if protocolName == "responses" {
            let offered = h.requests("POST", "/responses").first?.json?["tools"]?.arrayValue ?? []
            let echo = offered.first { $0["name"]?.stringValue == "fake__echo" }
            #expect(echo?["parameters"]?["required"] == ["text"], "\(offered)")
        }
    }

    @Test("a server that dies mid-call fails that call (server_failed, its exit status said); the next call restarts it")
    func crashMidCall() async throws {
        let (source, listing) = await list([MCPTestEnvironment.stdioServer()])
        defer { Task { await source.shutdown() } }
        let h = try RunHarness(scenarios: ["asst_crash": Scenario(rounds: [
            [ScriptedToolCall("fake__started", "{}")], [ScriptedToolCall("fake__crash", "{}")], [ScriptedToolCall("fake__started", "{}")],
        ])])
        h.extraExecutors = listing.executors
        let outcome = try await h.run("asst_crash")
        #expect(outcome.status == .completed, "\(outcome)")
        let rows = try await h.rows("SELECT tool, state, error, output FROM tool_call_log ORDER BY round, call_id")
        #expect(rows.map { $0["state"].text } == ["succeeded", "failed", "succeeded"], "\(rows)")
        #expect(rows[1]["error"].text == "server_failed")
        #expect(rows[1]["output"].text?.contains("exited with status 3 during the call") == true, "\(rows[1])")
        #expect(rows[0]["output"].text != rows[2]["output"].text, "a new server process answered after the crash")
    }

    @Test("a tool error is a failed call with the server's message; a time-out cancels the call and the server is restarted for the next")
    func toolErrorAndTimeout() async throws {
        let (source, listing) = await list([MCPTestEnvironment.stdioServer { $0.timeout = .seconds(1) }])
        defer { Task { await source.shutdown() } }
        let h = try RunHarness(scenarios: ["asst_err": Scenario(rounds: [
            [ScriptedToolCall("fake__fail", #"{"reason":"because"}"#), ScriptedToolCall("fake__slow", #"{"seconds":600}"#)],
            [ScriptedToolCall("fake__echo", #"{"text":"after"}"#)],
        ])])
        h.extraExecutors = listing.executors
        let outcome = try await h.run("asst_err")
        #expect(outcome.status == .completed, "\(outcome)")
        let rows = try await h.rows("SELECT tool, state, error, output FROM tool_call_log ORDER BY round, call_id")
        let byTool = Dictionary(rows.map { ($0["tool"].text ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byTool["fake__fail"]?["state"].text == "failed" && byTool["fake__fail"]?["error"].text == "tool_error")
        #expect(byTool["fake__fail"]?["output"].text?.contains("Error executing tool fail") == true, "\(rows)")
        #expect(byTool["fake__slow"]?["state"].text == "timed_out" && byTool["fake__slow"]?["error"].text == "timeout")
        #expect(byTool["fake__echo"]?["output"].text == "after")
    }

    @Test("allowed_tools filters; a name already taken is refused and said; a server that cannot start is said, the others still offered")
    func filteringAndCollisions() async throws {
        let broken = MCPServerConfig(name: "broken", transport: .stdio(command: ["/bin/false"], environment: [:], workingDirectory: nil))
        let missing = MCPServerConfig(name: "missing", transport: .stdio(command: ["/nonexistent/mcp-server"], environment: [:], workingDirectory: nil))
        let (source, listing) = await list(
            [MCPTestEnvironment.stdioServer { $0.allowedTools = ["echo", "add", "nonexistent"] }, broken, missing], taken: ["fake__add"])
        defer { Task { await source.shutdown() } }
        #expect(listing.executors.map(\.name) == ["fake__echo"])
        #expect(listing.problems.contains { $0.contains("'fake__add' is already taken") }, "\(listing.problems)")
        #expect(listing.problems.contains { $0.contains("allowed_tools: the server has no tool 'nonexistent'") })
        #expect(listing.problems.contains { $0.hasPrefix("mcp_servers.broken: its tools could not be listed") }, "\(listing.problems)")
        #expect(listing.problems.contains { $0.contains("mcp_servers.missing: its tools could not be listed: cannot start /nonexistent/mcp-server: No such file or directory") }, "\(listing.problems)")
    }

    @Test("a reference server that is not ours (mcp-server-time) over stdio")
    func referenceTimeServer() async throws {
        var server = MCPServerConfig(
            name: "time",
            transport: .stdio(
                command: [MCPTestEnvironment.python!, "-m", "mcp_server_time", "--local-timezone", "UTC"],
                environment: ["PYTHONPATH": MCPTestEnvironment.packages!], workingDirectory: nil))
        server.timeout = .seconds(30)
        let (source, listing) = await list([server])
        defer { Task { await source.shutdown() } }
        #expect(listing.executors.map(\.name).contains("time__get_current_time"), "\(listing.problems)")
        let h = try RunHarness(scenarios: ["asst_time": Scenario(rounds: [[ScriptedToolCall("time__get_current_time", #"{"timezone":"UTC"}"#)]])])
        h.extraExecutors = listing.executors
        _ = try await h.respond("asst_time")
        let row = try #require(try await h.rows("SELECT state, output FROM tool_call_log").first)
        #expect(row["state"].text == "succeeded")
        #expect(row["output"].text?.contains(#""timezone": "UTC""#) == true || row["output"].text?.contains(#""timezone":"UTC""#) == true, "\(row)")
    }

    @Test("a Streamable HTTP server: headers from a file are sent, its tools called, its echo of the secret redacted before the journal")
    func streamableHTTP() async throws {
        let folder = TempDirectory()
        let portFile = folder.path("port")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: MCPTestEnvironment.python!)
        process.arguments = [MCPTestEnvironment.fakeServer, "http", portFile]
        process.environment = ["PYTHONPATH": MCPTestEnvironment.packages!, "PATH": "/usr/bin:/bin"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // SIGKILL: uvicorn's graceful stop waits for open connections, and the test process may end before it.
        defer { kill(process.processIdentifier, SIGKILL) }
        try await waitFor("the HTTP MCP server's port") { FileManager.default.fileExists(atPath: portFile) }
        let port = try String(contentsOfFile: portFile, encoding: .utf8)
        var server = MCPServerConfig(name: "web", transport: .http(url: "http://127.0.0.1:\(port)/mcp", headers: ["Authorization": "Bearer tok-9f8e7d"]))
        server.secrets = ["Bearer tok-9f8e7d", "tok-9f8e7d"]
        server.timeout = .seconds(30)
        // The server may need a moment after writing its port to accept: listing is retried until it answers.
        var attempt = await list([server])
        let deadline = ContinuousClock.now + .seconds(60)
        while attempt.1.executors.isEmpty && ContinuousClock.now < deadline {
            await attempt.0.shutdown()
            try await Task.sleep(for: .milliseconds(100))
            attempt = await list([server])
        }
        let (source, listing) = attempt
        #expect(!listing.executors.isEmpty, "\(listing.problems)")
        defer { Task { await source.shutdown() } }
        let h = try RunHarness(scenarios: ["asst_web": Scenario(rounds: [[
            ScriptedToolCall("web__echo", #"{"text":"via http"}"#), ScriptedToolCall("web__authorization", "{}"),
        ]])])
        h.extraExecutors = listing.executors
        let outcome = try await h.respond("asst_web")
        #expect(outcome.status == .completed, "\(outcome)")
        let outputs = try await h.rows("SELECT output FROM tool_call_log ORDER BY round, call_id").compactMap { $0["output"].text }
        #expect(outputs == ["via http", "saw [REDACTED]"], "the header went to the server, its echo never reaches the journal")
        let stored = try await h.rows("""
            SELECT (SELECT count(*) FROM event_log WHERE CAST(data AS TEXT) LIKE '%tok-9f8e7d%')
                 + (SELECT count(*) FROM tool_call_log WHERE output LIKE '%tok-9f8e7d%') AS n
            """)
        #expect(stored.first?["n"].int == 0)
    }

    @Test("serve: mcp_servers from the configuration are listed at start and their tools answer a job; check-config lists them")
    func serveWithMCPServer() async throws {
        let h = try DaemonHarness(scenarios: ["asst_mcp": Scenario(rounds: [[ScriptedToolCall("fake__echo", #"{"text":"from serve"}"#)]])])
        let handler = try h.script("own.sh", "echo own")
        try h.writeConfig(
            extra: """
                mcp_servers:
                  fake:
                    command: ["\(MCPTestEnvironment.python!)", "\(MCPTestEnvironment.fakeServer)"]
                    args: [stdio, "\(h.directory.path("marker"))"]
                    env: { PYTHONPATH: "\(MCPTestEnvironment.packages!)" }
                    allowed_tools: [echo, add]
                    timeout: 30s
                """,
            tools: "  own: { command: [\"\(handler)\"] }")
        let check = try await runCommand(h.toolworker, ["check-config", "--config", h.configPath], environment: ["OPENAI_API_KEY": "sk-test", "PATH": "/usr/bin:/bin"])
        #expect(check.status == 0, "\(check.error)")
        #expect(check.output.contains("mcp tools: fake__echo, fake__add"), "\(check.output)")
        let tools = try await runCommand(h.toolworker, ["tools", "--config", h.configPath, "--json"], environment: ["OPENAI_API_KEY": "sk-test", "PATH": "/usr/bin:/bin"])
        let listed = try JSONValue(parsing: tools.output).arrayValue ?? []
        #expect(listed.compactMap { $0["name"]?.stringValue } == ["own", "fake__echo", "fake__add"], "\(tools)")
        #expect(listed.last?["mcp_server"] == "fake" && listed.last?["mcp_tool"] == "add")
        try h.start()
        try await h.waitUntil("READY") { h.notify.kinds.contains("READY") }
        #expect(h.notify.messages.contains { $0.contains("tools: own, fake__echo, fake__add") }, "\(h.notify.messages)")
        let job = try await h.enqueue("asst_mcp")
        try await h.waitUntil("the job to succeed") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(job)]) == 1 }
        #expect(try h.query("SELECT output, handler FROM tool_call_log").first?["output"].text == "from serve")
        let stop = try await h.stop(SIGTERM)
        #expect(stop.status == 0)
        // The server the daemon started went with it.
        #expect(SandboxTests.processes(withArgument: h.directory.path("marker")).isEmpty)
    }

    @Test("bad mcp_servers entries are configuration errors, each named")
    func badConfiguration() throws {
        let folder = TempDirectory()
        let cases: [(String, String)] = [
            ("a__b: { command: [/bin/true] }", "no '__'"),
            ("both: { command: [/bin/true], url: \"http://127.0.0.1:1/mcp\" }", "not both"),
            ("none: { timeout: 5s }", "give 'command'"),
            ("web: { url: \"http://127.0.0.1:1/mcp\", header_files: { Authorization: /nonexistent/token } }", "cannot read a value from /nonexistent/token"),
            ("web: { url: \"http://127.0.0.1:1/mcp\", limits: { memory: 1G } }", "only limits.time applies"),
            ("local: { command: [/bin/true], headers: { X: y } }", "headers are for a server at a url"),
        ]
        for (entry, message) in cases {
            #expect(performing: { try ConfigLoader.parse("mcp_servers:\n  \(entry)\n", file: folder.path("c.yaml")) }, throws: { "\($0)".contains(message) })
        }
        let token = folder.path("token")
        try "Bearer abc123\n".write(toFile: token, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.parse(
            "mcp_servers:\n  web: { url: \"http://127.0.0.1:1/mcp\", header_files: { Authorization: \(token) }, allowed_tools: [a] }\n", file: folder.path("c.yaml"))
        #expect(config.mcpServers.first?.transport == .http(url: "http://127.0.0.1:1/mcp", headers: ["Authorization": "Bearer abc123"]))
        #expect(config.mcpServers.first?.secrets.contains("abc123") == true)
        #expect(config.mcpServers.first?.allowedTools == ["a"])
        // As MCP clients write it: a command and its args apart, a program found on PATH, a type, a header from a file.
        let clientStyle = try ConfigLoader.parse("""
            mcp_servers:
              files: { type: stdio, command: sh, args: [-c, "exit 0"], env: { A: b } }
              web: { type: http, url: "http://127.0.0.1:1/mcp", headers: { Authorization: { file: \(token) }, X-Team: blue } }
            """, file: folder.path("c.yaml"))
        guard case .stdio(let command, let environment, _) = clientStyle.mcpServers[0].transport else {
            Issue.record("not stdio: \(clientStyle.mcpServers[0].transport)")
            return
        }
        #expect(command.count == 3 && command[0].hasSuffix("/sh") && command[1...] == ["-c", "exit 0"] && environment == ["A": "b"])
        #expect(clientStyle.mcpServers[1].transport == .http(url: "http://127.0.0.1:1/mcp", headers: ["Authorization": "Bearer abc123", "X-Team": "blue"]))
        #expect(clientStyle.mcpServers[1].secrets.contains("abc123") && !clientStyle.mcpServers[1].secrets.contains("blue"))
        for (entry, message) in [
            ("x: { command: no-such-program-anywhere }", "no program 'no-such-program-anywhere' on PATH"),
            ("x: { type: sse, url: \"http://127.0.0.1:1/sse\" }", "the older HTTP+SSE transport is not supported"),
            ("x: { type: http, command: sh }", "type: http takes a url"),
        ] {
            #expect(performing: { try ConfigLoader.parse("mcp_servers:\n  \(entry)\n", file: folder.path("c.yaml")) }, throws: { "\($0)".contains(message) })
        }
    }

    @Test("writing to a server whose stdin is closed (it died) is EPIPE, never a SIGPIPE that ends the process")
    func brokenPipe() throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        close(ends[0])
        defer { close(ends[1]) }
        // This test process does not ignore SIGPIPE: a plain write(2) here would kill it.
        let (written, error) = Array("{}\n".utf8).withUnsafeBytes { PipeTransport.writeWithoutSIGPIPE(ends[1], $0) }
        #expect(written == -1 && error == EPIPE)
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0, "no SIGPIPE left pending for a later unblock to deliver")
    }

    @Test("a hostile server: names a model cannot take and a non-object schema are said and left out or offered without it; noise lines ignored; a 3 MiB answer cut at the cap")
    func hostileServer() async throws {
        let script = URL(fileURLWithPath: MCPTestEnvironment.fakeServer).deletingLastPathComponent().appendingPathComponent("mcp_hostile_server.py").path
        var server = MCPServerConfig(name: "h", transport: .stdio(command: [MCPTestEnvironment.python!, script], environment: [:], workingDirectory: nil))
        server.maxOutputBytes = 1000
        let (source, listing) = await list([server])
        defer { Task { await source.shutdown() } }
        #expect(listing.executors.map(\.name) == ["h__ok", "h__weird_schema", "h__huge"], "\(listing.problems)")
        #expect(listing.problems.contains { $0.contains("tool 'has space' left out") })
        #expect(listing.problems.contains { $0.contains("tool '\(String(repeating: "x", count: 80))' left out") })
        #expect(listing.executors.first { $0.name == "h__weird_schema" }?.definition.parameters == nil, "offered with no schema rather than a broken one")
        let h = try RunHarness(scenarios: ["asst_h": Scenario(rounds: [[ScriptedToolCall("h__huge", "{}"), ScriptedToolCall("h__ok", "{}")]])])
        h.extraExecutors = listing.executors
        _ = try await h.respond("asst_h")
        let rows = try await h.rows("SELECT tool, state, output, output_truncated FROM tool_call_log ORDER BY tool")
        #expect(rows.map { $0["tool"].text } == ["h__huge", "h__ok"])
        #expect(rows[0]["output"].text == String(repeating: "y", count: 1000) + "\n[ToolWorker: output truncated at 1000 bytes]")
        #expect(rows[0]["output_truncated"].int == 1)
        #expect(rows[1]["output"].text == "fine")
    }

    @Test("a stdio server under limits (no network, a memory cap) still serves, and dies with the daemon's stop",
        .enabled(if: SandboxTests.host.bubblewrap != nil && SandboxTests.host.controlGroups != nil, "this host cannot sandbox"))
    func sandboxedServer() async throws {
        let marker = TempDirectory().path("marker")
        let (source, listing) = await list([MCPTestEnvironment.stdioServer("boxed") {
            $0.limits.network = false
            $0.limits.memoryBytes = 512 << 20
            if case .stdio(let command, let environment, let folder) = $0.transport {
                $0.transport = .stdio(command: command + [marker], environment: environment, workingDirectory: folder)
            }
        }])
        #expect(listing.executors.contains { $0.name == "boxed__echo" }, "\(listing.problems)")
        let h = try RunHarness(scenarios: ["asst_box": Scenario(rounds: [[ScriptedToolCall("boxed__echo", #"{"text":"inside"}"#)]])])
        h.extraExecutors = listing.executors
        _ = try await h.respond("asst_box")
        #expect(try await h.rows("SELECT output FROM tool_call_log").first?["output"].text == "inside")
        #expect(!SandboxTests.processes(withArgument: marker).isEmpty)
        await source.shutdown()
        try await waitFor("the sandboxed server to be gone") { SandboxTests.processes(withArgument: marker).isEmpty }
    }

    @Test("an MCP tool under approval: its call waits for the decision; denied, the server never sees it")
    func approvalForMCPTool() async throws {
        let (source, listing) = await list([MCPTestEnvironment.stdioServer { $0.approval = .when(["text": "secret"]) }])
        defer { Task { await source.shutdown() } }
        let h = try RunHarness(scenarios: ["asst_ap": Scenario(rounds: [[
            ScriptedToolCall("fake__echo", #"{"text":"secret"}"#), ScriptedToolCall("fake__echo", #"{"text":"public"}"#),
        ]])])
        h.extraExecutors = listing.executors
        let driver = h.driver()
        let running = Task { try await driver.run(RunRequest(assistantID: "", message: "go", protocolName: "responses", model: "asst_ap")) }
        var call: String?
        try await waitForAsync("the call to await approval") {
            call = try await h.rows("SELECT call_id FROM approval_log WHERE state = 'awaiting_approval'").first?["call_id"].text
            return call != nil
        }
        #expect(try await h.rows("SELECT count(*) AS n FROM tool_calls WHERE output IS NOT NULL").first?["n"].int == 0, "nothing of the round runs before the decision")
        let config = h.directory.path("c.yaml")
        try "api: { base_url: \"\(h.server.baseURL)\" }\ntools: {}\ndatabase: \(h.directory.path("audit.db"))\n".write(toFile: config, atomically: true, encoding: .utf8)
        let deny = try await runCommand(builtProduct("toolworker"), ["deny", call!, "--reason", "not that one", "--config", config], environment: ["OPENAI_API_KEY": "sk-x", "PATH": "/usr/bin:/bin"])
        #expect(deny.status == 0, "\(deny)")
        #expect(try await running.value.status == .completed)
        let rows = try await h.rows("SELECT arguments, state, error, output FROM tool_call_log ORDER BY arguments")
        #expect(rows.map { $0["state"].text } == ["succeeded", "failed"], "\(rows)")
        #expect(rows[0]["output"].text == "public")
        #expect(rows[1]["error"].text == "approval_denied" && rows[1]["output"].text?.contains("not that one") == true)
    }

    @Test("serve: SIGHUP lists the servers again (a changed allowed_tools offered at once); SIGKILL mid-call: the call is answered interrupted, not run again, and the orphaned server exits")
    func serveReloadAndCrash() async throws {
        let h = try DaemonHarness(scenarios: [
            "asst_add": Scenario(rounds: [[ScriptedToolCall("fake__add", #"{"a":1,"b":2}"#)]], finalText: "done"),
            "asst_slow": Scenario(rounds: [[ScriptedToolCall("fake__slow", #"{"seconds":600}"#)]], finalText: "done"),
        ])
        let handler = try h.script("own.sh", "echo own")
        let marker = h.directory.path("marker")
        func write(_ allowed: String) throws {
            try h.writeConfig(
                extra: """
                    mcp_servers:
                      fake:
                        command: ["\(MCPTestEnvironment.python!)", "\(MCPTestEnvironment.fakeServer)", stdio, "\(marker)"]
                        env: { PYTHONPATH: "\(MCPTestEnvironment.packages!)" }
                        allowed_tools: [\(allowed)]
                        timeout: 10m
                    """,
                tools: "  own: { command: [\"\(handler)\"] }")
        }
        try write("echo")
        try h.start()
        try await h.waitUntil("READY") { h.notify.kinds.contains("READY") }
        try write("echo, add, slow")
        kill(h.process!.processIdentifier, SIGHUP)
        try await h.waitUntil("the reload") { h.log().contains("configuration reloaded") }
        #expect(h.notify.messages.contains { $0.contains("reloaded; tools: own, fake__echo, fake__add, fake__slow") }, "\(h.notify.messages)")
        let add = try await h.enqueue("asst_add")
        try await h.waitUntil("the add job") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(add)]) == 1 }

        _ = try await h.enqueue("asst_slow")
        try await h.waitUntil("the slow call to run") { try h.scalar("SELECT count(*) FROM tool_calls WHERE tool = 'fake__slow' AND state = 'running'") == 1 }
        _ = try await h.stop(SIGKILL)
        // The server the killed daemon started reads end-of-file on its stdin and exits.
        try await h.waitUntil("the orphaned server to exit") { SandboxTests.processes(withArgument: marker).isEmpty }
        try h.start()
        try await h.waitUntil("the slow job to end") { try h.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 2 }
        let slow = try #require(try h.query("SELECT state, error FROM tool_call_log WHERE tool = 'fake__slow'").first)
        #expect(slow["state"].text == "interrupted", "on_restart: fail (the MCP default): never run twice")
        _ = try await h.stop(SIGTERM)
    }

    @Test("servers that never answer the handshake are said after their startup_timeout; the others are offered")
    func hungServers() async throws {
        func hung(_ name: String) -> MCPServerConfig {
            var server = MCPServerConfig(name: name, transport: .stdio(command: ["/bin/sleep", "600"], environment: [:], workingDirectory: nil))
            server.startupTimeout = .seconds(2)
            return server
        }
        let (source, listing) = await list([hung("slow1"), MCPTestEnvironment.stdioServer(), hung("slow2")])
        defer { Task { await source.shutdown() } }
        #expect(listing.executors.contains { $0.name == "fake__echo" })
        #expect(listing.problems.filter { $0.contains("no answer within 2.0 seconds (startup_timeout)") }.count == 2, "\(listing.problems)")
        #expect(SandboxTests.processes(withArgument: "600").allSatisfy { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.hasPrefix("/bin/sleep") != true
        }, "the hung servers were stopped")
    }
}
}
