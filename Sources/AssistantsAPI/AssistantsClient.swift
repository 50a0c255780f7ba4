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
    public let configuration: AssistantsClientConfiguration
    private let http: HTTPClient
    private let logger: Logger

    /// - Parameter logger: where retries are reported (never with the API key: requests are described redacted).
    public init(configuration: AssistantsClientConfiguration, http: HTTPClient? = nil, logger: Logger? = nil) {
        self.configuration = configuration
        self.http = http ?? HTTPClient(configuration: configuration.http)
        self.logger = logger ?? Logger(label: "toolworker.client") { _ in SwiftLogNoOpLogHandler() }
    }

    // MARK: Streaming

    /// `POST /threads/runs`: creates a thread and a run on it. `body` needs at least `assistant_id`.
    public func createThreadAndRun(_ body: JSONObject) async throws(AssistantsError) -> EventStreamResponse {
        try await stream(path: "/threads/runs", body: body)
    }

    /// `POST /threads/{thread_id}/runs`.
    public func createRun(threadID: String, _ body: JSONObject) async throws(AssistantsError) -> EventStreamResponse {
        try await stream(path: "/threads/\(try pathID(threadID))/runs", body: body)
    }

    /// `POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs` with every output of the round at once.
    public func submitToolOutputs(
        threadID: String, runID: String, outputs: [ToolOutput]
    ) async throws(AssistantsError) -> EventStreamResponse {
        let entries: [JSONValue] = outputs.map { ["tool_call_id": .string($0.toolCallID), "output": .string($0.output)] }
        return try await stream(
            path: "/threads/\(try pathID(threadID))/runs/\(try pathID(runID))/submit_tool_outputs",
            body: JSONObject([("tool_outputs", .array(entries))]))
    }

    // MARK: Plain requests

    /// `POST /threads`: an empty thread (runs are created on theirs, so a crash or a lost answer can never leave a
    /// run nobody can find). Retried like an idempotent request: a repeat can at worst leave an empty, unused thread.
    public func createThread(metadata: JSONObject = [:]) async throws(AssistantsError) -> AssistantThread {
        AssistantThread(json: try await json(.post, "/threads", body: ["metadata": .object(metadata)], idempotent: true))
    }

    /// `GET /threads/{thread_id}/runs/{run_id}`.
    public func retrieveRun(threadID: String, runID: String) async throws(AssistantsError) -> Run {
        Run(json: try await json(.get, "/threads/\(try pathID(threadID))/runs/\(try pathID(runID))", idempotent: true))
    }

    /// `POST /threads/{thread_id}/runs/{run_id}/cancel`.
    public func cancelRun(threadID: String, runID: String) async throws(AssistantsError) -> Run {
        Run(json: try await json(.post, "/threads/\(try pathID(threadID))/runs/\(try pathID(runID))/cancel", body: JSONObject(), idempotent: true))
    }

    /// `GET /threads/{thread_id}/runs/{run_id}/steps`, every page, oldest first.
    public func listRunSteps(threadID: String, runID: String) async throws(AssistantsError) -> [RunStep] {
        try await list("/threads/\(try pathID(threadID))/runs/\(try pathID(runID))/steps").map(RunStep.init(json:))
    }

    /// `GET /threads/{thread_id}/messages`, oldest first, optionally only those of one run.
    public func listMessages(threadID: String, runID: String? = nil) async throws(AssistantsError) -> [Message] {
        var query = ""
        if let runID { query = "run_id=\(try pathID(runID))" }
        return try await list("/threads/\(try pathID(threadID))/messages", query: query).map(Message.init(json:))
    }

    /// `GET /threads/{thread_id}/runs`, oldest first (at most `maxPages` pages of 100).
    public func listRuns(threadID: String, maxPages: Int = 5) async throws(AssistantsError) -> [Run] {
        try await list("/threads/\(try pathID(threadID))/runs", maxPages: maxPages).map(Run.init(json:))
    }

    /// `GET /assistants/{assistant_id}`.
    public func retrieveAssistant(id: String) async throws(AssistantsError) -> JSONValue {
        try await json(.get, "/assistants/\(try pathID(id))", idempotent: true)
    }

    /// `POST /assistants/{assistant_id}`: replaces the fields given (for example `tools`).
    public func updateAssistant(id: String, _ body: JSONObject) async throws(AssistantsError) -> JSONValue {
        try await json(.post, "/assistants/\(try pathID(id))", body: body, idempotent: true)
    }

    // MARK: Plumbing

    private func pathID(_ id: String) throws(AssistantsError) -> String {
        let allowed = id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        guard !id.isEmpty, allowed, id != ".", id != ".." else {
            throw .invalidArgument("'\(id)' is not a valid object id")
        }
        return id
    }

    func makeRequest(_ method: HTTPRequest.Method, _ path: String, query: String = "", body: JSONObject?, streaming: Bool) -> HTTPRequest {
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        var headers: [(name: String, value: String)] = [
            ("Authorization", "Bearer \(configuration.apiKey)"),
            ("OpenAI-Beta", "assistants=v2"),
            ("User-Agent", "ToolWorker/\(ToolWorkerVersion.string)"),
            ("Accept", streaming ? "text/event-stream" : "application/json"),
        ]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        if let organization = configuration.organization { headers.append(("OpenAI-Organization", organization)) }
        if let project = configuration.project { headers.append(("OpenAI-Project", project)) }
        return HTTPRequest(
            method: method, url: base + path + (query.isEmpty ? "" : "?" + query), headers: headers,
            body: body.map { Array(JSONValue.object($0).serialized().utf8) }, responseSecret: configuration.apiKey)
    }

    private func stream(path: String, body: JSONObject) async throws(AssistantsError) -> EventStreamResponse {
        var body = body
        body["stream"] = true
        let request = makeRequest(.post, path, body: body, streaming: true)
        let (head, responseBody) = try await perform(request, idempotent: false, streaming: true)
        // An HTML error page or a JSON object with status 200 (a proxy, a server that ignores `stream`) is not a
        // stream that "dropped": say what came instead.
        let contentType = head.value(of: "content-type") ?? ""
        guard contentType.lowercased().hasPrefix("text/event-stream") else {
            let sample = (try? await responseBody.collect(upTo: 64 * 1024)) ?? []
            let text = String(decoding: sample.prefix(200), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            throw .invalidResponse(
                "POST \(path): expected an event stream (Content-Type: text/event-stream), got HTTP \(head.status) with "
                    + "Content-Type '\(contentType.isEmpty ? "none" : contentType)': \(text)")
        }
        return EventStreamResponse(
            requestID: head.value(of: "x-request-id"), body: responseBody, maxFrameBytes: configuration.maxFrameBytes)
    }

    private func json(
        _ method: HTTPRequest.Method, _ path: String, query: String = "", body: JSONObject? = nil, idempotent: Bool
    ) async throws(AssistantsError) -> JSONValue {
        let request = makeRequest(method, path, query: query, body: body, streaming: false)
        let (_, responseBody) = try await perform(request, idempotent: idempotent, streaming: false)
        let bytes: [UInt8]
        do {
            bytes = try await responseBody.collect(upTo: 64 * 1024 * 1024)
        } catch let error as TransportError {
            throw .transport(error)
        } catch {
            throw .cancelled
        }
        do {
            let value = try JSONValue(parsing: bytes)
            guard value.objectValue != nil else { throw AssistantsError.invalidResponse("\(path): not a JSON object") }
            return value
        } catch let error as JSONParseError {
            throw .invalidResponse("\(path): \(error)")
        } catch {
            throw .invalidResponse("\(path): not a JSON object")
        }
    }

    private func list(_ path: String, query: String = "", maxPages: Int = 20) async throws(AssistantsError) -> [JSONValue] {
        var items: [JSONValue] = []
        var after: String?
        for _ in 0..<maxPages {
            var parts = ["limit=100", "order=asc"]
            if !query.isEmpty { parts.append(query) }
            if let after { parts.append("after=\(after)") }
            let page = try await json(.get, path, query: parts.joined(separator: "&"), idempotent: true)
            let data = page["data"]?.arrayValue ?? []
            items += data
            guard page["has_more"]?.boolValue == true, let last = page["last_id"]?.stringValue ?? data.last?["id"]?.stringValue
            else { break }
            after = try pathID(last)
        }
        return items
    }

    /// The request as a bounded metric label: the method and the path with every id replaced by `{id}`
    /// (`POST /threads/{id}/runs`), never an id itself.
    static func endpointLabel(_ request: HTTPRequest) -> String {
        let literals: Set<Substring> = ["threads", "runs", "steps", "messages", "submit_tool_outputs", "cancel", "assistants"]
        var path = request.url
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        let marker = "/threads"
        let start = path.range(of: marker)?.lowerBound ?? path.range(of: "/assistants")?.lowerBound
        let tail = start.map { path[$0...] } ?? "/"
        let parts = tail.split(separator: "/").map { literals.contains($0) ? String($0) : "{id}" }
        return "\(request.method.rawValue) /\(parts.joined(separator: "/"))"
    }

    /// Sends with retries; returns only a 2xx head with its unread body.
    func perform(
        _ request: HTTPRequest, idempotent: Bool, streaming: Bool
    ) async throws(AssistantsError) -> (HTTPResponseHead, ResponseBody) {
        let policy = configuration.retry
        let endpoint = Self.endpointLabel(request)
        var attempt = 0
        while true {
            var waitHead: HTTPResponseHead?
            var reason = ""
            do {
                let (head, body) = try await http.start(request, streaming: streaming)
                Counter(label: "toolworker_http_requests_total", dimensions: [("endpoint", endpoint), ("status", String(head.status))]).increment()
                if (200..<300).contains(head.status) { return (head, body) }
                let bytes = (try? await body.collect(upTo: 1024 * 1024)) ?? []
                let error = APIError(head: head, body: bytes)
                guard attempt < policy.maxRetries, policy.shouldRetry(status: head.status, idempotent: idempotent) else {
                    throw AssistantsError.api(error)
                }
                waitHead = head
                reason = error.description
            } catch let error as AssistantsError {
                throw error
            } catch let error as TransportError {
                if error.kind == .cancelled && Task.isCancelled { throw .cancelled }
                Counter(label: "toolworker_http_requests_total", dimensions: [("endpoint", endpoint), ("status", "transport_error")]).increment()
                guard attempt < policy.maxRetries, policy.shouldRetry(error, idempotent: idempotent) else {
                    throw .transport(error)
                }
                reason = error.description
            } catch {
                throw .cancelled
            }
            let delay = policy.delay(attempt: attempt, head: waitHead)
            Counter(label: "toolworker_http_retries_total", dimensions: [("reason", waitHead.map { "http_\($0.status)" } ?? "transport")]).increment()
            logger.notice("retrying request", metadata: [
                "request": "\(request.method.rawValue) \(request.url)", "attempt": "\(attempt + 1)",
                "delay_ms": "\(delay.milliseconds)",
                "reason": "\(reason)",
            ])
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .cancelled
            }
            attempt += 1
        }
    }
}
