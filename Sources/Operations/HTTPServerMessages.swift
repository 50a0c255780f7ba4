import Foundation

/// A request the daemon's listener read: method, path and query (decoded), headers (names lowercased), body.
public struct HTTPServerRequest: Sendable {
    public var method: String
    /// The path without its query, percent-decoded.
    public var path: String
    public var query: [String: String]
    public var headers: [String: String]
    public var body: [UInt8] = []
    /// The client's address (`127.0.0.1`).
    public var remoteAddress = "?"

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
    }

    /// Parses a request head (its request line and header fields); `nil` for anything that is not one.
    init?(head: [UInt8]) {
        let text = String(decoding: head, as: UTF8.self)
        var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }).map(String.init)
        guard !lines.isEmpty else { return nil }
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        let target = String(requestLine[1])
        let (path, query) = Self.split(target)
        self.init(method: String(requestLine[0]), path: path, query: query)
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }

    /// Where the head ends (after its blank line), or `nil` when it has not yet.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == 10 && bytes[index + 1] == 10 { return index + 2 }
            if index + 3 < bytes.count, bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 { return index + 4 }
            index += 1
        }
        return nil
    }

    /// A target's path and its query pairs, both percent-decoded (`+` is a space in the query).
    static func split(_ target: String) -> (String, [String: String]) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        return (path, parts.count > 1 ? form(String(parts[1])) : [:])
    }

    /// `a=1&b=two+words` as pairs (the last of a repeated name wins).
    public static func form(_ text: String) -> [String: String] {
        var pairs: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            if !kv[0].isEmpty { pairs[kv[0]] = kv.count > 1 ? kv[1] : "" }
        }
        return pairs
    }

    /// The body as form fields (`application/x-www-form-urlencoded`).
    public var formFields: [String: String] { Self.form(String(decoding: body, as: UTF8.self)) }

    /// The request's cookies.
    public var cookies: [String: String] {
        var cookies: [String: String] = [:]
        for part in (headers["cookie"] ?? "").split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2 { cookies[kv[0]] = kv[1] }
        }
        return cookies
    }
}

/// What the listener sends back.
public enum HTTPServerResponse: Sendable {
    /// A whole answer.
    case complete(status: Int, headers: [(String, String)], body: [UInt8])
    /// A 200 whose body `produce` writes piece by piece on the connection's thread (an event stream), until the
    /// client is gone (`write` returns `false`) or it returns.
    case stream(headers: [(String, String)], produce: @Sendable (_ write: (String) -> Bool) -> Void)

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 303: "See Other"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 429: "Too Many Requests"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}
