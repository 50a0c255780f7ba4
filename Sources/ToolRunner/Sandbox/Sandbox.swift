/// A tool's limits on this host: turns one call's command into the sandboxed command and cleans up after it.
///
/// A call with limits gets a control group of its own when the host has one (resource limits, and a kill that
/// reaches every process the call started, daemonised grandchildren too), and runs under bubblewrap when it needs
/// namespaces (no network, a read-only file system) or when there is no control group (its PID namespace then
/// ends every process of the call with the call).
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
        var inner = command
        let useNamespaces = limits.needsNamespaces || host.controlGroups == nil
        if useNamespaces {
            guard let bubblewrap = host.bubblewrap else {
                throw SandboxError(reason: "bubblewrap is needed for \(limits.summary) but \(host.bubblewrapProblem ?? "is not available")")
            }
            inner = [bubblewrap] + bubblewrapArguments(command: command, workingDirectory: workingDirectory) + ["--"] + command
        }
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
        if let workingDirectory { arguments += ["--chdir", workingDirectory] }
        return arguments
    }
}
