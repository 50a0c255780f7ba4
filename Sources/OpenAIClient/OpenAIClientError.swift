import HTTPTransport
import WireFormat
/// An HTTP error answer of the API, decoded from its `{"error": {...}}` body.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let type: String?
    public let code: String?
    public let message: String
    public let param: String?
    /// The server's `x-request-id`, for support tickets and log correlation.
    public let requestID: String?

    public init(status: Int, type: String?, code: String?, message: String, param: String?, requestID: String?) {
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.requestID = requestID
    }

    init(head: HTTPResponseHead, body: [UInt8]) {
        let object: APIErrorObject
        if let json = try? JSONValue(parsing: body), json.objectValue != nil {
            object = APIErrorObject(json: json)
        } else {
            let text = String(decoding: body.prefix(500), as: UTF8.self)
            object = APIErrorObject(message: text.isEmpty ? "HTTP \(head.status) with an empty body" : text)
        }
        self.init(
            status: head.status, type: object.type, code: object.code, message: object.message, param: object.param,
            requestID: head.value(of: "x-request-id"))
    }

    public var description: String {
        var text = "HTTP \(status): \(message)"
        if let type { text += " (type \(type)" + (code.map { ", code \($0)" } ?? "") + ")" }
        if let requestID { text += " [request \(requestID)]" }
        return text
    }
}

/// Everything a call of an API client (Assistants, Responses) can fail with.
public enum OpenAIClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server answered with an HTTP error.
    case api(APIError)
    /// No HTTP answer (connect failure, time-out, dropped connection, cancellation).
    case transport(TransportError)
    /// A 2xx answer whose body is not the JSON expected.
    case invalidResponse(String)
    /// An argument that cannot be sent (an id with characters that would change the URL path).
    case invalidArgument(String)
    /// The calling task was cancelled.
    case cancelled
    /// Not sent: a loop's start would have waited longer than ``RateLimiter/parkAfter`` for its rate limit.
    case rateLimited(RateLimiter.Wait)

    public var description: String {
        switch self {
        case .api(let error): return error.description
        case .transport(let error): return "transport error: \(error)"
        case .invalidResponse(let what): return "invalid response: \(what)"
        case .invalidArgument(let what): return "invalid argument: \(what)"
        case .cancelled: return "cancelled"
        case .rateLimited(let wait): return "not sent: \(wait.reason); the next request may go in \(RateLimiter.text(wait.duration))"
        }
    }

    /// The HTTP status, when the server answered.
    public var status: Int? {
        if case .api(let error) = self { return error.status }
        return nil
    }
}
