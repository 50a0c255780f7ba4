import FakeAssistants
import Foundation
import Synchronization
import Testing
import RunLoopCore
@testable import MCPTools

extension SerialSuites {
/// The MCP tool source as the shipped binary runs it (scripts/test.sh points `TOOLWORKER_TEST_BINARY` at the
/// package's stripped release build), and what a hostile server's stdout and stderr can do to it.
@Suite("Tools: MCP in the shipped binary, hostile servers", .serialized, .enabled(if: MCPTestEnvironment.available, "the mcp Python package is not installed (scripts/test.sh installs it)"))
struct MCPShippedBinaryTests {
    static let hostile = URL(fileURLWithPath: MCPTestEnvironment.fakeServer).deletingLastPathComponent().appendingPathComponent("mcp_hostile_server.py").path

    /// A configuration with our fake server, the reference time server, and the hostile one in `modes`.
    func config(_ folder: TempDirectory, hostileModes: [String]) throws -> String {
        let python = MCPTestEnvironment.python!, packages = MCPTestEnvironment.packages!
        let modes = hostileModes.map { "\"\($0)\"" }.joined(separator: ", ")
        let yaml = """
            database: \(folder.path("journal.db"))
            mcp_servers:
              fake:
                command: ["\(python)", "\(MCPTestEnvironment.fakeServer)", stdio]
                env: { PYTHONPATH: "\(packages)" }
              time:
                command: ["\(python)", -m, mcp_server_time]
                env: { PYTHONPATH: "\(packages)" }
              loud:
                command: ["\(python)", "\(Self.hostile)", \(modes)]

            """
        let path = folder.path("toolworker.yaml")
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("tools and check-config list every server's tools on every run (the release build once crashed or listed none half the time)")
    func listsEveryTime() async throws {
        let folder = TempDirectory()
        let path = try config(folder, hostileModes: ["stderr"])
        let environment = ["OPENAI_API_KEY": "sk-test", "PATH": "/usr/bin:/bin"]
        for attempt in 1...4 {
            let tools = try await runCommand(builtProduct("toolworker"), ["tools", "--config", path], environment: environment)
            #expect(tools.status == 0, "run \(attempt): \(tools.error)")
            let names = tools.output.split(separator: "\n").map { String($0.split(separator: "\t").first ?? "") }
            #expect(names.filter { $0.hasPrefix("fake__") }.count == 10, "run \(attempt): \(tools.output) \(tools.error)")
            #expect(names.contains("time__get_current_time") && names.contains("loud__ok"), "run \(attempt): \(tools.output)")
            // The hostile server's banner (terminal escapes, a forged log line) is not copied to the command's output.
            #expect(!tools.output.contains("HOSTILE") && !tools.error.contains("HOSTILE"), "\(tools.error)")
            #expect(!tools.error.contains("\u{1B}") && !tools.output.contains("\u{1B}"))
        }
        let check = try await runCommand(builtProduct("toolworker"), ["check-config", "--config", path], environment: environment)
        #expect(check.status == 0, "\(check.error)")
        #expect(check.output.contains("fake__echo") && check.output.contains("time__convert_time") && check.output.contains("loud__ok"), "\(check.output)")
        #expect(!check.output.contains("HOSTILE") && !check.error.contains("HOSTILE"))
    }

    @Test("a server that lists no tools, or cannot be started, is said by name in tools and check-config, never dropped silently")
    func emptyListingIsSaid() async throws {
        let folder = TempDirectory()
        let path = try config(folder, hostileModes: ["empty"])
        let environment = ["OPENAI_API_KEY": "sk-test", "PATH": "/usr/bin:/bin"]
        let tools = try await runCommand(builtProduct("toolworker"), ["tools", "--config", path], environment: environment)
        #expect(tools.status == 0)
        #expect(tools.error.contains("mcp_servers.loud: the server lists no tools"), "\(tools.error)")
        let check = try await runCommand(builtProduct("toolworker"), ["check-config", "--config", path], environment: environment)
        #expect(check.output.contains("warning: mcp_servers.loud: the server lists no tools"), "\(check.output)")
        #expect(check.output.contains("fake__echo"))
    }

    @Test("a server's stderr reaches serve's log prefixed with its name and escaped, never raw; a normal stop logs no warning for it")
    func stderrPrefixedAndEscaped() async throws {
        let h = try DaemonHarness()
        let handler = try h.script("own.sh", "echo own")
        try h.writeConfig(
            extra: """
                mcp_servers:
                  loud:
                    command: ["\(MCPTestEnvironment.python!)", "\(Self.hostile)", stderr]
                """,
            tools: "  own: { command: [\"\(handler)\"] }")
        try h.start()
        try await h.waitUntil("READY") { h.notify.kinds.contains("READY") }
        try await h.waitUntil("the server's stderr in the log") { h.log().contains("HOSTILE BANNER") }
        let stop = try await h.stop(SIGTERM)
        #expect(stop.status == 0)
        let log = h.log()
        let banner = log.split(separator: "\n").filter { $0.contains("HOSTILE BANNER") }
        #expect(banner.count == 1 && banner[0].contains("mcp loud:"), "\(banner)")
        #expect(!log.contains("\u{1B}"), "no raw escape reaches the log")
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix("2026-01-01T00:00:00Z critical") }, "the forged line is not a line of its own")
        #expect(log.contains(#"forged log line\rOVERWRITE"#), "\(log)")
        #expect(!log.split(separator: "\n").contains { $0.contains("warning") && $0.contains("MCP server exited") }, "\(log)")
    }

