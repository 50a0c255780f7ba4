import Foundation
import RunLoopCore

/// ToolWorker benchmarks, reported as rates and ratios (never asserted in tests).
/// Run: swift run -c release Benchmarks [engine|all]
let which = CommandLine.arguments.dropFirst().first ?? "all"

func measure(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func measureAsync(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

if which == "engine" || which == "all" {
    for deltas in (ProcessInfo.processInfo.environment["DELTAS"].flatMap(Int.init).map { [$0] } ?? [20_000, 100_000]) {
        let body = SyntheticStream.messageStream(deltas: deltas)
        let chunks = SyntheticStream.chunked(body, size: 1_400)
        var events = 0
        var textLength = 0
        let seconds = try measure {
            var parser = SSEParser()
            var accumulator = SnapshotAccumulator()
            for chunk in chunks {
                for frame in try parser.feed(chunk) {
                    _ = accumulator.apply(EventDecoder.decode(frame).event, helpers: ProcessInfo.processInfo.environment["HELPERS"] != nil)
                    events += 1
                }
            }
            textLength = accumulator.finalMessages.first?.text.count ?? 0
        }
        print(
            String(
                format: "engine: %d deltas, %d events, %.1f MB in %.3f s = %.0f events/s, %.1f MB/s (text %d chars)",
                deltas, events, Double(body.count) / 1e6, seconds, Double(events) / seconds,
                Double(body.count) / 1e6 / seconds, textLength))
    }
}

if which == "engine" || which == "all" {
    for deltas in [20_000, 100_000] {
        let chunks = SyntheticStream.chunked(SyntheticStream.messageStream(deltas: deltas), size: 1_400)
        var elements = 0
        let seconds = try await measureAsync {
            let stream = AssistantStream(BenchmarkChunks(chunks: chunks), helpers: true)
            for try await _ in stream { elements += 1 }
        }
        print(
            String(
                format: "AssistantStream with helper events: %d deltas, %d elements in %.3f s = %.0f deltas/s",
                deltas, elements, seconds, Double(deltas) / seconds))
    }
}

struct BenchmarkChunks: AsyncSequence, Sendable {
    let chunks: [[UInt8]]
    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<[UInt8]>
        mutating func next() async -> [UInt8]? { remaining.popFirst() }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: chunks[...]) }
}
