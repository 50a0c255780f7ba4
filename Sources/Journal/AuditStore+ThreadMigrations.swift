import WireFormat
import WorkModel

extension AuditStore: ThreadMigrationJournal {
    /// What was copied of `threadID` so far (read only).
    public func threadMigration(threadID: String) async throws -> ThreadMigrationRecord {
        try await read { db in
            let rows = try db.query(
                "SELECT message_id, conversation_id, position FROM thread_migrations WHERE thread_id = ?", [.text(threadID)])
            return ThreadMigrationRecord(
                conversationID: rows.first?["conversation_id"].text,
                messageIDs: Set(rows.compactMap { $0["message_id"].text }.filter { !$0.isEmpty }),
                copied: rows.filter { $0["position"].int.map { $0 >= 0 } ?? false }.count)
        }
    }

    /// Records the conversation made for `threadID`, durably, before anything is copied into it.
    public func recordThreadMigration(threadID: String, conversationID: String) async throws {
        let now = unixMilliseconds()
        try await write { db in
            try db.execute(
                """
                INSERT INTO thread_migrations (thread_id, message_id, conversation_id, position, copied_at)
                VALUES (?, '', ?, -1, ?) ON CONFLICT DO NOTHING
                """,
                [.text(threadID), .text(conversationID), .integer(now)])
        }
    }

    /// Records messages copied into the conversation (their item positions there), or skipped (`position` nil), durably.
    public func recordCopiedMessages(threadID: String, conversationID: String, messages: [(id: String, position: Int?)]) async throws {
        let now = unixMilliseconds()
        try await write { db in
            for message in messages {
                try db.execute(
                    """
                    INSERT INTO thread_migrations (thread_id, message_id, conversation_id, position, copied_at)
                    VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                    """,
                    [.text(threadID), .text(message.id), .text(conversationID), .integer(message.position.map(Int64.init)), .integer(now)])
            }
        }
    }
}
