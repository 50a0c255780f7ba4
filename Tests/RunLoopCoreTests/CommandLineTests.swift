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

@Suite("The toolworker command line")
struct CommandLineTests {
    let toolworker = builtProduct("toolworker")

    func setUp() throws -> (TempDirectory, FakeAssistantsServer, String) { try commandLineFixture() }

    var environment: [String: String] { ["OPENAI_API_KEY": "sk-fake-test-key", "PATH": "/usr/bin:/bin"] }

    @Test("run prints the run id and final status; exit status follows the outcome")
    func run() async throws {
        let (dir, server, config) = try setUp()
        defer { server.stop() }
        let ok = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_weather", "--message", "hi", "--metadata", "k=v"], environment: environment)
        #expect(ok.status == 0, "\(ok.error)")
        #expect(ok.output.contains("status: completed"))
        #expect(ok.output.contains("answer: get_weather: sunny"))
        let runID = try #require(ok.output.split(separator: "\n").first { $0.hasPrefix("run: ") }?.dropFirst(5))
        #expect(runID.hasPrefix("run_"))
        #expect(ok.error.contains("run ended"), "logs go to stderr")
        #expect(!ok.error.contains("sk-fake-test-key"), "the key is never logged")

        let failed = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_failed", "--message", "hi"], environment: environment)
        #expect(failed.status == 10)
        #expect(failed.output.contains("status: failed"))

        let history = try await runCommand("/usr/bin/sqlite3", ["-readonly", dir.path("tw.db"), "SELECT status FROM run_history ORDER BY run_key"])
        #expect(history.output == "completed\nfailed\n")

        let dump = try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), ".dump"])
        #expect(dump.output.contains("thread.run.requires_action"))
        #expect(!dump.output.contains("sk-fake-test-key"), "the API key never reaches the database")

        let show = try await runCommand(toolworker, ["show", "--config", config, String(runID), "--json"], environment: environment)
        #expect(show.status == 0)
        let shown = try JSONValue(parsing: show.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(shown[path: "run.status"] == "completed")
        #expect(shown[path: "tool_calls.0.tool"] == "get_weather")
    }

    @Test("usage and configuration errors have their own exit statuses and clear messages")
    func errors() async throws {
        let (dir, server, config) = try setUp()
        defer { server.stop() }
        let usage = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "a"], environment: environment)
        #expect(usage.status == 64)
        #expect(usage.error.contains("--thread ID or --message TEXT"))
        let broken = dir.path("broken.yaml")
        try "tools:\n  x: { command: [\"/nonexistent\"] }\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let bad = try await runCommand(toolworker, ["check-config", "--config", broken], environment: environment)
        #expect(bad.status == 78)
        #expect(bad.error.contains("tools.x.command: handler /nonexistent does not exist"))
        let noKey = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "a", "--message", "m"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(noKey.status == 78)
        #expect(noKey.error.contains("OPENAI_API_KEY"))
        let good = try await runCommand(toolworker, ["check-config", "--config", config], environment: environment)
        #expect(good.status == 0)
        #expect(good.output.contains("tools: get_weather"))
    }

    @Test("tools lists every source (handlers, the shell, the workspace) with the policy each kind takes; check-config warns only when nothing at all is offered")
    func toolsListsEverySource() async throws {
        let dir = TempDirectory()
        let handler = dir.path("h.sh")
        try "#!/bin/sh\ncat\n".writeScript(toFile: handler)
        chmod(handler, 0o755)
        try FileManager.default.createDirectory(atPath: dir.path("work"), withIntermediateDirectories: true)
        let config = dir.path("all.yaml")
        try """
            database: \(dir.path("tw.db"))
            tools:
              echo: { command: ["\(handler)"], timeout: 5s, max_output_bytes: 4096, limits: { time: 3s } }
            shell: { working_directory: \(dir.path("work")), timeout: 7s, on_restart: rerun }
            apply_patch: { workspace_root: \(dir.path("work")), approval: always }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let text = try await runCommand(toolworker, ["tools", "--config", config], environment: environment)
        #expect(text.status == 0, "\(text)")
        let lines = text.output.split(separator: "\n").map(String.init)
        #expect(lines == [
            "echo\t\(handler)\ttimeout=3.0 seconds\tmax_output=4096\ton_restart=rerun",
            "shell\tshell in \(dir.path("work"))\ttimeout=7.0 seconds\tmax_output=65536\ton_restart=rerun",
            "apply_patch\tapply_patch in \(dir.path("work"))\ton_restart=fail",
        ], "\(lines)")
        let json = try await runCommand(toolworker, ["tools", "--config", config, "--json"], environment: environment)
        let listed = try JSONValue(parsing: json.output).arrayValue ?? []
        #expect(listed.map { $0["kind"]?.stringValue } == ["function", "shell", "apply_patch"])
        #expect(listed[0]["command"] == .array([.string(handler)]) && listed[0]["timeout_ms"] == 3000)
        #expect(listed[1]["working_directory"] == .string(dir.path("work")) && listed[1]["timeout_ms"] == 7000)
        #expect(listed[2]["workspace_root"] == .string(dir.path("work")) && listed[2]["timeout_ms"] == nil && listed[2]["on_restart"] == "fail")

        let shellOnly = dir.path("shell.yaml")
        try "database: \(dir.path("tw.db"))\nshell: { working_directory: \(dir.path("work")) }\n".write(toFile: shellOnly, atomically: true, encoding: .utf8)
        let checked = try await runCommand(toolworker, ["check-config", "--config", shellOnly], environment: environment)
        #expect(checked.status == 0 && !checked.output.contains("no tools are registered"), "\(checked)")
        let nothing = dir.path("none.yaml")
        try "database: \(dir.path("tw.db"))\ntools: {}\n".write(toFile: nothing, atomically: true, encoding: .utf8)
        let empty = try await runCommand(toolworker, ["check-config", "--config", nothing], environment: environment)
        #expect(empty.status == 0 && empty.output.contains("warning: no tools are registered"), "\(empty)")
    }

    @Test("cancel asks the server and records the answer; the foreground run then ends cancelled (exit 13)")
    func cancel() async throws {
        let (dir, server, _) = try setUp()
        defer { server.stop() }
        server.register(Scenario(rounds: [[ScriptedToolCall("slow", "{}")]]), for: "asst_cancel")
        let marker = dir.path("started")
        let slow = dir.path("slow.sh")
        let release = dir.path("release")
        // The handler holds its round open until the test has cancelled the run (a handshake, not a race).
        try "#!/bin/sh\ncat >/dev/null\ntouch \(marker)\ni=0\nwhile [ ! -f \(release) ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done\necho late\n"
            .writeScript(toFile: slow)
        chmod(slow, 0o755)
        let config = dir.path("cancel.yaml")
        try "api: { base_url: \"\(server.baseURL)\" }\ndatabase: tw.db\ntools:\n  slow: { command: [\"slow.sh\"], timeout: 300s }\n".write(toFile: config, atomically: true, encoding: .utf8)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: toolworker)
        run.arguments = ["run", "--config", config, "--assistant", "asst_cancel", "--message", "hi"]
        run.environment = environment
        let output = Pipe()
        run.standardOutput = output
        run.standardError = FileHandle.nullDevice
        try run.run()
        try await waitFor("the handler to start", timeout: .seconds(120)) { FileManager.default.fileExists(atPath: marker) }
        let runID = try #require(server.requests.first { $0.path.hasSuffix("/runs") || $0.path.hasSuffix("/threads/runs") }.flatMap { _ in
            try? SQLiteConnection(path: dir.path("tw.db"), readOnly: true).scalar("SELECT run_id FROM runs WHERE run_id IS NOT NULL").text
        })
        let cancel = try await runCommand(toolworker, ["cancel", "--config", config, runID], environment: environment)
        #expect(cancel.status == 0, "\(cancel.error)")
        #expect(cancel.output == "\(runID): cancelled\n")
        _ = FileManager.default.createFile(atPath: release, contents: nil)
        await waitForExit(run)
        #expect(run.terminationStatus == 13)
        let printed = String(decoding: readAll(output.fileHandleForReading), as: UTF8.self)
        #expect(printed.contains("status: cancelled"))
        let again = try await runCommand(toolworker, ["cancel", "--config", config, runID], environment: environment)
        #expect(again.status == 14)
        #expect(again.error.contains("Cannot cancel run"))
    }

    @Test("cancel refuses, with exit 64 and nothing sent, a run without its thread and a run of a protocol this build does not speak; the journal keeps them as they were")
    func cancelRefusals() async throws {
        let (dir, server, config) = try setUp()
        defer { server.stop() }
        do {
            let store = try AuditStore(path: dir.path("tw.db"))
            defer { store.close() }
            let noThread = try await store.createRun(assistantID: "asst_x", threadID: nil, jobID: nil, request: [:])
            let foreign = try await store.createRun(
                assistantID: "", threadID: "conv_1", jobID: nil, request: [:], protocolName: "smoke-signals", model: nil)
            try await store.write { db in
                try db.execute("UPDATE runs SET run_id = 'run_nothread', status = 'in_progress' WHERE id = ?", [.integer(noThread)])
                try db.execute("UPDATE runs SET run_id = 'run_smoke', status = 'in_progress' WHERE id = ?", [.integer(foreign)])
            }
        }
        let noThread = try await runCommand(toolworker, ["cancel", "--config", config, "run_nothread"], environment: environment)
        #expect(noThread.status == 64, "\(noThread)")
        #expect(noThread.error.contains("cannot cancel run_nothread") && noThread.error.contains("has no thread"), "\(noThread.error)")
        let foreign = try await runCommand(toolworker, ["cancel", "--config", config, "run_smoke"], environment: environment)
        #expect(foreign.status == 64, "\(foreign)")
        #expect(foreign.error.contains("protocol smoke-signals, which this build does not speak"), "\(foreign.error)")
        #expect(server.requests.isEmpty, "nothing was sent: \(server.requests.map(\.path))")
        let rows = try SQLiteConnection(path: dir.path("tw.db"), readOnly: true).query("SELECT run_id, status FROM runs ORDER BY id")
        #expect(rows.map { $0["status"].text } == ["in_progress", "in_progress"])
    }

    @Test("sync-tools shows the difference, publishes the function tools, and then finds nothing to do")
    func syncTools() async throws {
        let (dir, server, _) = try setUp()
        defer { server.stop() }
        let config = dir.path("sync.yaml")
        try """
            api: { base_url: "\(server.baseURL)" }
            database: tw.db
            tools:
              get_weather:
                command: ["weather.sh"]
                description: Current weather
                parameters: { type: object, properties: { city: { type: string } }, required: [city] }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let dry = try await runCommand(toolworker, ["sync-tools", "--config", config, "--assistant", "asst_x", "--dry-run"], environment: environment)
        #expect(dry.output == "asst_x: + get_weather\n", "\(dry.error)")
        #expect(!server.requests.contains { $0.method == "POST" && $0.path.hasSuffix("/assistants/asst_x") })
        let apply = try await runCommand(toolworker, ["sync-tools", "--config", config, "--assistant", "asst_x"], environment: environment)
        #expect(apply.output.hasSuffix("updated\n"))
        let sent = try #require(server.requests.last { $0.method == "POST" && $0.path.hasSuffix("/assistants/asst_x") }?.json)
        #expect(sent[path: "tools.0.function.name"] == "get_weather")
        #expect(sent[path: "tools.0.function.parameters.required.0"] == "city")
        let again = try await runCommand(toolworker, ["sync-tools", "--config", config, "--assistant", "asst_x"], environment: environment)
        #expect(again.output.contains("already match"))
    }

    @Test("prune removes finished runs older than the cut-off")
    func prune() async throws {
        let (dir, server, config) = try setUp()
        defer { server.stop() }
        _ = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_text", "--message", "hi"], environment: environment)
        let keep = try await runCommand(toolworker, ["prune", "--config", config, "--older-than", "30d"], environment: environment)
        #expect(keep.output == "pruned 0 runs and 0 jobs\n")
        try await Task.sleep(for: .milliseconds(50))
        let all = try await runCommand(toolworker, ["prune", "--config", config, "--older-than", "0s"], environment: environment)
        #expect(all.output == "pruned 1 runs and 0 jobs\n")
        let remaining = try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), "SELECT count(*) FROM events"])
        #expect(remaining.output == "0\n")
        let bad = try await runCommand(toolworker, ["prune", "--config", config, "--older-than", "soon"], environment: environment)
        #expect(bad.status == 64)
    }

    @Test("logs carry journald priority prefixes when stderr is the journal stream, one line per message")
    func journaldPrefixes() async throws {
        let (dir, server, config) = try setUp()
        defer { server.stop() }
        let logPath = dir.path("stderr.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        var info = stat()
        stat(logPath, &info)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: toolworker)
        process.arguments = ["run", "--config", config, "--assistant", "asst_failed", "--message", "hi"]
        process.environment = environment.merging(["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"]) { $1 }
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        await waitForExit(process)
        let lines = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("<6>starting run") })
        #expect(lines.contains { $0.hasPrefix("<4>run ended") && $0.contains("status=failed") })
        #expect(lines.allSatisfy { $0.hasPrefix("<") }, "every line is one prefixed journal entry")
    }
}
