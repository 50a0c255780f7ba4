import FakeAssistants
import Foundation
import Testing
@testable import Journal
import RunLoopCore

/// `verify`, `replay --sse` and `events --follow` (issue 31, part 1): the journal's snapshots proven to be its
/// frames', its frames given back as a stream the official SDK reads, and a live run watched to its end.
@Suite("Verify, replay and follow a run from the journal")
struct AuditTests {
    let toolworker = builtProduct("toolworker")
    var environment: [String: String] { ["OPENAI_API_KEY": "sk-fake-test-key", "PATH": "/usr/bin:/bin"] }

    /// `toolworker run` of `assistant`, in the background.
    func startRun(_ config: String, assistant: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: toolworker)
        process.arguments = ["run", "--config", config, "--assistant", assistant, "--message", "go"]
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    func sqlite(_ dir: TempDirectory, _ sql: String) async throws -> String {
        try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), sql]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A two-round Assistants run and a two-response Responses loop, every delta's snapshot sampled.
    func twoRuns() async throws -> (TempDirectory, FakeAssistantsServer, String, assistants: String, responses: String) {
        let (dir, server, config) = try commandLineFixture(extra: "snapshots: all\nmodel: asst_weather\n")
        var ids: [String] = []
        for arguments in [["--assistant", "asst_two_rounds"], ["--protocol", "responses"]] {
            let run = try await runCommand(toolworker, ["run", "--config", config, "--message", "go"] + arguments, environment: environment)
            #expect(run.status == 0, "\(run.output) \(run.error)")
            ids.append(String(run.output.split(separator: "\n").first { $0.hasPrefix("run: ") }?.dropFirst(5) ?? ""))
        }
        return (dir, server, config, ids[0], ids[1])
    }

    @Test("both protocols verify clean; an altered snapshot is caught with its round, event and JSON path")
    func verify() async throws {
        let (dir, server, config, assistants, responses) = try await twoRuns()
        defer {
            server.stop()
            withExtendedLifetime(dir) {}
        }
        for run in [assistants, responses] {
            let clean = try await runCommand(toolworker, ["verify", run, "--config", config], environment: environment)
            #expect(clean.status == 0, "\(clean.output) \(clean.error)")
            #expect(clean.output.contains("\(run): verified"), "\(clean.output)")
        }
        #expect(try await sqlite(dir, "SELECT count(*) FROM events WHERE name = 'toolworker.tool_output'") == "0",
            "a quick handler's output is its final output alone: no live notes")
        let all = try await runCommand(toolworker, ["verify", "--all", "--config", config], environment: environment)
        #expect(all.status == 0 && all.output.contains("verified 2 runs: 2 clean, 0 diverging"), "\(all.output)")
        let compared = try JSONValue(parsing: Array(try await runCommand(toolworker, ["verify", assistants, "--config", config, "--json"]).output.utf8))
        #expect((compared[0]?["compared"]?.intValue ?? 0) > 10, "sampled delta snapshots are compared too: \(compared)")

        // A message snapshot taken after a delta, its text altered in the journal.
        let row = try await sqlite(dir, """
            SELECT s.id FROM snapshots s JOIN events e ON e.run = s.run AND e.seq = s.event_seq
            WHERE e.name = 'thread.message.delta' AND s.object_type = 'message' ORDER BY s.id DESC LIMIT 1
            """)
        #expect(!row.isEmpty)
        _ = try await sqlite(dir, "UPDATE snapshots SET data = json_set(data, '$.content[0].text.value', 'forged') WHERE id = \(row)")
        let caught = try await runCommand(toolworker, ["verify", assistants, "--config", config], environment: environment)
        #expect(caught.status == 1, "\(caught.output) \(caught.error)")
        #expect(caught.output.contains("DIVERGES at round 2, event"), "\(caught.output)")
        #expect(caught.output.contains("at $.content[0].text.value: stored \"forged\", rebuilt from the frames \""), "\(caught.output)")
        let json = try JSONValue(parsing: Array(try await runCommand(toolworker, ["verify", "--all", "--config", config, "--json"]).output.utf8))
        #expect(json[0]?["divergence"]?["path"]?.stringValue == "$.content[0].text.value")
        #expect(json[1]?["verified"]?.boolValue == true, "the other run is unaffected")

        // A Responses run snapshot with a status that no frame gave.
        let response = try await sqlite(dir, "SELECT id FROM snapshots WHERE object_type = 'run' AND event_seq IS NOT NULL AND run = 2 ORDER BY id LIMIT 1")
        _ = try await sqlite(dir, "UPDATE snapshots SET data = json_set(data, '$.status', 'tampered') WHERE id = \(response)")
        let tampered = try await runCommand(toolworker, ["verify", responses, "--config", config], environment: environment)
        #expect(tampered.status == 1 && tampered.output.contains("at $.status: stored \"tampered\""), "\(tampered.output)")
        let missing = try await runCommand(toolworker, ["verify", "run_nope", "--config", config], environment: environment)
        #expect(missing.status == 64)
        let both = try await runCommand(toolworker, ["verify", assistants, "--all", "--config", config], environment: environment)
        #expect(both.status == 64)
    }

    @Test("replay --sse gives the frames back as a stream the openai-python SDK reads to the same final objects")
    func replayWithSDK() async throws {
        let sdk = try #require(SDKTestEnvironment.pythonPath, "scripts/test.sh installs the openai package")
        let (dir, server, config, assistants, responses) = try await twoRuns()
        defer {
            server.stop()
            withExtendedLifetime(dir) {}
        }
        let script = Fixtures.directory.appendingPathComponent("replay_with_sdk.py").path
        for (protocolName, run, rounds) in [("assistants", assistants, 3), ("responses", responses, 2)] {
            var files: [String] = []
            for round in 0..<rounds {
                let replay = try await runCommand(toolworker, ["replay", run, "--sse", "--round", "\(round)", "--config", config], environment: environment)
                #expect(replay.status == 0, "\(replay.error)")
                let file = dir.path("\(protocolName)-\(round).sse")
                try replay.output.write(toFile: file, atomically: true, encoding: .utf8)
                files.append(file)
            }
            let whole = try await runCommand(toolworker, ["replay", run, "--sse", "--config", config], environment: environment)
            let rows = try await sqlite(dir, "SELECT count(*) FROM events WHERE kind <> 'note' AND run = (SELECT id FROM runs WHERE run_id = '\(run)')")
            #expect(whole.output.components(separatedBy: "\n\n").count - 1 == Int(rows), "every stored frame, and only those")
            let read = try await runCommand("/usr/bin/python3", [script, protocolName] + files, environment: ["PYTHONPATH": sdk, "PATH": "/usr/bin:/bin"])
            #expect(read.status == 0, "\(read.error)")
            let finals = try JSONValue(parsing: Array(read.output.utf8)).arrayValue ?? []
            #expect(finals.count == rounds)
            if protocolName == "responses" {
                for final in finals {
                    let id = try #require(final["id"]?.stringValue)
                    let stored = try JSONValue(parsing: Array(try await sqlite(dir, "SELECT data FROM snapshots WHERE object_type = 'run' AND object_id = '\(id)' ORDER BY id DESC LIMIT 1").utf8))
                    #expect(final["status"] == stored["status"], "\(id)")
                    #expect(final["output"]?.arrayValue?.map { $0["id"] } == stored["output"]?.arrayValue?.map { $0["id"] }, "\(id)")
                    #expect(final["output"]?.arrayValue?.map { $0["arguments"] ?? .null } == stored["output"]?.arrayValue?.map { $0["arguments"] ?? .null })
                }
            } else {
                for final in finals {
                    let run = try #require(final["run"])
                    let id = try #require(run["id"]?.stringValue)
                    let status = try #require(run["status"]?.stringValue)
                    let stored = try await sqlite(dir, "SELECT count(*) FROM snapshots WHERE object_type = 'run' AND object_id = '\(id)' AND status = '\(status)'")
                    #expect(stored == "1" || stored == "2", "the SDK's final run \(id) \(status) is a stored snapshot")
                }
                let text = finals.last?["messages"]?.arrayValue?.last?[path: "content.0.text.value"]?.stringValue
                let storedText = try await sqlite(dir, "SELECT json_extract(data, '$.content[0].text.value') FROM snapshot_log WHERE object_type = 'message' AND is_latest AND run_key = 1 ORDER BY snapshot_id DESC LIMIT 1")
                #expect(text != nil && text == storedText, "\(text ?? "-") vs \(storedText)")
            }
        }
        let bad = try await runCommand(toolworker, ["replay", assistants, "--config", config], environment: environment)
        #expect(bad.status == 64 && bad.error.contains("--sse"))
    }

    @Test("events --follow prints a live run's rows as they land and ends when the run ends")
    func follow() async throws {
        let (dir, server, config) = try commandLineFixture()
        defer {
            server.stop()
            withExtendedLifetime(dir) {}
        }
        let process = try startRun(config, assistant: "asst_slow_stream")
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var runID = ""
        try await waitFor("the run to have its id") {
            runID = (try? runCommandBlocking("/usr/bin/sqlite3", [dir.path("tw.db"), "SELECT run_id FROM runs WHERE run_id IS NOT NULL"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
            return !runID.isEmpty
        }
        let before = Int(try await sqlite(dir, "SELECT count(*) FROM events")) ?? 0
        let followed = try await runCommand(toolworker, ["events", runID, "--follow", "--config", config], environment: environment)
        #expect(followed.status == 0, "\(followed.error)")
        await waitForExit(process)
        let lines = followed.output.split(separator: "\n")
        let total = Int(try await sqlite(dir, "SELECT count(*) FROM events")) ?? 0
        #expect(lines.first == "seq\tstream\tevent\tkind\treceived\terror\tdetail")
        #expect(lines.count - 1 == total, "every row, once: \(lines.count - 1) of \(total)")
        #expect(total > before, "rows landed while it followed (\(before) when it began)")
        #expect(lines.last?.contains("thread.run.completed") == true || lines.last?.contains("done") == true, "\(lines.last ?? "")")
        let json = try await runCommand(toolworker, ["events", runID, "--follow", "--json", "--config", config], environment: environment)
        #expect(json.output.split(separator: "\n").allSatisfy { (try? JSONValue(parsing: Array($0.utf8)))?["seq"] != nil })
    }

    @Test("a running handler's output is journaled as it arrives: shown by status and events --follow, bounded, never instead of the final output")
    func liveOutput() async throws {
        let (dir, server, config) = try commandLineFixture()
        defer {
            server.stop()
            withExtendedLifetime(dir) {}
        }
        // Lines a while apart, a warning on stderr, then (after a marker file appears) 200 KiB at once.
        let handler = dir.path("weather.sh")
        try """
            #!/bin/sh
            cat >/dev/null
            for i in 1 2 3 4; do echo "line $i"; sleep 0.3; done
            echo "careful" >&2
            while [ ! -f \(dir.path("go-on")) ]; do sleep 0.05; done
            head -c 204800 /dev/zero | tr '\\0' x
            echo
            """.writeScript(toFile: handler)
        let process = try startRun(config, assistant: "asst_weather")
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var status = ""
        // The handler now waits: its last pieces (line 4 on stdout, then at once "careful" on stderr) are noted.
        try await waitFor("status to show the running call's latest output") {
            status = (try? runCommandBlocking(toolworker, ["status", "--config", config], environment: environment).output) ?? ""
            return status.contains("running tool calls") && (status.contains("line 4") || status.contains("careful"))
        }
        #expect(status.contains("get_weather"), "\(status)")
        let json = try JSONValue(parsing: Array(try await runCommand(toolworker, ["status", "--config", config, "--json"], environment: environment).output.utf8))
        #expect(json["running_calls"]?[0]?["tool"]?.stringValue == "get_weather")
        FileManager.default.createFile(atPath: dir.path("go-on"), contents: nil)
        await waitForExit(process)
        #expect(process.terminationStatus == 0)
        let runID = try await sqlite(dir, "SELECT run_id FROM runs")
        let followed = try await runCommand(toolworker, ["events", runID, "--follow", "--config", config], environment: environment)
        #expect(followed.output.contains("toolworker.tool_output") && followed.output.contains("line 1"), "\(followed.output.prefix(2000))")
        let notes = try await sqlite(dir, "SELECT count(*) FROM events WHERE name = 'toolworker.tool_output'")
        let noted = try await sqlite(dir, "SELECT sum(length(json_extract(data, '$.text'))) FROM events WHERE name = 'toolworker.tool_output'")
        #expect((Int(notes) ?? 0) >= 3 && (Int(notes) ?? 0) <= 12, "rate-limited: \(notes) notes")
        #expect((Int(noted) ?? 0) <= 64 * 1024, "bounded: \(noted) bytes noted")
        #expect(try await sqlite(dir, "SELECT count(*) FROM events WHERE name = 'toolworker.tool_output' AND json_extract(data, '$.truncated') = 1") == "1")
        #expect(try await sqlite(dir, "SELECT count(*) FROM events WHERE name = 'toolworker.tool_output' AND json_extract(data, '$.stream') = 'stderr' AND json_extract(data, '$.text') LIKE 'careful%'") == "1")
        #expect(try await sqlite(dir, "SELECT count(*) FROM events WHERE name = 'toolworker.tool_output' AND json_extract(data, '$.partial') = 1") == notes)
        // The final output is the handler's stdout, as always (cut at max_output_bytes, 64 KiB by default).
        let output = try await sqlite(dir, "SELECT length(output) >= 65536 AND output LIKE 'line 1%' AND output_truncated FROM tool_calls")
        #expect(output == "1")
        let verified = try await runCommand(toolworker, ["verify", runID, "--config", config], environment: environment)
        #expect(verified.status == 0, "notes are not frames: \(verified.output)")
    }

    @Test("an MCP server's progress notifications are journaled as the call's live output")
    func mcpProgress() async throws {
        guard MCPTestEnvironment.available else { Issue.record("the mcp Python package is missing (scripts/test.sh installs it)"); return }
        let server = try FakeAssistantsServer(scenarios: ["asst_progress": Scenario(rounds: [[ScriptedToolCall("fake__progress", #"{"steps":3}"#)]])])
        defer { server.stop() }
        let dir = TempDirectory()
        let config = dir.path("toolworker.yaml")
        try """
            api: { base_url: "\(server.baseURL)" }
            database: tw.db
            mcp_servers:
              fake:
                command: ["\(MCPTestEnvironment.python!)", "\(MCPTestEnvironment.fakeServer)", "stdio"]
                env: { PYTHONPATH: "\(MCPTestEnvironment.packages!)" }
                allowed_tools: [progress]
                timeout: 30s
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let run = try await runCommand(toolworker, ["run", "--config", config, "--assistant", "asst_progress", "--message", "go"], environment: environment)
        #expect(run.status == 0, "\(run.output) \(run.error)")
        let progress = try await sqlite(dir, "SELECT group_concat(json_extract(data, '$.text'), '') FROM events WHERE name = 'toolworker.tool_output' AND json_extract(data, '$.stream') = 'progress'")
        #expect(progress.contains("step 1 of 3") && progress.contains("step 3 of 3"), "\(progress)")
        #expect(try await sqlite(dir, "SELECT output FROM tool_calls") == "progressed", "the final output, as always")
    }
}
