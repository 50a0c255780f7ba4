import Foundation
import WireFormat
import WorkModel

/// The shell the configuration lends the model (`shell:`): where commands run and within which limits.
public struct ShellToolConfig: Sendable, Equatable {
    /// `shell` (the Responses `shell` tool: a list of commands for `/bin/sh -c`) or `local_shell` (one argv).
    public var kind: ToolKind = .shell
    /// Where every command runs; a `local_shell` action's `working_directory` must lie inside it.
    public var workingDirectory: String
    /// `timeout` (all a call's commands together; an action's `timeout_ms` can only shorten it), `max_output_bytes`
    /// (per command; an action's `max_output_length` can only lower it), `on_restart` (commands are not assumed safe to
    /// repeat: a call interrupted by a crash is answered "interrupted"), `approval`, `limits`.
    public var policy = ToolPolicy(timeout: .seconds(30), maxOutputBytes: 65_536, onRestart: .fail)
    /// Extra environment (on top of PATH, LANG, HOME, TZ, TMPDIR; never the daemon's own).
    public var environment: [String: String] = [:]

    public init(workingDirectory: String) {
        self.workingDirectory = workingDirectory
    }

    // The policy's settings, read and written in place.
    public var timeout: Duration { get { policy.timeout } set { policy.timeout = newValue } }
    public var maxOutputBytes: Int { get { policy.maxOutputBytes } set { policy.maxOutputBytes = newValue } }
    public var onRestart: RestartPolicy { get { policy.onRestart } set { policy.onRestart = newValue } }
    public var approval: ApprovalRule { get { policy.approval } set { policy.approval = newValue } }
    public var limits: ToolLimits { get { policy.limits } set { policy.limits = newValue } }
}

/// Runs a model's shell actions (`shell_call`, `local_shell_call`) in the configured folder, each command in its own
/// process group under the time-out (the whole group is stopped when it passes) and the output cap (truncation
/// marked). Registered only when the configuration has a `shell:` section: without it, shell calls are refused.
public struct ShellCommandExecutor: ToolExecutor {
    public let configuration: ShellToolConfig
    var runner = HandlerRunner()
    let baseEnvironment: [String: String]
    let sandbox: Sandbox?

    public init(
        _ configuration: ShellToolConfig, sandboxHost: SandboxHost? = nil, inheritedEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.configuration = configuration
        baseEnvironment = ShellToolExecutor.baseEnvironment(inheriting: inheritedEnvironment)
        sandbox = Sandbox(limits: configuration.limits, host: sandboxHost)
    }

    public var definition: ToolDefinition {
        ToolDefinition(name: configuration.kind.rawValue, description: "Commands run in \(configuration.workingDirectory)", kind: configuration.kind)
    }

    public var policy: ToolPolicy { configuration.policy }

    public var handlerDescription: String { "\(configuration.kind.rawValue) in \(configuration.workingDirectory)" }

    public var listingDetails: JSONObject { ["working_directory": .string(configuration.workingDirectory)] }

    public func execute(_ call: ToolCall, arguments: String, execution: ToolExecution) async throws(CancellationError) -> ToolCallOutcome {
        let started = unixMilliseconds()
        guard let action = (try? JSONValue(parsing: arguments))?.objectValue else {
            return .failure(.failed, .invalidArguments, "The shell action is not a JSON object.", startedAt: started, finishedAt: unixMilliseconds())
        }
        var timeout = configuration.policy.callTimeout(execution)
        if let milliseconds = action["timeout_ms"]?.intValue, milliseconds > 0 { timeout = min(timeout, .milliseconds(milliseconds)) }
        var limit = configuration.maxOutputBytes
        if let length = action["max_output_length"]?.intValue, length > 0 { limit = min(limit, Int(clamping: length)) }
        switch configuration.kind {
        case .localShell: return try await runLocal(action, timeout: timeout, limit: limit, started: started)
        default: return try await runCommands(action, timeout: timeout, limit: limit, started: started)
        }
    }

