import Foundation
import Instrumentation
import Tracing
import WireFormat
import WorkModel

/// Who a tool call belongs to, as its handler sees it in the environment.
public struct ToolCallContext: Sendable {
    public var runID: String
    public var threadID: String

    public init(runID: String, threadID: String) {
        self.runID = runID
        self.threadID = threadID
    }
}

/// Turns a tool call into an outcome, whatever its source: looks up the tool's executor in the registry, checks
/// the arguments, runs it under the global `tool_calls` limit, and answers a call no tool takes with a clear error.
public struct ToolDispatcher: Sendable {
    public private(set) var registry: ToolRegistry
    let limiter: AsyncSemaphore
    /// The `concurrency.tool_calls` limit: calls executing at once across all rounds.
    public let maxConcurrentCalls: Int
    /// Values no output may carry to the journal or the server (the API key): replaced by `[REDACTED]` in every
    /// outcome, whatever tool produced it.
    public var secrets: [String] = []
    /// Whether a call's arguments and output go on its `execute_tool` span
    /// (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`).
    public var tracesContent = false

    public init(registry: ToolRegistry, maxConcurrentCalls: Int) {
        self.registry = registry
        self.limiter = AsyncSemaphore(maxConcurrentCalls)
        self.maxConcurrentCalls = maxConcurrentCalls
    }

    /// What to do for `call` in a round, given what the journal holds for it from before (a crash, a failed
    /// submit): the one place that decides between reusing, running and answering "interrupted".
    public func plan(_ call: ResolvedCall, previous: PreviousAttempt?) -> RoundPlan {
        guard let previous else { return .run }
        if let output = previous.output { return .reuse(output: output) }
        if previous.state == .running && call.executor?.onRestart == .fail { return .answerInterrupted }
        return .run
    }

    /// The same dispatcher (same `tool_calls` limit) with another registry: a reload.
    public func replacingRegistry(_ registry: ToolRegistry) -> ToolDispatcher {
        var copy = self
        copy.registry = registry
        return copy
    }

    /// Runs one call.
    /// - Parameter deadline: the latest the call may run (the run's `expires_at` less a margin); the tool's own
    ///   time-out is shortened to fit.
    /// - Throws: `CancellationError` only: a call cancelled while waiting for its permit or while it runs (a
    ///   shutdown whose grace is over) has no outcome, so it stays `running` and `on_restart` decides.
    public func execute(
        _ call: ToolCall, context: ToolCallContext, deadline: ContinuousClock.Instant? = nil
    ) async throws(CancellationError) -> ToolCallOutcome {
        try await execute(registry.resolve(call), context: context, deadline: deadline)
    }

    /// Runs one call whose executor was resolved already (``ToolRegistry/resolve(_:)``), inside its `execute_tool`
    /// span (OpenTelemetry GenAI conventions: `gen_ai.tool.name`, `gen_ai.tool.call.id`, `error.type` for a call
    /// that failed, timed out or ran out of memory; what the tool source noted).
    public func execute(
        _ resolved: ResolvedCall, context: ToolCallContext, deadline: ContinuousClock.Instant? = nil, live: (any LiveOutputSink)? = nil
    ) async throws(CancellationError) -> ToolCallOutcome {
        let call = resolved.call
        let span = startSpan("execute_tool \(call.name)", ofKind: .internal)
        defer { span.end() }
        span.attributes["gen_ai.operation.name"] = "execute_tool"
        span.attributes["gen_ai.tool.name"] = call.name
        span.attributes["gen_ai.tool.call.id"] = call.id
        span.attributes["gen_ai.tool.type"] = call.kind == .function ? "function" : "extension"
        if tracesContent { span.attributes["gen_ai.tool.call.arguments"] = call.arguments }
        let notes = SpanNotes()
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(span.context, into: &carrier, using: DictionaryInjector())
        let traceparent = carrier["traceparent"]
        let result = await InstrumentationContext.withValue(span.context) { () async -> Result<ToolCallOutcome, CancellationError> in
            do { return .success(try await run(resolved, context: context, deadline: deadline, traceparent: traceparent, notes: notes, live: live)) } catch {
                return .failure(CancellationError())
            }
        }
        let outcome = try result.get()
        for (key, value) in notes.all { span.attributes[key] = value }
        span.attributes["toolworker.tool_call.state"] = outcome.state.rawValue
        if let exit = outcome.exitCode { span.attributes["process.exit.code"] = exit }
        if tracesContent { span.attributes["gen_ai.tool.call.result"] = outcome.output }
        if outcome.state != .succeeded {
            span.attributes["error.type"] = outcome.error?.rawValue ?? outcome.state.rawValue
            span.setStatus(SpanStatus(code: .error, message: outcome.error?.rawValue))
        }
        return outcome
    }

    private func run(
        _ resolved: ResolvedCall, context: ToolCallContext, deadline: ContinuousClock.Instant?, traceparent: String?, notes: SpanNotes,
        live: (any LiveOutputSink)?
    ) async throws(CancellationError) -> ToolCallOutcome {
        let call = resolved.call
        let started = unixMilliseconds()
        func failure(_ kind: ToolCallOutcome.ErrorKind, _ message: String) -> ToolCallOutcome {
            ToolCallOutcome.failure(.failed, kind, message, startedAt: started, finishedAt: unixMilliseconds())
        }
        guard let executor = resolved.executor else {
            return failure(.unknownTool, "No handler is registered for the tool '\(call.name)'. Registered tools: \(registry.names.joined(separator: ", ")).")
        }
        guard executor.definition.kind == call.kind else {
            return failure(
                .unknownTool,
                "The tool '\(call.name)' is registered as a \(executor.definition.kind.rawValue) tool, not a \(call.kind.rawValue) tool; the handler was not started.")
        }
        var arguments = call.arguments
        if call.kind == .function {
            if arguments.allSatisfy(\.isWhitespace) { arguments = "{}" }
            do {
                _ = try JSONValue(parsing: arguments)
            } catch {
                return failure(.invalidArguments, "The arguments are not valid JSON (\(error)); the handler was not started.")
            }
        }
        var prepared = ToolExecution(context: context, deadline: deadline)
        prepared.traceparent = traceparent
        prepared.spanNotes = notes
        prepared.liveOutput = live
        let execution = prepared
        let input = arguments
        var outcome: ToolCallOutcome
        do {
            outcome = try await limiter.withPermit { () async throws -> ToolCallOutcome in
                try await executor.execute(call, arguments: input, execution: execution)
            }
        } catch {
            throw CancellationError()
        }
        for secret in secrets where secret.utf8.count >= 6 && outcome.output.contains(secret) {
            outcome.output = outcome.output.replacingOccurrences(of: secret, with: "[REDACTED]")
        }
        return outcome
    }
}

/// Writes a context's propagation fields (`traceparent`, `tracestate`) into a dictionary.
public struct DictionaryInjector: Injector {
    public init() {}
    public func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
