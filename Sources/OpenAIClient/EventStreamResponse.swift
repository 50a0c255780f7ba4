import HTTPTransport
import WireFormat

/// A streaming API answer: the response's request id and its body of server-sent events (each protocol's client
/// reads it with its own decoder).
public struct EventStreamResponse: Sendable {
    public let requestID: String?
    public let body: ResponseBody
    /// The largest SSE frame the reader accepts (`maxFrameBytes` of the client configuration).
    public let maxFrameBytes: Int

    public init(requestID: String?, body: ResponseBody, maxFrameBytes: Int) {
        self.requestID = requestID
        self.body = body
        self.maxFrameBytes = maxFrameBytes
    }
}
