import Foundation
import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("Golden streams")
struct GoldenStreamTests {
    static let fixtures = ["text_with_annotations", "parallel_tool_calls", "two_rounds", "failed_run", "unknown_event"]

    @Test("accumulates to the expected snapshots", arguments: fixtures)
    func matchesExpected(name: String) async throws {
        let actual = try await accumulateFixture(try Fixtures.streams(name))
        let expected = try Fixtures.json("\(name).expected.json")
        #expect(actual == expected, "\(name): \(actual)")
    }

    @Test("accumulates to the same snapshots without helper events (the text fast path)", arguments: fixtures)
    func matchesExpectedWithoutHelpers(name: String) async throws {
        let actual = try await accumulateFixture(try Fixtures.streams(name), helpers: false)
        let expected = try Fixtures.json("\(name).expected.json")
        #expect(actual == expected, "\(name): \(actual)")
    }

    @Test("split at every byte boundary gives identical results", arguments: fixtures, [true, false])
    func everySplit(name: String, helpers: Bool) async throws {
        let streams = try Fixtures.streams(name)
        let expected = try Fixtures.json("\(name).expected.json")
        let longest = streams.map(\.count).max() ?? 0
        for cut in 1..<longest {
            // Thousands of whole-stream runs: yield between them so the pool's threads stay shared (see
            // ResponsesStreamTests.everySplit).
            await Task.yield()
            let actual = try await accumulateFixture(streams, helpers: helpers) { _ in [cut] }
            #expect(actual == expected, "\(name) split at \(cut)")
            if actual != expected { return }
        }
    }

    @Test("random chunkings give identical results", arguments: fixtures)
    func randomChunks(name: String) async throws {
        let streams = try Fixtures.streams(name)
        let expected = try Fixtures.json("\(name).expected.json")
        var generator = SplitMix64(seed: 0xC0FFEE)
        for _ in 0..<200 {
            await Task.yield()
            let actual = try await accumulateFixture(streams) { bytes in
                (0..<Int.random(in: 1...40, using: &generator)).map { _ in Int.random(in: 1..<bytes.count, using: &generator) }
            }
            #expect(actual == expected)
            if actual != expected { return }
        }
    }

    @Test("the text fixture's final message text is the concatenated deltas")
    func finalText() async throws {
        let bytes = try Fixtures.bytes("text_with_annotations.sse")
        let stream = AssistantStream(ChunkSequence(bytes, cuts: []))
        let messages = try await stream.finalMessages()
        #expect(messages.count == 1)
        #expect(messages[0].text == "Café au lait 😀 is best【4:0†notes.txt】")
        #expect(stream.currentRun()?.status == .completed)
    }

    @Test("unknown and malformed frames are kept, typed, and do not stop the stream")
    func unknownAndMalformed() async throws {
        let bytes = try Fixtures.bytes("unknown_event.sse")
        var events: [ServerEvent] = []
        for try await element in AssistantStream(ChunkSequence(bytes, cuts: [])) {
            if case .event(let event) = element { events.append(event) }
        }
        #expect(events.count == 7)
        guard case .unknown(let name, let data) = events[2].event else {
            Issue.record("expected unknown, got \(events[2].event)")
            return
        }
        #expect(name == "thread.run.future_thing")
        #expect(data?["hint"] == 1)
        guard case .unknown("vendor.telemetry", _) = events[3].event else {
            Issue.record("expected unknown vendor event")
            return
        }
        guard case .malformed(let error) = events[4].event else {
            Issue.record("expected malformed, got \(events[4].event)")
            return
        }
        #expect(error.event == "thread.message.delta")
        #expect(error.frameOffset == events[4].offset)
        #expect(error.frameOffset > 0)
        #expect(events[4].data == "{not json")
        #expect(events[5].event == .run(.completed, Run(json: try JSONValue(parsing: events[5].data))))
        #expect(events[6].event == .done)
    }

    @Test("parallel tool calls yield SDK-style helper events in order")
    func helperEvents() async throws {
        let bytes = try Fixtures.bytes("parallel_tool_calls.sse")
        var helpers: [String] = []
        for try await element in AssistantStream(ChunkSequence(bytes, cuts: [])) {
            guard case .helper(let helper) = element else { continue }
            switch helper {
            case .toolCallCreated(let call): helpers.append("created:\(call["id"]?.stringValue ?? "?")")
            case .toolCallDelta(_, let call): helpers.append("delta:\(call["index"]?.intValue ?? -1)")
            case .toolCallDone(let call):
                helpers.append("done:\(call["id"]?.stringValue ?? "?"):\(call[path: "function.arguments"]?.stringValue ?? "")")
            case .runStepCreated: helpers.append("step")
            default: break
            }
        }
        #expect(helpers == [
            "step", "created:call_1", "delta:0", "done:call_1:{\"ci", "created:call_2",
            "done:call_2:", "created:call_1", "done:call_1:{\"city\":\"Paris\"}", "created:call_2",
            "done:call_2:{\"tz\":\"Europe/Paris\"}",
        ])
    }

    @Test("a body that ends before [DONE] yields its events, then throws")
    func truncated() async throws {
        let bytes = try Fixtures.bytes("failed_run.sse")
        let cut = Array(bytes[..<(bytes.count - "event: done\ndata: [DONE]\n\n".utf8.count)])
        let stream = AssistantStream(ChunkSequence(cut, cuts: []))
        var count = 0
        await #expect(throws: AssistantStreamError.self) {
            for try await element in stream { if case .event = element { count += 1 } }
        }
        #expect(count == 4)
        #expect(stream.currentRun()?.status == .failed)
    }
}

/// A seeded generator so "random" chunkings are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
