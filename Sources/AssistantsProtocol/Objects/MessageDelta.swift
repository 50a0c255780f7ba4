import WireFormat

/// A `thread.message.delta` object: the message id and a `delta` whose `content` entries carry an `index`.
///
/// Nearly every delta of an answer has one shape — a piece of text for one content block — so the decoder
/// recognises that shape without building a JSON tree (``TextPiece``), and the accumulator appends it in place.
/// ``json`` is built on demand and equals what parsing the frame gives.
public struct MessageDelta: Sendable, Equatable {
    /// The common shape, exactly as the API frames it:
    /// `{"id":…,"object":"thread.message.delta","delta":{"content":[{"index":N,"type":"text","text":{"value":…}}]}}`,
    /// optionally with `"annotations":[]` after the value (the first delta of a block carries it).
    public struct TextPiece: Sendable, Equatable {
        public var messageID: String
        public var index: Int
        public var value: String
        public var hasEmptyAnnotations: Bool
    }

    private enum Storage: Sendable {
        case json(JSONValue)
        case text(TextPiece)
    }

    private var storage: Storage

    public init(json: JSONValue) { storage = .json(json) }

    /// A delta of the common shape (see ``TextPiece``).
    public init(text: TextPiece) { storage = .text(text) }

    /// Recognises the common shape in a frame's data; `nil` for anything else (which then takes the full parser).
    public static func scanTextPiece(_ data: String) -> TextPiece? {
        var data = data
        return data.withUTF8 { bytes -> TextPiece? in
            var scanner = JSONScanner(bytes: bytes)
            guard scanner.expect(#"{"id":"#), let id = scanner.string(),
                scanner.expect(#","object":"thread.message.delta","delta":{"content":[{"index":"#),
                let index = scanner.integer(), index >= 0, index <= DeltaLimits.maxIndex,
                scanner.expect(#","type":"text","text":{"value":"#), let value = scanner.string()
            else { return nil }
            let hasEmptyAnnotations = scanner.expect(#","annotations":[]"#)
            guard scanner.expect("}}]}}"), scanner.isAtEnd else { return nil }
            return TextPiece(messageID: id, index: Int(index), value: value, hasEmptyAnnotations: hasEmptyAnnotations)
        }
    }

    /// The delta's text piece when it has the common shape.
    public var textPiece: TextPiece? {
        if case .text(let piece) = storage { return piece }
        return nil
    }

    /// The whole object, as parsed from the frame.
    public var json: JSONValue {
        switch storage {
        case .json(let json): return json
        case .text(let piece):
            return ["id": .string(piece.messageID), "object": "thread.message.delta", "delta": ["content": [piece.block]]]
        }
    }

    public var id: String? {
        switch storage {
        case .json(let json): return json["id"]?.stringValue
        case .text(let piece): return piece.messageID
        }
    }

    public var delta: JSONValue {
        switch storage {
        case .json(let json): return json["delta"] ?? .object(JSONObject())
        case .text(let piece): return ["content": [piece.block]]
        }
    }

    public static func == (lhs: MessageDelta, rhs: MessageDelta) -> Bool { lhs.json == rhs.json }
}

extension MessageDelta.TextPiece {
    /// The content entry as JSON: `{"index":N,"type":"text","text":{"value":…}}`.
    var block: JSONValue {
        var text: JSONObject = ["value": .string(value)]
        if hasEmptyAnnotations { text["annotations"] = [] }
        return ["index": .int(Int64(index)), "type": "text", "text": .object(text)]
    }
}

extension MessageDelta.TextPiece {
    /// Appends the piece to a message snapshot in place, when merging it with ``JSONValue/accumulate(_:)`` could
    /// only append: the block at `index` exists, is a text block with that index, has a string `value` and (when the
    /// piece carries `annotations: []`) an annotations array. Otherwise changes nothing and returns `false`, and the
    /// caller merges the general way.
    func append(to message: inout JSONValue) -> Bool {
        guard case .object(var object) = message else { return false }
        message = .null  // hold one reference only, so the text grows in place
        defer { message = .object(object) }
        var appended = false
        object.modifyValue(forKey: "content") { content in
            guard case .array(var blocks) = content, blocks.indices.contains(index) else { return }
            content = .null
            defer { content = .array(blocks) }
            appended = Self.append(value, hasEmptyAnnotations, index: index, toBlock: &blocks[index])
        }
        return appended
    }

    private static func append(_ value: String, _ hasEmptyAnnotations: Bool, index: Int, toBlock block: inout JSONValue) -> Bool {
        guard case .object(var object) = block, object["index"] == .int(Int64(index)), object["type"] == "text" else {
            return false
        }
        block = .null
        defer { block = .object(object) }
        var appended = false
        object.modifyValue(forKey: "text") { text in
            guard case .object(var fields) = text else { return }
            if hasEmptyAnnotations {
                guard case .array? = fields["annotations"] else { return }
            }
            text = .null
            defer { text = .object(fields) }
            fields.modifyValue(forKey: "value") { current in
                guard case .string(var accumulated) = current else { return }
                current = .null
                accumulated += value
                current = .string(accumulated)
                appended = true
            }
        }
        return appended
    }
}
