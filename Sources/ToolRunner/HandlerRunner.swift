import WorkModel
import WireFormat
import Foundation
import Subprocess
import Synchronization
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs one handler process: arguments JSON on stdin, stdout is the output, exit 0 is success.
///
/// The handler gets its own session (so its own process group); on time-out the whole group gets SIGTERM, then
/// SIGKILL after `killGrace`, so neither a handler that ignores SIGTERM nor its children outlive the time-out.
/// Output past the cap is read and dropped (the pipe is drained, the handler never blocks on it).
public struct HandlerRunner: Sendable {
    /// What a handler process did.
    public struct Result: Sendable, Equatable {
        public enum Termination: Sendable, Equatable {
            case exited(Int)
            case signaled(Int)
            case timedOut
        }

        public var termination: Termination
        public var stdout: [UInt8]
        public var stdoutTruncated: Bool
        /// The last bytes of stderr.
        public var stderrTail: [UInt8]
        /// The kernel killed a process of the call for going over its sandbox's memory limit.
        public var memoryLimitHit = false
    }

    /// The handler could not be started at all.
    public struct SpawnError: Error, Sendable, CustomStringConvertible {
        public let command: String
        public let reason: String
        /// exec failed with ETXTBSY: the file is open for writing somewhere (being deployed), worth another try.
        var isTextFileBusy = false
        public var description: String { "could not start \(command): \(reason)" }
    }

    /// Delays between attempts when exec finds the handler's file busy (ETXTBSY: open for writing, a deploy
    /// replacing it): ~0.6 s in all, then the spawn failure stands.
    public var busyRetryDelays: [Duration] = [.milliseconds(20), .milliseconds(40), .milliseconds(80), .milliseconds(160), .milliseconds(320)]

    public var killGrace: Duration = .seconds(2)
    public var stderrTailBytes = 4096

    public init() {}

    /// - Parameter live: told of every piece of stdout and stderr as it arrives (the result still holds the output).
    public func run(
        command: [String], stdin: String, environment: [String: String], workingDirectory: String?,
        timeout: Duration, maxOutputBytes: Int, sandbox: Sandbox? = nil, live: (any LiveOutputSink)? = nil
    ) async throws -> Result {
        var delays = busyRetryDelays[...]
        while true {
            do {
                return try await runOnce(
                    command: command, stdin: stdin, environment: environment, workingDirectory: workingDirectory,
                    timeout: timeout, maxOutputBytes: maxOutputBytes, sandbox: sandbox, live: live)
            } catch let error as SpawnError where error.isTextFileBusy && !delays.isEmpty {
                try await Task.sleep(for: delays.removeFirst())
            }
        }
    }

