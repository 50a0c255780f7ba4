import WorkModel
import HTTPTransport
import AssistantsProtocol
import WireFormat
/// A streaming API answer: the response's request id and its body of server-sent events.
public struct EventStreamResponse: Sendable {
    public let requestID: String?
    public let body: ResponseBody
    let maxFrameBytes: Int

    /// The body as typed events, continuing from `accumulator` (pass the previous round's to follow one run).
    public func events(
        accumulator: SnapshotAccumulator = SnapshotAccumulator(), helpers: Bool = false
    ) -> AssistantStream<ResponseBody> {
        AssistantStream(body, accumulator: accumulator, helpers: helpers, maxFrameBytes: maxFrameBytes)
    }
}
