import CoreMetrics
import HTTPTransport
import Instrumentation
import Logging
import WireFormat

/// The HTTP plumbing every OpenAI-style API client shares: headers (the key, `extraHeaders`, organization,
/// project), requests retried per ``RetryPolicy``, redaction of the key from every answer, event-stream checks,
/// paginated lists and request metrics. `AssistantsClient` and the Responses client are thin layers over it.
public final class OpenAIHTTPClient: Sendable {
    public let configuration: OpenAIClientConfiguration
    /// Sent with every request (`OpenAI-Beta: assistants=v2` for the Assistants API).
    let extraHeaders: [(name: String, value: String)]
    /// The API's path words, for bounded endpoint labels in metrics.
    let endpoints: EndpointVocabulary
    private let http: HTTPClient
    private let logger: Logger

    public init(
        configuration: OpenAIClientConfiguration, extraHeaders: [(name: String, value: String)] = [],
        endpoints: EndpointVocabulary, http: HTTPClient? = nil, logger: Logger? = nil
    ) {
        self.configuration = configuration
        self.extraHeaders = extraHeaders
        self.endpoints = endpoints
        self.http = http ?? HTTPClient(configuration: configuration.http)
        self.logger = logger ?? Logger(label: "toolworker.client") { _ in SwiftLogNoOpLogHandler() }
    }

    public func pathID(_ id: String) throws(OpenAIClientError) -> String {
        let allowed = id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        guard !id.isEmpty, allowed, id != ".", id != ".." else {
            throw .invalidArgument("'\(id)' is not a valid object id")
        }
        return id
    }

    /// The request without its key: ``perform`` adds the key of each try (``authorized(_:with:)``).
    func makeRequest(
        _ method: HTTPRequest.Method, _ path: String, query: String = "", body: JSONObject?, streaming: Bool,
        headers requestHeaders: [(name: String, value: String)] = []
    ) -> HTTPRequest {
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        var headers: [(name: String, value: String)] = [
            ("User-Agent", "ToolWorker/\(ToolWorkerVersion.string)"),
            ("Accept", streaming ? "text/event-stream" : "application/json"),
        ]
        headers += extraHeaders
        headers += configuration.headers
        headers += requestHeaders
        if body != nil { headers.append(("Content-Type", "application/json")) }
        if let organization = configuration.organization { headers.append(("OpenAI-Organization", organization)) }
        if let project = configuration.project { headers.append(("OpenAI-Project", project)) }
        return HTTPRequest(
            method: method, url: base + path + (query.isEmpty ? "" : "?" + query), headers: headers,
            body: body.map { Array(JSONValue.object($0).serialized().utf8) })
    }

    /// `request` sent with `key`: its `Authorization`, and the key redacted from whatever comes back; within a traced
    /// request (a `chat` span), its W3C `traceparent` too.
    func authorized(_ request: HTTPRequest, with key: APIKeyPool.Key) -> HTTPRequest {
        var request = request
        request.headers.insert(("Authorization", "Bearer \(key.secret)"), at: 0)
        request.responseSecret = key.secret
        if let context = InstrumentationContext.current {
            InstrumentationSystem.instrument.inject(context, into: &request.headers, using: HeaderInjector())
        }
        return request
    }

