import Testing
import RunLoopCore
@testable import ResponsesProtocol

/// The text-delta fast path (`MessageDelta.scanTextPiece` in the decoder, `TextPiece.append` in the accumulator)
/// may only ever decline: whatever it accepts must decode and accumulate exactly as the general parser and merge do.
@Suite("Text delta fast path")
struct TextFastPathTests {
    static let messageID = "msg_abc123DEF456ghi789JKL0"

    /// Characters that exercise escapes, multi-byte UTF-8 and surrogate pairs.
    static let alphabet: [String] = ["a", "Z", "7", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "é", "€", "😀", "【", "\u{7F}"]

    static func randomText(_ generator: inout SplitMix64) -> String {
        (0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }.joined()
    }

    static func deltaData(id: String = messageID, index: Int, value: String, annotations: Bool) -> String {
        var text: JSONObject = ["value": .string(value)]
        if annotations { text["annotations"] = [] }
        let delta: JSONValue = [
            "id": .string(id), "object": "thread.message.delta",
            "delta": ["content": [["index": .int(Int64(index)), "type": "text", "text": .object(text)]]],
        ]
        return delta.serialized()
    }

    @Test("property: every compact text delta is recognised and decodes as the full parser decodes it")
    func recognisedPiecesDecodeAlike() throws {
        var generator = SplitMix64(seed: 0x7E57)
        for _ in 0..<500 {
            let value = Self.randomText(&generator)
            let data = Self.deltaData(
                index: Int.random(in: 0...3, using: &generator), value: value, annotations: Bool.random(using: &generator))
            let piece = try #require(MessageDelta.scanTextPiece(data), "not recognised: \(data)")
            #expect(piece.value == value)
            #expect(MessageDelta(text: piece).json == (try JSONValue(parsing: data)), "\(data)")
        }
    }