    private func runOnce(
        command: [String], stdin: String, environment: [String: String], workingDirectory: String?,
        timeout: Duration, maxOutputBytes: Int, sandbox: Sandbox?, live: (any LiveOutputSink)?
    ) async throws -> Result {
        let prepared: Sandbox.PreparedCall?
        do {
            prepared = try sandbox?.prepare(command: command, workingDirectory: workingDirectory)
        } catch {
            throw SpawnError(command: command[0], reason: "its sandbox could not be set up: \(error)")
        }
        let command = prepared?.command ?? command
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [
            .gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: killGrace),
            .send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(200)),
        ]
        let platformOptions = options
        var env: [Environment.Key: String] = [:]
        for (key, value) in environment { env[Environment.Key(stringLiteral: key)] = value }
        let customEnvironment = env
        let tailBytes = stderrTailBytes
        let executable = command[0]
        let arguments = Arguments(Array(command.dropFirst()))

        // The handler's pid is its process group id (createSession): kept to sweep the group afterwards.
        let processGroup = ProcessGroupBox()
        defer {
            // Whatever happened, nothing the handler started may outlive it (a child that ignored SIGTERM, a
            // background job still holding a pipe): SIGKILL what is left of its group.
            if let group = processGroup.id.withLock({ $0 }) {
                kill(-group, SIGKILL)
                HandlerProcessGroups.remove(group)
            }
        }
        enum Race: Sendable {
            case finished(Result)
            case timedOut
            case cancelled
        }
        // The arguments go through an unlinked temporary file rather than a pipe the library writes: a handler
        // that exits without reading stdin then cannot break the write (swift-subprocess 1.0.2 aborts the process
        // on that path), and arguments of any size never block on a full pipe.
        let input: FileDescriptor
        do { input = try HandlerRunner.stdinFile(containing: stdin, executable: executable) } catch {
            _ = prepared?.finish()
            throw error
        }
        let race: Race
        do { race = try await withThrowingTaskGroup(of: Race.self) { group in
            group.addTask {
                do {
                    let execution = try await Subprocess.run(
                        .path(FilePath(executable)), arguments: arguments, environment: .custom(customEnvironment),
                        workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: platformOptions,
                        input: .fileDescriptor(input, closeAfterSpawningProcess: true), output: .sequence, error: .sequence
                    ) { execution in
                        processGroup.id.withLock { $0 = execution.processIdentifier.value }
                        HandlerProcessGroups.insert(execution.processIdentifier.value)
                        async let errorTail = HandlerRunner.tail(of: execution.standardError, keeping: tailBytes, live: live)
                        let (out, truncated) = try await HandlerRunner.capped(execution.standardOutput, limit: maxOutputBytes, live: live)
                        return (out, truncated, try await errorTail)
                    }
                    let (out, truncated, errorTail) = execution.closureResult
                    let termination: Result.Termination
                    switch execution.terminationStatus {
                    case .exited(let code): termination = .exited(Int(code))
                    case .signaled(let signal): termination = .signaled(Int(signal))
                    }
                    return .finished(Result(termination: termination, stdout: out, stdoutTruncated: truncated, stderrTail: errorTail))
                } catch {
                    if Task.isCancelled { return .cancelled }
                    throw SpawnError(
                        command: executable, reason: "\(error)",
                        isTextFileBusy: (error as? SubprocessError)?.underlyingError == Errno.textFileBusy)
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                } catch {
                    return .cancelled
                }
            }
            let first = try await group.next() ?? .cancelled
            // Cancelling the run task runs the teardown (SIGTERM to the group, SIGKILL after the grace) and
            // reaps the handler; wait for it so nothing is left running when we return.
            group.cancelAll()
            while (try? await group.next()) != nil {}
            return first
        } } catch {
            _ = prepared?.finish()
            throw error
        }
        // Every process the call left (in its control group) is killed before the outcome is known.
        let memoryLimitHit = prepared?.finish() ?? false
        switch race {
        case .finished(var result):
            result.memoryLimitHit = memoryLimitHit
            return result
        case .timedOut:
            return Result(termination: .timedOut, stdout: [], stdoutTruncated: false, stderrTail: [], memoryLimitHit: memoryLimitHit)
        case .cancelled:
            throw CancellationError()
        }
    }

    /// An unlinked temporary file holding `text`, positioned at its start, for a handler's stdin.
    static func stdinFile(containing text: String, executable: String) throws -> FileDescriptor {
        let folder = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(folder)/toolworker-stdin-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw SpawnError(command: executable, reason: "cannot create a file for its stdin in \(folder): errno \(errno)")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let descriptor = FileDescriptor(rawValue: fd)
        do {
            var bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = try bytes[offset...].withUnsafeMutableBytes { try descriptor.write(UnsafeRawBufferPointer($0)) }
                offset += written
            }
            bytes.removeAll()
            guard lseek(fd, 0, SEEK_SET) == 0 else { throw Errno(rawValue: errno) }
        } catch {
            try? descriptor.close()
            throw SpawnError(command: executable, reason: "cannot write its stdin: \(error)")
        }
        return descriptor
    }

    /// The handler's process group id, shared between the task that runs it and the sweep afterwards.
    final class ProcessGroupBox: Sendable {
        let id = Mutex<pid_t?>(nil)
    }

    static func capped(_ sequence: SubprocessOutputSequence, limit: Int, live: (any LiveOutputSink)? = nil) async throws -> ([UInt8], Bool) {
        var bytes: [UInt8] = []
        var truncated = false
        for try await buffer in sequence {
            if let live { buffer.withUnsafeBytes { live.partial(.stdout, Array($0)) } }
            buffer.withUnsafeBytes { raw in
                let room = limit - bytes.count
                if room > 0 { bytes.append(contentsOf: raw.prefix(room)) }
                if raw.count > max(room, 0) { truncated = true }
            }
        }
        return (bytes, truncated)
    }

    static func tail(of sequence: SubprocessOutputSequence, keeping count: Int, live: (any LiveOutputSink)? = nil) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await buffer in sequence {
            if let live { buffer.withUnsafeBytes { live.partial(.stderr, Array($0)) } }
            buffer.withUnsafeBytes { bytes.append(contentsOf: $0) }
            if bytes.count > count * 2 { bytes.removeFirst(bytes.count - count) }
        }
        return Array(bytes.suffix(count))
    }
}
