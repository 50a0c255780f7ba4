import Foundation
import RunLoopCore
import Synchronization

/// A scripted Assistants API v2 server on 127.0.0.1 for tests and the demo.
///
/// It speaks the real endpoints and SSE framing, keeps run state (statuses, steps, messages, `expires_at`),
/// validates what clients send (`Authorization`, `OpenAI-Beta`, `tool_outputs` answering exactly the pending call
/// ids, run status) with OpenAI-style error bodies, injects scripted faults, and records every request.
public final class FakeAssistantsServer: Sendable {
    public let apiKey: String
    private let state: FakeState
    private let server: LoopbackHTTPServer

    /// Starts the server on 127.0.0.1 (`port` 0 picks a free one).
    public init(apiKey: String = "sk-fake-test-key", port: Int = 0, scenarios: [String: Scenario] = [:]) throws {
        self.apiKey = apiKey
        let state = FakeState(apiKey: apiKey, scenarios: Scenario.builtIn.merging(scenarios) { $1 })
        self.state = state
        self.server = try LoopbackHTTPServer(port: port) { request, writer in
            state.handle(request, writer)
        }
    }

    public var port: Int { server.port }
    /// The base URL to configure clients with, ending in `/v1`.
    public var baseURL: String { "http://127.0.0.1:\(server.port)/v1" }

    /// Runs of `assistantID` follow `scenario`.
    public func register(_ scenario: Scenario, for assistantID: String) {
        state.inner.withLock { $0.scenarios[assistantID] = scenario }
    }

    /// Every request received so far, in arrival order.
    public var requests: [ReceivedRequest] { state.inner.withLock { $0.requests } }

    /// The run as the server holds it now.
    public func run(_ id: String) -> JSONValue? { state.inner.withLock { $0.runs[id]?.json } }

    /// Makes `POST /threads` answer 404, like a server that only has create-thread-and-run.
    public func disableCreateThread() {
        state.inner.withLock { $0.createThreadDisabled = true }
    }

    /// How many tool outputs the run has taken, and how many submits for it were refused (a round answered
    /// twice, outputs for calls it did not wait for).
    public func submissions(_ runID: String) -> (accepted: Int, refused: Int) {
        state.inner.withLock { inner in (inner.runs[runID]?.outputs.count ?? 0, inner.refusedSubmits[runID] ?? 0) }
    }

    /// Makes `POST /v1/responses` refuse `background: true` (400), like a server without background mode.
    public func refuseBackground() {
        state.inner.withLock { $0.backgroundRefused = true }
    }

    /// The response as the server holds it now, and how often it was answered more than once.
    public func response(_ id: String) -> (object: JSONValue?, duplicateAnswers: Int, refused: Int) {
        state.inner.withLock { inner in
            (inner.responses[id].map { .object($0.object) }, inner.duplicateAnswers[id] ?? 0, inner.refusedSubmits[id] ?? 0)
        }
    }

    /// A conversation's items, in order (`nil` for one that does not exist).
    public func conversationItems(_ id: String) -> [JSONValue]? { state.inner.withLock { $0.conversations[id] } }

    /// How many frames the response's stream had (what a client reading it whole receives).
    public func responseFrameCount(_ id: String) -> Int { state.inner.withLock { $0.responses[id]?.frames.count ?? 0 } }

    /// Injects random faults into every later request (`nil` stops them).
    public func setChaos(_ chaos: ChaosFaults?) {
        state.inner.withLock { inner in
            inner.chaos = chaos
            inner.random = SeededGenerator(state: chaos?.seed ?? 0)
        }
    }

    /// Creates an empty thread and returns its id.
    public func makeThread() -> String {
        state.inner.withLock { inner in
            let id = inner.newID("thread")
            inner.threads[id] = []
            return id
        }
    }

    public func stop() { server.stop() }

    /// Rate-limits model requests (`POST` of a run, a submit, a response) from now on: `requestsPerWindow` per
    /// `window`, then 429 with `x-ratelimit-*` headers and, when given, `Retry-After`; every model request answered
    /// carries the headers. `quotaExhausted` answers every model request 429 `insufficient_quota`. `nil` lifts it.
    public func limitRate(_ mode: RateLimitMode?) {
        state.inner.withLock {
            $0.rateLimit = mode
            $0.rateWindow = nil
        }
    }

