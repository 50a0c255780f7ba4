import Foundation
import RunLoopCore
import Synchronization

/// A request as the fake server received it.
public struct ReceivedRequest: Sendable {
    public let method: String
    /// The path without the query string.
    public let path: String
    public let query: [String: String]
    /// Header names lowercased.
    public let headers: [String: String]
    public let body: [UInt8]

    /// The body parsed as JSON, if it is JSON.
    public var json: JSONValue? { try? JSONValue(parsing: body) }
}

/// Writes one response on a connection: whole JSON bodies, or an SSE stream in chunked encoding.
/// A writer belongs to the one connection thread that created it.
public final class ResponseWriter {
    let fd: Int32
    private(set) var broken = false
    private(set) var closeAfter = false

    init(fd: Int32) { self.fd = fd }

    func writeAll(_ bytes: [UInt8]) {
        guard !broken else { return }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                broken = true
                return
            }
            offset += n
        }
    }

    /// A complete response with a Content-Length body.
    public func respond(status: Int, headers: [(String, String)] = [], body: [UInt8], contentType: String = "application/json") {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        writeAll(Array(head.utf8) + body)
    }

    public func respondJSON(status: Int = 200, _ value: JSONValue, headers: [(String, String)] = []) {
        respond(status: status, headers: headers, body: Array(value.serialized().utf8))
    }

    /// Starts a `text/event-stream` response in chunked transfer encoding.
    public func startEventStream(headers: [(String, String)] = []) {
        var head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        writeAll(Array(head.utf8))
    }

    /// Raw bytes of the stream, as one HTTP chunk.
    public func sendChunk(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        writeAll(Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + Array("\r\n".utf8))
    }

    /// One SSE frame.
    public func sendEvent(_ name: String, _ data: String) {
        sendChunk(Array("event: \(name)\ndata: \(data)\n\n".utf8))
    }

    public func endStream() { writeAll(Array("0\r\n\r\n".utf8)) }

    /// Closes the connection abruptly after this response (a dropped stream).
    public func dropConnection() {
        closeAfter = true
        broken = true
        shutdown(fd, Int32(SHUT_RDWR))
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

/// A small blocking HTTP/1.1 server on 127.0.0.1: one thread accepts, one thread per connection serves
/// keep-alive requests in order. Enough for tests and the demo, and deliberately nothing more.
public final class LoopbackHTTPServer: Sendable {
    public typealias Handler = @Sendable (ReceivedRequest, ResponseWriter) -> Void

    public let port: Int
    private let listenFD: Int32
    private let handler: Handler
    private let connections = Mutex<Set<Int32>>([])
    private let stopped = Atomic<Bool>(false)

    /// Binds 127.0.0.1 (`port` 0 picks a free one) and starts accepting.
    public init(port: Int = 0, handler: @escaping Handler) throws {
        // Close-on-exec here and on every accepted connection: a child process started meanwhile (a daemon under
        // test, a handler) must not keep a connection open after this server closed or dropped it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 512) == 0 else {
            let code = errno
            close(fd)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.listenFD = fd
        self.handler = handler
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "fake-assistants-accept"
        thread.start()
    }

    /// Stops accepting and closes every open connection.
    ///
    /// Descriptors are only shut down here; the thread using each one closes it (the accept thread its listening
    /// socket, a connection's thread its connection, under the same lock as this), so a number closed and reused
    /// by another part of the process is never touched.
    public func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        shutdown(listenFD, Int32(SHUT_RDWR))
        connections.withLock { open in
            for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop() {
        defer { close(listenFD) }
        while !stopped.load(ordering: .relaxed) {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)  // accept4(2) is not in Glibc's module map
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let accepted = connections.withLock { open -> Bool in
                // stop() may have shut the others down between the accept and here.
                guard !stopped.load(ordering: .relaxed) else { return false }
                open.insert(client)
                return true
            }
            guard accepted else {
                close(client)
                return
            }
            let thread = Thread { [self] in
                serve(client)
                connections.withLock { open in
                    open.remove(client)
                    close(client)
                }
            }
            thread.stackSize = 512 * 1024
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        var buffer: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: 65536)
        while !stopped.load(ordering: .relaxed) {
            // Read the head.
            var headEnd: Int?
            while headEnd == nil {
                headEnd = Self.find([13, 10, 13, 10], in: buffer)
                if headEnd != nil { break }
                let n = recv(fd, &scratch, scratch.count, 0)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                buffer += scratch[0..<n]
            }
            guard let end = headEnd else { return }
            let headText = String(decoding: buffer[0..<end], as: UTF8.self)
            buffer.removeFirst(end + 4)
            let lines = headText.components(separatedBy: "\r\n")
            let requestLine = lines[0].split(separator: " ")
            guard requestLine.count >= 2 else { return }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let length = headers["content-length"].flatMap(Int.init) ?? 0
            while buffer.count < length {
                let n = recv(fd, &scratch, scratch.count, 0)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                buffer += scratch[0..<n]
            }
            let body = Array(buffer[0..<length])
            buffer.removeFirst(length)
            let target = String(requestLine[1])
            let pathPart = target.split(separator: "?", maxSplits: 1).first.map(String.init) ?? target
            var query: [String: String] = [:]
            if let q = target.split(separator: "?", maxSplits: 1).dropFirst().first {
                for pair in q.split(separator: "&") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    query[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
                }
            }
            let request = ReceivedRequest(
                method: String(requestLine[0]), path: pathPart, query: query, headers: headers, body: body)
            let writer = ResponseWriter(fd: fd)
            handler(request, writer)
            if writer.broken || writer.closeAfter || headers["connection"]?.lowercased() == "close" { return }
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}
