import FakeAssistants
import Foundation
import Testing
@testable import HTTPTransport
@testable import Journal
@testable import PostgresJournal
import RunLoopCore

/// The second round of hostile input: escaped keys, links to the journal, passwords in URLs and files, control
/// characters from servers, configuration files that are not configuration.
@Suite("Hostile input, second round")
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