    /// `POST path` with `"stream": true`, or `GET path?query` for a resumed stream; returns once the head arrived.
    /// `headers` are added to this request only (an `Idempotency-Key`).
    /// A `POST` is a model request: it waits for its rate limit first (`priority` says whether it starts a loop or
    /// answers one).
    public func stream(
        _ method: HTTPRequest.Method = .post, path: String, query: String = "", body: JSONObject? = nil,
        headers: [(name: String, value: String)] = [], priority: RateLimiter.Priority = .answer
    ) async throws(OpenAIClientError) -> EventStreamResponse {
        var body = body
        if method == .post { body = (body ?? [:]).setting("stream", true) }
        let request = makeRequest(method, path, query: query, body: body, streaming: true, headers: headers)
        let limited = method == .post ? (body?["model"]?.stringValue ?? "", priority) : nil
        let (head, responseBody) = try await perform(request, idempotent: false, streaming: true, limited: limited)
        // An HTML error page or a JSON object with status 200 (a proxy, a server that ignores `stream`) is not a
        // stream that "dropped": say what came instead.
        let contentType = head.value(of: "content-type") ?? ""
        guard contentType.lowercased().hasPrefix("text/event-stream") else {
            let sample = (try? await responseBody.collect(upTo: 64 * 1024)) ?? []
            let text = String(decoding: sample.prefix(200), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
            throw .invalidResponse(
                "\(method.rawValue) \(path): expected an event stream (Content-Type: text/event-stream), got HTTP \(head.status) with "
                    + "Content-Type '\(contentType.isEmpty ? "none" : contentType)': \(text)")
        }
        return EventStreamResponse(
            requestID: head.value(of: "x-request-id"), body: responseBody, maxFrameBytes: configuration.maxFrameBytes)
    }

    /// A JSON request; the answer must be a JSON object.
    public func json(
        _ method: HTTPRequest.Method, _ path: String, query: String = "", body: JSONObject? = nil, idempotent: Bool
    ) async throws(OpenAIClientError) -> JSONValue {
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
            guard value.objectValue != nil else { throw OpenAIClientError.invalidResponse("\(path): not a JSON object") }
            return value
        } catch let error as JSONParseError {
            throw .invalidResponse("\(path): \(error)")
        } catch {
            throw .invalidResponse("\(path): not a JSON object")
        }
    }

