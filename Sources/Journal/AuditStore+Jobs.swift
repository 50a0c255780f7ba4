import WireFormat
import WorkModel
/// A queued request to start a run.
public struct JobRecord: Sendable, Equatable {
    public var id: Int64
    public var assistantID: String
    public var threadID: String?
    public var message: String?
    public var instructions: String?
    public var metadata: JSONValue?
    public var state: JobState
    public var attempts: Int
    public var maxAttempts: Int
    public var notBefore: Int64
    public var lastError: String?
    public var createdAt: Int64
    /// `assistants` or `responses`.
    public var protocolName: String
    public var model: String?
    /// Per-job options (`max_rounds`), a JSON object.
    public var options: JSONValue?

    init(_ row: SQLRow) {
        options = row["options"].text.flatMap { try? JSONValue(parsing: $0) }
        protocolName = row["protocol"].text ?? ""
        model = row["model"].text
        id = row["id"].int ?? 0
        assistantID = row["assistant_id"].text ?? ""
        threadID = row["thread_id"].text
        message = row["message"].text
        instructions = row["instructions"].text
        metadata = row["metadata"].text.flatMap { try? JSONValue(parsing: $0) }
        state = row["state"].text.flatMap(JobState.init(rawValue:)) ?? .queued
        attempts = Int(row["attempts"].int ?? 0)
        maxAttempts = Int(row["max_attempts"].int ?? 0)
        notBefore = row["not_before"].int ?? 0
        lastError = row["last_error"].text
        createdAt = row["created_at"].int ?? 0
    }
}

extension AuditStore {
    /// Adds a job to the queue; returns its id once durable.
    public func enqueueJob(
        assistantID: String, threadID: String?, message: String?, instructions: String?, metadata: JSONValue?,
        maxAttempts: Int = 3, protocolName: String, model: String? = nil, options: JSONValue? = nil
    ) async throws -> Int64 {
        let now = unixMilliseconds()
        return try await write { db in
            try db.scalar(
                """
                INSERT INTO jobs (assistant_id, thread_id, message, instructions, metadata, max_attempts, created_at, updated_at,
                                  protocol, model, options)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                """,
                [
                    .text(assistantID), .text(threadID), .text(message), .text(instructions), .json(metadata),
                    .integer(Int64(maxAttempts)), .integer(now), .integer(now), .text(protocolName), .text(model),
                    .json(options),
                ]
            ).int ?? 0
        }
    }

    /// A job by id.
    public func job(id: Int64) async throws -> JobRecord? {
        try await read { db in try db.query("SELECT * FROM jobs WHERE id = ?", [.integer(id)]).first.map(JobRecord.init) }
    }

    /// Jobs in a state, oldest first.
    public func jobs(state: JobState) async throws -> [JobRecord] {
        try await read { db in try db.query("SELECT * FROM jobs WHERE state = ? ORDER BY id", [.text(state.rawValue)]).map(JobRecord.init) }
    }

    /// Sets a job's state (and error), durably.
    /// `uncountAttempt` takes back the attempt its claim counted (a start parked for its rate limit was no attempt).
    public func updateJob(
        id: Int64, state: JobState, lastError: String? = nil, notBefore: Int64? = nil, countAttempt: Bool = false,
        uncountAttempt: Bool = false
    ) async throws {
        let now = unixMilliseconds()
        let change: Int64 = countAttempt ? 1 : uncountAttempt ? -1 : 0
        try await write { db in
            try db.execute(
                """
                UPDATE jobs SET state = ?, last_error = coalesce(?, last_error), not_before = coalesce(?, not_before),
                    attempts = CASE WHEN attempts + ? < 0 THEN 0 ELSE attempts + ? END, updated_at = ? WHERE id = ?
                """,
                [.text(state.rawValue), .text(lastError), .integer(notBefore), .integer(change), .integer(change), .integer(now), .integer(id)])
        }
    }
}

extension AuditStore {
    /// Records the thread created for a job (before its run is created, so a restart finds it).
    public func setJobThread(id: Int64, threadID: String) async throws {
        try await write { db in
            try db.execute("UPDATE jobs SET thread_id = ? WHERE id = ?", [.text(threadID), .integer(id)])
        }
    }

    /// Whether a run of this job ever reached the server (its first message is then already on the thread).
    public func jobHasServerRun(id: Int64) async throws -> Bool {
        try await read { db in
            (try db.scalar("SELECT count(*) FROM runs WHERE job_id = ? AND run_id IS NOT NULL", [.integer(id)]).int ?? 0) > 0
        }
    }

    /// Milliseconds since the oldest queued job was queued, or `nil` when none is.
    public func oldestQueuedJobAge(now: Int64 = unixMilliseconds()) async throws -> Int64? {
        try await read { db in
            try db.scalar("SELECT min(created_at) FROM jobs WHERE state = 'queued'").int.map { max(0, now - $0) }
        }
    }

    /// Job counts by state.
    public func jobCounts() async throws -> [JobState: Int] {
        try await read { db in
            var counts: [JobState: Int] = [:]
            for row in try db.query("SELECT state, count(*) AS n FROM jobs GROUP BY state") {
                if let state = row["state"].text.flatMap(JobState.init(rawValue:)) { counts[state] = Int(row["n"].int ?? 0) }
            }
            return counts
        }
    }
}
