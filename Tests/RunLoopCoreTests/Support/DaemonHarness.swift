import FakeAssistants
import Foundation
import RunLoopCore
import Synchronization

/// Receives sd_notify datagrams on a socket of its own, as systemd would.
final class NotifyListener: Sendable {
    final class Inbox: Sendable {
        let messages = Mutex<[String]>([])
    }

    let path: String
    private let fd: Int32
    private let received = Inbox()

    /// - Parameter reading: `false` binds the socket but never reads it (a service manager that stopped reading:
    ///   its queue fills after `net.unix.max_dgram_qlen` datagrams).
    init(path: String, reading: Bool = true) throws {
        self.path = path
        // Close-on-exec: a child that inherited it would keep the socket alive after this listener is gone.
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        guard reading else { return }
        // The reading thread owns a duplicate and closes it when it ends, so a descriptor number this listener
        // closed (and the process reused) is never read by a thread that outlived it.
        let own = dup(fd)
        let thread = Thread { [received] in
            defer { close(own) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(own, &buffer, buffer.count, 0)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                let message = String(decoding: buffer[0..<n], as: UTF8.self)
                received.messages.withLock { $0.append(message) }
            }
        }
        thread.start()
    }

    var messages: [String] { received.messages.withLock { $0 } }

    /// Just the first line of each datagram's key (`READY`, `WATCHDOG`, …), in order.
    var kinds: [String] {
        messages.map { message in
            for key in ["READY", "RELOADING", "STOPPING", "WATCHDOG"] where message.contains("\(key)=1") { return key }
            return message.hasPrefix("STATUS=") ? "STATUS" : message
        }
    }

    deinit {
        // Wakes the reading thread (shutdown acts on the socket, which its duplicate shares).
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

/// A `toolworker serve` child process against an in-process fake server, with its config, database and notify
/// socket in a temporary folder.
final class DaemonHarness {
    let directory = TempDirectory()
    let server: FakeAssistantsServer
    let notify: NotifyListener
    let toolworker = builtProduct("toolworker")
    var process: Process?
    var starts = 0

    /// - Parameter readingNotifications: `false` gives the daemon a notify socket nobody reads.
    init(scenarios: [String: Scenario] = [:], readingNotifications: Bool = true) throws {
        server = try FakeAssistantsServer(scenarios: scenarios)
        notify = try NotifyListener(path: directory.path("notify.sock"), reading: readingNotifications)
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        server.stop()
    }

    var configPath: String { directory.path("toolworker.yaml") }
    var database: String { directory.path("tw.db") }
    var logPath: String { directory.path("serve-\(starts).log") }

    /// Writes the config: `tools` is the YAML under `tools:`.
    func writeConfig(runs: Int = 4, toolCalls: Int = 8, grace: String = "10s", extra: String = "", tools: String) throws {
        try """
            \(extra)
            api: { base_url: "\(server.baseURL)", idle_timeout: 60s }
            database: tw.db
            concurrency: { runs: \(runs), tool_calls: \(toolCalls) }
            jobs: { max_attempts: 3, retry_backoff: 200ms }
            shutdown_grace: \(grace)
            tools:
            \(tools)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// An executable script in the folder.
    @discardableResult
    func script(_ name: String, _ body: String) throws -> String {
        let path = directory.path(name)
        try ("#!/bin/sh\n" + body).writeScript(toFile: path)
        chmod(path, 0o755)
        return path
    }

    var environment: [String: String] {
        ["OPENAI_API_KEY": server.apiKey, "PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"]
    }

    func start() throws {
        starts += 1
        process = try startServe(config: configPath, environment: environment, log: logPath, executable: toolworker)
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits for the process to exit; returns its status.
    func stop(_ signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) async throws -> (status: Int32, reason: Process.TerminationReason) {
        guard let process else { return (-1, .exit) }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            await waitForExit(process)
        }
        return (process.terminationStatus, process.terminationReason)
    }

    func enqueue(_ assistant: String, message: String = "go", thread: String? = nil) async throws -> Int64 {
        var arguments = ["enqueue", "--config", configPath, "--assistant", assistant, "--message", message]
        if let thread { arguments += ["--thread", thread] }
        let result = try await runCommand(toolworker, arguments, environment: environment)
        guard result.status == 0, let id = Int64(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw WaitTimeout(what: "enqueue (status \(result.status)): \(result.error)", log: "")
        }
        return id
    }

    /// Queues a job straight into the database (as `enqueue` would), without loading the configuration.
    func enqueueDirectly(_ assistant: String, message: String = "go", thread: String? = nil) async throws -> Int64 {
        let store = try AuditStore(path: database)
        defer { store.close() }
        return try await store.enqueueJob(assistantID: assistant, threadID: thread, message: message, instructions: nil, metadata: nil)
    }

    /// A query on the daemon's database from another connection (read-only, as an operator would).
    func query(_ sql: String, _ parameters: [SQLValue] = []) throws -> [SQLRow] {
        guard FileManager.default.fileExists(atPath: database) else { return [] }
        let connection = try SQLiteConnection(path: database, readOnly: true)
        return try connection.query(sql, parameters)
    }

    func scalar(_ sql: String, _ parameters: [SQLValue] = []) throws -> Int64 {
        try query(sql, parameters).first?.values.first?.int ?? 0
    }

    /// Polls `condition` until it holds or `timeout` passes.
    func waitUntil(_ what: String, timeout: Duration = .seconds(60), _ condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        // One more look after the deadline (see ``waitFor(_:timeout:_:)``).
        while true {
            if (try? condition()) == true { return }
            if ContinuousClock.now >= deadline { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw WaitTimeout(what: what, log: log())
    }
}

struct WaitTimeout: Error, CustomStringConvertible {
    let what: String
    let log: String
    var description: String { "timed out waiting for \(what); daemon log:\n\(log.suffix(3000))" }
}

/// A `toolworker serve` child process with its standard error in `log` (created empty) and no standard output.
func startServe(
    config: String, environment: [String: String], log: String, executable: String = builtProduct("toolworker")
) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = ["serve", "--config", config]
    process.environment = environment
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    process.standardError = FileHandle(forWritingAtPath: log)
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    return process
}

extension SystemdNotifier {
    /// Whether a datagram to the notify socket at `path` would block: its queue is full. (A probe that finds room
    /// is delivered, filling the queue a little sooner.)
    static func queueIsFull(_ path: String) -> Bool {
        !SystemdNotifier(environment: ["NOTIFY_SOCKET": path]).notify([("X_PROBE", "1")], patience: .zero)
    }
}
