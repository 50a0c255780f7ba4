/// What `toolworker migrate-thread` has copied of an Assistants thread into a Responses conversation.
public struct ThreadMigrationRecord: Sendable, Equatable {
    /// The conversation the thread goes into, once made.
    public var conversationID: String?
    /// The thread's messages already copied (or skipped), by id.
    public var messageIDs: Set<String>
    /// How many items the conversation got from the thread so far.
    public var copied: Int

    public init(conversationID: String?, messageIDs: Set<String>, copied: Int) {
        self.conversationID = conversationID
        self.messageIDs = messageIDs
        self.copied = copied
    }
}

/// What copying a thread into a conversation needs from the journal: what was copied so far, and a durable record
/// of each step, so that a copy that stopped goes on where it stopped, into the same conversation.
public protocol ThreadMigrationJournal: Sendable {
    /// What was copied of `threadID` so far.
    func threadMigration(threadID: String) async throws -> ThreadMigrationRecord
    /// Records the conversation made for `threadID`, durably, before anything is copied into it.
    func recordThreadMigration(threadID: String, conversationID: String) async throws
    /// Records messages copied (their item positions in the conversation) or skipped (`position` nil), durably.
    func recordCopiedMessages(threadID: String, conversationID: String, messages: [(id: String, position: Int?)]) async throws
}
