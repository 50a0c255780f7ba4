import WireFormat
import WorkModel
extension AuditStore {
    /// Records a run about to be started; returns its key. Durable on return.
    public func createRun(
        assistantID: String, threadID: String?, jobID: Int64?, request: JSONValue, protocolName: String,
        model: String? = nil
    ) async throws -> Int64 {
        let now = unixMilliseconds()
        let owner = leaseOwner
        return try await write { db in
            let expiry = "\(db.dialect.nowMilliseconds) + ?"
            return try db.scalar(
                """
                INSERT INTO runs (assistant_id, thread_id, job_id, request, created_at, updated_at, protocol, model,
                                  lease_owner, lease_expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN CAST(? AS TEXT) IS NULL THEN NULL ELSE \(expiry) END) RETURNING id
                """,
                [
                    .text(assistantID), .text(threadID), .integer(jobID), .json(request), .integer(now), .integer(now),
                    .text(protocolName), .text(model), .text(owner?.id), .text(owner?.id), .integer(owner?.expiryMilliseconds),
                ]
            ).int ?? 0
        }
    }

    /// Queues the events of a stream, the snapshots taken after them and the run's latest state, as one piece of
    /// the next group commit (all or nothing). Await ``flush()`` before acting on them.
    public func enqueueProgress(
        runKey: Int64, events: [EventRecord], snapshots: [SnapshotRecord], run: RunStateRecord?, usage: [UsageRecord] = []
    ) {
        guard !events.isEmpty || !snapshots.isEmpty || run != nil || !usage.isEmpty else { return }
        let now = unixMilliseconds()
        enqueue(weight: events.count + snapshots.count + usage.count) { db in
            try db.insertRows(
                into: "events",
                columns: ["run", "seq", "stream", "name", "kind", "data", "byte_offset", "error", "received_at", "response_id"],
                rows: events.map { record in
                    [
                        .integer(runKey), .integer(Int64(record.seq)), .integer(Int64(record.stream)), .text(record.name),
                        .text(record.kind.rawValue), .text(record.data), .integer(Int64(record.byteOffset)), .text(record.error),
                        .integer(record.receivedAt), .text(record.responseID),
                    ]
                })
            try db.insertRows(
                into: "snapshots", columns: ["run", "event_seq", "object_type", "object_id", "status", "data", "taken_at"],
                rows: snapshots.map { snapshot in
                    [
                        .integer(runKey), .integer(snapshot.eventSeq.map(Int64.init)), .text(snapshot.type.rawValue),
                        .text(snapshot.objectID), .text(snapshot.status), .json(snapshot.data), .integer(now),
                    ]
                })
            for record in usage { try AuditStore.insertUsage(db, runKey: runKey, record, now: now) }
            if let run { try AuditStore.updateRun(db, runKey: runKey, run: run, now: now) }
        }
    }

    /// A request's usage, once: the same request seen again (a resumed stream, a reconciliation) adds nothing.
    static func insertUsage(_ db: any JournalConnection, runKey: Int64, _ record: UsageRecord, now: Int64) throws {
        try db.execute(
            """
            INSERT INTO usage (run, source, event_seq, model, provider, input_tokens, cached_input_tokens, output_tokens,
                               reasoning_tokens, tools, cost, currency, price, recorded_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (run, source) DO NOTHING
            """,
            [
                .integer(runKey), .text(record.source), .integer(record.eventSeq.map(Int64.init)), .text(record.model),
                .text(record.provider), .integer(record.tokens.input), .integer(record.tokens.cachedInput),
                .integer(record.tokens.output), .integer(record.tokens.reasoning),
                .json(.array(record.tools.map { .string($0) })), record.cost.map { .real($0) } ?? .null, .text(record.currency),
                .json(record.price), .integer(now),
            ])
    }

    /// A run's server id is unique in the journal: an id another run already holds (a server that reuses ids, a
    /// restored server) is not written over it; the row keeps its earlier id and the driver ends that run with
    /// `duplicate_run_id` (``runKey(holding:)``), so the write never fails and no row is left stuck.
    static func updateRun(_ db: any JournalConnection, runKey: Int64, run: RunStateRecord, now: Int64) throws {
        let terminal = run.isTerminal
        try db.execute(
            """
            UPDATE runs SET run_id = CASE
                    WHEN CAST(? AS TEXT) IS NULL THEN run_id
                    WHEN EXISTS (SELECT 1 FROM runs other WHERE other.run_id = ? AND other.id <> ?) THEN run_id
                    ELSE ? END,
                thread_id = coalesce(?, thread_id), status = coalesce(?, status),
                snapshot = ?, last_error = ?, incomplete_details = ?, usage = coalesce(?, usage),
                expires_at = coalesce(?, expires_at), updated_at = ?,
                ended_at = CASE WHEN ? THEN coalesce(ended_at, ?) ELSE NULL END
            WHERE id = ?
            """,
            [
                .text(run.runID), .text(run.runID), .integer(runKey), .text(run.runID), .text(run.threadID), .text(run.status),
                .json(run.snapshot), .json(run.lastError),
                .json(run.incompleteDetails), .json(run.usage), .integer(run.expiresAt), .integer(now),
                .integer(terminal ? 1 : 0), .integer(now), .integer(runKey),
            ])
    }

