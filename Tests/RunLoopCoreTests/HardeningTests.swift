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

/// Bad input of every kind, fed to the library: each gets a clear error and a well-defined outcome, never a crash.
@Suite("Hostile and careless input: configuration, database, server")
struct HardeningTests {
    // MARK: Configuration

    func load(_ yaml: String) throws -> ToolWorkerConfig {
        try ConfigLoader.parse(yaml, file: "/tmp/x.yaml")
    }

    func problems(_ yaml: String) -> String {
        do {
            _ = try load(yaml)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test("non-finite, huge and negative durations are refused with the key path, not a crash", arguments: [
        "nan", "inf", "-inf", ".nan", ".inf", "1e30s", "1e400", "infd", "nand", "400d", "-5s", "0s",
    ])
    func badDurations(_ value: String) {
        let text = problems("shutdown_grace: \(value)\n")
        #expect(text.contains("shutdown_grace"), "\(value): \(text)")
        #expect(text.contains("positive, finite duration") || text.contains("at most 365d"), "\(value): \(text)")
    }

    @Test("the duration parser refuses what does not fit a clock", arguments: ["1e20d", "infd", "nand", "-1e30s", "1e17", "inf", "nan"])
    func durationParser(_ value: String) {
        #expect(Duration.parse(value, requireUnit: false) == nil)
    }

    @Test("integer keys have ceilings")
    func integerCeilings() {
        #expect(problems("concurrency: { runs: 0 }").contains("concurrency.runs: must be from 1 to 10000"))
        #expect(problems("concurrency: { tool_calls: 99999999 }").contains("concurrency.tool_calls"))
        #expect(problems("api: { max_retries: 1000 }").contains("api.max_retries"))
        let tool = problems("tools:\n  t: { command: [\"/bin/true\"], max_output_bytes: 1000000000000 }")
        #expect(tool.contains("tools.t.max_output_bytes: must be from 16 to 16777216"), "\(tool)")
    }

    @Test("CR/LF in organization or project is refused (header injection)")
    func headerInjection() {
        #expect(problems("api: { organization: \"org\\r\\nX-Evil: 1\" }").contains("api.organization: control characters"))
        #expect(problems("api: { project: \"p\\nX: y\" }").contains("api.project: control characters"))
        #expect(problems("api: { organization: \"org-tab\\tok\" }").isEmpty)
    }

    @Test("an API key with CR/LF or spaces is refused before any request")
    func keyInjection() throws {
        let config = try load("tools: {}")
        for key in ["sk-abc\r\nX-Evil: 1", "sk-abc\n", "sk abc", "sk-\u{0}abc"] {
            #expect(throws: ConfigError.self) { try config.clientConfiguration(environment: ["OPENAI_API_KEY": key]) }
        }
        #expect(try config.clientConfiguration(environment: ["OPENAI_API_KEY": "sk-fine"]).apiKey == "sk-fine")
    }

    @Test("base URLs with credentials, a query or a fragment are refused; logs mask them")
    func baseURLs() throws {
        #expect(problems("api: { base_url: \"https://user:pw@example.com/v1\" }").contains("credentials in the URL are refused"))
        #expect(problems("api: { base_url: \"https://example.com/v1?key=x\" }").contains("query string is refused"))
        #expect(problems("api: { base_url: \"https://example.com/v1#x\" }").contains("fragment"))
        #expect(problems("api: { base_url: \"http://exa mple.com\" }").contains("spaces and control characters"))
        #expect(problems("api: { base_url: \"https://example.com/v1\" }").isEmpty)
        let config = try load("tools: {}")
        #expect(throws: ConfigError.self) {
            try config.clientConfiguration(environment: ["OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "https://u:p@h/v1"])
        }
        #expect(BaseURL.masked("https://u:secret@h.example/v1?k=v") == "https://***@h.example/v1")
    }

    @Test("a YAML alias bomb is refused quickly instead of filling memory")
    func billionLaughs() {
        var yaml = "x0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ")
            yaml += "x\(level): &a\(level) [\(refs)]\n"
        }
        // The anchors live inside the tool's parameters (unknown top-level keys would be refused first).
        let text = "tools:\n  t:\n    command: [\"/bin/true\"]\n    description: d\n    parameters:\n      type: object\n"
            + yaml.split(separator: "\n").map { "      \($0)" }.joined(separator: "\n") + "\n      bomb: *a9\n"
        let result = problems(text)
        #expect(result.contains("tools.t.parameters: larger than 100000 nodes"), "\(result.prefix(300))")
    }

    // MARK: Database

    func sqlite(_ path: String, _ sql: String) throws {
        let connection = try SQLiteConnection(path: path)
        try connection.executeScript(sql)
    }

    @Test("a negative user_version is refused as incompatible, not a crash")
    func negativeVersion() throws {
        let dir = TempDirectory()
        let path = dir.path("tw.db")
        let store = try AuditStore(path: path)
        store.close()
        try sqlite(path, "PRAGMA user_version=-1")
        #expect(throws: StoreCompatibilityError.self) { _ = try AuditStore(path: path) }
        #expect(throws: StoreCompatibilityError.self) { _ = try AuditStore.openHistory(path: path) }
    }

    @Test("a foreign or newer database in rollback-journal mode is refused without being changed")
    func untouchedWhenRefused() throws {
        let dir = TempDirectory()
        let foreign = dir.path("other.db")
        try sqlite(foreign, "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('theirs');")
        let newer = dir.path("newer.db")
        try sqlite(newer, "PRAGMA application_id=\(Schema.applicationID); PRAGMA user_version=99; CREATE TABLE x (a);")
        for path in [foreign, newer] {
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(throws: StoreCompatibilityError.self) { _ = try AuditStore(path: path) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "\(path) was modified")
            #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "switched to WAL before refusing")
            let mode = try SQLiteConnection(path: path, readOnly: true).scalar("PRAGMA journal_mode").text
            #expect(mode == "delete")
        }
    }

    @Test("a new database and its WAL are created 0640 whatever the umask")
    func fileModes() async throws {
        let dir = TempDirectory()
        let path = dir.path("tw.db")
        let store = try AuditStore(path: path)
        _ = try await store.enqueueJob(assistantID: "a", threadID: nil, message: "m", instructions: nil, metadata: nil)
        for file in [path, path + "-wal"] {
            let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) ?? -1
            #expect(mode == 0o640, "\(file): \(String(mode, radix: 8))")
        }
        store.close()
    }

