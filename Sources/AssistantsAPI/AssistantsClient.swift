import OpenAIClient
import WorkModel
import HTTPTransport
import AssistantsProtocol
import WireFormat
import CoreMetrics
import Logging

/// A client for the Assistants API v2 over libcurl.
///
/// Starting a run and submitting tool outputs always stream (`"stream": true`); the rest is plain JSON.
/// Requests are retried per ``RetryPolicy``; a stream is never retried once its response has begun.
public final class AssistantsClient: Sendable {
    /// The shared plumbing, sending `OpenAI-Beta: assistants=v2`.
    public let core: OpenAIHTTPClient
    public var configuration: OpenAIClientConfiguration { core.configuration }

    /// - Parameter logger: where retries are reported (never with the API key: requests are described redacted).
    public init(configuration: OpenAIClientConfiguration, http: HTTPClient? = nil, logger: Logger? = nil) {
        core = OpenAIHTTPClient(
            configuration: configuration, extraHeaders: [("OpenAI-Beta", "assistants=v2")], endpoints: Self.endpoints, http: http,
            logger: logger)
    }

    /// The Assistants API's path words (metric labels).
    public static let endpoints = EndpointVocabulary(
        roots: ["threads", "assistants"], words: ["runs", "steps", "messages", "submit_tool_outputs", "cancel"])

    private func pathID(_ id: String) throws(OpenAIClientError) -> String { try core.pathID(id) }

    private func stream(path: String, body: JSONObject, priority: RateLimiter.Priority = .answer) async throws(OpenAIClientError) -> EventStreamResponse {
        try await core.stream(path: path, body: body, priority: priority)
    }

    private func json(
        _ method: HTTPRequest.Method, _ path: String, query: String = "", body: JSONObject? = nil, idempotent: Bool
    ) async throws(OpenAIClientError) -> JSONValue {
        try await core.json(method, path, query: query, body: body, idempotent: idempotent)
    }

    private func list(_ path: String, query: String = "", maxPages: Int = 20) async throws(OpenAIClientError) -> [JSONValue] {
        try await core.list(path, query: query, maxPages: maxPages)
    }

    // MARK: Streaming

    /// `POST /threads/runs`: creates a thread and a run on it. `body` needs at least `assistant_id`.
    public func createThreadAndRun(_ body: JSONObject) async throws(OpenAIClientError) -> EventStreamResponse {
        try await stream(path: "/threads/runs", body: body, priority: .start)
    }

    /// `POST /threads/{thread_id}/runs`.
    public func createRun(threadID: String, _ body: JSONObject) async throws(OpenAIClientError) -> EventStreamResponse {
        try await stream(path: "/threads/\(try pathID(threadID))/runs", body: body, priority: .start)
    }

    /// `POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs` with every output of the round at once.
    public func submitToolOutputs(
        threadID: String, runID: String, outputs: [ToolOutput]
    ) async throws(OpenAIClientError) -> EventStreamResponse {
        let entries: [JSONValue] = outputs.map { ["tool_call_id": .string($0.toolCallID), "output": .string($0.output)] }
        return try await stream(
            path: "/threads/\(try pathID(threadID))/runs/\(try pathID(runID))/submit_tool_outputs",
            body: JSONObject([("tool_outputs", .array(entries))]))
    }

    // MARK: Plain requests

    /// `POST /threads`: an empty thread (runs are created on theirs, so a crash or a lost answer can never leave a
    /// run nobody can find). Retried like an idempotent request: a repeat can at worst leave an empty, unused thread.
    public func createThread(metadata: JSONObject = [:]) async throws(OpenAIClientError) -> AssistantThread {
        AssistantThread(json: try await json(.post, "/threads", body: ["metadata": .object(metadata)], idempotent: true))
    }

    /// `GET /threads/{thread_id}/runs/{run_id}`.
    public func retrieveRun(threadID: String, runID: String) async throws(OpenAIClientError) -> Run {
        Run(json: try await json(.get, "/threads/\(try pathID(threadID))/runs/\(try pathID(runID))", idempotent: true))
    }

    /// `POST /threads/{thread_id}/runs/{run_id}/cancel`.
    public func cancelRun(threadID: String, runID: String) async throws(OpenAIClientError) -> Run {
        Run(json: try await json(.post, "/threads/\(try pathID(threadID))/runs/\(try pathID(runID))/cancel", body: JSONObject(), idempotent: true))
    }

    /// `GET /threads/{thread_id}/runs/{run_id}/steps`, every page, oldest first.
    public func listRunSteps(threadID: String, runID: String) async throws(OpenAIClientError) -> [RunStep] {
        try await list("/threads/\(try pathID(threadID))/runs/\(try pathID(runID))/steps").map(RunStep.init(json:))
    }

    /// `GET /threads/{thread_id}/messages`, oldest first, optionally only those of one run.
    public func listMessages(threadID: String, runID: String? = nil, maxPages: Int = 20) async throws(OpenAIClientError) -> [Message] {
        var query = ""
        if let runID { query = "run_id=\(try pathID(runID))" }
        return try await list("/threads/\(try pathID(threadID))/messages", query: query, maxPages: maxPages).map(Message.init(json:))
    }

    /// `GET /threads/{thread_id}/runs`, oldest first (at most `maxPages` pages of 100).
    public func listRuns(threadID: String, maxPages: Int = 5) async throws(OpenAIClientError) -> [Run] {
        try await list("/threads/\(try pathID(threadID))/runs", maxPages: maxPages).map(Run.init(json:))
    }

    /// `GET /assistants/{assistant_id}`.
    public func retrieveAssistant(id: String) async throws(OpenAIClientError) -> JSONValue {
        try await json(.get, "/assistants/\(try pathID(id))", idempotent: true)
    }

    /// `POST /assistants/{assistant_id}`: replaces the fields given (for example `tools`).
    public func updateAssistant(id: String, _ body: JSONObject) async throws(OpenAIClientError) -> JSONValue {
        try await json(.post, "/assistants/\(try pathID(id))", body: body, idempotent: true)
    }

    // MARK: Plumbing
}
