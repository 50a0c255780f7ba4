import FakeAssistants
import Foundation
import Testing
@testable import HTTPTransport
@testable import Journal
@testable import PostgresJournal
import RunLoopCore

extension SerialSuites {
/// The second round of hostile input: escaped keys, links to the journal, passwords in URLs and files, control
/// characters from servers, configuration files that are not configuration.
@Suite("Hostile input, second round", .serialized)
struct SecondRoundHardeningTests {
    let toolworker = builtProduct("toolworker")
    let key = "sk-proj-Secret123/abcDEF_xyz"

    @Test("the key is redacted however JSON spells it (\\u escapes, \\/), across every chunking")
    func escapedKey() {
        let spellings = [
            key,
            #"sk-proj-Secret123\/abcDEF_xyz"#,
            #"\u0073k-proj-Secret123/abcDEF_xyz"#,
            #"sk-pro\u006a-Secret123\u002fabcDEF_xyz"#,
            #"sk-proj-Secret123/abcDEF_xy\u007A"#,
            key.unicodeScalars.map { String(format: "\\u%04x", $0.value) }.joined(),
        ]
        for spelling in spellings {
            let text = Array(#"data: {"echo":"before \\ \#(spelling) after","n":"\\u0073"}"#.utf8) + [10, 10]
            for cut in 0...text.count {
                var redactor = SecretRedactor(key)!
                let output = redactor.feed(Array(text[..<cut])) + redactor.feed(Array(text[cut...])) + redactor.finish()
                let string = String(decoding: output, as: UTF8.self)
                #expect(string.contains("[REDACTED]"), "\(spelling) cut at \(cut): \(string)")
                #expect(!string.contains("Secret123") && !string.contains("Secret123".unicodeScalars.map { String(format: "\\u%04x", $0.value) }.joined()))
                let decoded = (try? JSONValue(parsing: String(string.dropFirst(6).dropLast(2))))?["echo"]?.stringValue ?? ""
                #expect(!decoded.contains(key), "decoded: \(decoded)")
            }
        }
        var redactor = SecretRedactor(key)!
        let plain = Array(#"{"a":"\\u0073k-","b":"\n\t\u00e9"}"#.utf8)
        #expect(redactor.feed(plain) + redactor.finish() == plain, "escapes that are not the key pass unchanged")
    }

    @Test("one daemon per database file: a symlink or a hard link to a held journal is refused")
    func lockByIdentity() throws {
        let dir = TempDirectory()
        let database = dir.path("tw.db")
        let store = try AuditStore(path: database)
        defer { store.close() }
        let lock = try DaemonLock(database: database)
        symlink(database, dir.path("via-symlink.db"))
        link(database, dir.path("via-hardlink.db"))
        for other in ["via-symlink.db", "via-hardlink.db"] {
            #expect(throws: DaemonLock.HeldElsewhere.self, "\(other)") { _ = try DaemonLock(database: dir.path(other)) }
            #expect(DaemonLock.holder(database: dir.path(other)) != nil, "status sees it held through \(other)")
        }
        withExtendedLifetime(lock) {}
    }

    @Test(
        "a PostgreSQL URL's password never appears in its masked form or an error",
        arguments: [
            ("postgres://tw@127.0.0.1:9/db?sslpassword=x&password=S3cretPW", "S3cretPW"),
            ("postgres://tw@127.0.0.1:9/db?password=first1&password=S3cretPW", "S3cretPW"),
            ("postgres://tw:S3cret%zzPW@127.0.0.1:9/db", "S3cret%zzPW"),
            ("postgres://tw:S3cret/PW@127.0.0.1:9/db", "S3cret/PW"),
            ("postgres://tw:S3c@retPW@127.0.0.1:9/db", "S3c@retPW"),
            ("POSTGRESQL://tw:S3cretPW@127.0.0.1:9/db", "S3cretPW"),
        ])
    func maskedURLs(url: String, password: String) async throws {
        let masked = PostgresURL.masked(url)
        #expect(!masked.contains(password), "\(masked)")
        let message = try await offPool { () -> String in
            do {
                _ = try PostgresConnection(url: url)
                return "connected?"
            } catch {
                return "\(error)"
            }
        }
        #expect(!message.contains(password), "\(message)")
        #expect(!message.contains("does not exist"), "the URL is read as a URL, never as a database name: \(message)")
    }

    @Test("the password file: CRLF is one line end; group-readable, oversized or NUL-holding files are refused")
    func passwordFile() throws {
        let dir = TempDirectory()
        let file = dir.path("pw")
        try "S3cretPW\r\n".write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, 0o600)
        #expect(try PostgresURL.readPassword(file: file) == "S3cretPW")
        chmod(file, 0o640)
        #expect(throws: PostgresError.self) { try PostgresURL.readPassword(file: file) }
        do { _ = try PostgresURL.readPassword(file: file) } catch { #expect("\(error)".contains("chmod 600")) }
        try String(repeating: "x", count: 5000).write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, 0o600)
        #expect(throws: PostgresError.self) { try PostgresURL.readPassword(file: file) }
    }

    @Test("a YAML error names the line, never quotes it: not even --config /proc/self/environ shows the key")
    func yamlErrorsQuoteNothing() async throws {
        let dir = TempDirectory()
        let path = dir.path("bad.yaml")
        try "api: { base_url: \"http://127.0.0.1:9/v1\" }\ndatabase: \"postgres://tw:S3cretPW@h/db\n  - [\n".write(toFile: path, atomically: true, encoding: .utf8)
        let check = try await runCommand(toolworker, ["check-config", "--config", path], environment: ["OPENAI_API_KEY": key])
        #expect(check.status == 78, "\(check)")
        #expect(!check.error.contains("S3cretPW") && !check.output.contains("S3cretPW"), "\(check.error)")
        #expect(check.error.contains("line"), "\(check.error)")
        let environ = try await runCommand(
            toolworker, ["check-config", "--config", "/proc/self/environ"], environment: ["OPENAI_API_KEY": key, "PATH": "/usr/bin:/bin"])
        #expect(environ.status != 0)
        #expect(!environ.error.contains("Secret123") && !environ.output.contains("Secret123"), "\(environ.error)")
    }

    @Test("a NUL byte in the database path or URL is refused, not cut short")
    func nulInDatabase() async throws {
        let dir = TempDirectory()
        for database in [#"tw.db\0.evil"#, #"postgres://tw@127.0.0.1:9/db\0x"#] {
            let path = dir.path("nul.yaml")
            try "api: { base_url: \"http://127.0.0.1:9/v1\" }\ndatabase: \"\(database)\"\ntools: {}\n".write(toFile: path, atomically: true, encoding: .utf8)
            let check = try await runCommand(toolworker, ["check-config", "--config", path], environment: ["OPENAI_API_KEY": key])
            #expect(check.status == 78, "\(check)")
            #expect(check.error.contains("NUL"), "\(check.error)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("tw.db")))
    }

    @Test("control characters from a server are shown, never obeyed, in text logs and tables")
    func controlCharacters() {
        let hostile = "ok\r\u{1B}[2JINFO forged line\u{0}\t\u{9B}"
        let escaped = ControlCharacters.escaped(hostile)
        #expect(!escaped.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }, "\(escaped)")
        #expect(escaped == #"ok\r\u{1B}[2JINFO forged line\u{0}\t\u{9B}"#)
        #expect(ControlCharacters.escaped("two\nlines", keepNewlines: true) == "two\nlines")
        #expect(ControlCharacters.escaped("plain text") == "plain text")
    }
}

/// `check-config` refuses what `serve` refuses, and the rest of the careless-operator inputs.
@Suite("Careless operators, second round", .serialized)
struct CarelessOperatorTests {
    let toolworker = builtProduct("toolworker")
    let environment = ["OPENAI_API_KEY": "sk-fake-test-key", "PATH": "/usr/bin:/bin"]

    func write(_ dir: TempDirectory, _ name: String, _ text: String) throws -> String {
        let path = dir.path(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("check-config refuses an empty file, a missing database folder, a foreign journal and a bad OPENAI_BASE_URL")
    func checkConfigParity() async throws {
        let dir = TempDirectory()
        let base = "api: { base_url: \"http://127.0.0.1:9/v1\" }\ntools: {}\n"
        for (name, text, code, words) in [
            ("empty.yaml", "", Int32(78), "empty"),
            ("comments.yaml", "# nothing here\n", 78, "empty"),
            ("nofolder.yaml", base + "database: \(dir.path("missing"))/tw.db\n", 78, "does not exist"),
        ] {
            let path = try write(dir, name, text)
            let check = try await runCommand(toolworker, ["check-config", "--config", path], environment: environment)
            #expect(check.status == code, "\(name): \(check)")
            #expect(check.error.contains(words), "\(name): \(check.error)")
        }
        let foreign = dir.path("foreign.db")
        _ = try await runCommand("/usr/bin/sqlite3", [foreign, "CREATE TABLE customers (id INTEGER)"])
        let foreignConfig = try write(dir, "foreign.yaml", base + "database: \(foreign)\n")
        let check = try await runCommand(toolworker, ["check-config", "--config", foreignConfig], environment: environment)
        #expect(check.status == 65, "\(check)")
        #expect(check.error.contains("not a ToolWorker database"), "\(check.error)")
        let plain = try write(dir, "plain.yaml", "tools: {}\ndatabase: \(dir.path("tw.db"))\n")
        var bad = environment
        bad["OPENAI_BASE_URL"] = "ftp://example.invalid"
        let url = try await runCommand(toolworker, ["check-config", "--config", plain], environment: bad)
        #expect(url.status == 78, "\(url)")
        #expect(url.error.contains("OPENAI_BASE_URL"))
        #expect(!FileManager.default.fileExists(atPath: dir.path("tw.db")), "check-config creates nothing")
    }

    @Test("an API key with a TAB, a space or bytes that are not printable ASCII is refused", arguments: ["sk-a\tb", "sk-a b", "sk-\u{FFFD}x", "sk-é"])
    func apiKeyCharacters(key: String) async throws {
        let dir = TempDirectory()
        let path = try write(dir, "c.yaml", "api: { base_url: \"http://127.0.0.1:9/v1\" }\ntools: {}\ndatabase: \(dir.path("tw.db"))\n")
        let check = try await runCommand(toolworker, ["check-config", "--config", path], environment: ["OPENAI_API_KEY": key, "PATH": "/usr/bin:/bin"])
        #expect(check.status == 78, "\(check)")
        #expect(check.error.contains("printable ASCII"), "\(check.error)")
    }

    @Test("a handler every user can write, or one in a folder every user can write, is warned about")
    func worldWritableHandler() async throws {
        let dir = TempDirectory()
        let open = dir.path("open")
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: true)
        chmod(open, 0o777)
        let handler = open + "/h.sh"
        try "#!/bin/sh\necho ok\n".writeScript(toFile: handler)
        chmod(handler, 0o757)
        symlink(handler, dir.path("link.sh"))
        let path = try write(
            dir, "c.yaml",
            "api: { base_url: \"http://127.0.0.1:9/v1\" }\ndatabase: \(dir.path("tw.db"))\ntools:\n  direct: { command: [\(handler)] }\n  linked: { command: [\(dir.path("link.sh"))] }\n")
        let check = try await runCommand(toolworker, ["check-config", "--config", path], environment: environment)
        #expect(check.status == 0, "\(check)")
        #expect(check.output.contains("tools.direct.command: handler \(handler) is writable by every user"), "\(check.output)")
        #expect(check.output.contains("tools.linked.command: handler \(dir.path("link.sh")) is writable by every user"), "\(check.output)")
        #expect(check.output.contains("which every user can write"), "\(check.output)")
    }

    @Test("copy-journal from a FIFO or an empty file: a clear error, no hang")
    func copyJournalFromNonJournals() async throws {
        let dir = TempDirectory()
        let path = try write(dir, "c.yaml", "api: { base_url: \"http://127.0.0.1:9/v1\" }\ntools: {}\ndatabase: postgres://tw@127.0.0.1:9/db\n")
        let fifo = dir.path("fifo")
        mkfifo(fifo, 0o600)
        let fromFIFO = try await runCommand(toolworker, ["copy-journal", "--config", path, "--from", fifo], environment: environment)
        #expect(fromFIFO.status == 64, "\(fromFIFO)")
        #expect(fromFIFO.error.contains("not a regular file"))
        let empty = try write(dir, "empty.db", "")
        let fromEmpty = try await runCommand(toolworker, ["copy-journal", "--config", path, "--from", empty], environment: environment)
        #expect(fromEmpty.status == 65, "\(fromEmpty)")
        #expect(fromEmpty.error.contains("is empty"))
    }

    @Test("check-config (the unit's ExecStartPre) warns of a PostgreSQL journal that cannot be reached now, without failing the unit")
    func checkConfigUnreachablePostgres() async throws {
        let dir = TempDirectory()
        let path = try write(dir, "c.yaml", "api: { base_url: \"http://127.0.0.1:9/v1\" }\ntools: {}\ndatabase: postgres://tw:S3cretPW@127.0.0.1:\(freePort())/db\n")
        let strict = try await runCommand(toolworker, ["check-config", "--config", path], environment: environment)
        #expect(strict.status == 74, "\(strict)")
        let check = try await runCommand(toolworker, ["check-config", "--allow-unreachable", "--config", path], environment: environment)
        #expect(check.status == 0, "\(check)")
        #expect(check.output.contains("cannot be reached now"), "\(check.output)")
        #expect(!(check.output + check.error).contains("S3cretPW"))
    }

    @Test("serve waits for a PostgreSQL journal that cannot be reached yet, logging each try, instead of failing at once")
    func serveWaitsForPostgres() async throws {
        let dir = TempDirectory()
        let port = freePort()
        let path = try write(dir, "c.yaml", "api: { base_url: \"http://127.0.0.1:9/v1\" }\ntools: {}\ndatabase: postgres://tw:S3cretPW@127.0.0.1:\(port)/db\n")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: toolworker)
        process.arguments = ["serve", "--config", path]
        process.environment = environment
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var log = ""
        try await waitFor("two logged tries", timeout: .seconds(30)) {
            log += String(decoding: readSome(stderr.fileHandleForReading), as: UTF8.self)
            return log.components(separatedBy: "cannot be reached yet").count >= 3
        }
        #expect(process.isRunning, "still waiting, not exited: \(log)")
        #expect(!log.contains("S3cretPW"))
        process.terminate()
        await waitForExit(process)
    }
}

@Suite("Operators' screens and ports, second round", .serialized)
struct OperatorScreenTests {
    let toolworker = builtProduct("toolworker")
    let environment = ["OPENAI_API_KEY": "sk-fake-test-key", "PATH": "/usr/bin:/bin"]

    @Test("show and runs print a server's ESC, CR and NUL as escapes, never raw")
    func showEscapes() async throws {
        let hostile = "fine\r\u{1B}[2J\u{1B}]0;owned\u{07}INFO forged\u{0}end"
        let h = try RunHarness(scenarios: ["asst_hostile": Scenario(finalText: hostile)])
        let outcome = try await h.run("asst_hostile")
        #expect(outcome.status == .completed)
        let config = h.directory.path("c.yaml")
        try "api: { base_url: \"http://127.0.0.1:9/v1\" }\ntools: {}\ndatabase: \(h.directory.path("audit.db"))\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        for arguments in [["show", outcome.runID ?? "?"], ["runs"], ["events", outcome.runID ?? "?"]] {
            let result = try await runCommand(toolworker, arguments + ["--config", config], environment: environment)
            #expect(result.status == 0, "\(arguments): \(result)")
            let raw = result.output.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) }
            #expect(raw.isEmpty, "\(arguments) printed raw control characters: \(raw.map { $0.value })")
        }
        let show = try await runCommand(toolworker, ["show", outcome.runID ?? "?", "--config", config], environment: environment)
        #expect(show.output.contains(#"\u{1B}[2J"#), "\(show.output)")
    }

    @Test("a metrics port already in use is a clear error that names it (exit 78)")
    func metricsPortInUse() async throws {
        let dir = TempDirectory()
        let taken = try MetricsListener(host: "127.0.0.1", port: 0) { "" }
        defer { taken.stop() }
        let config = dir.path("c.yaml")
        try "api: { base_url: \"http://127.0.0.1:9/v1\" }\ntools: {}\ndatabase: \(dir.path("tw.db"))\nmetrics: { listen: \"127.0.0.1:\(taken.port)\" }\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let serve = try await runCommand(toolworker, ["serve", "--config", config], environment: environment)
        #expect(serve.status == 78, "\(serve)")
        #expect(serve.error.contains("127.0.0.1:\(taken.port)") && serve.error.lowercased().contains("in use"), "\(serve.error)")
    }
}
}