    /// Every page of a list endpoint (`limit=100&order=asc`, `after=last_id`), oldest first.
    public func list(_ path: String, query: String = "", maxPages: Int = 20) async throws(OpenAIClientError) -> [JSONValue] {
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
    func endpointLabel(_ request: HTTPRequest) -> String {
        endpoints.label(method: request.method.rawValue, url: request.url)
    }

    /// The rate-limit scope of this client's requests with `key` for `model`.
    func scope(_ key: APIKeyPool.Key, model: String) -> RateLimiter.Scope {
        RateLimiter.Scope(baseURL: configuration.baseURL, key: key.secret, keyLabel: key.label, model: model)
    }

    /// The key the next try goes with: the first usable one the rate limit lets go now; else, for a model request
    /// (`limited`), the one free soonest, after waiting for it (a start that would wait past the limiter's
    /// `parkAfter` is not sent: ``OpenAIClientError/rateLimited(_:)``).
    func chooseKey(limited: (model: String, priority: RateLimiter.Priority)?) async throws(OpenAIClientError) -> APIKeyPool.Key {
        let pool = configuration.keys
        while true {
            let usable = pool.usable()
            guard !usable.isEmpty else {
                let reasons = pool.disabledKeys.map { "\($0.label) \($0.reason)" }.joined(separator: "; ")
                throw .api(APIError(
                    status: 401, type: nil, code: "no_usable_key",
                    message: "every key of provider \(pool.provider) is disabled: \(reasons)", param: nil, requestID: nil))
            }
            guard let limited else { return usable[0] }
            var soonest: (key: APIKeyPool.Key, wait: RateLimiter.Wait)?
            for key in usable {
                let keyScope = scope(key, model: limited.model)
                let wait: RateLimiter.Wait?
                if let local = configuration.rateLimiter.wait(keyScope, priority: limited.priority) {
                    wait = local
                } else {
                    wait = await configuration.rateLimiter.takeShared(keyScope)
                }
                guard let wait else { return key }
                if wait.duration < soonest?.wait.duration ?? .seconds(366 * 86_400) { soonest = (key, wait) }
            }
            guard let soonest else { return usable[0] }
            try await waitForRateLimit(scope(soonest.key, model: limited.model), wait: soonest.wait, priority: limited.priority)
        }
    }

    /// Waits `wait` for `scope`'s rate limit before a model request; a start that would wait longer than the
    /// limiter's `parkAfter` throws ``OpenAIClientError/rateLimited(_:)`` instead (nothing is sent).
    func waitForRateLimit(_ scope: RateLimiter.Scope, wait: RateLimiter.Wait, priority: RateLimiter.Priority) async throws(OpenAIClientError) {
        let limiter = configuration.rateLimiter
        if priority == .start, wait.duration > limiter.parkAfter {
            Counter(label: "toolworker_rate_limit_parked_total").increment()
            throw .rateLimited(wait)
        }
        Counter(label: "toolworker_rate_limit_waits_total", dimensions: [("priority", priority == .start ? "start" : "answer")]).increment()
        logger.notice("waiting for the rate limit", metadata: ["scope": "\(scope)", "wait_ms": "\(wait.duration.milliseconds)", "reason": "\(wait.reason)"])
        do {
            if priority == .answer {
                try await limiter.answering(scope) { try await Task.sleep(for: wait.duration) }
            } else {
                try await Task.sleep(for: wait.duration)
            }
        } catch {
            throw .cancelled
        }
    }

    /// Sends with retries; returns only a 2xx head with its unread body. Each try goes with a usable key of the pool
    /// (``chooseKey(limited:)``; a model request, `limited`, waits for its rate limit first); every answer's rate-limit
    /// headers go to the limiter. A key refused with 401, 402, 403 or a 429 `insufficient_quota` is disabled and the
    /// request goes on at once with the next key; with none left it fails. `insufficient_quota` is never retried.
    func perform(
        _ unauthorized: HTTPRequest, idempotent: Bool, streaming: Bool, limited: (model: String, priority: RateLimiter.Priority)? = nil
    ) async throws(OpenAIClientError) -> (HTTPResponseHead, ResponseBody) {
        let policy = configuration.retry
        let endpoint = endpointLabel(unauthorized)
        var attempt = 0
        while true {
            var waitHead: HTTPResponseHead?
            var reason = ""
            let key = try await chooseKey(limited: limited)
            let request = authorized(unauthorized, with: key)
            let scope = self.scope(key, model: limited?.model ?? "")
            do {
                let (head, body) = try await http.start(request, streaming: streaming)
                Counter(label: "toolworker_http_requests_total", dimensions: [("endpoint", endpoint), ("status", String(head.status))]).increment()
                let observation = RateLimitObservation(head: head)
                if !observation.isEmpty || head.status == 429 {
                    // The backoff is the cool-down of a 429 that names none; no other answer uses it.
                    let fallback = head.status == 429 ? policy.delay(attempt: attempt, head: nil) : .zero
                    configuration.rateLimiter.observe(observation, status: head.status, scope: scope, fallback: fallback)
                }
                if (200..<300).contains(head.status) { return (head, body) }
                let bytes = (try? await body.collect(upTo: 1024 * 1024)) ?? []
                let error = APIError(head: head, body: bytes)
                if Self.refusesKey(error) {
                    configuration.keys.disable(key, status: head.status, reason: error.message)
                    logger.warning("the server refused an API key; it is disabled for a while", metadata: [
                        "key": "\(key.label)", "status": "\(head.status)", "code": "\(error.code ?? "-")",
                        "disabled_for_s": "\(configuration.keys.disableFor.milliseconds / 1000)",
                    ])
                    // Another key may be good: not a retry of this request's luck, so no attempt is counted.
                    if configuration.keys.usable().isEmpty { throw OpenAIClientError.api(error) }
                    continue
                }
                guard attempt < policy.maxRetries, policy.shouldRetry(status: head.status, idempotent: idempotent),
                      error.code != "insufficient_quota"
                else {
                    throw OpenAIClientError.api(error)
                }
                if head.status == 429 && limited != nil {
                    // The limiter's cool-down is the wait (a start past parkAfter is parked at the top of the loop).
                    Counter(label: "toolworker_http_retries_total", dimensions: [("reason", "http_429")]).increment()
                    attempt += 1
                    continue
                }
                waitHead = head
                reason = error.description
            } catch let error as OpenAIClientError {
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

/// Writes a context's propagation fields (`traceparent`, `tracestate`) as request headers.
struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [(name: String, value: String)]) {
        carrier.append((key, value))
    }
}

extension OpenAIHTTPClient {
    /// Whether an answer says the key itself is no good (invalid, unpaid, forbidden, out of quota), not the request.
    static func refusesKey(_ error: APIError) -> Bool {
        [401, 402, 403].contains(error.status) || (error.status == 429 && error.code == "insufficient_quota")
    }
}

extension JSONObject {
    /// A copy with `key` set.
    func setting(_ key: String, _ value: JSONValue) -> JSONObject {
        var copy = self
        copy[key] = value
        return copy
    }
}
