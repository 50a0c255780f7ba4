/// A queued request to start a run.
public struct JobRecord: Sendable, Equatable {
    public var id: Int64
    public var assistantID: String
    public var threadID: String?
    public var message: String?
    public var instructions: String?
    public var metadata: JSONValue?
    public var state: String
    public var attempts: Int
    public var maxAttempts: Int
    public var notBefore: Int64
    public var lastError: String?
    public var createdAt: Int64

    init(_ row: SQLRow) {
        id = row["id"].int ?? 0
        assistantID = row["assistant_id"].text ?? ""
        threadID = row["thread_id"].text
        message = row["message"].text
        instructions = row["instructions"].text
        metadata = row["metadata"].text.flatMap { try? JSONValue(parsing: $0) }
        state = row["state"].text ?? ""
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
        maxAttempts: Int = 3
    ) async throws -> Int64 {
        let now = unixMilliseconds()
        return try await write { db in
            try db.execute(
                """
                INSERT INTO jobs (assistant_id, thread_id, message, instructions, metadata, max_attempts, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(assistantID), .text(threadID), .text(message), .text(instructions), .json(metadata),
                    .integer(Int64(maxAttempts)), .integer(now), .integer(now),
                ])
            return db.lastInsertRowID
        }
    }

    /// A job by id.
    public func job(id: Int64) async throws -> JobRecord? {
        try await read { db in try db.query("SELECT * FROM jobs WHERE id = ?", [.integer(id)]).first.map(JobRecord.init) }
    }

    /// Jobs in a state, oldest first.
    public func jobs(state: String) async throws -> [JobRecord] {
        try await read { db in try db.query("SELECT * FROM jobs WHERE state = ? ORDER BY id", [.text(state)]).map(JobRecord.init) }
    }

    /// Sets a job's state (and error), durably.
    public func updateJob(id: Int64, state: String, lastError: String? = nil, notBefore: Int64? = nil, countAttempt: Bool = false) async throws {
        let now = unixMilliseconds()
        try await write { db in
            try db.execute(
                """
                UPDATE jobs SET state = ?, last_error = coalesce(?, last_error), not_before = coalesce(?, not_before),
                    attempts = attempts + ?, updated_at = ? WHERE id = ?
                """,
                [.text(state), .text(lastError), .integer(notBefore), .integer(countAttempt ? 1 : 0), .integer(now), .integer(id)])
        }
    }
}
