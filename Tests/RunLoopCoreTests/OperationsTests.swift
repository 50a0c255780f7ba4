import FakeAssistants
import Foundation
import Testing
import RunLoopCore

/// Prometheus exposition text, parsed: `name{labels} value` samples and the `# TYPE` of each family.
struct Exposition {
    var samples: [String: Double] = [:]
    var types: [String: String] = [:]

    /// Parses `text`, failing on any line that is not valid exposition format.
    init(_ text: String) throws {
        let sample = try Regex(#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$"#)
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                    throw ExpositionError(line: String(line))
                }
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let match = String(line).wholeMatch(of: sample), let value = Double(String(match.output[3].substring ?? "x")) ?? (match.output[3].substring == "+Inf" ? .infinity : nil) else {
                throw ExpositionError(line: String(line))
            }
            let key = String(match.output[1].substring ?? "") + String(match.output[2].substring ?? "")
            samples[key] = value
        }
    }

    /// The value of `name` with exactly these labels (in any order), or `nil`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        for (key, value) in samples {
            guard key == name || key.hasPrefix(name + "{") else { continue }
            var found: [String: String] = [:]
            if let open = key.firstIndex(of: "{") {
                let inner = key[key.index(after: open)..<key.index(before: key.endIndex)]
                for pair in inner.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    found[String(kv[0])] = String(kv[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
            }
            if found == labels { return value }
        }
        return nil
    }
}

struct ExpositionError: Error, CustomStringConvertible {
    let line: String
    var description: String { "not exposition format: \(line)" }
}

/// `GET path` on 127.0.0.1:port; the response's status and body.
func httpGet(port: Int, path: String) throws -> (status: Int, body: String) {
    let answer = try ConsoleTests.http(port, "GET", path)
    return (answer.status, answer.body)
}

/// A port nothing listens on now.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

