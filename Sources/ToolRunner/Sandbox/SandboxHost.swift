import Foundation

/// What this host can enforce, found once at start: bubblewrap for namespaces (`network`, `writable`, and a PID
/// namespace so nothing a call starts outlives it) and a writable control group hierarchy for resources (`memory`,
/// `cpu`, `tasks`). `toolworker check-config` prints it; a configured limit it cannot enforce is a configuration
/// error (``problems(for:)``), never silently skipped.
public struct SandboxHost: Sendable, Equatable {
    /// The `bwrap` program, when installed and able to create namespaces here.
    public var bubblewrap: String?
    /// Why bubblewrap is not usable, when it is not.
    public var bubblewrapProblem: String?
    /// The control groups calls are placed in, when this process may create them.
    public var controlGroups: ControlGroupHierarchy?
    /// Why control groups are not usable, when they are not.
    public var controlGroupProblem: String?
    /// What no call may see: the journal, its password file, the API key file, MCP header files, the configuration.
    public var protectedPaths: [String] = []

    public init(bubblewrap: String? = nil, bubblewrapProblem: String? = nil, controlGroups: ControlGroupHierarchy? = nil, controlGroupProblem: String? = nil) {
        self.bubblewrap = bubblewrap
        self.bubblewrapProblem = bubblewrapProblem
        self.controlGroups = controlGroups
        self.controlGroupProblem = controlGroupProblem
    }

    /// Looks at this host. `TOOLWORKER_BWRAP` names another `bwrap` (`none`: act as if it were missing);
    /// `TOOLWORKER_CGROUP=none` acts as if no control group were writable (for checking a configuration meant for
    /// a smaller host).
    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment) -> SandboxHost {
        var host = SandboxHost()
        let wanted = environment["TOOLWORKER_BWRAP"].flatMap { $0.isEmpty ? nil : $0 }
        if wanted == "none" {
            host.bubblewrapProblem = "disabled by TOOLWORKER_BWRAP=none"
        } else if let path = wanted ?? ["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            if !FileManager.default.isExecutableFile(atPath: path) {
                host.bubblewrapProblem = "\(path) is not an executable file"
            } else if let problem = probe(bubblewrap: path) {
                host.bubblewrapProblem = problem
            } else {
                host.bubblewrap = path
            }
        } else {
            host.bubblewrapProblem = "bubblewrap is not installed (apt install bubblewrap)"
        }
        if environment["TOOLWORKER_CGROUP"] == "none" {
            host.controlGroupProblem = "disabled by TOOLWORKER_CGROUP=none"
        } else {
            switch ControlGroupHierarchy.detect() {
            case .success(let hierarchy): host.controlGroups = hierarchy
            case .failure(let problem): host.controlGroupProblem = problem.reason
            }
        }
        return host
    }

    /// Kills what calls of a daemon that died (a `kill -9`, a crash) still run in their control groups, and removes
    /// the groups, before this daemon runs calls: a call interrupted by a crash must not go on beside its rerun.
    /// - Returns: how many groups were swept.
    @discardableResult
    public func sweepStaleCalls() -> Int {
        guard let controlGroups else { return 0 }
        return CallControlGroup.sweepStale(in: controlGroups)
    }

    /// Runs `/bin/true` under bubblewrap with the namespaces a call gets: installed is not enough (a unit with
    /// `RestrictNamespaces=yes`, a kernel without unprivileged user namespaces). Returns why it failed, if it did.
    static func probe(bubblewrap path: String) -> String? {
        let argv = [path, "--die-with-parent", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--ro-bind", "/", "/", "--dev", "/dev",
            "--proc", "/proc", "--", "/bin/true"]
        let output: (read: Int32, write: Int32)
        do { output = try ChildSpawn.pipe() } catch { return "cannot try it: \(error)" }
        defer { close(output.read) }
        let nothing = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if nothing >= 0 { close(nothing) } }
        let child: pid_t
        do {
            child = try ChildSpawn.spawn(
                argv, environment: ["PATH": "/usr/bin:/bin"], stdin: nothing >= 0 ? nothing : nil, stdout: output.write, stderr: output.write,
                newSession: false)
        } catch {
            close(output.write)
            return "cannot run \(path): \(error)"
        }
        close(output.write)
        var message: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while message.count < 4096 {
            let count = buffer.withUnsafeMutableBytes { read(output.read, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            message += buffer[..<count]
        }
        var exit: Int32 = 0
        while waitpid(child, &exit, 0) < 0 && errno == EINTR {}
        guard exit != 0 else { return nil }
        let said = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return "\(path) cannot create a sandbox here\(said.isEmpty ? "" : ": \(said)")"
    }

    /// One line per mechanism, for `check-config`.
    public var report: [String] {
        var lines: [String] = []
        if let bubblewrap {
            lines.append("sandbox: bubblewrap \(bubblewrap): network, writable, and a PID namespace per call")
        } else {
            lines.append("sandbox: no bubblewrap (\(bubblewrapProblem ?? "not found")): network and writable limits cannot be enforced")
        }
        if let controlGroups {
            lines.append("sandbox: \(controlGroups.description): memory, cpu and tasks limits")
        } else {
            lines.append("sandbox: no writable control group (\(controlGroupProblem ?? "none")): memory, cpu and tasks limits cannot be enforced")
        }
        return lines
    }

    /// What of `limits` this host cannot enforce, in words; empty when all of it can be.
    public func problems(for limits: ToolLimits) -> [String] {
        var problems: [String] = []
        guard !limits.isEmpty else { return problems }
        // Every sandbox is bubblewrap's namespaces: without a PID and a mount namespace a call could signal the
        // daemon and write its own control group's limits (same user), whatever else contains it.
        if bubblewrap == nil {
            problems.append("limits need bubblewrap (a PID and mount namespace per call keep it from the daemon and from its own control group): \(bubblewrapProblem ?? "not found")")
        }
        if limits.needsControlGroup {
            if let controlGroups {
                let missing = controlGroups.missingControllers(for: limits)
                if !missing.isEmpty {
                    problems.append("the \(missing.joined(separator: ", ")) controller is not available in \(controlGroups.description)")
                }
            } else {
                let names = [
                    limits.memoryBytes == nil ? nil : "memory", limits.cpuPercent == nil ? nil : "cpu", limits.tasks == nil ? nil : "tasks",
                ].compactMap { $0 }
                problems.append("\(names.joined(separator: ", ")) \(names.count == 1 ? "needs" : "need") a writable control group: \(controlGroupProblem ?? "none")")
            }
        }
        return problems
    }
}
