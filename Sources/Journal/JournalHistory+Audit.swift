import WireFormat
import WorkModel

/// What `verify`, `replay` and `events --follow` read: a run's stored frames and snapshots, and its event log as it
/// grows.
extension JournalHistory {
    /// A run of the journal, by its id.
    public struct RunIdentity: Sendable {
        public var key: Int64
        public var runID: String
        public var protocolName: String
        /// Whether the run has ended (its last event is stored).
        public var ended: Bool
    }

    /// The run whose id (or last response id) is `runID`.
    public func run(id runID: String) throws -> RunIdentity? {
        try connection.query("SELECT id, run_id, protocol, ended_at FROM runs WHERE run_id = ?", [.text(runID)]).first.map(Self.identity)
    }

    /// Runs created since `since` (Unix ms; every run when `nil`), oldest first.
    public func runs(since: Int64?) throws -> [RunIdentity] {
        try connection.query(
            "SELECT id, run_id, protocol, ended_at FROM runs WHERE run_id IS NOT NULL AND created_at >= ? ORDER BY id",
            [.integer(since ?? 0)]
        ).map(Self.identity)
    }

    /// Whether run `key` has ended.
    public func hasEnded(runKey key: Int64) throws -> Bool {
        try connection.scalar("SELECT CASE WHEN ended_at IS NULL THEN 0 ELSE 1 END FROM runs WHERE id = ?", [.integer(key)]).int == 1
    }

    /// Every frame and note of run `key`, in order, with the data exactly as stored.
    public func storedFrames(runKey key: Int64) throws -> [StoredFrame] {
        try connection.query("SELECT seq, stream, name, kind, data FROM events WHERE run = ? ORDER BY seq", [.integer(key)]).map { row in
            StoredFrame(
                seq: Int(row["seq"].int ?? 0), stream: Int(row["stream"].int ?? 0), name: row["name"].text ?? "",
                kind: row["kind"].text.flatMap(EventKind.init(rawValue:)) ?? .unknown, data: row["data"].text ?? "")
        }
    }

    /// Every snapshot of run `key`, in the order stored.
    public func storedSnapshots(runKey key: Int64) throws -> [StoredSnapshot] {
        try connection.query("SELECT event_seq, object_type, object_id, data FROM snapshots WHERE run = ? ORDER BY id", [.integer(key)]).map { row in
            StoredSnapshot(
                eventSeq: row["event_seq"].int.map(Int.init), type: row["object_type"].text ?? "", objectID: row["object_id"].text ?? "",
                data: (try? JSONValue(parsing: Array((row["data"].text ?? "null").utf8))) ?? .null)
        }
    }

    /// Run `key`'s event log rows after event `seq`, in order: the columns `events` prints, and `detail`, a note's
    /// data (ToolWorker's own notes, a running call's output among them; a frame's data is left to `replay`).
    public func events(runKey key: Int64, after seq: Int) throws -> [SQLRow] {
        try connection.query(
            """
            SELECT seq, stream, event, kind, received, error, CASE WHEN kind = 'note' THEN data END AS detail
            FROM event_log WHERE run_key = ? AND seq > ? ORDER BY seq
            """,
            [.integer(key), .integer(Int64(seq))])
    }

    private static func identity(_ row: SQLRow) -> RunIdentity {
        RunIdentity(
            key: row["id"].int ?? 0, runID: row["run_id"].text ?? "", protocolName: row["protocol"].text ?? "assistants",
            ended: row["ended_at"].int != nil)
    }
}