    /// A loop's past as the journal holds it: the last stored snapshot of each of its server objects (responses,
    /// runs), oldest first, and the answered outputs by call id. Read only.
    public func loopHistory(runKey: Int64) async throws -> LoopHistory {
        try await read { db in
            var order: [String] = []
            var latest: [String: JSONValue] = [:]
            for row in try db.query(
                "SELECT object_id, data FROM snapshots WHERE run = ? AND object_type = 'run' ORDER BY id", [.integer(runKey)])
            {
                guard let id = row["object_id"].text, let text = row["data"].text, let data = try? JSONValue(parsing: text) else { continue }
                if latest[id] == nil { order.append(id) }
                latest[id] = data
            }
            var outputs: [String: String] = [:]
            for row in try db.query("SELECT call_id, output FROM tool_calls WHERE run = ? AND output IS NOT NULL", [.integer(runKey)]) {
                if let id = row["call_id"].text, let output = row["output"].text { outputs[id] = output }
            }
            return LoopHistory(loops: order.compactMap { latest[$0] }, outputs: outputs)
        }
    }

    /// The key of the run that holds the server id `runID`, if any (read only).
    public func runKey(holding runID: String) async throws -> Int64? {
        try await read { db in try db.scalar("SELECT id FROM runs WHERE run_id = ?", [.text(runID)]).int }
    }

    /// Records the run's state as retrieved from the server (reconciliation), durably.
    public func updateRun(runKey: Int64, run: RunStateRecord) async throws {
        let now = unixMilliseconds()
        try await write { db in
            try AuditStore.updateRun(db, runKey: runKey, run: run, now: now)
            try db.execute(
                "INSERT INTO snapshots (run, event_seq, object_type, object_id, status, data, taken_at) VALUES (?, NULL, 'run', ?, ?, ?, ?)",
                [.integer(runKey), .text(run.runID ?? "?"), .text(run.status), .json(run.snapshot), .integer(now)])
        }
    }

    /// Records the thread a run is about to be created on, durably: after a crash or an ambiguous failure of the
    /// create request, the run is looked up there by its key.
    public func setRunThread(runKey: Int64, threadID: String) async throws {
        let now = unixMilliseconds()
        try await write { db in
            try db.execute(
                "UPDATE runs SET thread_id = ?, updated_at = ? WHERE id = ?", [.text(threadID), .integer(now), .integer(runKey)])
        }
    }

    /// Records that the run moved to another provider before it started: its request and model, and no thread.
    public func moveRun(runKey: Int64, request: JSONValue, model: String?) async throws {
        let now = unixMilliseconds()
        try await write { db in
            try db.execute(
                "UPDATE runs SET request = ?, model = ?, thread_id = NULL, updated_at = ? WHERE id = ?",
                [.json(request), .text(model), .integer(now), .integer(runKey)])
        }
    }

    /// Ends a run with an outcome of ToolWorker's own (for example `error` when it could not be created).
    public func endRun(runKey: Int64, status: OutcomeStatus, lastError: JSONValue?) async throws {
        let now = unixMilliseconds()
        try await write { db in
            try db.execute(
                "UPDATE runs SET status = ?, last_error = coalesce(?, last_error), updated_at = ?, ended_at = coalesce(ended_at, ?) WHERE id = ?",
                [.text(status.rawValue), .json(lastError), .integer(now), .integer(now), .integer(runKey)])
        }
    }

    /// A run by its key, or by the server's run id.
    public func run(key: Int64) async throws -> RunRecord? {
        try await read { db in try db.query("SELECT * FROM runs WHERE id = ?", [.integer(key)]).first.map(RunRecord.init) }
    }

    public func run(runID: String) async throws -> RunRecord? {
        try await read { db in try db.query("SELECT * FROM runs WHERE run_id = ?", [.text(runID)]).first.map(RunRecord.init) }
    }

    /// The number of the last stream whose events are stored for a run (0 when none).
    public func lastStream(runKey: Int64) async throws -> Int {
        try await read { db in Int(try db.scalar("SELECT coalesce(max(stream), 0) FROM events WHERE run = ?", [.integer(runKey)]).int ?? 0) }
    }

    /// The highest event sequence number stored for a run (0 when none).
    public func lastEventSeq(runKey: Int64) async throws -> Int {
        try await read { db in Int(try db.scalar("SELECT coalesce(max(seq), 0) FROM events WHERE run = ?", [.integer(runKey)]).int ?? 0) }
    }
}
