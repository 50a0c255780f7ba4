import WorkModel
import WireFormat
import Foundation

/// Who a tool call belongs to, as its handler sees it in the environment.
public struct ToolCallContext: Sendable {
    public var runID: String
    public var threadID: String

    public init(runID: String, threadID: String) {
        self.runID = runID
        self.threadID = threadID
    }
}

/// Turns a tool call into an outcome: looks up the handler, checks the arguments, runs the process under the
/// global `tool_calls` limit, and maps every way it can go wrong to a clear error output for the model.
public struct ToolDispatcher: Sendable {
    public private(set) var registry: ToolRegistry
    let limiter: AsyncSemaphore
    /// The `concurrency.tool_calls` limit: handler processes at once across all rounds.
    public let maxConcurrentCalls: Int
    var runner = HandlerRunner()
    /// Variables every handler gets (besides `TOOLWORKER_*` and the tool's own `env`).
    var baseEnvironment: [String: String]

    public init(registry: ToolRegistry, maxConcurrentCalls: Int, inheritedEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        self.registry = registry
        self.limiter = AsyncSemaphore(maxConcurrentCalls)
        self.maxConcurrentCalls = maxConcurrentCalls
        var base = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"]
        for key in ["HOME", "TZ", "TMPDIR"] { if let value = inheritedEnvironment[key] { base[key] = value } }
        self.baseEnvironment = base
    }

    /// What to do for `call` in a round, given what the journal holds for it from before (a crash, a failed
    /// submit): the one place that decides between reusing, running and answering "interrupted".
    public func plan(_ call: ToolCall, previous: PreviousAttempt?) -> RoundPlan {
        guard let previous else { return .run }
        if let output = previous.output { return .reuse(output: output) }
        if previous.state == .running && registry.handler(for: call.name)?.onRestart == .fail { return .answerInterrupted }
        return .run
    }

    /// The same dispatcher (same `tool_calls` limit, same environment) with another registry: a reload.
    public func replacingRegistry(_ registry: ToolRegistry) -> ToolDispatcher {
        var copy = self
        copy.registry = registry
        return copy
    }

    /// Runs one call.
    /// - Parameter deadline: the latest the handler may run (the run's `expires_at` less a margin); the tool's own
    ///   time-out is shortened to fit.
    /// - Throws: `CancellationError` only: a call cancelled while waiting for its permit or while its handler runs
    ///   (a shutdown whose grace is over) has no outcome, so it stays `running` and `on_restart` decides.
    public func execute(
        _ call: ToolCall, context: ToolCallContext, deadline: ContinuousClock.Instant? = nil
    ) async throws(CancellationError) -> ToolCallOutcome {
        let started = unixMilliseconds()
        func failure(_ state: ToolCallState, _ kind: ToolCallOutcome.ErrorKind, _ message: String, exitCode: Int? = nil, signal: Int? = nil, stderr: String? = nil) -> ToolCallOutcome {
            ToolCallOutcome.failure(
                state, kind, message, exitCode: exitCode, signal: signal, stderr: stderr, startedAt: started, finishedAt: unixMilliseconds())
        }
        guard let tool = registry.handler(for: call.name) else {
            return failure(.failed, .unknownTool, "No handler is registered for the tool '\(call.name)'. Registered tools: \(registry.names.joined(separator: ", ")).")
        }
        var arguments = call.arguments
        if arguments.allSatisfy(\.isWhitespace) { arguments = "{}" }
        do {
            _ = try JSONValue(parsing: arguments)
        } catch {
            return failure(.failed, .invalidArguments, "The arguments are not valid JSON (\(error)); the handler was not started.")
        }
        var timeout = tool.timeout
        if let deadline {
            let remaining = deadline - .now
            timeout = max(.seconds(1), min(timeout, remaining))
        }
        var environment = baseEnvironment
        for (key, value) in tool.environment { environment[key] = value }
        environment["TOOLWORKER_TOOL_NAME"] = call.name
        environment["TOOLWORKER_TOOL_CALL_ID"] = call.id
        environment["TOOLWORKER_RUN_ID"] = context.runID
        environment["TOOLWORKER_THREAD_ID"] = context.threadID
        let commandEnvironment = environment
        let limit = tool.maxOutputBytes
        let runner = self.runner
        let input = arguments
        let callTimeout = timeout
        let result: HandlerRunner.Result
        do {
            result = try await limiter.withPermit {
                try await runner.run(
                    command: tool.command, stdin: input, environment: commandEnvironment,
                    workingDirectory: tool.workingDirectory, timeout: callTimeout, maxOutputBytes: limit)
            }
        } catch {
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            return failure(.failed, .spawnFailed, "The handler could not be started: \(error)")
        }
        // Stopped because this process is stopping: not the handler's own outcome.
        if HandlerProcessGroups.isStopping { throw CancellationError() }
        let stderr = String(decoding: result.stderrTail, as: UTF8.self)
        var stdout = String(decoding: result.stdout, as: UTF8.self)
        switch result.termination {
        case .timedOut:
            return failure(.timedOut, .timeout, "The handler did not finish within \(timeout.description) and was stopped.", stderr: stderr)
        case .signaled(let signal):
            return failure(.failed, .killedBySignal, "The handler was killed by signal \(signal).", signal: signal, stderr: stderr)
        case .exited(let code) where code != 0:
            return failure(.failed, .nonzeroExit, "The handler exited with status \(code).", exitCode: code, stderr: stderr)
        case .exited:
            if result.stdoutTruncated {
                stdout += "\n[ToolWorker: output truncated at \(limit) bytes]"
            }
            return ToolCallOutcome(
                state: .succeeded, output: stdout, outputTruncated: result.stdoutTruncated, exitCode: 0,
                stderrTail: stderr.isEmpty ? nil : stderr, startedAt: started, finishedAt: unixMilliseconds())
        }
    }
}
