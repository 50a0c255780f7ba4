import Foundation

/// A fresh folder under /tmp for one test, removed when the test ends.
final class TempDirectory {
    let url: URL

    init() {
        url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("toolworker-test-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A product of this package built next to the test bundle (`swift build --build-tests` builds them all).
/// `TOOLWORKER_TEST_BINARY` names the `toolworker` to test instead: scripts/test.sh points it at the binary the
/// Debian package ships (a stripped release build), so the end-to-end tests run what is installed.
func builtProduct(_ name: String) -> String {
    if name == "toolworker", let shipped = ProcessInfo.processInfo.environment["TOOLWORKER_TEST_BINARY"], !shipped.isEmpty { return shipped }
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
    if FileManager.default.isExecutableFile(atPath: beside.path) { return beside.path }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/\(name)").path
}

/// Runs a command to its end and returns its exit status, standard output and standard error.
///
/// The waiting happens on a thread of its own: tests run on Swift's cooperative pool (two threads on a 2-core
/// machine), and blocking it on child processes would stall every other test's tasks.
@discardableResult
func runCommand(
    _ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil
) async throws -> (status: Int32, output: String, error: String) {
    try await offPool { try runCommandBlocking(executable, arguments, input: input, environment: environment) }
}

/// Runs blocking work (a child process, a libpq call, a long computation) on a thread of its own and waits for it
/// without holding one of the cooperative pool's threads: on a 2-core machine the pool has two, and tests that
/// block both stall every other test of the process, their fake servers' clients and their deadlines included.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Waits for a child process without blocking the cooperative pool.
func waitForExit(_ process: Process) async {
    while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
}

/// ``runCommand(_:_:input:environment:)`` for places that cannot await (a `defer`).
@discardableResult
func runCommandBlocking(_ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let stdout = Pipe(), stderr = Pipe(), stdin = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = stdin
    try process.run()
    if let input { try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8)) }  // a child may exit without reading it
    try stdin.fileHandleForWriting.close()
    let out = readAll(stdout.fileHandleForReading)
    let err = readAll(stderr.fileHandleForReading)
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// Polls `condition` until it holds; fails the wait (throws) only after `timeout`, a bound far beyond any load.
func waitFor(_ what: String, timeout: Duration = .seconds(60), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    // The condition is looked at once more after the deadline: a waiter that woke late on a busy machine fails
    // only if the condition really does not hold.
    while true {
        if (try? condition()) == true { return }
        if ContinuousClock.now >= deadline { break }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw WaitTimeout(what: what, log: "")
}

/// ``waitFor(_:timeout:_:)`` for a condition that awaits (a journal query).
func waitForAsync(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if (try? await condition()) == true { return }
        if ContinuousClock.now >= deadline { break }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw WaitTimeout(what: what, log: "")
}

/// What a child has written so far (at least one byte, or empty at its end), read with read(2) and retried on EINTR:
/// Foundation's `availableData` stops the whole test process on an interrupted read.
func readSome(_ handle: FileHandle) -> Data {
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
        if count >= 0 { return Data(buffer[0..<count]) }
        if errno != EINTR { return Data() }
    }
}

/// Everything a child writes until it closes the pipe (see ``readSome(_:)``).
func readAll(_ handle: FileHandle) -> Data {
    var all = Data()
    while true {
        let chunk = readSome(handle)
        if chunk.isEmpty { return all }
        all += chunk
    }
}

extension String {
    /// Writes an executable script (mode 0755) through a descriptor opened with `O_CLOEXEC`, then renames it into
    /// place. Foundation's atomic write opens its temporary file without `O_CLOEXEC`: a process another test spawns
    /// meanwhile inherits it and keeps the script "busy" (exec fails with ETXTBSY) for as long as it runs.
    func writeScript(toFile path: String) throws {
        let temporary = path + ".tmp-\(UInt32.random(in: 0 ... .max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let bytes = Array(utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}

/// How many descriptors of this process are open on files whose path starts with `prefix` (a database and its
/// `-wal`/`-shm`), from `/proc/self/fd`.
func openDescriptors(startingWith prefix: String) -> Int {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return entries.filter { entry in
        ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)")) ?? "").hasPrefix(prefix)
    }.count
}

/// A loopback port that refuses connections: a socket bound but never listening. While it stays bound no other
/// test's server can be given that port (a closed port could be).
final class RefusingPort {
    private let socketDescriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        socketDescriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// `http://127.0.0.1:PORT/v1`.
    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    deinit { close(socketDescriptor) }
}
