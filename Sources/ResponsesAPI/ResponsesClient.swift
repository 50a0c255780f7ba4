import OpenAIClient
import HTTPTransport
import Logging
import ResponsesProtocol
import WireFormat

/// A client for the Responses API (`/v1/responses`) over the shared ``OpenAIHTTPClient`` plumbing (no
/// `OpenAI-Beta` header). Creating a response always streams; a background response's stream can be resumed by
/// `sequence_number`.
public final class ResponsesClient: Sendable {
    public let core: OpenAIHTTPClient
    public var configuration: OpenAIClientConfiguration { core.configuration }

    public init(configuration: OpenAIClientConfiguration, http: HTTPClient? = nil, logger: Logger? = nil) {
        core = OpenAIHTTPClient(configuration: configuration, endpoints: Self.endpoints, http: http, logger: logger)
    }

    /// The Responses API's path words (metric labels).
    public static let endpoints = EndpointVocabulary(roots: ["responses", "conversations"], words: ["cancel", "items"])

    /// `POST /responses` with `stream: true`; `idempotencyKey` goes out as the `Idempotency-Key` header, so a
    /// server that honours it answers a repeated request with the response it already made.
    /// `answering`: the request answers tool outputs (it goes before loops' starts when rate limited).
    public func create(_ body: JSONObject, idempotencyKey: String? = nil, answering: Bool = false) async throws(OpenAIClientError) -> EventStreamResponse {
        try await core.stream(
            path: "/responses", body: body, headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [],
            priority: answering ? .answer : .start)
    }

    /// `GET /responses/{id}`.
    public func retrieve(id: String) async throws(OpenAIClientError) -> JSONObject {
        let value = try await core.json(.get, "/responses/\(try core.pathID(id))", idempotent: true)
        return value.objectValue ?? [:]
    }

    /// `GET /responses/{id}?stream=true&starting_after=N`: a background response's events after `N`, then live.
    public func resume(id: String, startingAfter sequenceNumber: Int) async throws(OpenAIClientError) -> EventStreamResponse {
        try await core.stream(.get, path: "/responses/\(try core.pathID(id))", query: "stream=true&starting_after=\(sequenceNumber)")
    }

    /// `POST /conversations`: a new conversation (with up to 20 first `items`); returns its id.
    public func createConversation(items: [JSONValue] = [], metadata: JSONObject = [:]) async throws(OpenAIClientError) -> String {
        var body: JSONObject = ["metadata": .object(metadata)]
        if !items.isEmpty { body["items"] = .array(items) }
        let value = try await core.json(.post, "/conversations", body: body, idempotent: false)
        guard let id = value["id"]?.stringValue, !id.isEmpty else {
            throw .invalidResponse("POST /conversations answered without an id: \(value.serialized().prefix(200))")
        }
        return id
    }

    /// `POST /conversations/{id}/items`: appends 1 to 20 items, in order.
    public func addItems(conversation id: String, _ items: [JSONValue]) async throws(OpenAIClientError) {
        _ = try await core.json(.post, "/conversations/\(try core.pathID(id))/items", body: ["items": .array(items)], idempotent: false)
    }

    /// `POST /responses/{id}/cancel` (background responses).
    public func cancel(id: String) async throws(OpenAIClientError) -> JSONObject {
        let value = try await core.json(.post, "/responses/\(try core.pathID(id))/cancel", body: [:], idempotent: true)
        return value.objectValue ?? [:]
    }
}
