import WireFormat
import WorkModel

/// One event as the journal stores it, numbered within its run: the raw frame and how it was classified.
public struct EventRecord: Sendable, Equatable {
    public var seq: Int
    /// Which HTTP stream of the run it came on (1 for the create, then one per submit or reconnection).
    public var stream: Int
    /// The event name as sent.
    public var name: String
    public var kind: EventKind
    /// The frame's data, exactly as received.
    public var data: String
    /// Byte offset of the frame in its HTTP response body.
    public var byteOffset: Int
    /// Why it could not be decoded, or the server's error, for `malformed` and `error` rows.
    public var error: String?
    public var receivedAt: Int64
    /// The id of the response (Responses) or run (Assistants) whose stream carried it, when known.
    public var responseID: String?

    public init(
        seq: Int, stream: Int, name: String, kind: EventKind, data: String, byteOffset: Int, error: String?, receivedAt: Int64,
        responseID: String? = nil
    ) {
        self.responseID = responseID
        self.seq = seq
        self.stream = stream
        self.name = name
        self.kind = kind
        self.data = data
        self.byteOffset = byteOffset
        self.error = error
        self.receivedAt = receivedAt
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
    /// `assistants` or `responses`.
    public var protocolName: String
    public var model: String?

    init(_ row: SQLRow) {
        protocolName = row["protocol"].text ?? ""
        model = row["model"].text
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
    public var state: ToolCallState
    public var output: String?
    public var attempts: Int
    public var submittedAt: Int64?

    init(_ row: SQLRow) {
        runKey = row["run"].int ?? 0
        callID = row["call_id"].text ?? ""
        round = Int(row["round"].int ?? 0)
        tool = row["tool"].text ?? ""
        arguments = row["arguments"].text ?? ""
        state = row["state"].text.flatMap(ToolCallState.init(rawValue:)) ?? .pending
        output = row["output"].text
        attempts = Int(row["attempts"].int ?? 0)
        submittedAt = row["submitted_at"].int
    }
}
