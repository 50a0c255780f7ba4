import WireFormat
/// An HTTP request as the client sends it.
public struct HTTPRequest: Sendable, CustomStringConvertible {
    public enum Method: String, Sendable { case get = "GET", post = "POST", delete = "DELETE" }

    public var method: Method
    public var url: String
    /// Header fields in order; names are case-insensitive on the wire.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// A secret the response must not carry back: every occurrence in its body is replaced by `[REDACTED]`
    /// before anyone reads it (logs, the journal, error messages).
    public var responseSecret: String?

    public init(
        method: Method, url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
        responseSecret: String? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.responseSecret = responseSecret
    }

    /// The request for logs: header values that carry secrets are replaced by `[redacted]`.
    public var description: String {
        let shown = headers.map { "\($0.name): \(HTTPRequest.isSecret($0.name) ? "[redacted]" : $0.value)" }
        return "\(method.rawValue) \(url) [\(shown.joined(separator: "; "))]"
    }

    static func isSecret(_ name: String) -> Bool {
        ["authorization", "api-key", "x-api-key", "proxy-authorization", "cookie"].contains(name.lowercased())
    }
}

/// The status line and header fields of a response.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    /// Header fields in arrival order, names as sent.
    public var headers: [(name: String, value: String)]

    public init(status: Int, headers: [(name: String, value: String)]) {
        self.status = status
        self.headers = headers
    }

    /// The first value of a header field (case-insensitive name).
    public func value(of name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public static func == (lhs: HTTPResponseHead, rhs: HTTPResponseHead) -> Bool {
        lhs.status == rhs.status && lhs.headers.elementsEqual(rhs.headers) { $0 == $1 }
    }
}