    @Test(
        "anything but the exact shape is declined",
        arguments: [
            #"{"id": "msg_A","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"x"}}]}}"#,
            #"{"object":"thread.message.delta","id":"msg_A","delta":{"content":[{"index":0,"type":"text","text":{"value":"x"}}]}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"image_file","image_file":{"file_id":"f"}}]}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":-1,"type":"text","text":{"value":"x"}}]}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":0.5,"type":"text","text":{"value":"x"}}]}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":99999999,"type":"text","text":{"value":"x"}}]}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":01,"type":"text","text":{"value":"x"}}]}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"x","annotations":[{"type":"file_citation"}]}}]}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"x"}},{"index":1,"type":"text","text":{"value":"y"}}]}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"role":"assistant","content":[{"index":0,"type":"text","text":{"value":"x"}}]}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"x"}}]}} "#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"x"}}]}}}"#,
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"x\u0001"}}]}"#,
            "{\"id\":\"msg_A\",\"object\":\"thread.message.delta\",\"delta\":{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"a\u{01}b\"}}]}}",
            #"{"id":"msg_A","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"x\q"}}]}}"#,
            #"{"id":7,"object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"x"}}]}}"#,
            "",
        ])
    func declines(data: String) {
        #expect(MessageDelta.scanTextPiece(data) == nil)
    }

    @Test("invalid UTF-8 in a piece is declined, and the full parser reports the frame malformed")
    func invalidUTF8() {
        let bytes = Array(#"{"id":"m","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":""#.utf8)
            + [0xC3, 0x28] + Array(#""}}]}}"#.utf8)
        let data = String(decoding: bytes, as: UTF8.self)  // repaired to U+FFFD, as the SSE parser hands it over
        let piece = MessageDelta.scanTextPiece(data)
        #expect(piece?.value == "\u{FFFD}(")
        #expect(piece.map { MessageDelta(text: $0).json } == (try? JSONValue(parsing: data)))
    }

    /// Message snapshots the fast path must either extend exactly as the general merge does, or leave to it.
    static let startingMessages: [JSONValue] = [
        ["id": .string(messageID), "object": "thread.message", "content": []],
        ["id": .string(messageID), "object": "thread.message", "content": [["index": 0, "type": "text", "text": ["value": "", "annotations": []]]]],
        ["id": .string(messageID), "object": "thread.message", "content": [["type": "text", "text": ["value": "no index"]]]],
        ["id": .string(messageID), "object": "thread.message", "content": [["index": 0, "type": "image_file", "image_file": ["file_id": "f"]]]],
        ["id": .string(messageID), "object": "thread.message", "content": [["index": 0, "type": "text", "text": ["value": 5]]]],
        ["id": .string(messageID), "object": "thread.message", "content": [["index": 0, "type": "text", "text": ["value": "a"]]]],
        ["id": .string(messageID), "object": "thread.message", "content": [["index": 0, "type": "text", "text": ["value": "a", "annotations": "none"]]]],
        ["id": .string(messageID), "object": "thread.message", "content": [["index": 0, "type": "text", "text": "flat"]]],
        ["id": .string(messageID), "object": "thread.message", "content": [.null, ["index": 1, "type": "text", "text": ["value": "b"]]]],
        ["id": .string(messageID), "object": "thread.message", "content": "not an array"],
        ["id": .string(messageID), "object": "thread.message"],
    ]

    @Test("property: accumulating with the fast path gives the general merge's snapshots, from any starting snapshot")
    func accumulatesAlike() throws {
        var generator = SplitMix64(seed: 0xFA57)
        for start in Self.startingMessages {
            for _ in 0..<60 {
                var frames: [SSEFrame] = []
                for _ in 0..<Int.random(in: 1...8, using: &generator) {
                    let data = Self.deltaData(
                        index: Int.random(in: 0...2, using: &generator), value: Self.randomText(&generator),
                        annotations: Bool.random(using: &generator))
                    frames.append(SSEFrame(event: "thread.message.delta", data: data))
                }
                var fast = SnapshotAccumulator()
                var general = SnapshotAccumulator()
                fast.apply(.message(.created, Message(json: start)), helpers: false)
                general.apply(.message(.created, Message(json: start)), helpers: false)
                for frame in frames {
                    let event = EventDecoder.decode(frame).event
                    guard case .messageDelta(let delta) = event else {
                        Issue.record("not a message delta: \(event)")
                        return
                    }
                    #expect(delta.textPiece != nil, "the decoder took the fast path")
                    fast.apply(event, helpers: false)
                    general.apply(.messageDelta(MessageDelta(json: delta.json)), helpers: false)
                }
                #expect(fast.messages == general.messages, "from \(start)")
                #expect(fast.anomalies == general.anomalies)
                let fastText = fast.messages[Self.messageID].map { Message(json: $0).text }
                let generalText = general.messages[Self.messageID].map { Message(json: $0).text }
                #expect(fastText == generalText)
            }
        }
    }

    @Test("a text delta for a message never created makes the same stub and anomaly on both paths")
    func deltaBeforeCreated() {
        let frame = SSEFrame(event: "thread.message.delta", data: Self.deltaData(index: 0, value: "hi", annotations: true))
        var fast = SnapshotAccumulator()
        var general = SnapshotAccumulator()
        fast.apply(EventDecoder.decode(frame).event, helpers: false)
        general.apply(EventDecoder.decode(frame).event, helpers: true)
        #expect(fast.messages == general.messages)
        #expect(fast.anomalies == general.anomalies)
        #expect(fast.anomalies.count == 1)
        #expect(fast.finalMessages.first?.text == "hi")
    }
}

@Suite("JSON objects")
struct JSONObjectTests {
    @Test("past the index threshold, lookups, replacement, removal and order stay right")
    func largeObject() {
        var object = JSONObject()
        for i in 0..<200 { object["k\(i)"] = .int(Int64(i)) }
        #expect(object.count == 200)
        #expect(object["k0"] == 0 && object["k199"] == 199 && object["k200"] == nil)
        object["k5"] = "five"
        #expect(object.keys[5] == "k5" && object["k5"] == "five")
        object["k5"] = nil
        object["k6"] = nil
        #expect(object.count == 198 && object["k5"] == nil && object["k7"] == 7 && object["k199"] == 199)
        #expect(object.keys.prefix(6) == ["k0", "k1", "k2", "k3", "k4", "k7"])
        for i in 0..<190 { object["k\(i)"] = nil }
        #expect(object.keys == ["k190", "k191", "k192", "k193", "k194", "k195", "k196", "k197", "k198", "k199"])
        #expect(object["k195"] == 195)
    }

    @Test("equality and hashing ignore key order; a repeated key keeps its first position and last value")
    func orderIndependence() throws {
        let forward = try JSONValue(parsing: #"{"a":1,"b":[1,2],"c":{"d":"e"}}"#)
        let backward = try JSONValue(parsing: #"{"c":{"d":"e"},"b":[1,2],"a":1}"#)
        #expect(forward == backward)
        #expect(forward.hashValue == backward.hashValue)
        #expect(forward != (try JSONValue(parsing: #"{"a":1,"b":[2,1],"c":{"d":"e"}}"#)))
        let repeated = try JSONValue(parsing: #"{"a":1,"b":2,"a":3}"#)
        #expect(repeated.objectValue?.keys == ["a", "b"])
        #expect(repeated["a"] == 3)
        var big = JSONObject()
        var reversed = JSONObject()
        for i in 0..<100 { big["k\(i)"] = .int(Int64(i)) }
        for i in (0..<100).reversed() { reversed["k\(i)"] = .int(Int64(i)) }
        #expect(big == reversed && big.hashValue == reversed.hashValue)
    }
}

/// The Responses delta fast path (`ResponseDeltaScanner`) against the full decoder.
@Suite("Responses delta fast path")
struct ResponsesDeltaFastPathTests {
    static let names = [
        "response.output_text.delta", "response.refusal.delta", "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta", "response.function_call_arguments.delta",
    ]

    /// What the decoder gives without the fast path.
    static func fullDecode(_ frame: SSEFrame) throws -> ResponseEvent {
        let json = try JSONValue(parsing: frame.data)
        let name = frame.event ?? json["type"]?.stringValue ?? "message"
        return ResponseEvent(
            name: name, data: frame.data, offset: frame.offset, sequenceNumber: json["sequence_number"]?.intValue.map(Int.init),
            kind: ResponseEventDecoder.classify(name, json))
    }

    @Test("property: delta frames in any member order, spacing and extras decode as the full decoder decodes them")
    func decodesAlike() throws {
        var generator = SplitMix64(seed: 0x5E0)
        var recognised = 0
        for _ in 0..<600 {
            let name = Self.names.randomElement(using: &generator)!
            var members: [(String, String)] = [
                ("type", JSONValue.string(name).serialized()),
                ("sequence_number", "\(Int.random(in: 0...100_000, using: &generator))"),
                ("item_id", #""msg_abc123DEF456ghi789JKL0""#),
                ("output_index", "\(Int.random(in: 0...3, using: &generator))"),
                (Bool.random(using: &generator) ? "content_index" : "summary_index", "\(Int.random(in: 0...2, using: &generator))"),
                ("delta", JSONValue.string(TextFastPathTests.randomText(&generator)).serialized()),
                ("logprobs", "[]"),
                ("obfuscation", #""a\"b\\c\u00e9""#),
            ]
            // Sometimes a member the fast path must decline (nested, non-empty array, fraction, wrong type, literal).
            let declining = [
                ("logprobs", #"[{"token":"a"}]"#), ("output_index", "1.0"), ("delta", "5"), ("extra", "true"), ("extra", "null"),
                ("extra", #"{"a":1}"#), ("sequence_number", #""7""#), ("content_index", "-0.5"),
            ]
            if Int.random(in: 0..<4, using: &generator) == 0 { members.append(declining.randomElement(using: &generator)!) }
            if Bool.random(using: &generator) { members.removeAll { $0.0 == "sequence_number" } }
            members.shuffle(using: &generator)
            // Sometimes a name written with an escape: the same member, which the in-place match must not miss.
            if Int.random(in: 0..<5, using: &generator) == 0 {
                let index = Int.random(in: 0..<members.count, using: &generator)
                members[index].0 = #"\u00"# + String(format: "%02x", members[index].0.utf8.first!) + members[index].0.dropFirst()
            }
            let space = Bool.random(using: &generator) ? " " : ""
            let data = "{" + members.map { "\"\($0.0)\":\(space)\($0.1)" }.joined(separator: ",\(space)") + "}"
            let frame = SSEFrame(event: Bool.random(using: &generator) ? name : nil, data: data, offset: 42)
            let expected = try Self.fullDecode(frame)
            #expect(ResponseEventDecoder.decode(frame) == expected, "\(data)")
            if let fast = ResponseEventDecoder.decodeDelta(frame) {
                recognised += 1
                #expect(fast == expected, "\(data)")
            }
        }
        #expect(recognised > 300, "the fast path took most of the frames")
    }

    @Test(
        "frames that are not plain deltas are declined",
        arguments: [
            #"{"type":"response.output_text.delta","delta":"x","logprobs":[{"token":"x"}]}"#,
            #"{"type":"response.output_text.delta","delta":"x\q"}"#,
            #"{"type":"response.output_text.delta","delta":"x","item_id":"bad\u12"}"#,
            #"{"type":"response.output_text.delta","delta":"x","output_index":1e0}"#,
            #"{"type":"response.output_text.delta","delta":"x"} x"#,
            #"{"type":"response.output_text.delta","delta":"x",}"#,
            #"{"type":"response.completed","response":{"id":"r"}}"#,
            #"{"type":"response.output_text.done","text":"x"}"#,
            #"{"delta":"x"}"#,
            "{}",
            "[DONE]",
        ])
    func declines(data: String) {
        #expect(ResponseEventDecoder.decodeDelta(SSEFrame(event: nil, data: data)) == nil)
    }

    @Test("a named non-delta frame is not scanned at all, whatever its data says")
    func nameDecides() {
        let data = #"{"type":"response.output_text.delta","delta":"x"}"#
        #expect(ResponseEventDecoder.decodeDelta(SSEFrame(event: "response.output_text.done", data: data)) == nil)
        #expect(ResponseEventDecoder.decodeDelta(SSEFrame(event: "response.output_text.delta", data: data)) != nil)
    }
}
