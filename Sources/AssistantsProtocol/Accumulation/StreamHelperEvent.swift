import WireFormat
/// Granular events derived from the raw stream, as the official SDKs' `AssistantStream` emits them
/// (`messageCreated`, `textDelta`, `toolCallDone`, …). Snapshots are the accumulated state after the event.
public enum StreamHelperEvent: Sendable, Equatable {
    case messageCreated(Message)
    case messageDelta(delta: JSONValue, snapshot: Message)
    case messageDone(Message)
    /// A new text content block; the value is the block's `text` object (`{value, annotations}`).
    case textCreated(JSONValue)
    case textDelta(delta: JSONValue, snapshot: JSONValue)
    case textDone(text: JSONValue, message: Message)
    case runStepCreated(RunStep)
    case runStepDelta(delta: JSONValue, snapshot: RunStep)
    case runStepDone(RunStep)
    /// The first delta of a tool call; the value is the call's snapshot (`{index, id, type, function}`).
    case toolCallCreated(JSONValue)
    case toolCallDelta(delta: JSONValue, snapshot: JSONValue)
    case toolCallDone(JSONValue)
}
