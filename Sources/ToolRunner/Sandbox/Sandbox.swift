import Foundation

/// A tool's limits on this host: turns one call's command into the sandboxed command and cleans up after it.
///
/// A call with limits always runs under bubblewrap: a PID namespace of its own (it cannot see, signal or trace the
/// daemon or another call, and everything it starts ends with it), no capabilities, the control group file system
/// read-only (it cannot raise its own limits or leave its group), the daemon's secrets and journal hidden
/// (``SandboxHost/protectedPaths``), and with `network: false` no network namespace of the host's and no Unix socket
/// file of the host's either (each is covered, but those in `sockets:`). It also gets a control group of its own
/// when the host has one (resource limits, and a kill that reaches every process the call started).
public struct Sandbox: Sendable, Equatable {
    public var limits: ToolLimits
    public var host: SandboxHost

    public init(limits: ToolLimits, host: SandboxHost) {
        self.limits = limits
        self.host = host
    }

    /// The sandbox for `limits` on `host` (this host's, found now, when `nil`), or `nil` when there are no limits (a
    /// call then runs as the daemon's child, unconfined).
    public init?(limits: ToolLimits, host: SandboxHost?) {
        guard !limits.isEmpty else { return nil }
        self.init(limits: limits, host: host ?? .detect())
    }

    /// What the model is told when a call went over its memory limit.
    static func memoryMessage(_ limits: ToolLimits) -> String {
        let limit = limits.memoryBytes.map { " of \(ToolLimits.bytes($0))" } ?? ""
        return "The call went over its memory limit\(limit) and was killed."
    }

    /// A call being set up or run: its control group, if any, and the command to run.
    public struct PreparedCall: Sendable {
        var controlGroup: CallControlGroup?
        /// The command to run: the call's, wrapped in what joins the control group and enters the namespaces.
        public var command: [String]

        /// After the call: whether it hit its memory limit; every process left is killed and the group removed.
        public func finish() -> Bool {
            guard let controlGroup else { return false }
            controlGroup.killAll()
            defer { controlGroup.remove() }
            return controlGroup.memoryLimitHit
        }
    }

    /// Sets up one call (or one long-lived process): its control group, and the command that enters it.
    public func prepare(command: [String], workingDirectory: String?) throws(SandboxError) -> PreparedCall {
        guard let bubblewrap = host.bubblewrap else {
            throw SandboxError(reason: "bubblewrap is needed for \(limits.summary) but \(host.bubblewrapProblem ?? "is not available")")
        }
        let inner = [bubblewrap] + bubblewrapArguments(command: command, workingDirectory: workingDirectory) + ["--"] + command
        guard let hierarchy = host.controlGroups else { return PreparedCall(controlGroup: nil, command: inner) }
        // Even without resource limits a group is made: its kill reaches every process of the call, grandchildren too.
        let group = try CallControlGroup.create(in: hierarchy, limits: limits)
        // The call's first process joins the group before it executes anything: everything it starts is inside.
        let join = #"while [ "$1" != -- ]; do echo $$ > "$1" || { echo "toolworker: cannot join the control group $1" >&2; exit 125; }; shift; done; shift; exec "$@""#
        return PreparedCall(controlGroup: group, command: ["/bin/sh", "-c", join, "toolworker-sandbox"] + group.joinFiles + ["--"] + inner)
    }

    /// bubblewrap's options: a PID namespace that dies with the call, no new privileges or capabilities, and the
    /// network and file system as the limits say.
    func bubblewrapArguments(command: [String], workingDirectory: String?) -> [String] {
        var arguments = ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--new-session", "--cap-drop", "ALL"]
        if !limits.network { arguments.append("--unshare-net") }
        if let writable = limits.writable {
            arguments += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
            // The private /tmp hides the host's: the handler's own folder and its working folder, when they are
            // there, are put back read-only (the writable folders after them, so one inside stays writable).
            let handlerFolder = String(command[0][..<(command[0].lastIndex(of: "/") ?? command[0].startIndex)])
            for folder in [handlerFolder, workingDirectory].compactMap({ $0 }) where folder.hasPrefix("/tmp/") {
                arguments += ["--ro-bind", folder, folder]
            }
            for folder in writable { arguments += ["--bind", folder, folder] }
        } else {
            arguments += ["--dev-bind", "/", "/", "--proc", "/proc"]
        }
        // The call's control group (and every other) is read only: it cannot raise its limits or leave its group.
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup") { arguments += ["--ro-bind", "/sys/fs/cgroup", "/sys/fs/cgroup"] }
        arguments += hidingArguments(command: command, workingDirectory: workingDirectory)
        if !limits.network { arguments += socketArguments() }
        if let workingDirectory { arguments += ["--chdir", workingDirectory] }
        return arguments
    }

    /// The daemon's journal and secrets out of the call's sight: a protected file's folder behind an empty tmpfs
    /// when the call needs nothing from that folder (not its program, working folder or a writable folder), else
    /// the file itself (and its `-wal`, `-shm`, `-journal` beside it) behind `/dev/null`.
    func hidingArguments(command: [String], workingDirectory: String?) -> [String] {
        let needed = [command.first, workingDirectory].compactMap { $0 } + (limits.writable ?? [])
        var arguments: [String] = []
        var hiddenFolders: Set<String> = []
        for path in host.protectedPaths {
            let folder = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            let folderIsFree = !folder.isEmpty && folder != "/" && !needed.contains { $0 == folder || $0.hasPrefix(folder + "/") || folder.hasPrefix($0 + "/") }
                && !["/usr", "/bin", "/lib", "/etc", "/tmp", "/var", "/home", "/root", "/opt", "/srv", "/run", "/dev", "/proc", "/sys"].contains(folder)
            if folderIsFree {
                if hiddenFolders.insert(folder).inserted, FileManager.default.fileExists(atPath: folder) { arguments += ["--tmpfs", folder] }
                continue
            }
            for file in [path, path + "-wal", path + "-shm", path + "-journal"] where Self.isPresentNonDirectory(file) {
                arguments += ["--ro-bind", "/dev/null", file]
            }
        }
        return arguments
    }

    /// With `network: false`: every Unix socket file the host has bound (from `/proc/net/unix`) behind `/dev/null`,
    /// but those listed in `sockets:`. A network namespace of its own already hides abstract sockets.
    func socketArguments() -> [String] {
        guard let table = try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8) else { return [] }
        var seen: Set<String> = []
        var arguments: [String] = []
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", maxSplits: 7, omittingEmptySubsequences: true)
            guard fields.count == 8, fields[7].hasPrefix("/") else { continue }
            let path = String(fields[7])
            guard !limits.sockets.contains(path), seen.insert(path).inserted else { continue }
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { continue }
            arguments += ["--ro-bind", "/dev/null", path]
        }
        return arguments
    }

    static func isPresentNonDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT != S_IFDIR
    }
}