    @Test("text with NUL bytes is stored and read back whole")
    func nulText() async throws {
        let dir = TempDirectory()
        let store = try AuditStore(path: dir.path("tw.db"))
        defer { store.close() }
        let text = "a\u{0}b\u{0}"
        let id = try await store.enqueueJob(assistantID: text, threadID: nil, message: "m\u{0}", instructions: nil, metadata: nil)
        let job = try #require(try await store.job(id: id))
        #expect(job.assistantID == text)
        #expect(job.message == "m\u{0}")
        let length = try await store.read { db in try db.scalar("SELECT length(CAST(assistant_id AS BLOB)) FROM jobs").int }
        #expect(length == 4)
        let empty = try await store.read { db in try db.scalar("SELECT ?", [.text("")]).text }
        #expect(empty == "")
    }

    // MARK: Redaction

    @Test("the redactor replaces a secret across every chunking and holds back only a possible prefix")
    func redactorChunking() {
        let secret = "sk-secret-123"
        let text = Array("abc sk-secret-123 def sk-sec sk-secret-123\n\n sk-secret-12".utf8)
        let expected = Array("abc [REDACTED] def sk-sec [REDACTED]\n\n sk-secret-12".utf8)
        for cut1 in 0...text.count {
            for cut2 in cut1...text.count where (cut2 - cut1) % 3 == 0 || cut2 == text.count {
                var redactor = SecretRedactor(secret)!
                var output = redactor.feed(Array(text[0..<cut1]))
                output += redactor.feed(Array(text[cut1..<cut2]))
                output += redactor.feed(Array(text[cut2...]))
                output += redactor.finish()
                #expect(output == expected, "cuts \(cut1), \(cut2)")
            }
        }
        var redactor = SecretRedactor(secret)!
        #expect(redactor.feed(Array("event: x\ndata: {}\n\n".utf8)) == Array("event: x\ndata: {}\n\n".utf8), "a frame end is never held")
    }

