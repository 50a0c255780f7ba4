import FakeAssistants
import Foundation
import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

/// Bad input through the command line and the daemon: exit statuses, messages, and nothing left behind.
@Suite("Hostile and careless input: the command line and the daemon", .serialized)
struct CommandLineHardeningTests {
    let toolworker = builtProduct("toolworker")
    var environment: [String: String] { ["OPENAI_API_KEY": "sk-fake-test-key", "PATH": "/usr/bin:/bin"] }

    func config(_ dir: TempDirectory, _ extra: String = "", database: String = "tw.db", baseURL: String = "http://127.0.0.1:9/v1") throws -> String {
        let path = dir.path("toolworker.yaml")
        try "api: { base_url: \"\(baseURL)\" }\ndatabase: \(database)\n\(extra)tools: {}\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("non-finite durations in the config exit 78 with the key; in prune they exit 64", arguments: ["nan", "inf", "1e30s"])
    func durations(_ value: String) async throws {
        let dir = TempDirectory()
        let path = try config(dir, "shutdown_grace: \(value)\n")
        let check = try await runCommand(toolworker, ["check-config", "--config", path], environment: environment)
        #expect(check.status == 78, "\(check)")
        #expect(check.error.contains("shutdown_grace"))
        let good = try config(dir)
        for age in ["1e20d", "infd", "nand", "-1d"] {
            let prune = try await runCommand(toolworker, ["prune", "--config", good, "--older-than", age], environment: environment)
            #expect(prune.status == 64, "\(age): \(prune)")
            #expect(prune.error.contains("--older-than"))
        }
    }

    @Test("a database with a negative user_version exits 65 on every command, unchanged")
    func negativeUserVersion() async throws {
        let dir = TempDirectory()
        let path = try config(dir)
        let enqueue = ["enqueue", "--config", path, "--assistant", "a", "--message", "m"]
        #expect(try await runCommand(toolworker, enqueue, environment: environment).status == 0)
        _ = try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), "PRAGMA user_version=-1"])
        for arguments in [enqueue, ["runs", "--config", path], ["prune", "--config", path, "--older-than", "1d"]] {
            let result = try await runCommand(toolworker, arguments, environment: environment)
            #expect(result.status == 65, "\(arguments[0]): \(result)")
            #expect(result.error.contains("schema version -1"))
        }
    }

    @Test("another application's SQLite file is refused (65) by enqueue and prune without being modified")
    func foreignFile() async throws {
        let dir = TempDirectory()
        let path = try config(dir)
        _ = try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('x');"])
        let before = try Data(contentsOf: URL(fileURLWithPath: dir.path("tw.db")))
        for arguments in [["enqueue", "--config", path, "--assistant", "a", "--message", "m"], ["prune", "--config", path, "--older-than", "1d"]] {
            let result = try await runCommand(toolworker, arguments, environment: environment)
            #expect(result.status == 65, "\(result)")
            #expect(result.error.contains("not a ToolWorker database"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.path("tw.db"))) == before)
        #expect(!FileManager.default.fileExists(atPath: dir.path("tw.db-wal")))
    }

    @Test("a database folder that does not exist is refused (78), not created")
    func missingFolder() async throws {
        let dir = TempDirectory()
        let path = try config(dir, database: "no/such/folder/tw.db")
        let result = try await runCommand(toolworker, ["enqueue", "--config", path, "--assistant", "a", "--message", "m"], environment: environment)
        #expect(result.status == 78, "\(result)")
        #expect(result.error.contains("does not exist"))
        #expect(!FileManager.default.fileExists(atPath: dir.path("no")))
    }

    @Test("events and show on an unknown run exit 64")
    func unknownRun() async throws {
        let dir = TempDirectory()
        let path = try config(dir)
        _ = try await runCommand(toolworker, ["enqueue", "--config", path, "--assistant", "a", "--message", "m"], environment: environment)
        for command in ["events", "show"] {
            let result = try await runCommand(toolworker, [command, "--config", path, "run_nope"], environment: environment)
            #expect(result.status == 64, "\(command): \(result)")
            #expect(result.error.contains("no run run_nope"))
        }
    }

    @Test("enqueue refuses empty text, zero attempts, oversized or reserved metadata", arguments: [
        (["--assistant", "", "--message", "m"], "--assistant is empty"),
        (["--assistant", "a", "--message", "  "], "--message is empty"),
        (["--assistant", "a", "--message", "m", "--max-attempts", "0"], "--max-attempts takes 1 to 100"),
        (["--assistant", "a", "--message", "m", "--metadata", "k=" + String(repeating: "v", count: 513)], "longer than the API's 512"),
        (["--assistant", "a", "--message", "m", "--metadata", String(repeating: "k", count: 65) + "=v"], "longer than the API's 64"),
        (["--assistant", "a", "--message", "m", "--metadata", "toolworker_run=7"], "ToolWorker's own"),
    ])
    func enqueueValidation(_ arguments: [String], _ message: String) async throws {
        let dir = TempDirectory()
        let path = try config(dir)
        let result = try await runCommand(toolworker, ["enqueue", "--config", path] + arguments, environment: environment)
        #expect(result.status == 64, "\(result)")
        #expect(result.error.contains(message), "\(result.error)")
        let jobs = try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), "SELECT count(*) FROM jobs"])
        #expect(jobs.output != "1\n", "nothing was queued")
    }

    @Test("an API key with a line break exits 78 before anything is sent")
    func keyWithNewline() async throws {
        let dir = TempDirectory()
        let server = try FakeAssistantsServer()
        defer { server.stop() }
        let path = try config(dir, baseURL: server.baseURL)
        var env = environment
        env["OPENAI_API_KEY"] = "sk-fake-test-key\r\nX-Injected: 1"
        let result = try await runCommand(toolworker, ["run", "--config", path, "--assistant", "asst_text", "--message", "m"], environment: env)
        #expect(result.status == 78, "\(result)")
        #expect(result.error.contains("control characters"))
        #expect(server.requests.isEmpty)
    }

    @Test("toolworker run stopped by SIGTERM stops its handlers' process groups; the call stays running for on_restart")
    func runStopsHandlers() async throws {
        let dir = TempDirectory()
        let server = try FakeAssistantsServer(scenarios: ["asst_slow": Scenario(rounds: [[ScriptedToolCall("slow", "{}")]])])
        defer { server.stop() }
        let pids = dir.path("pids")
        let script = dir.path("slow.sh")
        try "#!/bin/sh\ncat >/dev/null\nsleep 60 & echo $! >> \(pids)\necho $$ >> \(pids)\nwait\n".writeScript(toFile: script)
        chmod(script, 0o755)
        let path = dir.path("toolworker.yaml")
        try "api: { base_url: \"\(server.baseURL)\" }\ndatabase: tw.db\ntools:\n  slow: { command: [\"slow.sh\"], timeout: 120s }\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: toolworker)
        process.arguments = ["run", "--config", path, "--assistant", "asst_slow", "--message", "m"]
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try await waitFor("the handler and its child to start") {
            ((try? String(contentsOfFile: pids, encoding: .utf8)) ?? "").split(separator: "\n").count == 2
        }
        let started = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        kill(process.processIdentifier, SIGTERM)
        await waitForExit(process)
        #expect(process.terminationStatus == 128 + SIGTERM)
        try await waitFor("the handler's processes to be gone") { !started.contains(where: HandlerFailureTests.isRunning) }
        let state = try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), "SELECT state FROM tool_calls"])
        #expect(state.output == "running\n", "left for on_restart to decide")
    }
}

