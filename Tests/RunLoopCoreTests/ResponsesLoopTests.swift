import FakeAssistants
import Foundation
import Testing
import RunLoopCore

/// The Responses API tool loop end to end: the fake server's `/v1/responses`, real handlers, a real SQLite file.
@Suite("Responses API: the tool loop end to end")
struct ResponsesLoopTests {
    @Test("a text answer: one streamed response, stored and viewed like an Assistants run")
    func textAnswer() async throws {
        let h = try RunHarness()
        let outcome = try await h.respond("asst_text", instructions: "be brief")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(outcome.finalText == "Hello from the fake assistant.")
        let create = try #require(h.requests("POST", "/responses").first?.json)
        #expect(create["stream"] == true)
        #expect(create["background"] == true)
        #expect(create["store"] == true)
        #expect(create["model"] == "asst_text")
        #expect(create["instructions"] == "be brief")
        #expect(create[path: "input.0.content.0.text"] == "hi")
        #expect(create[path: "metadata.toolworker_run"] == .string(String(outcome.runKey)))
        #expect(h.requests("POST", "/responses").first?.headers["openai-beta"] == nil, "no Assistants beta header")
        let history = try #require(try await h.rows("SELECT * FROM run_history").first)
        #expect(history["protocol"].text == "responses")
        #expect(history["model"].text == "asst_text")
        #expect(history["status"].text == "completed")
        #expect(history["run_id"].text == outcome.runID)
        let events = try await h.rows("SELECT event FROM event_log ORDER BY seq").compactMap { $0["event"].text }
        #expect(events.first == "response.created")
        #expect(events.last == "response.completed")
        let answer = try await h.rows(
            "SELECT json_extract(data, '$.content[0].text') AS t FROM snapshot_log WHERE object_type = 'message' AND is_latest")
        #expect(answer.first?["t"].text == "Hello from the fake assistant.")
    }

    @Test("parallel function calls: flat tools, outputs as function_call_output with previous_response_id, each once")
    func functionCallRound() async throws {
        let h = try RunHarness()
        try h.handler("get_weather", "read args; printf 'sunny for %s' \"$args\"") { $0.description = "Weather" }
        let outcome = try await h.respond("asst_parallel")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(outcome.rounds == 1)
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        #expect(posts.count == 2)
        #expect(posts[0][path: "tools.0.name"] == "get_weather", "flat function tools")
        #expect(posts[0][path: "tools.0.function"] == nil)
        #expect(posts[0][path: "tools.0.type"] == "function")
        let submit = posts[1]
        let previous = try #require(submit["previous_response_id"]?.stringValue)
        let outputs = submit["input"]?.arrayValue ?? []
        #expect(outputs.count == 2)
        #expect(outputs.allSatisfy { $0["type"] == "function_call_output" })
        #expect(Set(outputs.compactMap { $0["call_id"]?.stringValue }).count == 2)
        #expect(h.server.response(previous).duplicateAnswers == 0)
        let calls = try await h.rows("SELECT call_id, state, output, submitted FROM tool_call_log ORDER BY call_id")
        #expect(calls.count == 2)
        #expect(calls.allSatisfy { $0["state"].text == "succeeded" && $0["submitted"].text != nil })
        #expect(outcome.finalText?.contains("get_weather: sunny for {\"city\":\"Paris\"}") == true, "\(outcome.finalText ?? "")")
        let runs = try await h.rows("SELECT run_id FROM run_history")
        #expect(runs.count == 1, "one row per tool loop, whatever the number of responses")
        #expect(runs.first?["run_id"].text == outcome.runID, "the loop's id is its latest response")
    }

    @Test("a dropped background stream is resumed by sequence_number; no event is stored twice")
    func resumedStream() async throws {
        let h = try RunHarness(scenarios: [
            "resp_drop": Scenario(finalText: "a long answer in many pieces", faults: [.dropStream(on: .create, afterFrames: 6)], deltaPieces: 10)
        ])
        let outcome = try await h.respond("resp_drop")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(outcome.finalText == "a long answer in many pieces")
        let resumes = h.server.requests.filter { $0.method == "GET" && $0.query["stream"] == "true" }
        #expect(resumes.count == 1)
        #expect(resumes.first?.query["starting_after"] == "5")
        let sequences = try await h.rows("SELECT json_extract(data, '$.sequence_number') AS n FROM event_log WHERE kind <> 'note' ORDER BY seq")
            .compactMap { $0["n"].int }
        #expect(sequences == Array(0..<Int64(sequences.count)), "every event once, in order: \(sequences)")
    }