    @Test("a server flooding notifications (300,000 before each answer) is bounded: its answers still come, the excess is dropped and counted")
    func notificationFlood() async throws {
        let server = MCPServerConfig(
            name: "flood", transport: .stdio(command: [MCPTestEnvironment.python!, Self.hostile, "flood", "300000"], environment: [:], workingDirectory: nil))
        let source = MCPToolSource(baseEnvironment: ["PATH": "/usr/bin:/bin"], logger: MCPTestEnvironment.quiet)
        let listing = await source.list([server], sandboxHost: nil, taken: [])
        defer { Task { await source.shutdown() } }
        #expect(listing.executors.map(\.name).contains("flood__ok"), "\(listing.problems)")
        let h = try RunHarness(scenarios: ["asst_flood": Scenario(rounds: [[ScriptedToolCall("flood__ok", "{}")]])])
        h.extraExecutors = listing.executors
        _ = try await h.respond("asst_flood")
        #expect(try await h.rows("SELECT output FROM tool_call_log").first?["output"].text == "fine")
    }

    /// A minimal Streamable HTTP MCP server that answers `tools/list` with an event stream of `notifications`
    /// notifications of about 1 KB each before the answer.
    static func floodingHTTPServer(notifications: Int) throws -> LoopbackHTTPServer {
        let padding = String(repeating: "x", count: 1000)
        let note = #"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"\#(padding)"}}"#
        return try LoopbackHTTPServer { request, writer in
            guard request.method == "POST", let message = request.json else {
                writer.respond(status: 200, body: [])
                return
            }
            guard let id = message["id"] else {
                writer.respond(status: 202, body: [], contentType: "text/plain")
                return
            }
            let result: JSONValue
            switch message["method"]?.stringValue {
            case "initialize":
                result = .object(["protocolVersion": .string("2025-03-26"), "capabilities": .object(["tools": .object([:])]),
                    "serverInfo": .object(["name": .string("flood"), "version": .string("1")])])
            case "tools/list":
                writer.startEventStream(headers: [("Mcp-Session-Id", "s1")])
                var batch = ""
                for index in 0..<notifications {
                    batch += "event: message\ndata: \(note)\n\n"
                    if index % 200 == 199 {
                        writer.sendChunk(Array(batch.utf8))
                        batch = ""
                    }
                }
                let answer = JSONValue.object(["jsonrpc": .string("2.0"), "id": id, "result": .object(["tools": .array([
                    .object(["name": .string("ok"), "inputSchema": .object(["type": .string("object")])]),
                ])])])
                writer.sendChunk(Array((batch + "event: message\ndata: \(answer.serialized())\n\n").utf8))
                writer.endStream()
                return
            default:
                result = .object(["content": .array([.object(["type": .string("text"), "text": .string("fine")])])])
            }
            writer.respondJSON(.object(["jsonrpc": .string("2.0"), "id": id, "result": result]), headers: [("Mcp-Session-Id", "s1")])
        }
    }

