import Foundation
import Testing
import ResponsesProtocol
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

/// Every input in `Fuzz/regressions/` (crashers the fuzzers found, once fixed) goes through the same checks as
/// the fuzz targets, in the ordinary suite: what crashed once stays fixed.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")

    static func inputs(_ prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(prefix + "-") }.sorted()
    }

    @Test("JSON: what the parser accepts serializes to JSON that parses, and serializing is stable")
    func json() throws {
        let names = Self.inputs("json")
        #expect(!names.isEmpty)
        for name in names {
            let bytes = Array(try Data(contentsOf: Self.folder.appendingPathComponent(name)))
            guard let value = try? JSONValue(parsing: bytes) else { continue }
            let text = value.serialized()
            let again = try JSONValue(parsing: text)
            #expect(again.serialized() == text, "\(name)")
        }
        // Numbers beyond Double's range: infinity, written as null (as JSON.stringify does).
        #expect(try JSONValue(parsing: "[1e400, -1e-400]").serialized() == "[null,-0.0]")
    }

    @Test("SSE and config inputs never crash the parser, decoder, accumulator or loader")
    func sseAndConfig() throws {
        let sse = Self.inputs("sse")
        #expect(!sse.isEmpty)
        for name in sse {
            // As the fuzz target does: the first byte chooses the chunk size, the rest is the stream; helpers on.
            let bytes = Array(try Data(contentsOf: Self.folder.appendingPathComponent(name)))
            guard let first = bytes.first else { continue }
            let size = Int(first % 64) + 1
            var parser = SSEParser(maxFrameBytes: 64 * 1024)
            var accumulator = SnapshotAccumulator()
            var index = 1
            while index < bytes.count {
                let end = min(bytes.count, index + size)
                guard let frames = try? parser.feed(Array(bytes[index..<end])) else { break }
                for frame in frames { _ = accumulator.apply(EventDecoder.decode(frame).event, helpers: true) }
                index = end
            }
        }
        for name in Self.inputs("responses") {
            var parser = SSEParser(maxFrameBytes: 64 * 1024)
            var accumulator = ResponseAccumulator()
            let bytes = Array(try Data(contentsOf: Self.folder.appendingPathComponent(name)).dropFirst())
            if let frames = try? parser.feed(bytes) {
                for frame in frames { accumulator.apply(ResponseEventDecoder.decode(frame)) }
            }
            _ = (accumulator.response, accumulator.functionCalls, accumulator.outputText)
        }
        for name in Self.inputs("config") {
            let text = try String(contentsOf: Self.folder.appendingPathComponent(name), encoding: .utf8)
            _ = try? ConfigLoader.parse(text, file: "/nonexistent/fuzz.yaml")
        }
    }
}
