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
            let copy = ThreadToConversationCopy(client: responses, journal: store)
            let report: ThreadToConversationCopy.Report
            do {
                report = try await copy.copy(
                    threadID: thread,
                    messages: messages.map { .init(id: $0.id ?? "", role: $0.role ?? "user", text: $0.text) })
            } catch let failure as ThreadToConversationCopy.Failure {
                throw CommandFailure(message: "\(failure)", code: ExitStatus.error)
            }
            print("conversation: \(report.conversationID)")
            print("thread \(thread): \(report.copiedNow) messages copied now, \(report.copiedBefore) before, \(report.skipped) without text skipped")
        }
    }
}