    @Test("a Streamable HTTP server flooding notifications (200,000 of 1 KB before its answer): serve lists it and its tool answers, the excess is dropped and said, the memory stays bounded")
    func httpNotificationFlood() async throws {
        let server = try Self.floodingHTTPServer(notifications: 200_000)
        defer { server.stop() }
        let h = try DaemonHarness(scenarios: ["asst_flood": Scenario(rounds: [[ScriptedToolCall("flood__ok", "{}")]])])
        let own = try h.script("own.sh", "echo own")
        try h.writeConfig(
            extra: "mcp_servers:\n  flood: { url: \"http://127.0.0.1:\(server.port)/mcp\", startup_timeout: 120s, timeout: 120s }",
            tools: "  own: { command: [\"\(own)\"] }")
        try h.start()
        try await h.waitUntil("READY", timeout: .seconds(180)) { h.notify.kinds.contains("READY") }
        #expect(h.notify.messages.contains { $0.contains("flood__ok") }, "\(h.notify.messages)")
        let job = try await h.enqueue("asst_flood")
        try await h.waitUntil("the job to succeed") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(job)]) == 1 }
        #expect(try h.query("SELECT output FROM tool_call_log").first?["output"].text == "fine")
        // The daemon's peak resident memory so far, as the kernel counts it.
        let pid = try #require(h.process?.processIdentifier)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
        let kib = try #require(peak, "\(status)")
        // 200 MB went over the wire: held whole it would be several times that; bounded it is the queue (16 MiB)
        // beside the daemon's own few tens of MiB.
        #expect(kib < 160 * 1024, "peak \(kib / 1024) MiB")
        _ = try await h.stop(SIGTERM)
        #expect(h.log().contains("notifications dropped"), "\(h.log().suffix(2000))")
    }

    @Test("the message queue holds at most its bytes (the reader waits) and drops notifications past their rate")
    func messageQueueBounds() async throws {
        let notes = MessageQueue(maxBytes: 1 << 20)
        let note = Data(#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#.utf8)
        for _ in 0..<5000 { await notes.push(note) }
        #expect(notes.droppedNotifications >= 2000, "past the burst, notifications are dropped")
        let queue = MessageQueue(maxBytes: 4096)
        // A reader blocked by a full queue goes on as messages are taken.
        let big = Data(repeating: UInt8(ascii: "x"), count: 3000)
        let pushed = Flag()
        let thread = Thread {
            for index in 0..<4 { queue.push(Data(#"{"id":\#(index),"result":"#.utf8) + big + Data("}".utf8)) }
            pushed.set()  // before the end is seen, so the reader's check cannot race it
            queue.finish()
        }
        thread.start()
        var taken = 0
        while let message = try await queue.next() {
            if !MessageQueue.isNotification(message) { taken += 1 }
        }
        #expect(taken == 4 && pushed.isSet)
        // A task pushing into a full queue (an HTTP event stream) is suspended until there is room, and a message
        // pushed after the end is dropped.
        let bounded = MessageQueue(maxBytes: 4096)
        let pusher = Task {
            for index in 0..<4 { await bounded.push(Data(#"{"id":\#(index),"result":"#.utf8) + big + Data("}".utf8)) }
        }
        var answers = 0
        while answers < 4, let message = try await bounded.next() {
            if !MessageQueue.isNotification(message) { answers += 1 }
        }
        await pusher.value
        bounded.finish()
        await bounded.push(Data(#"{"id":9,"result":1}"#.utf8))
        #expect(answers == 4)
        #expect(try await bounded.next() == nil, "nothing is queued after the end")
    }

    final class Flag: Sendable {
        let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }
}
}
