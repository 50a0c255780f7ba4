import FakeAssistants
import Foundation
import Testing
import RunLoopCore

extension SerialSuites {
/// Conversations, what threads were for Assistants: responses created on one, the tool rounds answered on it, jobs on
/// one conversation one at a time and in order.
@Suite("Responses API: conversations", .serialized)
struct ConversationTests {
    @Test("a loop on a conversation: every request names it, none names a previous response; outputs go back to it")
    func loopOnConversation() async throws {
        let h = try RunHarness(scenarios: ["conv": Scenario(rounds: [[ScriptedToolCall("get_weather", #"{"city":"Paris"}"#)]])])
        try h.handler("get_weather", "read args; printf 'sunny'")
        let client = ResponsesClient(configuration: OpenAIClientConfiguration(baseURL: h.server.baseURL, apiKey: h.server.apiKey))
        let conversation = try await client.createConversation()
        let first = try await h.driverRun(RunRequest(assistantID: "", threadID: conversation, message: "weather?", protocolName: "responses", model: "conv"))
        #expect(first.status == .completed, "\(first)")
        #expect(first.threadID == conversation)
        let posts = h.requests("POST", "/responses").compactMap(\.json)
        #expect(posts.count == 2)
        #expect(posts.allSatisfy { $0["conversation"] == .string(conversation) && $0["previous_response_id"] == nil })
        #expect(posts[1]["input"]?.arrayValue?.map { $0["type"]?.stringValue ?? "" } == ["function_call_output"])
        // A second loop on the same conversation carries on from it.
        let second = try await h.driverRun(RunRequest(assistantID: "", threadID: conversation, message: "and now?", protocolName: "responses", model: "conv"))
        #expect(second.status == .completed, "\(second)")
        let items = h.server.conversationItems(conversation) ?? []
        let userTexts = items.filter { $0["role"] == "user" }.compactMap { $0["content"]?[0]?["text"]?.stringValue }
        #expect(userTexts == ["weather?", "and now?"])
        let history = try await h.rows("SELECT thread_id FROM run_history ORDER BY run_key")
        #expect(history.map { $0["thread_id"].text } == [conversation, conversation], "the journal keeps the conversation where a thread goes")
    }

    @Test("run --conversation new creates one, prints it, and runs on it; runs --conversation lists its runs")
    func runWithNewConversation() async throws {
        let h = try RunHarness()
        let config = h.directory.path("c.yaml")
        try "api: { base_url: \"\(h.server.baseURL)\", protocol: responses }\nmodel: asst_text\ntools: {}\ndatabase: \(h.directory.path("cli.db"))\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let environment = ["OPENAI_API_KEY": h.server.apiKey, "PATH": "/usr/bin:/bin"]
        let tw = builtProduct("toolworker")
        let run = try await runCommand(tw, ["run", "--config", config, "--message", "hi", "--conversation", "new"], environment: environment)
        #expect(run.status == 0, "\(run)")
        let conversation = try #require(run.error.split(separator: "\n").first { $0.hasPrefix("conversation: ") }.map { String($0.dropFirst(14)) })
        #expect(conversation.hasPrefix("conv_"))
        #expect(run.output.contains("conversation: \(conversation)"), "\(run.output)")
        #expect(h.server.conversationItems(conversation)?.isEmpty == false)
        let again = try await runCommand(tw, ["run", "--config", config, "--message", "more", "--conversation", conversation], environment: environment)
        #expect(again.status == 0, "\(again)")
        #expect(again.output.contains("[conversation \(conversation): 2 items before this answer]"), "\(again.output)")
        let runs = try await runCommand(tw, ["runs", "--config", config, "--conversation", conversation, "--json"], environment: environment)
        #expect((try JSONValue(parsing: runs.output)).arrayValue?.count == 2, "\(runs.output)")
        let mixed = try await runCommand(tw, ["run", "--config", config, "--message", "x", "--conversation", conversation, "--state", "stateless"], environment: environment)
        #expect(mixed.status == 64, "\(mixed)")
    }
}

@Suite("Responses API: jobs on one conversation", .serialized)
struct ConversationJobTests {
    @Test("three jobs on one conversation run one at a time, in the order queued")
    func threeJobsInOrder() async throws {
        let h = try DaemonHarness(scenarios: [
            "conv": Scenario(finalText: "noted", deltaPieces: 20, frameDelay: .milliseconds(5))
        ])
        try h.writeConfig(runs: 4, extra: "model: conv", tools: "  noop: { command: [\"/bin/true\"] }")
        let client = ResponsesClient(configuration: OpenAIClientConfiguration(baseURL: h.server.baseURL, apiKey: h.server.apiKey))
        let conversation = try await client.createConversation()
        var jobs: [Int64] = []
        for word in ["one", "two", "three"] {
            let enqueue = try await runCommand(
                h.toolworker,
                ["enqueue", "--config", h.configPath, "--protocol", "responses", "--message", word, "--conversation", conversation],
                environment: h.environment)
            #expect(enqueue.status == 0, "\(enqueue)")
            jobs.append(try #require(Int64(enqueue.output.trimmingCharacters(in: .whitespacesAndNewlines))))
        }
        try h.start()
        try await h.waitUntil("the three jobs to succeed") {
            try h.scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 3
        }
        _ = try await h.stop()
        let items = h.server.conversationItems(conversation) ?? []
        let userTexts = items.filter { $0["role"] == "user" }.compactMap { $0["content"]?[0]?["text"]?.stringValue }
        #expect(userTexts == ["one", "two", "three"], "in the order queued: \(userTexts)")
        let answers = items.filter { $0["type"] == "message" && $0["role"] == "assistant" }.compactMap { $0["content"]?[0]?["text"]?.stringValue }
        #expect(answers == [
            "noted [conversation \(conversation): 0 items before this answer]", "noted [conversation \(conversation): 2 items before this answer]",
            "noted [conversation \(conversation): 4 items before this answer]",
        ], "each answer came after the one before: \(answers)")
        let threads = try h.query("SELECT DISTINCT thread_id FROM run_history").compactMap { $0["thread_id"].text }
        #expect(threads == [conversation])
    }
}
}