@Suite("Operators can see it: metrics, status, JSON logs", .serialized)
struct OperationsTests {
    @Test("/metrics and the textfile during real runs agree with the journal; logs are JSON lines")
    func metricsMatchJournal() async throws {
        let h = try DaemonHarness()
        let marks = h.directory.path("marks")
        let release = h.directory.path("release")
        let handler = try h.script("weather.sh", """
            cat >/dev/null
            echo start >> \(marks)
            while [ ! -f \(release) ]; do sleep 0.05; done
            echo sunny
            """)
        let port = freePort()
        let textfile = h.directory.path("toolworker.prom")
        try h.writeConfig(
            extra: "metrics: { listen: \"127.0.0.1:\(port)\", textfile: \(textfile) }\nlog: { format: json }",
            tools: "  get_weather: { command: [\"\(handler)\"], timeout: 60s }")
        try h.start()
        try await h.waitUntil("the metrics listener") { (try? httpGet(port: port, path: "/metrics").status) == 200 }
        #expect(try httpGet(port: port, path: "/other").status == 404)

        // While a handler runs: status shows the active run with its running handler.
        let blocked = try await h.enqueue("asst_weather")
        try await h.waitUntil("the handler to start") { FileManager.default.fileExists(atPath: marks) }
        let status = try await runCommand(h.toolworker, ["status", "--config", h.configPath, "--json"], environment: h.environment)
        #expect(status.status == 0, "\(status.error)")
        let now = try JSONValue(parsing: status.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(now[path: "daemon.running"] == true)
        #expect(now[path: "active_runs.0.running_handlers"] == 1)
        #expect(now[path: "active_runs.0.rounds"] == 1)
        #expect(now[path: "queue.running"] == 1)
        let text = try await runCommand(h.toolworker, ["status", "--config", h.configPath], environment: h.environment)
        #expect(text.output.contains("daemon: running (pid"))
        #expect(text.output.contains("active runs: 1"))

        _ = FileManager.default.createFile(atPath: release, contents: nil)
        var jobs = [blocked]
        for _ in 0..<4 { jobs.append(try await h.enqueue("asst_weather")) }
        jobs.append(try await h.enqueue("asst_failed"))
        try await h.waitUntil("every job to end") {
            try h.scalar("SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed')") == Int64(jobs.count)
        }
        // Gauges are refreshed every 2 s by the intake loop: wait for them to see the final queue.
        try await h.waitUntil("the queue gauges") {
            let gauges = try Exposition(httpGet(port: port, path: "/metrics").body)
            return gauges.value("toolworker_jobs", ["state": "succeeded"]) == 5 && gauges.value("toolworker_jobs", ["state": "failed"]) == 1
        }
        let scrape = try Exposition(httpGet(port: port, path: "/metrics").body)
        let runs = try h.scalar("SELECT count(*) FROM run_history")
        #expect(scrape.value("toolworker_runs_started_total") == Double(runs))
        #expect(scrape.value("toolworker_runs_ended_total", ["status": "completed"]) == 5)
        // asst_failed fails with server_error: retried up to jobs.max_attempts, each attempt a run of its own.
        let failedRuns = try h.scalar("SELECT count(*) FROM run_history WHERE status = 'failed'")
        #expect(failedRuns == 3)
        #expect(scrape.value("toolworker_runs_ended_total", ["status": "failed"]) == Double(failedRuns))
        let calls = try h.scalar("SELECT count(*) FROM tool_call_log WHERE state = 'succeeded'")
        #expect(scrape.value("toolworker_tool_calls_total", ["tool": "get_weather", "state": "succeeded"]) == Double(calls))
        #expect(scrape.value("toolworker_handler_duration_seconds_count", ["tool": "get_weather"]) == Double(calls))
        let events = try h.scalar("SELECT count(*) FROM event_log WHERE kind <> 'note'")
        #expect(scrape.value("toolworker_events_ingested_total") == Double(events))
        #expect((scrape.value("toolworker_event_bytes_received_total") ?? 0) > 0)
        #expect(scrape.value("toolworker_jobs", ["state": "failed"]) == 1)
        #expect(scrape.value("toolworker_runs_limit") == 4)
        #expect(scrape.value("toolworker_tool_calls_limit") == 8)
        #expect((scrape.value("toolworker_database_size_bytes") ?? 0) > 0)
        #expect((scrape.value("toolworker_journal_commit_duration_seconds_count") ?? 0) > 0)
        #expect(scrape.types["toolworker_handler_duration_seconds"] == "histogram")
        #expect(scrape.types["toolworker_runs_started_total"] == "counter")
        #expect(scrape.samples.keys.contains { $0.hasPrefix("toolworker_build_info{") && $0.contains("protocol=\"assistants\"") })
        #expect(scrape.samples.keys.contains { $0.hasPrefix("toolworker_http_requests_total{") && $0.contains("endpoint=\"POST /threads/{id}/runs\"") })
        #expect(!scrape.samples.keys.contains { $0.contains("run_0") || $0.contains("thread_0") }, "no id is ever a label")

        // Written every 5 s: wait for a write that came after the gauges were set.
        try await h.waitUntil("the textfile") {
            let file = try Exposition(String(contentsOfFile: textfile, encoding: .utf8))
            return file.value("toolworker_runs_limit") == 4 && file.value("toolworker_runs_started_total") == Double(runs)
        }
        let failedStatus = try await runCommand(h.toolworker, ["status", "--config", h.configPath, "--json"], environment: h.environment)
        let after = try JSONValue(parsing: failedStatus.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(after[path: "failures_last_hour.count"] == .int(failedRuns))
        #expect(after[path: "failures_last_hour.by_status.failed"] == .int(failedRuns))
        #expect(after["active_runs"]?.arrayValue?.isEmpty == true)

        let stop = try await h.stop()
        #expect(stop.status == 0)
        let lines = h.log().split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONValue(parsing: String(line))
            #expect(object["level"]?.stringValue != nil && object["message"]?.stringValue != nil, "\(line)")
        }
        #expect(lines.contains { $0.contains("\"message\":\"run ended\"") && $0.contains("\"status\":\"completed\"") })
        let stopped = try await runCommand(h.toolworker, ["status", "--config", h.configPath], environment: h.environment)
        #expect(stopped.output.contains("daemon: not running"))
    }

    @Test("endpoint labels: each API's own words, ids as {id}, the base URL's path left out (even a word of the API in it)")
    func endpointLabels() {
        let cases: [(EndpointVocabulary, String, String, String)] = [
            (AssistantsClient.endpoints, "POST", "http://h:1/v1/threads/thread_1/runs/run_2/submit_tool_outputs", "POST /threads/{id}/runs/{id}/submit_tool_outputs"),
            (AssistantsClient.endpoints, "GET", "http://h:1/v1/threads/thread_1/messages?limit=100&after=msg_9", "GET /threads/{id}/messages"),
            (AssistantsClient.endpoints, "POST", "https://proxy/threads-gateway/v1/assistants", "POST /assistants"),
            (ResponsesClient.endpoints, "POST", "http://h:1/v1/conversations/conv_1/items", "POST /conversations/{id}/items"),
            (ResponsesClient.endpoints, "GET", "http://h:1/openai/v1/responses/resp_1?stream=true&starting_after=4", "GET /responses/{id}"),
            (ResponsesClient.endpoints, "POST", "http://h:1/v1/responses/resp_1/cancel", "POST /responses/{id}/cancel"),
            (ResponsesClient.endpoints, "GET", "http://h:1/v1/models", "GET /"),
        ]
        for (vocabulary, method, url, label) in cases {
            #expect(vocabulary.label(method: method, url: url) == label, "\(url)")
        }
    }

    @Test("metrics and log keys are validated")
    func configKeys() {
        for (yaml, message) in [
            ("metrics: { listen: \"localhost:9464\" }", "metrics.listen: expected HOST:PORT"),
            ("metrics: { listen: \"127.0.0.1:65536\" }", "metrics.listen"),
            ("metrics: { listen: \"127.0.0.1:99999\" }", "metrics.listen"),
            ("metrics: { textfile: /no/such/folder/x.prom }", "metrics.textfile: the folder /no/such/folder does not exist"),
            ("log: { format: xml }", "log.format: expected 'text' or 'json'"),
        ] {
            let text: String
            do {
                _ = try ConfigLoader.parse(yaml, file: "/tmp/x.yaml")
                text = ""
            } catch {
                text = "\(error)"
            }
            #expect(text.contains(message), "\(yaml): \(text)")
        }
        let ok = try? ConfigLoader.parse("metrics: { listen: \"[::1]:9464\" }\nlog: { format: json }", file: "/tmp/x.yaml")
        #expect(ok?.metrics.listen?.host == "::1")
        #expect(ok?.logFormat == .json)
    }
}
