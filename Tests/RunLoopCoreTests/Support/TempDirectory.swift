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
func builtProduct(_ name: String) -> String {
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
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result {
                try runCommandBlocking(executable, arguments, input: input, environment: environment)
            })
        }
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
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// Polls `condition` until it holds; fails the wait (throws) only after `timeout`, a bound far beyond any load.
func waitFor(_ what: String, timeout: Duration = .seconds(60), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? condition()) == true { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw WaitTimeout(what: what, log: "")
}
