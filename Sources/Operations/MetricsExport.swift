import Foundation
import Metrics
import Prometheus
import Synchronization

/// The daemon's metrics in Prometheus text format: swift-metrics bootstrapped with swift-prometheus, exposed on a
/// `GET /metrics` listener, written to a node_exporter textfile, or both.
public final class MetricsExport: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// Bootstraps swift-metrics (once per process) with a Prometheus registry and ToolWorker's histogram buckets.
    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            "toolworker_handler_duration_seconds": [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300].map { .milliseconds(Int64($0 * 1000)) },
            "toolworker_journal_commit_duration_seconds": [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1].map { .microseconds(Int64($0 * 1_000_000)) },
        ]
        factory.valueHistogramBuckets = ["toolworker_run_rounds": [0, 1, 2, 3, 5, 8, 13, 21, 50]]
        MetricsSystem.bootstrap(factory)
        self.registry = registry
    }

    /// The exposition text now.
    public func text() -> String { registry.emitToString() }

    /// `toolworker_build_info{version,protocol,sqlite,libcurl} 1`.
    public func recordBuildInfo(version: String, protocolName: String, sqlite: String, libcurl: String) {
        Gauge(
            label: "toolworker_build_info",
            dimensions: [("version", version), ("protocol", protocolName), ("sqlite", sqlite), ("libcurl", libcurl)]
        ).record(1)
    }

    /// Writes the exposition text to `path` atomically (a temporary file in the same folder, then `rename`), as
    /// node_exporter's textfile collector wants it.
    ///
    /// The temporary file beside it has an unpredictable name and is created with `O_CREAT|O_EXCL|O_NOFOLLOW`, so a
    /// symlink planted there is never followed (a local user cannot make the daemon write through it); it is
    /// `0644` whatever the umask, for node_exporter to read.
    public func writeTextfile(_ path: String) throws {
        try Self.writeAtomically(text(), to: path)
    }

    /// Writes `text` to `path` through a fresh temporary file and `rename` (see ``writeTextfile(_:)``).
    public static func writeAtomically(_ text: String, to path: String) throws {
        let temporary = "\(path).\(getpid()).\(UInt64.random(in: 0...UInt64.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var bytes = Array(text.utf8)
        var offset = 0
        var failure: Int32 = 0
        if fchmod(fd, 0o644) != 0 { failure = errno }
        while failure == 0 && offset < bytes.count {
            let n = bytes[offset...].withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = n < 0 ? errno : EIO; break }
            offset += n
        }
        bytes.removeAll()
        close(fd)
        if failure != 0 {
            unlink(temporary)
            throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO)
        }
        guard rename(temporary, path) == 0 else {
            let failure = errno
            unlink(temporary)
            throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO)
        }
    }
}

/// A minimal HTTP/1.1 listener that answers `GET /metrics` (and, given routes, the console; anything else: 404) and
/// closes each connection.
/// One thread accepts; each connection is answered on a thread of its own (at most ``maxConnections`` at once, the
/// rest closed at once), and a request head must arrive whole within ``headDeadline``: a client that trickles one
/// byte every few seconds holds only its own connection, and only that long.
public final class MetricsListener: Sendable {
    /// Why the listener could not start.
    public struct StartError: Error, CustomStringConvertible {
        public let address: String
        public let reason: String
        public var description: String { "metrics.listen \(address): \(reason)" }
    }

    /// Set once by ``stop()``; read by the accept thread.
    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    public let port: Int
    private let fd: Int32
    private let stopped = StopFlag()
    /// Connections answered at once (the console's live pages each hold one); more are closed without an answer.
    public static let maxConnections = 32
    /// How long a client has to send its whole request head.
    public static let headDeadline: Duration = .seconds(2)

    /// Connections being answered.
    private final class Gate: Sendable {
        let open = Atomic<Int>(0)
    }

