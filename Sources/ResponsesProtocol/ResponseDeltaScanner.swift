import WireFormat

/// Recognises a Responses delta event (`response.output_text.delta` and the other text and arguments deltas) in a
/// frame's data without building a JSON tree: a hundred thousand of them make a long answer.
///
/// It reads one flat object whose members are strings, integers or empty arrays (`logprobs: []`), in any order,
/// with any white space, keeping the members the decoder needs. Anything else — a nested object, a non-empty
/// array, a fraction, a member of an unexpected type — declines, and the frame takes the full parser, so the
/// outcome is always the one ``ResponseEventDecoder/classify(_:_:)`` gives.
struct ResponseDeltaScanner {
    var type: String?
    var sequenceNumber: Int64?
    var outputIndex: Int64?
    var contentIndex: Int64?
    var summaryIndex: Int64?
    var delta: String?

    /// The members of `data`, or `nil` when it is not such a flat object.
    static func scan(_ data: String) -> ResponseDeltaScanner? {
        var data = data
        return data.withUTF8 { bytes -> ResponseDeltaScanner? in
            var scanner = JSONScanner(bytes: bytes)
            var members = ResponseDeltaScanner()
            scanner.skipWhitespace()
            guard scanner.expect("{") else { return nil }
            scanner.skipWhitespace()
            if scanner.expect("}") { return nil }
            while true {
                scanner.skipWhitespace()
                guard let key = scanner.string() else { return nil }
                scanner.skipWhitespace()
                guard scanner.expect(":") else { return nil }
                scanner.skipWhitespace()
                guard members.read(key, from: &scanner) else { return nil }
                scanner.skipWhitespace()
                if scanner.expect(",") { continue }
                guard scanner.expect("}") else { return nil }
                scanner.skipWhitespace()
                return scanner.isAtEnd ? members : nil
            }
        }
    }

    /// Reads the value of `key`; `false` to decline.
    private mutating func read(_ key: String, from scanner: inout JSONScanner) -> Bool {
        guard let first = scanner.peek else { return false }
        switch first {
        case UInt8(ascii: "\""):
            switch key {
            case "type":
                type = Self.knownType(&scanner) ?? scanner.string()
                return type != nil
            case "delta":
                delta = scanner.string()
                return delta != nil
            case "sequence_number", "output_index", "content_index", "summary_index": return false
            default: return scanner.skipString()  // item_id, obfuscation, …: checked, not kept
            }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard let value = scanner.integer() else { return false }
            switch key {
            case "sequence_number": sequenceNumber = value
            case "output_index": outputIndex = value
            case "content_index": contentIndex = value
            case "summary_index": summaryIndex = value
            case "type", "delta": return false
            default: break
            }
        case UInt8(ascii: "["):
            guard scanner.expect("[") else { return false }
            scanner.skipWhitespace()
            guard scanner.expect("]"), !Self.readKeys.contains(key) else { return false }
        default:
            return false
        }
        return true
    }

    /// The delta event names, matched in place (they are longer than a string can be without an allocation).
    private static func knownType(_ scanner: inout JSONScanner) -> String? {
        if scanner.expect(#""response.output_text.delta""#) { return "response.output_text.delta" }
        if scanner.expect(#""response.function_call_arguments.delta""#) { return "response.function_call_arguments.delta" }
        if scanner.expect(#""response.refusal.delta""#) { return "response.refusal.delta" }
        if scanner.expect(#""response.reasoning_text.delta""#) { return "response.reasoning_text.delta" }
        if scanner.expect(#""response.reasoning_summary_text.delta""#) { return "response.reasoning_summary_text.delta" }
        return nil
    }

    private static let readKeys: Set<String> = ["type", "delta", "sequence_number", "output_index", "content_index", "summary_index"]
}