    /// Also accepts `key`, or refuses it with `status` and `code` (`402`/`insufficient_quota`: a key of several, refused
    /// on its own); `nil` status accepts it like the server's own key.
    public func acceptKey(_ key: String, refusing status: Int? = nil, code: String = "invalid_api_key") {
        state.inner.withLock { $0.otherKeys[key] = status.map { ($0, code) } ?? (0, "") }
    }

    /// Requests that came with `key` so far.
    public func requests(withKey key: String) -> Int {
        state.inner.withLock { $0.requests.filter { $0.headers["authorization"] == "Bearer \(key)" }.count }
    }

    /// Model requests refused with 429 so far.
    public var rateLimitedRequests: Int { state.inner.withLock { $0.rateLimited } }
}

/// Everything mutable of the fake server, behind one lock; streams are computed under it and written after.
final class FakeState: Sendable {
    struct Inner {
        var scenarios: [String: Scenario]
        var runs: [String: FakeRun] = [:]
        var threads: [String: [String]] = [:]
        var messages: [String: [JSONValue]] = [:]
        var assistants: [String: JSONValue] = [:]
        var counters: [RequestKind: Int] = [:]
        var requests: [ReceivedRequest] = []
        var nextID = 1
        var createThreadDisabled = false
        var chaos: ChaosFaults?
        var refusedSubmits: [String: Int] = [:]
        var responses: [String: FakeResponse] = [:]
        /// Conversations' items, in order.
        var conversations: [String: [JSONValue]] = [:]
        var answeredResponses: Set<String> = []
        /// Responses answered more than once (a second follow-up with the same previous_response_id).
        var duplicateAnswers: [String: Int] = [:]
        var backgroundRefused = false
        var random = SeededGenerator(state: 0)
        var rateLimit: RateLimitMode?
        /// The current window's start and the model requests taken in it.
        var rateWindow: (start: ContinuousClock.Instant, taken: Int)?
        var rateLimited = 0
        /// Keys besides the server's own: accepted (status 0) or refused with a status and code.
        var otherKeys: [String: (status: Int, code: String)] = [:]

        mutating func newID(_ prefix: String) -> String {
            defer { nextID += 1 }
            return "\(prefix)_\(String(format: "%06d", nextID))"
        }
    }

    let apiKey: String
    let inner: Mutex<Inner>

    init(apiKey: String, scenarios: [String: Scenario]) {
        self.apiKey = apiKey
        self.inner = Mutex(Inner(scenarios: scenarios))
    }

    typealias Frame = (name: String, data: String)

    /// What to send back, decided under the lock.
    enum Reply {
        case json(Int, JSONValue)
        case stream([Frame], Fault?, Duration)
        case html(String)
    }

    /// Whether the request asks a model for something (what a rate limit counts).
    static func isModelRequest(_ request: ReceivedRequest) -> Bool {
        request.method == "POST"
            && (request.path.hasSuffix("/runs") || request.path.hasSuffix("/submit_tool_outputs") || request.path.hasSuffix("/responses"))
    }

    /// Under a rate limit: the headers to send, and the 429 to answer instead when the window is used up.
    func rateLimit(_ request: ReceivedRequest, _ inner: inout Inner) -> (headers: [(String, String)], refusal: Reply?) {
        guard let mode = inner.rateLimit, Self.isModelRequest(request) else { return ([], nil) }
        if mode.quotaExhausted {
            inner.rateLimited += 1
            return ([], .json(429, errorBody(
                "You exceeded your current quota, please check your plan and billing details.", type: "insufficient_quota",
                code: "insufficient_quota")))
        }
        let now = ContinuousClock.now
        if let window = inner.rateWindow, now - window.start >= mode.window, !mode.resetsAfterRefusal { inner.rateWindow = nil }
        var window = inner.rateWindow ?? (now, 0)
        let resetMs = max(0, (mode.window - (now - window.start)).milliseconds)
        let reset = resetMs >= 1000 ? "\(resetMs / 1000)s" : "\(resetMs)ms"
        var headers: [(String, String)] = [("x-ratelimit-limit-requests", String(mode.requestsPerWindow)), ("x-ratelimit-reset-requests", reset)]
        if window.taken >= mode.requestsPerWindow {
            inner.rateWindow = mode.resetsAfterRefusal ? nil : window
            inner.rateLimited += 1
            headers.append(("x-ratelimit-remaining-requests", "0"))
            if !mode.sendsHeaders { headers = [] }
            if let after = mode.retryAfter { headers.append(("Retry-After", after)) }
            return (headers, .json(429, errorBody("Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded")))
        }
        window.taken += 1
        inner.rateWindow = window
        headers.append(("x-ratelimit-remaining-requests", String(mode.requestsPerWindow - window.taken)))
        return (mode.sendsHeaders ? headers : [], nil)
    }

