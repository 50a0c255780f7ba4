import FakeAssistants
import Foundation
import Synchronization
import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("Every handler failure becomes a clear output for the model and a recorded state")
struct HandlerFailureTests {
    /// Runs one call of `tool` with `arguments` and returns the recorded row and what was submitted.
    func runOne(_ h: RunHarness, tool: String, arguments: String) async throws -> (row: SQLRow, submitted: JSONValue) {
        let assistant = "asst_\(tool)"
        h.server.register(Scenario(rounds: [[ScriptedToolCall(tool, arguments)]]), for: assistant)
        let outcome = try await h.run(assistant)
        #expect(outcome.status == .completed, "the run goes on whatever the handler did")
        let row = try #require(try await h.rows("SELECT * FROM tool_call_log WHERE run_id = ?", [.text(outcome.runID!)]).first)
        let submitted = try #require(h.requests("POST", "/submit_tool_outputs").last?.json?["tool_outputs"]?[0]?["output"]?.stringValue)
        #expect(row["output"].text == submitted, "what is recorded is what was submitted")
        return (row, (try? JSONValue(parsing: submitted)) ?? .string(submitted))
    }

    /// Alive and not a zombie (an orphan reparented to a PID 1 that does not reap stays a zombie, harmlessly).
    static func isRunning(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    @Test("unknown tool name")
    func unknownTool() async throws {
        let h = try RunHarness()
        let (row, output) = try await runOne(h, tool: "no_such_tool", arguments: "{}")
        #expect(row["state"].text == "failed")
        #expect(row["error"].text == "unknown_tool")
        #expect(output[path: "error.type"] == "unknown_tool")
        #expect(output[path: "error.message"]?.stringValue?.contains("no_such_tool") == true)
    }

    @Test("arguments that are not JSON: the handler is not started")
    func invalidArguments() async throws {
        let h = try RunHarness()
        let marker = h.directory.path("started")
        try h.handler("t", "touch \(marker); echo hi")
        let (row, output) = try await runOne(h, tool: "t", arguments: #"{"city": "Par"#)
        #expect(row["error"].text == "invalid_arguments")
        #expect(output[path: "error.type"] == "invalid_arguments")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("non-zero exit: exit code and the tail of stderr")
    func nonzeroExit() async throws {
        let h = try RunHarness()
        try h.handler("t", "cat >/dev/null; echo 'partial'; echo 'boom: disk on fire' >&2; exit 3")
        let (row, output) = try await runOne(h, tool: "t", arguments: "{}")
        #expect(row["state"].text == "failed")
        #expect(row["error"].text == "nonzero_exit")
        #expect(row["exit_code"].int == 3)
        #expect(row["stderr_tail"].text?.contains("boom: disk on fire") == true)
        #expect(output[path: "error.exit_code"] == 3)
        #expect(output[path: "error.stderr"]?.stringValue?.contains("boom") == true)
    }

    @Test("time-out: a handler that ignores SIGTERM and forks children does not outlive it")
    func timeout() async throws {
        let h = try RunHarness()
        let pids = h.directory.path("pids")
        try h.handler("t", """
            trap '' TERM
            sleep 300 & echo $! >> \(pids)
            (trap '' TERM; sleep 300) & echo $! >> \(pids)
            echo $$ >> \(pids)
            sleep 300
            """) { $0.timeout = .milliseconds(500) }
        let start = ContinuousClock.now
        let (row, output) = try await runOne(h, tool: "t", arguments: "{}")
        // Left alone the handler would take 300 s: ending well before proves the time-out stopped it.
        #expect(ContinuousClock.now - start < .seconds(240))
        #expect(row["state"].text == "timed_out")
        #expect(output[path: "error.type"] == "timeout")
        let pidList = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(pidList.count == 3)
        try await waitFor("the handler's processes to be gone") { !pidList.contains(where: Self.isRunning) }
    }

    @Test("a background child the handler leaves behind is killed with its group when the handler exits")
    func lingeringChild() async throws {
        let h = try RunHarness()
        let pids = h.directory.path("pids")
        try h.handler("t", "cat >/dev/null; sleep 60 & echo $! > \(pids); echo done") { $0.timeout = .seconds(10) }
        let (row, output) = try await runOne(h, tool: "t", arguments: "{}")
        #expect(row["state"].text == "succeeded")
        #expect(output.stringValue == "done\n")
        let child = try #require(Int32(try String(contentsOfFile: pids, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        try await waitFor("the lingering child to be swept") { !Self.isRunning(child) }
    }

    @Test("output over the cap is cut, with a marker")
    func outputCap() async throws {
        let h = try RunHarness()
        try h.handler("t", "cat >/dev/null; head -c 200000 /dev/zero | tr '\\000' x") { $0.maxOutputBytes = 1000 }
        let (row, output) = try await runOne(h, tool: "t", arguments: "{}")
        #expect(row["state"].text == "succeeded")
        #expect(row["output_truncated"].int == 1)
        let text = output.stringValue ?? ""
        #expect(text.hasPrefix(String(repeating: "x", count: 1000)))
        #expect(text.hasSuffix("[ToolWorker: output truncated at 1000 bytes]"))
    }

    @Test("spawn failure: a handler removed after the config was read")
    func spawnFailure() async throws {
        let h = try RunHarness()
        let path = try h.handler("t", "echo hi")
        try FileManager.default.removeItem(atPath: path)
        let (row, output) = try await runOne(h, tool: "t", arguments: "{}")
        #expect(row["error"].text == "spawn_failed")
        #expect(output[path: "error.type"] == "spawn_failed")
    }

    @Test("shell metacharacters in arguments are data, and the environment is the documented one")
    func metacharacters() async throws {
        let h = try RunHarness()
        let marker = h.directory.path("pwned")
        try h.handler("t", """
            args=$(cat)
            printf '%s|%s|%s|%s|%s|%s' "$args" "$TOOLWORKER_TOOL_NAME" "$TOOLWORKER_RUN_ID" "${OPENAI_API_KEY:-nokey}" "$EXTRA" "$(pwd)"
            """) {
            $0.environment = ["EXTRA": "x y"]
            $0.workingDirectory = "/tmp"
        }
        let arguments = #"{"q":"$(touch \#(marker)); `touch \#(marker)`; rm -rf / && echo"}"#
        setenv("OPENAI_API_KEY", "sk-should-not-leak", 1)
        defer { unsetenv("OPENAI_API_KEY") }
        let (_, output) = try await runOne(h, tool: "t", arguments: arguments)
        let parts = (output.stringValue ?? "").split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        #expect(parts.first == arguments)
        #expect(parts[1] == "t")
        #expect(parts[2].hasPrefix("run_"))
        #expect(parts[3] == "nokey", "the API key never reaches a handler")
        #expect(parts[4] == "x y")
        #expect(parts[5] == "/tmp")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}

@Suite("Handlers that do not read their stdin")
struct StdinTests {
    @Test("a handler that exits without reading large arguments is fine (no broken pipe, no crash)")
    func ignoresStdin() async throws {
        let h = try RunHarness()
        try h.handler("t", "echo quick")
        let big = #"{"blob":""# + String(repeating: "a", count: 300_000) + #""}"#
        h.server.register(Scenario(rounds: [[ScriptedToolCall("t", big)], [ScriptedToolCall("t", "{}")]]), for: "asst_stdin")
        let outcome = try await h.run("asst_stdin")
        #expect(outcome.status == .completed)
        let states = try await h.rows("SELECT state, output FROM tool_call_log ORDER BY round")
        #expect(states.map { $0["state"].text } == ["succeeded", "succeeded"])
        #expect(states.map { $0["output"].text } == ["quick\n", "quick\n"])
    }
}

@Suite("A handler file that is busy (ETXTBSY)")
struct BusyHandlerFileTests {
    /// A script held open for writing (a deploy replacing it) cannot be executed; the runner tries again.
    static func busyScript(_ dir: TempDirectory) throws -> (path: String, writer: Int32) {
        let path = dir.path("busy.sh")
        try "#!/bin/sh\ncat >/dev/null\necho ran\n".writeScript(toFile: path)
        let writer = open(path, O_WRONLY | O_CLOEXEC)
        #expect(writer >= 0)
        return (path, writer)
    }

    @Test("a handler whose file is released while the runner retries runs")
    func runsOnceReleased() async throws {
        let dir = TempDirectory()
        let (path, writer) = try Self.busyScript(dir)
        var runner = HandlerRunner()
        runner.busyRetryDelays = Array(repeating: .milliseconds(500), count: 60)  // 30 s of retrying: far beyond any load
        let started = Mutex(false)
        let task = Task {
            started.withLock { $0 = true }
            return try await runner.run(
                command: [path], stdin: "{}", environment: [:], workingDirectory: nil, timeout: .seconds(30), maxOutputBytes: 1024)
        }
        while !started.withLock({ $0 }) { await Task.yield() }
        try await Task.sleep(for: .milliseconds(100))  // lets the first attempts meet the busy file (not a pass condition)
        close(writer)
        let result = try await task.value
        #expect(result.termination == .exited(0))
        #expect(String(decoding: result.stdout, as: UTF8.self) == "ran\n")
    }

    @Test("a file that stays busy ends in a clear spawn failure after the retries")
    func staysBusy() async throws {
        let dir = TempDirectory()
        let (path, writer) = try Self.busyScript(dir)
        defer { close(writer) }
        var runner = HandlerRunner()
        runner.busyRetryDelays = [.milliseconds(5), .milliseconds(5)]
        await #expect {
            try await runner.run(
                command: [path], stdin: "{}", environment: [:], workingDirectory: nil, timeout: .seconds(30), maxOutputBytes: 1024)
        } throws: { error in
            (error as? HandlerRunner.SpawnError)?.description.contains("busy") == true
        }
    }
}
