import WireFormat
/// Time limits of the HTTP client.
public struct HTTPClientConfiguration: Sendable {
    /// Limit on name resolution plus TCP (and TLS) connect.
    public var connectTimeout: Duration = .seconds(10)
    /// Limit on a whole non-streaming request.
    public var requestTimeout: Duration = .seconds(120)
    /// A stream that delivers no byte for this long is a stall (``TransportError/Kind/stalled``), not a hang.
    public var idleTimeout: Duration = .seconds(90)
    /// Bytes buffered for a slow reader before the transfer is paused.
    public var streamBufferBytes: Int = 256 * 1024

    public init() {}
}

/// An HTTP/1.1 client over libcurl's multi interface: all transfers of one client share one loop thread.
public final class HTTPClient: Sendable {
    public let configuration: HTTPClientConfiguration
    private let loop: CurlMultiLoop

    public init(configuration: HTTPClientConfiguration = HTTPClientConfiguration()) {
        self.configuration = configuration
        self.loop = CurlMultiLoop()
    }

    /// Transfers in flight on this client's loop.
    public var activeTransfers: Int { loop.activeTransfers }

    deinit {
        loop.shutdown()
    }

    /// Sends `request` and returns once the response head has arrived; the body is read from the returned
    /// ``ResponseBody`` while it streams in.
    /// - Parameter streaming: streams have no total time limit, only the idle time-out.
    public func start(_ request: HTTPRequest, streaming: Bool) async throws -> (HTTPResponseHead, ResponseBody) {
        let transfer = loop.makeTransfer(highWater: configuration.streamBufferBytes)
        let body = ResponseBody(transfer: transfer, redacting: request.responseSecret)
        loop.start(
            CurlMultiLoop.PreparedRequest(
                request: request, connectTimeout: configuration.connectTimeout,
                totalTimeout: streaming ? nil : configuration.requestTimeout, idleTimeout: configuration.idleTimeout),
            transfer)
        var head = try await transfer.head()
        if let secret = request.responseSecret {
            head.headers = head.headers.map { ($0.name, SecretRedactor.redact($0.value, secret: secret)) }
        }
        return (head, body)
    }

    /// Sends `request` and reads the whole response (at most `limit` bytes).
    public func send(_ request: HTTPRequest, limit: Int = 16 * 1024 * 1024) async throws -> (HTTPResponseHead, [UInt8]) {
        let (head, body) = try await start(request, streaming: false)
        return (head, try await body.collect(upTo: limit))
    }
}
