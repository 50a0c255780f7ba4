import Foundation
import Synchronization
import ToolRunner

/// A stdio MCP server's process: started in a session of its own (and, with `limits`, in its sandbox), its stdin
/// and stdout as pipes, its stderr the daemon's (the journal of the unit); a thread waits for its exit.
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

    init(command: [String], environment: [String: String], workingDirectory: String?, sandbox: Sandbox?) throws {
        let prepared = try sandbox.map { sandbox throws in try sandbox.prepare(command: command, workingDirectory: workingDirectory) }
        // `env --chdir` for the working folder (glibc's posix_spawn_file_actions_addchdir_np is not visible to Swift).
        let folder = workingDirectory.map { ["/usr/bin/env", "--chdir=\($0)", "--"] } ?? []
        let argv = folder + (prepared?.command ?? command)
        var toChild: [Int32] = [-1, -1]
        var fromChild: [Int32] = [-1, -1]
        guard pipe(&toChild) == 0 else { throw SpawnFailure(description: "pipe: \(String(cString: strerror(errno)))") }
        guard pipe(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw SpawnFailure(description: "pipe: \(String(cString: strerror(errno)))")
        }
        for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own session: the daemon's terminal signals do not reach it, and its group can be killed whole.
        // POSIX_SPAWN_SETSID is 0x80 in glibc (not exported to Swift).
        posix_spawnattr_setflags(&attributes, Int16(0x80 | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var child: pid_t = 0
        let status = posix_spawn(&child, argv[0], &actions, &attributes, cArguments, cEnvironment)
        close(toChild[0])
        close(fromChild[1])
        guard status == 0 else {
            close(toChild[1]); close(fromChild[0])
            _ = prepared?.finish()
            throw SpawnFailure(description: "cannot start \(command[0]): \(String(cString: strerror(status)))")
        }
        let spawned = child
        pid = spawned
        stdin = toChild[1]
        stdout = fromChild[0]
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

    /// Stops it: SIGTERM to its session's group, SIGKILL after `grace` if it is still there.
    func stop(grace: Duration = .seconds(2)) async {
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
