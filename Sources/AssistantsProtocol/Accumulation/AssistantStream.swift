import WireFormat
/// What an ``AssistantStream`` yields: each raw event, followed by the granular events derived from it.
public enum AssistantStreamElement: Sendable, Equatable {
    case event(ServerEvent)
    case helper(StreamHelperEvent)
}

/// The stream itself broke: the caller should treat what it has as partial and reconcile with the server.
public enum AssistantStreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The body ended before `data: [DONE]`; `pendingBytes` of an unfinished frame were discarded.
    case endedWithoutDone(pendingBytes: Int)
    case frame(SSEError)

    public var description: String {
        switch self {
        case .endedWithoutDone(let pending):
            return "event stream ended before [DONE]" + (pending > 0 ? " (\(pending) bytes of an unfinished event dropped)" : "")
        case .frame(let error): return error.description
        }
    }
}

/// An Assistants v2 event stream over any source of byte chunks (an HTTP body, a file, a test fixture).
///
/// Iterate it for typed events and the SDK-style helper events, or call ``finalRun()`` / ``finalMessages()`` to
/// read it to the end. It stops after the `done` event; a body that ends before it throws
/// ``AssistantStreamError/endedWithoutDone(pendingBytes:)`` once the events it did carry have been yielded.
public final class AssistantStream<Chunks: AsyncSequence>: AsyncSequence where Chunks.Element == [UInt8] {
    public typealias Element = AssistantStreamElement

    private var chunks: Chunks.AsyncIterator
    private var parser: SSEParser
    /// Elements of the current frame, last first (handed out with `popLast`).
    private var pending: [AssistantStreamElement] = []
    /// Frames parsed from the last chunk and not yet applied.
    private var frames: ArraySlice<SSEFrame> = []
    private var finished = false
    private let helpers: Bool
    /// The snapshots accumulated so far.
    public private(set) var accumulator: SnapshotAccumulator

    /// - Parameters:
    ///   - chunks: the response body.
    ///   - accumulator: snapshots to continue from (pass the previous stream's to follow a run across rounds).
    ///   - helpers: whether to derive ``StreamHelperEvent``s.
    ///   - maxFrameBytes: bound on one SSE frame.
    public init(
        _ chunks: Chunks, accumulator: SnapshotAccumulator = SnapshotAccumulator(), helpers: Bool = true,
        maxFrameBytes: Int = 8 * 1024 * 1024
    ) {
        self.chunks = chunks.makeAsyncIterator()
        self.parser = SSEParser(maxFrameBytes: maxFrameBytes)
        self.accumulator = accumulator
        self.helpers = helpers
    }

    /// The next element, or `nil` after `done`.
    ///
    /// Frames are applied one at a time, only once the elements of the previous frame have been handed out, and
    /// elements are moved out rather than copied: a consumer that lets go of each element keeps the snapshots
    /// uniquely owned, so accumulating a long answer stays linear.
    public func next() async throws -> AssistantStreamElement? {
        while true {
            if let element = pending.popLast() { return element }
            if let frame = frames.popFirst() {
                let event = EventDecoder.decode(frame)
                var produced: [AssistantStreamElement] = [.event(event)]
                for helper in accumulator.apply(event.event, helpers: helpers) { produced.append(.helper(helper)) }
                if case .done = event.event {
                    finished = true
                    frames.removeAll()
                }
                pending = produced.reversed()
                continue
            }
            if finished { return nil }
            guard let chunk = try await chunks.next() else {
                finished = true
                throw AssistantStreamError.endedWithoutDone(pendingBytes: parser.finish())
            }
            do {
                frames = try parser.feed(chunk)[...]
            } catch {
                finished = true
                throw AssistantStreamError.frame(error)
            }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: AssistantStream
        public mutating func next() async throws -> AssistantStreamElement? { try await stream.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }

    /// Reads the stream to its end.
    public func drain() async throws {
        while try await next() != nil {}
    }

    /// The run as of its last `requires_action` or terminal event, reading the stream to its end first.
    public func finalRun() async throws -> Run? {
        try await drain()
        return accumulator.finalRun
    }

    /// Every message snapshot, reading the stream to its end first.
    public func finalMessages() async throws -> [Message] {
        try await drain()
        return accumulator.finalMessages
    }

    /// Every run step snapshot, reading the stream to its end first.
    public func finalRunSteps() async throws -> [RunStep] {
        try await drain()
        return accumulator.finalRunSteps
    }

    /// The last run object seen so far (does not read further).
    public func currentRun() -> Run? { accumulator.currentRun }
}