    /// Binds `host:port` (an IPv4 or IPv6 literal; port 0 picks one) and starts answering `GET /metrics` with
    /// `body()`, and every other request with `routes` when given (the console).
    public init(
        host: String, port: Int, body: @escaping @Sendable () -> String,
        routes: (@Sendable (HTTPServerRequest) -> HTTPServerResponse?)? = nil
    ) throws(StartError) {
        let address = "\(host):\(port)"
        var storage = sockaddr_storage()
        var length: socklen_t
        let family: Int32
        if host.contains(":") {
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 else { throw StartError(address: address, reason: "not an IPv6 address") }
            withUnsafeBytes(of: v6) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        } else {
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &v4.sin_addr) == 1 else { throw StartError(address: address, reason: "not an IPv4 address") }
            withUnsafeBytes(of: v4) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StartError(address: address, reason: String(cString: strerror(errno))) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw StartError(address: address, reason: reason)
        }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) } }
        let boundPort = withUnsafeBytes(of: actual) { raw -> UInt16 in
            // sin_port and sin6_port sit at the same offset.
            UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self))
        }
        self.fd = fd
        self.port = Int(boundPort)
        let stopped = self.stopped
        let gate = Gate()
        let thread = Thread {
            // This thread closes the listening socket (``stop()`` only shuts it down): a number closed while the
            // thread could still pass it to accept(2) might by then belong to another part of the process.
            defer { close(fd) }
            while !stopped.value.load(ordering: .acquiring) {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return
                }
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)  // accept4(2) is not in Glibc's module map
                guard gate.open.add(1, ordering: .relaxed).newValue <= MetricsListener.maxConnections else {
                    gate.open.subtract(1, ordering: .relaxed)
                    close(client)
                    continue
                }
                let connection = Thread {
                    MetricsListener.answer(client, body: body, routes: routes)
                    close(client)
                    gate.open.subtract(1, ordering: .relaxed)
                }
                connection.name = "toolworker-metrics-connection"
                connection.start()
            }
        }
        thread.name = "toolworker-metrics"
        thread.start()
    }

    /// Reads the request (its head, at most 8 KiB, within ``headDeadline`` in all; a body of at most 64 KiB) and
    /// answers it: `GET /metrics` with `body()`, anything else with `routes` (the console), else 404.
    static func answer(_ client: Int32, body: () -> String, routes: (@Sendable (HTTPServerRequest) -> HTTPServerResponse?)?) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let deadline = ContinuousClock.now + headDeadline
        var request: [UInt8] = []
        var headEnd: Int?
        func receive(until done: () -> Bool, limit: Int) -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !done() {
                guard request.count < limit else { return false }
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { return false }
                var descriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, Int32(max(1, remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000)))
                if ready < 0 && errno == EINTR { continue }
                if ready <= 0 { return false }
                let n = recv(client, &buffer, buffer.count, 0)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                request += buffer[0..<n]
            }
            return true
        }
        func findHeadEnd() -> Bool {
            if let index = HTTPServerRequest.headEnd(request) { headEnd = index }
            return headEnd != nil
        }
        guard receive(until: findHeadEnd, limit: 8192 + 4096), let headEnd else { return }
        guard var parsed = HTTPServerRequest(head: Array(request[..<headEnd])) else { return }
        parsed.remoteAddress = peerAddress(client)
        let length = min(Int(parsed.headers["content-length"] ?? "0") ?? 0, 64 * 1024)
        if length > 0 {
            guard receive(until: { request.count - headEnd >= length }, limit: headEnd + length) else { return }
            parsed.body = Array(request[headEnd..<(headEnd + length)])
        }
        let response: HTTPServerResponse
        if parsed.method == "GET", parsed.path == "/metrics" {
            response = .complete(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: Array(body().utf8))
        } else if let routed = routes?(parsed) {
            response = routed
        } else {
            response = .complete(status: 404, headers: [("Content-Type", "text/plain")], body: Array("not found: GET /metrics\n".utf8))
        }
        switch response {
        case .complete(let status, let headers, let content):
            var head = "HTTP/1.1 \(status) \(HTTPServerResponse.reason(status))\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            head += "Content-Length: \(content.count)\r\nConnection: close\r\n\r\n"
            _ = sendAll(client, Array(head.utf8) + content)
        case .stream(let headers, let produce):
            var head = "HTTP/1.1 200 OK\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            head += "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            guard sendAll(client, Array(head.utf8)) else { return }
            produce { chunk in sendAll(client, Array(chunk.utf8)) }
        }
    }

    /// Writes all of `bytes`; `false` once the client is gone.
    static func sendAll(_ client: Int32, _ bytes: [UInt8]) -> Bool {
        var bytes = bytes
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeMutableBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// The client's address, as text (`127.0.0.1`).
    static func peerAddress(_ client: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        guard withUnsafeMutablePointer(to: &storage, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(client, $0, &length) } }) == 0
        else { return "?" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        if Int32(storage.ss_family) == AF_INET {
            var v4 = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in.self) }
            inet_ntop(AF_INET, &v4.sin_addr, &text, socklen_t(text.count))
        } else {
            var v6 = withUnsafeBytes(of: storage) { $0.load(as: sockaddr_in6.self) }
            inet_ntop(AF_INET6, &v6.sin6_addr, &text, socklen_t(text.count))
        }
        return String(cString: text)
    }

    /// Stops accepting: the thread wakes from accept(2), ends and closes the socket.
    public func stop() {
        stopped.value.store(true, ordering: .releasing)
        shutdown(fd, Int32(SHUT_RDWR))
    }
}
