import ArgumentParser
import Foundation
import RunLoopCore

/// `toolworker migrate-thread THREAD --to-conversation`: an Assistants thread's messages, copied in order into a new
/// Responses conversation, for users leaving the Assistants protocol with live threads.
struct MigrateThreadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-thread",
        abstract: "Copy an Assistants thread's messages, in order, into a new Responses conversation; prints its id.",
        discussion: """
            Every message's text becomes a message item (user: input_text, assistant: output_text), 20 items per \
            request. Each copied message is recorded in the journal (thread_migrations), so running it again goes on \
            where it stopped, into the same conversation, and copies only messages added since. A message with no \
            text (only images or files) is recorded as skipped.
            """)

    /// Items per `POST /conversations/{id}/items` (the API's limit).
    static let batch = 20

    @OptionGroup var options: ConfigOption
    @Argument(help: "The Assistants thread to copy.") var thread: String
    @Flag(help: "Copy into a Responses conversation (made on the first run, reused after).") var toConversation = false

    func validate() throws {
        guard toConversation else { throw ValidationError("say where to: --to-conversation") }
        if thread.allSatisfy(\.isWhitespace) { throw ValidationError("the thread id is empty") }
    }

    func run() async throws {
        try await guarded {
            let config = try options.load()
            let clientConfiguration = try options.clientConfiguration(config)
            let store = try openStore(config)
            defer { store.close() }
            let http = HTTPClient(configuration: clientConfiguration.http)
            let assistants = AssistantsClient(configuration: clientConfiguration, http: http)
            let responses = ResponsesClient(configuration: clientConfiguration, http: http)
            let messages: [Message]
            do {
                messages = try await assistants.listMessages(threadID: thread, maxPages: 10_000)
            } catch {
                throw CommandFailure(message: "could not read thread \(thread): \(error)", code: ExitStatus.error)
            }
            let done = try await store.threadMigration(threadID: thread)
            var conversation = done.conversationID
            if conversation == nil {
                do {
                    conversation = try await responses.createConversation(metadata: ["toolworker_thread": .string(thread)])
                } catch {
                    throw CommandFailure(message: "could not create a conversation: \(error)", code: ExitStatus.error)
                }
                try await store.recordThreadMigration(threadID: thread, conversationID: conversation!)
            }
            guard let conversation else { return }
            let pending = messages.filter { $0.id.map { !done.messageIDs.contains($0) } ?? false }
            var position = done.copied
            var copied = 0
            var skipped = 0
            var index = pending.startIndex
            while index < pending.endIndex {
                // Up to 20 items; messages without text are recorded as skipped in their place.
                var items: [JSONValue] = []
                var recorded: [(id: String, position: Int?)] = []
                while index < pending.endIndex, items.count < Self.batch {
                    let message = pending[index]
                    index += 1
                    if let item = Self.item(message) {
                        items.append(item)
                        recorded.append((message.id ?? "", position + items.count - 1))
                    } else {
                        recorded.append((message.id ?? "", nil))
                        skipped += 1
                    }
                }
                if !items.isEmpty {
                    do {
                        try await responses.addItems(conversation: conversation, items)
                    } catch {
                        throw CommandFailure(
                            message: "copying into \(conversation) stopped after \(copied) messages: \(error); run it again to go on",
                            code: ExitStatus.error)
                    }
                }
                try await store.recordCopiedMessages(threadID: thread, conversationID: conversation, messages: recorded)
                position += items.count
                copied += items.count
            }
            print("conversation: \(conversation)")
            print("thread \(thread): \(copied) messages copied now, \(done.copied) before, \(skipped) without text skipped")
        }
    }

    /// A message as a conversation item: its text blocks, as the role's kind of text; `nil` when it has none.
    static func item(_ message: Message) -> JSONValue? {
        let text = message.text
        guard !text.isEmpty else { return nil }
        let role = message.role == "assistant" ? "assistant" : "user"
        return [
            "type": "message", "role": .string(role),
            "content": [["type": .string(role == "assistant" ? "output_text" : "input_text"), "text": .string(text)]],
        ]
    }
}
