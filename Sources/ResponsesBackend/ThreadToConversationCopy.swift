import OpenAIClient
import ResponsesAPI
import WireFormat
import WorkModel

/// Copies an Assistants thread's messages, in order, into a Responses conversation (`toolworker migrate-thread`),
/// for users leaving the Assistants protocol with live threads.
///
/// Every message's text becomes a message item (user: `input_text`, assistant: `output_text`), ``batch`` items per
/// request. The conversation made and each message copied are journaled before going on, so a copy run again goes
/// on where it stopped, into the same conversation, and copies only messages added since. A message without text
/// (only images or files) is recorded as skipped.
public struct ThreadToConversationCopy: Sendable {
    /// Items per `POST /conversations/{id}/items` (the API's limit).
    public static let batch = 20

    /// One message of the thread as read from the Assistants side: its id, role and text (empty when it has none).
    public struct ThreadMessage: Sendable, Equatable {
        public var id: String
        public var role: String
        public var text: String

        public init(id: String, role: String, text: String) {
            self.id = id
            self.role = role
            self.text = text
        }
    }

    /// What one copy did.
    public struct Report: Sendable, Equatable {
        public var conversationID: String
        /// Messages copied by this call.
        public var copiedNow: Int
        /// Messages copied by earlier calls.
        public var copiedBefore: Int
        /// Messages without text, recorded as skipped by this call.
        public var skipped: Int

        public init(conversationID: String, copiedNow: Int, copiedBefore: Int, skipped: Int) {
            self.conversationID = conversationID
            self.copiedNow = copiedNow
            self.copiedBefore = copiedBefore
            self.skipped = skipped
        }
    }

    /// Why a copy stopped (what was journaled before it stays journaled).
    public enum Failure: Error, CustomStringConvertible {
        case conversationNotCreated(OpenAIClientError)
        case itemsNotAdded(conversationID: String, copiedNow: Int, OpenAIClientError)

        public var description: String {
            switch self {
            case .conversationNotCreated(let error): "could not create a conversation: \(error)"
            case .itemsNotAdded(let conversation, let copied, let error):
                "copying into \(conversation) stopped after \(copied) messages: \(error); run it again to go on"
            }
        }
    }

    let client: ResponsesClient
    let journal: any ThreadMigrationJournal

    public init(client: ResponsesClient, journal: any ThreadMigrationJournal) {
        self.client = client
        self.journal = journal
    }

    /// Copies what is not copied yet of `messages` (the thread's, oldest first) into the thread's conversation,
    /// making it on the first call.
    public func copy(threadID: String, messages: [ThreadMessage]) async throws -> Report {
        let done = try await journal.threadMigration(threadID: threadID)
        let conversation: String
        if let known = done.conversationID {
            conversation = known
        } else {
            do {
                conversation = try await client.createConversation(metadata: ["toolworker_thread": .string(threadID)])
            } catch {
                throw Failure.conversationNotCreated(error)
            }
            try await journal.recordThreadMigration(threadID: threadID, conversationID: conversation)
        }
        let pending = messages.filter { !$0.id.isEmpty && !done.messageIDs.contains($0.id) }
        var report = Report(conversationID: conversation, copiedNow: 0, copiedBefore: done.copied, skipped: 0)
        var position = done.copied
        var index = pending.startIndex
        while index < pending.endIndex {
            // Up to `batch` items; messages without text are recorded as skipped in their place.
            var items: [JSONValue] = []
            var recorded: [(id: String, position: Int?)] = []
            while index < pending.endIndex, items.count < Self.batch {
                let message = pending[index]
                index += 1
                if let item = Self.item(message) {
                    items.append(item)
                    recorded.append((message.id, position + items.count - 1))
                } else {
                    recorded.append((message.id, nil))
                    report.skipped += 1
                }
            }
            if !items.isEmpty {
                do {
                    try await client.addItems(conversation: conversation, items)
                } catch {
                    throw Failure.itemsNotAdded(conversationID: conversation, copiedNow: report.copiedNow, error)
                }
            }
            try await journal.recordCopiedMessages(threadID: threadID, conversationID: conversation, messages: recorded)
            position += items.count
            report.copiedNow += items.count
        }
        return report
    }

    /// A message as a conversation item: its text, as the role's kind of text; `nil` when it has none.
    static func item(_ message: ThreadMessage) -> JSONValue? {
        guard !message.text.isEmpty else { return nil }
        let role = message.role == "assistant" ? "assistant" : "user"
        return [
            "type": "message", "role": .string(role),
            "content": [["type": .string(role == "assistant" ? "output_text" : "input_text"), "text": .string(message.text)]],
        ]
    }
}
