import WireFormat
/// A response body as an async sequence of byte chunks, read while it arrives.
///
/// Backpressure: when the reader falls behind by more than the transfer's buffer, libcurl pauses the transfer
/// and resumes it once the reader catches up, so memory stays bounded whatever the server's pace. Cancelling the
/// reading task, or dropping the body before its end, aborts the transfer.
public final class ResponseBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let transfer: Transfer
    /// Replaced by `[REDACTED]` wherever it appears in the body (the API key, echoed by a hostile server).
    let secret: String?

    init(transfer: Transfer, redacting secret: String? = nil) {
        self.transfer = transfer
        self.secret = secret
    }

    deinit {
        // Dropped before the end: nobody will read the rest, so stop the transfer (no-op once complete).
        transfer.cancel()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: ResponseBody
        var redactor: SecretRedactor?

        public mutating func next() async throws -> [UInt8]? {
            guard redactor != nil else { return try await body.transfer.nextChunk() }
            while true {
                guard let chunk = try await body.transfer.nextChunk() else {
                    let rest = redactor?.finish() ?? []
                    return rest.isEmpty ? nil : rest
                }
                if let safe = redactor?.feed(chunk), !safe.isEmpty { return safe }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self, redactor: SecretRedactor(secret)) }

    /// Stops the transfer: the reader's next read ends with a cancellation error.
    public func abort() { transfer.cancel() }

    /// Reads the whole body, refusing more than `limit` bytes.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in self {
            bytes += chunk
            if bytes.count > limit {
                transfer.cancel()
                throw TransportError(
                    kind: .other, curlCode: 0, message: "response body larger than \(limit) bytes",
                    requestMayHaveBeenSent: true)
            }
        }
        return bytes
    }
}
