import WireFormat

// What a tool loop produces, in the worker's neutral terms: the protocol backends build these from their wire
// types, the worker hands them to the journal, which stores them as rows. No backend needs the journal for them.

/// How an event-log row came to be.
public enum EventKind: String, Sendable, CaseIterable {
    /// An event the server sent and this build understands.
    case event
    /// An event name this build does not know (kept, never dropped).
    case unknown
    /// A frame whose data could not be decoded.
    case malformed
    /// The server's `error` event.
    case error
    /// The end-of-stream marker.
    case done
    /// A line of ToolWorker's own (a dropped stream, a reconciliation), not something the server sent.
    case note
}

/// A tool loop's state as the server reports it (a run, a response), for the `runs` row.
public struct RunStateRecord: Sendable, Equatable {
    /// The server's id of the run (or response).
    public var runID: String?
    public var threadID: String?
    /// The server's status text.
    public var status: String?
    /// Whether that status is final: the row's `ended_at` is set.
    public var isTerminal: Bool
    /// The whole object as received.
    public var snapshot: JSONValue
    public var lastError: JSONValue?
    public var incompleteDetails: JSONValue?
    public var usage: JSONValue?
    public var expiresAt: Int64?

    public init(
        runID: String?, threadID: String?, status: String?, isTerminal: Bool, snapshot: JSONValue, lastError: JSONValue? = nil,
        incompleteDetails: JSONValue? = nil, usage: JSONValue? = nil, expiresAt: Int64? = nil
    ) {
        self.runID = runID
        self.threadID = threadID
        self.status = status
        self.isTerminal = isTerminal
        self.snapshot = snapshot
        self.lastError = lastError
        self.incompleteDetails = incompleteDetails
        self.usage = usage
        self.expiresAt = expiresAt
    }
}

/// What kind of object a snapshot shows.
public enum SnapshotObjectType: String, Sendable {
    case run, message
    case runStep = "run_step"
    case toolCall = "tool_call"
}

/// The state of one object after a given event.
public struct SnapshotRecord: Sendable {
    public var eventSeq: Int?
    public var type: SnapshotObjectType
    public var objectID: String
    public var status: String?
    public var data: JSONValue

    public init(eventSeq: Int?, type: SnapshotObjectType, objectID: String, status: String?, data: JSONValue) {
        self.eventSeq = eventSeq
        self.type = type
        self.objectID = objectID
        self.status = status
        self.data = data
    }
}

/// Where a tool loop's conversation lives: on the server (`previous_response_id` chains it), or nowhere but here
/// (`stateless`: every request carries the whole input, for servers that keep no state).
public enum ConversationState: String, Sendable, CaseIterable {
    case server
    case stateless
}

/// What the journal holds of a loop's past, for a protocol that must send it again after a restart (a server that
/// keeps no state): the last stored snapshot of each of the loop's responses (or runs), oldest first, and every
/// answered output by call id.
public struct LoopHistory: Sendable, Equatable {
    public var loops: [JSONValue]
    public var outputs: [String: String]

    public init(loops: [JSONValue] = [], outputs: [String: String] = [:]) {
        self.loops = loops
        self.outputs = outputs
    }
}

/// Request options a tool loop may set on every Responses request (`request_options:`, `--request-option`): only
/// these, so none can replace what ToolWorker itself sends (model, input, tools, metadata, store).
public enum RequestOptions {
    public static let allowed: [String] = [
        "parallel_tool_calls", "tool_choice", "max_output_tokens", "reasoning", "include", "temperature", "top_p", "truncation",
    ]
}
