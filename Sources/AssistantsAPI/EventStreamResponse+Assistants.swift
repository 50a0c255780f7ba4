import AssistantsProtocol
import HTTPTransport
import OpenAIClient

extension EventStreamResponse {
    /// The body as typed Assistants events, continuing from `accumulator` (pass the previous round's to follow one
    /// run).
    public func events(
        accumulator: SnapshotAccumulator = SnapshotAccumulator(), helpers: Bool = false
    ) -> AssistantStream<ResponseBody> {
        AssistantStream(body, accumulator: accumulator, helpers: helpers, maxFrameBytes: maxFrameBytes)
    }
}