    @Test("a server that refuses background mode: foreground requests; a drop is followed by retrieving the response")
    func foregroundFallback() async throws {
        let h = try RunHarness(scenarios: [
            "resp_fg": Scenario(finalText: "done", faults: [.dropStream(on: .create, occurrence: 2, afterFrames: 4)])
        ])
        h.server.refuseBackground()
        let outcome = try await h.respond("resp_fg")
        #expect(outcome.status == .completed, "\(outcome)")
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        #expect(posts.count == 2)
        #expect(posts[0]["background"] == true)
        #expect(posts[1]["background"] == nil)
        #expect(h.server.requests.contains { $0.method == "GET" && $0.query["stream"] == nil }, "retrieved after the drop")
        #expect(outcome.finalText == "done", "the final answer came from the retrieved response")
    }

    @Test("failed and incomplete responses end the loop with their status and reason")
    func failedAndIncomplete() async throws {
        let h = try RunHarness(scenarios: ["resp_inc": Scenario(finalText: "cut", ending: .incomplete(reason: "max_output_tokens"))])
        let failed = try await h.respond("asst_failed")
        #expect(failed.status == .failed)
        #expect(failed.errorCode == "server_error")
        let incomplete = try await h.respond("resp_inc")
        #expect(incomplete.status == .incomplete)
        #expect(try await h.rows("SELECT incomplete_reason FROM run_history WHERE status = 'incomplete'").first?["incomplete_reason"].text == "max_output_tokens")
    }

