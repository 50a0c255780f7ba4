import WireFormat
/// One event of an Assistants v2 stream, decoded.
///
/// Every documented `thread.*` event has a case carrying its typed object; `error` and `done` close the set.
/// An event name this build does not know is kept as ``unknown(name:data:)`` and a frame whose data is not valid
/// JSON as ``malformed(_:)``: neither stops the stream, both are recorded.
public enum AssistantEvent: Sendable, Equatable {
    case threadCreated(AssistantThread)
    case run(RunEventKind, Run)
    case runStep(RunStepEventKind, RunStep)
    case runStepDelta(RunStepDelta)
    case message(MessageEventKind, Message)
    case messageDelta(MessageDelta)
    case error(APIErrorObject)
    case done
    case unknown(name: String, data: JSONValue?)
    case malformed(EventDecodingError)
}

/// The suffix of a `thread.run.*` event name.
public enum RunEventKind: String, Sendable, CaseIterable {
    case created, queued
    case inProgress = "in_progress"
    case requiresAction = "requires_action"
    case completed, incomplete, failed, cancelling, cancelled, expired
}

/// The suffix of a `thread.run.step.*` event name (`delta` has its own case).
public enum RunStepEventKind: String, Sendable, CaseIterable {
    case created
    case inProgress = "in_progress"
    case completed, failed, cancelled, expired
}

/// The suffix of a `thread.message.*` event name (`delta` has its own case).
public enum MessageEventKind: String, Sendable, CaseIterable {
    case created
    case inProgress = "in_progress"
    case completed, incomplete
}

/// A frame whose data could not be decoded: which event, where in the stream, and why.
public struct EventDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The frame's `event:` name ("message" when it had none).
    public let event: String
    /// Byte offset of the frame in the stream.
    public let frameOffset: Int
    /// Byte offset of the problem inside the frame's data.
    public let dataOffset: Int
    public let reason: String

    public var description: String {
        "event '\(event)' at stream byte \(frameOffset): \(reason) (data byte \(dataOffset))"
    }
}

/// A decoded event together with the frame it came from, kept for the audit log.
public struct ServerEvent: Sendable, Equatable {
    /// The event name as sent (`"message"` when the frame had no `event:` line).
    public let name: String
    /// The frame's raw data text.
    public let data: String
    /// Byte offset of the frame in its HTTP response body.
    public let offset: Int
    public let event: AssistantEvent

    public init(name: String, data: String, offset: Int, event: AssistantEvent) {
        self.name = name
        self.data = data
        self.offset = offset
        self.event = event
    }
}
