import WireFormat

/// A frame as the journal keeps it (an `events` row that is not a note): what rebuilding a loop's snapshots reads.
public struct StoredFrame: Sendable, Equatable {
    public var seq: Int
    /// The HTTP stream it came on (1: the start; then one per submit, resume or resend).
    public var stream: Int
    public var name: String
    public var kind: EventKind
    /// The frame's data, exactly as received.
    public var data: String

    public init(seq: Int, stream: Int, name: String, kind: EventKind, data: String) {
        self.seq = seq
        self.stream = stream
        self.name = name
        self.kind = kind
        self.data = data
    }
}

/// A snapshot as the journal keeps it (a `snapshots` row).
public struct StoredSnapshot: Sendable {
    /// The event it was taken after; `nil` for one read back from the server (a reconciliation's).
    public var eventSeq: Int?
    public var type: String
    public var objectID: String
    public var data: JSONValue

    public init(eventSeq: Int?, type: String, objectID: String, data: JSONValue) {
        self.eventSeq = eventSeq
        self.type = type
        self.objectID = objectID
        self.data = data
    }
}

/// What a loop's stored frames produce when they are accumulated again, as the live stream accumulated them.
public struct RebuiltLoop: Sendable {
    /// Every snapshot the frames produce — after every delta too, not only the sampled ones — with its `eventSeq`.
    public var snapshots: [SnapshotRecord] = []
    /// The round each frame belongs to, by seq: 0 for the start's answer, n for the answer to the n-th round's
    /// outputs.
    public var rounds: [Int: Int] = [:]

    public init() {}
}
