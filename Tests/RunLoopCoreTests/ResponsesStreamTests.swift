import Foundation
import Testing
import ResponsesProtocol
import WireFormat
import WorkModel

/// The Responses stream engine on golden streams shaped like recorded ones: every byte split gives the same
/// snapshot, replayed sequence numbers are applied once, and every kind of odd event is kept, not fatal.
@Suite("Responses API streams: decoding and accumulation")
struct ResponsesStreamTests {
    static func bytes(_ name: String) throws -> [UInt8] {
        try Fixtures.bytes("responses/\(name).sse")
    }

    /// Parses and accumulates `chunks`; returns the accumulator and the event names.
    static func run(_ chunks: [[UInt8]], into accumulator: inout ResponseAccumulator) throws -> [String] {
        var parser = SSEParser()
        var names: [String] = []
        for chunk in chunks {
            for frame in try parser.feed(chunk) {
                let event = ResponseEventDecoder.decode(frame)
                names.append(event.name)
                accumulator.apply(event)
            }
        }
        return names
    }

    @Test("a round of parallel function calls: calls by call_id with their whole arguments; the terminal object wins")
    func functionCalls() throws {
        var accumulator = ResponseAccumulator()
        let names = try Self.run([try Self.bytes("function_calls")], into: &accumulator)
        #expect(names.first == "response.created")
        #expect(names.last == "response.completed")
        #expect(accumulator.functionCalls == [
            ToolCall(id: "call_01", name: "get_weather", arguments: #"{"city":"Paris"}"#),
            ToolCall(id: "call_02", name: "get_weather", arguments: #"{"city":"Tokyo"}"#),
        ])
        #expect(accumulator.response?["status"] == "completed")
        #expect(accumulator.response?[path: "usage.total_tokens"] == 70)
        #expect(accumulator.anomalies.isEmpty)
    }

    @Test("a text answer with reasoning, an annotation and an unknown event", arguments: [1, 2, 3, 7, 64, 1000])
    func textAnswer(chunkSize: Int) throws {
        let bytes = try Self.bytes("text_answer")
        let chunks = stride(from: 0, to: bytes.count, by: chunkSize).map { Array(bytes[$0..<min(bytes.count, $0 + chunkSize)]) }
        var accumulator = ResponseAccumulator()
        let names = try Self.run(chunks, into: &accumulator)
        #expect(names.contains("response.some_future_event"))
        #expect(accumulator.outputText == "Paris: 2°C and clear. Tokyo: 27°C — sunny! 🌤")
        #expect(accumulator.functionCalls.isEmpty)
        #expect(accumulator.response?[path: "output.0.summary.0.text"] == "Looking up both cities.")
        #expect(accumulator.response?["id"] == "resp_02")
    }

    @Test("split at every byte boundary gives the same snapshot", arguments: ["function_calls", "text_answer"])
    func everySplit(_ name: String) async throws {
        let bytes = try Self.bytes(name)
        var whole = ResponseAccumulator()
        _ = try Self.run([bytes], into: &whole)
        for cut in 1..<bytes.count {
            // Thousands of whole-stream parses: yield between them, so this never holds one of the cooperative
            // pool's two threads long enough to starve the timing-sensitive tests running beside it.
            await Task.yield()
            var split = ResponseAccumulator()
            _ = try Self.run([Array(bytes[..<cut]), Array(bytes[cut...])], into: &split)
            #expect(split.response == whole.response, "cut at \(cut)")
            #expect(split.functionCalls == whole.functionCalls)
        }
    }

    @Test("a resumed stream that replays sequence numbers applies each event once")
    func replayedSequenceNumbers() throws {
        let bytes = try Self.bytes("text_answer")
        var once = ResponseAccumulator()
        _ = try Self.run([bytes], into: &once)
        var twice = ResponseAccumulator()
        _ = try Self.run([Array(bytes[..<(bytes.count / 2)])], into: &twice)
        // The background stream resumed with starting_after omitted: everything again from the start.
        _ = try Self.run([bytes], into: &twice)
        #expect(twice.outputText == once.outputText)
        #expect(twice.response == once.response)
    }

    @Test("error events in both shapes, malformed frames and deltas for unknown items are recorded, not fatal")
    func oddEvents() throws {
        let text = """
            event: error
            data: {"type":"error","code":"server_error","message":"flat","param":null,"sequence_number":1}

            event: error
            data: {"type":"error","sequence_number":2,"error":{"type":"server_error","code":"rate_limit","message":"nested","param":null}}

            event: response.output_text.delta
            data: {"type":"response.output_text.delta","output_index":4,"content_index":0,"delta":"orphan","sequence_number":3}

            event: response.output_item.added
            data: {"id": oops

            """
        var accumulator = ResponseAccumulator()
        var parser = SSEParser()
        var kinds: [ResponseEvent.Kind] = []
        for frame in try parser.feed(Array((text + "\n\n").utf8)) {
            let event = ResponseEventDecoder.decode(frame)
            kinds.append(event.kind)
            accumulator.apply(event)
        }
        try #require(kinds.count == 4)
        #expect(kinds[0] == .error(code: "server_error", message: "flat"))
        #expect(kinds[1] == .error(code: "rate_limit", message: "nested"))
        guard case .malformed = kinds[3] else { Issue.record("expected malformed, got \(kinds[3])"); return }
        #expect(accumulator.anomalies.count == 1)
        #expect(accumulator.outputItems.count == 1, "a stub item holds the orphan delta")
    }
}