    func handle(_ request: ReceivedRequest, _ writer: ResponseWriter) {
        let requestID = "req_\(UUID().uuidString.prefix(12))"
        let (rateHeaders, reply) = inner.withLock { inner -> ([(String, String)], Reply) in
            let limit = rateLimit(request, &inner)
            if let refusal = limit.refusal {
                inner.requests.append(request)
                return (limit.headers, refusal)
            }
            return (limit.headers, route(request, &inner))
        }
        switch reply {
        case .json(let status, let body):
            var headers = [("x-request-id", requestID)] + rateHeaders
            if status == 429 || status == 503, let after = body["retry_after"]?.stringValue {
                headers.append(("Retry-After", after))
            }
            var cleaned = body
            if case .object(var object) = body, object["retry_after"] != nil {
                object["retry_after"] = nil
                cleaned = .object(object)
            }
            writer.respondJSON(status: status, cleaned, headers: headers)
        case .html(let page):
            writer.respond(status: 200, headers: [("x-request-id", requestID)], body: Array(page.utf8), contentType: "text/html; charset=utf-8")
        case .stream(let frames, let fault, let delay):
            writer.startEventStream(headers: [("x-request-id", requestID)] + rateHeaders)
            for (index, frame) in frames.enumerated() {
                switch fault {
                case .trickle(_, _, let after)? where index == after:
                    while !writer.broken {
                        writer.sendChunk(Array(":".utf8))
                        Thread.sleep(forTimeInterval: 0.1)
                    }
                    return
                case .dropStream(_, _, let after)? where index == after:
                    writer.dropConnection()
                    return
                case .malformedFrame(_, _, let after)? where index == after:
                    writer.sendEvent(frame.name, "{\"id\": oops")
                case .errorEvent(_, _, let after)? where index == after:
                    writer.sendEvent("error", #"{"code":"server_error","message":"The server had an error while streaming.","param":null,"type":"server_error"}"#)
                    writer.endStream()
                    return
                case .stall(_, _, let after, let seconds)? where index == after:
                    Thread.sleep(forTimeInterval: seconds)
                    writer.dropConnection()
                    return
                default:
                    break
                }
                if delay > .zero { Thread.sleep(forTimeInterval: delay.seconds) }
                if frame.name.isEmpty {
                    writer.sendChunk(Array("data: \(frame.data)\n\n".utf8))  // `[DONE]`: no event line
                } else {
                    writer.sendEvent(frame.name, frame.data)
                }
                if writer.broken { return }
            }
            writer.endStream()
        }
    }

    // MARK: Routing

    private func route(_ request: ReceivedRequest, _ inner: inout Inner) -> Reply {
        inner.requests.append(request)
        if request.headers["authorization"] != "Bearer \(apiKey)" {
            let sent = request.headers["authorization"].map { String($0.dropFirst("Bearer ".count)) } ?? ""
            guard let other = inner.otherKeys[sent] else {
                return error(401, "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key")
            }
            if other.status != 0 {
                return error(other.status, "This key is refused (\(other.code)).", type: "invalid_request_error", code: other.code)
            }
        }
        let pathParts = request.path.split(separator: "/").map(String.init)
        if pathParts.count >= 2, pathParts[0] == "v1", pathParts[1] == "responses" {
            return routeResponses(request, Array(pathParts.dropFirst()), &inner)
        }
        if pathParts.count >= 2, pathParts[0] == "v1", pathParts[1] == "conversations" {
            return routeConversations(request, Array(pathParts.dropFirst()), &inner)
        }
        guard request.headers["openai-beta"] == "assistants=v2" else {
            return error(
                400,
                "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try again by setting the header 'OpenAI-Beta: assistants=v2'.",
                type: "invalid_request_error", code: "invalid_beta")
        }
        let parts = request.path.split(separator: "/").map(String.init)
        guard parts.first == "v1" else { return error(404, "Invalid URL (\(request.method) \(request.path))") }
        let p = Array(parts.dropFirst())
        let kind: RequestKind
        switch (request.method, p.count) {
        case ("POST", 2) where p == ["threads", "runs"]: kind = .create
        case ("POST", 3) where p[0] == "threads" && p[2] == "runs": kind = .create
        case ("POST", 5) where p[0] == "threads" && p[4] == "submit_tool_outputs": kind = .submit
        case ("POST", 5) where p[0] == "threads" && p[4] == "cancel": kind = .cancel
        case ("GET", 4) where p[0] == "threads" && p[2] == "runs": kind = .retrieve
        case ("GET", 5) where p[0] == "threads" && p[4] == "steps": kind = .listSteps
        case ("GET", 3) where p[0] == "threads" && p[2] == "messages": kind = .listMessages
        case ("GET", 3) where p[0] == "threads" && p[2] == "runs": kind = .listRuns
        case (_, 2) where p[0] == "assistants": kind = .assistant
        case ("POST", 1) where p == ["threads"] && inner.createThreadDisabled:
            return error(404, "Invalid URL (POST /v1/threads)")
        case ("POST", 1) where p == ["threads"]:
            let id = inner.newID("thread")
            inner.threads[id] = []
            return .json(200, ["id": .string(id), "object": "thread", "created_at": .int(now()), "metadata": [:]])
        default:
            return error(404, "Invalid URL (\(request.method) \(request.path))")
        }
        inner.counters[kind, default: 0] += 1
        let occurrence = inner.counters[kind]!
        let body = request.json
        let scenarioForRequest = scenario(for: request, kind: kind, path: p, inner)
        var fault = scenarioForRequest?.faults.first { $0.kind == kind && $0.occurrence == occurrence }
        if fault == nil, let chaos = inner.chaos { fault = chaosFault(chaos, kind: kind, &inner) }
        if let early = earlyFault(fault, request, &inner, act: { inner in
            switch kind {
            case .create: _ = self.create(p, body, nil, &inner)
            case .submit: _ = self.submit(threadID: p[1], runID: p[3], body, nil, &inner)
            default: break
            }
        }) {
            return early
        }
        switch kind {
        case .create: return create(p, body, fault, &inner)
        case .submit: return submit(threadID: p[1], runID: p[3], body, fault, &inner)
        case .cancel: return cancel(threadID: p[1], runID: p[3], &inner)
        case .retrieve:
            guard var run = inner.runs[p[3]], run.threadID == p[1] else { return noRun(p[3]) }
            run.polls += 1
            if case .hangs(let completesAfter?) = run.scenario.ending, run.polls >= completesAfter, !run.isTerminal {
                run.setStatus("completed")
                run.set("completed_at", .int(now()))
            }
            expireIfDue(&run)
            inner.runs[run.id] = run
            return .json(200, run.json)
        case .listSteps:
            guard let run = inner.runs[p[3]], run.threadID == p[1] else { return noRun(p[3]) }
            return .json(200, page(run.stepOrder.compactMap { run.steps[$0] }))
        case .listMessages:
            guard let messages = inner.messages[p[1]] ?? (inner.threads[p[1]] != nil ? [] : nil) else {
                return error(404, "No thread found with id '\(p[1])'.")
            }
            let runID = request.query["run_id"]
            return .json(200, page(messages.filter { runID == nil || $0["run_id"]?.stringValue == runID }))
        case .listRuns:
            guard let runIDs = inner.threads[p[1]] else { return error(404, "No thread found with id '\(p[1])'.") }
            return .json(200, page(runIDs.compactMap { inner.runs[$0]?.json }))
        case .assistant:
            let id = p[1]
            if request.method == "POST" {
                var assistant = inner.assistants[id]?.objectValue ?? JSONObject([("id", .string(id)), ("object", "assistant")])
                for (key, value) in body?.objectValue ?? JSONObject() { assistant[key] = value }
                inner.assistants[id] = .object(assistant)
            }
            let assistant = inner.assistants[id]
                ?? ["id": .string(id), "object": "assistant", "name": "Fake", "model": "gpt-4o", "tools": []]
            return .json(200, assistant)
        }
    }

    /// The answer for a fault that replaces the request's own (an error status, an echoed key, an HTML page), or
    /// `nil` to serve it; `act` performs the request for faults that answer an error after acting.
    func earlyFault(_ fault: Fault?, _ request: ReceivedRequest, _ inner: inout Inner, act: (inout Inner) -> Void) -> Reply? {
        switch fault {
        case .echoKey?:
            return error(400, "Invalid request made with \(request.headers["authorization"] ?? "no key"); check your key.")
        case .htmlPage?:
            return .html("<!DOCTYPE html><html><head><title>Sign in</title></head><body>Portal</body></html>")
        case .httpErrorAfterActing(let status, _, _)?:
            act(&inner)
            return error(status, "The server had an error while processing your request.", type: "server_error")
        case .httpError(let status, _, _, let retryAfter)?:
            var reply = errorBody(
                status == 429 ? "Rate limit reached for requests" : "The server had an error while processing your request.",
                type: status == 429 ? "requests" : "server_error", code: status == 429 ? "rate_limit_exceeded" : nil)
            if let retryAfter, case .object(var object) = reply {
                object["retry_after"] = .string(retryAfter)
                reply = .object(object)
            }
            return .json(status, reply)
        default:
            return nil
        }
    }

    /// A random fault for this request, or `nil`.
    func chaosFault(_ chaos: ChaosFaults, kind: RequestKind, _ inner: inout Inner) -> Fault? {
        let roll = Double.random(in: 0..<1, using: &inner.random)
        let streaming = kind == .create || kind == .submit
        if roll < chaos.rateLimitRate { return .httpError(status: 429, on: kind, retryAfter: "0") }
        if streaming, roll < chaos.rateLimitRate + chaos.serverErrorRate {
            return Bool.random(using: &inner.random)
                ? .httpError(status: 500, on: kind) : .httpErrorAfterActing(status: 500, on: kind)
        }
        if streaming, roll < chaos.rateLimitRate + chaos.serverErrorRate + chaos.dropRate {
            return .dropStream(on: kind, afterFrames: Int.random(in: 1...12, using: &inner.random))
        }
        return nil
    }

    private func scenario(for request: ReceivedRequest, kind: RequestKind, path p: [String], _ inner: Inner) -> Scenario? {
        if kind == .create {
            return request.json?["assistant_id"]?.stringValue.flatMap { inner.scenarios[$0] }
        }
        if p.count >= 4, p[0] == "threads", p[2] == "runs", let run = inner.runs[p[3]] { return run.scenario }
        // Faults of list/thread-level requests come from the latest run on the thread.
        if p.count >= 2, p[0] == "threads", let last = inner.threads[p[1]]?.last { return inner.runs[last]?.scenario }
        return nil
    }

    private func page(_ items: [JSONValue]) -> JSONValue {
        [
            "object": "list", "data": .array(items), "first_id": items.first?["id"] ?? .null,
            "last_id": items.last?["id"] ?? .null, "has_more": false,
        ]
    }

    func errorBody(_ message: String, type: String, code: String?, param: String? = nil) -> JSONValue {
        [
            "error": [
                "message": .string(message), "type": .string(type), "param": param.map(JSONValue.string) ?? .null,
                "code": code.map(JSONValue.string) ?? .null,
            ]
        ]
    }

    func error(_ status: Int, _ message: String, type: String = "invalid_request_error", code: String? = nil, param: String? = nil) -> Reply {
        .json(status, errorBody(message, type: type, code: code, param: param))
    }

    private func noRun(_ id: String) -> Reply { error(404, "No run found with id '\(id)'.") }

    func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    private func expireIfDue(_ run: inout FakeRun) {
        guard !run.isTerminal, let expiresAt = run.expiresAt, now() > expiresAt else { return }
        run.setStatus("expired")
        run.set("required_action", .null)
        run.set("expired_at", .int(now()))
    }

    // MARK: Create, submit, cancel

    func create(_ p: [String], _ body: JSONValue?, _ fault: Fault?, _ inner: inout Inner) -> Reply {
        guard let body, let assistantID = body["assistant_id"]?.stringValue else {
            return error(400, "Missing required parameter: 'assistant_id'.", code: "missing_required_parameter")
        }
        guard let scenario = inner.scenarios[assistantID] else {
            return error(404, "No assistant found with id '\(assistantID)'.")
        }
        var frames: [Frame] = []
        let threadID: String
        if p.count == 3 {
            threadID = p[1]
            guard let runs = inner.threads[threadID] else { return error(404, "No thread found with id '\(threadID)'.") }
            if let active = runs.last, let run = inner.runs[active] {
                var run = run
                expireIfDue(&run)
                inner.runs[active] = run
                if !run.isTerminal {
                    return error(400, "Thread \(threadID) already has an active run \(active).")
                }
            }
        } else {
            threadID = inner.newID("thread")
            inner.threads[threadID] = []
            let thread: JSONValue = [
                "id": .string(threadID), "object": "thread", "created_at": .int(now()),
                "metadata": body[path: "thread.metadata"] ?? [:], "tool_resources": [:],
            ]
            frames.append(("thread.created", thread.serialized()))
        }
        for message in body["additional_messages"]?.arrayValue ?? body[path: "thread.messages"]?.arrayValue ?? [] {
            inner.messages[threadID, default: []].append(userMessage(message, threadID: threadID, &inner))
        }
        let runID = inner.newID("run")
        let created = now()
        var run = FakeRun(
            object: JSONObject([
                ("id", .string(runID)), ("object", "thread.run"), ("created_at", .int(created)),
                ("assistant_id", .string(assistantID)), ("thread_id", .string(threadID)), ("status", "queued"),
                ("started_at", .null), ("expires_at", scenario.expiresAfter.isFinite ? .int(created + Int64(scenario.expiresAfter.rounded(.up))) : .null),
                ("cancelled_at", .null), ("failed_at", .null), ("completed_at", .null), ("required_action", .null),
                ("last_error", .null), ("model", "gpt-4o"), ("instructions", body["instructions"] ?? ""),
                ("tools", body["tools"] ?? []), ("metadata", body["metadata"] ?? [:]), ("incomplete_details", .null),
                ("usage", .null), ("temperature", 1.0), ("top_p", 1.0), ("parallel_tool_calls", true),
            ]),
            scenario: scenario)
        inner.threads[threadID, default: []].append(runID)
        frames.append(("thread.run.created", run.json.serialized()))
        frames.append(("thread.run.queued", run.json.serialized()))
        run.setStatus("in_progress")
        run.set("started_at", .int(created))
        frames.append(("thread.run.in_progress", run.json.serialized()))
        frames += proceed(&run, &inner)
        inner.runs[runID] = run
        if body["stream"]?.boolValue != true { return .json(200, run.json) }
        return .stream(frames + [("done", "[DONE]")], fault, scenario.frameDelay)
    }

    private func userMessage(_ message: JSONValue, threadID: String, _ inner: inout Inner) -> JSONValue {
        let text = message["content"]?.stringValue ?? message["content"]?[0]?[path: "text"]?.stringValue ?? ""
        return [
            "id": .string(inner.newID("msg")), "object": "thread.message", "created_at": .int(now()),
            "thread_id": .string(threadID), "role": message["role"] ?? "user", "status": "completed",
            "content": [["type": "text", "text": ["value": .string(text), "annotations": []]]], "run_id": .null,
            "assistant_id": .null, "attachments": [], "metadata": [:],
        ]
    }

    func submit(threadID: String, runID: String, _ body: JSONValue?, _ fault: Fault?, _ inner: inout Inner) -> Reply {
        guard var run = inner.runs[runID], run.threadID == threadID else { return noRun(runID) }
        expireIfDue(&run)
        inner.runs[runID] = run
        guard run.status == "requires_action" else {
            inner.refusedSubmits[runID, default: 0] += 1
            return error(400, "Runs in status \"\(run.status)\" do not accept tool outputs.")
        }
        guard let outputs = body?["tool_outputs"]?.arrayValue else {
            return error(400, "Missing required parameter: 'tool_outputs'.", code: "missing_required_parameter")
        }
        var given: [String] = []
        var byID: [String: String] = [:]
        for (i, entry) in outputs.enumerated() {
            guard let id = entry["tool_call_id"]?.stringValue else {
                return error(400, "1 validation error for Request body -> tool_outputs -> \(i) -> tool_call_id field required")
            }
            guard let output = entry["output"]?.stringValue else {
                return error(400, "1 validation error for Request body -> tool_outputs -> \(i) -> output str type expected")
            }
            given.append(id)
            byID[id] = output
        }
        guard given.sorted() == run.pendingCallIDs.sorted(), Set(given).count == given.count else {
            inner.refusedSubmits[runID, default: 0] += 1
            return error(400, "Expected tool outputs for call_ids \(run.pendingCallIDs), got \(given)")
        }
        var frames: [Frame] = []
        if let stepID = run.currentStepID, case .object(var step)? = run.steps[stepID] {
            var calls = step["step_details"]?["tool_calls"]?.arrayValue ?? []
            for i in calls.indices {
                guard case .object(var call) = calls[i], let id = call["id"]?.stringValue,
                    case .object(var function)? = call["function"]
                else { continue }
                function["output"] = .string(byID[id] ?? "")
                call["function"] = .object(function)
                calls[i] = .object(call)
            }
            step["step_details"] = ["type": "tool_calls", "tool_calls": .array(calls)]
            step["status"] = "completed"
            step["completed_at"] = .int(now())
            step["usage"] = [
                "prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30, "prompt_token_details": ["cached_tokens": 8],
                "completion_tokens_details": ["reasoning_tokens": 2],
            ]
            run.steps[stepID] = .object(step)
            frames.append(("thread.run.step.completed", JSONValue.object(step).serialized()))
        }
        for id in run.pendingCallIDs { run.outputs.append((run.pendingNames[id] ?? "?", byID[id] ?? "")) }
        run.pendingCallIDs = []
        run.currentStepID = nil
        run.set("required_action", .null)
        run.setStatus("queued")
        frames.append(("thread.run.queued", run.json.serialized()))
        run.setStatus("in_progress")
        frames.append(("thread.run.in_progress", run.json.serialized()))
        run.round += 1
        frames += proceed(&run, &inner)
        inner.runs[runID] = run
        if body?["stream"]?.boolValue != true { return .json(200, run.json) }
        return .stream(frames + [("done", "[DONE]")], fault, run.scenario.frameDelay)
    }

    private func cancel(threadID: String, runID: String, _ inner: inout Inner) -> Reply {
        guard var run = inner.runs[runID], run.threadID == threadID else { return noRun(runID) }
        expireIfDue(&run)
        guard !run.isTerminal else {
            inner.runs[runID] = run
            return error(400, "Cannot cancel run with status '\(run.status)'.")
        }
        run.setStatus("cancelled")
        run.set("required_action", .null)
        run.set("cancelled_at", .int(now()))
        run.pendingCallIDs = []
        inner.runs[runID] = run
        return .json(200, run.json)
    }

    // MARK: The script

    /// Frames from `in_progress` to the next `requires_action` or the end of the run.
    private func proceed(_ run: inout FakeRun, _ inner: inout Inner) -> [Frame] {
        var frames: [Frame] = []
        let scenario = run.scenario
        if run.round < scenario.rounds.count {
            let stepID = inner.newID("step")
            var step = stepObject(stepID, run, type: "tool_calls", details: ["type": "tool_calls", "tool_calls": []])
            frames.append(("thread.run.step.created", step.serialized()))
            frames.append(("thread.run.step.in_progress", step.serialized()))
            var calls: [JSONValue] = []
            var required: [JSONValue] = []
            run.pendingCallIDs = []
            for (index, call) in scenario.rounds[run.round].enumerated() {
                let callID = inner.newID("call")
                run.pendingCallIDs.append(callID)
                run.pendingNames[callID] = call.name
                let opening: JSONValue = [
                    "index": .int(Int64(index)), "id": .string(callID), "type": "function",
                    "function": ["name": .string(call.name), "arguments": "", "output": .null],
                ]
                frames.append(("thread.run.step.delta", stepDelta(stepID, opening)))
                for piece in split(call.arguments, scenario.deltaPieces) {
                    let delta: JSONValue = ["index": .int(Int64(index)), "type": "function", "function": ["arguments": .string(piece)]]
                    frames.append(("thread.run.step.delta", stepDelta(stepID, delta)))
                }
                calls.append([
                    "id": .string(callID), "type": "function",
                    "function": ["name": .string(call.name), "arguments": .string(call.arguments), "output": .null],
                ])
                required.append([
                    "id": .string(callID), "type": "function",
                    "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
                ])
            }
            if case .object(var object) = step {
                object["step_details"] = ["type": "tool_calls", "tool_calls": .array(calls)]
                step = .object(object)
            }
            run.steps[stepID] = step
            run.stepOrder.append(stepID)
            run.currentStepID = stepID
            run.setStatus("requires_action")
            run.set("required_action", ["type": "submit_tool_outputs", "submit_tool_outputs": ["tool_calls": .array(required)]])
            frames.append(("thread.run.requires_action", run.json.serialized()))
            return frames
        }
        let usage: JSONValue = ["prompt_tokens": 50, "completion_tokens": 12, "total_tokens": 62]
        switch scenario.ending {
        case .failed(let code, let message):
            run.setStatus("failed")
            run.set("failed_at", .int(now()))
            run.set("last_error", ["code": .string(code), "message": .string(message)])
            frames.append(("thread.run.failed", run.json.serialized()))
        case .expired:
            run.setStatus("expired")
            run.set("expired_at", .int(now()))
            frames.append(("thread.run.expired", run.json.serialized()))
        case .hangs:
            break
        case .completed, .incomplete:
            let text = scenario.finalText ?? run.outputs.map { "\($0.name): \($0.output.trimmingCharacters(in: .newlines))" }.joined(separator: "\n")
            let messageID = inner.newID("msg")
            let stepID = inner.newID("step")
            var step = stepObject(stepID, run, type: "message_creation", details: ["type": "message_creation", "message_creation": ["message_id": .string(messageID)]])
            frames.append(("thread.run.step.created", step.serialized()))
            frames.append(("thread.run.step.in_progress", step.serialized()))
            var message: JSONValue = [
                "id": .string(messageID), "object": "thread.message", "created_at": .int(now()),
                "assistant_id": run.object["assistant_id"] ?? .null, "thread_id": .string(run.threadID),
                "run_id": .string(run.id), "status": "in_progress", "incomplete_details": .null, "role": "assistant",
                "content": [], "attachments": [], "metadata": [:],
            ]
            frames.append(("thread.message.created", message.serialized()))
            frames.append(("thread.message.in_progress", message.serialized()))
            for (i, piece) in split(text, scenario.deltaPieces).enumerated() {
                var textDelta: JSONObject = ["value": .string(piece)]
                if i == 0 { textDelta["annotations"] = [] }
                let delta: JSONValue = [
                    "id": .string(messageID), "object": "thread.message.delta",
                    "delta": ["content": [["index": 0, "type": "text", "text": .object(textDelta)]]],
                ]
                frames.append(("thread.message.delta", delta.serialized()))
            }
            let incomplete: Bool
            if case .incomplete = scenario.ending { incomplete = true } else { incomplete = false }
            if case .object(var object) = message {
                object["status"] = incomplete ? "incomplete" : "completed"
                object["content"] = [["type": "text", "text": ["value": .string(text), "annotations": []]]]
                if incomplete { object["incomplete_details"] = ["reason": "max_tokens"] }
                message = .object(object)
            }
            inner.messages[run.threadID, default: []].append(message)
            frames.append((incomplete ? "thread.message.incomplete" : "thread.message.completed", message.serialized()))
            if case .object(var object) = step {
                object["status"] = "completed"
                object["completed_at"] = .int(now())
                object["usage"] = usage
                step = .object(object)
            }
            run.steps[stepID] = step
            run.stepOrder.append(stepID)
            frames.append(("thread.run.step.completed", step.serialized()))
            run.set("usage", usage)
            if case .incomplete(let reason) = scenario.ending {
                run.setStatus("incomplete")
                run.set("incomplete_details", ["reason": .string(reason)])
                frames.append(("thread.run.incomplete", run.json.serialized()))
            } else {
                run.setStatus("completed")
                run.set("completed_at", .int(now()))
                frames.append(("thread.run.completed", run.json.serialized()))
            }
        }
        return frames
    }

    private func stepObject(_ id: String, _ run: FakeRun, type: String, details: JSONValue) -> JSONValue {
        [
            "id": .string(id), "object": "thread.run.step", "created_at": .int(now()), "run_id": .string(run.id),
            "assistant_id": run.object["assistant_id"] ?? .null, "thread_id": .string(run.threadID),
            "type": .string(type), "status": "in_progress", "cancelled_at": .null, "completed_at": .null,
            "expires_at": run.expiresAt.map(JSONValue.int) ?? .null, "failed_at": .null, "last_error": .null, "step_details": details,
            "usage": .null,
        ]
    }

    private func stepDelta(_ stepID: String, _ call: JSONValue) -> String {
        let delta: JSONValue = [
            "id": .string(stepID), "object": "thread.run.step.delta",
            "delta": ["step_details": ["type": "tool_calls", "tool_calls": [call]]],
        ]
        return delta.serialized()
    }

    /// `text` in `pieces` nearly equal parts (by character), none empty; fewer only when the text is shorter.
    func split(_ text: String, _ pieces: Int) -> [String] {
        let characters = Array(text)
        guard !characters.isEmpty else { return [] }
        let count = min(max(1, pieces), characters.count)
        return (0..<count).map { i in
            String(characters[(i * characters.count / count)..<((i + 1) * characters.count / count)])
        }
    }
}
