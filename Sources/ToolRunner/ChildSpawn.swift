import Foundation

/// `posix_spawn` for the children ToolWorker starts outside swift-subprocess (a long-lived MCP server, the
/// bubblewrap probe): the signal mask emptied and every disposition reset in the child, standard streams as given.
public enum ChildSpawn {
    /// A child could not be started, or a pipe made for it.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// A pipe whose two ends are close-on-exec (a child gets only the end dup'ed onto its stream).
    public static func pipe() throws(Failure) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (ends[0], ends[1])
    }

    /// Starts `argv` (`argv[0]` a path; a failure says why, the caller names what) with exactly `environment`; each of `stdin`, `stdout`, `stderr` is the
    /// descriptor the child gets as that stream (`nil`: this process's own). With `newSession` the child leads a
    /// session (and process group) of its own.
    public static func spawn(
        _ argv: [String], environment: [String: String], stdin: Int32?, stdout: Int32?, stderr: Int32?, newSession: Bool
    ) throws(Failure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (source, target) in [(stdin, Int32(0)), (stdout, 1), (stderr, 2)] {
            if let source { posix_spawn_file_actions_adddup2(&actions, source, target) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID is 0x80 in glibc (not exported to Swift).
        posix_spawnattr_setflags(&attributes, Int16((newSession ? 0x80 : 0) | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
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
        guard status == 0 else { throw Failure(description: String(cString: strerror(status))) }
        return child
    }
}