    /// `shell_call`: each of `commands` through `/bin/sh -c`, in order, within one time budget; a chunk per command run.
    func runCommands(_ action: JSONObject, timeout: Duration, limit: Int, started: Int64) async throws(CancellationError) -> ToolCallOutcome {
        let commands = (action["commands"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard !commands.isEmpty else {
            return .failure(.failed, .invalidArguments, "The shell action has no commands.", startedAt: started, finishedAt: unixMilliseconds())
        }
        let deadline = ContinuousClock.now + timeout
        var chunks: [JSONValue] = []
        var truncated = false
        var timedOut = false
        var memoryLimitHit = false
        var lastExit = 0
        var used = 0
        for command in commands {
            let remaining = deadline - .now
            guard remaining > .zero else {
                timedOut = true
                chunks.append(["stdout": "", "stderr": "", "outcome": ["type": "timeout"]])
                break
            }
            // The cap is the whole call's: what earlier commands printed (stdout and stderr) leaves less for the next.
            let room = max(limit - used, 0)
            let result = try await run(["/bin/sh", "-c", command], environment: baseEnvironment, directory: configuration.workingDirectory, timeout: remaining, limit: room)
            guard let result else {
                return .failure(.failed, .spawnFailed, "/bin/sh could not be started", startedAt: started, finishedAt: unixMilliseconds())
            }
            var stdout = String(decoding: result.stdout, as: UTF8.self)
            used += result.stdout.count
            if result.stdoutTruncated && !truncated {
                truncated = true
                stdout += ToolCallOutcome.truncationMark(at: limit)
            }
            let stderrRoom = max(limit - used, 0)
            let stderrBytes = result.stderrTail.suffix(stderrRoom)
            used += stderrBytes.count
            let outcome: JSONValue
            memoryLimitHit = memoryLimitHit || result.memoryLimitHit
            switch result.termination {
            case .timedOut:
                timedOut = true
                outcome = ["type": "timeout"]
            case .exited(let code):
                lastExit = code
                outcome = ["type": "exit", "exit_code": .int(Int64(code))]
            case .signaled(let signal):
                lastExit = 128 + signal
                outcome = ["type": "exit", "exit_code": .int(Int64(128 + signal))]
            }
            chunks.append(["stdout": .string(stdout), "stderr": .string(String(decoding: stderrBytes, as: UTF8.self)), "outcome": outcome])
            if timedOut || memoryLimitHit { break }
        }
        if memoryLimitHit {
            chunks.append(["stdout": "", "stderr": .string(Sandbox.memoryMessage(configuration.limits)), "outcome": ["type": "exit", "exit_code": 137]])
            return ToolCallOutcome(
                state: .failed, error: .oom, output: JSONValue.array(chunks).serialized(), outputTruncated: truncated, exitCode: 137,
                startedAt: started, finishedAt: unixMilliseconds())
        }
        return ToolCallOutcome(
            state: timedOut ? .timedOut : .succeeded, output: JSONValue.array(chunks).serialized(), outputTruncated: truncated,
            exitCode: timedOut ? nil : lastExit, startedAt: started, finishedAt: unixMilliseconds())
    }

    /// `local_shell_call`: one argv (found on PATH), in the configured folder or one inside it, with the action's
    /// environment over the base one.
    func runLocal(_ action: JSONObject, timeout: Duration, limit: Int, started: Int64) async throws(CancellationError) -> ToolCallOutcome {
        let argv = (action["command"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard !argv.isEmpty else {
            return .failure(.failed, .invalidArguments, "The local_shell action has no command.", startedAt: started, finishedAt: unixMilliseconds())
        }
        var directory = configuration.workingDirectory
        if let asked = action["working_directory"]?.stringValue, !asked.isEmpty {
            guard let inside = Self.confined(asked, to: configuration.workingDirectory) else {
                return .failure(
                    .failed, .invalidArguments, "The working directory \(asked) is outside \(configuration.workingDirectory); the command was not run.",
                    startedAt: started, finishedAt: unixMilliseconds())
            }
            directory = inside
        }
        // The action's `env` is applied by the innermost `env -i`, inside the sandbox: the processes that set the
        // call up (the control group join, bubblewrap) run with the daemon's base environment only. Loader variables
        // are refused outright: the model never chooses what a dynamic loader loads.
        var environment = baseEnvironment
        for (key, value) in configuration.environment { environment[key] = value }
        for (key, value) in action["env"]?.objectValue ?? [:] {
            guard let text = value.stringValue else { continue }
            if let reason = Self.refusedVariable(key, value: text) {
                return .failure(.failed, .invalidArguments, "\(reason); the command was not run.", startedAt: started, finishedAt: unixMilliseconds())
            }
            environment[key] = text
        }
        guard !argv[0].contains("=") else {
            return .failure(.failed, .invalidArguments, "The command name '\(argv[0])' contains '='; the command was not run.", startedAt: started, finishedAt: unixMilliseconds())
        }
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let inner = ["/usr/bin/env", "-i", "--"] + assignments + argv
        guard let result = try await run(inner, environment: baseEnvironment, directory: directory, timeout: timeout, limit: limit) else {
            return .failure(.failed, .spawnFailed, "\(argv[0]) could not be started", startedAt: started, finishedAt: unixMilliseconds())
        }
        var text = String(decoding: result.stdout, as: UTF8.self) + String(decoding: result.stderrTail, as: UTF8.self)
        if result.stdoutTruncated { text += ToolCallOutcome.truncationMark(at: limit) }
        if result.memoryLimitHit { text += "\n[ToolWorker: \(Sandbox.memoryMessage(configuration.limits))]" }
        let exitCode: Int
        switch result.termination {
        case .exited(let code): exitCode = code
        case .signaled(let signal): exitCode = 128 + signal
        case .timedOut: exitCode = 124
        }
        let seconds = Double(unixMilliseconds() - started) / 1000
        let output: JSONValue = ["output": .string(text), "metadata": ["exit_code": .int(Int64(exitCode)), "duration_seconds": .double(seconds)]]
        return ToolCallOutcome(
            state: result.memoryLimitHit ? .failed : result.termination == .timedOut ? .timedOut : .succeeded,
            error: result.memoryLimitHit ? .oom : nil, output: output.serialized(), outputTruncated: result.stdoutTruncated,
            exitCode: exitCode, startedAt: started, finishedAt: unixMilliseconds())
    }

    /// One process, its own group; `nil` when it could not start.
    func run(_ command: [String], environment: [String: String], directory: String, timeout: Duration, limit: Int) async throws(CancellationError) -> HandlerRunner.Result? {
        var environment = environment
        for (key, value) in configuration.environment where environment[key] == nil { environment[key] = value }
        do {
            let result = try await runner.run(
                command: command, stdin: "", environment: environment, workingDirectory: directory, timeout: timeout, maxOutputBytes: limit,
                sandbox: sandbox)
            if HandlerProcessGroups.isStopping { throw CancellationError() }
            return result
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            return nil
        }
    }

    /// Why the model may not set `name` in a call's environment, or `nil` when it may: not a shell variable name,
    /// or a variable that changes what the dynamic loader or the C library loads (`LD_*`, `GCONV_PATH`, …).
    static func refusedVariable(_ name: String, value: String) -> String? {
        let valid = !name.isEmpty && name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
            && !(0x30...0x39).contains(name.utf8.first!)
        guard valid else { return "The environment variable name '\(name.prefix(64))' is not a valid name" }
        guard !value.contains("\0") else { return "The environment variable \(name) holds a NUL byte" }
        let loader = ["GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE", "NIS_PATH", "NLSPATH",
            "RESOLV_HOST_CONF", "RES_OPTIONS", "TZDIR", "GLIBC_TUNABLES", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS"]
        if name.hasPrefix("LD_") || name.hasPrefix("MALLOC_") || loader.contains(name) {
            return "The environment variable \(name) may not be set by a call (it changes what the loader, the C library or the shell runs)"
        }
        return nil
    }

    /// `path` (absolute, or relative to `root`) with its symlinks resolved, if it lies inside `root`; else `nil`.
    static func confined(_ path: String, to root: String) -> String? {
        let base = URL(fileURLWithPath: root).resolvingSymlinksInPath().standardizedFileURL.path
        let asked = path.hasPrefix("/") ? path : base + "/" + path
        let resolved = URL(fileURLWithPath: asked).resolvingSymlinksInPath().standardizedFileURL.path
        return resolved == base || resolved.hasPrefix(base + "/") ? resolved : nil
    }
}
