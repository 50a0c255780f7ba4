import FakeAssistants
import Foundation
import Testing
import RunLoopCore

/// The operator console (issue 32): served by `serve`'s listener, behind a token, its decisions journaled as the
/// CLI's; every hostile text inert. HTTP-level tests here, a real browser in `browser()`.
@Suite("The operator console")
struct ConsoleTests {
    let token = "console-token-0123456789"

    /// One HTTP exchange on loopback: status, headers (names lowercased), body.
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    static func http(_ port: Int, _ method: String, _ path: String, headers: [String: String] = [:], form: [String: String]? = nil) throws -> Answer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        let body = form.map { $0.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&") } ?? ""
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if form != nil { head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n" }
        let request = Array((head + "\r\n" + body).utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let lines = parts[0].components(separatedBy: "\r\n")
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Answer(status: Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0, headers: fields, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// A daemon with the console on a free port under `/tw`, a job waiting for two approvals (hostile arguments), its
    /// handler writing each call it runs to `ledger`.
    final class Console {
        let dir = TempDirectory()
        let server: FakeAssistantsServer
        let config: String
        let ledger: String
        var serve: Process!
        var port = 0
        let environment: [String: String]

        init(token: String) throws {
            server = try FakeAssistantsServer(scenarios: [
                "asst_pay": Scenario(rounds: [[
                    ScriptedToolCall("pay", #"{"to":"<script>alert('x')</script>","amount":5,"note":"\u001b[2J<img src=x onerror=alert(1)>"}"#),
                    ScriptedToolCall("pay", #"{"to":"bob","amount":500}"#),
                ]], finalText: "<b>paid</b> \u{7}"),
            ])
            ledger = dir.path("ledger")
            let handler = dir.path("pay.sh")
            try "#!/bin/sh\ncat >/dev/null\necho \"$TOOLWORKER_TOOL_CALL_ID\" >> \(ledger)\necho '<script>document.title=\"pwned\"</script>'\n".writeScript(toFile: handler)
            chmod(handler, 0o755)
            try "alice:\(token)\n".write(toFile: dir.path("tokens"), atomically: true, encoding: .utf8)
            config = dir.path("toolworker.yaml")
            try """
                api: { base_url: "\(server.baseURL)" }
                database: tw.db
                console: { listen: "127.0.0.1:0", token_file: tokens, path_prefix: /tw }
                tools:
                  pay: { command: ["\(handler)"], timeout: 10s, approval: always }
                """.write(toFile: config, atomically: true, encoding: .utf8)
            environment = ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"]
        }

        func start() async throws {
            serve = try startServe(config: config, environment: environment, log: dir.path("serve.log"))
            try await waitFor("the console to listen") {
                let log = (try? String(contentsOfFile: dir.path("serve.log"), encoding: .utf8)) ?? ""
                guard let line = log.split(separator: "\n").first(where: { $0.contains("serving metrics and the console") }),
                      let range = line.range(of: "listen=127.0.0.1:") else { return false }
                port = Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
                return port > 0
            }
        }

        func enqueue(_ assistant: String = "asst_pay") async throws {
            let queued = try await runCommand(builtProduct("toolworker"), ["enqueue", "--config", config, "--assistant", assistant, "--message", "go"], environment: environment)
            #expect(queued.status == 0, "\(queued.error)")
        }

        func sql(_ query: String) throws -> String {
            try runCommandBlocking("/usr/bin/sqlite3", [dir.path("tw.db"), query]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        deinit {
            if let serve, serve.isRunning { kill(serve.processIdentifier, SIGKILL) }
            server.stop()
        }
    }

    @Test("no token is 401; a decision needs the session's CSRF token; hostile text is inert; a second decision is refused; logins are rate-limited")
    func httpLevel() async throws {
        let console = try Console(token: token)
        try await console.start()
        try await console.enqueue()
        try await waitFor("two calls waiting") { try console.sql("SELECT count(*) FROM approvals WHERE decision IS NULL") == "2" }
        let port = console.port
        let bearer = ["Authorization": "Bearer \(token)"]
        func http(_ method: String, _ path: String, headers: [String: String] = [:], form: [String: String]? = nil) async throws -> Answer {
            try await offPool { try ConsoleTests.http(port, method, path, headers: headers, form: form) }
        }
        for path in ["/tw/runs", "/tw/approvals", "/tw/queue", "/tw/usage", "/tw/live?approvals=1"] {
            #expect(try await http("GET", path).status == 401, "\(path) without a token")
            #expect(try await http("GET", path, headers: ["Authorization": "Bearer wrong-token-000000000"]).status == 401)
        }
        #expect(try await http("GET", "/metrics").status == 200, "the metrics stay where they were")
        #expect(try await http("GET", "/elsewhere").status == 404)

        let login = try await http("POST", "/tw/login", form: ["token": token])
        #expect(login.status == 303 && login.headers["location"] == "/tw/runs")
        let cookie = try #require(login.headers["set-cookie"]?.split(separator: ";").first.map(String.init))
        #expect(login.headers["set-cookie"]?.contains("HttpOnly") == true && login.headers["set-cookie"]?.contains("SameSite=Strict") == true)
        let inbox = try await http("GET", "/tw/approvals", headers: ["Cookie": cookie])
        #expect(inbox.status == 200)
        #expect(inbox.headers["content-security-policy"]?.contains("script-src 'self'") == true)
        #expect(!inbox.body.contains("<script>alert") && !inbox.body.contains("<img src=x"), "hostile arguments are not markup")
        #expect(inbox.body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") && inbox.body.contains("\\u001b[2J"), "they are shown, escaped")
        #expect(!inbox.body.contains("\u{1B}"), "no raw control character reaches the page")
        let csrf = try #require(inbox.body.range(of: "name=\"csrf\" value=\"").map { String(inbox.body[$0.upperBound...].prefix(64)) })
        let calls = try console.sql("SELECT call_id || ' ' || run FROM approvals ORDER BY call_id").split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let (first, second) = (calls[0], calls[1])

        let forged = try await http("POST", "/tw/approvals/decide", headers: ["Cookie": cookie], form: ["call_id": first[0], "run_key": first[1], "decision": "approved"])
        #expect(forged.status == 403, "no CSRF token: refused")
        let wrong = try await http("POST", "/tw/approvals/decide", headers: ["Cookie": cookie], form: ["call_id": first[0], "run_key": first[1], "decision": "approved", "csrf": String(repeating: "0", count: 64)])
        #expect(wrong.status == 403)
        #expect(try console.sql("SELECT count(*) FROM approvals WHERE decision IS NOT NULL") == "0", "the journal is unchanged")

        let approved = try await http("POST", "/tw/approvals/decide", headers: ["Cookie": cookie], form: ["call_id": first[0], "run_key": first[1], "decision": "approved", "csrf": csrf])
        #expect(approved.status == 303)
        #expect(try console.sql("SELECT decision || '|' || decided_by FROM approvals WHERE call_id = '\(first[0])'") == "approved|console:alice")
        let again = try await http("POST", "/tw/approvals/decide", headers: ["Cookie": cookie], form: ["call_id": first[0], "run_key": first[1], "decision": "denied", "reason": "late", "csrf": csrf])
        #expect(again.status == 409, "the first decision stands")
        #expect(try console.sql("SELECT decision || '|' || coalesce(reason, '') FROM approvals WHERE call_id = '\(first[0])'") == "approved|")
        let noReason = try await http("POST", "/tw/approvals/decide", headers: bearer, form: ["call_id": second[0], "run_key": second[1], "decision": "denied"])
        #expect(noReason.status == 400, "a denial needs a reason")
        let denied = try await http("POST", "/tw/approvals/decide", headers: bearer, form: ["call_id": second[0], "run_key": second[1], "decision": "denied", "reason": "too much"])
        #expect(denied.status == 303, "a bearer request needs no CSRF token: another site cannot send the header")

        try await waitFor("the job to finish") { try console.sql("SELECT state FROM jobs") == "succeeded" }
        #expect(try String(contentsOfFile: console.ledger, encoding: .utf8) == first[0] + "\n", "only the approved call ran")
        let runID = try console.sql("SELECT run_id FROM runs")
        let run = try await http("GET", "/tw/runs/\(runID)", headers: ["Cookie": cookie])
        #expect(run.status == 200 && run.body.contains("approval_denied") && run.body.contains("&lt;script&gt;document.title"), "\(run.body.prefix(300))")
        #expect(!run.body.contains("<script>document.title") && !run.body.contains("<b>paid</b>") && run.body.contains("&lt;b&gt;paid&lt;/b&gt;"))
        #expect(!run.body.contains(console.server.apiKey) && !run.body.contains(token), "no secret rendered")
        for path in ["/tw/runs?status=completed&protocol=assistants", "/tw/queue", "/tw/usage", "/tw/runs?metadata=team%3Dx&since=7d"] {
            #expect(try await http("GET", path, headers: ["Cookie": cookie]).status == 200, "\(path)")
        }
        #expect(try await http("GET", "/tw/runs?status=completed", headers: ["Cookie": cookie]).body.contains(runID))
        #expect(try await http("GET", "/tw/runs?status=failed", headers: ["Cookie": cookie]).body.contains(runID) == false)

        for _ in 0..<5 { #expect(try await http("POST", "/tw/login", form: ["token": "guess-000000000000"]).status == 401) }
        #expect(try await http("POST", "/tw/login", form: ["token": token]).status == 429, "after 5 failures even the right token waits")
        kill(console.serve.processIdentifier, SIGTERM)
        await waitForExit(console.serve)
        let log = (try? String(contentsOfFile: console.dir.path("serve.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("console: approval decided") && log.contains("identity=alice"), "an audit line for each decision")
        #expect(!log.contains(token), "the token is never logged")
    }

    @Test("in headless Chromium: sign in, the runs list, a run that updates live, approve one call and deny another")
    func browser() async throws {
        let sdk = try #require(SDKTestEnvironment.pythonPath, "scripts/test.sh installs playwright")
        let chromium = try #require(["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }, "scripts/test.sh installs chromium")
        let console = try Console(token: token)
        try await console.start()
        try await console.enqueue("asst_text")
        try await waitFor("a finished run for the list") { try console.sql("SELECT state FROM jobs") == "succeeded" }
        try await console.enqueue()
        try await waitFor("two calls waiting") { try console.sql("SELECT count(*) FROM approvals WHERE decision IS NULL") == "2" }
        let runID = try console.sql("SELECT run_id FROM runs ORDER BY id DESC LIMIT 1")
        let artifacts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/test-artifacts/console").path
        try? FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let script = Fixtures.directory.appendingPathComponent("console_browser.py").path
        let result = try await runCommand("/usr/bin/python3", [script], environment: [
            "PYTHONPATH": sdk, "PATH": "/usr/bin:/bin", "HOME": console.dir.url.path, "CHROMIUM": chromium,
            "CONSOLE_URL": "http://127.0.0.1:\(console.port)/tw", "CONSOLE_TOKEN": token, "RUN_ID": runID, "ARTIFACTS": artifacts,
        ])
        #expect(result.status == 0, "\(result.output)\n\(result.error)")
        try await waitFor("the job to finish") { try console.sql("SELECT state FROM jobs WHERE id = 2") == "succeeded" }
        #expect(try console.sql("SELECT decision || '|' || decided_by || '|' || coalesce(reason, '') FROM approvals ORDER BY call_id")
            == "approved|console:alice|\ndenied|console:alice|not this one")
        let ran = try String(contentsOfFile: console.ledger, encoding: .utf8).split(separator: "\n")
        #expect(ran.count == 1, "only the approved call ran: \(ran)")
        for shot in ["login", "runs", "run-waiting", "approvals", "run-finished", "queue", "usage"] {
            #expect(FileManager.default.fileExists(atPath: "\(artifacts)/\(shot).png"), "\(shot).png saved")
        }
    }

    @Test("on a PostgreSQL journal: the console of one daemon shows the fleet's runs and its decision reaches the daemon that waits",
          .enabled("PostgreSQL could not be started") { await PostgresTestCluster.available() })
    func postgres() async throws {
        let server = try FakeAssistantsServer(scenarios: ["asst_pay": Scenario(rounds: [[ScriptedToolCall("pay", #"{"amount":5}"#)]], finalText: "paid")])
        defer { server.stop() }
        let dir = TempDirectory()
        let url = try await PostgresTestCluster.makeDatabase()
        try "alice:\(token)\n".write(toFile: dir.path("tokens"), atomically: true, encoding: .utf8)
        let handler = dir.path("pay.sh")
        try "#!/bin/sh\ncat >/dev/null\necho paid\n".writeScript(toFile: handler)
        chmod(handler, 0o755)
        func config(_ name: String, console: Bool) throws -> String {
            let path = dir.path("\(name).yaml")
            try """
                api: { base_url: "\(server.baseURL)" }
                database: "\(url)"
                fleet: { heartbeat: 500ms, lease_expiry: 5s }
                \(console ? "console: { listen: \"127.0.0.1:0\", token_file: \(dir.path("tokens")) }" : "")
                tools:
                  pay: { command: ["\(handler)"], timeout: 10s, approval: always }
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let environment = ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin"]
        // The daemon that drives the run has no console; the other one, with the console, takes no jobs of it.
        let worker = try startServe(config: try config("worker", console: false), environment: environment, log: dir.path("worker.log"))
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL) } }
        let queued = try await runCommand(builtProduct("toolworker"), ["enqueue", "--config", try config("worker", console: false), "--assistant", "asst_pay", "--message", "go"], environment: environment)
        #expect(queued.status == 0)
        let reader = try PostgresConnection(url: url)
        try await waitFor("the call to wait for a decision") { try reader.scalar("SELECT count(*) FROM approvals WHERE decision IS NULL").int == 1 }
        let viewer = try startServe(config: try config("viewer", console: true), environment: environment, log: dir.path("viewer.log"))
        defer { if viewer.isRunning { kill(viewer.processIdentifier, SIGKILL) } }
        var port = 0
        try await waitFor("the console to listen") {
            let log = (try? String(contentsOfFile: dir.path("viewer.log"), encoding: .utf8)) ?? ""
            guard let line = log.split(separator: "\n").first(where: { $0.contains("serving metrics and the console") }),
                  let range = line.range(of: "listen=127.0.0.1:") else { return false }
            port = Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
            return port > 0
        }
        let bearer = ["Authorization": "Bearer \(token)"]
        let runID = try #require(try reader.scalar("SELECT run_id FROM runs").text)
        let status = try #require(try reader.scalar("SELECT status FROM run_history").text)
        let runs = try await offPool { [port] in try ConsoleTests.http(port, "GET", "/runs?status=\(status)&protocol=assistants", headers: bearer) }
        #expect(runs.status == 200 && runs.body.contains(runID), "\(status): \(runs.body.components(separatedBy: "<main>").last?.prefix(1500) ?? "")")
        let all = try await offPool { [port] in try ConsoleTests.http(port, "GET", "/runs", headers: bearer) }
        #expect(all.body.contains(runID), "\(all.body.components(separatedBy: "</form>").last?.prefix(1500) ?? "")")
        let none = try await offPool { [port] in try ConsoleTests.http(port, "GET", "/runs?protocol=responses", headers: bearer) }
        #expect(none.status == 200 && !none.body.contains(runID))
        let runPage = try await offPool { [port] in try ConsoleTests.http(port, "GET", "/runs/\(runID)", headers: bearer) }
        #expect(runPage.status == 200 && runPage.body.contains("Waiting for a decision"))
        let callID = try #require(try reader.scalar("SELECT call_id FROM approvals").text)
        let runKey = try #require(try reader.scalar("SELECT run FROM approvals").int)
        let decided = try await offPool { [port] in
            try ConsoleTests.http(port, "POST", "/approvals/decide", headers: bearer, form: ["call_id": callID, "run_key": String(runKey), "decision": "approved"])
        }
        #expect(decided.status == 303)
        try await waitFor("the other daemon to finish the run") { try reader.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'").int == 1 }
        for path in ["/queue", "/usage", "/approvals"] {
            let page = try await offPool { [port] in try ConsoleTests.http(port, "GET", path, headers: bearer) }
            #expect(page.status == 200, "\(path)")
        }
        for process in [worker, viewer] { kill(process.processIdentifier, SIGTERM) }
        for process in [worker, viewer] { await waitForExit(process) }
    }

    @Test("bad console configuration: each mistake named with its key; a token file that is missing or too weak stops serve (78)")
    func configuration() async throws {
        let dir = TempDirectory()
        for (yaml, path, words) in [
            ("console: { listen: \"127.0.0.1:9464\" }", "console", "needs token_file"),
            ("console: { token_file: t, path_prefix: \"tw/\" }", "console.path_prefix", "expected a path"),
            ("console: { token_file: t, listen: \"localhost:1\" }", "console.listen", "HOST:PORT"),
            ("console: { token_file: t, colour: red }", "console.colour", "unknown key"),
            ("metrics: { listen: \"127.0.0.1:9464\" }\nconsole: { token_file: t, listen: \"127.0.0.1:9465\" }", "console.listen", "metrics.listen"),
        ] {
            #expect(throws: ConfigError.self, "\(yaml)") { try ConfigLoader.parse("tools: {}\n" + yaml, file: dir.path("c.yaml")) }
            do { _ = try ConfigLoader.parse("tools: {}\n" + yaml, file: dir.path("c.yaml")) } catch let error as ConfigError {
                #expect(error.problems.contains { $0.path == path && $0.message.contains(words) }, "\(yaml): \(error)")
            }
        }
        let config = dir.path("toolworker.yaml")
        try "api: { base_url: \"http://127.0.0.1:9/v1\" }\ndatabase: tw.db\ntools: {}\nconsole: { listen: \"127.0.0.1:0\", token_file: tokens }\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["OPENAI_API_KEY": "sk-test", "PATH": "/usr/bin:/bin"]
        let missing = try await runCommand(builtProduct("toolworker"), ["serve", "--config", config], environment: environment)
        #expect(missing.status == 78 && missing.error.contains("console.token_file") && missing.error.contains("cannot read"), "\(missing.error)")
        try "alice:short\n".write(toFile: dir.path("tokens"), atomically: true, encoding: .utf8)
        let weak = try await runCommand(builtProduct("toolworker"), ["serve", "--config", config], environment: environment)
        #expect(weak.status == 78 && weak.error.contains("16 characters"), "\(weak.error)")
        #expect(!weak.error.contains("short"), "the token is not repeated")
    }
}
