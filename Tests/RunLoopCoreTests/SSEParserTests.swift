import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("SSE parser")
struct SSEParserTests {
    private func parse(_ text: String, chunkSize: Int = .max, maxFrameBytes: Int = 1 << 20) throws -> [SSEFrame] {
        var parser = SSEParser(maxFrameBytes: maxFrameBytes)
        let bytes = Array(text.utf8)
        var frames: [SSEFrame] = []
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + min(chunkSize, bytes.count))
            frames += try parser.feed(Array(bytes[start..<end]))
            start = end
        }
        return frames
    }

    @Test("LF, CRLF and CR line ends frame the same events", arguments: ["\n", "\r\n", "\r"])
    func lineEnds(newline: String) throws {
        let text = ["event: a", "data: 1", "", "event: b", "data: 2", "", ""].joined(separator: newline)
        for chunkSize in [1, 2, 3, 1000] {
            let frames = try parse(text, chunkSize: chunkSize)
            #expect(frames.map(\.event) == ["a", "b"], "chunk \(chunkSize)")
            #expect(frames.map(\.data) == ["1", "2"], "chunk \(chunkSize)")
        }
    }

    @Test("a CRLF pair split across chunks is one line end")
    func crlfSplit() throws {
        var parser = SSEParser()
        var frames = try parser.feed(Array("data: x\r".utf8))
        frames += try parser.feed(Array("\n\r".utf8))
        frames += try parser.feed(Array("\ndata: y\r\n\r\n".utf8))
        #expect(frames.map(\.data) == ["x", "y"])
    }

    @Test("several data lines join with newlines; comments and unknown fields are ignored")
    func multiData() throws {
        let frames = try parse(": keep-alive\nevent: e\nfoo: bar\ndata: one\ndata:two\ndata\n\n")
        #expect(frames.count == 1)
        #expect(frames[0].data == "one\ntwo\n")
        #expect(frames[0].event == "e")
    }

    @Test("only one leading space of a value is dropped")
    func leadingSpace() throws {
        let frames = try parse("data:  two spaces\n\n")
        #expect(frames[0].data == " two spaces")
    }

    @Test("id and retry are kept; a frame without event: has a nil event")
    func idRetry() throws {
        let frames = try parse("id: 7\nretry: 1500\ndata: x\n\nretry: soon\ndata: y\n\n")
        #expect(frames[0].id == "7")
        #expect(frames[0].retry == 1500)
        #expect(frames[0].event == nil)
        #expect(frames[1].id == "7")
        #expect(frames[1].retry == nil)
    }

    @Test("UTF-8 split inside a character across chunks decodes intact")
    func utf8Split() throws {
        let text = "data: é😀中\n\n"
        for chunkSize in 1...4 {
            let frames = try parse(text, chunkSize: chunkSize)
            #expect(frames.map(\.data) == ["é😀中"])
        }
    }

    @Test("frame offsets point at each frame's first byte")
    func offsets() throws {
        let text = "event: a\ndata: 1\n\nevent: b\r\ndata: 2\r\n\r\n"
        let frames = try parse(text, chunkSize: 3)
        #expect(frames.map(\.offset) == [0, 18])
    }

    @Test("a frame over the limit is a clear error, not unbounded memory")
    func oversize() throws {
        let big = "data: " + String(repeating: "x", count: 5000) + "\n\n"
        #expect(throws: SSEError.frameTooLarge(limit: 1024, offset: 0)) {
            _ = try parse(big, chunkSize: 100, maxFrameBytes: 1024)
        }
        // Many small frames adding up past the limit are fine.
        let many = String(repeating: "data: 0123456789\n\n", count: 500)
        #expect(try parse(many, chunkSize: 7, maxFrameBytes: 1024).count == 500)
    }

    @Test("an unfinished frame at the end is not dispatched, and finish() says how much was dropped")
    func unfinished() throws {
        var parser = SSEParser()
        let frames = try parser.feed(Array("data: a\n\ndata: partial".utf8))
        #expect(frames.map(\.data) == ["a"])
        #expect(parser.finish() == 13)
    }
}
