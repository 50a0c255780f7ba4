import Instrumentation
import Tracing
import WorkModel

/// The loop's OpenTelemetry spans, after the GenAI semantic conventions (v1.37.0, development status): one
/// `invoke_agent` span per drive, a `chat` span (kind client) per model request from its sending to the end of its
/// stream, and — in the dispatcher — an `execute_tool` span per call. Journal ids ride along as `toolworker.*`
/// attributes. Without a bootstrapped tracer every span is a no-op.
extension RunDriver {
    /// The semantic conventions the spans follow.
    public static let genAIConventions = "1.37.0"

    /// Runs `body` (a whole drive) inside the loop's `invoke_agent` span.
    func inAgentSpan(
        _ request: RunRequest, runKey: Int64, resumedID: String?, _ body: () async throws -> RunOutcome
    ) async throws -> RunOutcome {
        let name = request.assistantID.isEmpty ? "invoke_agent" : "invoke_agent \(request.assistantID)"
        return try await withSpan(name, ofKind: .internal) { span in
            span.attributes["gen_ai.operation.name"] = "invoke_agent"
            span.attributes["gen_ai.provider.name"] = "openai"
            if !request.assistantID.isEmpty { span.attributes["gen_ai.agent.id"] = request.assistantID }
            if let model = request.model { span.attributes["gen_ai.request.model"] = model }
            if let thread = request.threadID { span.attributes["gen_ai.conversation.id"] = thread }
            span.attributes["toolworker.run_key"] = Int64(runKey)
            span.attributes["toolworker.protocol"] = request.protocolName
            span.attributes["toolworker.provider"] = request.provider ?? providers[0].name
            if let job = request.jobID { span.attributes["toolworker.job_id"] = job }
            if let resumedID { span.attributes["toolworker.resumed_run_id"] = resumedID }
            let outcome = try await body()
            if let id = outcome.runID { span.attributes["toolworker.run_id"] = id }
            if let thread = outcome.threadID { span.attributes["gen_ai.conversation.id"] = thread }
            span.attributes["toolworker.status"] = outcome.status.rawValue
            span.attributes["toolworker.rounds"] = Int64(outcome.rounds)
            if outcome.status != .completed && outcome.status != .suspended {
                span.attributes["error.type"] = outcome.errorCode ?? outcome.status.rawValue
                span.setStatus(SpanStatus(code: .error, message: outcome.detail.map { String($0.prefix(500)) }))
            }
            return outcome
        }
    }

    /// Opens the `chat` span of a model request about to be sent (`what`: start, submit, resume, resend); it stays
    /// open on the state until its stream ends (``endChat(_:state:)``) or the request fails.
    func beginChat(_ what: String, state: inout DriveState) -> any Span {
        endChat(nil, state: &state)
        let model = state.request.model
        let span = startSpan(model.map { "chat \($0)" } ?? "chat", ofKind: .client)
        span.attributes["gen_ai.operation.name"] = "chat"
        span.attributes["gen_ai.provider.name"] = "openai"
        if let model { span.attributes["gen_ai.request.model"] = model }
        span.attributes["toolworker.request"] = what
        span.attributes["toolworker.run_key"] = Int64(state.runKey)
        span.attributes["toolworker.stream"] = Int64(state.stream + 1)
        state.chatSpan = span
        state.chatTokens = (0, 0)
        return span
    }

    /// Ends the open `chat` span: with the response's id and usage, or with `error` (why the request failed).
    func endChat(_ error: LoopError?, state: inout DriveState) {
        guard let span = state.chatSpan else { return }
        state.chatSpan = nil
        if let id = state.loopID { span.attributes["gen_ai.response.id"] = id }
        if state.chatTokens.input > 0 || state.chatTokens.output > 0 {
            span.attributes["gen_ai.usage.input_tokens"] = state.chatTokens.input
            span.attributes["gen_ai.usage.output_tokens"] = state.chatTokens.output
        }
        if let error {
            span.attributes["error.type"] = error.code ?? error.status.map { String($0) } ?? "transport"
            span.setStatus(SpanStatus(code: .error, message: String(error.message.prefix(500))))
        }
        span.end()
    }

    /// Runs a model request with its `chat` span as the current context (the request carries its `traceparent`).
    func within<T>(_ span: any Span, _ body: () async throws(LoopError) -> T) async throws(LoopError) -> T {
        let result = await InstrumentationContext.withValue(span.context) { () async -> Result<T, LoopError> in
            do throws(LoopError) { return .success(try await body()) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