/// Daemon-level faults: a second daemon, shutdown grace, reload limits.
@Suite("The daemon under careless operation", .serialized)
struct DaemonHardeningTests {
    @Test("a second serve on the same SQLite database refuses to start (75); enqueue and history keep working")
    func secondDaemon() async throws {
        let h = try DaemonHarness()
        let handler = try h.script("w.sh", "cat >/dev/null; echo sunny")
        try h.writeConfig(tools: "  get_weather: { command: [\"\(handler)\"] }")
        try h.start()
        try await h.waitUntil("the first daemon to be ready") { h.notify.kinds.contains("READY") }
        let second = try await runCommand(h.toolworker, ["serve", "--config", h.configPath], environment: h.environment)
        #expect(second.status == 75, "\(second)")
        #expect(second.error.contains("already using this database"))
        let job = try await h.enqueue("asst_weather")
        try await h.waitUntil("the job to succeed") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(job)]) == 1 }
        let runs = try await runCommand(h.toolworker, ["runs", "--config", h.configPath], environment: h.environment)
        #expect(runs.status == 0)
        let stop = try await h.stop()
        #expect(stop.status == 0)
        // Once the first has stopped, a new daemon starts.
        try h.start()
        try await h.waitUntil("a new daemon to be ready") { h.notify.kinds.filter { $0 == "READY" }.count == 2 }
        _ = try await h.stop()
    }

    @Test("a notify socket nobody reads does not stall serve: jobs complete past a full queue, SIGTERM stops it")
    func deafServiceManager() async throws {
        let h = try DaemonHarness(readingNotifications: false)
        let handler = try h.script("w.sh", "cat >/dev/null; echo sunny")
        try h.writeConfig(runs: 2, tools: "  get_weather: { command: [\"\(handler)\"] }")
        try h.start()
        // WATCHDOG=1 every 0.5 s and STATUS= every 2 s fill the queue (net.unix.max_dgram_qlen datagrams); the
        // scheduler loop that sends them must go on taking jobs after that.
        try await h.waitUntil("the notify queue to be full") { SystemdNotifier.queueIsFull(h.notify.path) }
        var jobs: [Int64] = []
        for i in 0..<6 { jobs.append(try await h.enqueue("asst_weather", message: "job \(i)")) }
        try await h.waitUntil("every job to succeed") { try h.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 6 }
        let stop = try await h.stop(SIGTERM)
        #expect(stop.status == 0 && stop.reason == .exit, "serve ended \(stop); log:\n\(h.log().suffix(1500))")
        #expect(h.log().contains("did not take STOPPING=1"), "the dropped state change is logged")
    }

    @Test("shutdown grace over: the cancelled handler's call stays running (no spawn_failed output); on_restart decides")
    func graceExpiry() async throws {
        let h = try DaemonHarness(scenarios: ["asst_slow": Scenario(rounds: [[ScriptedToolCall("slow", "{}")]], finalText: "done")])
        let marks = h.directory.path("marks")
        let slow = try h.script("slow.sh", "cat >/dev/null; echo start >> \(marks); sleep 60; echo end")
        try h.writeConfig(grace: "1s", tools: "  slow: { command: [\"\(slow)\"], timeout: 120s, on_restart: fail }")
        let job = try await h.enqueue("asst_slow")
        try h.start()
        try await h.waitUntil("the handler to start") { (try? String(contentsOfFile: marks, encoding: .utf8)) == "start\n" }
        let stop = try await h.stop(SIGTERM)
        #expect(stop.status == 0, "\(h.log().suffix(1500))")
        let call = try #require(try h.query("SELECT state, output, error FROM tool_calls").first)
        #expect(call["state"].text == "running", "\(call)")
        #expect(call["output"].isNull)
        #expect(h.server.requests.filter { $0.path.hasSuffix("/submit_tool_outputs") }.isEmpty, "nothing was submitted")
        try h.start()
        try await h.waitUntil("the job to end") { try h.scalar("SELECT count(*) FROM jobs WHERE id = ? AND state = 'succeeded'", [.integer(job)]) == 1 }
        _ = try await h.stop()
        #expect(try h.query("SELECT state FROM tool_calls").first?["state"].text == "interrupted")
        #expect(try String(contentsOfFile: marks, encoding: .utf8) == "start\n", "never run twice")
    }

    @Test("after SIGHUP, old and new rounds share one tool_calls limit")
    func reloadKeepsLimit() async throws {
        let h = try DaemonHarness(scenarios: ["asst_block": Scenario(rounds: [[ScriptedToolCall("block", "{}")]], finalText: "done")])
        let marks = h.directory.path("marks")
        let release = h.directory.path("release")
        let block = try h.script("block.sh", """
            cat >/dev/null
            echo "start $$" >> \(marks)
            while [ ! -f \(release) ]; do sleep 0.05; done
            echo "end $$" >> \(marks)
            echo ok
            """)
        try h.writeConfig(runs: 4, toolCalls: 1, tools: "  block: { command: [\"\(block)\"], timeout: 120s }")
        let first = try await h.enqueue("asst_block")
        try h.start()
        try await h.waitUntil("the first handler to start") { (try? String(contentsOfFile: marks, encoding: .utf8))?.contains("start") == true }
        let ready = h.notify.kinds.filter { $0 == "READY" }.count
        kill(h.process!.processIdentifier, SIGHUP)
        try await h.waitUntil("the reload") { h.notify.kinds.filter { $0 == "READY" }.count > ready }
        let second = try await h.enqueue("asst_block")
        try await h.waitUntil("the second round to be recorded") {
            try h.scalar("SELECT count(*) FROM tool_calls WHERE state = 'running'") == 2
        }
        // The second handler must wait for the first one's permit.
        await #expect(throws: WaitTimeout.self) {
            try await h.waitUntil("a second handler to start", timeout: .seconds(2)) {
                (try String(contentsOfFile: marks, encoding: .utf8)).split(separator: "\n").filter { $0.hasPrefix("start") }.count > 1
            }
        }
        _ = FileManager.default.createFile(atPath: release, contents: nil)
        try await h.waitUntil("both jobs to succeed") {
            try h.scalar("SELECT count(*) FROM jobs WHERE id IN (?, ?) AND state = 'succeeded'", [.integer(first), .integer(second)]) == 2
        }
        _ = try await h.stop()
        let lines = try String(contentsOfFile: marks, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ")[0] }
        #expect(lines == ["start", "end", "start", "end"], "never two handlers at once: \(lines)")
    }

    @Test("concurrency.runs beyond the open-file limit: serve warns and runs fewer at once instead of failing on EMFILE")
    func openFileLimit() async throws {
        let dir = TempDirectory()
        try """
            api: { base_url: "http://127.0.0.1:9/v1" }
            database: tw.db
            concurrency: { runs: 5000 }
            tools: {}
            """.write(toFile: dir.path("tw.yaml"), atomically: true, encoding: .utf8)
        let log = dir.path("serve.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // A hard limit of 512 descriptors: the soft limit cannot be raised past it.
        process.arguments = ["-c", "ulimit -n 512 && exec \"$0\" serve --config \"$1\"", builtProduct("toolworker"), dir.path("tw.yaml")]
        process.environment = ["OPENAI_API_KEY": "sk-test-key-123456", "PATH": "/usr/bin:/bin"]
        process.standardError = FileHandle(forWritingAtPath: log)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let text = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        try await waitFor("serve ready") { text().contains("INFO ready") }
        #expect(text().contains("concurrency.runs is more than the open-file limit allows; running fewer at once"), "\(text())")
        #expect(text().contains("open_file_limit=512") && text().contains("runs=112"), "\(text())")
        kill(process.processIdentifier, SIGTERM)
        await waitForExit(process)
        #expect(process.terminationStatus == 0, "\(text())")
    }
}

