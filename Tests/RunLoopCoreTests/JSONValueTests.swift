import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("JSON value")
struct JSONValueTests {
    @Test("round-trips text, keeping key order and integer vs. float")
    func roundTrip() throws {
        let text = #"{"z":1,"a":1.5,"m":[true,false,null,-0.25,12345678901234],"s":"q\"\\\n\u0001é😀","e":{},"l":[]}"#
        let value = try JSONValue(parsing: text)
        #expect(value.serialized() == #"{"z":1,"a":1.5,"m":[true,false,null,-0.25,12345678901234],"s":"q\"\\\n\u0001é😀","e":{},"l":[]}"#)
        #expect(value["z"] == .int(1))
        #expect(value["a"] == .double(1.5))
        #expect(value.objectValue?.keys == ["z", "a", "m", "s", "e", "l"])
        #expect(try JSONValue(parsing: value.serialized()) == value)
    }

    @Test("decodes escapes and surrogate pairs")
    func escapes() throws {
        let value = try JSONValue(parsing: #""\ud83d\ude00 \u00e9 \/ \t""#)
        #expect(value == .string("😀 é / \t"))
        #expect(try JSONValue(parsing: #""\ud83d""#) == .string("\u{FFFD}"))
    }

    @Test("numbers: exponent and fraction are doubles, huge integers fall back to double")
    func numbers() throws {
        #expect(try JSONValue(parsing: "1e3") == .double(1000))
        #expect(try JSONValue(parsing: "-0") == .int(0))
        #expect(try JSONValue(parsing: "99999999999999999999") == .double(1e20))
        #expect(try JSONValue(parsing: "2.0").serialized() == "2.0")
    }

    @Test("invalid JSON names the byte offset", arguments: [
        ("{\"a\":}", 5), ("[1,2", 4), ("{\"a\" 1}", 5), ("tru", 0), ("\"abc", 4), ("01", 1), ("{} x", 3), ("\"\u{01}\"", 1),
    ])
    func invalid(text: String, offset: Int) {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
        do {
            _ = try JSONValue(parsing: text)
        } catch {
            #expect(error.offset == offset, "\(text): \(error)")
        }
    }

    @Test("deep nesting is refused, not a stack overflow")
    func depth() {
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: text) }
    }

    @Test("path access")
    func paths() throws {
        let value = try JSONValue(parsing: #"{"a":{"b":[{"c":"x"}]}}"#)
        #expect(value[path: "a.b.0.c"] == "x")
        #expect(value[path: "a.b.1.c"] == nil)
        #expect(value[path: "a.x"] == nil)
    }
}
