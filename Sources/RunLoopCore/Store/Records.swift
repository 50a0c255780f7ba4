/// One received event, numbered within its run.
public struct EventRecord: Sendable {
    public var seq: Int
    /// Which HTTP stream of the run it came on (1 for the create, then one per submit or reconnection).
    public var stream: Int
    public var event: ServerEvent
    public var receivedAt: Int64
    /// A line of ToolWorker's own (dropped stream, reconciliation), not something the server sent.
    public var isNote = false

    public init(seq: Int, stream: Int, event: ServerEvent, receivedAt: Int64) {
        self.seq = seq
        self.stream = stream
        self.event = event
        self.receivedAt = receivedAt
    }

    var kind: String {
        if isNote { return "note" }
        switch event.event {
        case .unknown: return "unknown"
        case .malformed: return "malformed"
        case .error: return "error"
        case .done: return "done"
        default: return "event"
        }
    }

    var error: String? {
        switch event.event {
        case .malformed(let error): return error.description
        case .error(let error): return error.description
        default: return nil
        }
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

/// A run as the store knows it.
public struct RunRecord: Sendable, Equatable {
    /// The store's own key (`runs.id`).
    public var key: Int64
    public var runID: String?
    public var threadID: String?
    public var assistantID: String
    public var jobID: Int64?
    public var status: String
    public var rounds: Int
    public var snapshot: JSONValue?
    public var request: JSONValue?
    public var createdAt: Int64
    public var endedAt: Int64?

    init(_ row: SQLRow) {
        key = row["id"].int ?? 0
        runID = row["run_id"].text
        threadID = row["thread_id"].text
        assistantID = row["assistant_id"].text ?? ""
        jobID = row["job_id"].int
        status = row["status"].text ?? ""
        rounds = Int(row["rounds"].int ?? 0)
        snapshot = row["snapshot"].text.flatMap { try? JSONValue(parsing: $0) }
        request = row["request"].text.flatMap { try? JSONValue(parsing: $0) }
        createdAt = row["created_at"].int ?? 0
        endedAt = row["ended_at"].int
    }
}

/// A tool call as the store knows it.
public struct ToolCallRecord: Sendable, Equatable {
    public var runKey: Int64
    public var callID: String
    public var round: Int
    public var tool: String
    public var arguments: String
    public var state: String
    public var output: String?
    public var attempts: Int
    public var submittedAt: Int64?

    init(_ row: SQLRow) {
        runKey = row["run"].int ?? 0
        callID = row["call_id"].text ?? ""
        round = Int(row["round"].int ?? 0)
        tool = row["tool"].text ?? ""
        arguments = row["arguments"].text ?? ""
        state = row["state"].text ?? ""
        output = row["output"].text
        attempts = Int(row["attempts"].int ?? 0)
        submittedAt = row["submitted_at"].int
    }
}
