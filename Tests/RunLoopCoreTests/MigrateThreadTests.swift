import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
@Suite("migrate-thread: an Assistants thread into a Responses conversation", .serialized)
struct MigrateThreadTests {
    @Test("every message in order, 20 items a request, recorded; a second run copies only what is new, into the same conversation")
    func migrate() async throws {
        let h = try RunHarness()
        let first = try await h.run("asst_text", message: "m0")
        let thread = try #require(first.threadID)
        for i in 1..<11 {
            let outcome = try await h.driverRun(RunRequest(assistantID: "asst_text", threadID: thread, message: "m\(i)"))
            #expect(outcome.status == .completed)
        }
        let config = h.directory.path("c.yaml")
        try "api: { base_url: \"\(h.server.baseURL)\" }\ntools: {}\ndatabase: \(h.directory.path("audit.db"))\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["OPENAI_API_KEY": h.server.apiKey, "PATH": "/usr/bin:/bin"]
        let tw = builtProduct("toolworker")
        let migrate = try await runCommand(tw, ["migrate-thread", thread, "--to-conversation", "--config", config], environment: environment)
        #expect(migrate.status == 0, "\(migrate)")
        let conversation = try #require(migrate.output.split(separator: "\n").first { $0.hasPrefix("conversation: ") }.map { String($0.dropFirst(14)) })
        let items = h.server.conversationItems(conversation) ?? []
        #expect(items.count == 22)
        let texts = items.compactMap { $0["content"]?[0]?["text"]?.stringValue }
        #expect(texts.enumerated().filter { $0.offset % 2 == 0 }.map(\.element) == (0..<11).map { "m\($0)" }, "user messages in order")
        #expect(items.enumerated().allSatisfy { ($0.offset % 2 == 0 ? "user" : "assistant") == $0.element["role"]?.stringValue })
        #expect(items[1]["content"]?[0]?["type"] == "output_text")
        let batches = h.requests("POST", "/items").compactMap { $0.json?["items"]?.arrayValue?.count }
        #expect(batches == [20, 2], "\(batches)")
        let recorded = try await h.rows("SELECT count(*) AS n FROM thread_migrations WHERE thread_id = '\(thread)' AND message_id <> ''")
        #expect(recorded.first?["n"].int == 22)
        // Again, after one more exchange on the thread: only the two new messages, same conversation.
        _ = try await h.driverRun(RunRequest(assistantID: "asst_text", threadID: thread, message: "m11"))
        let again = try await runCommand(tw, ["migrate-thread", thread, "--to-conversation", "--config", config], environment: environment)
        #expect(again.status == 0, "\(again)")
        #expect(again.output.contains("conversation: \(conversation)"))
        #expect(again.output.contains("2 messages copied now, 22 before"), "\(again.output)")
        #expect(h.server.conversationItems(conversation)?.count == 24)
        let missing = try await runCommand(tw, ["migrate-thread", thread, "--config", config], environment: environment)
        #expect(missing.status == 64, "--to-conversation is required: \(missing)")
    }

    @Test("in process: items in order, 20 a request, a message without text skipped in its place; a second copy adds only the new one; a lost conversation stops with a clear error and nothing recorded")
    func copyInProcess() async throws {
        let h = try RunHarness()
        let configuration = OpenAIClientConfiguration(baseURL: h.server.baseURL, apiKey: h.server.apiKey)
        let copy = ThreadToConversationCopy(
            client: ResponsesClient(configuration: configuration, http: HTTPClient(configuration: configuration.http)), journal: h.store)
        let messages = (0..<25).map { i in
            ThreadToConversationCopy.ThreadMessage(id: "msg_\(i)", role: i % 2 == 0 ? "user" : "assistant", text: i == 3 ? "" : "t\(i)")
        }
        let first = try await copy.copy(threadID: "thread_x", messages: messages)
        #expect(first.copiedNow == 24 && first.copiedBefore == 0 && first.skipped == 1, "\(first)")
        let items = h.server.conversationItems(first.conversationID) ?? []
        #expect(items.compactMap { $0["content"]?[0]?["text"]?.stringValue } == (0..<25).filter { $0 != 3 }.map { "t\($0)" })
        #expect(items[1]["role"] == "assistant" && items[1]["content"]?[0]?["type"] == "output_text")
        #expect(items[0]["role"] == "user" && items[0]["content"]?[0]?["type"] == "input_text")
        #expect(h.requests("POST", "/items").compactMap { $0.json?["items"]?.arrayValue?.count } == [20, 4])
        let skipped = try await h.rows("SELECT message_id FROM thread_migrations WHERE thread_id = 'thread_x' AND position IS NULL")
        #expect(skipped.map { $0["message_id"].text } == ["msg_3"])

        let second = try await copy.copy(
            threadID: "thread_x", messages: messages + [.init(id: "msg_25", role: "user", text: "t25")])
        #expect(second == ThreadToConversationCopy.Report(conversationID: first.conversationID, copiedNow: 1, copiedBefore: 24, skipped: 0))
        #expect(h.server.conversationItems(first.conversationID)?.count == 25)

        // The journal names a conversation the server no longer has: the copy stops, saying where and why.
        try await h.store.recordThreadMigration(threadID: "thread_y", conversationID: "conv_gone")
        await #expect {
            _ = try await copy.copy(threadID: "thread_y", messages: messages)
        } throws: { error in
            guard case .itemsNotAdded(let conversation, let copied, _) = error as? ThreadToConversationCopy.Failure else { return false }
            return conversation == "conv_gone" && copied == 0 && "\(error)".contains("run it again to go on")
        }
        let recorded = try await h.rows("SELECT count(*) AS n FROM thread_migrations WHERE thread_id = 'thread_y' AND message_id <> ''")
        #expect(recorded.first?["n"].int == 0)
    }
}
}
