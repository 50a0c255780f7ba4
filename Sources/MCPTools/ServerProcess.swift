import Foundation
import Logging
import Synchronization
import ToolRunner

/// A stdio MCP server's process: started in a session of its own (and, with `limits`, in its sandbox), its stdin
/// stdout and stderr as pipes (stderr logged line by line through ``ServerStderr``); a thread waits for its exit.
final class ServerProcess: Sendable {
    let pid: pid_t
    /// The read end of its stdout and the write end of its stdin, for the transport (which owns them).
    let stdout: Int32
    let stdin: Int32
    private let sandboxCall: Sandbox.PreparedCall?
    private let exit = Mutex<(status: Int32?, waiters: [@Sendable (Int32) -> Void])>((nil, []))

    /// The exit status once it has exited (as `waitpid` gives it).
    var exitStatus: Int32? { exit.withLock { $0.status } }

    struct SpawnFailure: Error, CustomStringConvertible {
        var description: String
    }

    init(command: [String], environment: [String: String], workingDirectory: String?, sandbox: Sandbox?, name: String, logger: Logger) throws {
        let prepared = try sandbox.map { sandbox throws in try sandbox.prepare(command: command, workingDirectory: workingDirectory) }
        // `env --chdir` for the working folder (glibc's posix_spawn_file_actions_addchdir_np is not visible to Swift).
        let folder = workingDirectory.map { ["/usr/bin/env", "--chdir=\($0)", "--"] } ?? []
        let argv = folder + (prepared?.command ?? command)
        let toChild = try ChildSpawn.pipe()
        let fromChild: (read: Int32, write: Int32)
        let errorsOfChild: (read: Int32, write: Int32)
        do { fromChild = try ChildSpawn.pipe() } catch {
            close(toChild.read); close(toChild.write)
            throw error
        }
        do { errorsOfChild = try ChildSpawn.pipe() } catch {
            for fd in [toChild.read, toChild.write, fromChild.read, fromChild.write] { close(fd) }
            throw error
        }
        let child: pid_t
        do {
            // Its own session: the daemon's terminal signals do not reach it, and its group can be killed whole.
            child = try ChildSpawn.spawn(
                argv, environment: environment, stdin: toChild.read, stdout: fromChild.write, stderr: errorsOfChild.write, newSession: true)
        } catch {
            for fd in [toChild.read, toChild.write, fromChild.read, fromChild.write, errorsOfChild.read, errorsOfChild.write] { close(fd) }
            _ = prepared?.finish()
            throw SpawnFailure(description: "cannot start \(command[0]): \(error)")
        }
        close(toChild.read)
        close(fromChild.write)
        close(errorsOfChild.write)
        ServerStderr.drain(errorsOfChild.read, server: name, logger: logger)
        let spawned = child
        pid = spawned
        stdin = toChild.write
        stdout = fromChild.read
        sandboxCall = prepared
        let thread = Thread { [self] in
            var status: Int32 = 0
            while waitpid(spawned, &status, 0) < 0 && errno == EINTR {}
            // Whatever it left behind (a child in its sandbox) goes with it.
            _ = self.sandboxCall?.finish()
            let waiters = self.exit.withLock { state in
                state.status = status
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter(status) }
        }
        thread.name = "toolworker-mcp-wait"
        thread.start()
    }

    /// Calls `body` once the process has exited (at once if it has).
    func onExit(_ body: @escaping @Sendable (Int32) -> Void) {
        let status: Int32? = exit.withLock { state in
            if state.status == nil { state.waiters.append(body) }
            return state.status
        }
        if let status { body(status) }
    }

    /// Whether ``stop(grace:)`` was asked for (its exit is then no surprise worth a warning).
    var wasStopped: Bool { stopRequested.load(ordering: .sequentiallyConsistent) }
    private let stopRequested = Atomic<Bool>(false)

    /// Stops it: SIGTERM to its session's group, SIGKILL after `grace` if it is still there.
    func stop(grace: Duration = .seconds(2)) async {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        guard exitStatus == nil else { return }
        kill(-pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while exitStatus == nil && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if exitStatus == nil { kill(-pid, SIGKILL) }
    }

    /// `exited with status 3`, `was killed by signal 9`.
    static func describe(_ status: Int32) -> String {
        let signal = status & 0x7F
        return signal == 0 ? "exited with status \((status >> 8) & 0xFF)" : "was killed by signal \(signal)"
    }
}
