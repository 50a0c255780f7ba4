import Foundation
import RunLoopCore

/// Golden files under Tests/RunLoopCoreTests/Fixtures, found relative to this source file.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func json(_ name: String) throws -> JSONValue {
        try JSONValue(parsing: try bytes(name))
    }

    /// The stream files of a fixture: `name.sse`, or `name.1.sse`, `name.2.sse`, … for several rounds.
    static func streams(_ name: String) throws -> [[UInt8]] {
        let single = directory.appendingPathComponent("\(name).sse")
        if FileManager.default.fileExists(atPath: single.path) { return [try bytes("\(name).sse")] }
        var result: [[UInt8]] = []
        var round = 1
        while FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(name).\(round).sse").path) {
            result.append(try bytes("\(name).\(round).sse"))
            round += 1
        }
        return result
    }
}

/// Byte chunks from memory, as an async sequence (the shape of an HTTP body).
struct ChunkSequence: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let chunks: [[UInt8]]

    /// Splits `bytes` at the given cut points.
    init(_ bytes: [UInt8], cuts: [Int]) {
        var chunks: [[UInt8]] = []
        var start = 0
        for cut in cuts.sorted() where cut > start && cut < bytes.count {
            chunks.append(Array(bytes[start..<cut]))
            start = cut
        }
        chunks.append(Array(bytes[start...]))
        self.chunks = chunks
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<[UInt8]>
        mutating func next() async -> [UInt8]? { remaining.popFirst() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: chunks[...]) }
}

/// What a fixture's streams accumulate to, in the shape of `*.expected.json`.
/// - Parameter helpers: with helper events (the general merge) or without (the worker's way, with the text fast path).
func accumulateFixture(
    _ streams: [[UInt8]], helpers: Bool = true, cutsFor: ([UInt8]) -> [Int] = { _ in [] }
) async throws -> JSONValue {
    var accumulator = SnapshotAccumulator()
    var names: [JSONValue] = []
    for bytes in streams {
        let stream = AssistantStream(ChunkSequence(bytes, cuts: cutsFor(bytes)), accumulator: accumulator, helpers: helpers)
        for try await element in stream {
            if case .event(let event) = element { names.append(.string(event.name)) }
        }
        accumulator = stream.accumulator
    }
    return [
        "thread_id": accumulator.threadID.map(JSONValue.string) ?? .null,
        "current_run": accumulator.currentRun?.json ?? .null,
        "final_run": accumulator.finalRun?.json ?? .null,
        "messages": .array(accumulator.finalMessages.map(\.json)),
        "run_steps": .array(accumulator.finalRunSteps.map(\.json)),
        "events": .array(names),
    ]
}

/// The Python packages the SDK replay and trace receiver tests use (openai, opentelemetry-proto), as scripts/test.sh
/// installs them: `TOOLWORKER_TEST_SDK_PYTHONPATH`, else `.build/sdk-python` of this checkout.
enum SDKTestEnvironment {
    static let pythonPath: String? = {
        let path = ProcessInfo.processInfo.environment["TOOLWORKER_TEST_SDK_PYTHONPATH"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/sdk-python").path
        return FileManager.default.fileExists(atPath: path + "/openai/__init__.py") ? path : nil
    }()
}
