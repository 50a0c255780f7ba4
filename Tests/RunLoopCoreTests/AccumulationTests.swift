import PropertyBased
import Testing
@testable import AssistantsAPI
@testable import OpenAIClient
@testable import AssistantsBackend
@testable import HTTPTransport
@testable import Journal
import RunLoopCore
@testable import Worker

@Suite("Delta accumulation")
struct AccumulationTests {
    @Test("strings concatenate, numbers add, objects merge, index and type are identity")
    func rules() throws {
        var snapshot: JSONValue = ["index": 0, "type": "function", "n": 1, "f": 0.5, "o": ["s": "a"], "keep": "x"]
        let anomalies = snapshot.accumulate(["index": 0, "type": "function", "n": 2, "f": 1, "o": ["s": "b", "t": 1], "keep": .null])
        #expect(anomalies.isEmpty)
        #expect(snapshot == ["index": 0, "type": "function", "n": 3, "f": 1.5, "o": ["s": "ab", "t": 1], "keep": "x"])
    }

    @Test("absent or null in the snapshot takes the delta as is")
    func absentOrNull() {
        var snapshot: JSONValue = ["output": .null]
        snapshot.accumulate(["output": "done", "new": ["a": 1]])
        #expect(snapshot == ["output": "done", "new": ["a": 1]])
    }

    @Test("arrays of objects merge by index, placed at that index even out of order")
    func arraysByIndex() {
        var snapshot: JSONValue = ["calls": []]
        snapshot.accumulate(["calls": [["index": 1, "args": "b"]]])
        snapshot.accumulate(["calls": [["index": 0, "args": "a"]]])
        snapshot.accumulate(["calls": [["index": 1, "args": "B"], ["index": 0, "args": "A"]]])
        #expect(snapshot == ["calls": [["index": 0, "args": "aA"], ["index": 1, "args": "bB"]]])
    }

    @Test("arrays of primitives append")
    func primitiveArrays() {
        var snapshot: JSONValue = ["tags": ["a"]]
        snapshot.accumulate(["tags": ["b", 1]])
        #expect(snapshot == ["tags": ["a", "b", 1]])
    }

    @Test("a hostile index does not allocate; entries without an index are reported")
    func hostileIndex() {
        var snapshot: JSONValue = ["calls": []]
        let anomalies = snapshot.accumulate(["calls": [["index": 4_000_000_000, "x": 1], ["x": 2], "str", ["index": 2, "x": 3]]])
        #expect(anomalies.count == 3)
        #expect(snapshot == ["calls": [.null, .null, ["index": 2, "x": 3]]])
    }

    @Test("property: string pieces concatenate in order")
    func concatenation() async {
        await propertyCheck(count: 200, input: Gen.letterOrNumber.string(of: 0...8).array(of: 0...30)) { pieces in
            var snapshot: JSONValue = ["text": ""]
            for piece in pieces { snapshot.accumulate(["text": .string(piece)]) }
            #expect(snapshot["text"] == .string(pieces.joined()))
        }
    }

    @Test("property: integers add up")
    func addition() async {
        await propertyCheck(count: 200, input: Gen.int(in: -1000...1000).array(of: 1...30)) { numbers in
            var snapshot: JSONValue = ["n": .int(Int64(numbers[0]))]
            for n in numbers.dropFirst() { snapshot.accumulate(["n": .int(Int64(n))]) }
            #expect(snapshot["n"] == .int(Int64(numbers.reduce(0, +))))
        }
    }

    @Test("property: interleaved tool-call deltas rebuild each call's arguments")
    func interleavedCalls() async {
        let pieces = zip(Gen.int(in: 0...4), Gen.letterOrNumber.string(of: 1...4)).array(of: 1...40)
        await propertyCheck(count: 200, input: pieces) { deltas in
            var step: JSONValue = ["step_details": ["type": "tool_calls", "tool_calls": []]]
            var expected: [Int: String] = [:]
            for (index, piece) in deltas {
                let call: JSONValue = ["index": .int(Int64(index)), "type": "function", "function": ["arguments": .string(piece)]]
                step.accumulate(["step_details": ["type": "tool_calls", "tool_calls": [call]]])
                expected[index, default: ""] += piece
            }
            let calls = step[path: "step_details.tool_calls"]?.arrayValue ?? []
            for (index, arguments) in expected {
                #expect(calls[index][path: "function.arguments"] == .string(arguments))
                #expect(calls[index]["type"] == "function")
                #expect(calls[index]["index"] == .int(Int64(index)))
            }
            #expect(calls.count == (expected.keys.max() ?? -1) + 1)
        }
    }
}