    @Test("cancelling a background response: the loop following it ends cancelled")
    func cancelResponse() async throws {
        let h = try RunHarness(scenarios: ["resp_hang": Scenario(ending: .hangs())])
        let driver = h.driver()
        let task = Task { try await driver.run(RunRequest(assistantID: "", message: "x", protocolName: "responses", model: "resp_hang")) }
        // Polled while it hangs in progress: the run's id is stored by then.
        try await waitFor("the response to be polled") { h.server.requests.contains { $0.method == "GET" } }
        var id: String?
        for _ in 0..<3000 where id == nil {
            id = try await h.rows("SELECT run_id FROM run_history WHERE run_id IS NOT NULL").first?["run_id"].text
            if id == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let responseID = try #require(id)
        let backend = try #require(driver.backends["responses"] as? ResponsesBackend)
        let cancelled = try await backend.cancel(id: responseID, threadID: nil)
        #expect(cancelled.phase == .ended(.cancelled))
        let outcome = try await task.value
        #expect(outcome.status == .cancelled)
        #expect(try await h.rows("SELECT status FROM run_history").first?["status"].text == "cancelled")
    }

    @Test("an unknown model is a clear error; nothing is retried blind")
    func unknownModel() async throws {
        let h = try RunHarness()
        let outcome = try await h.respond("no-such-model")
        #expect(outcome.status == .error)
        #expect(outcome.detail?.contains("does not exist") == true, "\(outcome.detail ?? "")")
        #expect(h.requests("POST", "/responses").count == 1)
    }
}

/// The Responses protocol through the command line and the daemon.
@Suite("Responses API: command line, queue, crash recovery", .serialized)
struct ResponsesDaemonTests {
    @Test("toolworker run --protocol responses: exit statuses and usage errors")
    func runCommandLine() async throws {
        let dir = TempDirectory()
        let server = try FakeAssistantsServer()
        defer { server.stop() }
        let handler = dir.path("weather.sh")
        try "#!/bin/sh\ncat >/dev/null\necho sunny\n".writeScript(toFile: handler)
        chmod(handler, 0o755)
        let config = dir.path("toolworker.yaml")
        try """
            api: { base_url: "\(server.baseURL)", protocol: responses }
            model: asst_weather
            instructions: Answer briefly.
            database: tw.db
            tools:
              get_weather: { command: ["weather.sh"], description: "Current weather" }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"]
        let toolworker = builtProduct("toolworker")
        let ok = try await runCommand(toolworker, ["run", "--config", config, "--message", "weather?"], environment: environment)
        #expect(ok.status == 0, "\(ok.error)")
        #expect(ok.output.contains("status: completed"))
        #expect(ok.output.contains("answer: get_weather: sunny"))
        let failed = try await runCommand(toolworker, ["run", "--config", config, "--model", "asst_failed", "--message", "x"], environment: environment)
        #expect(failed.status == 10)
        let assistants = try await runCommand(
            toolworker, ["run", "--config", config, "--protocol", "assistants", "--assistant", "asst_text", "--message", "x"], environment: environment)
        #expect(assistants.status == 0, "\(assistants.error)")
        for (arguments, message) in [
            (["--thread", "thread_1", "--message", "x"], "--thread is for the Assistants protocol"),
            (["--assistant", "asst_text", "--message", "x"], "--assistant is for the Assistants protocol"),
            (["--protocol", "assistants", "--message", "x"], "needs --assistant"),
            (["--protocol", "other", "--message", "x"], "--protocol takes assistants or responses"),
        ] {
            let result = try await runCommand(toolworker, ["run", "--config", config] + arguments, environment: environment)
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.error.contains(message), "\(result.error)")
        }
        let history = try await runCommand("/usr/bin/sqlite3", [dir.path("tw.db"), "SELECT protocol, model, status FROM run_history ORDER BY run_key"])
        #expect(history.output == "responses|asst_weather|completed\nresponses|asst_failed|failed\nassistants||completed\n")
        let noModel = dir.path("nomodel.yaml")
        try "api: { protocol: responses }\ntools: {}\n".write(toFile: noModel, atomically: true, encoding: .utf8)
        let check = try await runCommand(toolworker, ["check-config", "--config", noModel], environment: environment)
        #expect(check.status == 78)
        #expect(check.error.contains("model: required when api.protocol is responses"))
    }

    @Test("serve drives queued Responses jobs; killed mid-handler (on_restart: fail) it resumes without running the call twice")
    func serveAndRecover() async throws {
        let h = try DaemonHarness(scenarios: [
            "resp_once": Scenario(rounds: [[ScriptedToolCall("charge", "{}")]], finalText: "charged once")
        ])
        let ledger = h.directory.path("ledger")
        let handler = try h.script("charge.sh", "cat >/dev/null; echo charged >> \(ledger); sleep 30; echo receipt")
        try h.writeConfig(
            extra: "model: asst_weather",
            tools: "  charge: { command: [\"\(handler)\"], timeout: 60s, on_restart: fail }\n  get_weather: { command: [\"\(handler)\"] }")
        let enqueue = try await runCommand(
            h.toolworker, ["enqueue", "--config", h.configPath, "--protocol", "responses", "--model", "resp_once", "--message", "charge it"],
            environment: h.environment)
        #expect(enqueue.status == 0, "\(enqueue.error)")
        try h.start()
        try await h.waitUntil("the handler to start") { (try? String(contentsOfFile: ledger, encoding: .utf8)) == "charged\n" }
        _ = try await h.stop(SIGKILL)
        #expect(try h.query("SELECT state FROM tool_calls").first?["state"].text == "running")
        try h.start()
        try await h.waitUntil("the job to succeed") { try h.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 1 }
        _ = try await h.stop()
        #expect(try String(contentsOfFile: ledger, encoding: .utf8) == "charged\n", "never run twice")
        let call = try #require(try h.query("SELECT state, output, submitted FROM tool_call_log").first)
        #expect(call["state"].text == "interrupted")
        #expect(call["submitted"].text != nil)
        let run = try #require(try h.query("SELECT protocol, status FROM run_history").first)
        #expect(run["protocol"].text == "responses")
        #expect(run["status"].text == "completed")
        let posts = h.server.requests.filter { $0.method == "POST" && $0.path.hasSuffix("/responses") }
        #expect(posts.count == 2, "one create, one answer")
        #expect(try h.query("PRAGMA integrity_check").first?.values.first?.text == "ok")
    }

    @Test("a database written by the previous schema is migrated in place, its history kept")
    func migratesOldDatabase() async throws {
        let dir = TempDirectory()
        let path = dir.path("old.db")
        let old = try SQLiteConnection(path: path)
        try old.executeScript("PRAGMA journal_mode=WAL")
        try old.executeScript(Schema.migrations[0])
        try old.executeScript(Schema.migrations[1])
        try old.executeScript("PRAGMA user_version=2; PRAGMA application_id=\(Schema.applicationID)")
        try old.execute(
            "INSERT INTO runs (run_id, thread_id, assistant_id, status, created_at, updated_at, ended_at) VALUES ('run_old', 'thread_old', 'asst_old', 'completed', 1, 2, 3)")
        try old.execute(
            "INSERT INTO jobs (assistant_id, message, state, created_at, updated_at) VALUES ('asst_old', 'hi', 'succeeded', 1, 2)")
        let store = try AuditStore(path: path)
        defer { store.close() }
        let row = try #require(try await store.read { db in try db.query("SELECT * FROM run_history").first })
        #expect(row["run_id"].text == "run_old")
        #expect(row["protocol"].text == "assistants")
        #expect(row["model"].isNull)
        let version = try await store.read { db in try db.scalar("PRAGMA user_version").int }
        #expect(version == Int64(Schema.version))
        #expect(try await store.jobs(state: .succeeded).first?.protocolName == "assistants")
    }
}
