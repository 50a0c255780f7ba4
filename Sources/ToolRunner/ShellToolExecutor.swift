import Foundation
import WireFormat
import WorkModel

/// A tool answered by a local program (usually a shell script): the arguments JSON on stdin, stdout is the output,
/// exit 0 is success, run in its own process group under the tool's time-out and output cap (``HandlerRunner``).
public struct ShellToolExecutor: ToolExecutor {
    public let configuration: ToolHandlerConfig
    var runner = HandlerRunner()
    /// Variables every handler gets (besides `TOOLWORKER_*` and the tool's own `env`): never the daemon's whole
    /// environment, which holds the API key.
    let baseEnvironment: [String: String]
    /// The sandbox every call runs in, when the tool has `limits`.
    let sandbox: Sandbox?

    /// - Parameter sandboxHost: what this host enforces; needed when the tool has `limits`.
    public init(
        _ configuration: ToolHandlerConfig, sandboxHost: SandboxHost? = nil,
        inheritedEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.configuration = configuration
        self.baseEnvironment = Self.baseEnvironment(inheriting: inheritedEnvironment)
        self.sandbox = Sandbox(limits: configuration.limits, host: sandboxHost)
    }

    /// What every process ToolWorker starts for a model gets: PATH, LANG, and HOME, TZ, TMPDIR when the daemon has
    /// them; never the rest of the daemon's environment (it holds the API key).
    public static func baseEnvironment(inheriting inherited: [String: String]) -> [String: String] {
        var base = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"]
        for key in ["HOME", "TZ", "TMPDIR"] { if let value = inherited[key] { base[key] = value } }
        return base
    }

    public var definition: ToolDefinition {
        ToolDefinition(
            name: configuration.name, description: configuration.description, parameters: configuration.parameters,
            kind: configuration.kind, format: configuration.format)
    }

    public var policy: ToolPolicy { configuration.policy }

    public var handlerDescription: String { configuration.command.joined(separator: " ") }

    public var listingDetails: JSONObject { ["command": .array(configuration.command.map(JSONValue.string))] }

    public func execute(_ call: ToolCall, arguments: String, execution: ToolExecution) async throws(CancellationError) -> ToolCallOutcome {
        let started = unixMilliseconds()
        func failure(
            _ state: ToolCallState, _ kind: ToolCallOutcome.ErrorKind, _ message: String, exitCode: Int? = nil, signal: Int? = nil,
            stderr: String? = nil
        ) -> ToolCallOutcome {
            ToolCallOutcome.failure(
                state, kind, message, exitCode: exitCode, signal: signal, stderr: stderr, startedAt: started, finishedAt: unixMilliseconds())
        }
        let tool = configuration
        let timeout = tool.policy.callTimeout(execution)
        var environment = baseEnvironment
        for (key, value) in tool.environment { environment[key] = value }
        environment["TOOLWORKER_TOOL_NAME"] = call.name
        environment["TOOLWORKER_TOOL_CALL_ID"] = call.id
        environment["TOOLWORKER_RUN_ID"] = execution.context.runID
        environment["TOOLWORKER_THREAD_ID"] = execution.context.threadID
        if let traceparent = execution.traceparent { environment["TRACEPARENT"] = traceparent }
        let result: HandlerRunner.Result
        do {
            result = try await runner.run(
                command: tool.command, stdin: arguments, environment: environment, workingDirectory: tool.workingDirectory,
                timeout: timeout, maxOutputBytes: tool.maxOutputBytes, sandbox: sandbox, live: execution.liveOutput)
        } catch {
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            return failure(.failed, .spawnFailed, "The handler could not be started: \(error)")
        }
        // Stopped because this process is stopping: not the handler's own outcome.
        if HandlerProcessGroups.isStopping { throw CancellationError() }
        let stderr = String(decoding: result.stderrTail, as: UTF8.self)
        var stdout = String(decoding: result.stdout, as: UTF8.self)
        if result.memoryLimitHit {
            return failure(.failed, .oom, Sandbox.memoryMessage(configuration.limits), stderr: stderr)
        }
        switch result.termination {
        case .timedOut:
            return failure(.timedOut, .timeout, "The handler did not finish within \(timeout.description) and was stopped.", stderr: stderr)
        case .signaled(let signal):
            return failure(.failed, .killedBySignal, "The handler was killed by signal \(signal).", signal: signal, stderr: stderr)
        case .exited(let code) where code != 0:
            return failure(.failed, .nonzeroExit, "The handler exited with status \(code).", exitCode: code, stderr: stderr)
        case .exited:
            if result.stdoutTruncated {
                stdout += ToolCallOutcome.truncationMark(at: tool.maxOutputBytes)
            }
            return ToolCallOutcome(
                state: .succeeded, output: stdout, outputTruncated: result.stdoutTruncated, exitCode: 0,
                stderrTail: stderr.isEmpty ? nil : stderr, startedAt: started, finishedAt: unixMilliseconds())
        }
    }
}