    @Test("a server that echoes the API key: it reaches neither the error, the log, nor the database")
    func echoedKey() async throws {
        let h = try RunHarness(scenarios: ["asst_echo": Scenario(finalText: "x", faults: [.echoKey(on: .create)])])
        let outcome = try await h.run("asst_echo")
        #expect(outcome.status == .error)
        #expect(outcome.detail?.contains("[REDACTED]") == true, "\(outcome.detail ?? "")")
        #expect(outcome.detail?.contains(h.server.apiKey) == false)
        h.store.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: h.directory.path("audit.db")))
        let wal = (try? Data(contentsOf: URL(fileURLWithPath: h.directory.path("audit.db-wal")))) ?? Data()
        #expect(bytes.range(of: Data(h.server.apiKey.utf8)) == nil)
        #expect(wal.range(of: Data(h.server.apiKey.utf8)) == nil)
    }

    // MARK: Server behaviour

    @Test("an HTML page with status 200 instead of a stream is a clear error, and no second run is created")
    func htmlInsteadOfStream() async throws {
        let h = try RunHarness(scenarios: ["asst_html": Scenario(finalText: "x", faults: [.htmlPage(on: .create)])])
        let outcome = try await h.run("asst_html")
        #expect(outcome.status == .error)
        #expect(outcome.detail?.contains("expected an event stream") == true, "\(outcome.detail ?? "")")
        #expect(outcome.detail?.contains("text/html") == true)
        #expect(h.requests("POST", "/runs").count == 1, "not repeated")
        #expect(h.requests("GET", "/runs").count == 1, "the thread's runs were checked for one carrying our key")
    }

    @Test("one HTTP 500 on the create: the server has no run, so it is created again, once")
    func createServerError() async throws {
        let h = try RunHarness(scenarios: ["asst_500": Scenario(finalText: "ok", faults: [.httpError(status: 500, on: .create)])])
        let outcome = try await h.run("asst_500")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(h.requests("POST", "/runs").count == 2)
        let thread = try #require(outcome.threadID)
        #expect(h.requests("GET", "/\(thread)/runs").count == 1, "looked for the run before creating it again")
    }

    @Test("an HTTP 500 after the server created the run: that run is followed, never a second one")
    func createServerErrorAfterActing() async throws {
        let h = try RunHarness(scenarios: [
            "asst_acted": Scenario(rounds: [[ScriptedToolCall("get_weather", "{}")]], finalText: "ok", faults: [.httpErrorAfterActing(status: 500, on: .create)])
        ])
        try h.handler("get_weather", "cat >/dev/null; echo sunny")
        let outcome = try await h.run("asst_acted")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(h.requests("POST", "/runs").count == 1, "the create was not repeated")
        #expect(h.requests("POST", "/submit_tool_outputs").count == 1)
        let runs = try await h.rows("SELECT run_id FROM run_history")
        #expect(runs.count == 1)
        #expect(runs.first?["run_id"].text == outcome.runID)
    }

    @Test("a submit the server took although it answered 500: recorded as submitted, learned by reconciliation")
    func submitAcceptedDespiteError() async throws {
        let h = try RunHarness(scenarios: [
            "asst_sub": Scenario(rounds: [[ScriptedToolCall("get_weather", "{}")]], finalText: "ok", faults: [.httpErrorAfterActing(status: 500, on: .submit)])
        ])
        try h.handler("get_weather", "cat >/dev/null; echo sunny")
        let outcome = try await h.run("asst_sub")
        #expect(outcome.status == .completed, "\(outcome)")
        #expect(h.requests("POST", "/submit_tool_outputs").count == 1, "never submitted twice")
        let call = try #require(try await h.rows("SELECT submitted, submitted_via FROM tool_call_log").first)
        #expect(call["submitted"].text != nil, "the stored-but-not-submitted query stays empty")
        #expect(call["submitted_via"].text == "reconcile")
        let messages = try await h.rows("SELECT status FROM snapshot_log WHERE object_type = 'message' AND is_latest")
        #expect(messages.contains { $0["status"].text == "completed" }, "the final answer is in the journal")
    }

    @Test("listing the final messages fails once: retried, and the final answer is stored")
    func finalMessagesRetried() async throws {
        let h = try RunHarness(scenarios: [
            "asst_drop": Scenario(finalText: "the answer", faults: [
                .dropStream(on: .create, afterFrames: 4), .httpError(status: 500, on: .listMessages),
                .httpError(status: 500, on: .listMessages, occurrence: 2), .httpError(status: 500, on: .listMessages, occurrence: 3),
            ])
        ])
        let outcome = try await h.run("asst_drop")
        #expect(outcome.status == .completed)
        #expect(outcome.finalText == "the answer")
        let answer = try await h.rows(
            "SELECT status, json_extract(data, '$.content[0].text.value') AS t FROM snapshot_log WHERE object_type = 'message' AND is_latest AND t = 'the answer'")
        #expect(answer.first?["status"].text == "completed")
    }

    @Test("a server trickling comment bytes is a stall after the idle time-out; the run is reconciled and completes")
    func slowloris() async throws {
        let h = try RunHarness(scenarios: ["asst_trickle": Scenario(finalText: "done", faults: [.trickle(on: .create, afterFrames: 3)])])
        h.idleTimeout = .seconds(1)
        let outcome = try await h.run("asst_trickle")
        #expect(outcome.status == .completed)
        let note = try await h.rows("SELECT data FROM event_log WHERE event = 'toolworker.stream_error'").first?["data"].text
        // The watchdog ("no complete event … trickles bytes") normally fires first; on a loaded machine the trickling
        // thread can pause past the HTTP idle time-out ("no data … stalled"). Either way it is a stall, not a hang.
        #expect(note?.contains("stalled") == true, "\(note ?? "no note")")
    }

    @Test("a run without expires_at that never ends is given up after pollPastExpiry, with a bounded journal")
    func pollWithoutExpiry() async throws {
        let h = try RunHarness(scenarios: ["asst_forever": Scenario(ending: .hangs(), expiresAfter: .infinity)])
        var driver = h.driver()
        driver.schedule.pollPastExpiry = .seconds(3)
        driver.schedule.maxPollInterval = .milliseconds(50)
        let outcome = try await driver.run(RunRequest(assistantID: "asst_forever", message: "x"))
        #expect(outcome.status == .error)
        #expect(outcome.errorCode == "lost_run")
        #expect(outcome.detail?.contains("has no expires_at") == true)
        // How often it polled depends on the machine's load; that it gave up, and wrote one row, does not.
        #expect(h.requests("GET", "/runs/\(outcome.runID ?? "?")").count >= 1, "it was polled")
        let notes = try await h.rows("SELECT count(*) AS n FROM event_log WHERE event = 'toolworker.reconciled'").first?["n"].int
        #expect(notes == 1, "one row per status, not per poll")
    }

    @Test("NUL bytes in a handler's output, a tool name and arguments are submitted and stored whole")
    func nulThroughTheLoop() async throws {
        let h = try RunHarness(scenarios: [
            "asst_nul": Scenario(rounds: [[
                ScriptedToolCall("echo_nul", #"{"x":"a\u0000b"}"#), ScriptedToolCall("bad\u{0}name", "{}"),
            ]], finalText: "ok")
        ])
        try h.handler("echo_nul", "cat >/dev/null; printf 'a\\000b'")
        let outcome = try await h.run("asst_nul")
        #expect(outcome.status == .completed)
        let rows = try await h.rows("SELECT tool, arguments, output, state FROM tool_call_log ORDER BY call_id")
        let byTool = Dictionary(uniqueKeysWithValues: rows.map { ($0["tool"].text ?? "?", $0) })
        #expect(byTool["echo_nul"]?["output"].text == "a\u{0}b")
        #expect(byTool["echo_nul"]?["arguments"].text == #"{"x":"a\u0000b"}"#)
        #expect(byTool["bad\u{0}name"]?["state"].text == "failed", "the whole name was stored: \(rows.map { $0["tool"].text ?? "" })")
        let submit = try #require(h.requests("POST", "/submit_tool_outputs").first?.json)
        let outputs = submit["tool_outputs"]?.arrayValue?.compactMap { $0["output"]?.stringValue } ?? []
        #expect(outputs.contains("a\u{0}b"))
    }

    // MARK: Cancellation

    @Test("a semaphore waiter that is cancelled leaves at once and takes no permit")
    func semaphoreCancellation() async throws {
        let semaphore = AsyncSemaphore(1)
        try await semaphore.acquire()
        let waiter = Task { try await semaphore.acquire() }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        await semaphore.release()
        try await semaphore.acquire()  // the permit came back, not to the cancelled waiter
    }

    @Test("a handler cancelled mid-run has no outcome (CancellationError), never a spawn_failed output")
    func dispatcherCancellation() async throws {
        let dir = TempDirectory()
        let started = dir.path("started")
        let script = dir.path("slow.sh")
        try "#!/bin/sh\ncat >/dev/null\ntouch \(started)\nsleep 60\n".writeScript(toFile: script)
        chmod(script, 0o755)
        var tool = ToolHandlerConfig(name: "slow", command: [script])
        tool.timeout = .seconds(120)
        let dispatcher = ToolDispatcher(registry: ToolRegistry([tool]), maxConcurrentCalls: 1)
        let call = ToolCall(id: "call_1", name: "slow", arguments: "{}")
        let task = Task { try await dispatcher.execute(call, context: ToolCallContext(runID: "r", threadID: "t")) }
        try await waitFor("the handler to start") { FileManager.default.fileExists(atPath: started) }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }
}
